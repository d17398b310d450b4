// notify_backup: become the peer's replica once that loses nothing, and
// never while the peer is itself syncing from this node before promotion.

#include "rk/errors.hpp"
#include "rk/hook_run.hpp"
#include "rk/hooks.hpp"
#include "rk/promotion.hpp"
#include "rk/sentinel_hooks.hpp"

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
    return run.stop_unchanged(refused.verdict(), refused.what());
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
  // From the REPLICAOF on the peer is demoted: what follows it (its CONFIG
  // REWRITE, CLIENT KILL) is a warning when it fails, never the verdict.
  Promotion(run).repoint_peer(paused, pause);
  return run.finish(Verdict::peer_demoted,
                    fmt::format("this node keeps the newer history; {}", heal->rule));
}

// One redis_backup run: observe both nodes, decide (decide_backup_step),
// act, until this node replicates the peer with the link up or
// --sync-timeout passes.
class BackupHook {
 public:
  explicit BackupHook(HookRun& run)
      : run_(run), options_(run.options()), peer_endpoint_(*options_.peer_endpoint) {}

  ExitCode run() {
    auto started = Clock::now();
    auto deadline = started + options_.sync_timeout;
    grace_over_at_ = started + options_.backup_grace;
    for (;;) {
      run_.check_superseded();
      if (std::optional<RedisState> local = run_.observe_local())
        if (std::optional<ExitCode> done = round(*local, run_.observe_peer())) return *done;
      if (run_.past(deadline))
        return run_.finish(Verdict::backup_timeout,
                           fmt::format("gave up after {} s: {}", options_.sync_timeout.count(),
                                       last_reason_));
      run_.pause_briefly();
    }
  }

 private:
  // Decides and acts once; the verdict when the run ends here.
  std::optional<ExitCode> round(const RedisState& local, const Observation& peer) {
    BackupDecision decision =
        decide_backup_step(local, peer, peer_endpoint_, Clock::now() >= grace_over_at_);
    last_reason_ = decision.reason;
    run_.log_decision(action_name(decision.action), decision.reason,
                      fmt::format("local {}; peer {}", describe(local),
                                  peer.answered() ? describe(*peer.state)
                                                  : std::string(to_string(peer.reach))));
    switch (decision.action) {
      case BackupAction::done: return replicating(local, *peer.state);
      case BackupAction::replicate_diverged:
        note_heal(local, *peer.state);
        return replicate(local, *peer.state);
      case BackupAction::replicate_peer: return replicate(local, *peer.state);
      case BackupAction::demote_peer:
        run_.note_split_brain();
        return demote_peer(run_, local, *peer.state);
      case BackupAction::stop_peer_denied:
        return run_.stop_unchanged(Verdict::peer_denied, decision.reason);
      case BackupAction::stop_peer_is_local:
        return run_.stop_unchanged(Verdict::peer_is_local, decision.reason);
      case BackupAction::refuse_empty_peer:
      case BackupAction::wait_for_link:
      case BackupAction::wait: break;
    }
    return std::nullopt;
  }

  // Related histories (a split brain): say which rule chose the peer's,
  // and the offsets. Unrelated ones are a restart from files.
  void note_heal(const RedisState& local, const RedisState& peer) {
    if (std::optional<HealComparison> heal = compare_after_fork(local, peer)) {
      run_.note_split_brain();
      run_.log().warning("heal: the newest history wins: {}", heal->rule);
    }
  }

  // REPLICAOF the peer (after a copy of writes it would discard); the run
  // goes on until the link is up, unless no copy could be made.
  std::optional<ExitCode> replicate(const RedisState& local, const RedisState& peer) {
    if (auto refused = replicate_peer_keeping_copy(run_, local, peer))
      return run_.stop_unchanged(Verdict::copy_failed, *refused);
    replicating_since_ = Clock::now();
    run_.log().info("replicating {}", peer_endpoint_.text());
    // Rewrite at once so that a restart during the sync comes back as a
    // replica rather than as a second master.
    run_.rewrite_config(*run_.local(), local, "local");
    return std::nullopt;
  }

  // This replica is back and caught up: the run ends replicating, once the
  // master (with --fence-writes) counts it online.
  std::optional<ExitCode> replicating(const RedisState& local, const RedisState& peer) {
    // The master may fence again once it counts this replica online (after
    // its first REPLCONF ACK); fenced earlier, it would refuse writes until
    // then.
    if (options_.fence_writes) {
      FencePlan fence = fence_for_master(peer, false);
      if (fence.min_replicas_to_write == 0) {
        run_.log_decision("wait-for-ack", "the master does not count this replica online yet",
                          describe(peer));
        return std::nullopt;
      }
      if (run_.peer()) run_.apply_fence(*run_.peer(), fence, "peer");
    }
    // Resynced: this node now holds the peer's history, so a record that it
    // lacked the peer's writes no longer holds.
    if (local.master_replid == peer.master_replid)
      run_.clear_stale_history(
          fmt::format("resynced: replicating {} with the link up on its "
                      "replid {}",
                      peer_endpoint_.text(), local.master_replid.substr(0, 8)));
    run_.rewrite_config(*run_.local(), local, "local");
    long long link_ms = replicating_since_ ? ms_since(*replicating_since_) : 0;
    run_.log().info("link up with {} ({} ms after REPLICAOF)", peer_endpoint_.text(), link_ms);
    return run_.finish(Verdict::replicating, describe(local));
  }

  HookRun& run_;
  const ToolOptions& options_;
  const Endpoint& peer_endpoint_;
  Clock::time_point grace_over_at_;
  std::optional<Clock::time_point> replicating_since_;
  std::string last_reason_ = "nothing observed";
};

ExitCode run_backup_steps(HookRun& run) {
  if (!run.options().peer_endpoint) {
    run.log().warning("no peer configured (--peer or the positional PEER_HOST); nothing to do");
    return run.finish(Verdict::no_peer, "");
  }
  return BackupHook(run).run();
}

}  // namespace

ExitCode run_backup(const ToolOptions& options) {
  HookRun run(options, Transition::backup);
  try {
    if (!run.start()) return run.finish(Verdict::superseded, "before acting");
    if (options.sentinel_mode()) return run_sentinel_standby(run, Transition::backup);
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
    if (options.sentinel_mode()) return run_sentinel_standby(run, transition);
    if (!run.has_records())
      return run.finish(Verdict::not_recorded,
                        "the state dir is unusable; older hooks are not told to stop");
    return run.finish(Verdict::recorded, run.holds_lock()
                                             ? "no older hook is acting on Redis"
                                             : "an older hook is still finishing a Redis call");
  } catch (const Superseded&) {
    return run.finish(Verdict::superseded, "a newer transition took over");
  } catch (const RedisError& error) {  // Sentinel mode's calls
    return run.finish(Verdict::error, error.what());
  }
}

}  // namespace rk
