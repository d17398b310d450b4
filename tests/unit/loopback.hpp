#pragma once

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <chrono>

#include "catch_compat.hpp"
#include "rk/fd.hpp"

namespace rk_test {

// A loopback TCP socket, bound to a free port and optionally listening: its
// port refuses connections until it listens, and a listener that never
// accepts keeps a client waiting for its first byte (the kernel completes
// the handshake into the backlog by itself). The tests play the server's
// side with it and never leave 127.0.0.1.
class LoopbackPort {
 public:
  // `backlog`: how many connections the kernel completes before anyone
  // accepts them; one more connect than that waits (its SYN is dropped).
  explicit LoopbackPort(bool listening, int backlog = 4)
      : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    REQUIRE(fd_.valid());
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
    socklen_t length = sizeof(address);
    REQUIRE(::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&address), &length) == 0);
    port_ = ntohs(address.sin_port);
    if (listening) REQUIRE(::listen(fd_.get(), backlog) == 0);
  }
  int port() const { return port_; }

  // The server's end of the next connection, waited for up to 2 s.
  rk::Fd accept_one() const {
    pollfd ready{fd_.get(), POLLIN, 0};
    REQUIRE(::poll(&ready, 1, 2000) == 1);
    rk::Fd accepted(::accept4(fd_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    REQUIRE(accepted.valid());
    return accepted;
  }

 private:
  rk::Fd fd_;
  int port_ = 0;
};

// A client connection to `port` on 127.0.0.1, connected (blocking) before
// it returns.
inline rk::Fd connect_to(int port) {
  rk::Fd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(client.valid());
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  REQUIRE(::connect(client.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
  return client;
}

// Closes the server's end with a reset (RST) instead of an orderly close:
// SO_LINGER with a zero timeout.
inline void reset_connection(rk::Fd& connection) {
  linger abort{1, 0};
  REQUIRE(::setsockopt(connection.get(), SOL_SOCKET, SO_LINGER, &abort, sizeof(abort)) == 0);
  connection.reset();
}

// Milliseconds since `started`.
inline long long ms_since(std::chrono::steady_clock::time_point started) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               started)
      .count();
}

}  // namespace rk_test
