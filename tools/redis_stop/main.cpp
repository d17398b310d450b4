// notify_stop hook: record the transition so that older hooks stop.
#include "common/cli.hpp"
#include "common/tools.hpp"
#include "rk/hooks.hpp"

namespace {
rk::ExitCode run_stop(const rk::ToolOptions& options) {
  return rk::run_transition(options, rk::Transition::stop);
}
}  // namespace

int main(int argc, char** argv) {
  return rk::cli::run_tool(rk::cli::tools::stop, argc, argv, &run_stop);
}
