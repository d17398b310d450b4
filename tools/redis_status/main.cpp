// The pair at a glance: roles, link, offsets, lag, VIP and the last hook.
#include "common/cli.hpp"
#include "rk/status.hpp"

int main(int argc, char** argv) {
  static const rk::cli::ToolSpec spec{
      "redis_status", rk::cli::Kind::status,
      "Show the Redis pair at a glance: each node's role, link, offsets and lag, which node "
      "this one follows, whether it holds the VIP (from the hooks' state dir), and the last "
      "transition and what the hook decided. Read-only. --json for machines."};
  return rk::cli::run_tool(spec, argc, argv, &rk::run_status);
}
