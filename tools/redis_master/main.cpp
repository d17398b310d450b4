// notify_master hook: the sync-wait before promotion.
#include "common/cli.hpp"
#include "rk/hooks.hpp"

int main(int argc, char** argv) {
  static const rk::cli::ToolSpec spec{
      "redis_master", rk::cli::Kind::hook,
      "keepalived notify_master hook: promote the local Redis only once it holds every write its "
      "peer holds (same replid, applied offset at the peer's offset, checked while the peer's "
      "writes are paused), then make the peer replicate this node."};
  return rk::cli::run_tool(spec, argc, argv, &rk::run_master);
}
