// Build-time generator of a tool's man page (cmake/Manpages.cmake), not
// installed: rk_manpage TOOL SOURCE PACKAGE OUTPUT writes man/TOOL.1.in
// (SOURCE) with its synopsis, description and options filled from TOOL's
// own command line (tools/common), so that the page and --help agree.
#include <cstdio>
#include <exception>
#include <fstream>
#include <sstream>
#include <string>

#include <CLI/CLI.hpp>

#include "common/cli_options.hpp"
#include "common/manpage.hpp"
#include "common/tools.hpp"

namespace {

const rk::cli::ToolSpec* find_tool(const std::string& name) {
  for (const rk::cli::ToolSpec* spec : rk::cli::tools::all())
    if (name == spec->name) return spec;
  return nullptr;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: rk_manpage TOOL SOURCE PACKAGE OUTPUT\n");
    return 2;
  }
  try {
    const rk::cli::ToolSpec* spec = find_tool(argv[1]);
    if (spec == nullptr) throw std::runtime_error(std::string("no tool named ") + argv[1]);
    rk::ToolOptions options;
    rk::cli::Parsed parsed;
    CLI::App app(spec->description, spec->name);
    rk::cli::define_options(app, *spec, options, parsed);
    const std::string page = rk::cli::man_page(*spec, app, read_file(argv[2]), argv[3]);
    std::ofstream out(argv[4], std::ios::trunc);
    out << page;
    out.close();
    if (!out) throw std::runtime_error(std::string("cannot write ") + argv[4]);
    return 0;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "rk_manpage: %s\n", error.what());
    return 1;
  }
}
