#include "rk/decisions.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace rk {
namespace {

// Redis reports "0000...0000" as master_replid2 until a replid was replaced.
bool is_null_replid(const std::string& id) {
  return id.empty() || id.find_first_not_of('0') == std::string::npos;
}

std::string endpoint_text(const Endpoint& endpoint) {
  return fmt::format("{}:{}", endpoint.host, endpoint.port);
}

}  // namespace

bool ping_means_healthy(const std::optional<Reply>& reply) {
  if (!reply) return false;
  if (reply->is_status("PONG")) return true;
  // A replica with a down link and replica-serve-stale-data no answers
  // -MASTERDOWN: the process is alive and must stay a failover candidate.
  return reply->is_error() && reply->error_code() == "MASTERDOWN";
}

bool holds_history_of(const RedisState& holder, const RedisState& other) {
  if (other.keys == 0) return true;
  if (holder.loading) return false;
  long long held = holder.held_offset();
  if (holder.master_replid == other.master_replid) return held >= other.master_repl_offset;
  // REPLICAOF NO ONE keeps the old replid as replid2 and second_repl_offset
  // is one past the last offset shared with it, so `holder` has all of
  // `other` when `other` is its former master and has not moved since.
  if (!is_null_replid(holder.master_replid2) && holder.master_replid2 == other.master_replid)
    return other.master_repl_offset < holder.second_repl_offset;
  // `other` was promoted from `holder`'s history and has taken no writes.
  if (!is_null_replid(other.master_replid2) && other.master_replid2 == holder.master_replid)
    return other.master_repl_offset < other.second_repl_offset &&
           other.second_repl_offset - 1 <= held;
  return false;
}

Divergence describe_divergence(const RedisState& local, const RedisState& peer) {
  Divergence divergence;
  long long fork = -1;
  if (!is_null_replid(local.master_replid2) && local.master_replid2 == peer.master_replid) {
    fork = local.second_repl_offset - 1;
  } else if (!is_null_replid(peer.master_replid2) && peer.master_replid2 == local.master_replid) {
    fork = peer.second_repl_offset - 1;
  } else if (!is_null_replid(local.master_replid2) && local.master_replid2 == peer.master_replid2) {
    fork = std::min(local.second_repl_offset, peer.second_repl_offset) - 1;
  } else if (local.master_replid == peer.master_replid) {
    fork = std::min(local.held_offset(), peer.held_offset());
  }
  if (fork < 0) return divergence;
  divergence.related = true;
  divergence.fork_offset = fork;
  divergence.local_only_bytes = std::max(0LL, local.held_offset() - fork);
  return divergence;
}

std::optional<std::string> describe_replacement_loss(const RedisState& local,
                                                     const RedisState& peer) {
  if (local.keys == 0) return std::nullopt;
  Divergence divergence = describe_divergence(local, peer);
  if (divergence.related) {
    if (divergence.local_only_bytes <= 0) return std::nullopt;
    return fmt::format(
        "split-brain: both nodes took writes after offset {}; {} bytes of writes made only here "
        "are discarded by syncing from the peer",
        divergence.fork_offset, divergence.local_only_bytes);
  }
  // A restart from RDB/AOF starts a new replid at offset 0, so the histories
  // cannot be related; what the restarted node acknowledged but never
  // replicated is gone either way.
  return fmt::format(
      "histories unrelated (this node restarted from its files, or the peer did): this node's {} "
      "keys are replaced by the peer's {}; writes acknowledged here that never reached the peer "
      "are lost",
      local.keys, peer.keys);
}

MasterDecision decide_master_step(const RedisState& local, const PeerView& peer,
                                  const Endpoint& peer_endpoint) {
  // While loading, Redis refuses REPLICAOF (-LOADING): wait it out.
  if (local.loading) return {MasterAction::wait_for_loading, "local Redis is loading its dataset"};

  auto promote_or_stay = [&](std::string reason) -> MasterDecision {
    if (local.is_master()) return {MasterAction::already_master, std::move(reason)};
    return {MasterAction::promote, std::move(reason)};
  };

  if (!peer) return promote_or_stay("peer unreachable");
  if (!peer->is_master()) return promote_or_stay("peer is not a master");
  if (peer->loading) return promote_or_stay("peer is loading and cannot serve");
  // Never sync from an empty peer over local data: a restarted, empty master
  // would make its replica wipe everything at the end of the transfer.
  if (peer->keys == 0) {
    return promote_or_stay(local.keys > 0 ? "peer is empty; keeping local data"
                                          : "both datasets are empty");
  }

  bool replicating_peer = local.is_replica_of(peer_endpoint.host, peer_endpoint.port);
  if (!replicating_peer) {
    if (holds_history_of(local, *peer))
      return promote_or_stay("local holds all of the peer's writes");
    return {MasterAction::replicate_peer,
            fmt::format("peer {} is a master holding writes this node lacks",
                        endpoint_text(peer_endpoint))};
  }

  if (local.sync_in_progress || !local.link_up)
    return {MasterAction::wait_for_sync, "sync from the peer still running"};
  if (local.master_replid != peer->master_replid)
    return {MasterAction::wait_for_sync, "replid differs from the peer's"};
  return {MasterAction::verify_and_promote, "link up with the peer's replid"};
}

bool caught_up_with(const RedisState& local, const RedisState& paused_peer) {
  return !local.loading && local.role == Role::replica && local.link_up &&
         !local.sync_in_progress && local.master_replid == paused_peer.master_replid &&
         local.slave_repl_offset >= paused_peer.master_repl_offset;
}

AfterPromotion decide_after_promotion(const RedisState& local, const PeerView& peer) {
  if (!peer) return {false, "peer unreachable"};
  if (!peer->is_master()) return {false, "peer is already a replica"};
  if (peer->loading) return {false, "peer is loading (REPLICAOF would be refused)"};
  if (!holds_history_of(local, *peer))
    return {false, "peer holds writes this node lacks; left as master for recovery"};
  return {true, "peer is a master whose writes this node holds"};
}

BackupDecision decide_backup_step(const RedisState& local, const PeerView& peer,
                                  const Endpoint& peer_endpoint, bool grace_over) {
  if (local.loading) return {BackupAction::wait, "local Redis is loading its dataset"};
  if (!peer) return {BackupAction::wait, "peer unreachable"};
  // A peer that is a replica is either syncing from us before its own
  // promotion, or not promoted yet: replicating it now would form a loop.
  if (!peer->is_master()) return {BackupAction::wait, "peer is a replica, not yet promoted"};
  if (peer->loading) return {BackupAction::wait, "peer is loading"};

  if (local.is_replica_of(peer_endpoint.host, peer_endpoint.port)) {
    if (local.link_up && !local.sync_in_progress) return {BackupAction::done, "link up"};
    return {BackupAction::wait_for_link, "sync from the peer still running"};
  }
  if (peer->keys == 0 && local.keys > 0)
    return {BackupAction::refuse_empty_peer,
            fmt::format("peer is empty and this node holds {} keys", local.keys)};
  if (local.keys == 0) return {BackupAction::replicate_peer, "local dataset is empty"};
  if (holds_history_of(*peer, local))
    return {BackupAction::replicate_peer, "peer holds all of this node's writes"};
  // Both hold data and the histories diverge. If the peer is about to be
  // promoted, its notify_master hook first syncs from us; give it the time.
  if (!grace_over)
    return {BackupAction::wait, "histories diverge; waiting for the peer's promotion hook"};
  return {BackupAction::replicate_diverged, "histories diverge and the peer is the master"};
}

}  // namespace rk
