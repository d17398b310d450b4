#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>

#include "rk/decisions.hpp"
#include "rk/log.hpp"
#include "rk/redis_client.hpp"

namespace rk {

enum class OnSyncTimeout { stay, promote };

// Everything a tool needs, filled by the command line (tools/) and checked by
// validate(). The library never sees argv.
struct ToolOptions {
  std::string tool;  // "redis_master", ...
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string peer;  // HOST[:PORT] as given; empty when there is none
  std::string user;
  std::string password_file;
  std::string password;  // filled by validate() from the file or REDISCLI_AUTH
  std::chrono::milliseconds timeout{500};
  std::string log_file;
  std::string state_dir = "/run/redis-keepalived";
  std::string instance = "redis";
  std::string syslog_ident;
  std::string syslog_facility = "daemon";
  std::map<std::string, std::string> renamed_commands;

  // Hooks only.
  std::chrono::seconds sync_timeout{120};
  OnSyncTimeout on_sync_timeout = OnSyncTimeout::stay;
  std::string announce_host;
  std::chrono::seconds backup_grace{5};
  std::chrono::milliseconds pause{2000};
  std::chrono::milliseconds poll{20};

  // redis_status only.
  bool json = false;

  // Filled by validate().
  std::optional<Endpoint> peer_endpoint;
};

// Checks every field and fills the derived ones (peer_endpoint, password).
// Throws UsageError naming the first problem. `environment_password` is
// REDISCLI_AUTH's value, if set.
void validate(ToolOptions& options, const char* environment_password);

// True for an IPv4 or IPv6 literal or a syntactically valid host name.
// Rejects "", "300.1.1.1" and "::zz". Resolves nothing.
bool is_valid_host(const std::string& host);

// Parses a port number 1-65535. Throws UsageError naming `what`.
int parse_port(const std::string& text, const std::string& what);

// Parses "HOST", "HOST:PORT", "[V6]:PORT" or a bare IPv6 literal.
// Throws UsageError.
Endpoint parse_endpoint(const std::string& text, int default_port);

// Reads the password file: its first line. Refuses, as ssh does with keys,
// a file that group or others can read. Throws UsageError.
std::string read_password_file(const std::string& path);

// Connection options for the local Redis and for the peer.
ConnectionOptions local_connection(const ToolOptions& options);
ConnectionOptions peer_connection(const ToolOptions& options);

// Where and how the tool logs.
LogOptions log_options(const ToolOptions& options);

}  // namespace rk
