#include "rk/sentinel_switchover.hpp"

#include <fmt/format.h>

namespace rk {
namespace {

// The first sentinel whose SENTINEL MASTER stops a switchover, and why; ""
// when none does. A failover already running (failover_in_progress) would
// race the one asked for; a master some sentinel sees down (s_down, or
// o_down: a quorum agrees) is on its way to an unplanned failover, and the
// pause would only speed that up (a WRITE pause holds Sentinel's hello
// PUBLISH, see the switchover's pause step).
std::string busy_sentinel(const std::vector<SentinelMasterView>& masters) {
  for (const SentinelMasterView& master : masters) {
    if (!master.answered)
      return fmt::format("sentinel {} did not answer SENTINEL MASTER: {}", master.sentinel.text(),
                         master.problem);
    for (const char* flag : {"failover_in_progress", "o_down", "s_down"})
      if (master.has_flag(flag))
        return fmt::format("sentinel {} reports {} (flags {})", master.sentinel.text(), flag,
                           master.flags);
  }
  return {};
}

// Why the sentinels' answers do not allow a switchover of `self`; "" when
// they do: every configured sentinel answered, none is in TILT, and all of
// them name this node. A switchover is planned work: it waits for a moment
// when nothing is in doubt.
std::string sentinels_not_unanimous(const SentinelTally& tally, const Endpoint& self) {
  if (tally.answered < tally.configured)
    return fmt::format("{} of the {} configured sentinels answered: {}", tally.answered,
                       tally.configured, tally.summary);
  if (tally.tilted > 0)
    return fmt::format("{} sentinel{} in TILT: {}", tally.tilted,
                       tally.tilted == 1 ? " is" : "s are", tally.summary);
  if (tally.unknown_master) return "a sentinel monitors no master of that name: " + tally.summary;
  if (!tally.master || tally.votes < tally.configured)
    return "the sentinels disagree on the master: " + tally.summary;
  if (!same_endpoint(*tally.master, self))
    return fmt::format(
        "the sentinels name {} as master, not this node ({}); run redis_switchover "
        "on the master",
        tally.master->text(), self.text());
  return {};
}

// A replica some sentinel could promote (neither down nor disconnected in
// its view, replica-priority not 0) that the master does not list as an
// online replica, described; "" when none. It would not be waited for, and
// it may lack writes: sentinel.c still promotes a replica whose link has
// been down for less than ten times down-after-milliseconds.
std::string unseen_candidate(const RedisState& local,
                             const std::vector<SentinelMasterView>& masters) {
  for (const SentinelMasterView& master : masters) {
    for (const SentinelKnownReplica& replica : master.replicas) {
      if (replica.priority == 0) continue;
      bool out = false;
      for (const char* flag : {"s_down", "o_down", "disconnected"})
        out = out || has_sentinel_flag(replica.flags, flag);
      if (out) continue;
      bool online = false;
      for (const ReplicaEntry& entry : local.replicas)
        online =
            online || (entry.state == "online" && same_endpoint(entry.endpoint(), replica.address));
      if (!online)
        return fmt::format(
            "sentinel {} could promote replica {} (flags {}), which this master does not list "
            "as an online replica: it would not be waited for",
            master.sentinel.text(), replica.address.text(), replica.flags);
    }
  }
  return {};
}

}  // namespace

SwitchoverCheck check_sentinel_switchover_start(const RedisState& local, const SentinelTally& tally,
                                                const std::vector<SentinelMasterView>& masters,
                                                const Endpoint& self) {
  if (local.loading) return {false, "the local Redis is loading its dataset"};
  if (!local.is_master())
    return {false,
            fmt::format("the local Redis is a replica of {}, not a master", local.master().text())};
  if (std::string why = sentinels_not_unanimous(tally, self); !why.empty()) return {false, why};
  if (std::string why = busy_sentinel(masters); !why.empty()) return {false, why};
  if (std::string why = unseen_candidate(local, masters); !why.empty()) return {false, why};
  std::size_t online = 0;
  for (const ReplicaEntry& replica : local.replicas) online += replica.state == "online" ? 1 : 0;
  if (online == 0)
    return {false, "the local master has no online replica: Sentinel would have none to promote"};
  return {true, fmt::format("all {} sentinels name this node ({}); {} online replica{}",
                            tally.configured, self.text(), online, online == 1 ? "" : "s")};
}

long long shortest_down_after(const std::vector<SentinelMasterView>& masters) {
  long long shortest = 0;
  for (const SentinelMasterView& master : masters)
    if (master.answered && master.down_after_ms > 0 &&
        (shortest == 0 || master.down_after_ms < shortest))
      shortest = master.down_after_ms;
  return shortest;
}

ReplicaWait plan_replica_wait(const RedisState& paused_master) {
  ReplicaWait wait;
  for (const ReplicaEntry& replica : paused_master.replicas) {
    if (replica.state != "online") {
      wait.refusal = fmt::format(
          "replica {} is in state {}: it cannot catch up within the pause, and Sentinel may "
          "still promote it",
          replica.endpoint().text(), replica.state);
      return wait;
    }
    wait.replicas.push_back(replica.endpoint());
  }
  if (wait.replicas.empty()) wait.refusal = "the local master has no replica any more";
  return wait;
}

SentinelHandover decide_sentinel_handover(const SentinelTally& tally,
                                          const std::optional<SentinelView>& leader,
                                          const Endpoint& self, bool time_up) {
  if (tally.master && !same_endpoint(*tally.master, self))
    return {HandoverStep::demote, tally.master, true,
            fmt::format("the sentinels name the new master: {}", tally.summary)};
  bool leader_names_other = leader && leader->answered && !leader->tilt && leader->master &&
                            !same_endpoint(*leader->master, self);
  if (!time_up) return {HandoverStep::wait, std::nullopt, false, tally.summary};
  if (leader_names_other)
    return {HandoverStep::demote, leader->master, false,
            fmt::format("no majority names a new master yet, but sentinel {}, which ran the "
                        "failover, names {}: {}",
                        leader->sentinel.text(), leader->master->text(), tally.summary)};
  return {HandoverStep::unknown, std::nullopt, false,
          fmt::format("neither a majority nor the sentinel that ran the failover names another "
                      "master: {}",
                      tally.summary)};
}

bool replicates(const RedisState& local, const Endpoint& master) {
  return local.role == Role::replica && same_endpoint(local.master(), master);
}

}  // namespace rk
