// keepalived track_file writer: 0 while the local Redis answers PING, 1 at
// once when it stops (crash, hang, LOADING, BUSY).
#include "common/cli.hpp"
#include "common/tools.hpp"
#include "rk/errors.hpp"
#include "rk/hooks.hpp"

namespace {

rk::ExitCode watch(const rk::ToolOptions& options) {
  if (options.track_file.empty())
    throw rk::UsageError("--track-file FILE is required (the file keepalived's track_file reads)");
  return rk::run_watch(options);
}

}  // namespace

int main(int argc, char** argv) {
  return rk::cli::run_tool(rk::cli::tools::watch, argc, argv, &watch);
}
