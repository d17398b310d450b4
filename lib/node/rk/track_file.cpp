#include "rk/track_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include <fmt/format.h>

#include "rk/errors.hpp"
#include "rk/instance_state.hpp"

namespace rk {

void write_track_file(const std::string& path, long value) {
  replace_file(path, fmt::format("{}\n", value), OutputFile::track_file);
}

std::string parent_directory(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

namespace {

// The directory of an output file, opened under the trust rules; an invalid
// Fd when it does not exist. The message of a refusal names the option and who acts
// on the file.
Fd open_output_directory(const std::string& dir, const char* option, OutputFile kind) {
  std::string what = option ? fmt::format("{}: directory", option) : std::string("directory");
  try {
    return open_trusted_dir(dir, what.c_str(), false);
  } catch (const UnsafeStateDir& error) {
    const char* why =
        kind == OutputFile::track_file
            ? "keepalived acts on the file as root, so only its owner (the user the tools run "
              "as, or root) may write in that directory"
            : "node_exporter exports whatever that directory holds, so only its owner (the user "
              "the tools run as, or root) may write there; chmod 755 lets node_exporter read it";
    throw UnsafeStateDir(fmt::format("{} ({})", error.what(), why));
  }
}

}  // namespace

bool require_trusted_directory(const std::string& dir, const char* option, OutputFile kind) {
  return open_output_directory(dir, option, kind).valid();
}

void replace_file(const std::string& path, const std::string& content, OutputFile kind) {
  std::string dir = parent_directory(path);
  std::string name = path.substr(path.find_last_of('/') + 1);
  Fd dir_fd = open_output_directory(dir, nullptr, kind);
  if (!dir_fd.valid())
    throw StateError(fmt::format("cannot write {}: directory {} does not exist", path, dir));
  replace_in_dir(dir_fd.get(), dir, name, content, 0644);
}

std::optional<long> read_track_file(const std::string& path) {
  ssize_t got = 0;
  char buffer[128] = {};
  {
    Fd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
    if (!fd.valid()) {
      if (errno == ENOENT) return 0;
      return std::nullopt;
    }
    got = ::read(fd.get(), buffer, sizeof(buffer) - 1);
  }
  if (got < 0) return std::nullopt;
  if (got == 0) return 0;
  char* end = nullptr;
  errno = 0;
  long value = std::strtol(buffer, &end, 0);
  if (errno != 0 || end == buffer) return std::nullopt;
  return value;
}

std::string describe_maintenance(const std::string& path, std::optional<long> value) {
  if (!value) return fmt::format("unknown ({} cannot be read)", path);
  return fmt::format("{} ({} = {})",
                     *value != 0 ? "ON: this node stays out of the election" : "off", path, *value);
}

}  // namespace rk
