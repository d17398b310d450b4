#include "rk/promotion.hpp"

#include "rk/errors.hpp"

namespace rk {

PeerWritePause::PeerWritePause(HookRun& run, std::chrono::milliseconds window)
    : run_(run), window_(window), started_(Clock::now()) {
  pause();
}

PeerWritePause::~PeerWritePause() { release(); }

void PeerWritePause::pause() {
  auto sent = Clock::now();
  run_.act(*run_.peer(), {"CLIENT", "PAUSE", std::to_string(window_.count()), "WRITE"});
  // The window runs from when the peer received the command: at the latest
  // now, so counting from the send is the safe side.
  ends_ = sent + window_;
  held_ = true;
}

std::chrono::milliseconds PeerWritePause::held_for() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started_);
}

void PeerWritePause::ensure_open_for(std::chrono::milliseconds needed) {
  if (held_ && Clock::now() + needed <= ends_) return;
  run_.log().info("re-pausing the peer's writes: less than {} ms of the window left",
                  needed.count());
  // CLIENT PAUSE on a paused server moves the end of the pause later.
  pause();
}

void PeerWritePause::release() {
  if (!held_) return;
  held_ = false;
  if (!run_.peer()) {
    run_.log().warning("lost the connection to the paused peer; its pause ends by itself");
    return;
  }
  try {
    run_.peer()->command({"CLIENT", "UNPAUSE"});
  } catch (const RedisError& error) {
    run_.log().warning("CLIENT UNPAUSE on the peer failed ({}); the pause ends by itself",
                       error.what());
  }
}

bool pause_peer_writes(HookRun& run, std::optional<PeerWritePause>& pause) {
  try {
    pause.emplace(run, run.options().pause);
    return true;
  } catch (const ReplyError& error) {
    if (reach_of(error) != Reach::denied) return false;
    throw PeerPauseRefused{fmt::format(
        "the peer refuses CLIENT PAUSE ({}); the hooks hold the peer's writes with it: grant the "
        "hooks' user +client|pause on the peer",
        error.what())};
  }
}

void Promotion::finish() {
  std::optional<PeerWritePause> no_pause;
  finish(no_pause);
}

void Promotion::promote(const std::string& why) {
  auto started = Clock::now();
  run_.act(*run_.local(), {"REPLICAOF", "NO", "ONE"});
  run_.log().info("promoted: REPLICAOF NO ONE in {} ms ({})", ms_since(started), why);
}

void Promotion::finish(std::optional<PeerWritePause>& pause) {
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
    if (pause_peer_before_repoint(peer.state, pause.has_value())) {
      // Freeze the peer's writes so none land between this check and the
      // repoint: such writes would be discarded by its resync.
      pause.emplace(run_, run_.options().pause);
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

void Promotion::repoint_peer(const RedisState& peer_state, std::optional<PeerWritePause>& pause) {
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
  run_.act(peer, {"REPLICAOF", announce, std::to_string(options.port)});
  run_.log().info("peer demoted: it now replicates {}:{} ({} ms)", announce, options.port,
                  ms_since(started));
  // A replica refuses writes (-READONLY) by itself: the pause has done its job.
  pause.reset();
  run_.rewrite_config(peer, peer_state, "peer");
  try {
    // As Sentinel does after a failover: the peer's clients reconnect
    // through the VIP instead of staying on a read-only replica.
    Reply killed = run_.act(peer, {"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"});
    run_.log().info("disconnected {} client(s) of the demoted peer", killed.integer);
  } catch (const ReplyError& error) {
    run_.log().warning("CLIENT KILL on the peer failed: {}", error.what());
  }
}

}  // namespace rk
