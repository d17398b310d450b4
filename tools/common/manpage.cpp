#include "common/manpage.hpp"

#include <cctype>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

#include "common/cli_options.hpp"
#include "common/help.hpp"

namespace rk::cli {
namespace {

bool is_lower(char c) { return std::islower(static_cast<unsigned char>(c)) != 0; }
bool is_upper(char c) { return std::isupper(static_cast<unsigned char>(c)) != 0; }
bool is_digit(char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }

// The length of the option name (--name) that starts at text[at], or 0.
size_t option_name_at(const std::string& text, size_t at) {
  if (text.compare(at, 2, "--") != 0 || at + 2 >= text.size() || !is_lower(text[at + 2])) return 0;
  if (at > 0 && (std::isalnum(static_cast<unsigned char>(text[at - 1])) || text[at - 1] == '-'))
    return 0;
  size_t end = at + 2;
  while (end < text.size() && (is_lower(text[end]) || is_digit(text[end]) || text[end] == '-'))
    ++end;
  return end - at;
}

// text[at] as troff. A plain "-" is a hyphen that groff may print as U+2010,
// which a reader cannot paste into a shell: every dash is \- (the ASCII
// one) but the one between two digits, a range, which is an en dash.
std::string escaped(const std::string& text, size_t at) {
  const char c = text[at];
  if (c == '\\') return "\\e";
  if (c != '-') return std::string(1, c);
  const bool range =
      at > 0 && is_digit(text[at - 1]) && at + 1 < text.size() && is_digit(text[at + 1]);
  return range ? "\\(en" : "\\-";
}

std::string escaped(const std::string& text) {
  std::string out;
  for (size_t at = 0; at < text.size(); ++at) out += escaped(text, at);
  return out;
}

std::string bold(const std::string& text) { return "\\fB" + escaped(text) + "\\fR"; }
std::string italic(const std::string& text) { return "\\fI" + escaped(text) + "\\fR"; }

// The end of the word of characters `in_word` accepts that starts at `at`.
template <typename Predicate>
size_t word_end(const std::string& text, size_t at, Predicate in_word) {
  while (at < text.size() && in_word(text[at])) ++at;
  return at;
}

// .SY/.YS (groff's man extensions): the form's lines hang under the tool's
// name, unjustified.
std::string synopsis_section(const ToolSpec& spec) {
  std::string out;
  for (const std::string& form : synopsis(spec.kind))
    out += fmt::format(".SY {}\n{}\n.YS\n", spec.name, troff_syntax(form));
  return out;
}

std::string option_entry(const ShownOption& option) {
  std::string names;
  std::istringstream split(option.names);
  for (std::string name; std::getline(split >> std::ws, name, ',');)
    names += (names.empty() ? "" : ", ") + bold(name);
  if (!option.metavar.empty()) names += " " + troff_syntax(option.metavar);
  std::string text = troff_text(option.text);
  if (text.back() != '.') text += '.';
  return ".TP\n" + names + "\n" + text + "\n";
}

std::string options_section(const CLI::App& app) {
  std::string out = ".SH OPTIONS\n";
  for (const OptionGroup& group : shown_options(app)) {
    out += fmt::format(".SS \"{}\"\n", group.heading);
    for (const ShownOption& option : group.options) out += option_entry(option);
  }
  return out;
}

std::string header(const ToolSpec& spec, const std::string& package) {
  std::string title = spec.name;
  for (char& c : title) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return fmt::format(
      ".\\\" {0}(1), made by rk_manpage (tools/manpage) from man/{0}.1.in and the options\n"
      ".\\\" {0} itself defines (tools/common): edit those, not this file.\n"
      ".TH \"{1}\" \"1\" \"\" \"{2}\" \"redis-keepalived manual\"\n"
      ".\\\" Tool, option and file names must not be hyphenated: .nh, and HY 0 for\n"
      ".\\\" the macros that set hyphenation again (.YS after the synopsis).\n"
      ".nr HY 0\n"
      ".nh\n",
      spec.name, title, package);
}

}  // namespace

std::string troff_text(const std::string& text) {
  std::string out;
  for (size_t at = 0; at < text.size();) {
    if (size_t length = option_name_at(text, at)) {
      out += bold(text.substr(at, length));
      at += length;
    } else {
      out += escaped(text, at++);
    }
  }
  // A line that starts with . or ' would be a request.
  if (!out.empty() && (out[0] == '.' || out[0] == '\'')) out.insert(0, "\\&");
  return out;
}

std::string troff_syntax(const std::string& text) {
  std::string out;
  for (size_t at = 0; at < text.size();) {
    size_t end = at + option_name_at(text, at);
    if (end > at) {
      out += bold(text.substr(at, end - at));
    } else if (is_upper(text[at])) {
      end = word_end(text, at, [](char c) { return is_upper(c) || is_digit(c) || c == '_'; });
      out += italic(text.substr(at, end - at));
    } else if (is_lower(text[at])) {
      end = word_end(text, at, [](char c) { return is_lower(c) || is_digit(c) || c == '_'; });
      out += bold(text.substr(at, end - at));
    } else {
      out += escaped(text, at);
      end = at + 1;
    }
    at = end;
  }
  return out;
}

std::string man_page(const ToolSpec& spec, const CLI::App& app, const std::string& source,
                     const std::string& package) {
  struct Fill {
    const char* marker;
    std::string text;
  };
  const Fill fills[] = {
      {".\\\" @SYNOPSIS@", synopsis_section(spec)},
      {".\\\" @DESCRIPTION@", troff_text(spec.description) + "\n"},
      {".\\\" @OPTIONS@", options_section(app)},
  };
  // How often each marker was met: exactly once is right.
  std::vector<int> found(std::size(fills), 0);
  std::string page = header(spec, package);
  std::istringstream lines(source);
  for (std::string line; std::getline(lines, line);) {
    const Fill* fill = nullptr;
    for (size_t i = 0; i < std::size(fills); ++i)
      if (line == fills[i].marker) {
        fill = &fills[i];
        ++found[i];
      }
    page += fill != nullptr ? fill->text : line + "\n";
  }
  for (size_t i = 0; i < std::size(fills); ++i)
    if (found[i] != 1)
      throw std::runtime_error(
          fmt::format("the man page source of {} has the line '{}' {} times, "
                      "not once",
                      spec.name, fills[i].marker, found[i]));
  return page;
}

}  // namespace rk::cli
