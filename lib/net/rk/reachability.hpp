#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "rk/endpoint.hpp"
#include "rk/redis_client.hpp"
#include "rk/resolve.hpp"

namespace rk {

// What probing one endpoint found.
struct Probe {
  bool reached = false;
  // Its name lookup did not finish before the deadline: nothing is known
  // about the network from it (a slow DNS is not a cut-off network).
  bool unresolved = false;
  // Non-empty when it resolved to this host itself (see own_address): a
  // connect there never crosses the network, so it proves nothing.
  std::string own_address;
};

// An endpoint to probe; with `must_be_remote` (a witness), an address it
// resolves to that is this host's own is reported, not probed.
struct ProbeTarget {
  Endpoint endpoint;
  bool must_be_remote = false;
};

// Which of `targets` this host can reach over TCP, probed all at once with
// non-blocking connects under one deadline, and stopped as soon as one is
// reached (the others then read as not reached). An endpoint is reached when
// its connect completes or is refused: a refusal (RST) comes from the host
// itself, so the network between us works. No data is sent; a completed
// connection is closed at once. Host names are resolved under the deadline
// (resolve.hpp).
std::vector<Probe> probe_reachable(const std::vector<ProbeTarget>& targets,
                                   const std::vector<SocketAddress>& own,
                                   Clock::time_point deadline);

// The addresses of this host's interfaces (getifaddrs), IPv4 and IPv6.
std::vector<SocketAddress> interface_addresses();

// Why `address` is this host itself: loopback (127.0.0.0/8, ::1, and
// IPv4-mapped loopback), unspecified (0.0.0.0, ::, which connect to this
// host), or one of `own`; "" when it is another host.
std::string own_address(const SocketAddress& address, const std::vector<SocketAddress>& own);

// The same for a witness as written (before any lookup): "localhost" (and
// names under .localhost, which resolve to loopback), an address literal that
// own_address() rejects, or the --host the check connects to. "" when the
// text alone does not say (a name: the probe checks what it resolves to).
std::string own_witness_text(const std::string& host, const std::string& local_host,
                             const std::vector<SocketAddress>& own);

}  // namespace rk
