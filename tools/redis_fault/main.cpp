// notify_fault hook: record the transition so that older hooks stop.
#include "common/cli.hpp"
#include "common/tools.hpp"
#include "rk/hooks.hpp"

namespace {
rk::ExitCode run_fault(const rk::ToolOptions& options) {
  return rk::run_transition(options, rk::Transition::fault);
}
}  // namespace

int main(int argc, char** argv) {
  return rk::cli::run_tool(rk::cli::tools::fault, argc, argv, &run_fault);
}
