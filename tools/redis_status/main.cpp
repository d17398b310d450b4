// The pair at a glance: roles, link, offsets, lag, VIP and the last hook.
#include "common/cli.hpp"
#include "common/tools.hpp"
#include "rk/status.hpp"

int main(int argc, char** argv) {
  return rk::cli::run_tool(rk::cli::tools::status, argc, argv, &rk::run_status);
}
