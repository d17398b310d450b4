// notify_backup: become the peer's replica once that loses nothing, and
// never while the peer is itself syncing from this node before promotion.

#include "rk/errors.hpp"
#include "rk/hook_run.hpp"
#include "rk/hooks.hpp"
#include "rk/promotion.hpp"

namespace rk {
namespace {

const char* action_name(BackupAction action) {
  switch (action) {
    case BackupAction::done: return "done";
    case BackupAction::replicate_peer: return "replicate-peer";
    case BackupAction::replicate_diverged: return "replicate-diverged";
    case BackupAction::wait_for_link: return "wait-for-link";
    case BackupAction::wait: return "wait";
    case BackupAction::refuse_empty_peer: return "refuse-empty-peer";
    case BackupAction::stop_peer_denied: return "peer-denied";
    case BackupAction::stop_peer_is_local: return "peer-is-local";
    case BackupAction::demote_peer: return "demote-peer";
  }
  return "?";
}

// This node holds the newer history after a split (compare_after_fork):
// make the peer, master by VRRP since the heal, replicate this node. Its
// writes are held while the comparison is made again and the REPLICAOF is
// sent, so that none it acknowledges in between is discarded unseen. The
// VIP then follows: the peer's redis_check gives it up (decide_vip_holder).
// Returns nullopt when the paused peer no longer loses the comparison.
std::optional<ExitCode> demote_peer(HookRun& run, const RedisState& local, const RedisState& peer) {
  std::optional<WritePause> pause;
  try {
    if (!pause_peer_writes(run, pause, peer)) return std::nullopt;  // -BUSY: next round
  } catch (const PeerPauseRefused& refused) {
    return run.stop_unchanged(refused.verdict, refused.what);
  }
  RedisState paused = read_info(*run.peer());
  std::optional<HealComparison> heal = compare_after_fork(local, paused);
  if (!paused.is_master() || !heal || !heal->local_wins) {
    run.log().info("the paused peer no longer loses the comparison; unpausing it");
    return std::nullopt;
  }
  run.log().warning("heal: the newest history wins: {}", heal->rule);
  CopyNeed need = copy_before_replacing(paused, local, "the peer");
  if (need.needed)
    if (auto refused =
            keep_copy_before_resync(run, "peer", peer_connection(run.options()), need, *pause))
      return run.stop_unchanged(Verdict::copy_failed, *refused);
  Promotion(run).repoint_peer(paused, pause);
  return run.finish(Verdict::peer_demoted,
                    fmt::format("this node keeps the newer history; {}", heal->rule));
}

ExitCode run_backup_steps(HookRun& run) {
  const ToolOptions& options = run.options();
  if (!options.peer_endpoint) {
    run.log().warning("no peer configured (--peer or the positional PEER_HOST); nothing to do");
    return run.finish(Verdict::no_peer, "");
  }
  const Endpoint& peer_endpoint = *options.peer_endpoint;
  auto started = Clock::now();
  auto deadline = started + options.sync_timeout;
  auto grace_over_at = started + options.backup_grace;
  std::optional<Clock::time_point> replicating_since;
  std::string last_reason = "nothing observed";

  for (;;) {
    run.check_superseded();
    std::optional<RedisState> local = run.observe_local();
    Observation peer = local ? run.observe_peer() : Observation{};
    if (local) {
      BackupDecision decision =
          decide_backup_step(*local, peer, peer_endpoint, Clock::now() >= grace_over_at);
      last_reason = decision.reason;
      run.log_decision(action_name(decision.action), decision.reason,
                       fmt::format("local {}; peer {}", describe(*local),
                                   peer.answered() ? describe(*peer.state)
                                                   : std::string(to_string(peer.reach))));
      switch (decision.action) {
        case BackupAction::done: {
          // This replica is back and caught up: the master may fence again,
          // once it counts this replica online (after its first REPLCONF
          // ACK); fenced earlier, it would refuse writes until then.
          if (options.fence_writes) {
            FencePlan fence = fence_for_master(*peer.state, false);
            if (fence.min_replicas_to_write == 0) {
              run.log_decision("wait-for-ack", "the master does not count this replica online yet",
                               describe(*peer.state));
              break;
            }
            if (run.peer()) run.apply_fence(*run.peer(), fence, "peer");
          }
          // Resynced: this node now holds the peer's history, so a record
          // that it lacked the peer's writes no longer holds.
          if (local->master_replid == peer.state->master_replid)
            run.clear_stale_history(
                fmt::format("resynced: replicating {} with the link up on its "
                            "replid {}",
                            peer_endpoint.text(), local->master_replid.substr(0, 8)));
          run.rewrite_config(*run.local(), *local, "local");
          long long link_ms = replicating_since ? ms_since(*replicating_since) : 0;
          run.log().info("link up with {}:{} ({} ms after REPLICAOF)", peer_endpoint.host,
                         peer_endpoint.port, link_ms);
          return run.finish(Verdict::replicating, describe(*local));
        }
        case BackupAction::replicate_diverged:
          // Related histories (a split brain): say which rule chose the
          // peer's, and the offsets. Unrelated ones are a restart from files.
          if (auto heal = compare_after_fork(*local, *peer.state)) {
            run.note_split_brain();
            run.log().warning("heal: the newest history wins: {}", heal->rule);
          }
          [[fallthrough]];
        case BackupAction::replicate_peer:
          if (auto refused = replicate_peer_keeping_copy(run, *local, *peer.state))
            return run.stop_unchanged(Verdict::copy_failed, *refused);
          replicating_since = Clock::now();
          run.log().info("replicating {}", peer_endpoint.text());
          // Rewrite at once so that a restart during the sync comes back as
          // a replica rather than as a second master.
          run.rewrite_config(*run.local(), *local, "local");
          break;
        case BackupAction::demote_peer:
          run.note_split_brain();
          if (std::optional<ExitCode> done = demote_peer(run, *local, *peer.state)) return *done;
          break;
        case BackupAction::stop_peer_denied:
          return run.stop_unchanged(Verdict::peer_denied, decision.reason);
        case BackupAction::stop_peer_is_local:
          return run.stop_unchanged(Verdict::peer_is_local, decision.reason);
        case BackupAction::refuse_empty_peer:
        case BackupAction::wait_for_link:
        case BackupAction::wait: break;
      }
    }
    if (run.past(deadline))
      return run.finish(Verdict::backup_timeout,
                        fmt::format("gave up after {} s: {}", options.sync_timeout.count(),
                                    last_reason));
    run.pause_briefly();
  }
}

}  // namespace

ExitCode run_backup(const ToolOptions& options) {
  HookRun run(options, Transition::backup);
  try {
    if (!run.start()) return run.finish(Verdict::superseded, "before acting");
    run.check_fencing_allowed();
    return run_backup_steps(run);
  } catch (const Superseded&) {
    return run.finish(Verdict::superseded, "a newer transition took over");
  } catch (const RedisError& error) {
    return run.finish(Verdict::error, error.what());
  }
}

ExitCode run_transition(const ToolOptions& options, Transition transition) {
  HookRun run(options, transition);
  try {
    // keepalived kills a STOP notify after about 1 s: wait at most 500 ms
    // for older hooks to let go of the action lock.
    if (!run.start(Clock::now() + std::chrono::milliseconds(500)))
      return run.finish(Verdict::superseded, "before acting");
    // Recording is this hook's whole job: without records it failed.
    if (!run.has_records())
      return run.finish(Verdict::not_recorded,
                        "the state dir is unusable; older hooks are not told to stop");
    return run.finish(Verdict::recorded, run.holds_lock()
                                             ? "no older hook is acting on Redis"
                                             : "an older hook is still finishing a Redis call");
  } catch (const Superseded&) {
    return run.finish(Verdict::superseded, "a newer transition took over");
  }
}

}  // namespace rk
