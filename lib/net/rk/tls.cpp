#include "rk/tls.hpp"

#include <cctype>
#include <chrono>
#include <map>
#include <memory>
#include <vector>

#include <fmt/format.h>

#include "rk/bounded_file.hpp"
#include "rk/errors.hpp"
#include "rk/openssl.hpp"

namespace rk {
namespace {

using Clock = std::chrono::steady_clock;
// Every OpenSSL object is freed through the shim's table (openssl.hpp).
using ContextPtr = std::unique_ptr<SSL_CTX, void (*)(SSL_CTX*)>;

// --cacertdir's CAs, read whole at the start but parsed only when a
// verification asks for an issuer: by the subject hash in their names, as
// OpenSSL's own directory lookup (by_dir) finds them. Parsing all of
// Debian's /etc/ssl/certs (144 CAs) would cost every check about 15 times
// the instructions of the rest of a TLS check.
struct HashedCertificates {
  std::map<std::string, std::vector<std::string>> pem_by_hash;  // "5ad8a5d6" -> files
};

// One context per process, for the options it was built from, with the
// CAs its store's lookup parses on demand.
struct CachedContext {
  TlsOptions options;
  std::unique_ptr<HashedCertificates> hashed;
  ContextPtr context{nullptr, nullptr};  // a built one brings its deleter
};
CachedContext& cache() {
  static CachedContext cached;
  return cached;
}

void initialise_openssl() {
  // keepalived execs redis_check every interval, so OpenSSL does only what
  // a client needs:
  // - openssl.cnf is not read: the policy below is the tools' own, the same
  //   wherever they run (Debian's openssl.cnf asks for the same minimum);
  // - no clean-up at exit: the process is about to end, and the kernel
  //   frees its memory faster than OPENSSL_cleanup() does.
  // The legacy cipher and digest tables stay: OpenSSL 3.0 looks the
  // signature digest up there when it rates a certificate's security level
  // (without them every CA-signed certificate is "too weak"), and the error
  // strings stay loadable (a NO_LOAD flag here would keep them out for good).
  static const bool initialised =
      openssl().OPENSSL_init_ssl(OPENSSL_INIT_NO_LOAD_CONFIG | OPENSSL_INIT_NO_ATEXIT, nullptr) ==
      1;
  (void)initialised;
}

using BioPtr = std::unique_ptr<BIO, void (*)(BIO*)>;
using X509Ptr = std::unique_ptr<X509, void (*)(X509*)>;
using KeyPtr = std::unique_ptr<EVP_PKEY, void (*)(EVP_PKEY*)>;

// A read-only BIO over `pem` (which must outlive it): OpenSSL parses the
// bytes read_option_file read, and never opens a file itself, neither now
// nor lazily during a handshake.
BioPtr memory_bio(const std::string& pem) {
  const rk_openssl_table& ssl = openssl();
  return BioPtr(ssl.BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), ssl.BIO_free_all);
}

// No passphrase: a hook has no one to type it (keepalived runs it with
// stdin on /dev/null), and OpenSSL's default would try the terminal.
int no_passphrase(char* /*buffer*/, int /*size*/, int /*rwflag*/, void* asked) {
  *static_cast<bool*>(asked) = true;
  return 0;
}

// True when the last error queued is PEM's "no start line": how reading a
// PEM sequence ends at the end of the data. Anything else is a real error.
bool only_end_of_pem() {
  const rk_openssl_table& ssl = openssl();
  unsigned long last = ssl.ERR_peek_last_error();
  if (last != 0 &&
      (ERR_GET_LIB(last) != ERR_LIB_PEM || ERR_GET_REASON(last) != PEM_R_NO_START_LINE))
    return false;
  ssl.ERR_clear_error();
  return true;
}

// Adds every certificate (and CRL) in `pem` to `store`, as OpenSSL's own
// file lookup does. Returns the number of certificates; `error` is set when
// the data is not PEM.
int add_ca_certificates(X509_STORE* store, const std::string& pem, std::string& error) {
  const rk_openssl_table& ssl = openssl();
  BioPtr bio = memory_bio(pem);
  STACK_OF(X509_INFO)* infos =
      bio ? ssl.PEM_X509_INFO_read_bio(bio.get(), nullptr, nullptr, nullptr) : nullptr;
  if (infos == nullptr) {
    error = tls_error_text("not PEM");
    return 0;
  }
  // sk_X509_INFO_num, _value and _pop_free are inline functions over these.
  auto* stack = reinterpret_cast<OPENSSL_STACK*>(infos);
  int certificates = 0;
  for (int i = 0; i < ssl.OPENSSL_sk_num(stack); ++i) {
    auto* info = static_cast<X509_INFO*>(ssl.OPENSSL_sk_value(stack, i));
    // A CA given twice (in --cacert and in --cacertdir) is no error: OpenSSL
    // 1.1.1 and later accept the duplicate.
    if (info->x509 != nullptr && ssl.X509_STORE_add_cert(store, info->x509) == 1) ++certificates;
    if (info->crl != nullptr) ssl.X509_STORE_add_crl(store, info->crl);
  }
  ssl.OPENSSL_sk_pop_free(stack, reinterpret_cast<OPENSSL_sk_freefunc>(ssl.X509_INFO_free));
  ssl.ERR_clear_error();
  return certificates;
}

// OpenSSL's CApath names: the subject hash in 8 lower-case hex digits, a dot
// and a sequence number ("5ad8a5d6.0"), as `openssl rehash` (c_rehash)
// makes them. Its directory lookup reads only those, so the toolkit does too.
bool is_hashed_certificate_name(const std::string& name) {
  if (name.size() < 10 || name[8] != '.') return false;
  for (std::size_t i = 0; i < 8; ++i)
    if (std::isxdigit(static_cast<unsigned char>(name[i])) == 0 ||
        std::isupper(static_cast<unsigned char>(name[i])) != 0)
      return false;
  for (std::size_t i = 9; i < name.size(); ++i)
    if (std::isdigit(static_cast<unsigned char>(name[i])) == 0) return false;
  return true;
}

// X509_LOOKUP's get_by_subject for --cacertdir: parses the files named
// after `name`'s hash, adds their certificates to the store (where later
// lookups find them) and returns the one with that subject, as by_dir does.
int get_hashed_certificate(X509_LOOKUP* lookup, X509_LOOKUP_TYPE type, const X509_NAME* name,
                           X509_OBJECT* found) {
  const rk_openssl_table& ssl = openssl();
  auto* hashed = static_cast<HashedCertificates*>(ssl.X509_LOOKUP_get_method_data(lookup));
  if (type != X509_LU_X509 || hashed == nullptr) return 0;
  // What the macro X509_NAME_hash(name) expands to.
  auto files = hashed->pem_by_hash.find(
      fmt::format("{:08x}", ssl.X509_NAME_hash_ex(name, nullptr, nullptr, nullptr)));
  if (files == hashed->pem_by_hash.end()) return 0;
  X509_STORE* store = ssl.X509_LOOKUP_get_store(lookup);
  for (const std::string& pem : files->second) {
    BioPtr bio = memory_bio(pem);
    while (X509* certificate =
               bio ? ssl.PEM_read_bio_X509_AUX(bio.get(), nullptr, nullptr, nullptr) : nullptr) {
      ssl.X509_STORE_add_cert(store, certificate);
      ssl.X509_free(certificate);
    }
    ssl.ERR_clear_error();  // the end of the PEM data, or a file that is not PEM
  }
  hashed->pem_by_hash.erase(files);  // parsed once: the store holds them now
  // As OpenSSL's own by_dir lookup does, `found` borrows the store's
  // certificate: the caller (X509_STORE_CTX_get_by_subject) takes its own
  // reference and never releases the lookup's, so holding one here would
  // leak it.
  X509* held = nullptr;
  if (ssl.X509_STORE_lock(store) == 1) {
    X509_OBJECT* object =
        ssl.X509_OBJECT_retrieve_by_subject(ssl.X509_STORE_get0_objects(store), X509_LU_X509, name);
    held = object != nullptr ? ssl.X509_OBJECT_get0_X509(object) : nullptr;
    ssl.X509_STORE_unlock(store);
  }
  if (held == nullptr || ssl.X509_OBJECT_set1_X509(found, held) != 1) return 0;
  ssl.X509_free(held);  // the reference set1 took: the store's keeps it alive
  return 1;
}

// The lookup method above, made once per process (never freed: a context
// that uses it lives until the process ends).
X509_LOOKUP_METHOD* hashed_lookup_method() {
  static X509_LOOKUP_METHOD* method = [] {
    const rk_openssl_table& ssl = openssl();
    X509_LOOKUP_METHOD* made = ssl.X509_LOOKUP_meth_new("redis-keepalived --cacertdir");
    if (made != nullptr) ssl.X509_LOOKUP_meth_set_get_by_subject(made, get_hashed_certificate);
    return made;
  }();
  return method;
}

// The files a context is built from, read with the bounded reader.
struct TlsFiles {
  std::string cacert;
  std::vector<NamedContent> cacertdir;
  std::string cert;
  std::string key;
};

TlsFiles read_tls_files(const TlsOptions& options, Clock::time_point deadline) {
  auto read_pem = [&](const std::string& path, const char* option) {
    if (path.empty()) return std::string();
    return read_option_file(path, FileRule{option, file_bounds::pem_file}, deadline).bytes;
  };
  // Read even with --insecure, which then parses none of the CAs: a file
  // that cannot be read is the same mistake either way.
  TlsFiles files;
  files.cacert = read_pem(options.cacert, "--cacert");
  if (!options.cacertdir.empty())
    files.cacertdir =
        read_option_directory(options.cacertdir, FileRule{"--cacertdir", file_bounds::pem_file},
                              file_bounds::cacert_dir_files, file_bounds::cacert_dir_bytes,
                              is_hashed_certificate_name, deadline);
  files.cert = read_pem(options.cert, "--cert");
  files.key = read_pem(options.key, "--key");
  return files;
}

// The trust anchors: --cacert and --cacertdir (whose files `hashed` then
// holds for the store's lookup), else the system's.
bool load_verify_locations(SSL_CTX* context, const TlsOptions& options, const TlsFiles& files,
                           HashedCertificates& hashed, std::string& error) {
  const rk_openssl_table& ssl = openssl();
  if (options.cacert.empty() && options.cacertdir.empty()) {
    if (ssl.SSL_CTX_set_default_verify_paths(context) == 1) return true;
    error = fmt::format("cannot load the CA certificates (system default): {}",
                        tls_error_text("unreadable"));
    return false;
  }
  X509_STORE* store = ssl.SSL_CTX_get_cert_store(context);
  std::string problem;
  if (!options.cacert.empty() && add_ca_certificates(store, files.cacert, problem) == 0) {
    error = fmt::format("--cacert {}: {}", options.cacert,
                        problem.empty() ? std::string("no certificate in it") : problem);
    return false;
  }
  if (options.cacertdir.empty()) return true;
  for (const NamedContent& file : files.cacertdir)
    hashed.pem_by_hash[file.name.substr(0, 8)].push_back(file.bytes);
  X509_LOOKUP_METHOD* method = hashed_lookup_method();
  X509_LOOKUP* lookup = method == nullptr ? nullptr : ssl.X509_STORE_add_lookup(store, method);
  if (lookup == nullptr || ssl.X509_LOOKUP_set_method_data(lookup, &hashed) != 1) {
    error = fmt::format("--cacertdir {}: {}", options.cacertdir,
                        tls_error_text("cannot add a certificate lookup"));
    return false;
  }
  return true;
}

// --cert (the leaf, then the chain certificates that follow it in the same
// file, as SSL_CTX_use_certificate_chain_file takes them) and --key.
bool load_client_certificate(SSL_CTX* context, const TlsOptions& options, const TlsFiles& files,
                             std::string& error) {
  const rk_openssl_table& ssl = openssl();
  bool asked = false;
  BioPtr chain = memory_bio(files.cert);
  X509Ptr leaf(chain ? ssl.PEM_read_bio_X509_AUX(chain.get(), nullptr, no_passphrase, &asked)
                     : nullptr,
               ssl.X509_free);
  if (!leaf || ssl.SSL_CTX_use_certificate(context, leaf.get()) != 1) {
    error = fmt::format("--cert {}: {}", options.cert, tls_error_text("not a PEM certificate"));
    return false;
  }
  // What the macros SSL_CTX_clear_chain_certs and SSL_CTX_add0_chain_cert
  // expand to.
  ssl.SSL_CTX_ctrl(context, SSL_CTRL_CHAIN, 0, nullptr);
  while (X509* extra = ssl.PEM_read_bio_X509(chain.get(), nullptr, no_passphrase, &asked)) {
    // Owns `extra` on success only.
    if (ssl.SSL_CTX_ctrl(context, SSL_CTRL_CHAIN_CERT, 0, extra) != 1) {
      ssl.X509_free(extra);
      error = fmt::format("--cert {}: {}", options.cert, tls_error_text("bad chain certificate"));
      return false;
    }
  }
  if (!only_end_of_pem()) {
    error = fmt::format("--cert {}: {}", options.cert, tls_error_text("bad chain certificate"));
    return false;
  }
  BioPtr key_pem = memory_bio(files.key);
  KeyPtr key(key_pem ? ssl.PEM_read_bio_PrivateKey(key_pem.get(), nullptr, no_passphrase, &asked)
                     : nullptr,
             ssl.EVP_PKEY_free);
  if (!key || ssl.SSL_CTX_use_PrivateKey(context, key.get()) != 1) {
    error = asked
                ? fmt::format(
                      "--key {}: encrypted with a passphrase, which no hook can give; "
                      "store it unencrypted (mode 0600)",
                      options.key)
                : fmt::format("--key {}: {}", options.key, tls_error_text("not a PEM private key"));
    ssl.ERR_clear_error();
    return false;
  }
  if (ssl.SSL_CTX_check_private_key(context) != 1) {
    error = fmt::format("--key {} does not match --cert {}", options.key, options.cert);
    ssl.ERR_clear_error();
    return false;
  }
  return true;
}

ContextPtr build_context(const TlsOptions& options, const TlsFiles& files,
                         HashedCertificates& hashed, std::string& error) {
  initialise_openssl();
  const rk_openssl_table& ssl = openssl();
  ContextPtr context(ssl.SSL_CTX_new(ssl.TLS_client_method()), ssl.SSL_CTX_free);
  if (!context) {
    error = tls_error_text("cannot create a TLS context");
    return context;
  }
  // TLS 1.2 or later at security level 2 (RSA keys of 2048 bits or more),
  // as Debian's default policy asks. SSL_CTX_set_min_proto_version and
  // SSL_CTX_set_mode are macros over SSL_CTX_ctrl.
  ssl.SSL_CTX_ctrl(context.get(), SSL_CTRL_SET_MIN_PROTO_VERSION, TLS1_2_VERSION, nullptr);
  ssl.SSL_CTX_set_security_level(context.get(), 2);
  // Partial writes: a command is written in as many SSL_write calls as the
  // socket takes, each retried with the same bytes after a poll.
  ssl.SSL_CTX_ctrl(context.get(), SSL_CTRL_MODE,
                   SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER, nullptr);
  if (!options.insecure) {
    ssl.SSL_CTX_set_verify(context.get(), SSL_VERIFY_PEER, nullptr);
    if (!load_verify_locations(context.get(), options, files, hashed, error)) context.reset();
  }
  if (context && !options.cert.empty() &&
      !load_client_certificate(context.get(), options, files, error))
    context.reset();
  return context;
}

// Reads the files and builds the context for `options`, or throws
// UsageError; the context is kept for tls_context().
ssl_ctx_st* build_and_keep(const TlsOptions& options, Clock::time_point deadline) {
  TlsFiles files = read_tls_files(options, deadline);
  std::string error;
  auto hashed = std::make_unique<HashedCertificates>();
  ContextPtr built = build_context(options, files, *hashed, error);
  if (!built) throw UsageError(error);
  CachedContext& cached = cache();
  cached.options = options;
  cached.context = std::move(built);  // the old context goes before its CAs do
  cached.hashed = std::move(hashed);
  return cached.context.get();
}

}  // namespace

std::string tls_error_text(const char* fallback) {
  const rk_openssl_table& ssl = openssl();
  unsigned long code = ssl.ERR_get_error();
  unsigned long last = code;
  while (code != 0) {  // the last one queued is the most specific
    last = code;
    code = ssl.ERR_get_error();
  }
  if (last == 0) return fallback;
  const char* reason = ssl.ERR_reason_error_string(last);
  if (reason != nullptr) return reason;
  char text[256];
  ssl.ERR_error_string_n(last, text, sizeof(text));
  return text;
}

void check_tls_options(const TlsOptions& options) {
  if (!options.enabled) {
    const char* stray = !options.cacert.empty()      ? "--cacert"
                        : !options.cacertdir.empty() ? "--cacertdir"
                        : !options.cert.empty()      ? "--cert"
                        : !options.key.empty()       ? "--key"
                        : !options.sni.empty()       ? "--sni"
                        : options.insecure           ? "--insecure"
                                                     : nullptr;
    if (stray != nullptr) throw UsageError(fmt::format("{} needs --tls", stray));
    return;
  }
  if (options.cert.empty() != options.key.empty())
    throw UsageError(options.cert.empty() ? "--key needs --cert" : "--cert needs --key");
}

void load_tls_files(const TlsOptions& options) {
  if (!options.enabled) return;
  const CachedContext& cached = cache();
  if (cached.context && cached.options == options) return;
  build_and_keep(options, Clock::now() + kFileReadBudget);
}

ssl_ctx_st* tls_context(const TlsOptions& options, std::string& error) {
  CachedContext& cached = cache();
  if (cached.context && cached.options == options) return cached.context.get();
  try {
    return build_and_keep(options, Clock::now() + kFileReadBudget);
  } catch (const UsageError& failure) {
    error = failure.what();
    return nullptr;
  }
}

}  // namespace rk
