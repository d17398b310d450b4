#include "catch_compat.hpp"

#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "common/cli.hpp"
#include "common/tools.hpp"

using namespace rk;

namespace {

// What the last run handed to its tool entry.
ToolOptions seen;
int entries = 0;

ExitCode capture(const ToolOptions& options) {
  seen = options;
  ++entries;
  return ExitCode::success;
}

// Runs the command line `args` (without the program name) through run_tool
// for a tool of `kind`; returns the exit status.
int run(cli::Kind kind, std::vector<std::string> args) {
  const cli::ToolSpec& spec = kind == cli::Kind::check    ? cli::tools::check
                              : kind == cli::Kind::status ? cli::tools::status
                                                          : cli::tools::master;
  args.insert(args.begin(), spec.name);
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  seen = ToolOptions{};
  entries = 0;
  return cli::run_tool(spec, static_cast<int>(argv.size()), argv.data(), &capture);
}

// What `run` writes on stderr (run_tool's one line for an error).
std::string stderr_of(cli::Kind kind, std::vector<std::string> args) {
  std::FILE* captured = std::tmpfile();
  REQUIRE(captured != nullptr);
  std::fflush(stderr);
  const int saved = ::dup(STDERR_FILENO);
  ::dup2(::fileno(captured), STDERR_FILENO);
  run(kind, std::move(args));
  std::fflush(stderr);
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  std::rewind(captured);
  std::string text;
  for (int c = std::fgetc(captured); c != EOF; c = std::fgetc(captured))
    text += static_cast<char>(c);
  std::fclose(captured);
  return text;
}

}  // namespace

TEST_CASE("cli: an error names its option, also one the tool does not show", "[cli]") {
  // --fall is redis_watch's; redis_master accepts it (one --config file
  // serves every tool) without showing it in --help.
  CHECK(stderr_of(cli::Kind::hook, {"--fall", "0"}) ==
        "redis_master: error: --fall: 0 is not a number from 1 to 100\n");
  CHECK(stderr_of(cli::Kind::check, {"--port", "80x"}) ==
        "redis_check: error: --port: 80x is not a number from 1 to 65535\n");
  CHECK(stderr_of(cli::Kind::check, {"--sync-timeout", "x"}).find("--sync-timeout") !=
        std::string::npos);
}

TEST_CASE("cli: the hooks' classic form is all three positionals or none", "[cli]") {
  REQUIRE(run(cli::Kind::hook, {}) == 0);
  CHECK(seen.host == "127.0.0.1");
  CHECK(seen.port == 6379);
  CHECK_FALSE(seen.peer_endpoint);

  REQUIRE(run(cli::Kind::hook, {"10.0.0.1", "10.0.0.2", "6380"}) == 0);
  CHECK(seen.host == "10.0.0.1");
  REQUIRE(seen.peer_endpoint);
  CHECK(seen.peer_endpoint->host == "10.0.0.2");
  CHECK(seen.peer_endpoint->port == 6380);
  CHECK(seen.port == 6380);

  // One or two of them would quietly use the default port: refused, and the
  // tool never runs.
  CHECK(run(cli::Kind::hook, {"10.0.0.1"}) == 2);
  CHECK(run(cli::Kind::hook, {"10.0.0.1", "10.0.0.2"}) == 2);
  CHECK(run(cli::Kind::status, {"10.0.0.1", "10.0.0.2"}) == 2);
  CHECK(run(cli::Kind::hook, {"10.0.0.1", "10.0.0.2", "6380", "extra"}) == 2);
  CHECK(entries == 0);
}

TEST_CASE("cli: positionals win over --host, --port and --peer", "[cli]") {
  REQUIRE(run(cli::Kind::hook, {"--host", "10.9.9.9", "--peer", "10.8.8.8:7000", "10.0.0.1",
                                "10.0.0.2", "6380"}) == 0);
  CHECK(seen.host == "10.0.0.1");
  CHECK(seen.peer_endpoint->host == "10.0.0.2");
  CHECK(seen.peer_endpoint->port == 6380);
}

TEST_CASE("cli: redis_check takes [HOST [PORT]]", "[cli]") {
  REQUIRE(run(cli::Kind::check, {"10.0.0.5"}) == 0);
  CHECK(seen.host == "10.0.0.5");
  CHECK(seen.port == 6379);
  REQUIRE(run(cli::Kind::check, {"10.0.0.5", "6390"}) == 0);
  CHECK(seen.port == 6390);
  CHECK(run(cli::Kind::check, {"10.0.0.5", "abc"}) == 2);
  CHECK(run(cli::Kind::check, {"10.0.0.5", "6390", "x"}) == 2);
}

TEST_CASE("cli: the peer may not be the local Redis itself", "[cli]") {
  CHECK(run(cli::Kind::hook, {"127.0.0.1", "127.0.0.1", "6379"}) == 2);
  CHECK(run(cli::Kind::hook, {"--port", "7000", "--peer", "127.0.0.1:7000"}) == 2);
  CHECK(run(cli::Kind::hook, {"--port", "7000", "--peer", "127.0.0.1:7001"}) == 0);
}

TEST_CASE("cli: defaults and ranges are the library's", "[cli]") {
  const ToolOptions defaults;
  REQUIRE(run(cli::Kind::hook, {}) == 0);
  CHECK(seen.timeout == defaults.timeout);
  CHECK(seen.sync_timeout == defaults.sync_timeout);
  CHECK(seen.backup_grace == defaults.backup_grace);
  CHECK(seen.pause == defaults.pause);
  CHECK(seen.poll == defaults.poll);
  CHECK(seen.peer_silence == defaults.peer_silence);
  CHECK(seen.on_sync_timeout == defaults.on_sync_timeout);
  CHECK(seen.watch_fall == 1);
  CHECK(seen.watch_rise == 1);
  REQUIRE(run(cli::Kind::hook, {"--fall", "3", "--rise", "2"}) == 0);
  CHECK(seen.watch_fall == 3);
  CHECK(seen.watch_rise == 2);
  CHECK(run(cli::Kind::hook, {"--fall", "0"}) == 2);
  CHECK(run(cli::Kind::hook, {"--rise", std::to_string(limits::watch_fall_rise.max + 1)}) == 2);
  CHECK(run(cli::Kind::hook, {"--backup-grace", std::to_string(limits::backup_grace_s.max)}) == 0);
  CHECK(run(cli::Kind::hook, {"--backup-grace", std::to_string(limits::backup_grace_s.max + 1)}) ==
        2);
  CHECK(run(cli::Kind::hook, {"--sync-timeout", std::to_string(limits::sync_timeout_s.max + 1)}) ==
        2);
  CHECK(run(cli::Kind::hook, {"--pause-ms", std::to_string(limits::pause_ms.min - 1)}) == 2);
  CHECK(run(cli::Kind::hook, {"--peer-silence-ms", std::to_string(limits::peer_silence_ms.min)}) ==
        0);
  CHECK(seen.peer_silence.count() == limits::peer_silence_ms.min);
  CHECK_FALSE(seen.fence_writes);
  CHECK(seen.fence_max_lag == defaults.fence_max_lag);
  REQUIRE(run(cli::Kind::hook, {"--fence-writes", "--fence-max-lag", "5"}) == 0);
  CHECK(seen.fence_writes);
  CHECK(seen.fence_max_lag.count() == 5);
  CHECK(run(cli::Kind::hook,
            {"--fence-max-lag", std::to_string(limits::fence_max_lag_s.max + 1)}) == 2);
}
