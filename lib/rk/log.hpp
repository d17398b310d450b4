#pragma once

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

// Where the hooks' lines go. keepalived points a script's stdout and stderr
// at /dev/null, so each tool logs by itself: to syslog when /dev/log exists,
// to --log-file, and to stderr for people running it by hand.
class Logger {
 public:
  // Throws UsageError for an unknown facility. Sinks open on first use, so a
  // healthy redis_check that logs nothing opens nothing.
  explicit Logger(LogOptions options);
  // Opens syslog (when /dev/log exists) and the log file (mode 0600) now.
  // A log file that cannot be opened is reported, not fatal.
  void open_sinks();
  Logger(const Logger&) = delete;
  Logger& operator=(const Logger&) = delete;
  ~Logger();

  void info(const std::string& message) { write(false, message); }
  void warning(const std::string& message) { write(true, message); }
  template <typename... Args>
  void info(fmt::format_string<Args...> format, Args&&... args) {
    write(false, fmt::format(format, std::forward<Args>(args)...));
  }
  template <typename... Args>
  void warning(fmt::format_string<Args...> format, Args&&... args) {
    write(true, fmt::format(format, std::forward<Args>(args)...));
  }

 private:
  void write(bool warning, const std::string& message);
  LogOptions options_;
  int file_fd_ = -1;
  bool syslog_open_ = false;
  bool sinks_open_ = false;
  int facility_ = 0;
};

// Maps "daemon", "local0".."local7", "user" to a syslog facility; -1 if unknown.
int syslog_facility_from_name(const std::string& name);

}  // namespace rk
