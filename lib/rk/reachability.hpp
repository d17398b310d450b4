#pragma once

#include <cstddef>
#include <vector>

#include "rk/endpoint.hpp"
#include "rk/redis_client.hpp"

namespace rk {

// Which of `endpoints` this host can reach over TCP, probed all at once with
// non-blocking connects under one deadline, and stopped as soon as one is
// reached (the others then read as not reached). An endpoint is reached when
// its connect completes or is refused: a refusal (RST) comes from the host
// itself, so the network between us works. No data is sent; a completed
// connection is closed at once. Host names are resolved first, unbounded
// (redis_check's backstop timer bounds the whole check).
std::vector<bool> probe_reachable(const std::vector<Endpoint>& endpoints,
                                  Clock::time_point deadline);

}  // namespace rk
