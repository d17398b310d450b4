#include "common/cli.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "common/cli_options.hpp"
#include "common/help.hpp"
#include "rk/errors.hpp"
#include "rk/openssl.hpp"

namespace rk::cli {
namespace {

// The classic positional form.
void apply_positionals(const CLI::App& app, const ToolSpec& spec, const Parsed& parsed,
                       ToolOptions& options) {
  const auto& args = parsed.positionals;
  // The arguments written in keepalived.conf win over --host/--port/--peer
  // and over a shared --config file, which may name a default for them.
  auto take = [&](size_t index) -> const std::string* {
    return args.size() > index ? &args[index] : nullptr;
  };
  if (app.count("--peer") > 0 && options.peer.empty()) throw UsageError("--peer: empty address");
  if (const std::string* host = take(0)) options.host = *host;
  if (local_only(spec.kind)) {
    if (const std::string* port = take(1)) options.port = parse_port(*port, "PORT");
    return;
  }
  // The classic form is all three or none: with only LOCAL_HOST PEER_HOST
  // the tool would quietly use the default port for both.
  if (args.size() == 1)
    throw UsageError(
        "the classic form is LOCAL_HOST PEER_HOST PORT: PEER_HOST and PORT are missing");
  if (args.size() == 2)
    throw UsageError("the classic form is LOCAL_HOST PEER_HOST PORT: PORT is missing");
  if (const std::string* peer = take(1)) options.peer = *peer;
  if (const std::string* port = take(2)) options.port = parse_port(*port, "PORT");
}

void apply_parsed(const Parsed& parsed, ToolOptions& options) {
  options.timeout = std::chrono::milliseconds(parsed.timeout_ms);
  options.sync_timeout = std::chrono::seconds(parsed.sync_timeout_s);
  options.backup_grace = std::chrono::seconds(parsed.backup_grace_s);
  options.pause = std::chrono::milliseconds(parsed.pause_ms);
  options.poll = std::chrono::milliseconds(parsed.poll_ms);
  options.peer_silence = std::chrono::milliseconds(parsed.peer_silence_ms);
  options.fence_max_lag = std::chrono::seconds(parsed.fence_max_lag_s);
  options.copy_timeout = std::chrono::seconds(parsed.copy_timeout_s);
  options.watch_interval = std::chrono::milliseconds(parsed.watch_interval_ms);
  options.switchover_timeout = std::chrono::milliseconds(parsed.switchover_timeout_ms);
  options.on_sync_timeout =
      parsed.on_sync_timeout == "promote" ? OnSyncTimeout::promote : OnSyncTimeout::stay;
  for (const std::string& rename : parsed.renames) {
    size_t equals = rename.find('=');
    if (equals == std::string::npos || equals == 0 || equals + 1 == rename.size())
      throw UsageError(fmt::format("--rename-command: '{}' is not NAME=NEWNAME", rename));
    std::string name = rename.substr(0, equals);
    for (char& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    options.renamed_commands[name] = rename.substr(equals + 1);
  }
}

// The static redis_check cannot load rk-openssl.so (tools/CMakeLists.txt
// says why): with TLS on, the same command line goes to its dynamic twin,
// `twin` relative to this binary. So far the options were only read:
// nothing was connected, logged or written.
[[noreturn]] void run_tls_twin(const char* twin, char** argv) {
  const std::string path = beside_this_binary(twin);
  ::execv(path.c_str(), argv);
  throw UsageError(
      fmt::format("TLS support is not installed: cannot run {} ({})", path, std::strerror(errno)));
}

// CLI11's messages can span lines; keepalived operators read one.
std::string one_line(std::string text) {
  for (char& c : text)
    if (c == '\n') c = ' ';
  while (!text.empty() && text.back() == ' ') text.pop_back();
  return text;
}

}  // namespace

int run_tool(const ToolSpec& spec, int argc, char** argv, ToolEntry entry, const char* tls_twin) {
  ToolOptions options;
  options.tool = spec.name;
  Parsed parsed;
  CLI::App app(spec.description, spec.name);
  app.formatter(std::make_shared<HelpFormatter>(spec));
  try {
    define_options(app, spec, options, parsed);
    app.parse(argc, argv);
    apply_positionals(app, spec, parsed, options);
    apply_parsed(parsed, options);
    if (const char* password = std::getenv("REDISCLI_AUTH"))
      options.environment_password = password;
    validate(options);
    if (tls_twin != nullptr && options.tls.enabled) run_tls_twin(tls_twin, argv);
    return to_int(entry(options));
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return to_int(ExitCode::success);
  } catch (const CLI::CallForVersion&) {
    std::cout << app.version() << '\n';
    return to_int(ExitCode::success);
  } catch (const CLI::ParseError& error) {
    std::fprintf(stderr, "%s: error: %s\n", spec.name, one_line(error.what()).c_str());
    return to_int(ExitCode::usage);
  } catch (const UsageError& error) {
    std::fprintf(stderr, "%s: error: %s\n", spec.name, one_line(error.what()).c_str());
    return to_int(ExitCode::usage);
  } catch (const std::exception& error) {
    // Anything else is a bug or an environment problem (memory, ...); fail
    // the check or the hook rather than pretend success.
    std::fprintf(stderr, "%s: internal error: %s\n", spec.name, one_line(error.what()).c_str());
    return to_int(ExitCode::failure);
  }
}

}  // namespace rk::cli
