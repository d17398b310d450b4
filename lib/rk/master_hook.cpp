// notify_master: promote this node only once it holds everything its peer
// has, judged from replids and offsets that Redis reports, never from a sleep.

#include <thread>

#include "rk/errors.hpp"
#include "rk/hook_run.hpp"
#include "rk/hooks.hpp"

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
  }
  return "?";
}

class MasterHook {
 public:
  explicit MasterHook(HookRun& run) : run_(run), options_(run.options()) {}

  ExitCode run() {
    if (!options_.peer_endpoint)
      run_.log().warning(
          "no peer configured (--peer or the positional PEER_HOST); promoting "
          "without a sync-wait");
    Clock::time_point deadline = Clock::now() + options_.sync_timeout;
    for (;;) {
      run_.check_superseded();
      std::optional<RedisState> local = run_.observe_local();
      if (!local) {
        if (run_.past(deadline))
          return run_.finish(ExitCode::failure, "local-unreachable", "local Redis never answered");
        run_.pause_briefly();
        continue;
      }
      PeerView peer = run_.observe_peer();
      MasterDecision decision = decide_master_step(*local, peer, endpoint());
      run_.log_decision(action_name(decision.action), decision.reason, summary(*local, peer));

      switch (decision.action) {
        case MasterAction::already_master:
          finish_promotion(false);
          return run_.finish(ExitCode::success, "already-master", describe(*local));
        case MasterAction::promote:
          promote(decision.reason);
          finish_promotion(false);
          return run_.finish(ExitCode::success, "promoted", decision.reason);
        case MasterAction::replicate_peer: replicate_peer(*local, *peer); break;
        case MasterAction::verify_and_promote:
          if (verify_and_promote())
            return run_.finish(ExitCode::success, "promoted", "caught up with the peer");
          break;
        case MasterAction::wait_for_sync:
        case MasterAction::wait_for_loading: break;
      }
      if (run_.past(deadline)) return sync_timed_out(*local);
      run_.pause_briefly();
    }
  }

 private:
  Endpoint endpoint() const { return options_.peer_endpoint.value_or(Endpoint{}); }

  static std::string summary(const RedisState& local, const PeerView& peer) {
    return fmt::format("local {}; peer {}", describe(local),
                       peer ? describe(*peer) : std::string("unreachable"));
  }

  void promote(const std::string& why) {
    auto started = Clock::now();
    run_.act(*run_.local(), {"REPLICAOF", "NO", "ONE"});
    run_.log().info("promoted: REPLICAOF NO ONE in {} ms ({})", ms_since(started), why);
  }

  void replicate_peer(const RedisState& local, const RedisState& peer) {
    if (local.is_master())
      if (auto loss = describe_replacement_loss(local, peer)) run_.log().warning(*loss);
    Endpoint peer_endpoint = endpoint();
    run_.act(*run_.local(), {"REPLICAOF", peer_endpoint.host, std::to_string(peer_endpoint.port)});
    run_.log().info("replicating peer {}:{} to fetch its writes before promotion",
                    peer_endpoint.host, peer_endpoint.port);
  }

  // The final comparison: CLIENT PAUSE WRITE freezes the peer's offset
  // (Redis 6.2+ also holds its expiries and replication PINGs), so an
  // applied offset that reaches it proves this node has every write the
  // peer acknowledged. Returns false, with the peer unpaused, if the
  // replica does not get there within most of the pause window.
  bool verify_and_promote() {
    Connection& peer = *run_.peer();
    auto paused_at = Clock::now();
    try {
      run_.act(peer, {"CLIENT", "PAUSE", std::to_string(options_.pause.count()), "WRITE"});
    } catch (const ReplyError& error) {
      run_.log().warning("cannot pause the peer's writes ({}); waiting", error.what());
      return false;
    }
    peer_paused_ = true;
    try {
      RedisState paused_peer = HookRun::observe(peer);
      // Leave a quarter of the window for promotion and repointing the peer.
      auto give_up_at = paused_at + options_.pause * 3 / 4;
      std::chrono::milliseconds poll = std::min(options_.poll, std::chrono::milliseconds(5));
      for (;;) {
        RedisState local = HookRun::observe(*run_.local());
        if (caught_up_with(local, paused_peer)) {
          run_.log().info(
              "caught up: applied offset {} >= peer's {} (replid {}), peer paused {} ms",
              local.slave_repl_offset, paused_peer.master_repl_offset,
              paused_peer.master_replid.substr(0, 8), ms_since(paused_at));
          promote("caught up with the paused peer");
          finish_promotion(true);
          return true;
        }
        if (Clock::now() >= give_up_at || !local.link_up) break;
        std::this_thread::sleep_for(poll);
        run_.check_superseded();
      }
      run_.log().info("not caught up within the pause window; unpausing the peer and waiting");
    } catch (...) {
      unpause_peer();
      throw;
    }
    unpause_peer();
    return false;
  }

  void unpause_peer() {
    if (!peer_paused_ || !run_.peer()) return;
    peer_paused_ = false;
    try {
      run_.peer()->command({"CLIENT", "UNPAUSE"});
    } catch (const RedisError& error) {
      run_.log().warning("CLIENT UNPAUSE on the peer failed ({}); the pause ends by itself",
                         error.what());
    }
  }

  // After promotion: keep the role across a restart, then make a peer that
  // is still a master replicate this node, and disconnect its clients so
  // they reconnect through the VIP (as Sentinel does after a failover).
  void finish_promotion(bool peer_paused) {
    peer_paused_ = peer_paused;
    RedisState local = HookRun::observe(*run_.local());
    run_.rewrite_config(*run_.local(), local, "local");
    try {
      PeerView peer = run_.observe_peer();
      if (peer && peer->is_master() && !peer_paused_ && run_.peer()) {
        // Freeze the peer's writes so none land between this check and the
        // repoint: such writes would be discarded by its resync.
        run_.act(*run_.peer(),
                 {"CLIENT", "PAUSE", std::to_string(options_.pause.count()), "WRITE"});
        peer_paused_ = true;
        peer = HookRun::observe(*run_.peer());
      }
      AfterPromotion after = decide_after_promotion(local, peer);
      if (!after.repoint_peer) {
        if (peer && peer->is_master())
          run_.log().warning("peer left as a master: {}", after.reason);
        else
          run_.log().info("peer not repointed: {}", after.reason);
      } else {
        repoint_peer(*peer);
      }
    } catch (const RedisError& error) {
      run_.log().warning("could not repoint the peer: {}", error.what());
    }
    unpause_peer();
  }

  void repoint_peer(const RedisState& peer_state) {
    Connection& peer = *run_.peer();
    // With the classic arguments the local host is 127.0.0.1, which means
    // nothing to the peer: the local end of our connection to the peer is
    // an address it can reach us at.
    std::string announce =
        options_.announce_host.empty() ? peer.local_address() : options_.announce_host;
    auto started = Clock::now();
    run_.act(peer, {"REPLICAOF", announce, std::to_string(options_.port)});
    run_.log().info("peer demoted: it now replicates {}:{} ({} ms)", announce, options_.port,
                    ms_since(started));
    run_.rewrite_config(peer, peer_state, "peer");
    try {
      Reply killed = run_.act(peer, {"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"});
      run_.log().info("disconnected {} client(s) of the demoted peer", killed.integer);
    } catch (const ReplyError& error) {
      run_.log().warning("CLIENT KILL on the peer failed: {}", error.what());
    }
  }

  ExitCode sync_timed_out(const RedisState& local) {
    std::string detail = fmt::format("sync not complete after {} s; {}",
                                     options_.sync_timeout.count(), describe(local));
    if (options_.on_sync_timeout == OnSyncTimeout::promote && !local.loading) {
      run_.log().warning(
          "sync timeout: promoting anyway (--on-sync-timeout promote); writes "
          "the peer holds beyond offset {} are not here",
          local.held_offset());
      if (!local.is_master()) promote("sync timeout");
      finish_promotion(false);
      return run_.finish(ExitCode::failure, "promoted-incomplete", detail);
    }
    // Staying a replica is safe: the peer still holds the data.
    run_.log().warning("sync timeout: staying a replica; the peer still holds the data");
    return run_.finish(ExitCode::failure, "sync-timeout", detail);
  }

  HookRun& run_;
  const ToolOptions& options_;
  bool peer_paused_ = false;
};

}  // namespace

ExitCode run_master(const ToolOptions& options) {
  HookRun run(options, Transition::master);
  try {
    if (!run.start()) return run.finish(ExitCode::superseded, "superseded", "before acting");
    return MasterHook(run).run();
  } catch (const Superseded&) {
    return run.finish(ExitCode::superseded, "superseded", "a newer transition took over");
  } catch (const RedisError& error) {
    return run.finish(ExitCode::failure, "error", error.what());
  }
}

}  // namespace rk
