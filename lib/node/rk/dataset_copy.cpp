#include "rk/dataset_copy.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

#include <fmt/format.h>

#include "rk/decisions.hpp"
#include "rk/dir_listing.hpp"
#include "rk/errors.hpp"
#include "rk/fd.hpp"
#include "rk/instance_state.hpp"
#include "rk/temp_file.hpp"

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
  DirListing listing(dir_fd);
  if (listing.error() != 0)
    throw StateError(fmt::format("cannot list copies: {}", std::strerror(listing.error())));
  while (const char* file = listing.next()) {
    CopyName name = CopyName::parse(file);
    if (!name.valid()) continue;
    struct stat info {};
    if (::fstatat(dir_fd, file, &info, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(info.st_mode))
      continue;
    copies.push_back({name, file, static_cast<long long>(info.st_size)});
  }
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
  Fd dir_fd = open_trusted_dir(dir, "copy dir", false);
  if (!dir_fd.valid()) return {};
  return list_in(dir_fd.get());
}

std::string copy_dir_problem(const std::string& dir, bool create) {
  try {
    if (!open_trusted_dir(dir, "copy dir", create).valid())
      return fmt::format("copy dir {} does not exist", dir);
  } catch (const std::runtime_error& error) {  // UnsafeStateDir, StateError
    return error.what();
  }
  // The hooks write the copy as the user they run as (AT_EACCESS: the
  // effective ids, as open() will use them).
  if (::faccessat(AT_FDCWD, dir.c_str(), W_OK | X_OK, AT_EACCESS) != 0)
    return fmt::format("copy dir {} is not writable by uid {}: {}", dir, ::geteuid(),
                       std::strerror(errno));
  return {};
}

CopyOutcome keep_dataset_copy(const ConnectionOptions& server, const CopyRequest& request) {
  auto started = Clock::now();
  Fd dir_fd;
  try {
    dir_fd = open_trusted_dir(request.dir, "copy dir", true);
  } catch (const std::runtime_error& error) {  // UnsafeStateDir, StateError
    // Only this step needs the dir: a problem with it fails the copy, never
    // the hook that asked for it.
    throw CopyFailed(error.what());
  }
  // ".incoming.PID.RANDOM.tmp", removed on every path unless renamed into
  // place: a failed or aborted copy leaves nothing behind.
  TempFile incoming(dir_fd.get(), ".incoming", 0600);
  const std::string incoming_path = fmt::format("{}/{}", request.dir, incoming.name());
  if (incoming.open_error() != 0)
    throw CopyFailed(
        fmt::format("cannot create {}: {}", incoming_path, std::strerror(incoming.open_error())));

  RdbSnapshot snapshot;
  try {
    Connection connection =
        Connection::open(server, std::min(request.deadline, Clock::now() + server.connect_timeout));
    snapshot = connection.fetch_rdb(
        [&](const char* data, size_t size) { write_all(incoming.fd(), data, size, incoming_path); },
        request.deadline, request.between_waits, request.wait_slice);
    if (::fsync(incoming.fd()) != 0)
      throw CopyFailed(fmt::format("cannot write {}: {}", incoming_path, std::strerror(errno)));
  } catch (const TimeoutError& error) {
    throw CopyFailed(fmt::format("no complete copy from {} before the copy timeout ({})",
                                 server.endpoint().text(), error.what()));
  } catch (const RedisError& error) {
    throw CopyFailed(
        fmt::format("{} did not send its dataset: {}", server.endpoint().text(), error.what()));
  }

  CopyName name{utc_now_text(), request.source, snapshot.replid, request.fork_offset,
                snapshot.offset};
  KeptCopy copy{name, name.text(), snapshot.bytes};
  if (int error = incoming.commit(copy.file); error != 0)
    throw CopyFailed(
        fmt::format("cannot rename {} to {}: {}", incoming_path, copy.file, std::strerror(error)));
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
