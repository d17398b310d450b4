#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "rk/exit_code.hpp"
#include "rk/options.hpp"
#include "rk/status_report.hpp"

// redis_status: the pair at a glance, for people and for machines. Read-only.
namespace rk {

// Human-readable lines.
std::string render_text(const StatusReport& report);
// One JSON object, valid UTF-8 whatever bytes the paths and errors hold.
std::string render_json(const StatusReport& report);
// JSON string literal of `text`; bytes that are not valid UTF-8 become U+FFFD.
std::string json_string(const std::string& text);
// redis_status's exit code for `report`: 2 for an unsafe state dir (the
// operator's to fix, as for every tool); 1 when the state dir cannot be read
// (a StateError: the command line was right) or the local Redis cannot; 0
// when both can.
ExitCode status_exit_code(const StatusReport& report);
// Prints the report (JSON with options.json) and returns status_exit_code;
// a state dir that cannot be read is said on stderr too. --clear-stale
// first removes the stale-history record and logs it (exit 1 when it cannot
// be removed, 2 for an unsafe state dir).
ExitCode run_status(const ToolOptions& given);

}  // namespace rk
