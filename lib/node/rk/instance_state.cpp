#include "rk/instance_state.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "rk/errors.hpp"
#include "rk/temp_file.hpp"

namespace rk {
namespace {

// Every file the tools read here is a line or a few; more is not ours.
constexpr size_t kMaxStateFile = size_t{64} * 1024;

// Reads at most kMaxStateFile bytes of an open regular file.
std::string read_fd(int fd) {
  std::string content;
  char buffer[4096];
  while (content.size() < kMaxStateFile) {
    ssize_t got = ::read(fd, buffer, sizeof(buffer));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    content.append(buffer, static_cast<size_t>(got));
  }
  return content;
}

// A kernel file (/proc, /sys): regular, never a FIFO.
std::string read_kernel_file(const char* path) {
  Fd fd(::open(path, O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return {};
  return read_fd(fd.get());
}

std::string this_boot_id() {
  std::string id = read_kernel_file("/proc/sys/kernel/random/boot_id");
  while (!id.empty() && id.back() == '\n') id.pop_back();
  return id;
}

// Field 22 of /proc/PID/stat is the start time in clock ticks since boot.
// Field 2 (comm) may hold spaces, so count from the closing parenthesis.
// 0 when the process does not exist.
unsigned long long start_ticks_in(const std::string& stat) {
  size_t close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(stat.substr(close + 2));
  std::string item;
  for (int fieldno = 3; fieldno < 22 && rest >> item; ++fieldno) {
  }
  unsigned long long ticks = 0;
  rest >> ticks;
  return ticks;
}

unsigned long long start_ticks_of(const std::string& stat_path) {
  return start_ticks_in(read_kernel_file(stat_path.c_str()));
}

// Why `info` (the state dir's fstat) must not be trusted; "" when it may.
std::string distrust_reason(const struct stat& info) {
  if (!S_ISDIR(info.st_mode)) return "is not a directory";
  uid_t me = ::geteuid();
  if (info.st_uid != me && info.st_uid != 0)
    return fmt::format(
        "is owned by uid {}, neither the running user (uid {}) nor root; "
        "chown it to the user the hooks run as",
        info.st_uid, me);
  if ((info.st_mode & (S_IWGRP | S_IWOTH)) != 0)
    return fmt::format("is writable by group or others (mode {:o}); chmod 700 it",
                       info.st_mode & 07777);
  return {};
}

std::string errno_text(int error) { return std::strerror(error); }

}  // namespace

std::string utc_time_text() {
  std::time_t now = std::time(nullptr);
  std::tm parts{};
  gmtime_r(&now, &parts);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &parts);
  return text;
}

std::string record_field(const std::string& record, const std::string& key) {
  std::istringstream lines(record);
  std::string line;
  while (std::getline(lines, line))
    if (line.compare(0, key.size() + 1, key + "=") == 0) return line.substr(key.size() + 1);
  return {};
}

const char* to_string(Transition transition) {
  switch (transition) {
    case Transition::master: return "MASTER";
    case Transition::backup: return "BACKUP";
    case Transition::fault: return "FAULT";
    case Transition::stop: return "STOP";
  }
  return "UNKNOWN";
}

std::string Generation::text() const { return fmt::format("{}/{}/{}", boot_id, start_ticks, pid); }

Generation Generation::parse(const std::string& text) {
  Generation generation;
  size_t first = text.find('/');
  size_t second = text.find('/', first == std::string::npos ? first : first + 1);
  if (first == std::string::npos || second == std::string::npos) return generation;
  try {
    generation.boot_id = text.substr(0, first);
    generation.start_ticks = std::stoull(text.substr(first + 1, second - first - 1));
    generation.pid = std::stol(text.substr(second + 1));
  } catch (const std::exception&) {
    return Generation{};
  }
  return generation;
}

Generation Generation::of_this_process() {
  Generation generation;
  generation.boot_id = this_boot_id();
  generation.start_ticks = start_ticks_of("/proc/self/stat");
  generation.pid = static_cast<long>(::getpid());
  return generation;
}

bool Generation::newer_than(const Generation& other) const {
  if (boot_id != other.boot_id) return true;
  if (start_ticks != other.start_ticks) return start_ticks > other.start_ticks;
  return pid > other.pid;
}

bool Generation::plausible(const std::string& this_boot, unsigned long long now_ticks) const {
  return boot_id != this_boot || start_ticks <= now_ticks;
}

unsigned long long boot_ticks_now() {
  timespec now{};
  ::clock_gettime(CLOCK_BOOTTIME, &now);
  auto ticks_per_second = static_cast<unsigned long long>(::sysconf(_SC_CLK_TCK));
  return static_cast<unsigned long long>(now.tv_sec) * ticks_per_second +
         static_cast<unsigned long long>(now.tv_nsec) * ticks_per_second / 1000000000ULL;
}

bool generation_running(const Generation& generation) {
  if (generation.pid <= 0) return false;
  if (!generation.boot_id.empty() && generation.boot_id != this_boot_id()) return false;
  std::string stat = read_kernel_file(fmt::format("/proc/{}/stat", generation.pid).c_str());
  // Field 3, after the parenthesised comm, is the state: Z for a zombie, X
  // for a dead process.
  size_t close = stat.rfind(')');
  if (close == std::string::npos || close + 2 >= stat.size()) return false;
  char state = stat[close + 2];
  if (state == 'Z' || state == 'X') return false;
  return generation.start_ticks == 0 || start_ticks_in(stat) == generation.start_ticks;
}

Fd open_trusted_dir(const std::string& dir, const char* what, bool create) {
  if (create) {
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      // A path through a regular file is a configuration error, not I/O.
      if (errno == ENOTDIR)
        throw UnsafeStateDir(
            fmt::format("{} {}: a component of the path is not a directory; use a real "
                        "directory (mode 700)",
                        what, dir));
      throw StateError(fmt::format("cannot create {} {}: {}", what, dir, errno_text(errno)));
    }
  }
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) {
    int error = errno;
    if (error == ENOENT && !create) return fd;
    if (error == ELOOP || error == ENOTDIR)
      throw UnsafeStateDir(
          fmt::format("{} {} is a symlink or not a directory; use a real directory (mode 700)",
                      what, dir));
    throw StateError(fmt::format("cannot open {} {}: {}", what, dir, errno_text(error)));
  }
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0) {
    int error = errno;
    throw StateError(fmt::format("cannot stat {} {}: {}", what, dir, errno_text(error)));
  }
  // keepalived runs scripts with umask 0177, which leaves a new dir at 0600
  // (not even its owner could enter it): set 0700 on one this tool made.
  if (create && info.st_uid == ::geteuid() && (info.st_mode & 07777) == 0600 &&
      ::fchmod(fd.get(), 0700) == 0)
    info.st_mode = (info.st_mode & ~07777U) | 0700;
  std::string why = distrust_reason(info);
  if (!why.empty()) throw UnsafeStateDir(fmt::format("{} {} {}", what, dir, why));
  return fd;
}

InstanceState::InstanceState(std::string dir, std::string instance, Access access)
    : dir_(std::move(dir)), instance_(std::move(instance)) {
  if (instance_.empty() || instance_.find('/') != std::string::npos || instance_[0] == '.')
    throw UsageError(fmt::format("invalid instance name '{}'", instance_));
  dir_fd_ = open_trusted_dir(dir_, "state dir", access == Access::create);
}

std::string InstanceState::name(const char* suffix) const {
  return fmt::format("{}.{}", instance_, suffix);
}

Fd InstanceState::open_regular(const char* suffix, int flags) const {
  // O_NOFOLLOW: a symlink planted here must not redirect a write by root.
  // O_NONBLOCK: a FIFO planted here must not hang a hook (keepalived kills a
  // STOP notify after ~1 s, and the others hold the action lock).
  std::string file = name(suffix);
  Fd fd(::openat(dir_fd_.get(), file.c_str(), flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600));
  if (!fd.valid()) {
    if (errno == ENOENT && (flags & O_CREAT) == 0) return fd;
    if (errno == ELOOP) throw StateError(fmt::format("{}/{} is a symlink; refused", dir_, file));
    throw StateError(fmt::format("cannot open {}/{}: {}", dir_, file, errno_text(errno)));
  }
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0 || !S_ISREG(info.st_mode))
    throw StateError(fmt::format("{}/{} is not a regular file; refused", dir_, file));
  return fd;
}

std::string InstanceState::read(const char* suffix) const {
  if (!present()) return {};
  Fd fd = open_regular(suffix, O_RDONLY);
  if (!fd.valid()) return {};
  return read_fd(fd.get());
}

void InstanceState::write(const char* suffix, const std::string& content) const {
  if (!present()) return;
  replace_in_dir(dir_fd_.get(), dir_, name(suffix), content, 0600);
}

void replace_in_dir(int dir_fd, const std::string& dir, const std::string& name,
                    const std::string& content, mode_t mode) {
  TempFile temp(dir_fd, name, mode);
  if (temp.open_error() != 0)
    throw StateError(
        fmt::format("cannot write {}/{}: {}", dir, temp.name(), errno_text(temp.open_error())));
  ssize_t written = ::write(temp.fd(), content.data(), content.size());
  // A short write means the disk is full.
  int error = written < 0 ? errno : ENOSPC;
  bool complete = written == static_cast<ssize_t>(content.size());
  int closed = temp.close();
  if (closed != 0 && complete) {
    complete = false;
    error = closed;
  }
  if (complete) {
    int renamed = temp.commit(name);
    if (renamed == 0) return;
    error = renamed;
  }
  // The temp file is removed as `temp` goes.
  throw StateError(fmt::format("cannot write {}/{}: {}", dir, name, errno_text(error)));
}

bool InstanceState::record(Transition transition, const std::string& tool) {
  return record(transition, tool, Generation::of_this_process());
}

bool InstanceState::record(Transition transition, const std::string& tool,
                           const Generation& generation) {
  if (!present()) throw StateError(fmt::format("state dir {} does not exist", dir_));
  // A short exclusive flock on a separate file makes the read-compare-write
  // atomic between hooks; readers never need it (the write is a rename).
  mine_ = generation;
  // Closing the guard (on every path) releases the flock.
  Fd guard = open_regular("state.guard", O_RDWR | O_CREAT);
  while (::flock(guard.get(), LOCK_EX) != 0 && errno == EINTR) {
  }
  Generation recorded = Generation::parse(record_field(read("state"), "generation"));
  bool newest = recorded.pid == 0 || !recorded.plausible(this_boot_id(), boot_ticks_now()) ||
                mine_.newer_than(recorded);
  if (newest)
    write("state", fmt::format("generation={}\nstate={}\ntool={}\npid={}\ntime={}\n", mine_.text(),
                               to_string(transition), tool, mine_.pid, utc_time_text()));
  return newest;
}

bool InstanceState::superseded() const {
  if (mine_.pid == 0) return false;  // never recorded: nothing to supersede
  std::string recorded = record_field(read("state"), "generation");
  if (recorded.empty() || recorded == mine_.text()) return false;
  // Only a plausible, newer record supersedes this hook.
  Generation other = Generation::parse(recorded);
  return other.pid != 0 && other.plausible(mine_.boot_id, boot_ticks_now()) &&
         other.newer_than(mine_);
}

bool InstanceState::acquire_action_lock(std::chrono::steady_clock::time_point deadline,
                                        std::chrono::milliseconds poll) {
  if (!lock_fd_.valid()) lock_fd_ = open_regular("lock", O_RDWR | O_CREAT);
  for (;;) {
    if (superseded()) return false;
    if (::flock(lock_fd_.get(), LOCK_EX | LOCK_NB) == 0) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(poll);
  }
}

namespace {
std::string first_line(std::string text) {
  size_t newline = text.find('\n');
  if (newline != std::string::npos) text.resize(newline);
  return text;
}
}  // namespace

void InstanceState::write_last(const std::string& line) const { write("last", line + "\n"); }

std::string InstanceState::read_last() const { return first_line(read("last")); }

std::string InstanceState::read_health() const { return first_line(read("health")); }

void InstanceState::write_health(const std::string& health) const {
  write("health", health + "\n");
}

void InstanceState::touch(const char* suffix) const {
  if (!present()) return;
  // A failed touch only makes the age look older; never fail the caller.
  ::utimensat(dir_fd_.get(), name(suffix).c_str(), nullptr, AT_SYMLINK_NOFOLLOW);
}

long long InstanceState::age_seconds(const char* suffix) const {
  if (!present()) return -1;
  struct stat info {};
  if (::fstatat(dir_fd_.get(), name(suffix).c_str(), &info, AT_SYMLINK_NOFOLLOW) != 0 ||
      !S_ISREG(info.st_mode))
    return -1;
  return std::max<long long>(0, static_cast<long long>(std::time(nullptr) - info.st_mtime));
}

void InstanceState::touch_health() const { touch("health"); }
long long InstanceState::health_age_seconds() const { return age_seconds("health"); }

std::string InstanceState::read_fence() const { return read("fence"); }
void InstanceState::write_fence(const std::string& record) const { write("fence", record); }
std::string InstanceState::read_stale() const { return read("stale"); }
void InstanceState::write_stale(const std::string& record) const { write("stale", record); }

bool InstanceState::remove_stale() const {
  if (!present()) return false;
  // unlinkat never follows a symlink: a planted one is removed, not its target.
  if (::unlinkat(dir_fd_.get(), name("stale").c_str(), 0) == 0) return true;
  if (errno == ENOENT) return false;
  throw StateError(fmt::format("cannot remove {}/{}: {}", dir_, name("stale"), errno_text(errno)));
}

std::string InstanceState::read_watch() const { return read("watch"); }
void InstanceState::write_watch(const std::string& record) const { write("watch", record); }
void InstanceState::touch_watch() const { touch("watch"); }
long long InstanceState::watch_age_seconds() const { return age_seconds("watch"); }

namespace {

InstanceState::Metrics parse_metrics(const std::string& text) {
  InstanceState::Metrics metrics;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    size_t space = line.rfind(' ');
    if (line.empty() || line[0] == '#' || space == std::string::npos) continue;
    try {
      metrics[line.substr(0, space)] = std::stod(line.substr(space + 1));
    } catch (const std::exception&) {
      // A damaged line is dropped, not fatal: the counter restarts.
    }
  }
  return metrics;
}

}  // namespace

std::string WatchRecord::text() const {
  return fmt::format(
      "pid={}\ngeneration={}\nhealth={}\nsince={}\ntrack_file={}\nheartbeat_bound_s={}\nmode={}\n",
      generation.pid, generation.text(), health, since, track_file, heartbeat_bound.count(),
      sentinel_mode ? "sentinel" : "pair");
}

WatchRecord WatchRecord::parse(const std::string& text) {
  // A number field, or `fallback` when it is missing or malformed.
  auto number = [&text](const char* key, long long fallback) {
    std::string field = record_field(text, key);
    if (field.empty()) return fallback;
    try {
      return std::stoll(field);
    } catch (const std::exception&) {
      return fallback;
    }
  };
  WatchRecord record;
  record.generation = Generation::parse(record_field(text, "generation"));
  if (record.generation.pid == 0) record.generation.pid = static_cast<long>(number("pid", 0));
  record.health = record_field(text, "health");
  record.since = record_field(text, "since");
  record.track_file = record_field(text, "track_file");
  record.sentinel_mode = record_field(text, "mode") == "sentinel";
  // An older watcher's record has no bound: redis_status called it stopped at 3 s.
  record.heartbeat_bound = std::chrono::seconds(number("heartbeat_bound_s", 3));
  return record;
}

InstanceState::Metrics InstanceState::read_metrics() const {
  return parse_metrics(read("metrics"));
}

void InstanceState::update_metrics(const std::function<void(Metrics&)>& update) const {
  if (!present()) return;
  // Closing the lock (on every path) releases the flock.
  Fd lock = open_regular("metrics.lock", O_RDWR | O_CREAT);
  // Short critical section: wait for it (overlapping hooks each count).
  while (::flock(lock.get(), LOCK_EX) != 0) {
    int error = errno;
    if (error != EINTR)
      throw StateError(
          fmt::format("cannot lock {}/{}: {}", dir_, name("metrics.lock"), errno_text(error)));
  }
  Metrics metrics = parse_metrics(read("metrics"));
  update(metrics);
  std::string text;
  for (const auto& [sample, value] : metrics) text += fmt::format("{} {}\n", sample, value);
  write("metrics", text);
}

std::string InstanceState::read_record() const { return read("state"); }

bool InstanceState::recorded_hook_running() const {
  Generation recorded = Generation::parse(record_field(read_record(), "generation"));
  if (recorded.pid <= 0 || recorded.boot_id != this_boot_id()) return false;
  return start_ticks_of(fmt::format("/proc/{}/stat", recorded.pid)) == recorded.start_ticks;
}

}  // namespace rk
