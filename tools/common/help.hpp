#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "common/cli.hpp"

namespace rk::cli {

// One option as --help and the man page show it.
struct ShownOption {
  std::string names;    // "--port", "-h, --help"
  std::string metavar;  // "PORT", "HOST[:PORT]"; empty for a flag
  std::string text;     // what it does, with its range and default in words
};

struct OptionGroup {
  std::string heading;  // one of group::order (cli_options.hpp)
  std::vector<ShownOption> options;
};

// The options `app` shows, under their headings in group::order, each
// group's options in the order they were defined. Hidden ones
// (group::hidden) and the positionals are left out.
std::vector<OptionGroup> shown_options(const CLI::App& app);

// The words of `text` on lines of at most `width` columns, every line but
// the first after `indent` spaces; no trailing newline.
std::string wrap(const std::string& text, size_t indent, size_t width);

// --help as a tool's own: its usage forms, its description, its options by
// group with their metavariables, its own exit codes, and its man page.
// Replaces CLI11's formatter, which prints type words (TEXT, INT:INT in
// [...]) and its positional "args".
class HelpFormatter : public CLI::FormatterBase {
 public:
  explicit HelpFormatter(const ToolSpec& spec) : spec_(spec) {}
  std::string make_help(const CLI::App* app, std::string name,
                        CLI::AppFormatMode mode) const override;

 private:
  const ToolSpec& spec_;
};

}  // namespace rk::cli
