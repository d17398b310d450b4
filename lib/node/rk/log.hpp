#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>

#include <fmt/format.h>

namespace rk {

struct LogOptions {
  std::string tool;          // "redis_master"
  std::string instance;      // keepalived instance name
  std::string file;          // append here when non-empty
  std::string syslog_ident;  // empty: the tool name
  std::string syslog_facility = "daemon";
  bool to_stderr = true;
};

// Keeps a line that repeats from flooding the log: the first of each key
// passes, then at most one per `every`, which says how many were held back.
// Time is passed in, so the policy is tested without sleeping.
class RepeatFilter {
 public:
  using Clock = std::chrono::steady_clock;
  explicit RepeatFilter(std::chrono::seconds every = std::chrono::seconds(10)) : every_(every) {}
  // The line to write for `message` under `key` at `now`, or nullopt to
  // hold it back.
  std::optional<std::string> pass(const std::string& key, const std::string& message,
                                  Clock::time_point now);

 private:
  struct Seen {
    Clock::time_point last_written;
    long long held_back = 0;
  };
  std::chrono::seconds every_;
  std::map<std::string, Seen> seen_;
};

// Where the hooks' lines go. keepalived points a script's stdout and stderr
// at /dev/null, so each tool logs by itself: to syslog when /dev/log exists,
// to --log-file, and to stderr for people running it by hand.
class Logger {
 public:
  // Throws UsageError for an unknown facility. Sinks open on first use, so a
  // healthy redis_check that logs nothing opens nothing.
  explicit Logger(LogOptions options);
  // Opens syslog (when /dev/log exists) and the log file now. The log file
  // is opened without following a symlink, must be a regular file, and is
  // made mode 0600 when this user owns it; a log file that cannot be opened
  // or is refused is reported (syslog, stderr) and never fatal: a logging
  // problem must not fail a check or a hook.
  void open_sinks();
  Logger(const Logger&) = delete;
  Logger& operator=(const Logger&) = delete;
  ~Logger();

  void info(const std::string& message) { write(false, message); }
  void warning(const std::string& message) { write(true, message); }
  // A line that may repeat every poll (the same unreadable server 50 times a
  // second): rate-limited per `key` by a RepeatFilter (the first, then one
  // per 10 s with the count held back).
  void repeated_info(const std::string& key, const std::string& message);
  void repeated_warning(const std::string& key, const std::string& message);
  // Closes and opens the log file again (after logrotate moved it away).
  void reopen_log_file();
  // A warning for syslog and the log file only, when stderr gets its own
  // line from the caller (the top-level error message).
  void warning_to_log_only(const std::string& message) { write(true, message, false); }
  template <typename... Args>
  void info(fmt::format_string<Args...> format, Args&&... args) {
    write(false, fmt::format(format, std::forward<Args>(args)...));
  }
  template <typename... Args>
  void warning(fmt::format_string<Args...> format, Args&&... args) {
    write(true, fmt::format(format, std::forward<Args>(args)...));
  }

 private:
  void write(bool warning, const std::string& message, bool echo = true);
  // Opens options_.file into file_fd_; returns why not ("" on success).
  std::string open_log_file();
  LogOptions options_;
  int file_fd_ = -1;
  bool syslog_open_ = false;
  bool sinks_open_ = false;
  int facility_ = 0;
  RepeatFilter repeats_;
};

// Maps "daemon", "local0".."local7", "user" to a syslog facility; -1 if unknown.
int syslog_facility_from_name(const std::string& name);

}  // namespace rk
