#include "rk/tls.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>

#include <fmt/format.h>

#include "rk/errors.hpp"

namespace rk {
namespace {

using ContextPtr = std::unique_ptr<SSL_CTX, void (*)(SSL_CTX*)>;

// One context per process, for the options it was built from.
struct CachedContext {
  TlsOptions options;
  ContextPtr context{nullptr, &SSL_CTX_free};
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
      OPENSSL_init_ssl(OPENSSL_INIT_NO_LOAD_CONFIG | OPENSSL_INIT_NO_ATEXIT, nullptr) == 1;
  (void)initialised;
}

ContextPtr build_context(const TlsOptions& options, std::string& error) {
  initialise_openssl();
  ContextPtr context(SSL_CTX_new(TLS_client_method()), &SSL_CTX_free);
  if (!context) {
    error = tls_error_text("cannot create a TLS context");
    return context;
  }
  // TLS 1.2 or later at security level 2 (RSA keys of 2048 bits or more),
  // as Debian's default policy asks.
  SSL_CTX_set_min_proto_version(context.get(), TLS1_2_VERSION);
  SSL_CTX_set_security_level(context.get(), 2);
  // Partial writes: a command is written in as many SSL_write calls as the
  // socket takes, each retried with the same bytes after a poll.
  SSL_CTX_set_mode(context.get(),
                   SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (!options.insecure) {
    SSL_CTX_set_verify(context.get(), SSL_VERIFY_PEER, nullptr);
    const bool given = !options.cacert.empty() || !options.cacertdir.empty();
    int loaded = given
                     ? SSL_CTX_load_verify_locations(
                           context.get(), options.cacert.empty() ? nullptr : options.cacert.c_str(),
                           options.cacertdir.empty() ? nullptr : options.cacertdir.c_str())
                     : SSL_CTX_set_default_verify_paths(context.get());
    if (loaded != 1) {
      error = fmt::format("cannot load the CA certificates ({}): {}",
                          given ? options.cacert + options.cacertdir : "system default",
                          tls_error_text("unreadable"));
      context.reset();
      return context;
    }
  }
  if (!options.cert.empty()) {
    if (SSL_CTX_use_certificate_chain_file(context.get(), options.cert.c_str()) != 1) {
      error = fmt::format("--cert {}: {}", options.cert, tls_error_text("not a PEM certificate"));
      context.reset();
      return context;
    }
    if (SSL_CTX_use_PrivateKey_file(context.get(), options.key.c_str(), SSL_FILETYPE_PEM) != 1) {
      error = fmt::format("--key {}: {}", options.key, tls_error_text("not a PEM private key"));
      context.reset();
      return context;
    }
    if (SSL_CTX_check_private_key(context.get()) != 1) {
      error = fmt::format("--key {} does not match --cert {}", options.key, options.cert);
      context.reset();
      return context;
    }
  }
  return context;
}

// OpenSSL's own messages for a missing file are terse ("system lib"); the
// usual mistakes get their own words first.
void check_readable(const std::string& path, const char* option, bool directory) {
  if (path.empty()) return;
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0)
    throw UsageError(fmt::format("{} {}: no such file", option, path));
  if (directory != S_ISDIR(info.st_mode))
    throw UsageError(
        fmt::format("{} {}: not a {}", option, path, directory ? "directory" : "file"));
  if (::access(path.c_str(), R_OK) != 0)
    throw UsageError(fmt::format("{} {}: not readable by this user", option, path));
}

}  // namespace

std::string tls_error_text(const char* fallback) {
  unsigned long code = ERR_get_error();
  unsigned long last = code;
  while (code != 0) {  // the last one queued is the most specific
    last = code;
    code = ERR_get_error();
  }
  if (last == 0) return fallback;
  const char* reason = ERR_reason_error_string(last);
  if (reason != nullptr) return reason;
  char text[256];
  ERR_error_string_n(last, text, sizeof(text));
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
  check_readable(options.cacert, "--cacert", false);
  check_readable(options.cacertdir, "--cacertdir", true);
  check_readable(options.cert, "--cert", false);
  check_readable(options.key, "--key", false);
  std::string error;
  if (tls_context(options, error) == nullptr) throw UsageError(error);
}

ssl_ctx_st* tls_context(const TlsOptions& options, std::string& error) {
  CachedContext& cached = cache();
  if (cached.context && cached.options == options) return cached.context.get();
  ContextPtr built = build_context(options, error);
  if (!built) return nullptr;
  cached.options = options;
  cached.context = std::move(built);
  return cached.context.get();
}

}  // namespace rk
