// notify_backup hook: replicate the peer once that loses nothing.
#include "common/cli.hpp"
#include "common/tools.hpp"
#include "rk/hooks.hpp"

int main(int argc, char** argv) {
  return rk::cli::run_tool(rk::cli::tools::backup, argc, argv, &rk::run_backup);
}
