#pragma once

#include <sys/socket.h>

#include <chrono>
#include <string>
#include <vector>

namespace rk {

// One address a host name stands for, ready for socket() and connect().
struct SocketAddress {
  int family = AF_UNSPEC;
  sockaddr_storage address{};
  socklen_t length = 0;
};

// What resolve_address() found: the addresses, or why there are none.
struct Resolution {
  std::vector<SocketAddress> addresses;  // in getaddrinfo's order
  std::string error;                     // empty on success
  bool timed_out = false;                // the deadline passed first
};

// Resolves `host` (an address literal or a name) and `port` for a TCP
// connect, before `deadline`. An address literal is parsed in place. A name
// is looked up by getaddrinfo on a thread of its own, waited for until the
// deadline: glibc's getaddrinfo has no timeout of its own (resolv.conf's
// timeout x attempts x servers can reach tens of seconds), so without the
// thread a dead DNS server would stall a health check past keepalived's
// timeout. A lookup still running at the deadline is left to finish on its
// own and its answer dropped. Never throws for a lookup that fails.
Resolution resolve_address(const std::string& host, int port,
                           std::chrono::steady_clock::time_point deadline);

// A non-blocking TCP socket with its connect to `address` started. Returns
// the socket with `error` 0 (connected at once) or EINPROGRESS (poll it for
// POLLOUT, then read SO_ERROR), or -1 with `error` the errno of the failure
// (ECONNREFUSED: the host answered that nothing listens).
int connect_nonblocking(const SocketAddress& address, int& error);

}  // namespace rk
