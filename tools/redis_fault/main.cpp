// notify_fault hook: record the transition so that older hooks stop.
#include "common/cli.hpp"
#include "rk/hooks.hpp"

int main(int argc, char** argv) {
  static const rk::cli::ToolSpec spec{
      "redis_fault", rk::cli::Kind::transition,
      "keepalived notify_fault hook: record the FAULT transition so that any older hook of the "
      "same instance stops (exit 3); does not touch Redis."};
  return rk::cli::run_tool(spec, argc, argv, &rk::run_fault);
}
