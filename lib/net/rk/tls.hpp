#pragma once

#include <string>

// OpenSSL types appear only in tls.cpp and stream.cpp.
struct ssl_ctx_st;

namespace rk {

// TLS towards Redis, with redis-cli's option names. Redis serves TLS on its
// tls-port (often with `port 0`, so TLS only); replication between the two
// servers needs `tls-replication yes` on both, which is Redis's own setting.
struct TlsOptions {
  std::string cacert;     // --cacert: CA bundle to verify the server with
  std::string cacertdir;  // --cacertdir: c_rehash'ed directory of CAs
  std::string cert;       // --cert: client certificate (tls-auth-clients yes)
  std::string key;        // --key: its private key
  std::string sni;        // --sni: server name to send and to verify
  bool enabled = false;   // --tls
  bool insecure = false;  // --insecure: no verification at all (tests only)

  bool operator==(const TlsOptions& other) const {
    return enabled == other.enabled && cacert == other.cacert && cacertdir == other.cacertdir &&
           cert == other.cert && key == other.key && sni == other.sni && insecure == other.insecure;
  }
  bool operator!=(const TlsOptions& other) const { return !(*this == other); }
};

// Checks the combination, reading no file: throws UsageError (exit 2) for a
// TLS option without --tls, or --cert without --key (or the reverse).
void check_tls_options(const TlsOptions& options);

// With --tls, reads --cacert, each hashed file of --cacertdir, --cert and
// --key with the bounded reader (read_option_file: regular files only,
// never blocking, at most 1 MiB each) and builds the context from those
// bytes, kept for tls_context(): OpenSSL opens none of them itself, then
// or later (without --cacert/--cacertdir it reads the system's CAs); a
// --cacertdir file is parsed when a verification asks for its subject.
// Throws UsageError (exit 2) naming the file: one that cannot be read, is
// not a regular file or is too large, a PEM file OpenSSL refuses, a key
// encrypted with a passphrase, or a key that does not match its
// certificate.
void load_tls_files(const TlsOptions& options);

// The process's TLS client context for `options`, built by load_tls_files()
// or on first use, and kept (a tool uses one set of options; another set
// replaces it). nullptr with `error` set when it cannot be built. Not
// thread-safe: the tools connect from one thread.
ssl_ctx_st* tls_context(const TlsOptions& options, std::string& error);

// OpenSSL's reason for the last failure on this thread, e.g. "certificate
// verify failed", or `fallback` when it recorded none. Clears the queue.
std::string tls_error_text(const char* fallback);

}  // namespace rk
