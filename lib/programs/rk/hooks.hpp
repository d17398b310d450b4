#pragma once

#include "rk/exit_code.hpp"
#include "rk/instance_state.hpp"
#include "rk/options.hpp"

// One entry point per tool. Each takes validated options (validate()) and
// returns the exit code; the errors that reach a caller are UsageError
// (exit 2: bad options, an unsafe state dir, an unreadable password file).
namespace rk {

// vrrp_script: one bounded PING of the local Redis.
ExitCode run_check(const ToolOptions& given);
// notify_master: the sync-wait before promotion.
ExitCode run_master(const ToolOptions& options);
// notify_backup: replicate the peer once it is safe to.
ExitCode run_backup(const ToolOptions& options);
// The track_file watcher: PING every --interval-ms, 0/1 in --track-file,
// until SIGTERM/SIGINT. UsageError without --track-file.
ExitCode run_watch(const ToolOptions& given);
// A planned switchover to the peer (or --status, --rejoin).
ExitCode run_switchover(const ToolOptions& given);
// notify_fault / notify_stop: record the transition so older hooks stop.
ExitCode run_transition(const ToolOptions& options, Transition transition);
inline ExitCode run_fault(const ToolOptions& options) {
  return run_transition(options, Transition::fault);
}
inline ExitCode run_stop(const ToolOptions& options) {
  return run_transition(options, Transition::stop);
}

}  // namespace rk
