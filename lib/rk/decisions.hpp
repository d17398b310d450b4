#pragma once

#include <optional>
#include <string>

#include "rk/redis_client.hpp"
#include "rk/replication_info.hpp"

// The choices the hooks make, as pure functions of observed state. No I/O
// here: every branch is unit-tested without a server.
namespace rk {

// Where a Redis server is, as this node addresses it.
struct Endpoint {
  std::string host;
  int port = 0;
};

// What the peer looked like; nullopt when it could not be reached or read.
using PeerView = std::optional<RedisState>;

// --- redis_check -----------------------------------------------------------

// Whether a PING reply means the local Redis can serve. `reply` is nullopt
// when there was no reply at all (refused, timed out, closed).
// MASTERDOWN is alive: it is a replica whose master is gone (with
// replica-serve-stale-data no), and it must stay eligible to take over.
// LOADING and BUSY cannot serve; any other error is a failure too.
bool ping_means_healthy(const std::optional<Reply>& reply);

// --- history comparison ----------------------------------------------------

// True when `holder` already has every write `other` has, judged from replids
// and offsets only: same replid and at least the same offset, or `other` is
// the master `holder` was promoted from and has not moved past the point of
// promotion, or `other` holds no keys at all.
bool holds_history_of(const RedisState& holder, const RedisState& other);

// How two histories relate when neither holds the other's (a split brain).
struct Divergence {
  bool related = false;             // the histories share a fork point
  long long fork_offset = -1;       // last offset both had
  long long local_only_bytes = -1;  // replication bytes only `local` has
};
Divergence describe_divergence(const RedisState& local, const RedisState& peer);

// What replacing `local`'s dataset with `peer`'s by a full sync discards, as
// one log line; nullopt when it discards nothing. Related histories that both
// moved on are a split brain (the word "split-brain" starts the line);
// unrelated ones are usually a node that restarted from its files.
std::optional<std::string> describe_replacement_loss(const RedisState& local,
                                                     const RedisState& peer);

// --- redis_master (notify_master) ------------------------------------------

enum class MasterAction {
  promote,             // REPLICAOF NO ONE: the peer holds nothing this node lacks
  already_master,      // this node is a master and holds the peer's history
  replicate_peer,      // REPLICAOF peer: it holds data this node lacks
  wait_for_sync,       // replica of the peer, still loading or behind
  verify_and_promote,  // looks caught up: pause the peer's writes, confirm, promote
  wait_for_loading,    // local is loading: REPLICAOF NO ONE would be refused
};

struct MasterDecision {
  MasterAction action;
  std::string reason;
};

// The next step of the sync-wait before promotion.
MasterDecision decide_master_step(const RedisState& local, const PeerView& peer,
                                  const Endpoint& peer_endpoint);

// True when the final comparison, made while the peer's writes are paused,
// shows this replica has applied everything the peer has.
bool caught_up_with(const RedisState& local, const RedisState& paused_peer);

// What to do once this node is master.
struct AfterPromotion {
  bool repoint_peer = false;  // REPLICAOF <this node> on the peer, then CONFIG REWRITE there
  std::string reason;
};
// `local` is this node's state after promotion. The peer is repointed only
// when it is a reachable master whose every write this node holds, so that
// repointing it discards nothing.
AfterPromotion decide_after_promotion(const RedisState& local, const PeerView& peer);

// --- redis_backup (notify_backup) ------------------------------------------

enum class BackupAction {
  done,                // replica of the peer with the link up
  replicate_peer,      // REPLICAOF peer: nothing of ours is lost by it
  replicate_diverged,  // REPLICAOF peer although our own writes are lost (split brain)
  wait_for_link,       // replica of the peer, link not up yet
  wait,                // nothing safe to do yet (peer unreachable, syncing from us, ...)
  refuse_empty_peer,   // the peer is empty and we hold data: never sync from it
};

struct BackupDecision {
  BackupAction action;
  std::string reason;
};

// The next step of notify_backup. `grace_over` says whether the peer's own
// promotion hook has had time to act (see --backup-grace).
BackupDecision decide_backup_step(const RedisState& local, const PeerView& peer,
                                  const Endpoint& peer_endpoint, bool grace_over);

}  // namespace rk
