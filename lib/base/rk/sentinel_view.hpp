#pragma once

#include <optional>
#include <string>

#include "rk/endpoint.hpp"

namespace rk {

// What one sentinel said about one monitored master, in one query. Filled by
// net (query_sentinels), judged by model (tally_sentinels).
struct SentinelView {
  Endpoint sentinel;
  // Connected, authenticated and replied to both commands. When false,
  // `problem` says why and nothing else is known.
  bool answered = false;
  // SENTINEL GET-MASTER-ADDR-BY-NAME: the master it names. It names the
  // promoted replica from the failover's reconfiguration step on, earlier
  // than SENTINEL MASTER (which changes at +switch-master). nullopt with
  // `answered`: it monitors no master of that name.
  std::optional<Endpoint> master;
  // INFO sentinel's sentinel_tilt:1: for 30 s after a timer gap over 2 s a
  // sentinel acts on nothing, so its view may be stale.
  bool tilt = false;
  std::string problem;
};

}  // namespace rk
