#include "rk/options.hpp"

#include <arpa/inet.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <charconv>

#include <fmt/format.h>

#include "rk/bounded_file.hpp"
#include "rk/errors.hpp"

namespace rk {
namespace {

bool all_digits_and_dots(const std::string& text) {
  return text.find_first_not_of("0123456789.") == std::string::npos;
}

bool is_valid_hostname(const std::string& host) {
  if (host.empty() || host.size() > 253) return false;
  size_t start = 0;
  while (start <= host.size()) {
    size_t dot = host.find('.', start);
    std::string label =
        host.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
      return false;
    for (char c : label)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return true;
}

}  // namespace

int parse_port(const std::string& text, const std::string& what) {
  int port = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, port);
  if (text.empty() || ec != std::errc() || ptr != end || port < 1 || port > 65535)
    throw UsageError(fmt::format("{}: '{}' is not a port number (1-65535)", what, text));
  return port;
}

bool is_valid_host(const std::string& host) {
  if (host.empty()) return false;
  unsigned char buffer[sizeof(in6_addr)];
  if (::inet_pton(AF_INET, host.c_str(), buffer) == 1) return true;
  if (host.find(':') != std::string::npos) return ::inet_pton(AF_INET6, host.c_str(), buffer) == 1;
  // All digits and dots but not a valid IPv4 address (300.1.1.1) is a typo,
  // not a name.
  if (all_digits_and_dots(host)) return false;
  return is_valid_hostname(host);
}

Endpoint parse_endpoint(const std::string& text, int default_port, const char* what) {
  Endpoint endpoint{text, default_port};
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string::npos) throw UsageError(fmt::format("{}: '{}' lacks ']'", what, text));
    endpoint.host = text.substr(1, close - 1);
    std::string rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') throw UsageError(fmt::format("{}: malformed '{}'", what, text));
      endpoint.port = parse_port(rest.substr(1), what);
    }
  } else if (std::count(text.begin(), text.end(), ':') == 1) {
    size_t colon = text.find(':');
    endpoint.host = text.substr(0, colon);
    endpoint.port = parse_port(text.substr(colon + 1), what);
  }
  if (!is_valid_host(endpoint.host))
    throw UsageError(fmt::format("{}: '{}' is not a valid host address", what, endpoint.host));
  return endpoint;
}

std::string read_password_file(const std::string& path, const char* option) {
  // No symlink, unlike the other file options: a link would let whoever
  // owns its directory point the tools at another secret.
  FileContent file = read_option_file(path, FileRule{option, file_bounds::password_file, false},
                                      Clock::now() + kFileReadBudget);
  if ((file.mode & (S_IRWXG | S_IRWXO)) != 0)
    throw UsageError(fmt::format("{} {}: accessible by group or others (mode {:o}); chmod 600 it",
                                 option, path, file.mode & 07777));
  std::string& content = file.bytes;
  size_t newline = content.find('\n');
  if (newline != std::string::npos) content.resize(newline);
  if (!content.empty() && content.back() == '\r') content.pop_back();
  if (content.empty()) throw UsageError(fmt::format("{} {}: empty", option, path));
  return content;
}

namespace {

void check_range(long long value, const Range& range, const char* name, const char* unit) {
  if (!range.contains(value))
    throw UsageError(
        fmt::format("{}: {}{} is outside {}-{}", name, value, unit, range.min, range.max));
}

// --host and --port.
void check_local_address(const ToolOptions& options) {
  if (!is_valid_host(options.host))
    throw UsageError(fmt::format("--host: '{}' is not a valid host address", options.host));
  if (!limits::port.contains(options.port))
    throw UsageError(fmt::format("--port: {} is not a port number (1-65535)", options.port));
}

// The timings and counts of the hooks and of redis_watch.
void check_timings(const ToolOptions& options) {
  check_range(options.timeout.count(), limits::timeout_ms, "--timeout", " ms");
  check_range(options.poll.count(), limits::poll_ms, "--poll-ms", "");
  check_range(options.pause.count(), limits::pause_ms, "--pause-ms", "");
  check_range(options.sync_timeout.count(), limits::sync_timeout_s, "--sync-timeout", " s");
  check_range(options.backup_grace.count(), limits::backup_grace_s, "--backup-grace", " s");
  check_range(options.peer_silence.count(), limits::peer_silence_ms, "--peer-silence-ms", "");
  check_range(options.fence_max_lag.count(), limits::fence_max_lag_s, "--fence-max-lag", " s");
  check_range(options.watch_interval.count(), limits::watch_interval_ms, "--interval-ms", "");
  check_range(options.watch_fall, limits::watch_fall_rise, "--fall", "");
  check_range(options.watch_rise, limits::watch_fall_rise, "--rise", "");
  check_range(options.switchover_timeout.count(), limits::switchover_timeout_ms,
              "--switchover-timeout-ms", "");
}

// The files the tools write (absolute paths: keepalived runs the hooks in
// /) and redis_status's output format.
void check_outputs(const ToolOptions& options) {
  if (!options.maintenance_file.empty() && options.maintenance_file.front() != '/')
    throw UsageError(
        fmt::format("--maintenance-file: '{}' is not an absolute path", options.maintenance_file));
  if (!options.track_file.empty() && options.track_file.front() != '/')
    throw UsageError(fmt::format("--track-file: '{}' is not an absolute path", options.track_file));
  if (!options.textfile_dir.empty() && options.textfile_dir.front() != '/')
    throw UsageError(fmt::format("--textfile: '{}' is not an absolute path", options.textfile_dir));
  if (options.json && options.prometheus)
    throw UsageError("--json and --prometheus: choose one output format");
}

// Where kept copies go and how many are kept.
void check_copies(const ToolOptions& options) {
  check_range(options.copy_keep_count, limits::copy_keep_count, "--copy-keep-count", "");
  check_range(options.copy_keep_mb, limits::copy_keep_mb, "--copy-keep-mb", " MiB");
  check_range(options.copy_timeout.count(), limits::copy_timeout_s, "--copy-timeout", " s");
  if (options.copy_dir.empty() || options.copy_dir.front() != '/')
    throw UsageError(fmt::format("--copy-dir: '{}' is not an absolute path", options.copy_dir));
}

// --witness HOST:PORT, each into witness_endpoints.
void parse_witnesses(ToolOptions& options) {
  options.witness_endpoints.clear();
  for (const std::string& witness : options.witnesses) {
    // A witness is a TCP port that answers: it needs one, there is no default.
    Endpoint endpoint = parse_endpoint(witness, 0, "--witness");
    if (endpoint.port == 0)
      throw UsageError(
          fmt::format("--witness: '{}' is not HOST:PORT (a port is required)", witness));
    options.witness_endpoints.push_back(endpoint);
  }
  if (!options.witnesses.empty() && options.peer.empty())
    throw UsageError(
        "--witness needs --peer: a master is cut off only when it reaches neither its peer nor "
        "a witness");
}

// A master name as `sentinel monitor NAME` takes it: one word.
bool is_valid_master_name(const std::string& name) {
  if (name.empty() || name.size() > 256) return false;
  return std::all_of(name.begin(), name.end(), [](unsigned char c) { return std::isgraph(c); });
}

// --sentinel HOST[:PORT], each into sentinel_endpoints, and what Sentinel
// mode needs besides. Nothing is sent before all of it holds.
void parse_sentinels(ToolOptions& options) {
  options.sentinel_endpoints.clear();
  if (!options.sentinel_mode()) {
    if (!options.master_name.empty() || !options.sentinel_user.empty() ||
        !options.sentinel_password_file.empty() || options.weak_sentinel_quorum ||
        options.defer_to_watch)
      throw UsageError(
          "--master-name, --sentinel-user, --sentinel-password-file, --weak-sentinel-quorum and "
          "--defer-to-watch belong to Sentinel mode: give the sentinels with --sentinel "
          "HOST[:PORT]");
    return;
  }
  for (const std::string& sentinel : options.sentinels) {
    Endpoint endpoint = parse_endpoint(sentinel, limits::sentinel_port, "--sentinel");
    for (const Endpoint& seen : options.sentinel_endpoints)
      if (seen == endpoint)
        throw UsageError(
            fmt::format("--sentinel {} is given twice: each sentinel counts once in the majority",
                        endpoint.text()));
    options.sentinel_endpoints.push_back(endpoint);
  }
  if (options.master_name.empty())
    throw UsageError("--sentinel needs --master-name: the name in `sentinel monitor NAME ...`");
  if (!is_valid_master_name(options.master_name))
    throw UsageError(fmt::format("--master-name: '{}' is not one word", options.master_name));
  std::size_t count = options.sentinel_endpoints.size();
  if ((count == 1 || count % 2 == 0) && !options.weak_sentinel_quorum)
    throw UsageError(fmt::format(
        "--sentinel: {} sentinel{} configured: {}; give an odd number, 3 or more, or accept it "
        "with --weak-sentinel-quorum",
        count, count == 1 ? "" : "s",
        count == 1 ? "one sentinel is a single point of failure and no quorum"
                   : "a majority of an even number survives no more failures than one fewer"));
  if (options.announce_host.empty())
    throw UsageError(
        "Sentinel mode needs --announce-host: the address Sentinel monitors this node's Redis "
        "at (its replica-announce-ip); the VIP is a local address too, so no local address "
        "can stand for it");
  if (!options.witnesses.empty())
    throw UsageError(
        "--witness belongs to pair mode: in Sentinel mode the sentinels' majority decides which "
        "node is cut off");
  if (!options.sentinel_user.empty() && options.sentinel_password_file.empty())
    throw UsageError(
        fmt::format("--sentinel-user {} needs --sentinel-password-file", options.sentinel_user));
}

// --announce-host, and --peer into peer_endpoint.
void parse_peer(ToolOptions& options) {
  if (!options.announce_host.empty() && !is_valid_host(options.announce_host))
    throw UsageError(
        fmt::format("--announce-host: '{}' is not a valid host address", options.announce_host));
  if (options.peer.empty()) {
    options.peer_endpoint.reset();
    return;
  }
  options.peer_endpoint = parse_endpoint(options.peer, options.port);
  // Two spellings of one server (localhost and 127.0.0.1) are caught by
  // the hooks, by run_id, before they change anything.
  if (*options.peer_endpoint == local_endpoint(options))
    throw UsageError(fmt::format(
        "--peer {} is the local Redis itself (--host/--port); give the other node's address",
        options.peer_endpoint->text()));
}

}  // namespace

void validate(ToolOptions& options) {
  check_local_address(options);
  check_timings(options);
  check_outputs(options);
  check_copies(options);
  parse_witnesses(options);
  parse_peer(options);
  parse_sentinels(options);
  check_tls_options(options.tls);
  if (!options.user.empty() && options.password_file.empty() &&
      options.environment_password.empty())
    throw UsageError(
        fmt::format("--user {} needs a password (--password-file or REDISCLI_AUTH)", options.user));
}

void resolve_password(ToolOptions& options) {
  if (!options.password_file.empty()) {
    options.password = read_password_file(options.password_file);
  } else {
    options.password = options.environment_password;
  }
  if (!options.sentinel_password_file.empty())
    options.sentinel_password =
        read_password_file(options.sentinel_password_file, "--sentinel-password-file");
  // The TLS files are read here too, not in validate(): redis_check has
  // armed its backstop by now, and each hook logs why it does nothing.
  load_tls_files(options.tls);
}

Endpoint local_endpoint(const ToolOptions& options) { return {options.host, options.port}; }

ConnectionOptions local_connection(const ToolOptions& options) {
  ConnectionOptions connection;
  connection.host = options.host;
  connection.port = options.port;
  connection.connect_timeout = options.timeout;
  connection.command_timeout = options.timeout;
  connection.user = options.user;
  connection.password = options.password;
  connection.renamed_commands = options.renamed_commands;
  connection.tls = options.tls;
  return connection;
}

ConnectionOptions peer_connection(const ToolOptions& options) {
  ConnectionOptions connection = local_connection(options);
  if (options.peer_endpoint) {
    connection.host = options.peer_endpoint->host;
    connection.port = options.peer_endpoint->port;
  }
  return connection;
}

std::vector<ConnectionOptions> sentinel_connections(const ToolOptions& options) {
  std::vector<ConnectionOptions> connections;
  for (const Endpoint& sentinel : options.sentinel_endpoints) {
    // The local connection's timeouts and TLS, with the sentinels' own
    // credentials and no renamed commands (rename-command is redis.conf's).
    ConnectionOptions connection = local_connection(options);
    connection.host = sentinel.host;
    connection.port = sentinel.port;
    connection.user = options.sentinel_user;
    connection.password = options.sentinel_password;
    connection.renamed_commands.clear();
    connections.push_back(connection);
  }
  return connections;
}

Endpoint sentinel_self(const ToolOptions& options) { return {options.announce_host, options.port}; }

LogOptions log_options(const ToolOptions& options) {
  LogOptions log;
  log.tool = options.tool;
  log.instance = options.instance;
  log.file = options.log_file;
  log.syslog_ident = options.syslog_ident;
  log.syslog_facility = options.syslog_facility;
  return log;
}

}  // namespace rk
