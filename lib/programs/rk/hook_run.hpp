#pragma once

#include <exception>
#include <functional>
#include <optional>
#include <string>

#include "rk/decisions.hpp"
#include "rk/errors.hpp"
#include "rk/exit_code.hpp"
#include "rk/instance_state.hpp"
#include "rk/log.hpp"
#include "rk/observe.hpp"
#include "rk/options.hpp"
#include "rk/redis_client.hpp"

namespace rk {

// Milliseconds from `start` to now, for the timings in log lines.
long long ms_since(Clock::time_point start);

// Thrown inside a hook when a newer hook of the same instance took over; the
// hook stops where it is and exits 3. Control flow, not an error: it derives
// from std::exception (not runtime_error, which the state dir's and the
// copy's handlers catch), so that one that escapes its hook still meets the
// tools' top-level catch instead of std::terminate.
class Superseded : public std::exception {
 public:
  const char* what() const noexcept override { return "a newer transition took over"; }
};

// The machinery every notify hook shares: its log, its place in the
// instance's order of transitions, the action lock, and observing Redis.
//
// The log comes first, so that every later failure leaves a line. The state
// dir comes next: an unsafe one (see InstanceState) is a configuration error
// (logged, then UnsafeStateDir: exit 2); one that cannot be read or written
// (full disk, read-only mount, no permission) is a StateError, after which
// the hook carries on without its records, so it is neither ordered against
// overlapping hooks nor leaves a last verdict, and says so in the log.
class HookRun {
 public:
  HookRun(const ToolOptions& options, Transition transition);

  // Records the transition and takes the action lock, waiting for it until
  // `lock_deadline`. Returns false when a newer hook already took over (the
  // caller exits 3). Returns true without the lock when the deadline passed.
  bool start(Clock::time_point lock_deadline = Clock::time_point::max());
  bool holds_lock() const { return holds_lock_; }
  // True while the state dir serves this hook (false after a StateError).
  bool has_records() const { return records_.has_value(); }
  // The state dir while it serves this hook, else null.
  const InstanceState* records() const { return records_ ? &*records_ : nullptr; }
  // Throws Superseded when a newer hook recorded its transition.
  void check_superseded();
  // Sleeps one poll interval, then check_superseded().
  void pause_briefly();
  // Milliseconds since the hook started.
  long long elapsed_ms() const;
  bool past(Clock::time_point deadline) const { return Clock::now() >= deadline; }

  // INFO of the local Redis, (re)connecting when needed. nullopt when it
  // cannot be read right now (each error logged once per 10 s, with a count).
  std::optional<RedisState> observe_local();
  // INFO of the peer, (re)connecting when needed (each error logged once per
  // 10 s, with a count). Reach::not_configured when there is no peer.
  Observation observe_peer();
  std::optional<Connection>& local() { return local_; }
  std::optional<Connection>& peer() { return peer_; }

  // Sends a command that changes Redis; an error reply throws ReplyError.
  Reply act(Connection& connection, const std::vector<std::string>& argv);
  // CONFIG REWRITE where the server has a config file, so that a restart
  // keeps its role. Failure is logged, not fatal: the role is already right.
  // With --fence-writes or --witness it never persists a temporary fence
  // (rewrite_config_without_fence): redis.conf gets the operator's own
  // min-replicas-* values.
  void rewrite_config(Connection& connection, const RedisState& state, const char* which);

  // --fence-writes: before the hook changes anything, checks that the local
  // Redis lets it set min-replicas-to-write (a CONFIG SET of the current
  // value, which changes nothing). A refusal is a configuration error:
  // logged, then UsageError (exit 2). Does nothing when fencing is off or the
  // local Redis cannot be read now (the hook's own observations report that).
  void check_fencing_allowed();
  // --fence-writes: sets min-replicas-max-lag and min-replicas-to-write on
  // `connection` as `plan` says: the toolkit's fence (at least 1, and
  // --fence-max-lag), or the operator's own values (FenceRecord). A failure is
  // a warning: the roles are right.
  void apply_fence(Connection& connection, const FencePlan& plan, const char* which);

  // Logs the decision when it differs from the previous one.
  void log_decision(const std::string& step, const std::string& reason, const std::string& detail);
  // Logs the summary line (verdict=NAME exit=N ...), writes NAME.last when
  // the records serve, and returns the verdict's exit code.
  ExitCode finish(Verdict verdict, const std::string& detail);
  // Ends a hook that must not act (the peer refuses it, or is this node):
  // the reason as a warning, then the summary line.
  ExitCode stop_unchanged(Verdict verdict, const std::string& reason);

  // The stale-history record (NAME.stale) as it stands now; nullopt when
  // there is none or the records do not serve (a read failure is logged).
  std::optional<StaleHistory> stale_history();
  // Records that this node holds an older history than `peer` (their replids
  // and offsets, and `reason`), so that redis_check fails the node and
  // redis_master does not promote it without its peer until it has resynced.
  // Logged as a warning; a record that cannot be written is a warning too.
  void record_stale_history(const RedisState& local, const RedisState& peer,
                            const std::string& reason);
  // Removes the record when one stands, logging `why` with what it said.
  void clear_stale_history(const std::string& why);
  // For a copy that runs longer than one poll (CopyRequest::between_waits):
  // throws Superseded when a newer hook recorded its transition.
  std::function<void()> superseded_probe() {
    return [this] { check_superseded(); };
  }

  // A split brain was found (two masters with diverged histories): counted
  // in the metrics when the hook finishes.
  void note_split_brain() { split_brain_ = true; }

  Logger& log() { return log_; }
  const ToolOptions& options() const { return options_; }

 private:
  // Makes sure the copy dir exists (0700), may be trusted and is writable
  // before the hook acts. A problem (unsafe, missing, not writable) is a
  // warning and never stops the hook: only a step that needs a copy later
  // fails (copy-failed: the resync is refused), and a promotion that needs
  // none goes on.
  void check_copy_dir();
  // Counts this run in the state dir's metrics (redis_status --prometheus);
  // a failure is a warning.
  void count(const std::function<void(InstanceState::Metrics&)>& update);
  // True when the hooks own min-replicas-* (--fence-writes or --witness).
  bool fencing() const { return options_.fence_writes || !options_.witness_endpoints.empty(); }
  // The operator's own min-replicas-* values for the server behind
  // `connection`, which holds `found`: from this node's record for the local
  // Redis; for the peer, this node's own (both nodes are configured alike,
  // and the peer's own hooks put its remembered values back at its next
  // transition).
  FenceValues operator_values(Connection& connection, const FenceValues& found);
  bool is_local(const Connection& connection) const { return local_ && &connection == &*local_; }
  // Records what the toolkit set on the local Redis; a failure is a warning.
  void remember_fence(const FenceRecord& record);
  // Logs why the records stopped serving and carries on without them.
  void drop_records(const StateError& error);

  ToolOptions options_;  // a copy: the password is resolved here
  Transition transition_;
  Logger log_;
  std::optional<InstanceState> records_;
  Clock::time_point started_;
  std::optional<Connection> local_;
  std::optional<Connection> peer_;
  bool holds_lock_ = false;
  std::string last_decision_;
  bool split_brain_ = false;
};

}  // namespace rk
