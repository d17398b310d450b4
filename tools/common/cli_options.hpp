#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "common/cli.hpp"

namespace rk::cli {

// What the command line gave, before it becomes ToolOptions: the
// positionals, NAME=NEWNAME renames and the durations as plain numbers (the
// library's defaults, ToolOptions' initialisers, are the only ones).
struct Parsed {
  Parsed();
  std::vector<std::string> positionals;
  std::vector<std::string> renames;
  long long timeout_ms;
  long long sync_timeout_s;
  long long backup_grace_s;
  long long pause_ms;
  long long poll_ms;
  long long peer_silence_ms;
  long long fence_max_lag_s;
  long long copy_timeout_s;
  long long watch_interval_ms;
  long long switchover_timeout_ms;
  std::string on_sync_timeout;
};

// The headings --help and the man page group the options under, in the
// order they show. An option under `hidden` is accepted but not shown: one
// --config file serves every tool, so every tool takes every key. (Not
// CLI11's "" for hidden: CLI11 then leaves the option's name out of its
// errors, ": Value 0 not in range 1 to 100".)
namespace group {
constexpr const char* hidden = "(not shown)";
constexpr const char* connection = "Connection";
constexpr const char* tls = "TLS";
constexpr const char* hook = "Hook behaviour";
constexpr const char* fencing = "Fencing";
constexpr const char* sentinel = "Sentinel mode";
constexpr const char* copies = "Kept copies";
constexpr const char* watching = "Watching";
constexpr const char* output = "Output";
constexpr const char* switchover = "Switchover";
constexpr const char* state = "State and logging";
constexpr const char* general = "General";
constexpr const char* order[] = {connection, tls,      hook,   fencing,    sentinel, copies,
                                 watching,   output, switchover, state,   general};
}  // namespace group

// Defines every option of every tool on `app`, bound to `options` and
// `parsed`; the ones `spec`'s tool does not use are hidden. Each option that
// takes a value names it (PORT, MS, FILE, ...) and says its range and default
// in words; CLI11's own type words never show.
void define_options(CLI::App& app, const ToolSpec& spec, ToolOptions& options, Parsed& parsed);

// The forms of a tool's command line after its name, for --help's usage
// and the man page's SYNOPSIS: "[OPTIONS] [HOST [PORT]]", ...
std::vector<std::string> synopsis(Kind kind);

// redis_check and redis_watch take the local Redis as [HOST [PORT]].
bool local_only(Kind kind);

}  // namespace rk::cli
