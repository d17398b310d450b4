// notify_fault hook: record the transition so that older hooks stop.
#include "common/cli.hpp"
#include "common/tools.hpp"
#include "rk/hooks.hpp"

int main(int argc, char** argv) {
  return rk::cli::run_tool(rk::cli::tools::fault, argc, argv, &rk::run_fault);
}
