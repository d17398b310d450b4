#include "rk/hook_run.hpp"

#include <thread>

#include "rk/errors.hpp"

namespace rk {

HookRun::HookRun(const ToolOptions& options, Transition transition)
    : options_(options),
      transition_(transition),
      log_(log_options(options)),
      state_(options.state_dir, options.instance),
      started_(Clock::now()) {
  log_.open_sinks();
}

bool HookRun::start(Clock::time_point lock_deadline) {
  if (!state_.record(transition_, options_.tool)) {
    log_.info("a newer transition is already recorded; not acting");
    return false;
  }
  log_.info("transition to {} recorded", to_string(transition_));
  // The lock makes sure that at most one hook acts on Redis at a time; an
  // older hook notices the newer record within one poll and releases it.
  holds_lock_ = state_.acquire_action_lock(lock_deadline, options_.poll);
  return holds_lock_ || !state_.superseded();
}

void HookRun::check_superseded() const {
  if (state_.superseded()) throw Superseded{};
}

void HookRun::pause_briefly() const {
  std::this_thread::sleep_for(options_.poll);
  check_superseded();
}

long long ms_since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

long long HookRun::elapsed_ms() const { return ms_since(started_); }

RedisState HookRun::observe(Connection& connection) {
  Reply reply = connection.command({"INFO"});
  if (reply.is_error()) throw ReplyError(reply.error_code(), "INFO refused: " + reply.text);
  if (reply.type != Reply::Type::string) throw ProtocolError("INFO did not return text");
  Result<RedisState> state = parse_info(reply.text);
  if (!state) throw ProtocolError(state.error());
  return state.value();
}

namespace {

// Reads INFO through `connection`, opening it first if needed; forgets the
// connection after any failure (hiredis cannot reuse it after a timeout).
std::optional<RedisState> observe_through(std::optional<Connection>& connection,
                                          const ConnectionOptions& options, Logger& log,
                                          std::string& last_error, const char* which) {
  try {
    if (!connection) connection.emplace(Connection::open(options));
    RedisState state = HookRun::observe(*connection);
    last_error.clear();
    return state;
  } catch (const RedisError& error) {
    connection.reset();
    if (last_error != error.what()) {
      log.info("{} Redis {}:{} not readable: {}", which, options.host, options.port, error.what());
      last_error = error.what();
    }
    return std::nullopt;
  }
}

}  // namespace

std::optional<RedisState> HookRun::observe_local() {
  return observe_through(local_, local_connection(options_), log_, last_local_error_, "local");
}

PeerView HookRun::observe_peer() {
  if (!options_.peer_endpoint) return std::nullopt;
  return observe_through(peer_, peer_connection(options_), log_, last_peer_error_, "peer");
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
    act(connection, {"CONFIG", "REWRITE"});
    log_.info("{} config rewritten in {} ms", which, ms_since(started));
  } catch (const RedisError& error) {
    log_.warning("{} CONFIG REWRITE failed: {}", which, error.what());
  }
}

void HookRun::log_decision(const std::string& step, const std::string& reason,
                           const std::string& detail) {
  std::string key = step + "|" + reason;
  if (key == last_decision_) return;
  last_decision_ = key;
  log_.info("decision {}: {} [{}] after {} ms", step, reason, detail, elapsed_ms());
}

ExitCode HookRun::finish(ExitCode code, const std::string& verdict, const std::string& detail) {
  std::string line = fmt::format("verdict={} exit={} elapsed_ms={} {}", verdict, to_int(code),
                                 elapsed_ms(), detail);
  log_.info(line);
  try {
    state_.write_last(
        fmt::format("tool={} state={} {}", options_.tool, to_string(transition_), line));
  } catch (const UsageError& error) {
    log_.warning("{}", error.what());
  }
  return code;
}

}  // namespace rk
