#include "common/help.hpp"

#include <algorithm>
#include <sstream>

#include "common/cli_options.hpp"

namespace rk::cli {
namespace {

// --help fits an 80-column terminal; option texts start at column 30.
constexpr size_t kWidth = 80;
constexpr size_t kTextColumn = 30;

ShownOption shown(const CLI::Option& option) {
  std::string names;
  for (const std::string& name : option.get_snames()) names += "-" + name + ", ";
  for (const std::string& name : option.get_lnames()) names += "--" + name + ", ";
  names.resize(names.size() - 2);
  // A flag takes no value (type size 0): it has no metavariable.
  std::string metavar = option.get_type_size() != 0 ? option.get_type_name() : "";
  return {names, metavar, option.get_description()};
}

// The line (or lines) of one option: names and metavariable, then its text
// at kTextColumn, on the next line when the names reach it.
std::string option_lines(const ShownOption& option) {
  std::string left = "  " + option.names;
  if (!option.metavar.empty()) left += " " + option.metavar;
  if (left.size() + 2 > kTextColumn)
    left += "\n" + std::string(kTextColumn, ' ');
  else
    left.resize(kTextColumn, ' ');
  return left + wrap(option.text, kTextColumn, kWidth) + "\n";
}

std::string usage(const ToolSpec& spec) {
  std::string text;
  const std::string first = "Usage: ";
  for (const std::string& form : synopsis(spec.kind)) {
    text += (text.empty() ? first : std::string(first.size(), ' ')) + spec.name + " " + form;
    text += "\n";
  }
  return text;
}

std::string exit_statuses(const ToolSpec& spec) {
  if (spec.exit_statuses.empty()) return "";
  std::string text = "Exit status:\n";
  for (const ExitStatus& status : spec.exit_statuses)
    text +=
        "  " + std::to_string(to_int(status.code)) + "  " + wrap(status.meaning, 5, kWidth) + "\n";
  return text + "\n";
}

}  // namespace

std::vector<OptionGroup> shown_options(const CLI::App& app) {
  std::vector<OptionGroup> groups;
  for (const char* heading : group::order) groups.push_back({heading, {}});
  for (const CLI::Option* option : app.get_options()) {
    const std::string& heading = option->get_group();
    if (!option->nonpositional() || heading == group::hidden) continue;
    auto known = std::find_if(groups.begin(), groups.end(),
                              [&](const OptionGroup& group) { return group.heading == heading; });
    if (known == groups.end()) known = groups.insert(groups.end(), OptionGroup{heading, {}});
    known->options.push_back(shown(*option));
  }
  groups.erase(std::remove_if(groups.begin(), groups.end(),
                              [](const OptionGroup& group) { return group.options.empty(); }),
               groups.end());
  return groups;
}

std::string wrap(const std::string& text, size_t indent, size_t width) {
  std::istringstream words(text);
  std::string out;
  std::string word;
  size_t column = indent;
  bool first = true;
  while (words >> word) {
    if (!first && column + 1 + word.size() > width) {
      out += "\n" + std::string(indent, ' ');
      column = indent;
    } else if (!first) {
      out += ' ';
      ++column;
    }
    out += word;
    column += word.size();
    first = false;
  }
  return out;
}

std::string HelpFormatter::make_help(const CLI::App* app, std::string /*name*/,
                                     CLI::AppFormatMode /*mode*/) const {
  std::string text = usage(spec_) + "\n" + wrap(spec_.description, 0, kWidth) + "\n\n";
  for (const OptionGroup& group : shown_options(*app)) {
    text += group.heading + ":\n";
    for (const ShownOption& option : group.options) text += option_lines(option);
    text += "\n";
  }
  text += exit_statuses(spec_);
  return text + "See the " + spec_.name + "(1) man page.\n";
}

}  // namespace rk::cli
