// notify_stop hook: record the transition so that older hooks stop.
#include "common/cli.hpp"
#include "rk/hooks.hpp"

int main(int argc, char** argv) {
  static const rk::cli::ToolSpec spec{
      "redis_stop", rk::cli::Kind::transition,
      "keepalived notify_stop hook: record the STOP transition so that any older hook of the same "
      "instance stops (exit 3); finishes well within keepalived's 1 s limit for stop notifies; "
      "does not touch Redis."};
  return rk::cli::run_tool(spec, argc, argv, &rk::run_stop);
}
