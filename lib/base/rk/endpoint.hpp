#pragma once

#include <string>

#include <fmt/format.h>

namespace rk {

// Where a Redis server is, as this node addresses it.
struct Endpoint {
  std::string host;
  int port = 0;

  // "host:port", or "[v6]:port" for an IPv6 literal.
  std::string text() const {
    if (host.find(':') != std::string::npos) return fmt::format("[{}]:{}", host, port);
    return fmt::format("{}:{}", host, port);
  }
  // Literally the same address (no resolution: two spellings of one server
  // are caught later, by the servers' run_id).
  bool operator==(const Endpoint& other) const { return host == other.host && port == other.port; }
  bool operator!=(const Endpoint& other) const { return !(*this == other); }
};

}  // namespace rk
