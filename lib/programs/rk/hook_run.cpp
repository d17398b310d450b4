#include "rk/hook_run.hpp"

#include <unistd.h>

#include <thread>

#include "rk/dataset_copy.hpp"
#include "rk/errors.hpp"
#include "rk/fence.hpp"

namespace rk {

HookRun::HookRun(const ToolOptions& options, Transition transition)
    : options_(options),
      transition_(transition),
      log_(log_options(options)),
      started_(Clock::now()) {
  log_.open_sinks();
  try {
    try {
      records_.emplace(options_.state_dir, options_.instance, InstanceState::Access::create);
    } catch (const StateError& error) {
      drop_records(error);
    }
    if (transition == Transition::master || transition == Transition::backup) check_copy_dir();
    resolve_password(options_);
  } catch (const UsageError& error) {
    // An unsafe dir, a bad instance name or an unreadable password file:
    // nothing is done, and the log says why (stderr gets the one error line
    // from the top-level catch).
    log_.warning_to_log_only(fmt::format("{}; nothing done (exit 2)", error.what()));
    throw;
  }
}

void HookRun::check_copy_dir() {
  std::string problem = copy_dir_problem(options_.copy_dir, true);
  if (problem.empty()) return;
  log_.warning(
      "copy dir unusable now ({}): a resync that would discard writes is refused until it is "
      "fixed; a step that needs no copy goes on",
      problem);
}

std::optional<StaleHistory> HookRun::stale_history() {
  if (!records_) return std::nullopt;
  try {
    return StaleHistory::parse(records_->read_stale());
  } catch (const StateError& error) {
    log_.warning("cannot read the stale-history record: {}", error.what());
    return std::nullopt;
  }
}

void HookRun::record_stale_history(const RedisState& local, const RedisState& peer,
                                   const std::string& reason) {
  StaleHistory stale = stale_history_of(local, peer, reason);
  stale.since = utc_time_text();
  stale.hook = options_.tool;
  std::string where = "not recorded: the state dir does not serve";
  if (records_) {
    try {
      records_->write_stale(stale.text());
      where = fmt::format("recorded in {}/{}.stale", options_.state_dir, options_.instance);
    } catch (const StateError& error) {
      where = fmt::format("NOT recorded ({})", error.what());
    }
  }
  log_.warning(
      "stale history: this node holds an older history than its peer ({}); {}. Until it has "
      "resynced, redis_check fails it and redis_master does not promote it without its peer "
      "(operator overrides: redis_master --accept-data-loss, redis_status --clear-stale)",
      stale.describe(), where);
}

void HookRun::clear_stale_history(const std::string& why) {
  std::optional<StaleHistory> stale = stale_history();
  if (!stale) return;
  try {
    if (records_->remove_stale())
      log_.info("stale-history record cleared ({}); it said: {}", why, stale->describe());
  } catch (const StateError& error) {
    log_.warning("cannot clear the stale-history record ({}): {}", why, error.what());
  }
}

void HookRun::drop_records(const StateError& error) {
  records_.reset();
  holds_lock_ = false;
  log_.warning(
      "state dir unusable ({}): carrying on without records, so this hook is not ordered "
      "against overlapping hooks and leaves no last verdict",
      error.what());
}

bool HookRun::start(Clock::time_point lock_deadline) {
  if (!records_) return true;
  try {
    if (!records_->record(transition_, options_.tool)) {
      log_.info("a newer transition is already recorded; not acting");
      return false;
    }
    log_.info("transition to {} recorded", to_string(transition_));
    count([this](InstanceState::Metrics& m) {
      m[fmt::format("redis_keepalived_transitions_total{{transition=\"{}\"}}",
                    to_string(transition_))] += 1;
    });
    // The lock makes sure that at most one hook acts on Redis at a time; an
    // older hook notices the newer record within one poll and releases it.
    holds_lock_ = records_->acquire_action_lock(lock_deadline, options_.poll);
    return holds_lock_ || !records_->superseded();
  } catch (const StateError& error) {
    drop_records(error);
    return true;
  }
}

void HookRun::check_superseded() {
  if (!records_) return;
  bool superseded = false;
  try {
    superseded = records_->superseded();
  } catch (const StateError& error) {
    drop_records(error);
  }
  if (superseded) throw Superseded();
}

void HookRun::pause_briefly() {
  std::this_thread::sleep_for(options_.poll);
  check_superseded();
}

long long ms_since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

long long HookRun::elapsed_ms() const { return ms_since(started_); }

std::optional<RedisState> HookRun::observe_local() {
  Observation seen = observe(local_, local_connection(options_));
  if (seen.answered()) return seen.state;
  log_.repeated_info("local|" + seen.error, fmt::format("local Redis {}:{} not readable: {}",
                                                        options_.host, options_.port, seen.error));
  return std::nullopt;
}

Observation HookRun::observe_peer() {
  if (!options_.peer_endpoint) return Observation::failed(Reach::not_configured, "no peer");
  Observation seen = observe(peer_, peer_connection(options_));
  if (!seen.answered())
    log_.repeated_info("peer|" + seen.error, fmt::format("peer Redis {} not readable ({}): {}",
                                                         options_.peer_endpoint->text(),
                                                         to_string(seen.reach), seen.error));
  return seen;
}

Reply HookRun::act(Connection& connection, const std::vector<std::string>& argv) {
  return connection.command_ok(argv);
}

void HookRun::rewrite_config(Connection& connection, const RedisState& state, const char* which) {
  if (state.config_file.empty()) {
    log_.info("{} Redis runs without a config file; its role will not survive a restart", which);
    return;
  }
  auto started = Clock::now();
  try {
    if (!fencing()) {
      act(connection, {"CONFIG", "REWRITE"});
      log_.info("{} config rewritten in {} ms", which, ms_since(started));
      return;
    }
    FenceValues found = read_fence_values(connection);
    FenceValues base = operator_values(connection, found);
    FenceValues after = rewrite_config_without_fence(connection, base);
    log_.info("{} config rewritten in {} ms with the operator's {}{}", which, ms_since(started),
              describe(base),
              after == found ? std::string()
                             : fmt::format("; the fence is off now that it is a replica ({})",
                                           describe(after)));
    if (is_local(connection) && after != found) remember_fence(FenceRecord{base, after, false});
  } catch (const RedisError& error) {
    log_.warning("{} CONFIG REWRITE failed: {}", which, error.what());
  }
}

FenceValues HookRun::operator_values(Connection& connection, const FenceValues& found) {
  int lag = static_cast<int>(options_.fence_max_lag.count());
  std::optional<FenceRecord> record = load_fence_record(records_ ? &*records_ : nullptr);
  FenceRecord known = record.value_or(FenceRecord{});
  if (is_local(connection)) {
    try {
      return learn_operator_values(records_ ? &*records_ : nullptr, found, lag);
    } catch (const StateError& error) {
      log_.warning("the operator's min-replicas-* values are not remembered: {}", error.what());
      return operator_fence_values(known, found, lag);
    }
  }
  // The peer's own values are in its state dir, out of reach: take this
  // node's, from its record, or else from its Redis now.
  std::optional<FenceValues> own = known.base;
  if (!own && local_) own = operator_fence_values(known, read_fence_values(*local_), lag);
  return operator_fence_values(FenceRecord{own, std::nullopt, false}, found, lag);
}

void HookRun::remember_fence(const FenceRecord& record) {
  try {
    store_fence_record(records_ ? &*records_ : nullptr, record);
  } catch (const StateError& error) {
    log_.warning("the operator's min-replicas-* values are not remembered: {}", error.what());
  }
}

void HookRun::check_fencing_allowed() {
  if (!fencing()) return;
  const char* option = options_.fence_writes ? "--fence-writes" : "--witness";
  auto refuse = [this, option](const std::string& reply) {
    std::string what = fmt::format(
        "{}: the local Redis refuses CONFIG GET/SET min-replicas-to-write ({}); grant the hooks' "
        "user +config|get +config|set, or turn {} off",
        option, reply, option);
    log_.warning_to_log_only(what + "; nothing done (exit 2)");
    throw UsageError(what);
  };
  try {
    if (!local_) local_.emplace(Connection::open(local_connection(options_)));
    Reply current = local_->command({"CONFIG", "GET", "min-replicas-to-write"});
    if (current.is_error()) refuse(current.text);
    std::string value = current.elements.size() == 2 ? current.elements[1].text : std::string("0");
    Reply same = local_->command({"CONFIG", "SET", "min-replicas-to-write", value});
    if (same.is_error()) refuse(same.text);
  } catch (const RedisError&) {
    local_.reset();
  }
}

void HookRun::apply_fence(Connection& connection, const FencePlan& plan, const char* which) {
  if (!fencing()) return;
  // With --witness alone the hooks own min-replicas-to-write too: redis_check
  // raises it on a master cut off from the network, and a promotion starts
  // unfenced.
  FencePlan effective = options_.fence_writes
                            ? plan
                            : FencePlan{0,
                                        "--witness without --fence-writes: unfenced while the "
                                        "node reaches its peer or a witness"};
  try {
    FenceValues found = read_fence_values(connection);
    FenceValues base = operator_values(connection, found);
    FenceValues target =
        fence_target(effective, base, static_cast<int>(options_.fence_max_lag.count()));
    set_fence_values(connection, found, target);
    if (is_local(connection)) remember_fence(FenceRecord{base, target, false});
    log_.info("{} fence: min-replicas-to-write {} (min-replicas-max-lag {} s){}: {}", which,
              target.to_write, target.max_lag, target == base ? ", the operator's own" : "",
              effective.reason);
  } catch (const RedisError& error) {
    log_.warning("{} fence not set: {}", which, error.what());
  }
}

void HookRun::log_decision(const std::string& step, const std::string& reason,
                           const std::string& detail) {
  std::string key = step + "|" + reason;
  if (key == last_decision_) return;
  last_decision_ = key;
  log_.info("decision {}: {} [{}] after {} ms", step, reason, detail, elapsed_ms());
}

void HookRun::count(const std::function<void(InstanceState::Metrics&)>& update) {
  if (!records_) return;
  try {
    records_->update_metrics(update);
  } catch (const StateError& error) {
    log_.repeated_warning("metrics", fmt::format("metrics not counted: {}", error.what()));
  }
}

ExitCode HookRun::finish(Verdict verdict, const std::string& detail) {
  ExitCode code = exit_code_of(verdict);
  const double seconds = static_cast<double>(elapsed_ms()) / 1000.0;
  count([&](InstanceState::Metrics& m) {
    const std::string& hook = options_.tool;
    m[fmt::format("redis_keepalived_hook_runs_total{{hook=\"{}\",verdict=\"{}\"}}", hook,
                  to_string(verdict))] += 1;
    m[fmt::format("redis_keepalived_last_hook_exit_code{{hook=\"{}\"}}", hook)] = to_int(code);
    m[fmt::format("redis_keepalived_last_hook_duration_seconds{{hook=\"{}\"}}", hook)] = seconds;
    // redis_master's whole run is the sync-wait before promotion.
    if (transition_ == Transition::master && verdict != Verdict::superseded)
      m["redis_keepalived_sync_wait_seconds"] = seconds;
    if (transition_ == Transition::master || transition_ == Transition::backup) {
      m["redis_keepalived_split_brain_detected"] = split_brain_ ? 1 : 0;
      if (split_brain_) m["redis_keepalived_split_brain_detected_total"] += 1;
    }
  });
  std::string line = verdict_line(verdict, elapsed_ms(), detail);
  log_.info(line);
  if (records_) {
    try {
      records_->write_last(
          fmt::format("tool={} state={} {}", options_.tool, to_string(transition_), line));
    } catch (const StateError& error) {
      log_.warning("cannot record the verdict: {}", error.what());
    }
  }
  return code;
}

ExitCode HookRun::stop_unchanged(Verdict verdict, const std::string& reason) {
  log_.warning(reason);
  return finish(verdict, "nothing changed: " + reason);
}

}  // namespace rk
