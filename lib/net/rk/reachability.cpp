#include "rk/reachability.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <string>

#include <fmt/format.h>

namespace rk {
namespace {

// The address text of `address` (without port).
std::string address_text(const SocketAddress& address) {
  char text[INET6_ADDRSTRLEN] = "";
  if (address.family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&address.address);
    ::inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text));
  } else if (address.family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&address.address);
    ::inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text));
  }
  return text;
}

// The IPv4 address (host order) of an AF_INET or IPv4-mapped AF_INET6
// address; false for any other.
bool ipv4_of(const SocketAddress& address, uint32_t& ipv4) {
  if (address.family == AF_INET) {
    ipv4 = ntohl(reinterpret_cast<const sockaddr_in*>(&address.address)->sin_addr.s_addr);
    return true;
  }
  if (address.family != AF_INET6) return false;
  const in6_addr& in6 = reinterpret_cast<const sockaddr_in6*>(&address.address)->sin6_addr;
  if (!IN6_IS_ADDR_V4MAPPED(&in6)) return false;
  std::memcpy(&ipv4, &in6.s6_addr[12], sizeof(ipv4));
  ipv4 = ntohl(ipv4);
  return true;
}

bool same_host(const SocketAddress& a, const SocketAddress& b) {
  uint32_t a4 = 0;
  uint32_t b4 = 0;
  if (ipv4_of(a, a4) && ipv4_of(b, b4)) return a4 == b4;
  if (a.family != AF_INET6 || b.family != AF_INET6) return false;
  const auto* a6 = reinterpret_cast<const sockaddr_in6*>(&a.address);
  const auto* b6 = reinterpret_cast<const sockaddr_in6*>(&b.address);
  return std::memcmp(&a6->sin6_addr, &b6->sin6_addr, sizeof(in6_addr)) == 0;
}

// A literal IPv4 or IPv6 address (brackets already removed), else nullopt.
std::optional<SocketAddress> literal_address(const std::string& host) {
  SocketAddress address;
  auto* in = reinterpret_cast<sockaddr_in*>(&address.address);
  if (::inet_pton(AF_INET, host.c_str(), &in->sin_addr) == 1) {
    in->sin_family = AF_INET;
    address.family = AF_INET;
    address.length = sizeof(sockaddr_in);
    return address;
  }
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&address.address);
  if (::inet_pton(AF_INET6, host.c_str(), &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    address.family = AF_INET6;
    address.length = sizeof(sockaddr_in6);
    return address;
  }
  return std::nullopt;
}

std::string lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

}  // namespace

std::string own_address(const SocketAddress& address, const std::vector<SocketAddress>& own) {
  uint32_t ipv4 = 0;
  if (ipv4_of(address, ipv4)) {
    if ((ipv4 >> 24) == 127) return fmt::format("{} is a loopback address", address_text(address));
    if (ipv4 == 0) return "0.0.0.0 connects to this host";
  } else if (address.family == AF_INET6) {
    const in6_addr& in6 = reinterpret_cast<const sockaddr_in6*>(&address.address)->sin6_addr;
    if (IN6_IS_ADDR_LOOPBACK(&in6)) return "::1 is the loopback address";
    if (IN6_IS_ADDR_UNSPECIFIED(&in6)) return ":: connects to this host";
  }
  for (const SocketAddress& mine : own)
    if (same_host(address, mine))
      return fmt::format("{} is an address of this host", address_text(address));
  return {};
}

std::string own_witness_text(const std::string& host, const std::string& local_host,
                             const std::vector<SocketAddress>& own) {
  std::string name = lower(host);
  if (!name.empty() && name.back() == '.') name.pop_back();
  if (name == "localhost" ||
      (name.size() > 10 && name.compare(name.size() - 10, 10, ".localhost") == 0))
    return fmt::format("{} names this host", host);
  if (lower(host) == lower(local_host))
    return fmt::format("{} is the --host this check connects to", host);
  std::optional<SocketAddress> literal = literal_address(host);
  if (!literal) return {};
  std::optional<SocketAddress> local = literal_address(local_host);
  if (local && same_host(*literal, *local))
    return fmt::format("{} is the --host this check connects to", host);
  return own_address(*literal, own);
}

std::vector<SocketAddress> interface_addresses() {
  std::vector<SocketAddress> addresses;
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return addresses;
  for (ifaddrs* entry = list; entry != nullptr; entry = entry->ifa_next) {
    if (entry->ifa_addr == nullptr) continue;
    int family = entry->ifa_addr->sa_family;
    if (family != AF_INET && family != AF_INET6) continue;
    SocketAddress address;
    address.family = family;
    address.length = family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
    std::memcpy(&address.address, entry->ifa_addr, address.length);
    addresses.push_back(address);
  }
  ::freeifaddrs(list);
  return addresses;
}

namespace {

// The connects started and not answered yet, polled together: each socket
// is owned here until its answer (or the end) closes it.
struct PendingConnects {
  std::vector<Fd> sockets;
  std::vector<pollfd> polled;      // polled[k].fd is sockets[k], -1 once answered
  std::vector<std::size_t> probe;  // the probe each socket answers for
  std::size_t open = 0;
};

// Starts the connect to `target`, or settles `probe` at once: a name that
// did not resolve, an address of this host, a connect refused on the spot.
void start_probe(const ProbeTarget& target, const std::vector<SocketAddress>& own,
                 Clock::time_point deadline, std::size_t index, Probe& probe,
                 PendingConnects& pending) {
  Resolution resolved = resolve_address(target.endpoint.host, target.endpoint.port, deadline);
  if (resolved.addresses.empty()) {
    probe.unresolved = resolved.timed_out;
    return;
  }
  const SocketAddress& address = resolved.addresses.front();
  if (target.must_be_remote) {
    probe.own_address = own_address(address, own);
    if (!probe.own_address.empty()) return;
  }
  int error = 0;
  Fd socket = connect_nonblocking(address, error);
  if (!socket.valid()) {
    probe.reached = error == ECONNREFUSED;
    return;
  }
  pending.polled.push_back({socket.get(), POLLOUT, 0});
  pending.sockets.push_back(std::move(socket));
  pending.probe.push_back(index);
  ++pending.open;
}

// Settles the probes whose connect answered in the last poll(); true when
// one of them reached its host.
bool settle_answered(PendingConnects& pending, std::vector<Probe>& probes) {
  bool any = false;
  for (std::size_t k = 0; k < pending.polled.size(); ++k) {
    if (pending.polled[k].fd < 0 || pending.polled[k].revents == 0) continue;
    int error = 0;
    socklen_t length = sizeof(error);
    ::getsockopt(pending.polled[k].fd, SOL_SOCKET, SO_ERROR, &error, &length);
    // Refused is an answer too: the host is up, only the port is closed.
    probes[pending.probe[k]].reached = error == 0 || error == ECONNREFUSED;
    any = any || probes[pending.probe[k]].reached;
    pending.sockets[k].reset();
    pending.polled[k].fd = -1;  // poll ignores negative descriptors
    --pending.open;
  }
  return any;
}

}  // namespace

std::vector<Probe> probe_reachable(const std::vector<ProbeTarget>& targets,
                                   const std::vector<SocketAddress>& own,
                                   Clock::time_point deadline) {
  std::vector<Probe> probes(targets.size());
  PendingConnects pending;
  for (std::size_t i = 0; i < targets.size(); ++i)
    start_probe(targets[i], own, deadline, i, probes[i], pending);
  // One reached host is enough: the rest are not waited for.
  bool any = std::any_of(probes.begin(), probes.end(), [](const Probe& p) { return p.reached; });
  while (!any && pending.open > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) break;
    int ready =
        ::poll(pending.polled.data(), pending.polled.size(), static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) break;
    any = settle_answered(pending, probes);
  }
  return probes;
}

}  // namespace rk
