#include "rk/track_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <random>

#include <fmt/format.h>

#include "rk/errors.hpp"

namespace rk {

void write_track_file(const std::string& path, long value) {
  replace_file(path, fmt::format("{}\n", value));
}

void replace_file(const std::string& path, const std::string& content) {
  std::random_device entropy;
  std::string temp = fmt::format("{}.{}.{:08x}.tmp", path, ::getpid(), entropy());
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) throw StateError(fmt::format("cannot write {}: {}", temp, std::strerror(errno)));
  ssize_t written = ::write(fd, content.data(), content.size());
  int error = written < 0 ? errno : ENOSPC;  // a short write means a full disk
  bool complete = written == static_cast<ssize_t>(content.size());
  if (::close(fd) != 0 && complete) {
    complete = false;
    error = errno;
  }
  // The rename is what keepalived sees (IN_MOVED_TO): never a half value.
  if (complete && ::rename(temp.c_str(), path.c_str()) == 0) return;
  if (complete) error = errno;
  ::unlink(temp.c_str());
  throw StateError(fmt::format("cannot write {}: {}", path, std::strerror(error)));
}

std::optional<long> read_track_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return 0;
    return std::nullopt;
  }
  char buffer[128] = {};
  ssize_t got = ::read(fd, buffer, sizeof(buffer) - 1);
  ::close(fd);
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
