// vrrp_script check: exits 0 when the local Redis answers PING in time.
#include "common/cli.hpp"
#include "rk/hooks.hpp"

// Set for the static redis_check only: the dynamic twin that runs its TLS
// checks, relative to it (tools/CMakeLists.txt).
#ifndef RK_TLS_TWIN
#define RK_TLS_TWIN nullptr
#endif

int main(int argc, char** argv) {
  static const rk::cli::ToolSpec spec{
      "redis_check", rk::cli::Kind::check,
      "keepalived vrrp_script check: exit 0 when the local Redis answers PING (or MASTERDOWN) "
      "within --timeout, including connect and AUTH; LOADING, BUSY, auth failures, refused and "
      "timed-out connections fail. Read-only; logs only changes of health."};
  return rk::cli::run_tool(spec, argc, argv, &rk::run_check, RK_TLS_TWIN);
}
