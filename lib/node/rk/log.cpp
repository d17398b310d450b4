#include "rk/log.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>

#include "rk/errors.hpp"

namespace rk {
namespace {

std::string utc_timestamp() {
  auto now = std::chrono::system_clock::now();
  auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  std::tm parts{};
  gmtime_r(&seconds, &parts);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%S", &parts);
  return fmt::format("{}.{:03}Z", text, millis);
}

void write_all(int fd, const std::string& line) {
  const char* data = line.data();
  size_t left = line.size();
  while (left > 0) {
    ssize_t written = ::write(fd, data, left);
    if (written < 0) {
      if (errno == EINTR) continue;
      return;  // a log sink that fails must not stop a failover
    }
    data += written;
    left -= static_cast<size_t>(written);
  }
}

}  // namespace

std::string Logger::open_log_file() {
  // 0600: log lines name hosts and offsets, and keepalived's umask (0177)
  // would give the same. O_NOFOLLOW: the tools may run as root, and a
  // symlink planted at the log path must not make them append elsewhere.
  // O_NONBLOCK: a FIFO planted there must not hang the tool.
  int fd = ::open(options_.file.c_str(),
                  O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600);
  if (fd < 0) return errno == ELOOP ? std::string("is a symlink (refused)") : std::strerror(errno);
  struct stat file_info {};
  if (::fstat(fd, &file_info) != 0 || !S_ISREG(file_info.st_mode)) {
    ::close(fd);
    return "is not a regular file (refused)";
  }
  // An existing file keeps its mode at open(): tighten one this user owns.
  if ((file_info.st_mode & 077) != 0 && file_info.st_uid == ::geteuid()) ::fchmod(fd, 0600);
  file_fd_ = fd;
  return {};
}

std::optional<std::string> RepeatFilter::pass(const std::string& key, const std::string& message,
                                              Clock::time_point now) {
  auto found = seen_.find(key);
  if (found == seen_.end()) {
    seen_[key] = Seen{now, 0};
    return message;
  }
  Seen& seen = found->second;
  if (now - seen.last_written < every_) {
    ++seen.held_back;
    return std::nullopt;
  }
  std::string line =
      seen.held_back == 0
          ? message
          : fmt::format(
                "{} (repeated {} more times in {} s)", message, seen.held_back,
                std::chrono::duration_cast<std::chrono::seconds>(now - seen.last_written).count());
  seen = Seen{now, 0};
  return line;
}

void Logger::repeated_info(const std::string& key, const std::string& message) {
  if (auto line = repeats_.pass(key, message, RepeatFilter::Clock::now())) write(false, *line);
}

void Logger::repeated_warning(const std::string& key, const std::string& message) {
  if (auto line = repeats_.pass(key, message, RepeatFilter::Clock::now())) write(true, *line);
}

int syslog_facility_from_name(const std::string& name) {
  static const struct {
    const char* name;
    int facility;
  } known[] = {{"daemon", LOG_DAEMON}, {"user", LOG_USER},     {"local0", LOG_LOCAL0},
               {"local1", LOG_LOCAL1}, {"local2", LOG_LOCAL2}, {"local3", LOG_LOCAL3},
               {"local4", LOG_LOCAL4}, {"local5", LOG_LOCAL5}, {"local6", LOG_LOCAL6},
               {"local7", LOG_LOCAL7}};
  for (const auto& entry : known)
    if (name == entry.name) return entry.facility;
  return -1;
}

Logger::Logger(LogOptions options) : options_(std::move(options)) {
  facility_ = syslog_facility_from_name(options_.syslog_facility);
  if (facility_ < 0)
    throw UsageError(
        fmt::format("unknown syslog facility '{}' (use daemon, user or local0..local7)",
                    options_.syslog_facility));
}

void Logger::open_sinks() {
  if (sinks_open_) return;
  sinks_open_ = true;
  struct stat dev_log {};
  if (::stat("/dev/log", &dev_log) == 0) {
    if (options_.syslog_ident.empty()) options_.syslog_ident = options_.tool;
    ::openlog(options_.syslog_ident.c_str(), LOG_PID | LOG_NDELAY, facility_);
    syslog_open_ = true;
  }
  if (!options_.file.empty()) {
    // A log file that cannot be opened must not fail the check or the hook
    // (that would move the VIP); say so in syslog and on stderr instead.
    std::string problem = open_log_file();
    if (!problem.empty())
      write(true, fmt::format("log file {}: {}; logging to syslog only", options_.file, problem));
  }
}

void Logger::reopen_log_file() {
  open_sinks();
  if (options_.file.empty()) return;
  if (file_fd_ >= 0) ::close(file_fd_);
  file_fd_ = -1;
  std::string problem = open_log_file();
  if (!problem.empty())
    write(true, fmt::format("log file {}: {}; logging to syslog only", options_.file, problem));
}

Logger::~Logger() {
  if (file_fd_ >= 0) ::close(file_fd_);
  if (syslog_open_) ::closelog();
}

void Logger::write(bool warning, const std::string& message, bool echo) {
  open_sinks();
  std::string body =
      fmt::format("{}: {}{}", options_.instance, warning ? "WARNING: " : "", message);
  if (syslog_open_) ::syslog(warning ? LOG_WARNING : LOG_INFO, "%s", body.c_str());
  bool to_stderr = options_.to_stderr && echo;
  if (file_fd_ < 0 && !to_stderr) return;
  std::string line =
      fmt::format("{} {}[{}] {}\n", utc_timestamp(), options_.tool, ::getpid(), body);
  if (file_fd_ >= 0) write_all(file_fd_, line);
  if (to_stderr) write_all(STDERR_FILENO, line);
}

}  // namespace rk
