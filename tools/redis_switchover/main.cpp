// Planned switchover: move the VIP and the master role to the peer, losing
// nothing.
#include "common/cli.hpp"
#include "rk/hooks.hpp"

int main(int argc, char** argv) {
  static const rk::cli::ToolSpec spec{
      "redis_switchover", rk::cli::Kind::switchover,
      "Planned switchover, run on the VIP holder: pause the local master's writes, wait until "
      "the peer has applied all of them (else unpause, keep the VIP, exit 1), promote the peer, "
      "make this node its replica, and hand the VIP over through the maintenance track_file "
      "(1 puts this node in FAULT); then clear it, unless --stay-out. --status prints the "
      "maintenance flag; --rejoin clears it."};
  return rk::cli::run_tool(spec, argc, argv, &rk::run_switchover);
}
