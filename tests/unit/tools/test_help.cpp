#include "catch_compat.hpp"

#include <iostream>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "common/cli.hpp"
#include "common/cli_options.hpp"
#include "common/help.hpp"
#include "common/manpage.hpp"
#include "common/tools.hpp"

using namespace rk;

namespace {

// What `tool --help` prints, through run_tool as the tool runs it.
std::string help_of(const cli::ToolSpec& spec) {
  std::vector<std::string> args{spec.name, "--help"};
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  std::ostringstream captured;
  std::streambuf* saved = std::cout.rdbuf(captured.rdbuf());
  const int status = cli::run_tool(spec, static_cast<int>(argv.size()), argv.data(),
                                   [](const ToolOptions&) { return ExitCode::success; });
  std::cout.rdbuf(saved);
  REQUIRE(status == 0);
  return captured.str();
}

// The codes of the "Exit status:" block of a --help text.
std::set<int> listed_exit_codes(const std::string& help) {
  const size_t start = help.find("Exit status:\n");
  REQUIRE(start != std::string::npos);
  const std::string block = help.substr(start, help.find("\n\n", start) - start);
  std::set<int> codes;
  const std::regex entry(R"(\n  (\d)  )");
  for (std::sregex_iterator it(block.begin(), block.end(), entry), end; it != end; ++it)
    codes.insert(std::stoi((*it)[1]));
  return codes;
}

// The options `spec`'s tool shows, from the App it parses with.
std::vector<cli::OptionGroup> groups_of(const cli::ToolSpec& spec) {
  ToolOptions options;
  cli::Parsed parsed;
  CLI::App app(spec.description, spec.name);
  cli::define_options(app, spec, options, parsed);
  return cli::shown_options(app);
}

std::string page_of(const cli::ToolSpec& spec, const std::string& source) {
  ToolOptions options;
  cli::Parsed parsed;
  CLI::App app(spec.description, spec.name);
  cli::define_options(app, spec, options, parsed);
  return cli::man_page(spec, app, source, "redis-keepalived 9.9");
}

const char* const kSource =
    ".SH NAME\nredis_check \\- a check\n.SH SYNOPSIS\n.\\\" @SYNOPSIS@\n.SH DESCRIPTION\n"
    ".\\\" @DESCRIPTION@\n.PP\nMore.\n.\\\" @OPTIONS@\n.SH EXIT STATUS\n";

}  // namespace

TEST_CASE("help: no CLI11 type word, positional or flag text in any tool's --help", "[help]") {
  // CLI11's own formatter prints these (a type, a range, a default, its
  // positional "args", its help and version texts).
  const std::regex cli11(
      R"(\b(TEXT|INT|UINT|FLOAT|BOOLEAN)\b|INT:INT|in \[|Positionals|\bargs\b|:\{|)"
      R"(Print this help message|Display program version|=[0-9])");
  for (const cli::ToolSpec* spec : cli::tools::all()) {
    INFO(spec->name);
    const std::string help = help_of(*spec);
    std::smatch found;
    std::regex_search(help, found, cli11);
    INFO("CLI11's words: " << found.str());
    CHECK(found.empty());
    CHECK(help.rfind(std::string("Usage: ") + spec->name + " ", 0) == 0);
  }
}

TEST_CASE("help: every option that takes a value names it in capitals or as choices", "[help]") {
  const std::regex metavar(R"([A-Z][A-Z_]*(\[?[:=][A-Z]+\]?)?|[a-z]+(\|[a-z]+)+)");
  for (const cli::ToolSpec* spec : cli::tools::all()) {
    for (const cli::OptionGroup& group : groups_of(*spec)) {
      for (const cli::ShownOption& option : group.options) {
        INFO(spec->name << " " << option.names << " " << option.metavar);
        if (!option.metavar.empty()) CHECK(std::regex_match(option.metavar, metavar));
        CHECK_FALSE(option.text.empty());
      }
    }
  }
  // A numeric option says its range and default in words.
  const std::string help = help_of(cli::tools::check);
  CHECK(help.find("--port PORT") != std::string::npos);
  CHECK(help.find("(1-65535, default 6379)") != std::string::npos);
  CHECK(help.find("--timeout MS") != std::string::npos);
  CHECK(help.find("--peer HOST[:PORT]") != std::string::npos);
}

TEST_CASE("help: each tool lists its own exit codes; only the notify hooks list 3", "[help]") {
  const std::set<int> hook_codes{0, 1, 2, 3};
  const std::set<int> other_codes{0, 1, 2};
  for (const cli::ToolSpec* spec : cli::tools::all()) {
    INFO(spec->name);
    const bool notify_hook = spec->kind == cli::Kind::hook || spec->kind == cli::Kind::transition;
    CHECK(listed_exit_codes(help_of(*spec)) == (notify_hook ? hook_codes : other_codes));
  }
}

TEST_CASE("help: options a tool does not use are accepted but not shown", "[help]") {
  const std::string check = help_of(cli::tools::check);
  CHECK(check.find("--sync-timeout") == std::string::npos);
  CHECK(check.find("--track-file") == std::string::npos);
  CHECK(check.find("--witness HOST:PORT") != std::string::npos);
  const std::string fault = help_of(cli::tools::fault);
  CHECK(fault.find("--host") == std::string::npos);
  CHECK(fault.find("--state-dir DIR") != std::string::npos);
}

TEST_CASE("help: wrap keeps words whole and lines within the width", "[help]") {
  CHECK(cli::wrap("aaa bbb ccc", 2, 9) == "aaa bbb\n  ccc");
  CHECK(cli::wrap("  one   two ", 0, 80) == "one two");
  CHECK(cli::wrap("averyveryverylongword x", 4, 10) == "averyveryverylongword\n    x");
}

TEST_CASE("manpage: the markers are filled from the tool's own command line", "[manpage]") {
  const std::string page = page_of(cli::tools::check, kSource);
  CHECK(page.find(".TH \"REDIS_CHECK\" \"1\" \"\" \"redis-keepalived 9.9\"") != std::string::npos);
  CHECK(page.find("@SYNOPSIS@") == std::string::npos);
  CHECK(page.find(".SY redis_check\n[\\fIOPTIONS\\fR] [\\fIHOST\\fR [\\fIPORT\\fR]]\n.YS\n") !=
        std::string::npos);
  CHECK(page.find(".SH OPTIONS\n.SS \"Connection\"\n.TP\n\\fB\\-\\-host\\fR \\fIHOST\\fR\n") !=
        std::string::npos);
  CHECK(page.find("Local Redis port (1\\(en65535, default 6379).") != std::string::npos);
  CHECK(page.find(".TP\n\\fB\\-h\\fR, \\fB\\-\\-help\\fR\n") != std::string::npos);
  CHECK(page.find("keepalived vrrp_script check: exit 0") != std::string::npos);
  CHECK(page.find("\n.PP\nMore.\n.SH OPTIONS\n") != std::string::npos);
  CHECK(page.find("--sync-timeout") == std::string::npos);
  CHECK(page.find("sync\\-timeout") == std::string::npos);
}

TEST_CASE("manpage: a source without a marker, or with one twice, is refused", "[manpage]") {
  std::string missing = kSource;
  missing.erase(missing.find(".\\\" @OPTIONS@\n"), 14);
  CHECK_THROWS_AS(page_of(cli::tools::check, missing), std::runtime_error);
  CHECK_THROWS_AS(page_of(cli::tools::check, std::string(kSource) + ".\\\" @SYNOPSIS@\n"),
                  std::runtime_error);
}

TEST_CASE("manpage: troff escapes", "[manpage]") {
  CHECK(cli::troff_text("see --tls-x and min-replicas 1-5") ==
        "see \\fB\\-\\-tls\\-x\\fR and min\\-replicas 1\\(en5");
  CHECK(cli::troff_text(".starts with a dot") == "\\&.starts with a dot");
  CHECK(cli::troff_text("a\\b") == "a\\eb");
  CHECK(cli::troff_syntax("--maintenance-file FILE --status | --rejoin") ==
        "\\fB\\-\\-maintenance\\-file\\fR \\fIFILE\\fR \\fB\\-\\-status\\fR | "
        "\\fB\\-\\-rejoin\\fR");
  CHECK(cli::troff_syntax("HOST[:PORT]") == "\\fIHOST\\fR[:\\fIPORT\\fR]");
  CHECK(cli::troff_syntax("stay|promote") == "\\fBstay\\fR|\\fBpromote\\fR");
}
