#pragma once

// The tools' exit codes are an API: keepalived's vrrp_script treats 0 as
// success and anything else as failure, and operators script against the rest.
// Documented in README.md and in every tool's --help.
namespace rk {

enum class ExitCode : int {
  success = 0,     // the check passed, or the hook reached its goal
  failure = 1,     // the check failed, or the hook could not reach its goal
  usage = 2,       // bad command line or configuration; nothing was done
  superseded = 3,  // a newer hook of the same instance took over
};

// The process exit status for `code`.
constexpr int to_int(ExitCode code) { return static_cast<int>(code); }

// One line for --help and the man pages, listing every exit code.
const char* exit_code_help();

}  // namespace rk
