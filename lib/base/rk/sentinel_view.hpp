#pragma once

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "rk/endpoint.hpp"

namespace rk {

// What one sentinel said about one monitored master, in one query. Filled by
// net (query_sentinels), judged by model (tally_sentinels).
struct SentinelView {
  Endpoint sentinel;
  // The name it was asked about (--master-name), so that "monitors no
  // master named X" says which name the operator gave.
  std::string master_name;
  // Connected, authenticated and replied to both commands. When false,
  // `problem` says why and nothing else is known.
  bool answered = false;
  // SENTINEL GET-MASTER-ADDR-BY-NAME: the master it names. It names the
  // promoted replica from the failover's reconfiguration step on, earlier
  // than SENTINEL MASTER (which changes at +switch-master). nullopt with
  // `answered`: it monitors no master named `master_name`.
  std::optional<Endpoint> master;
  // INFO sentinel's sentinel_tilt:1: for 30 s after a timer gap over 2 s a
  // sentinel acts on nothing, so its view may be stale.
  bool tilt = false;
  std::string problem;
  // `problem` without the "HOST:PORT: " that the client's failures start
  // with, for a line that names the sentinel already.
  std::string problem_after_address() const {
    std::string prefix = sentinel.text() + ": ";
    return problem.rfind(prefix, 0) == 0 ? problem.substr(prefix.size()) : problem;
  }
};

// What one sentinel says of a failover that may be making a node master,
// asked only on the way to fencing that node (net: query_failover_views;
// model: failover_makes_master).
struct FailoverView {
  bool answered = false;
  // SENTINEL REPLICAS lists the node with the flag "promoted": this
  // sentinel leads a failover that has sent it REPLICAOF NO ONE.
  bool lists_promoted = false;
  // SENTINEL MASTER: the address this sentinel monitors as master and its
  // configuration epoch. After a failover's +switch-master the leader
  // monitors the new master with the failover's (higher) epoch while the
  // others still show the old address and epoch until its hello reaches
  // them.
  std::optional<Endpoint> monitored;
  long long config_epoch = 0;
};

// SENTINEL MASTER's fields that redis_status shows (the reply holds more).
// Its address is the old master's until +switch-master, later than
// GET-MASTER-ADDR-BY-NAME's.
struct SentinelMonitor {
  std::optional<Endpoint> address;  // ip, port
  std::vector<std::string> flags;   // "master", "s_down", "o_down", "failover_in_progress", ...
  long long config_epoch = 0;
  long long other_sentinels = 0;  // num-other-sentinels: the sentinels it knows of
  long long quorum = 0;           // from `sentinel monitor NAME HOST PORT QUORUM`
  bool has_flag(const std::string& flag) const {
    return std::find(flags.begin(), flags.end(), flag) != flags.end();
  }
};

// What redis_status asks a sentinel: the view redis_check asks for, then
// SENTINEL MASTER and SENTINEL CKQUORUM (redis_check never sends those two).
// Filled by net (query_sentinel_details).
struct SentinelDetails {
  SentinelView view;
  // SENTINEL MASTER; nullopt when not asked (the view has no master) or
  // not read (`problem` says why).
  std::optional<SentinelMonitor> monitor;
  // SENTINEL CKQUORUM: true for +OK, false for -NOQUORUM (it sees too few
  // sentinels to reach the quorum or to authorise a failover); nullopt when
  // not asked or not read. `quorum_text` is its reply without the code.
  std::optional<bool> quorum_reachable;
  std::string quorum_text;
  // Why SENTINEL MASTER or CKQUORUM could not be read ("" when both were);
  // the view stands on its own.
  std::string problem;
};

}  // namespace rk
