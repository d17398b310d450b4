#include "rk/dataset_copy.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <random>

#include <fmt/format.h>

#include "rk/decisions.hpp"
#include "rk/errors.hpp"
#include "rk/fd.hpp"
#include "rk/instance_state.hpp"

namespace rk {
namespace {

// UTC now, to the millisecond: names sort by time.
std::string utc_now_text() {
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  std::tm parts{};
  gmtime_r(&now.tv_sec, &parts);
  char text[32];
  std::strftime(text, sizeof(text), "%Y%m%dT%H%M%S", &parts);
  return fmt::format("{}.{:03d}Z", text, static_cast<int>(now.tv_nsec / 1000000));
}

std::vector<KeptCopy> list_in(int dir_fd) {
  std::vector<KeptCopy> copies;
  int listing_fd = ::dup(dir_fd);
  if (listing_fd < 0) throw StateError(fmt::format("cannot list copies: {}", std::strerror(errno)));
  DIR* listing = ::fdopendir(listing_fd);
  if (listing == nullptr) {
    ::close(listing_fd);
    throw StateError(fmt::format("cannot list copies: {}", std::strerror(errno)));
  }
  ::rewinddir(listing);
  while (dirent* entry = ::readdir(listing)) {
    CopyName name = CopyName::parse(entry->d_name);
    if (!name.valid()) continue;
    struct stat info {};
    if (::fstatat(dir_fd, entry->d_name, &info, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(info.st_mode))
      continue;
    copies.push_back({name, entry->d_name, static_cast<long long>(info.st_size)});
  }
  ::closedir(listing);
  // The name starts with the time: newest first is reverse name order.
  std::sort(copies.begin(), copies.end(),
            [](const KeptCopy& a, const KeptCopy& b) { return a.file > b.file; });
  return copies;
}

// Writes all of `data` or throws CopyFailed naming the error (ENOSPC for a
// full disk).
void write_all(int fd, const char* data, size_t size, const std::string& path) {
  while (size > 0) {
    ssize_t written = ::write(fd, data, size);
    if (written < 0) {
      if (errno == EINTR) continue;
      throw CopyFailed(fmt::format("cannot write {}: {}", path, std::strerror(errno)));
    }
    data += written;
    size -= static_cast<size_t>(written);
  }
}

}  // namespace

std::vector<KeptCopy> list_kept_copies(const std::string& dir) {
  Fd dir_fd(open_trusted_dir(dir, "copy dir", false));
  if (dir_fd.get() < 0) return {};
  return list_in(dir_fd.get());
}

std::string copy_dir_problem(const std::string& dir, bool create) {
  int fd = -1;
  try {
    fd = open_trusted_dir(dir, "copy dir", create);
  } catch (const std::runtime_error& error) {  // UnsafeStateDir, StateError
    return error.what();
  }
  if (fd < 0) return fmt::format("copy dir {} does not exist", dir);
  ::close(fd);
  // The hooks write the copy as the user they run as (AT_EACCESS: the
  // effective ids, as open() will use them).
  if (::faccessat(AT_FDCWD, dir.c_str(), W_OK | X_OK, AT_EACCESS) != 0)
    return fmt::format("copy dir {} is not writable by uid {}: {}", dir, ::geteuid(),
                       std::strerror(errno));
  return {};
}

namespace {

// ".incoming.PID.RANDOM.tmp": a name no other run picks.
std::string random_temp_name() {
  std::random_device entropy;
  return fmt::format(".incoming.{}.{:08x}.tmp", ::getpid(), entropy());
}

// The copy's temp file, removed on every path unless renamed into place:
// a failed or aborted copy leaves nothing behind.
class IncomingFile {
 public:
  IncomingFile(int dir_fd, const std::string& dir)
      : dir_fd_(dir_fd), name_(random_temp_name()), path_(fmt::format("{}/{}", dir, name_)) {
    fd_ = ::openat(dir_fd_, name_.c_str(),
                   O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
    if (fd_ < 0) throw CopyFailed(fmt::format("cannot create {}: {}", path_, std::strerror(errno)));
  }
  IncomingFile(const IncomingFile&) = delete;
  IncomingFile& operator=(const IncomingFile&) = delete;
  ~IncomingFile() {
    ::close(fd_);
    if (!kept_) ::unlinkat(dir_fd_, name_.c_str(), 0);
  }
  int fd() const { return fd_; }
  const std::string& path() const { return path_; }
  // Renames the complete file to `file`; throws CopyFailed.
  void keep_as(const std::string& file) {
    if (::renameat(dir_fd_, name_.c_str(), dir_fd_, file.c_str()) != 0)
      throw CopyFailed(
          fmt::format("cannot rename {} to {}: {}", path_, file, std::strerror(errno)));
    kept_ = true;
  }

 private:
  int dir_fd_;
  std::string name_;
  std::string path_;
  int fd_ = -1;
  bool kept_ = false;
};

}  // namespace

CopyOutcome keep_dataset_copy(const ConnectionOptions& server, const CopyRequest& request) {
  auto started = Clock::now();
  int opened = -1;
  try {
    opened = open_trusted_dir(request.dir, "copy dir", true);
  } catch (const std::runtime_error& error) {  // UnsafeStateDir, StateError
    // Only this step needs the dir: a problem with it fails the copy, never
    // the hook that asked for it.
    throw CopyFailed(error.what());
  }
  Fd dir_fd(opened);
  IncomingFile incoming(dir_fd.get(), request.dir);

  RdbSnapshot snapshot;
  try {
    Connection connection =
        Connection::open(server, std::min(request.deadline, Clock::now() + server.connect_timeout));
    snapshot = connection.fetch_rdb(
        [&](const char* data, size_t size) {
          write_all(incoming.fd(), data, size, incoming.path());
        },
        request.deadline, request.between_waits, request.wait_slice);
    if (::fsync(incoming.fd()) != 0)
      throw CopyFailed(fmt::format("cannot write {}: {}", incoming.path(), std::strerror(errno)));
  } catch (const TimeoutError& error) {
    throw CopyFailed(fmt::format("no complete copy from {}:{} before the copy timeout ({})",
                                 server.host, server.port, error.what()));
  } catch (const RedisError& error) {
    throw CopyFailed(
        fmt::format("{}:{} did not send its dataset: {}", server.host, server.port, error.what()));
  }

  CopyName name{utc_now_text(), request.source, snapshot.replid, request.fork_offset,
                snapshot.offset};
  KeptCopy copy{name, name.text(), snapshot.bytes};
  incoming.keep_as(copy.file);
  // The rename is durable once the directory is: the copy must survive a
  // crash of this node right after the resync it protects.
  ::fsync(dir_fd.get());

  CopyOutcome outcome{copy, 0, {}};
  try {
    for (const std::string& file : copies_beyond_retention(list_in(dir_fd.get()), copy.file,
                                                           request.keep_count, request.keep_bytes))
      if (::unlinkat(dir_fd.get(), file.c_str(), 0) == 0) outcome.pruned.push_back(file);
  } catch (const StateError&) {
    // The copy is kept; only the pruning of older ones failed.
  }
  outcome.elapsed_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count();
  return outcome;
}

}  // namespace rk
