#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "rk/errors.hpp"
#include "rk/fd.hpp"
#include "rk/tls.hpp"

struct ssl_st;

namespace rk {

// While one lives on a thread, that thread's waits on a Stream (connect,
// TLS handshake, read, write) also end, with ECANCELED, as soon as `fd` is
// readable: query_sentinels stops the queries whose answers it no longer
// needs by writing to one eventfd they all share. One per thread at a time;
// a nested one restores the outer one when it ends.
class WaitCancellation {
 public:
  explicit WaitCancellation(int fd);
  WaitCancellation(const WaitCancellation&) = delete;
  WaitCancellation& operator=(const WaitCancellation&) = delete;
  ~WaitCancellation();

 private:
  int previous_;
};

// A byte stream to one server: a TCP socket this class owns, with a TLS
// session on it when TlsOptions::enabled. Every call is bounded by the
// deadline it is given (the socket is non-blocking; waits are poll()s) and
// reports failures as a ClientFailure, never by throwing. Move-only.
class Stream {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  // Resolves host (bounded: resolve.hpp), connects to its addresses in turn
  // and, with TLS, completes the handshake, all before `deadline`. `where`
  // ("host:port") starts every failure message.
  static std::unique_ptr<Stream> open(const std::string& host, int port, const TlsOptions& tls,
                                      TimePoint deadline, ClientFailure& failure);

  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  ~Stream();

  // Writes all `size` bytes. False with `failure` set on error or deadline.
  bool write_all(const char* data, std::size_t size, TimePoint deadline, ClientFailure& failure);
  // Appends what the server sent (at least one byte) to `buffer`. A server
  // that closed the stream is a failure.
  bool read_some(std::string& buffer, TimePoint deadline, ClientFailure& failure);

  int fd() const { return fd_.get(); }
  bool tls() const { return ssl_ != nullptr; }
  const std::string& where() const { return where_; }
  // Bytes received so far: none means the server closed or stalled before
  // answering anything, which a TLS/plain mismatch looks like.
  std::size_t received() const { return received_; }

 private:
  Stream(Fd fd, std::string where);
  // Waits until the socket is ready for `events` (POLLIN/POLLOUT).
  bool wait(short events, TimePoint deadline, const char* during, ClientFailure& failure);
  bool handshake(const TlsOptions& tls, const std::string& host, TimePoint deadline,
                 ClientFailure& failure);
  // After a failed TLS write: the server's alert, when one arrived, as the
  // reason.
  void explain_send_failure(ClientFailure& failure);
  // Turns SSL_get_error's answer into a wait (true: retry) or a failure.
  bool tls_retry(int result, TimePoint deadline, const char* during, ClientFailure& failure);

  Fd fd_;
  ssl_st* ssl_ = nullptr;
  std::string where_;
  std::size_t received_ = 0;
};

}  // namespace rk
