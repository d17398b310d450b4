#include "rk/resolve.hpp"

#include <netdb.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>

#include <fmt/format.h>

namespace rk {
namespace {

addrinfo tcp_hints(int flags) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV | flags;
  return hints;
}

// getaddrinfo's answer, copied out of its list; `status` is its return value.
struct Lookup {
  int status = 0;
  std::vector<SocketAddress> addresses;
};

Lookup lookup(const std::string& host, const std::string& port, int flags) {
  addrinfo hints = tcp_hints(flags);
  addrinfo* found = nullptr;
  Lookup result;
  result.status = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found);
  if (result.status != 0) return result;
  for (addrinfo* entry = found; entry != nullptr; entry = entry->ai_next) {
    if (entry->ai_addrlen > sizeof(sockaddr_storage)) continue;
    SocketAddress address;
    address.family = entry->ai_family;
    std::memcpy(&address.address, entry->ai_addr, entry->ai_addrlen);
    address.length = entry->ai_addrlen;
    result.addresses.push_back(address);
  }
  ::freeaddrinfo(found);
  return result;
}

// What the lookup thread and the waiting caller share. The thread keeps it
// alive after a caller that gave up has returned.
struct PendingLookup {
  std::mutex mutex;
  std::condition_variable done_signal;
  bool done = false;
  Lookup result;
};

Resolution from_lookup(const std::string& host, const Lookup& found) {
  Resolution resolution;
  if (found.status != 0) {
    resolution.error = fmt::format("cannot resolve {}: {}", host, ::gai_strerror(found.status));
  } else if (found.addresses.empty()) {
    resolution.error = fmt::format("cannot resolve {}: no TCP address", host);
  } else {
    resolution.addresses = found.addresses;
  }
  return resolution;
}

}  // namespace

Resolution resolve_address(const std::string& host, int port,
                           std::chrono::steady_clock::time_point deadline) {
  const std::string service = std::to_string(port);
  // A literal needs no lookup and no thread: the common, recommended case.
  Lookup literal = lookup(host, service, AI_NUMERICHOST);
  if (literal.status == 0) return from_lookup(host, literal);

  auto pending = std::make_shared<PendingLookup>();
  std::thread([pending, host, service] {
    Lookup found = lookup(host, service, 0);
    std::lock_guard<std::mutex> lock(pending->mutex);
    pending->result = std::move(found);
    pending->done = true;
    pending->done_signal.notify_all();
  }).detach();
  std::unique_lock<std::mutex> lock(pending->mutex);
  if (!pending->done_signal.wait_until(lock, deadline, [&] { return pending->done; })) {
    Resolution resolution;
    resolution.error = fmt::format("name resolution of {} timed out", host);
    resolution.timed_out = true;
    return resolution;
  }
  return from_lookup(host, pending->result);
}

int connect_nonblocking(const SocketAddress& address, int& error) {
  int fd = ::socket(address.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = errno;
    return -1;
  }
  error = ::connect(fd, reinterpret_cast<const sockaddr*>(&address.address), address.length) == 0
              ? 0
              : errno;
  if (error == 0 || error == EINPROGRESS) return fd;
  ::close(fd);
  return -1;
}

}  // namespace rk
