// vrrp_script check: exits 0 when the local Redis answers PING in time.
#include "common/cli.hpp"
#include "common/tools.hpp"
#include "rk/hooks.hpp"

// Set for the static redis_check only: the dynamic twin that runs its TLS
// checks, relative to it (tools/CMakeLists.txt).
#ifndef RK_TLS_TWIN
#define RK_TLS_TWIN nullptr
#endif

int main(int argc, char** argv) {
  return rk::cli::run_tool(rk::cli::tools::check, argc, argv, &rk::run_check, RK_TLS_TWIN);
}
