// notify_backup hook: replicate the peer once that loses nothing.
#include "common/cli.hpp"
#include "rk/hooks.hpp"

int main(int argc, char** argv) {
  static const rk::cli::ToolSpec spec{
      "redis_backup", rk::cli::Kind::hook,
      "keepalived notify_backup hook: make the local Redis a replica of the peer once the peer is "
      "a master that is not itself syncing from this node; never replace a non-empty dataset "
      "with an empty peer's."};
  return rk::cli::run_tool(spec, argc, argv, &rk::run_backup);
}
