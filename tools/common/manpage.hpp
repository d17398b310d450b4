#pragma once

#include <string>

#include <CLI/CLI.hpp>

#include "common/cli.hpp"

namespace rk::cli {

// The section 1 page of `spec`'s tool: `source` (man/<tool>.1.in, troff)
// after a .TH line naming `package` ("redis-keepalived 1.2.3"), with its
// three marker lines filled from the tool's own command line, so that the
// page and --help cannot disagree:
//   .\" @SYNOPSIS@     the usage forms
//   .\" @DESCRIPTION@  the description --help starts with
//   .\" @OPTIONS@      the OPTIONS section: `app`'s options by group, each
//                      with its metavariable, range and default.
// Throws std::runtime_error when a marker is missing or repeated.
std::string man_page(const ToolSpec& spec, const CLI::App& app, const std::string& source,
                     const std::string& package);

// `text` (plain, one paragraph) as troff: backslashes and dashes escaped,
// option names (--name) in bold, a dash between digits (a range) an en
// dash, and no control character at the start.
std::string troff_text(const std::string& text);

// A usage form or a metavariable as troff: option names and literal
// lower-case words (stay|promote) in bold, the placeholders (FILE, PORT) in
// italics, brackets and separators in roman.
std::string troff_syntax(const std::string& text);

}  // namespace rk::cli
