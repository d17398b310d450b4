// vrrp_script: is the local Redis able to serve? One process, one
// connection, one PING, under one deadline.

#include <sys/time.h>

#include <csignal>

#include <fmt/format.h>

#include "rk/errors.hpp"
#include "rk/hooks.hpp"
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

}  // namespace

ExitCode run_check(const ToolOptions& options) {
  auto deadline = Clock::now() + options.timeout;
  arm_backstop(options.timeout + std::chrono::milliseconds(100));

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

  // Read-only towards Redis; the health file only lets us log changes
  // instead of a line every interval forever. 2.2.7 may run two checks at
  // once: the file is replaced atomically, so the worst case is one
  // duplicate line.
  InstanceState state(options.state_dir, options.instance);
  std::string health = healthy ? "healthy" : "unhealthy";
  std::string previous = state.read_health();
  if (previous != health) {
    Logger log(log_options(options));
    std::string detail = problem.empty() ? std::string("PONG") : problem;
    if (healthy)
      log.info("health changed: {} -> healthy ({}:{} answered {})",
               previous.empty() ? "unknown" : previous, options.host, options.port, detail);
    else
      log.warning("health changed: {} -> unhealthy ({}:{}: {})",
                  previous.empty() ? "unknown" : previous, options.host, options.port, detail);
    state.write_health(health);
  } else {
    // keepalived counts a check it cannot execute as a success, and silently
    // drops one it refuses at start-up: the file's age lets redis_status
    // show whether the check really runs.
    state.touch_health();
  }
  return healthy ? ExitCode::success : ExitCode::failure;
}

}  // namespace rk
