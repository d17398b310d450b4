#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "rk/exit_code.hpp"
#include "rk/log.hpp"
#include "rk/options.hpp"
#include "rk/promotion.hpp"

namespace rk {

// What both redis_switchover programs share (pair mode's, switchover.cpp,
// and Sentinel mode's, sentinel_switchover.cpp): the options, the log, the
// local Redis's connection and its writes held in windows that are renewed
// while the switchover needs them, and the verdict line that ends it.
class SwitchoverSteps {
 public:
  SwitchoverSteps(const SwitchoverSteps&) = delete;
  SwitchoverSteps& operator=(const SwitchoverSteps&) = delete;

 protected:
  explicit SwitchoverSteps(const ToolOptions& options);
  ~SwitchoverSteps() = default;

  // The summary line (verdict_line) in the log, and the verdict's exit code.
  ExitCode finish(Verdict verdict, const std::string& detail);
  // Ends the switchover with nothing changed: this node unpaused first.
  ExitCode stop_unchanged(Verdict verdict, const std::string& detail);
  // switchover-refused, unpaused: `why` in the log, `detail` on the verdict
  // line.
  ExitCode refuse(const std::string& why, const std::string& detail);

  // The pause is held in windows of a few --timeout, renewed while the
  // switchover needs it: a switchover that is killed (SIGKILL, a crash)
  // leaves at most one window behind, never the whole
  // --switchover-timeout-ms.
  std::chrono::milliseconds pause_window() const;
  // Renews the window when less than one command's time is left of it (when
  // a pause is held). Throws RedisError like WritePause.
  void keep_paused();
  // The local Redis's connection, opened again when a failure dropped it.
  Connection& local();

  ToolOptions options_;
  Logger log_;
  Clock::time_point started_;
  std::optional<Connection> local_;
  // This master's writes while the switchover holds them; declared after
  // local_, whose connection it uses, so that it is lifted first.
  std::optional<WritePause> pause_;
};

}  // namespace rk
