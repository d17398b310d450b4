#include "rk/bounded_file.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "rk/errors.hpp"

namespace rk {
namespace {

using Clock = std::chrono::steady_clock;

// A file descriptor closed on every path.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

const char* kind_of(mode_t mode) {
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a file";
}

// O_NONBLOCK: open() of a FIFO with no writer would otherwise wait for one
// for good; the fstat() below then refuses it without a single read.
int open_flags(const FileRule& rule) {
  return O_RDONLY | O_CLOEXEC | O_NONBLOCK | (rule.follow_symlink ? 0 : O_NOFOLLOW);
}

[[noreturn]] void refuse_open(const std::string& shown, const FileRule& rule, int error) {
  if (error == ELOOP && !rule.follow_symlink)
    throw UsageError(fmt::format("{} {}: a symlink; refused", rule.option, shown));
  throw UsageError(fmt::format("{} {}: {}", rule.option, shown, std::strerror(error)));
}

std::string too_large(const std::string& shown, const FileRule& rule, unsigned long long size) {
  return fmt::format("{} {}: too large ({} bytes; the bound is {} bytes)", rule.option, shown, size,
                     rule.max_bytes);
}

// Reads the open file `fd` (named `shown` in errors) under `rule`.
FileContent read_open(const Fd& fd, const std::string& shown, const FileRule& rule,
                      Clock::time_point deadline) {
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0)
    throw UsageError(fmt::format("{} {}: {}", rule.option, shown, std::strerror(errno)));
  if (!S_ISREG(info.st_mode))
    throw UsageError(
        fmt::format("{} {}: not a regular file ({})", rule.option, shown, kind_of(info.st_mode)));
  // Refused before a byte is read; the loop below also stops a file that
  // grows while it is read.
  if (static_cast<unsigned long long>(info.st_size) > rule.max_bytes)
    throw UsageError(too_large(shown, rule, static_cast<unsigned long long>(info.st_size)));
  FileContent content;
  content.mode = info.st_mode;
  content.bytes.reserve(static_cast<std::size_t>(info.st_size));
  char buffer[65536];
  for (;;) {
    ssize_t got = ::read(fd.get(), buffer, sizeof(buffer));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0)
      throw UsageError(fmt::format("{} {}: {}", rule.option, shown, std::strerror(errno)));
    if (got == 0) break;
    content.bytes.append(buffer, static_cast<std::size_t>(got));
    if (content.bytes.size() > rule.max_bytes)
      throw UsageError(too_large(shown, rule, content.bytes.size()));
    if (Clock::now() > deadline)
      throw UsageError(fmt::format("{} {}: not read within the deadline", rule.option, shown));
  }
  return content;
}

}  // namespace

FileContent read_option_file(const std::string& path, const FileRule& rule,
                             Clock::time_point deadline) {
  Fd fd(::open(path.c_str(), open_flags(rule)));
  if (fd.get() < 0) refuse_open(path, rule, errno);
  return read_open(fd, path, rule, deadline);
}

std::vector<NamedContent> read_option_directory(
    const std::string& path, const FileRule& rule, std::size_t max_files, std::size_t max_total,
    const std::function<bool(const std::string&)>& wanted, Clock::time_point deadline) {
  Fd dir_fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK));
  if (dir_fd.get() < 0) {
    if (errno == ENOTDIR)
      throw UsageError(fmt::format("{} {}: not a directory", rule.option, path));
    refuse_open(path, FileRule{rule.option, rule.max_bytes, true}, errno);
  }
  std::vector<std::string> names;
  {
    // fdopendir() owns the descriptor from here on; closedir() closes it.
    int listed_fd = ::dup(dir_fd.get());
    DIR* listing = listed_fd < 0 ? nullptr : ::fdopendir(listed_fd);
    if (listing == nullptr) {
      int error = errno;
      if (listed_fd >= 0) ::close(listed_fd);
      refuse_open(path, rule, error);
    }
    while (const dirent* entry = ::readdir(listing)) {
      std::string name = entry->d_name;
      if (name == "." || name == ".." || !wanted(name)) continue;
      if (names.size() == max_files) {
        ::closedir(listing);
        throw UsageError(
            fmt::format("{} {}: too many files (the bound is {})", rule.option, path, max_files));
      }
      names.push_back(std::move(name));
    }
    ::closedir(listing);
  }
  std::sort(names.begin(), names.end());
  std::vector<NamedContent> files;
  std::size_t total = 0;
  for (const std::string& name : names) {
    std::string shown = fmt::format("{}/{}", path, name);
    Fd fd(::openat(dir_fd.get(), name.c_str(), open_flags(rule)));
    if (fd.get() < 0) {
      if (errno == ENOENT) continue;  // a dangling symlink: nothing to trust
      refuse_open(shown, rule, errno);
    }
    FileContent content = read_open(fd, shown, rule, deadline);
    total += content.bytes.size();
    if (total > max_total)
      throw UsageError(
          fmt::format("{} {}: too large ({} bytes in all so far; the bound is {} bytes)",
                      rule.option, path, total, max_total));
    files.push_back(NamedContent{name, std::move(content.bytes)});
  }
  return files;
}

}  // namespace rk
