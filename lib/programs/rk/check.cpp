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
#include "rk/fence.hpp"
#include "rk/hooks.hpp"
#include "rk/instance_state.hpp"
#include "rk/log.hpp"
#include "rk/observe.hpp"
#include "rk/reachability.hpp"
#include "rk/replication_info.hpp"
#include "rk/sentinel_mode.hpp"
#include "rk/track_file.hpp"

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
  // The fence's record; nullopt when the dir cannot be used.
  std::optional<FenceRecord> fence_record() const {
    if (!usable()) return std::nullopt;
    return load_fence_record(&*dir);
  }
  // Records what this run set; a problem is added to `detail`, never fatal.
  void remember_fence(const FenceRecord& record, std::string& detail) const {
    if (!usable()) return;
    try {
      store_fence_record(&*dir, record);
    } catch (const std::runtime_error& error) {
      detail += fmt::format("; fence not recorded: {}", error.what());
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

[[noreturn]] void throw_own_witness(const Endpoint& witness, const std::string& why) {
  throw UsageError(fmt::format(
      "--witness {}: {}: a connect there never crosses the network, so a node cut off from it "
      "would never be found isolated; name a witness on another host",
      witness.text(), why));
}

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

// --witness: the share of --timeout kept for the TCP probes, and after
// them for the fence's commands. PING and INFO run under the whole deadline,
// as without a witness; when they leave the probes less than their share,
// this run does not judge isolation (it neither fences nor lifts): one slow
// PING or INFO must not read as a cut-off network.
std::chrono::milliseconds probe_share(std::chrono::milliseconds timeout) { return timeout / 4; }
std::chrono::milliseconds fence_share(std::chrono::milliseconds timeout) { return timeout / 10; }

// A witness written as this host itself (loopback, one of its addresses, the
// --host this check connects to) always answers, even from a node cut off
// from the network: isolation would never be found. Refused before anything
// is done (exit 2).
void refuse_own_witnesses(const ToolOptions& options, const std::vector<SocketAddress>& own) {
  if (options.witness_on_this_host) return;
  for (const Endpoint& witness : options.witness_endpoints) {
    std::string why = own_witness_text(witness.host, options.host, own);
    if (!why.empty()) throw_own_witness(witness, why);
  }
}

// The isolation fence: the toolkit's fence over the operator's own values,
// recorded as redis_check's (so the first check that is not isolated lifts
// it). Costs nothing more while it is recorded and on.
void fence_isolated(const ToolOptions& options, LocalInfo& info, const RedisState& local,
                    CheckState& state, Clock::time_point deadline, CheckResult& result) {
  std::optional<FenceRecord> record = state.fence_record();
  if (record && record->isolation && local.write_fence_on) return;
  int lag = static_cast<int>(options.fence_max_lag.count());
  FenceValues found = read_fence_values(info.connection(), deadline);
  FenceValues base = operator_fence_values(record.value_or(FenceRecord{}), found, lag);
  FenceValues fence = toolkit_fence(base, lag);
  set_fence_values(info.connection(), found, fence, deadline);
  state.remember_fence(FenceRecord{base, fence, true}, result.detail);
}

// A master that is not isolated: lift the isolation fence, whatever the
// previous runs recorded as health (decide_fence_lift).
void lift_isolation_fence(const ToolOptions& options, LocalInfo& info, const RedisState& local,
                          CheckState& state, Clock::time_point deadline, CheckResult& result) {
  std::optional<FenceRecord> record = state.fence_record();
  FenceLiftDecision lift = decide_fence_lift(local, false, record);
  if (lift.step == FenceLiftStep::keep) return;
  int lag = static_cast<int>(options.fence_max_lag.count());
  FenceValues found = read_fence_values(info.connection(), deadline);
  FenceValues base = operator_fence_values(record.value_or(FenceRecord{}), found, lag);
  if (lift.step == FenceLiftStep::read_values &&
      !unrecorded_isolation_fence(found, lag, options.fence_writes)) {
    // Not the toolkit's isolation fence: the operator's own, or the hooks'
    // --fence-writes fence. Recorded as the values in force, so that the
    // next checks keep it without reading it again.
    state.remember_fence(FenceRecord{base, found, false}, result.detail);
    return;
  }
  FenceValues target = fence_after_isolation(local, options.fence_writes, base, lag);
  set_fence_values(info.connection(), found, target, deadline);
  result.detail += fmt::format("; isolation fence lifted ({}): {}", lift.reason, describe(target));
  state.remember_fence(FenceRecord{base, target, false}, result.detail);
}

// --witness: a master that reaches neither its peer nor any witness fails
// the check ("isolated") and fences its Redis, so that it stops taking
// writes the other side would discard at the heal (at the latest
// min-replicas-max-lag seconds after its replica's last ACK). The first
// check that finds it reachable again lifts that fence. Returns the result
// to report.
CheckResult isolation_check(const ToolOptions& options, LocalInfo& info, CheckState& state,
                            const std::vector<SocketAddress>& own, Clock::time_point deadline,
                            CheckResult result) {
  const std::optional<RedisState>& local = info.get();
  if (!local) return result;
  auto probe_deadline = deadline - fence_share(options.timeout);
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(probe_deadline - Clock::now());
  if (left < probe_share(options.timeout)) {
    result.detail +=
        fmt::format("; isolation not judged: PING and INFO left the probes {} ms of their {} ms",
                    std::max<long long>(0, left.count()), probe_share(options.timeout).count());
    return result;
  }
  std::vector<ProbeTarget> targets{{*options.peer_endpoint, false}};
  for (const Endpoint& witness : options.witness_endpoints)
    targets.push_back({witness, !options.witness_on_this_host});
  std::vector<Probe> probes = probe_reachable(targets, own, probe_deadline);
  std::size_t witnesses_reached = 0;
  std::string unresolved;
  for (std::size_t i = 0; i < probes.size(); ++i) {
    if (!probes[i].own_address.empty())
      throw_own_witness(targets[i].endpoint, probes[i].own_address);
    if (i > 0 && probes[i].reached) ++witnesses_reached;
    if (probes[i].unresolved && unresolved.empty()) unresolved = targets[i].endpoint.host;
  }
  IsolationDecision isolation = decide_isolation(*local, probes[0].reached, witnesses_reached,
                                                 options.witness_endpoints.size());
  // A name whose lookup did not finish says nothing about the network: a
  // slow DNS must not read as isolation either.
  if (isolation.isolated && !unresolved.empty()) {
    result.detail +=
        fmt::format("; isolation not judged: the lookup of {} did not finish in time", unresolved);
    return result;
  }
  if (isolation.isolated) result = CheckResult{false, "isolated", isolation.reason};
  try {
    if (isolation.isolated)
      fence_isolated(options, info, *local, state, deadline, result);
    else
      lift_isolation_fence(options, info, *local, state, deadline, result);
  } catch (const RedisError& error) {
    result.detail += fmt::format("; fence not changed: {}", error.what());
  }
  return result;
}

// Sentinel mode: the check follows the sentinels' majority
// (decide_sentinel_check). One INFO of the local Redis, then every sentinel
// at once under what is left of the one deadline; the fence's commands only
// when a fence goes on or comes off.
CheckResult sentinel_check(const ToolOptions& options, LocalInfo& info, CheckState& state,
                           Clock::time_point deadline) {
  const std::optional<RedisState>& local = info.get();
  if (!local) return {false, "unhealthy", "INFO of the local Redis could not be read"};
  const InstanceState* records = state.usable() ? &*state.dir : nullptr;
  // The fence's share of --timeout is kept for its commands: a sentinel
  // that never answers must not leave a master unfenced.
  SentinelCheck verdict =
      judge_by_sentinels(options, *local, records, deadline - fence_share(options.timeout)).verdict;
  CheckResult result{verdict.passes, verdict.health, verdict.reason};
  try {
    std::string done =
        apply_sentinel_fence(info.connection(), records, verdict.fence,
                             static_cast<int>(options.fence_max_lag.count()), deadline);
    if (!done.empty()) result.detail += "; " + done;
  } catch (const RedisError& error) {
    result.detail += fmt::format("; fence not changed: {}", error.what());
  } catch (const std::runtime_error& error) {  // StateError: the fence is set, not recorded
    result.detail += fmt::format("; fence not recorded: {}", error.what());
  }
  return result;
}

// --defer-to-watch: a Sentinel-mode redis_watch of this instance that still
// runs (its process alive, its heartbeat within its bound) decides through
// its track file, which it writes within milliseconds of a +switch-master;
// keepalived leaves FAULT only when every weight-0 track says so, so a
// check that also asked the sentinels would hold the VIP back until its
// next interval. The watcher fences too. Costs one read of NAME.watch and
// a look at its process. nullopt when no such watcher runs.
std::optional<CheckResult> deferred_to_watcher(const CheckState& state) {
  if (!state.usable()) return std::nullopt;
  try {
    std::string text = state.dir->read_watch();
    if (text.empty()) return std::nullopt;
    WatchRecord record = WatchRecord::parse(text);
    if (!record.sentinel_mode ||
        watcher_stopped(record.health, generation_running(record.generation),
                        state.dir->watch_age_seconds(), record.heartbeat_bound))
      return std::nullopt;
    return CheckResult{true, "healthy",
                       fmt::format("PONG; redis_watch (pid {}) decides through {} ({})",
                                   record.generation.pid, record.track_file, record.health)};
  } catch (const std::runtime_error&) {  // StateError: ask the sentinels
    return std::nullopt;
  }
}

// A hook recorded that this node holds an older history than its peer
// (NAME.stale): the node fails ("stale", see decide_stale_check), so that
// keepalived never gives the VIP to a node known to lack acknowledged
// writes. One file read per run; only while a record exists, a look at the
// recorded hook's process and one INFO. An unreadable record reads as none,
// as the rest of the state dir does.
CheckResult stale_check(CheckState& state, LocalInfo& info, CheckResult result) {
  if (!state.usable()) return result;
  std::optional<StaleHistory> stale;
  bool hook_running = false;
  try {
    stale = StaleHistory::parse(state.dir->read_stale());
    if (stale) hook_running = state.dir->recorded_hook_running();
  } catch (const std::runtime_error&) {  // StateError
    return result;
  }
  if (!stale) return result;
  StaleCheck verdict =
      decide_stale_check(stale, hook_running ? std::nullopt : info.get(), hook_running);
  if (!verdict.fails) return result;
  return {false, "stale", verdict.reason};
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
    log.info("health changed: {} -> {} ({} answered {})", previous, result.health,
             local_endpoint(options).text(), result.detail);
  else
    log.warning("health changed: {} -> {} ({}: {}){}", previous, result.health,
                local_endpoint(options).text(), result.detail, suffix);
}

// A redis_watch that stopped without removing its track file (SIGKILL, a
// crash, a supervisor with no stop step) leaves its last value there, and
// keepalived keeps an instance in FAULT while a weight-0 track_file holds a
// non-zero value, whatever this check says: the node would stay out after
// its Redis recovered. A passing check clears that value. It costs one read
// of NAME.watch, only when the record exists, and more only when the record
// says the watcher's file holds 1; a running watcher (whose --rise count may
// be holding a 1 on purpose) is left alone. Never fails the check.
void clear_stopped_watcher_value(const ToolOptions& options, const CheckState& state) {
  if (!state.usable()) return;
  std::string text;
  WatchRecord record;
  try {
    text = state.dir->read_watch();
    if (text.empty()) return;  // no watcher has run here
    record = WatchRecord::parse(text);
    if (record.health != "unhealthy" || record.track_file.empty()) return;
    if (!watcher_stopped(record.health, generation_running(record.generation),
                         state.dir->watch_age_seconds(), record.heartbeat_bound))
      return;
    std::optional<long> value = read_track_file(record.track_file);
    if (!value || *value == 0) return;
  } catch (const std::runtime_error&) {  // StateError: cannot tell, change nothing
    return;
  }
  Logger log(log_options(options));
  try {
    write_track_file(record.track_file, 0);
    // The record says so, and later checks read no further; unless a new
    // watcher has written its own record meanwhile.
    if (state.dir->read_watch() == text) {
      WatchRecord stopped = record;
      stopped.health = "stopped";
      stopped.since = utc_time_text();
      state.dir->write_watch(stopped.text());
    }
  } catch (const std::runtime_error& error) {  // StateError, UnsafeStateDir
    log.warning("redis_watch (pid {}) is not running and left 1 in {}: cannot clear it: {}",
                record.generation.pid, record.track_file, error.what());
    return;
  }
  log.warning(
      "redis_watch (pid {}) is not running and left 1 in {}, which held this node in FAULT "
      "although {} answers: {} = 0, redis_check alone decides the health now",
      record.generation.pid, record.track_file, local_endpoint(options).text(), record.track_file);
}

}  // namespace

ExitCode run_check(const ToolOptions& given) {
  ToolOptions options = given;
  auto deadline = Clock::now() + options.timeout;
  arm_backstop(options.timeout + std::chrono::milliseconds(100));
  // The password file and the TLS files are read under the backstop, so
  // nothing can hang the check (--config, read before, is bounded anyway).
  resolve_password(options);
  std::vector<SocketAddress> own;
  if (!options.witness_endpoints.empty() && !options.witness_on_this_host) {
    own = interface_addresses();
    refuse_own_witnesses(options, own);
  }

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
  std::optional<CheckResult> deferred;
  if (result.passed && options.defer_to_watch) deferred = deferred_to_watcher(state);
  if (deferred) {
    result = *deferred;
  } else if (result.passed && connection && options.sentinel_mode()) {
    LocalInfo info(*connection, deadline);
    result = sentinel_check(options, info, state, deadline);
  } else if (result.passed && connection) {
    LocalInfo info(*connection, deadline);
    if (state.usable()) {
      VipDecision vip = vip_holder_check(info, state);
      if (vip.yield) result = CheckResult{false, "yielding", vip.reason};
    }
    if (result.passed && !options.witness_endpoints.empty())
      result = isolation_check(options, info, state, own, deadline, result);
    if (result.passed) result = stale_check(state, info, result);
  }
  if (result.passed) clear_stopped_watcher_value(options, state);
  record_health(options, state, result);
  return result.passed ? ExitCode::success : ExitCode::failure;
}

}  // namespace rk
