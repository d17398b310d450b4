// vrrp_script: is the local Redis able to serve? One process, one
// connection, one PING, under one deadline; on the VIP holder one INFO more,
// so that the VIP never stays on a replica (decide_vip_holder); with
// --witness, one INFO and TCP probes of the peer and the witnesses, so that a
// master cut off from the network fences itself (decide_isolation).

#include <sys/time.h>

#include <algorithm>
#include <csignal>
#include <cstdio>

#include <fmt/format.h>

#include "rk/decisions.hpp"
#include "rk/errors.hpp"
#include "rk/hooks.hpp"
#include "rk/instance_state.hpp"
#include "rk/log.hpp"
#include "rk/observe.hpp"
#include "rk/reachability.hpp"
#include "rk/replication_info.hpp"

namespace rk {
namespace {

// keepalived counts a timed-out check as a failure, but only after its own
// `timeout`, and it SIGKILLs us ~2 s later. Every call is bounded by the
// deadline (name resolution too); the file options are bounded in kind and
// size (read_option_file), but the time to read them, OpenSSL's to parse a
// CA bundle and the state dir's reads are not tied to --timeout: a
// real-time timer is the backstop. When it fires,
// SIGALRM's default action ends the process, which keepalived also counts
// as a failure, well before its own timeout.
void arm_backstop(std::chrono::milliseconds budget) {
  std::signal(SIGALRM, SIG_DFL);
  itimerval timer{};
  timer.it_value.tv_sec = static_cast<time_t>(budget.count() / 1000);
  timer.it_value.tv_usec = static_cast<suseconds_t>((budget.count() % 1000) * 1000);
  ::setitimer(ITIMER_REAL, &timer, nullptr);
}

// What one run found: the health word it records ("healthy", "unhealthy",
// or "yielding" for a VIP holder that must give the VIP up) and why.
struct CheckResult {
  bool passed = false;
  std::string health;
  std::string detail;
};

// The state dir as redis_check uses it: existing_only, so that a manual run
// (as root, say) never creates a dir that the hooks, running as
// keepalived_script, then cannot use; and any problem with it is kept as text,
// never thrown: the check's verdict must never depend on the state dir (a
// full /run would otherwise move the VIP away from a healthy node).
struct CheckState {
  std::optional<InstanceState> dir;
  std::string problem;
  explicit CheckState(const ToolOptions& options) {
    try {
      dir.emplace(options.state_dir, options.instance, InstanceState::Access::existing_only);
    } catch (const std::runtime_error& error) {  // StateError, UnsafeStateDir
      problem = error.what();
    }
  }
  bool usable() const { return dir && dir->present(); }
  // The health the previous run recorded ("" when none or unreadable).
  std::string recorded_health() const {
    if (!usable()) return {};
    try {
      return dir->read_health();
    } catch (const std::runtime_error&) {
      return {};
    }
  }
};

// The local INFO, read at most once per run and only when a decision needs
// it (on the VIP holder, or with --witness).
class LocalInfo {
 public:
  LocalInfo(Connection& connection, Clock::time_point deadline)
      : connection_(connection), deadline_(deadline) {}
  // nullopt when it cannot be read: the decisions that need it then keep
  // the PING's verdict.
  const std::optional<RedisState>& get() {
    if (read_) return state_;
    read_ = true;
    try {
      // Redis 7 answers several sections at once; these two hold every
      // field the decisions read.
      Reply info = connection_.command({"INFO", "replication", "persistence"}, deadline_);
      if (info.type != Reply::Type::string) return state_;
      Result<RedisState> parsed = parse_info(info.text);
      if (parsed) state_ = *parsed;
    } catch (const RedisError&) {
    }
    return state_;
  }
  Connection& connection() { return connection_; }

 private:
  Connection& connection_;
  Clock::time_point deadline_;
  bool read_ = false;
  std::optional<RedisState> state_;
};

// A healthy Redis on a node whose keepalived made it MASTER: must it give
// the VIP up (see decide_vip_holder)? Costs one INFO, on the VIP holder only.
VipDecision vip_holder_check(LocalInfo& info, CheckState& state) {
  try {
    std::string transition = record_field(state.dir->read_record(), "state");
    if (transition != "MASTER") return {false, "not the VIP holder"};
    bool hook_running = state.dir->recorded_hook_running();
    if (hook_running) return {false, "redis_master is still acting"};
    const std::optional<RedisState>& local = info.get();
    if (!local) return {false, "INFO unreadable"};
    return decide_vip_holder(transition, hook_running, *local);
  } catch (const std::runtime_error& error) {  // StateError: cannot tell
    return {false, error.what()};
  }
}

// --witness: a master that reaches neither its peer nor any witness fails
// the check ("isolated") and sets min-replicas-to-write 1, so that it stops
// taking writes the other side would discard at the heal (at the latest
// min-replicas-max-lag seconds after its replica's last ACK). The first
// check that finds it reachable again lifts that fence. Returns the result
// to report.
CheckResult isolation_check(const ToolOptions& options, LocalInfo& info,
                            const std::string& recorded_health, Clock::time_point deadline,
                            CheckResult result) {
  const std::optional<RedisState>& local = info.get();
  if (!local) return result;
  std::vector<Endpoint> targets{*options.peer_endpoint};
  targets.insert(targets.end(), options.witness_endpoints.begin(), options.witness_endpoints.end());
  std::vector<bool> reached = probe_reachable(targets, deadline);
  auto witnesses_reached =
      static_cast<std::size_t>(std::count(reached.begin() + 1, reached.end(), true));
  IsolationDecision isolation =
      decide_isolation(*local, reached[0], witnesses_reached, options.witness_endpoints.size());
  // The min-replicas-to-write to set, if any; the lag is set with the fence
  // only, the lift leaves it.
  std::optional<int> min_replicas_to_write;
  std::optional<std::chrono::seconds> max_lag;
  if (isolation.isolated) {
    min_replicas_to_write = 1;
    max_lag = options.fence_max_lag;
    result = CheckResult{false, "isolated", isolation.reason};
  } else if (recorded_health == "isolated" && local->is_master()) {
    min_replicas_to_write = fence_after_isolation(*local, options.fence_writes);
    result.detail +=
        fmt::format("; reachable again ({}): isolation fence lifted", isolation.reason);
  }
  if (!min_replicas_to_write) return result;
  try {
    set_write_fence(info.connection(), *min_replicas_to_write, max_lag);
  } catch (const RedisError& error) {
    result.detail += fmt::format("; fence not changed: {}", error.what());
  }
  return result;
}

// Records the health and logs only its changes, so a healthy check writes no
// line at every interval. State-dir problems are reported, never fatal.
void record_health(const ToolOptions& options, CheckState& state, const CheckResult& result) {
  std::string previous = "unknown";
  std::string state_problem = state.problem;
  if (state.usable()) {
    try {
      std::string recorded = state.dir->read_health();
      if (recorded == result.health) {
        // keepalived counts a check it cannot execute as a success, and
        // silently drops one it refuses at start-up: the file's age lets
        // redis_status show whether the check really runs.
        state.dir->touch_health();
        return;
      }
      if (!recorded.empty()) previous = recorded;
      state.dir->write_health(result.health);
    } catch (const std::runtime_error& error) {
      state_problem = error.what();
    }
  }
  if (!state_problem.empty() && result.passed) {
    // Without a readable record every run would look like a change: tell a
    // person running the check by hand, and leave syslog to the hooks and
    // redis_status, which report the same problem.
    std::fprintf(stderr, "%s: state dir not used: %s\n", options.tool.c_str(),
                 state_problem.c_str());
    return;
  }
  if (state_problem.empty() && !state.usable() && result.passed) return;  // no dir yet
  Logger log(log_options(options));
  std::string suffix =
      state_problem.empty() ? "" : fmt::format(" [state dir not used: {}]", state_problem);
  if (result.passed)
    log.info("health changed: {} -> {} ({}:{} answered {})", previous, result.health, options.host,
             options.port, result.detail);
  else
    log.warning("health changed: {} -> {} ({}:{}: {}){}", previous, result.health, options.host,
                options.port, result.detail, suffix);
}

}  // namespace

ExitCode run_check(const ToolOptions& given) {
  ToolOptions options = given;
  auto deadline = Clock::now() + options.timeout;
  arm_backstop(options.timeout + std::chrono::milliseconds(100));
  // The password file and the TLS files are read under the backstop, so
  // nothing can hang the check (--config, read before, is bounded anyway).
  resolve_password(options);

  CheckState state(options);
  CheckResult result;
  std::optional<Reply> reply;
  std::string problem;
  // The non-throwing calls: a failing check costs what a passing one does.
  ClientFailure failure;
  std::optional<Connection> connection =
      Connection::try_open(local_connection(options), deadline, failure);
  if (connection) reply = connection->try_command({"PING"}, deadline, failure);
  if (!reply)
    problem = failure.message;
  else if (reply->is_error())
    problem = reply->text;
  else if (!reply->is_status("PONG"))
    problem = fmt::format("reply to PING is not PONG: '{}'", reply->text.substr(0, 80));
  result.passed = ping_means_healthy(reply);
  result.health = result.passed ? "healthy" : "unhealthy";
  result.detail = problem.empty() ? std::string("PONG") : problem;
  if (result.passed && connection) {
    LocalInfo info(*connection, deadline);
    if (state.usable()) {
      VipDecision vip = vip_holder_check(info, state);
      if (vip.yield) result = CheckResult{false, "yielding", vip.reason};
    }
    if (result.passed && !options.witness_endpoints.empty())
      result = isolation_check(options, info, state.recorded_health(), deadline, result);
  }
  record_health(options, state, result);
  return result.passed ? ExitCode::success : ExitCode::failure;
}

}  // namespace rk
