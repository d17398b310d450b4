// notify_master hook: the sync-wait before promotion.
#include "common/cli.hpp"
#include "common/tools.hpp"
#include "rk/hooks.hpp"

int main(int argc, char** argv) {
  return rk::cli::run_tool(rk::cli::tools::master, argc, argv, &rk::run_master);
}
