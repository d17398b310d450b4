#pragma once

#include <vector>

#include "common/cli.hpp"

// The eight tools as their --help and man page present them: name, form,
// description and exit codes. Each tools/<tool>/main.cpp runs one; the man
// page generator (tools/manpage) reads them all.
namespace rk::cli::tools {

extern const ToolSpec check;
extern const ToolSpec master;
extern const ToolSpec backup;
extern const ToolSpec fault;
extern const ToolSpec stop;
extern const ToolSpec status;
extern const ToolSpec watch;
extern const ToolSpec switchover;

// Every tool above.
const std::vector<const ToolSpec*>& all();

}  // namespace rk::cli::tools
