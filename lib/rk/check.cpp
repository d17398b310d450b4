// vrrp_script: is the local Redis able to serve? One process, one
// connection, one PING, under one deadline.

#include <sys/time.h>

#include <csignal>
#include <cstdio>

#include <fmt/format.h>

#include "rk/decisions.hpp"
#include "rk/errors.hpp"
#include "rk/hooks.hpp"
#include "rk/instance_state.hpp"
#include "rk/log.hpp"

namespace rk {
namespace {

// keepalived counts a timed-out check as a failure, but only after its own
// `timeout`, and it SIGKILLs us ~2 s later. Name resolution is not bounded by
// hiredis's timeouts, so a real-time timer is the backstop: when it fires,
// SIGALRM's default action ends the process, which keepalived also counts
// as a failure, well before its own timeout.
void arm_backstop(std::chrono::milliseconds budget) {
  std::signal(SIGALRM, SIG_DFL);
  itimerval timer{};
  timer.it_value.tv_sec = static_cast<time_t>(budget.count() / 1000);
  timer.it_value.tv_usec = static_cast<suseconds_t>((budget.count() % 1000) * 1000);
  ::setitimer(ITIMER_REAL, &timer, nullptr);
}

// Records the health and logs only its changes, so a healthy check writes no
// line at every interval. Any state-dir problem is swallowed here: the
// check's verdict must never depend on the state dir (a full /run would
// otherwise move the VIP away from a healthy node).
void record_health(const ToolOptions& options, bool healthy, const std::string& detail) {
  std::string health = healthy ? "healthy" : "unhealthy";
  std::string previous = "unknown";
  std::string state_problem;
  bool no_dir = false;
  try {
    // existing_only: a manual run (as root, say) must not create a dir that
    // the hooks, running as keepalived_script, then cannot use.
    InstanceState state(options.state_dir, options.instance, InstanceState::Access::existing_only);
    std::string recorded = state.read_health();
    if (!state.present()) {
      no_dir = true;
    } else if (recorded == health) {
      // keepalived counts a check it cannot execute as a success, and
      // silently drops one it refuses at start-up: the file's age lets
      // redis_status show whether the check really runs.
      state.touch_health();
      return;
    } else {
      if (!recorded.empty()) previous = recorded;
      state.write_health(health);
    }
  } catch (const std::runtime_error& error) {  // StateError, UnsafeStateDir
    state_problem = error.what();
  }
  if (!state_problem.empty() && healthy) {
    // Without a readable record every run would look like a change: tell a
    // person running the check by hand, and leave syslog to the hooks and
    // redis_status, which report the same problem.
    std::fprintf(stderr, "%s: state dir not used: %s\n", options.tool.c_str(),
                 state_problem.c_str());
    return;
  }
  if (no_dir && healthy) return;  // no state dir yet: nothing to compare with
  Logger log(log_options(options));
  if (healthy)
    log.info("health changed: {} -> healthy ({}:{} answered {})", previous, options.host,
             options.port, detail);
  else
    log.warning("health changed: {} -> unhealthy ({}:{}: {}){}", previous, options.host,
                options.port, detail,
                state_problem.empty() ? ""
                                      : fmt::format(" [state dir not used: {}]", state_problem));
}

}  // namespace

ExitCode run_check(const ToolOptions& given) {
  ToolOptions options = given;
  auto deadline = Clock::now() + options.timeout;
  arm_backstop(options.timeout + std::chrono::milliseconds(100));
  // The password file is read under the backstop, so nothing can hang it.
  resolve_password(options);

  std::optional<Reply> reply;
  std::string problem;
  try {
    Connection connection = Connection::open(local_connection(options), deadline);
    reply = connection.command({"PING"}, deadline);
    if (reply->is_error())
      problem = reply->text;
    else if (!reply->is_status("PONG"))
      problem = fmt::format("reply to PING is not PONG: '{}'", reply->text.substr(0, 80));
  } catch (const RedisError& error) {
    problem = error.what();
  }
  bool healthy = ping_means_healthy(reply);
  record_health(options, healthy, problem.empty() ? std::string("PONG") : problem);
  return healthy ? ExitCode::success : ExitCode::failure;
}

}  // namespace rk
