#pragma once

#include <optional>
#include <string>

#include "rk/decisions.hpp"
#include "rk/exit_code.hpp"
#include "rk/instance_state.hpp"
#include "rk/log.hpp"
#include "rk/options.hpp"
#include "rk/redis_client.hpp"

namespace rk {

// Milliseconds from `start` to now, for the timings in log lines.
long long ms_since(Clock::time_point start);

// Thrown inside a hook when a newer hook of the same instance took over; the
// hook stops where it is and exits 3.
struct Superseded {};

// The machinery every notify hook shares: its log, its place in the
// instance's order of transitions, the action lock, and observing Redis.
class HookRun {
 public:
  HookRun(const ToolOptions& options, Transition transition);

  // Records the transition and takes the action lock, waiting for it until
  // `lock_deadline`. Returns false when a newer hook already took over (the
  // caller exits 3). Returns true without the lock when the deadline passed.
  bool start(Clock::time_point lock_deadline = Clock::time_point::max());
  bool holds_lock() const { return holds_lock_; }
  // Throws Superseded when a newer hook recorded its transition.
  void check_superseded() const;
  // Sleeps one poll interval, then check_superseded().
  void pause_briefly() const;
  // Milliseconds since the hook started.
  long long elapsed_ms() const;
  bool past(Clock::time_point deadline) const { return Clock::now() >= deadline; }

  // INFO of a connected server, parsed. Throws RedisError/ProtocolError.
  static RedisState observe(Connection& connection);
  // INFO of the local Redis, (re)connecting when needed. nullopt when it
  // cannot be read right now (logged once per distinct error).
  std::optional<RedisState> observe_local();
  // INFO of the peer, (re)connecting when needed; nullopt when unreachable.
  PeerView observe_peer();
  std::optional<Connection>& local() { return local_; }
  std::optional<Connection>& peer() { return peer_; }

  // Sends a command that changes Redis; an error reply throws ReplyError.
  Reply act(Connection& connection, const std::vector<std::string>& argv);
  // CONFIG REWRITE where the server has a config file, so that a restart
  // keeps its role. Failure is logged, not fatal: the role is already right.
  void rewrite_config(Connection& connection, const RedisState& state, const char* which);

  // Logs the decision when it differs from the previous one.
  void log_decision(const std::string& step, const std::string& reason, const std::string& detail);
  // Logs the summary line, writes NAME.last, and returns `code`.
  ExitCode finish(ExitCode code, const std::string& verdict, const std::string& detail);

  Logger& log() { return log_; }
  const ToolOptions& options() const { return options_; }

 private:
  const ToolOptions& options_;
  Transition transition_;
  Logger log_;
  InstanceState state_;
  Clock::time_point started_;
  std::optional<Connection> local_;
  std::optional<Connection> peer_;
  bool holds_lock_ = false;
  std::string last_decision_;
  std::string last_local_error_;
  std::string last_peer_error_;
};

}  // namespace rk
