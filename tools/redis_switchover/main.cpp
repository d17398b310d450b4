// Planned switchover: move the VIP and the master role to the peer, losing
// nothing.
#include "common/cli.hpp"
#include "common/tools.hpp"
#include "rk/hooks.hpp"

int main(int argc, char** argv) {
  return rk::cli::run_tool(rk::cli::tools::switchover, argc, argv, &rk::run_switchover);
}
