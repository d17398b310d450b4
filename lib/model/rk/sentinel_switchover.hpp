#pragma once

#include <optional>
#include <string>
#include <vector>

#include "rk/decisions.hpp"
#include "rk/endpoint.hpp"
#include "rk/replication_info.hpp"
#include "rk/sentinel_master_view.hpp"
#include "rk/sentinel_quorum.hpp"
#include "rk/sentinel_view.hpp"

// redis_switchover in Sentinel mode: a planned move of the master role that
// Sentinel carries out (SENTINEL FAILOVER) while this node holds every write
// until the new master has them all, then makes itself the new master's
// replica. Pure functions of what the sentinels and the servers said.
namespace rk {

// Whether a switchover may start: the local Redis is a master, not loading,
// with an online replica; every configured sentinel answered, none is in
// TILT, and all of them name this node (`self`, --announce-host:--port); and
// no sentinel's SENTINEL MASTER (`masters`, one per configured sentinel)
// shows the failover machinery busy or the master down (failover_in_progress,
// o_down, s_down); and every replica a sentinel could promote is one the
// master lists as online (those are the replicas the switchover waits for).
// `reason` says why not; nothing has been changed then.
SwitchoverCheck check_sentinel_switchover_start(const RedisState& local, const SentinelTally& tally,
                                                const std::vector<SentinelMasterView>& masters,
                                                const Endpoint& self);

// The smallest down-after-milliseconds the sentinels reported (0 when none
// did): how long a paused master may go before a sentinel can see it down.
long long shortest_down_after(const std::vector<SentinelMasterView>& masters);

// The replicas that must have applied every write of the paused master
// before SENTINEL FAILOVER: each one its INFO lists. `refusal` is set when
// one of them is not online (a full sync, a handshake): it cannot catch up
// within a pause, and Sentinel may still promote it (sentinel.c's replica
// choice takes a replica whose link has been down for less than ten times
// down-after-milliseconds), so it would lose writes.
struct ReplicaWait {
  std::vector<Endpoint> replicas;
  std::string refusal;
};
ReplicaWait plan_replica_wait(const RedisState& paused_master);

// After SENTINEL FAILOVER: what to do with this node, which still holds
// every write under its pause.
enum class HandoverStep {
  wait,     // nobody names another master yet: keep the writes held, ask again
  demote,   // make this node a replica of `new_master`
  unknown,  // time is up and no sentinel names another master: the failover's
            // outcome is unknown
};
struct SentinelHandover {
  HandoverStep step = HandoverStep::wait;
  std::optional<Endpoint> new_master;
  bool confirmed = false;  // a strict majority names `new_master`
  std::string reason;
};
// `tally` is the sentinels' latest answer, `leader` what the sentinel that
// accepted SENTINEL FAILOVER said in it (nullopt when it did not answer),
// `time_up` whether the wait's bound has passed. A strict majority naming
// another node is the goal. At the bound, the leader naming another node is
// enough to follow it: Sentinel names the promoted replica only once that
// replica reported itself master (the failover's reconfiguration step), and
// the leader's new configuration epoch wins over the others' views.
SentinelHandover decide_sentinel_handover(const SentinelTally& tally,
                                          const std::optional<SentinelView>& leader,
                                          const Endpoint& self, bool time_up);

// True when `local` replicates `master` (its INFO's master_host and
// master_port, the address compared as same_address does).
bool replicates(const RedisState& local, const Endpoint& master);

}  // namespace rk
