#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "rk/decisions.hpp"
#include "rk/endpoint.hpp"
#include "rk/replication_info.hpp"
#include "rk/sentinel_view.hpp"

// Sentinel mode: Redis Sentinel decides which node is master, and the VIP
// follows a strict majority of the sentinels the operator configured. Pure
// functions of what the sentinels and the local Redis said.
namespace rk {

// Two spellings of one address: the same IP literal in any form (IPv6 is
// compared by value), or the same name ignoring case. Sentinel reports IP
// literals unless it runs with resolve-hostnames/announce-hostnames.
bool same_address(const std::string& a, const std::string& b);
bool same_endpoint(const Endpoint& a, const Endpoint& b);

// The sentinels' verdict on who is master.
struct SentinelTally {
  std::size_t configured = 0;  // the operator's list, not those that answered
  std::size_t needed = 0;      // a strict majority of `configured`
  // The master named by at least `needed` sentinels that answered and are
  // not in TILT; nullopt when no address has that many.
  std::optional<Endpoint> master;
  std::size_t votes = 0;  // sentinels naming `master`, or the most-named address
  std::size_t tilted = 0;
  std::size_t answered = 0;
  bool unknown_master = false;  // a sentinel answered that it monitors no such name
  // One line for logs and verdicts: "2 of 3 sentinels name 10.0.0.1:6379
  // (10.0.0.3:26379: connection refused)".
  std::string summary;
};
// `views` holds one entry per configured sentinel that was queried.
SentinelTally tally_sentinels(const std::vector<SentinelView>& views, std::size_t configured);

// Whether the views in so far (`in`; `pending` sentinels yet to answer)
// already fix the tally's master whatever the others say: an address has a
// strict majority of the configured sentinels, or none can reach one even
// if every pending sentinel named it. Every verdict below depends on the
// views only through that master, so redis_check stops waiting then: on the
// surviving side of a cut, the sentinel beyond it costs no time.
bool sentinel_tally_settled(const std::vector<SentinelView>& in, std::size_t pending,
                            std::size_t configured);

// redis_check in Sentinel mode. It passes only for a local Redis that is a
// master and that a strict majority names (`self` is --announce-host and
// --port: Sentinel names real addresses, and the VIP, a local address on its
// holder, is never one of them). A master the majority does not name (the
// minority side of a split, an old master back from isolation, a node while
// the sentinels disagree) is fenced, so that it stops acknowledging writes
// Sentinel's reconfiguration would discard; the fence is lifted once it is
// named again or Sentinel has made it a replica.
enum class SentinelFenceStep { keep, fence, lift };
struct SentinelCheck {
  bool passes = false;
  std::string health;  // "healthy", "not-named", "no-quorum", "promoting", "replica", "loading"
  std::string reason;
  SentinelFenceStep fence = SentinelFenceStep::keep;
};
// `promoting`: a sentinel lists this node as the replica its failover
// promotes (the "promoted" flag): Sentinel has sent it REPLICAOF NO ONE
// and names it only once it sees the promotion, so a master here that no
// majority names yet is the new master on its way, not a loser: it fails
// ("promoting") and is not fenced.
SentinelCheck decide_sentinel_check(const RedisState& local, const SentinelTally& tally,
                                    const Endpoint& self, const std::optional<FenceRecord>& record,
                                    bool promoting = false);

// This node's place as redis_status shows it in Sentinel mode: the
// majority's master, a replica, a master the majority does not name (with
// whether a write fence is on: min-replicas-* in force, the INFO redis_check
// reads anyway says so), or unknown (its Redis does not answer, or loads).
enum class SentinelPlace { named_master, replica, unnamed_master, unknown };
struct SentinelStanding {
  SentinelPlace place = SentinelPlace::unknown;
  bool fenced = false;  // only for a master: a write fence is on
  // "the sentinels' master", "a replica of 10.0.0.1:6379", "a master the
  // majority does not name (fenced: no); the majority names ...".
  std::string text;
};
// `local` is nullopt when the local Redis does not answer.
SentinelStanding sentinel_standing(const std::optional<RedisState>& local,
                                   const SentinelTally& tally, const Endpoint& self);

// The fence a master the majority does not name gets: more replicas than any
// set can have, so Redis refuses every write (-NOREPLICAS) at once, whatever
// replica still ACKs, with the operator's lag. Its to_write is how a fence
// without a record is recognised as this one.
constexpr int kSentinelFenceReplicas = 1000000;
FenceValues sentinel_fence(int max_lag);
bool is_sentinel_fence(const FenceValues& found);

}  // namespace rk
