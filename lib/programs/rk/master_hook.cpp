// notify_master: promote this node only once it holds everything its peer
// has, judged from replids and offsets that Redis reports, never from a sleep.

#include <thread>

#include "rk/errors.hpp"
#include "rk/hooks.hpp"
#include "rk/promotion.hpp"
#include "rk/sentinel_hooks.hpp"

namespace rk {
namespace {

const char* action_name(MasterAction action) {
  switch (action) {
    case MasterAction::promote: return "promote";
    case MasterAction::already_master: return "already-master";
    case MasterAction::replicate_peer: return "replicate-peer";
    case MasterAction::wait_for_sync: return "wait-for-sync";
    case MasterAction::verify_and_promote: return "verify";
    case MasterAction::wait_for_loading: return "wait-for-loading";
    case MasterAction::wait_for_peer: return "wait-for-peer";
    case MasterAction::stop_peer_denied: return "peer-denied";
    case MasterAction::stop_peer_is_local: return "peer-is-local";
  }
  return "?";
}

class MasterHook {
 public:
  explicit MasterHook(HookRun& run) : run_(run), options_(run.options()), promotion_(run) {}

  ExitCode run() {
    if (!options_.peer_endpoint)
      run_.log().warning(
          "no peer configured (--peer or the positional PEER_HOST); promoting "
          "without a sync-wait");
    const Clock::time_point deadline = Clock::now() + options_.sync_timeout;
    peer_last_answered_ = Clock::now();
    read_stale_history();
    for (;;) {
      run_.check_superseded();
      std::optional<RedisState> local = run_.observe_local();
      if (!local) {
        if (run_.past(deadline))
          return run_.finish(Verdict::local_unreachable, "local Redis never answered");
        run_.pause_briefly();
        continue;
      }
      Observation peer = run_.observe_peer();
      MasterDecision decision = decide_master_step(view_of(*local, peer), policy());
      run_.log_decision(action_name(decision.action), decision.reason, summary(*local, peer));
      if (std::optional<ExitCode> done = act(decision, *local, peer)) return *done;
      if (run_.past(deadline))
        return sync_timed_out(*local, decision.reason, peer_last_seen_, peer.answered());
      run_.pause_briefly();
    }
  }

 private:
  MasterPolicy policy() const {
    return MasterPolicy{options_.peer_endpoint.value_or(Endpoint{}), options_.peer_silence};
  }

  // What decide_master_step sees this round; remembers when the peer last
  // answered and the last state it was seen holding writes as a master.
  MasterView view_of(const RedisState& local, const Observation& peer) {
    if (peer.answered()) {
      peer_last_answered_ = Clock::now();
      if (peer.state->is_master() && !peer.state->loading) peer_last_seen_ = peer.state;
    }
    auto silent_for =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - peer_last_answered_);
    return MasterView{local, peer, peer_last_seen_, silent_for, stale_};
  }

  // Carries out one decision; the verdict when the run ends here.
  std::optional<ExitCode> act(const MasterDecision& decision, const RedisState& local,
                              const Observation& peer) {
    switch (decision.action) {
      case MasterAction::already_master:
        promotion_.finish();
        return serving(Verdict::already_master, describe(local));
      case MasterAction::promote:
        promotion_.promote(decision.reason);
        promotion_.finish();
        return serving(Verdict::promoted, decision.reason);
      case MasterAction::replicate_peer: {
        std::optional<std::string> refused = replicate_peer(local, *peer.state);
        // The resync, or the copy before it, recorded this node as stale.
        read_stale_history();
        if (refused) return run_.stop_unchanged(Verdict::copy_failed, *refused);
        return std::nullopt;
      }
      case MasterAction::verify_and_promote:
        try {
          if (verify_and_promote(*peer.state))
            return serving(Verdict::promoted, "caught up with the peer");
        } catch (const PeerPauseRefused& refused) {
          return run_.stop_unchanged(refused.verdict(), refused.what());
        }
        return std::nullopt;
      case MasterAction::stop_peer_denied:
        return run_.stop_unchanged(Verdict::peer_denied, decision.reason);
      case MasterAction::stop_peer_is_local:
        return run_.stop_unchanged(Verdict::peer_is_local, decision.reason);
      case MasterAction::wait_for_sync:
      case MasterAction::wait_for_loading:
      case MasterAction::wait_for_peer: break;
    }
    return std::nullopt;
  }

  // The state dir's stale-history record, unless the operator overrides it.
  void read_stale_history() {
    stale_ = run_.stale_history();
    if (!stale_) return;
    if (options_.accept_data_loss) {
      if (!overridden_)
        run_.log().warning(
            "--accept-data-loss: the stale-history record is overridden ({}); a promotion without "
            "the peer loses the writes the peer took after this node's offset, unless they are "
            "recovered from the peer or a kept copy",
            stale_->describe());
      overridden_ = stale_;
      stale_.reset();
      return;
    }
    run_.log().repeated_info("stale-history",
                             fmt::format("a stale-history record stands ({}): without its peer "
                                         "this node is not promoted",
                                         stale_->describe()));
  }

  // The end of a run in which this node serves as master: it holds its
  // peer's history (caught up, or nothing observed says it lacks any), or
  // the operator accepted the loss; either way the record is done with.
  ExitCode serving(Verdict verdict, const std::string& detail) {
    if (overridden_)
      run_.log().warning(
          "--accept-data-loss: serving as master despite the stale-history record ({})",
          overridden_->describe());
    run_.clear_stale_history(overridden_ ? "the operator accepted the loss: --accept-data-loss"
                                         : "this node serves as master holding its peer's history");
    return run_.finish(verdict, detail);
  }

  static std::string summary(const RedisState& local, const Observation& peer) {
    return fmt::format("local {}; peer {}", describe(local),
                       peer.answered() ? describe(*peer.state) : to_string(peer.reach));
  }

  // Returns the reason when the local Redis was left as it was (no copy of
  // the writes the resync would discard could be made).
  std::optional<std::string> replicate_peer(const RedisState& local, const RedisState& peer) {
    if (auto refused = replicate_peer_keeping_copy(run_, local, peer)) return refused;
    run_.log().info("replicating peer {} to fetch its writes before promotion",
                    options_.peer_endpoint->text());
    return std::nullopt;
  }

  // The final comparison: with the peer's writes paused its offset stands
  // still, so an applied offset that reaches it proves this node has every
  // write the peer acknowledged. Returns false, with the peer unpaused, if
  // the replica does not get there within most of the pause window.
  bool verify_and_promote(const RedisState& peer) {
    if (options_.promote_without_pause)
      if (write_pause_unsupported(peer)) return verify_and_promote_unpaused();
    std::optional<WritePause> pause;
    if (!pause_peer_writes(run_, pause, peer)) return false;  // -BUSY: try again next round
    RedisState paused_peer = read_info(*run_.peer());
    const std::chrono::milliseconds poll = std::min(options_.poll, std::chrono::milliseconds(5));
    for (;;) {
      RedisState local = read_info(*run_.local());
      if (caught_up_with(local, paused_peer)) {
        run_.log().info("caught up: applied offset {} >= peer's {} (replid {}), peer paused {} ms",
                        local.slave_repl_offset, paused_peer.master_repl_offset,
                        paused_peer.master_replid.substr(0, 8), pause->held_for().count());
        promotion_.promote("caught up with the paused peer");
        promotion_.finish(pause);
        return true;
      }
      if (!keep_verifying(pause->held_for(), options_.pause, local.link_up)) break;
      std::this_thread::sleep_for(poll);
      run_.check_superseded();
    }
    run_.log().repeated_info("not-caught-up",
                             "not caught up within the pause window; unpausing the peer and "
                             "waiting");
    return false;
  }

  // --promote-without-pause, for a peer that cannot pause its writes (Redis
  // before 6.2): the same comparison on one reading of the peer, which can
  // take writes after it; the log says so.
  bool verify_and_promote_unpaused() {
    RedisState peer_now = read_info(*run_.peer());
    RedisState local = read_info(*run_.local());
    if (!caught_up_with(local, peer_now)) return false;
    run_.log().warning(
        "promoting without pausing the peer's writes (--promote-without-pause: it runs Redis {}, "
        "which has no CLIENT PAUSE WRITE); writes it accepts after offset {} are not here",
        peer_now.redis_version, peer_now.master_repl_offset);
    promotion_.promote("caught up with the unpaused peer");
    promotion_.finish();
    return true;
  }

  ExitCode sync_timed_out(const RedisState& local, const std::string& last_reason,
                          const std::optional<RedisState>& peer_last_seen, bool peer_answers) {
    std::string detail = fmt::format("sync not complete after {} s: {}; {}",
                                     options_.sync_timeout.count(), last_reason, describe(local));
    // A record that stood before the wait is why a gone peer was waited for.
    const bool record_stood = stale_.has_value();
    const bool promote_requested = options_.on_sync_timeout == OnSyncTimeout::promote;
    SyncTimeoutAction action = decide_on_sync_timeout(local, promote_requested, stale_);
    // The wait ran out on a node that lacks writes its peer was seen
    // holding, and it stays as it is: keep that knowledge for the hooks and
    // checks that follow. (--on-sync-timeout promote is the operator's
    // choice made in advance to serve without those writes.)
    if (action != SyncTimeoutAction::promote_anyway && !stale_ && !overridden_ && peer_last_seen &&
        !holds_history_of(local, *peer_last_seen)) {
      run_.record_stale_history(local, *peer_last_seen,
                                "redis_master's sync-wait ran out before this node held the "
                                "peer's writes");
      read_stale_history();
      action = decide_on_sync_timeout(local, promote_requested, stale_);
    }
    switch (action) {
      case SyncTimeoutAction::stay_stale:
        if (record_stood && !peer_answers) return stale_timed_out(detail);
        // The regular sync-wait ran out: the peer holds the data, and the
        // record keeps this node out until it has resynced.
        run_.log().warning(
            "sync timeout: staying {}, not promoted: this node lacks writes its peer holds ({}); "
            "the record stands until this node has resynced",
            local.is_master() ? "as it is" : "a replica", stale_->describe());
        return run_.finish(Verdict::sync_timeout, detail);
      case SyncTimeoutAction::already_master: {
        promotion_.finish();
        return serving(Verdict::already_master, detail);
      }
      case SyncTimeoutAction::promote_anyway: {
        run_.log().warning(
            "sync timeout: promoting anyway (--on-sync-timeout promote); writes the peer holds "
            "beyond offset {} are not here",
            local.held_offset());
        promotion_.promote("sync timeout");
        promotion_.finish();
        if (overridden_) run_.clear_stale_history("--accept-data-loss");
        return run_.finish(Verdict::promoted_incomplete, detail);
      }
      case SyncTimeoutAction::stay_loading:
        run_.log().warning("sync timeout: the local Redis is still loading and cannot be promoted");
        return run_.finish(Verdict::sync_timeout, detail);
      case SyncTimeoutAction::stay_replica: break;
    }
    // Staying a replica is safe: the peer still holds the data.
    run_.log().warning("sync timeout: staying a replica; the peer still holds the data");
    return run_.finish(Verdict::sync_timeout, detail);
  }

  // A stale-history record stood all along and the peer is gone when the
  // wait runs out: not promoted, and the log line says what the operator
  // must do.
  ExitCode stale_timed_out(const std::string& detail) {
    run_.log().warning(
        "stale history: not promoted; this node lacks writes its peer holds ({}) and the peer "
        "is gone. Operator: bring the peer back (its hooks resync this node, which clears the "
        "record), or accept the loss of those writes: run redis_master --accept-data-loss "
        "(promotes and clears the record) or redis_status --clear-stale; a kept copy may hold "
        "this node's own discarded writes (KEPT COPIES in redis_backup(1))",
        stale_->describe());
    return run_.finish(Verdict::stale_history, detail);
  }

  HookRun& run_;
  const ToolOptions& options_;
  Promotion promotion_;
  Clock::time_point peer_last_answered_;
  std::optional<RedisState> peer_last_seen_;  // the peer as a master holding writes
  std::optional<StaleHistory> stale_;         // the record, while it stands
  std::optional<StaleHistory> overridden_;    // the record --accept-data-loss overrides
};

}  // namespace

ExitCode run_master(const ToolOptions& options) {
  HookRun run(options, Transition::master);
  try {
    if (!run.start()) return run.finish(Verdict::superseded, "before acting");
    if (options.sentinel_mode()) return run_sentinel_master(run);
    run.check_fencing_allowed();
    return MasterHook(run).run();
  } catch (const Superseded&) {
    return run.finish(Verdict::superseded, "a newer transition took over");
  } catch (const PromotionUnknown& error) {
    // No reply to REPLICAOF NO ONE: the local Redis may be master now.
    return run.finish(Verdict::promotion_unknown, error.what());
  } catch (const RedisError& error) {
    // Calls before the promotion, or a refused REPLICAOF NO ONE: nothing
    // was promoted (Promotion::finish never throws).
    return run.finish(Verdict::error, error.what());
  }
}

}  // namespace rk
