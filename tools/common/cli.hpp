#pragma once

#include <vector>

#include "rk/exit_code.hpp"
#include "rk/options.hpp"

namespace rk::cli {

// Which positional form and options a tool takes.
enum class Kind {
  check,       // redis_check [HOST [PORT]]
  hook,        // redis_master/redis_backup [LOCAL_HOST PEER_HOST PORT]
  transition,  // redis_fault/redis_stop [LOCAL_HOST PEER_HOST PORT]
  status,      // redis_status [LOCAL_HOST PEER_HOST PORT] [--json]
  watch,       // redis_watch [HOST [PORT]] --track-file FILE
  switchover,  // redis_switchover [LOCAL_HOST PEER_HOST PORT] --maintenance-file FILE
};

// One exit code a tool can return, and what it means for that tool.
struct ExitStatus {
  ExitCode code;
  const char* meaning;
};

struct ToolSpec {
  const char* name;
  Kind kind;
  const char* description;  // the first paragraph of --help and of the man page
  // The exit codes this tool can return (only the notify hooks can be
  // superseded: 3), as --help lists them.
  std::vector<ExitStatus> exit_statuses;
};

using ToolEntry = ExitCode (*)(const ToolOptions&);

// The whole life of a tool: parses argv with CLI11 (and --config), validates,
// runs `entry`, and maps errors to exit codes. The one top-level catch. With
// `tls_twin` (a path relative to this binary) and a TLS option, execs that
// binary with the same argv instead of running `entry`.
int run_tool(const ToolSpec& spec, int argc, char** argv, ToolEntry entry,
             const char* tls_twin = nullptr);

}  // namespace rk::cli
