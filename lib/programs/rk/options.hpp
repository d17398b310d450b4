#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "rk/endpoint.hpp"
#include "rk/log.hpp"
#include "rk/redis_client.hpp"

namespace rk {

enum class OnSyncTimeout { stay, promote };

// The accepted range of a numeric option. The command line (tools/) and
// validate() both use these, so the bounds are written once.
struct Range {
  long long min;
  long long max;
  bool contains(long long value) const { return value >= min && value <= max; }
};
namespace limits {
constexpr Range timeout_ms{1, 60000};
constexpr Range sync_timeout_s{1, 86400};
constexpr Range backup_grace_s{0, 3600};
constexpr Range pause_ms{100, 60000};
constexpr Range poll_ms{1, 1000};
constexpr Range peer_silence_ms{0, 60000};
constexpr Range fence_max_lag_s{1, 60};
constexpr Range watch_interval_ms{10, 10000};
constexpr Range watch_fall_rise{1, 100};
constexpr Range switchover_timeout_ms{100, 600000};
constexpr Range copy_keep_count{1, 1000};
constexpr Range copy_keep_mb{0, 16LL * 1024 * 1024};
constexpr Range copy_timeout_s{1, 86400};
constexpr Range port{1, 65535};
constexpr int sentinel_port = 26379;  // Sentinel's default port
}  // namespace limits

// Everything a tool needs, filled by the command line (tools/) and checked by
// validate(). The library never sees argv. The initialisers below are the
// defaults of every tool and of the command line's --help.
struct ToolOptions {
  std::string tool;  // "redis_master", ...
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string peer;  // HOST[:PORT] as given; empty when there is none
  std::string user;
  std::string password_file;
  std::string environment_password;  // REDISCLI_AUTH's value, when set
  std::string password;              // filled by resolve_password() from the file or REDISCLI_AUTH
  std::chrono::milliseconds timeout{500};
  std::string log_file;
  std::string state_dir = "/run/redis-keepalived";
  std::string instance = "redis";
  std::string syslog_ident;
  std::string syslog_facility = "daemon";
  std::map<std::string, std::string> renamed_commands;
  // --tls and its files (tls.hpp), for every connection: local Redis and peer.
  TlsOptions tls;

  // Hooks only.
  std::chrono::seconds sync_timeout{120};
  OnSyncTimeout on_sync_timeout = OnSyncTimeout::stay;
  std::string announce_host;
  std::chrono::seconds backup_grace{5};
  std::chrono::milliseconds pause{2000};
  std::chrono::milliseconds poll{20};
  // How long redis_master waits for a peer that times out before a node
  // that is not known to be incomplete promotes without it.
  std::chrono::milliseconds peer_silence{2000};
  // 1 s: Redis counts the lag in whole seconds and replicas ACK once a
  // second, so a cut-off master stops within about 2 s (2 s is the loss
  // bound the split-brain figures hold it to; 2 lets it run for about 3 s).
  std::chrono::seconds fence_max_lag{1};
  // Kept copies (dataset_copy.hpp): before a resync discards writes only one
  // node holds, that node's dataset is saved under copy_dir. Retention:
  // copy_keep_count copies and copy_keep_mb MiB (0: no byte bound), the
  // newest always kept. A copy that cannot be made stops the resync (exit 1)
  // unless resync_without_copy.
  std::string copy_dir = "/var/lib/redis-keepalived/copies";
  int copy_keep_count = 5;
  long long copy_keep_mb = 4096;
  std::chrono::seconds copy_timeout{120};
  bool resync_without_copy = false;
  // redis_master --accept-data-loss: the operator's override of a
  // stale-history record (NAME.stale): promote without the peer although
  // this node is known to lack its writes; logged, and the record cleared.
  bool accept_data_loss = false;
  // --fence-writes: the hooks keep min-replicas-to-write 1 on the master while
  // its replica is attached (min-replicas-max-lag = fence_max_lag), and 0 on
  // a master promoted without its peer.
  bool fence_writes = false;
  // --promote-without-pause: a peer older than Redis 6.2 has no CLIENT PAUSE
  // WRITE, so writes it accepts during the final comparison could be lost.
  // Without this flag such a peer is refused (peer-too-old) and nothing is
  // changed; with it the comparison is made without the pause and the log
  // says so.
  bool promote_without_pause = false;
  // --witness-on-this-host: accept a witness on loopback or on this host's
  // own addresses, which redis_check otherwise refuses (exit 2): a connect
  // there never crosses the network, so it never finds the node cut off.
  // For test set-ups whose whole network is loopback only.
  bool witness_on_this_host = false;
  // --witness HOST:PORT (repeatable): TCP addresses a healthy node reaches.
  // A master that reaches neither its peer nor any witness fails its check
  // and fences its Redis against writes (min-replicas-to-write 1).
  std::vector<std::string> witnesses;

  // Sentinel mode (--sentinel HOST[:PORT], repeatable): Redis Sentinel
  // decides which node is master and the tools make the VIP follow a strict
  // majority of these sentinels; the hooks never promote or repoint. This
  // node is --announce-host:--port, the address Sentinel monitors it at.
  // The sentinels' own credentials, never the data nodes'.
  std::vector<std::string> sentinels;
  std::string master_name;
  std::string sentinel_user;
  std::string sentinel_password_file;
  std::string sentinel_password;  // filled by resolve_password()
  // --weak-sentinel-quorum: accept one sentinel or an even number of them
  // (a majority of 2 or 4 survives no more failures than one of 1 or 3).
  bool weak_sentinel_quorum = false;
  // redis_check --defer-to-watch: while a Sentinel-mode redis_watch of this
  // instance runs, the check passes after its PING and the watcher's
  // track_file (tracked with weight 0) decides, at the sentinels' speed
  // rather than at the check's interval.
  bool defer_to_watch = false;

  // redis_watch only: the track_file it writes (0 healthy, 1 not), the
  // interval between PINGs, and the failed (fall) or good (rise) PINGs in a
  // row that change the value (ProbeHysteresis).
  std::string track_file;
  std::chrono::milliseconds watch_interval{100};
  int watch_fall = 1;
  int watch_rise = 1;

  // redis_switchover (and redis_status, which shows the flag): the
  // maintenance track_file whose 1 puts this node in FAULT, the keepalived
  // configuration that must track it, and the bound on the peer catching up
  // and on the VIP moving.
  std::string maintenance_file;
  std::string keepalived_conf = "/etc/keepalived/keepalived.conf";
  std::chrono::milliseconds switchover_timeout{5000};
  bool stay_out = false;           // keep the maintenance value after the switchover
  bool switchover_status = false;  // --status: report the flag, change nothing
  bool rejoin = false;             // clear the maintenance value, nothing else

  // redis_status only.
  bool json = false;
  bool clear_stale = false;  // remove the stale-history record (logged), then report
  bool prometheus = false;   // print the Prometheus text format
  // Write DIR/redis_keepalived.prom (temp + rename) for node_exporter's
  // textfile collector; also refreshed by redis_watch when set.
  std::string textfile_dir;

  // Filled by validate().
  std::optional<Endpoint> peer_endpoint;
  std::vector<Endpoint> witness_endpoints;
  std::vector<Endpoint> sentinel_endpoints;

  bool sentinel_mode() const { return !sentinels.empty(); }
};

// Checks every field and fills peer_endpoint. Throws UsageError naming the
// first problem. Reads no file: see resolve_password().
void validate(ToolOptions& options);

// Reads the files a connection needs: fills options.password from
// --password-file, else from REDISCLI_AUTH, and with --tls loads --cacert,
// --cacertdir, --cert and --key (load_tls_files). Throws UsageError. Each
// tool calls it once its own safeguards are in place (redis_check arms its
// backstop timer first), since it reads files.
void resolve_password(ToolOptions& options);

// True for an IPv4 or IPv6 literal or a syntactically valid host name.
// Rejects "", "300.1.1.1" and "::zz". Resolves nothing.
bool is_valid_host(const std::string& host);

// Parses a port number 1-65535. Throws UsageError naming `what`.
int parse_port(const std::string& text, const std::string& what);

// Parses "HOST", "HOST:PORT", "[V6]:PORT" or a bare IPv6 literal.
// Throws UsageError naming `what` (the option).
Endpoint parse_endpoint(const std::string& text, int default_port, const char* what = "--peer");

// Reads the password file: its first line. Refuses, as ssh does with keys,
// a file that group or others can read, and, as every file option
// (read_option_file), anything that is not a regular file (opened without
// blocking, so a FIFO cannot hang the tool) or is over 64 KiB; unlike the
// others, also a symlink. Throws UsageError.
std::string read_password_file(const std::string& path, const char* option = "--password-file");

// The local Redis, --host and --port.
Endpoint local_endpoint(const ToolOptions& options);

// Connection options for the local Redis and for the peer.
ConnectionOptions local_connection(const ToolOptions& options);
ConnectionOptions peer_connection(const ToolOptions& options);

// Sentinel mode: one connection's options per sentinel (the sentinels'
// credentials, the TLS options, --timeout), and this node as Sentinel names
// it (--announce-host, --port).
std::vector<ConnectionOptions> sentinel_connections(const ToolOptions& options);
Endpoint sentinel_self(const ToolOptions& options);

// Where and how the tool logs.
LogOptions log_options(const ToolOptions& options);

}  // namespace rk
