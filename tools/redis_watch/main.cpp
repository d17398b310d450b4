// keepalived track_file writer: 0 while the local Redis answers PING, 1 at
// once when it stops (crash, hang, LOADING, BUSY).
#include "common/cli.hpp"
#include "rk/hooks.hpp"

int main(int argc, char** argv) {
  static const rk::cli::ToolSpec spec{
      "redis_watch", rk::cli::Kind::watch,
      "keepalived track_file watcher: keeps one connection to the local Redis, PINGs it every "
      "--interval-ms with its own deadline, and writes 0 (healthy: PONG or MASTERDOWN) or 1 (a "
      "closed or refused connection, a missed deadline, LOADING, BUSY) to --track-file at start "
      "and at every change, so that keepalived moves the VIP at once. Runs in the foreground "
      "until SIGTERM/SIGINT (then removes the file: keepalived reads a missing file as 0, and "
      "redis_check decides alone); SIGHUP reopens the log file."};
  return rk::cli::run_tool(spec, argc, argv, &rk::run_watch);
}
