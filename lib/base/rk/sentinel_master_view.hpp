#pragma once

#include <string>

#include "rk/endpoint.hpp"

namespace rk {

// What one sentinel's SENTINEL MASTER said about one monitored master: the
// state of Sentinel's own failover machinery, which redis_switchover must
// find idle before it starts one. Filled by net (query_sentinel_master),
// judged by model (check_sentinel_switchover_start).
struct SentinelMasterView {
  Endpoint sentinel;
  // Connected, authenticated, and SENTINEL MASTER gave a field list. When
  // false, `problem` says why and nothing else is known.
  bool answered = false;
  // "flags": "master", or with s_down, o_down, failover_in_progress, ...
  // joined by commas.
  std::string flags;
  // "down-after-milliseconds": how long this master may go without a valid
  // PING reply before this sentinel sees it down (s_down). 0 when absent.
  long long down_after_ms = 0;
  std::string problem;

  // True when `flag` is one of the comma-separated flags.
  bool has_flag(const std::string& flag) const {
    std::string::size_type start = 0;
    while (start <= flags.size()) {
      std::string::size_type end = flags.find(',', start);
      if (end == std::string::npos) end = flags.size();
      if (flags.compare(start, end - start, flag) == 0) return true;
      start = end + 1;
    }
    return false;
  }
};

}  // namespace rk
