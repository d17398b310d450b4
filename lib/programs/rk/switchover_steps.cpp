#include "rk/switchover_steps.hpp"

#include <algorithm>

#include "rk/hook_run.hpp"

namespace rk {

SwitchoverSteps::SwitchoverSteps(const ToolOptions& options)
    : options_(options), log_(log_options(options)) {
  log_.open_sinks();
}

ExitCode SwitchoverSteps::finish(Verdict verdict, const std::string& detail) {
  log_.info(verdict_line(verdict, ms_since(started_), detail));
  return exit_code_of(verdict);
}

ExitCode SwitchoverSteps::stop_unchanged(Verdict verdict, const std::string& detail) {
  pause_.reset();
  return finish(verdict, detail);
}

ExitCode SwitchoverSteps::refuse(const std::string& why, const std::string& detail) {
  log_.warning("switchover refused, nothing changed: {}", why);
  return stop_unchanged(Verdict::switchover_refused, detail);
}

std::chrono::milliseconds SwitchoverSteps::pause_window() const {
  return std::max(options_.timeout * 3, std::chrono::milliseconds(300));
}

void SwitchoverSteps::keep_paused() {
  if (pause_) pause_->ensure_open_for(options_.timeout + std::chrono::milliseconds(50));
}

Connection& SwitchoverSteps::local() {
  if (!local_) local_.emplace(Connection::open(local_connection(options_)));
  return *local_;
}

}  // namespace rk
