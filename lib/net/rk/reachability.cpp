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

std::vector<Probe> probe_reachable(const std::vector<ProbeTarget>& targets,
                                   const std::vector<SocketAddress>& own,
                                   Clock::time_point deadline) {
  std::vector<Probe> probes(targets.size());
  std::vector<pollfd> pending;
  std::vector<std::size_t> index;
  for (std::size_t i = 0; i < targets.size(); ++i) {
    const Endpoint& endpoint = targets[i].endpoint;
    Resolution resolved = resolve_address(endpoint.host, endpoint.port, deadline);
    if (resolved.addresses.empty()) {
      probes[i].unresolved = resolved.timed_out;
      continue;
    }
    const SocketAddress& address = resolved.addresses.front();
    if (targets[i].must_be_remote) {
      probes[i].own_address = own_address(address, own);
      if (!probes[i].own_address.empty()) continue;
    }
    int error = 0;
    int fd = connect_nonblocking(address, error);
    if (fd < 0) {
      probes[i].reached = error == ECONNREFUSED;
      continue;
    }
    pending.push_back({fd, POLLOUT, 0});
    index.push_back(i);
  }
  bool any = std::any_of(probes.begin(), probes.end(), [](const Probe& p) { return p.reached; });
  std::size_t open = pending.size();
  while (!any && open > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) break;
    int ready = ::poll(pending.data(), pending.size(), static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) break;
    for (std::size_t k = 0; k < pending.size(); ++k) {
      if (pending[k].fd < 0 || pending[k].revents == 0) continue;
      int error = 0;
      socklen_t length = sizeof(error);
      ::getsockopt(pending[k].fd, SOL_SOCKET, SO_ERROR, &error, &length);
      probes[index[k]].reached = error == 0 || error == ECONNREFUSED;
      any = any || probes[index[k]].reached;
      ::close(pending[k].fd);
      pending[k].fd = -1;  // poll ignores negative descriptors
      --open;
    }
  }
  for (pollfd& p : pending)
    if (p.fd >= 0) ::close(p.fd);
  return probes;
}

}  // namespace rk
