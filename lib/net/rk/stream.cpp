#include "rk/stream.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>

#include <fmt/format.h>

#include "rk/endpoint.hpp"
#include "rk/openssl.hpp"
#include "rk/resolve.hpp"

namespace rk {
namespace {

using TimePoint = Stream::TimePoint;

int milliseconds_left(TimePoint deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  return static_cast<int>(std::max<long long>(left.count(), 0));
}

ClientFailure io_failure(std::string message) {
  return ClientFailure{ClientFailure::Kind::io, std::move(message), {}};
}
ClientFailure timeout_failure(std::string message) {
  return ClientFailure{ClientFailure::Kind::timeout, std::move(message), {}};
}

// This thread's WaitCancellation descriptor; -1 (none), which poll() skips.
thread_local int cancel_fd = -1;

// Polls `fd` for `events` until `deadline`: 0 when ready, ETIMEDOUT when the
// deadline passes first, ECANCELED when this thread's cancellation
// descriptor is readable, else poll's errno.
int wait_ready(int fd, short events, TimePoint deadline) {
  for (;;) {
    int left = milliseconds_left(deadline);
    if (left == 0) return ETIMEDOUT;
    pollfd pfds[2] = {{fd, events, 0}, {cancel_fd, POLLIN, 0}};
    int ready = ::poll(pfds, 2, left);
    if (ready > 0) return (pfds[1].revents & POLLIN) != 0 ? ECANCELED : 0;
    if (ready == 0) return ETIMEDOUT;
    if (errno != EINTR) return errno;
  }
}

// Waits for a non-blocking connect on `fd`: 0 when connected, else the
// errno (ETIMEDOUT at the deadline).
int finish_connect(int fd, TimePoint deadline) {
  int waited = wait_ready(fd, POLLOUT, deadline);
  if (waited != 0) return waited;
  int error = 0;
  socklen_t length = sizeof(error);
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) return errno;
  return error;
}

// A connected, non-blocking TCP socket to one of `addresses`, tried in
// order; an invalid Fd with `error` (an errno) when none answered.
Fd connect_any(const std::vector<SocketAddress>& addresses, TimePoint deadline, int& error) {
  error = ECONNREFUSED;
  for (const SocketAddress& address : addresses) {
    Fd fd = connect_nonblocking(address, error);
    if (!fd.valid()) continue;
    if (error == EINPROGRESS) error = finish_connect(fd.get(), deadline);
    if (error == 0) {
      // Commands are small and answered one at a time: no Nagle delay.
      int on = 1;
      ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
      return fd;
    }
    if (error == ETIMEDOUT || error == ECANCELED) break;  // the deadline is spent, or not needed
  }
  return Fd();
}

bool is_address_literal(const std::string& name) {
  in6_addr scratch{};
  return ::inet_pton(AF_INET, name.c_str(), &scratch) == 1 ||
         ::inet_pton(AF_INET6, name.c_str(), &scratch) == 1;
}

// OpenSSL's reasons when the other end answered the ClientHello with bytes
// that are not TLS (a Redis plain-text port answers with an error line).
bool means_not_tls(const std::string& reason) {
  return reason.find("wrong version number") != std::string::npos ||
         reason.find("packet length too long") != std::string::npos ||
         reason.find("unknown protocol") != std::string::npos ||
         reason.find("record layer failure") != std::string::npos;
}

}  // namespace

WaitCancellation::WaitCancellation(int fd) : previous_(cancel_fd) { cancel_fd = fd; }
WaitCancellation::~WaitCancellation() { cancel_fd = previous_; }

Stream::Stream(Fd fd, std::string where) : fd_(std::move(fd)), where_(std::move(where)) {}

// The TLS session goes first; fd_, a member, closes the socket after it.
Stream::~Stream() {
  if (ssl_ != nullptr) openssl().SSL_free(ssl_);
}

std::unique_ptr<Stream> Stream::open(const std::string& host, int port, const TlsOptions& tls,
                                     TimePoint deadline, ClientFailure& failure) {
  const std::string address_text = Endpoint{host, port}.text();
  Resolution resolved = resolve_address(host, port, deadline);
  if (!resolved.error.empty()) {
    std::string message = fmt::format("{}: {} while connecting", address_text, resolved.error);
    failure = resolved.timed_out ? timeout_failure(message) : io_failure(message);
    return nullptr;
  }
  int error = 0;
  Fd socket_fd = connect_any(resolved.addresses, deadline, error);
  if (!socket_fd.valid()) {
    failure = error == ETIMEDOUT
                  ? timeout_failure(fmt::format("{}: timed out while connecting", address_text))
                  : io_failure(
                        fmt::format("{}: {} while connecting", address_text, std::strerror(error)));
    return nullptr;
  }
  std::unique_ptr<Stream> stream(new Stream(std::move(socket_fd), address_text));
  if (tls.enabled && !stream->handshake(tls, host, deadline, failure)) return nullptr;
  return stream;
}

bool Stream::wait(short events, TimePoint deadline, const char* during, ClientFailure& failure) {
  int waited = wait_ready(fd_.get(), events, deadline);
  if (waited == 0) return true;
  failure = waited == ETIMEDOUT ? timeout_failure(fmt::format("{}: timed out {}", where_, during))
                                : io_failure(fmt::format("{}: poll failed {}: {}", where_, during,
                                                         std::strerror(waited)));
  return false;
}

bool Stream::tls_retry(int result, TimePoint deadline, const char* during, ClientFailure& failure) {
  int saved_errno = errno;
  switch (openssl().SSL_get_error(ssl_, result)) {
    case SSL_ERROR_WANT_READ: return wait(POLLIN, deadline, during, failure);
    case SSL_ERROR_WANT_WRITE: return wait(POLLOUT, deadline, during, failure);
    case SSL_ERROR_ZERO_RETURN:
      failure = io_failure(fmt::format("{}: connection closed by the server {}", where_, during));
      return false;
    case SSL_ERROR_SYSCALL:
      // No errno: the server closed the TCP connection without a TLS close.
      failure = io_failure(fmt::format("{}: {} {}", where_,
                                       saved_errno == 0 ? "connection closed by the server"
                                                        : std::strerror(saved_errno),
                                       during));
      openssl().ERR_clear_error();
      return false;
    default:
      failure = io_failure(
          fmt::format("{}: TLS error {}: {}", where_, during, tls_error_text("protocol error")));
      return false;
  }
}

bool Stream::handshake(const TlsOptions& tls, const std::string& host, TimePoint deadline,
                       ClientFailure& failure) {
  // OpenSSL writes with write(): a server that closes mid-write must give
  // EPIPE, not end the tool with SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);
  std::string error;
  SSL_CTX* context = tls_context(tls, error);
  if (context == nullptr) {
    failure = io_failure(fmt::format("{}: TLS: {}", where_, error));
    return false;
  }
  const rk_openssl_table& ssl = openssl();  // loaded by tls_context()
  ssl_ = ssl.SSL_new(context);
  if (ssl_ == nullptr || ssl.SSL_set_fd(ssl_, fd_.get()) != 1) {
    failure = io_failure(
        fmt::format("{}: TLS: {}", where_, tls_error_text("cannot create a TLS session")));
    return false;
  }
  // The certificate must name --sni when given, else the host as given: an
  // address against its IP subjectAltNames, a name against its DNS names.
  // SNI itself is sent only for a name (RFC 6066 forbids addresses).
  const std::string& name = tls.sni.empty() ? host : tls.sni;
  const bool literal = is_address_literal(name);
  // SSL_set_tlsext_host_name() is a macro with a C cast; this is its body.
  if (!literal)
    ssl.SSL_ctrl(ssl_, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                 const_cast<char*>(name.c_str()));
  if (!tls.insecure) {
    X509_VERIFY_PARAM* parameters = ssl.SSL_get0_param(ssl_);
    ssl.X509_VERIFY_PARAM_set_hostflags(parameters, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    int named = literal ? ssl.X509_VERIFY_PARAM_set1_ip_asc(parameters, name.c_str())
                        : ssl.X509_VERIFY_PARAM_set1_host(parameters, name.c_str(), name.size());
    if (named != 1) {
      failure = io_failure(fmt::format("{}: TLS: cannot verify against the name {}", where_, name));
      return false;
    }
  }
  for (;;) {
    ssl.ERR_clear_error();
    errno = 0;
    int result = ssl.SSL_connect(ssl_);
    if (result == 1) return true;
    if (tls_retry(result, deadline, "in the TLS handshake", failure)) continue;
    long verified = ssl.SSL_get_verify_result(ssl_);
    if (verified != X509_V_OK) {
      failure = io_failure(fmt::format("{}: TLS handshake failed: certificate verify failed: {}",
                                       where_, ssl.X509_verify_cert_error_string(verified)));
    } else if (failure.kind == ClientFailure::Kind::timeout) {
      failure.message += " (the server does not speak TLS, or does not answer)";
    } else if (means_not_tls(failure.message)) {
      failure.message =
          fmt::format("{}: TLS handshake failed: the server does not speak TLS", where_);
    }
    return false;
  }
}

void Stream::explain_send_failure(ClientFailure& failure) {
  // In TLS 1.3 the client's handshake ends before the server has checked
  // the client's certificate: a server that refuses it sends an alert
  // (certificate required, unknown CA) and closes, and the next write can
  // fail with a reset before the alert is read. The alert, already received,
  // says why; read it without waiting.
  const rk_openssl_table& ssl = openssl();
  ssl.ERR_clear_error();
  char scratch[256];
  int result = ssl.SSL_read(ssl_, scratch, sizeof(scratch));
  if (result <= 0 && ssl.SSL_get_error(ssl_, result) == SSL_ERROR_SSL)
    failure.message =
        fmt::format("{}: TLS error while sending: {}", where_, tls_error_text("protocol error"));
  ssl.ERR_clear_error();
}

bool Stream::write_all(const char* data, std::size_t size, TimePoint deadline,
                       ClientFailure& failure) {
  std::size_t done = 0;
  while (done < size) {
    if (ssl_ != nullptr) {
      openssl().ERR_clear_error();
      errno = 0;
      int chunk = static_cast<int>(std::min<std::size_t>(size - done, 1 << 30));
      int written = openssl().SSL_write(ssl_, data + done, chunk);
      if (written > 0) {
        done += static_cast<std::size_t>(written);
      } else if (!tls_retry(written, deadline, "while sending", failure)) {
        explain_send_failure(failure);
        return false;
      }
      continue;
    }
    ssize_t written = ::send(fd_.get(), data + done, size - done, MSG_NOSIGNAL);
    if (written >= 0) {
      done += static_cast<std::size_t>(written);
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (!wait(POLLOUT, deadline, "while sending", failure)) return false;
    } else if (errno != EINTR) {
      failure = io_failure(fmt::format("{}: {} while sending", where_, std::strerror(errno)));
      return false;
    }
  }
  return true;
}

bool Stream::read_some(std::string& buffer, TimePoint deadline, ClientFailure& failure) {
  char chunk[16 * 1024];
  for (;;) {
    long got = 0;
    if (ssl_ != nullptr) {
      openssl().ERR_clear_error();
      errno = 0;
      got = openssl().SSL_read(ssl_, chunk, sizeof(chunk));
      if (got <= 0) {
        if (!tls_retry(static_cast<int>(got), deadline, "while reading", failure)) return false;
        continue;
      }
    } else {
      got = ::recv(fd_.get(), chunk, sizeof(chunk), 0);
      if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        if (!wait(POLLIN, deadline, "while reading", failure)) return false;
        continue;
      }
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {
        // A TLS port closes (or resets) a plain-text client without a word.
        bool silent_close = received_ == 0 && (got == 0 || errno == ECONNRESET);
        const char* hint = silent_close ? " (before any reply: a TLS port? see --tls)" : "";
        failure = io_failure(
            fmt::format("{}: {} while reading{}", where_,
                        got == 0 ? "connection closed by the server" : std::strerror(errno), hint));
        return false;
      }
    }
    buffer.append(chunk, static_cast<std::size_t>(got));
    received_ += static_cast<std::size_t>(got);
    return true;
  }
}

}  // namespace rk
