#pragma once

#include <string>
#include <vector>

#include "rk/endpoint.hpp"

namespace rk {

// True when `flag` is one of the comma-separated `flags` of a SENTINEL MASTER
// or SENTINEL REPLICAS entry ("s_down,o_down,master").
inline bool has_sentinel_flag(const std::string& flags, const std::string& flag) {
  std::string::size_type start = 0;
  while (start <= flags.size()) {
    std::string::size_type end = flags.find(',', start);
    if (end == std::string::npos) end = flags.size();
    if (flags.compare(start, end - start, flag) == 0) return true;
    start = end + 1;
  }
  return false;
}

// One replica a sentinel knows for the master (SENTINEL REPLICAS): the
// candidates of its failover, which may include a replica the master no
// longer lists (its link dropped a moment ago).
struct SentinelKnownReplica {
  Endpoint address;
  std::string flags;         // "slave", or with s_down, disconnected, ...
  long long priority = 100;  // slave-priority; 0: never promoted
};

// What one sentinel's SENTINEL MASTER and SENTINEL REPLICAS said about one
// monitored master: the state of Sentinel's own failover machinery, which
// redis_switchover must find idle before it starts one, and the replicas it
// could promote. Filled by net (query_sentinel_master), judged by model
// (check_sentinel_switchover_start).
struct SentinelMasterView {
  Endpoint sentinel;
  // Connected, authenticated, and both commands gave field lists. When
  // false, `problem` says why and nothing else is known.
  bool answered = false;
  // "flags": "master", or with s_down, o_down, failover_in_progress, ...
  // joined by commas.
  std::string flags;
  // "down-after-milliseconds": how long this master may go without a valid
  // PING reply before this sentinel sees it down (s_down). 0 when absent.
  long long down_after_ms = 0;
  // SENTINEL REPLICAS on the same connection.
  std::vector<SentinelKnownReplica> replicas;
  std::string problem;

  // True when `flag` is one of the master's flags.
  bool has_flag(const std::string& flag) const { return has_sentinel_flag(flags, flag); }
};

}  // namespace rk
