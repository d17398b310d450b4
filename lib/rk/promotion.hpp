#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "rk/hook_run.hpp"

// The acting half of redis_master: promote the local Redis, then make a peer
// that is still a master replicate it. The loop that decides when lives in
// master_hook.cpp; the choices themselves are pure (decisions.hpp).
namespace rk {

// The peer's writes held with CLIENT PAUSE <window> WRITE (Redis 6.2+: it
// also holds expiries and the replication PINGs, so the peer's offset stands
// still) for as long as this guard lives; CLIENT UNPAUSE when it ends, on
// every path. A pause that cannot be lifted ends by itself with its window.
class PeerWritePause {
 public:
  // Pauses now. Throws ReplyError when the peer refuses (NOPERM without
  // +client|pause), RedisError when the call fails.
  PeerWritePause(HookRun& run, std::chrono::milliseconds window);
  PeerWritePause(const PeerWritePause&) = delete;
  PeerWritePause& operator=(const PeerWritePause&) = delete;
  ~PeerWritePause();

  // How long the writes have been held.
  std::chrono::milliseconds held_for() const;
  // Makes sure the pause lasts at least `needed` more: a step that must
  // happen while writes are held (the repoint) re-pauses a window that is
  // about to end instead of trusting it. Throws like the constructor.
  void ensure_open_for(std::chrono::milliseconds needed);
  // Lifts the pause now (also done by the destructor).
  void release();

 private:
  void pause();
  HookRun& run_;
  std::chrono::milliseconds window_;
  Clock::time_point started_;
  Clock::time_point ends_;
  bool held_ = false;
};

// The peer refused CLIENT PAUSE (no +client|pause): waiting will not cure
// it, so the hook stops and says so.
struct PeerPauseRefused {
  std::string what;  // the refusal and how to fix it, for the log
};

// Holds the peer's writes in `pause`. Returns false when the peer answered
// with a transient error (-BUSY and the like: try again next round); throws
// PeerPauseRefused when it denies the command, RedisError when the call fails.
bool pause_peer_writes(HookRun& run, std::optional<PeerWritePause>& pause);

class Promotion {
 public:
  explicit Promotion(HookRun& run) : run_(run) {}

  // REPLICAOF NO ONE on the local Redis. Throws RedisError when it is refused
  // or fails: until it succeeds, nothing has changed.
  void promote(const std::string& why);

  // The follow-ups once the local Redis is master: repoint a peer that is
  // still a master and whose writes this node holds (while its writes are
  // held, by `pause` or by a new one), then CONFIG REWRITE here, outside the
  // peer's pause window. Never throws RedisError: the promotion has happened
  // whatever these steps meet, so failures are warnings.
  void finish(std::optional<PeerWritePause>& pause);
  // The same, when the peer's writes are not held yet.
  void finish();

  // Makes the peer a replica of this node while its writes are held by
  // `pause` (re-paused if the window is about to end), lifts the pause, runs
  // CONFIG REWRITE there and disconnects its clients. Throws RedisError when
  // the REPLICAOF fails.
  void repoint_peer(const RedisState& peer_state, std::optional<PeerWritePause>& pause);

 private:
  HookRun& run_;
};

}  // namespace rk
