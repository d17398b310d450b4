#include "rk/instance_state.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "rk/errors.hpp"

namespace rk {
namespace {

std::string read_small_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return {};
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

// Field 22 of /proc/self/stat is the start time in clock ticks since boot.
// Field 2 (comm) may hold spaces, so count from the closing parenthesis.
unsigned long long process_start_ticks() {
  std::string stat = read_small_file("/proc/self/stat");
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

// A fixed-width reading of the same moment the record was written.
std::string local_time_text() {
  std::time_t now = std::time(nullptr);
  std::tm parts{};
  gmtime_r(&now, &parts);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &parts);
  return text;
}

}  // namespace

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
  generation.boot_id = read_small_file("/proc/sys/kernel/random/boot_id");
  while (!generation.boot_id.empty() && generation.boot_id.back() == '\n')
    generation.boot_id.pop_back();
  generation.start_ticks = process_start_ticks();
  generation.pid = static_cast<long>(::getpid());
  return generation;
}

bool Generation::newer_than(const Generation& other) const {
  if (boot_id != other.boot_id) return true;
  if (start_ticks != other.start_ticks) return start_ticks > other.start_ticks;
  return pid > other.pid;
}

void write_file_atomically(const std::string& path, const std::string& content) {
  std::string temp = fmt::format("{}.{}.tmp", path, ::getpid());
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw UsageError(fmt::format("cannot write {}: {}", temp, std::strerror(errno)));
  ssize_t written = ::write(fd, content.data(), content.size());
  bool complete = written == static_cast<ssize_t>(content.size());
  ::close(fd);
  if (!complete || ::rename(temp.c_str(), path.c_str()) != 0) {
    ::unlink(temp.c_str());
    throw UsageError(fmt::format("cannot write {}: {}", path, std::strerror(errno)));
  }
}

InstanceState::InstanceState(std::string dir, std::string instance, Access access)
    : dir_(std::move(dir)), instance_(std::move(instance)) {
  if (instance_.empty() || instance_.find('/') != std::string::npos || instance_[0] == '.')
    throw UsageError(fmt::format("invalid instance name '{}'", instance_));
  if (access == Access::read_only) return;
  // 0700: the state dir decides which hook may act on Redis, so nobody but
  // the script user may write into it.
  if (::mkdir(dir_.c_str(), 0700) == 0) {
    // keepalived runs scripts with umask 0177, which would leave a new dir
    // at 0600: not even its owner could enter it. Set the mode explicitly.
    ::chmod(dir_.c_str(), 0700);
  } else if (errno != EEXIST) {
    throw UsageError(fmt::format("cannot create state dir {}: {}", dir_, std::strerror(errno)));
  }
  struct stat info {};
  if (::stat(dir_.c_str(), &info) != 0 || !S_ISDIR(info.st_mode))
    throw UsageError(fmt::format("state dir {} is not a directory", dir_));
  if (::access(dir_.c_str(), W_OK | X_OK) != 0)
    throw UsageError(fmt::format("state dir {} is not writable: {}", dir_, std::strerror(errno)));
}

InstanceState::~InstanceState() {
  if (lock_fd_ >= 0) ::close(lock_fd_);  // closing releases the flock
}

std::string InstanceState::path(const char* suffix) const {
  return fmt::format("{}/{}.{}", dir_, instance_, suffix);
}

bool InstanceState::record(Transition transition, const std::string& tool) {
  return record(transition, tool, Generation::of_this_process());
}

bool InstanceState::record(Transition transition, const std::string& tool,
                           const Generation& generation) {
  // A short exclusive flock on a separate file makes the read-compare-write
  // atomic between hooks; readers never need it (the write is a rename).
  mine_ = generation;
  std::string guard_path = path("state.guard");
  int guard = ::open(guard_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (guard < 0)
    throw UsageError(fmt::format("cannot open {}: {}", guard_path, std::strerror(errno)));
  while (::flock(guard, LOCK_EX) != 0 && errno == EINTR) {
  }
  std::string recorded = record_field(read_small_file(path("state")), "generation");
  bool newest = recorded.empty() || mine_.newer_than(Generation::parse(recorded));
  if (newest) {
    write_file_atomically(path("state"),
                          fmt::format("generation={}\nstate={}\ntool={}\npid={}\ntime={}\n",
                                      mine_.text(), to_string(transition), tool, mine_.pid,
                                      local_time_text()));
  }
  ::close(guard);
  return newest;
}

bool InstanceState::superseded() const {
  if (mine_.pid == 0) return false;  // never recorded: nothing to supersede
  std::string recorded = record_field(read_small_file(path("state")), "generation");
  return !recorded.empty() && recorded != mine_.text();
}

bool InstanceState::acquire_action_lock(std::chrono::steady_clock::time_point deadline,
                                        std::chrono::milliseconds poll) {
  if (lock_fd_ < 0) {
    std::string lock_path = path("lock");
    lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock_fd_ < 0)
      throw UsageError(fmt::format("cannot open {}: {}", lock_path, std::strerror(errno)));
  }
  for (;;) {
    if (superseded()) return false;
    if (::flock(lock_fd_, LOCK_EX | LOCK_NB) == 0) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(poll);
  }
}

void InstanceState::write_last(const std::string& line) const {
  write_file_atomically(path("last"), line + "\n");
}

std::string InstanceState::read_last() const {
  std::string last = read_small_file(path("last"));
  while (!last.empty() && last.back() == '\n') last.pop_back();
  return last;
}

std::string InstanceState::read_health() const {
  std::string health = read_small_file(path("health"));
  while (!health.empty() && health.back() == '\n') health.pop_back();
  return health;
}

void InstanceState::touch_health() const {
  // A failed touch only makes the age look older; never fail the check.
  ::utimensat(AT_FDCWD, path("health").c_str(), nullptr, 0);
}

long long InstanceState::health_age_seconds() const {
  struct stat info {};
  if (::stat(path("health").c_str(), &info) != 0) return -1;
  return std::max<long long>(0, static_cast<long long>(std::time(nullptr) - info.st_mtime));
}

void InstanceState::write_health(const std::string& health) const {
  write_file_atomically(path("health"), health + "\n");
}

std::string InstanceState::read_record() const { return read_small_file(path("state")); }

}  // namespace rk
