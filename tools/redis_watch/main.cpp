// keepalived track_file writer: 0 while the local Redis answers PING, 1 at
// once when it stops (crash, hang, LOADING, BUSY).
#include "common/cli.hpp"
#include "common/tools.hpp"
#include "rk/hooks.hpp"

int main(int argc, char** argv) {
  return rk::cli::run_tool(rk::cli::tools::watch, argc, argv, &rk::run_watch);
}
