#include "rk/promotion.hpp"

#include <algorithm>

#include "rk/dataset_copy.hpp"
#include "rk/errors.hpp"

namespace rk {

WritePause::WritePause(Logger& log, std::optional<Connection>& server, const char* which,
                       std::chrono::milliseconds window)
    : log_(log), server_(server), which_(which), window_(window), started_(Clock::now()) {
  pause(window_);
}

WritePause::~WritePause() { release(); }

void WritePause::pause(std::chrono::milliseconds window) {
  // A re-read after a lost reply drops the connection (observe.hpp): a
  // window cannot be renewed without one.
  if (!server_) throw IoError(fmt::format("no connection to the {} to renew its pause", which_));
  auto sent = Clock::now();
  server_->command_ok({"CLIENT", "PAUSE", std::to_string(window.count()), "WRITE"});
  // The window runs from when the server received the command: at the
  // latest now, so counting from the send is the safe side.
  ends_ = sent + window;
  held_ = true;
}

std::chrono::milliseconds WritePause::held_for() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started_);
}

void WritePause::ensure_open_for(std::chrono::milliseconds needed) {
  if (held_ && Clock::now() + needed <= ends_) return;
  log_.info("re-pausing the {}'s writes: less than {} ms of the window left", which_,
            needed.count());
  // CLIENT PAUSE on a paused server moves the end of the pause later.
  pause(std::max(window_, needed));
}

void WritePause::release() {
  if (!held_) return;
  held_ = false;
  if (!server_) {
    log_.warning("lost the connection to the paused {}; its pause ends by itself", which_);
    return;
  }
  try {
    server_->command({"CLIENT", "UNPAUSE"});
  } catch (const RedisError& error) {
    log_.warning("CLIENT UNPAUSE on the {} failed ({}); the pause ends by itself", which_,
                 error.what());
  }
}

bool pause_peer_writes(HookRun& run, std::optional<WritePause>& pause, const RedisState& peer) {
  if (auto too_old = write_pause_unsupported(peer))
    throw PeerPauseRefused(*too_old, Verdict::peer_too_old);
  try {
    pause.emplace(run.log(), run.peer(), "peer", run.options().pause);
    return true;
  } catch (const ReplyError& error) {
    if (reach_of(error) != Reach::denied) return false;
    throw PeerPauseRefused(fmt::format(
        "the peer refuses CLIENT PAUSE ({}); the hooks hold the peer's writes with it: grant the "
        "hooks' user +client|pause on the peer",
        error.what()));
  }
}

std::optional<std::string> keep_copy_before_resync(HookRun& run, const char* which,
                                                   const ConnectionOptions& server,
                                                   const CopyNeed& need, WritePause& pause) {
  const ToolOptions& options = run.options();
  run.log().warning("keeping a copy of the {} Redis's dataset before its resync: {}", which,
                    need.loss);
  try {
    // The copy must hold every write the server acknowledged: its writes
    // stay paused until the resync has replaced them.
    pause.ensure_open_for(options.copy_timeout + options.timeout * 4);
    CopyRequest request{options.copy_dir, which, need.fork_offset,
                        Clock::now() + options.copy_timeout, options.copy_keep_count,
                        options.copy_keep_mb * 1024 * 1024,
                        // A newer hook must not wait for the whole copy (up to
                        // --copy-timeout) with these writes paused: the copy gives
                        // way within one poll, as every other wait of a hook does.
                        run.superseded_probe(), options.poll};
    CopyOutcome kept = keep_dataset_copy(server, request);
    const CopyName& name = kept.copy.name;
    run.log().warning(
        "kept a copy of the {} Redis's dataset: {}/{} ({} bytes, replid {}, the writes after "
        "offset {} up to {}) in {} ms; to read it back see KEPT COPIES in redis_backup(1)",
        which, options.copy_dir, kept.copy.file, kept.copy.bytes, name.replid, name.from_offset,
        name.to_offset, kept.elapsed_ms);
    for (const std::string& file : kept.pruned)
      run.log().info("retention removed the older copy {}/{}", options.copy_dir, file);
    return std::nullopt;
  } catch (const Superseded&) {
    // The caller's WritePause lifts the pause as this unwinds, and nothing
    // further is sent: the newer hook decides from here.
    run.log().warning(
        "copy of the {} Redis's dataset aborted: a newer transition took over; the partial file "
        "is removed and its writes are unpaused",
        which);
    throw;
  } catch (const CopyFailed& error) {
    if (options.resync_without_copy) {
      run.log().warning(
          "no copy of the {} Redis's dataset ({}); resyncing anyway (--resync-without-copy): the "
          "writes "
          "after offset {} are lost",
          which, error.what(), need.fork_offset);
      return std::nullopt;
    }
    return fmt::format(
        "no copy of the {} Redis's dataset could be made ({}); the resync that would discard its "
        "writes "
        "after offset {} is refused (--resync-without-copy allows it)",
        which, error.what(), need.fork_offset);
  }
}

std::optional<std::string> replicate_peer_keeping_copy(HookRun& run, const RedisState& local,
                                                       const RedisState& peer) {
  const Endpoint& peer_endpoint = *run.options().peer_endpoint;
  CopyNeed need = copy_before_replacing(local, peer, "this node");
  std::optional<WritePause> pause;
  if (need.needed) {
    // The resync discards writes only this node holds, and the peer holds
    // writes this node lacks: until the resync is done (or if the copy
    // fails), this node must not be promoted without its peer.
    run.record_stale_history(local, peer, need.loss);
    pause.emplace(run.log(), run.local(), "local", run.options().pause);
    if (auto refused =
            keep_copy_before_resync(run, "local", local_connection(run.options()), need, *pause))
      return refused;
  }
  run.act(*run.local(), {"REPLICAOF", peer_endpoint.host, std::to_string(peer_endpoint.port)});
  // A replica refuses writes (-READONLY) by itself: the pause is over.
  pause.reset();
  return std::nullopt;
}

void Promotion::finish() {
  std::optional<WritePause> no_pause;
  finish(no_pause);
}

void Promotion::promote(const std::string& why) {
  auto started = Clock::now();
  const ToolOptions& options = run_.options();
  for (int attempt = 0;; ++attempt) {
    try {
      run_.act(*run_.local(), {"REPLICAOF", "NO", "ONE"});
      break;
    } catch (const ReplyError&) {
      throw;  // refused (LOADING, NOPERM): nothing changed
    } catch (const RedisError& error) {
      // No reply is not "not done": the server may have promoted itself.
      run_.log().warning(
          "no reply to REPLICAOF NO ONE from the local Redis ({}); reading its role again",
          error.what());
      std::optional<RedisState> seen =
          read_again_after_unknown(run_.local(), local_connection(options),
                                   Clock::now() + options.timeout * 4, options.poll);
      if (seen && seen->is_master()) {
        run_.log().info("the local Redis is master: its REPLICAOF NO ONE took effect");
        break;
      }
      if (!seen || attempt > 0)
        throw PromotionUnknown(fmt::format(
            "the local Redis's role after REPLICAOF NO ONE is unknown ({}); it may or may not "
            "be master: see redis_status",
            seen ? "it is still a replica" : "it stopped answering"));
      // Still a replica: the command did not take effect; send it once more.
    }
  }
  run_.log().info("promoted: REPLICAOF NO ONE in {} ms ({})", ms_since(started), why);
}

void Promotion::finish(std::optional<WritePause>& pause) {
  std::optional<RedisState> local;
  try {
    local = read_info(*run_.local());
  } catch (const RedisError& error) {
    run_.log().warning(
        "promoted, but the local INFO after promotion failed ({}); the peer is "
        "not repointed and the config not rewritten",
        error.what());
    pause.reset();
    return;
  }
  try {
    Observation peer = run_.observe_peer();
    // A peer that cannot pause (accepted by --promote-without-pause) is
    // repointed without it.
    bool unpausable = peer.state && run_.options().promote_without_pause &&
                      write_pause_unsupported(*peer.state).has_value();
    if (pause_peer_before_repoint(peer.state, pause.has_value() || unpausable)) {
      // Freeze the peer's writes so none land between this check and the
      // repoint: such writes would be discarded by its resync.
      pause.emplace(run_.log(), run_.peer(), "peer", run_.options().pause);
      peer = Observation::of(read_info(*run_.peer()));
    }
    AfterPromotion after = decide_after_promotion(*local, peer.state);
    if (after.repoint_peer) {
      repoint_peer(*peer.state, pause);
    } else if (peer.state && peer.state->is_master()) {
      run_.log().warning("peer left as a master: {}", after.reason);
    } else {
      run_.log().info("peer not repointed: {}", after.reason);
    }
  } catch (const RedisError& error) {
    run_.log().warning("could not repoint the peer: {}", error.what());
  }
  pause.reset();
  // A freshly promoted master has no replica attached yet: unfenced until
  // the peer's redis_backup finds its link up and fences this master.
  run_.apply_fence(*run_.local(), fence_for_master(*local, false), "local");
  // Last, outside the peer's pause window: keep the role (and the fence)
  // across a restart.
  run_.rewrite_config(*run_.local(), *local, "local");
}

void Promotion::repoint_peer(const RedisState& peer_state, std::optional<WritePause>& pause) {
  Connection& peer = *run_.peer();
  const ToolOptions& options = run_.options();
  // With the classic arguments the local host is 127.0.0.1, which means
  // nothing to the peer: the local end of our connection to the peer is
  // an address it can reach us at.
  std::string announce =
      options.announce_host.empty() ? peer.local_address() : options.announce_host;
  // The REPLICAOF must land while the peer's writes are still held.
  if (pause) pause->ensure_open_for(options.timeout);
  auto started = Clock::now();
  const std::vector<std::string> replicaof{"REPLICAOF", announce, std::to_string(options.port)};
  try {
    run_.act(peer, replicaof);
  } catch (const ReplyError&) {
    throw;  // refused: the peer is as it was
  } catch (const RedisError& error) {
    confirm_peer_repointed(replicaof, error);
  }
  run_.log().info("peer demoted: it now replicates {}:{} ({} ms)", announce, options.port,
                  ms_since(started));
  // A replica refuses writes (-READONLY) by itself: the pause has done its job.
  pause.reset();
  run_.rewrite_config(*run_.peer(), peer_state, "peer");
  try {
    // As Sentinel does after a failover: the peer's clients reconnect
    // through the VIP instead of staying on a read-only replica.
    Reply killed = run_.act(*run_.peer(), {"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"});
    run_.log().info("disconnected {} client(s) of the demoted peer", killed.integer);
  } catch (const RedisError& error) {
    // The peer is already demoted: a failure here (a refusal, a timeout, a
    // reset) leaves its clients on a read-only replica, which they learn
    // from -READONLY; the verdict stands.
    run_.log().warning("CLIENT KILL on the peer failed: {}", error.what());
  }
}

void Promotion::confirm_peer_repointed(const std::vector<std::string>& replicaof,
                                       const RedisError& error) {
  const ToolOptions& options = run_.options();
  run_.log().warning("no reply to REPLICAOF from the peer ({}); reading its role again",
                     error.what());
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::optional<RedisState> seen =
        read_again_after_unknown(run_.peer(), peer_connection(options),
                                 Clock::now() + options.timeout * 4, options.poll);
    if (!seen)
      throw IoError(fmt::format(
          "the peer's role after REPLICAOF is unknown (it stopped answering): it may still be a "
          "master; see redis_status"));
    if (seen->role == Role::replica) return;
    if (attempt == 0) run_.act(*run_.peer(), replicaof);  // it is still a master: once more
  }
  throw IoError("the peer is still a master after REPLICAOF was sent twice");
}

}  // namespace rk
