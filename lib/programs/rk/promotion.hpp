#pragma once

#include <chrono>
#include <exception>
#include <optional>
#include <string>

#include "rk/hook_run.hpp"

// The acting half of redis_master: promote the local Redis, then make a peer
// that is still a master replicate it. The loop that decides when lives in
// master_hook.cpp; the choices themselves are pure (decisions.hpp).
namespace rk {

// A server's writes held with CLIENT PAUSE <window> WRITE (Redis 6.2+: it
// also holds expiries and the replication PINGs, so the server's offset
// stands still) for as long as this guard lives; CLIENT UNPAUSE when it
// ends, on every path. A pause that cannot be lifted ends by itself with its
// window. The hooks hold the peer's writes for the final comparison before a
// promotion and for a repoint, and a node's own writes while its dataset is
// copied before a resync discards them.
class WritePause {
 public:
  // Pauses `server` (a hook's local() or peer(); `which` names it in log
  // lines) now. Throws ReplyError when the server refuses (NOPERM without
  // +client|pause), RedisError when the call fails.
  WritePause(Logger& log, std::optional<Connection>& server, const char* which,
             std::chrono::milliseconds window);
  WritePause(const WritePause&) = delete;
  WritePause& operator=(const WritePause&) = delete;
  ~WritePause();

  // How long the writes have been held.
  std::chrono::milliseconds held_for() const;
  // Makes sure the pause lasts at least `needed` more: a step that must
  // happen while writes are held (the repoint) re-pauses a window that is
  // about to end instead of trusting it. Throws like the constructor.
  void ensure_open_for(std::chrono::milliseconds needed);
  // Lifts the pause now (also done by the destructor).
  void release();
  // The caller has lifted the pause itself (CLIENT UNPAUSE inside a
  // transaction with the REPLICAOF that must take effect with it): nothing
  // more is sent.
  void lifted() { held_ = false; }

 private:
  void pause(std::chrono::milliseconds window);
  Logger& log_;
  std::optional<Connection>& server_;
  const char* which_;
  std::chrono::milliseconds window_;
  Clock::time_point started_;
  Clock::time_point ends_;
  bool held_ = false;
};

// The peer refused CLIENT PAUSE (no +client|pause): waiting will not cure
// it, so the hook stops and says so. Control flow like Superseded, and like
// it a std::exception that the tools' top-level catch would meet.
class PeerPauseRefused : public std::exception {
 public:
  explicit PeerPauseRefused(std::string why, Verdict verdict = Verdict::peer_denied)
      : why_(std::move(why)), verdict_(verdict) {}
  // The refusal and how to fix it, for the log.
  const char* what() const noexcept override { return why_.c_str(); }
  // peer-denied, or peer-too-old for a server without CLIENT PAUSE WRITE.
  Verdict verdict() const { return verdict_; }

 private:
  std::string why_;
  Verdict verdict_;
};

// No reply to REPLICAOF NO ONE on the local Redis, and it could not be read
// again: it may or may not be master (verdict promotion-unknown).
class PromotionUnknown : public IoError {
 public:
  using IoError::IoError;
};

// Holds the peer's writes in `pause`. Returns false when the peer answered
// with a transient error (-BUSY and the like: try again next round); throws
// PeerPauseRefused when it denies the command, RedisError when the call fails.
// `peer` is the peer's last INFO: a server too old for CLIENT PAUSE WRITE
// is refused before anything is sent (PeerPauseRefused, peer-too-old).
bool pause_peer_writes(HookRun& run, std::optional<WritePause>& pause, const RedisState& peer);

// Before a resync that discards writes only `which` ("local" or "peer")
// holds (`need`, from copy_before_replacing): keeps a copy of that server's
// dataset in --copy-dir while `pause` holds its writes (extended to cover
// the copy), so that no write it acknowledged is lost without a copy.
// Returns nullopt when the resync may go on: the copy is kept, or the
// operator allowed the resync without one (--resync-without-copy). Else the
// reason it must not (the caller stops with nothing changed).
std::optional<std::string> keep_copy_before_resync(HookRun& run, const char* which,
                                                   const ConnectionOptions& server,
                                                   const CopyNeed& need, WritePause& pause);

// REPLICAOF the peer on the local Redis, after keeping a copy of the local
// dataset when the resync discards writes only it holds (with its writes
// paused from the copy until the REPLICAOF). Returns nullopt once the local
// Redis replicates the peer, or the reason it was left as it was (no copy
// could be made). Throws RedisError when a call fails.
std::optional<std::string> replicate_peer_keeping_copy(HookRun& run, const RedisState& local,
                                                       const RedisState& peer);

class Promotion {
 public:
  explicit Promotion(HookRun& run) : run_(run) {}

  // REPLICAOF NO ONE on the local Redis. Throws ReplyError when it is
  // refused (nothing changed), PromotionUnknown when no reply came and the
  // role could not be read again.
  void promote(const std::string& why);

  // The follow-ups once the local Redis is master: repoint a peer that is
  // still a master and whose writes this node holds (while its writes are
  // held, by `pause` or by a new one), then CONFIG REWRITE here, outside the
  // peer's pause window. Never throws RedisError: the promotion has happened
  // whatever these steps meet, so failures are warnings.
  void finish(std::optional<WritePause>& pause);
  // The same, when the peer's writes are not held yet.
  void finish();

  // Makes the peer a replica of this node while its writes are held by
  // `pause` (re-paused if the window is about to end), lifts the pause, runs
  // CONFIG REWRITE there and disconnects its clients. Throws RedisError when
  // the REPLICAOF fails.
  void repoint_peer(const RedisState& peer_state, std::optional<WritePause>& pause);

 private:
  // The peer's REPLICAOF `replicaof` got no reply (`error`): reads the peer
  // again over a fresh connection and sends it once more while it is still
  // a master. Returns once the peer is a replica; throws RedisError when its
  // role stays unknown or it stays a master.
  void confirm_peer_repointed(const std::vector<std::string>& replicaof, const RedisError& error);

  HookRun& run_;
};

}  // namespace rk
