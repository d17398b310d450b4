#include "common/cli.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <sstream>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "rk/bounded_file.hpp"
#include "rk/errors.hpp"
#include "rk/openssl.hpp"

namespace rk::cli {
namespace {

// The library's defaults (ToolOptions' initialisers) are the only ones.
const ToolOptions kDefaults{};

// What the command line gave, before it becomes ToolOptions.
struct Parsed {
  std::vector<std::string> positionals;
  std::vector<std::string> renames;
  long long timeout_ms = kDefaults.timeout.count();
  long long sync_timeout_s = kDefaults.sync_timeout.count();
  long long backup_grace_s = kDefaults.backup_grace.count();
  long long pause_ms = kDefaults.pause.count();
  long long poll_ms = kDefaults.poll.count();
  long long peer_silence_ms = kDefaults.peer_silence.count();
  long long fence_max_lag_s = kDefaults.fence_max_lag.count();
  long long copy_timeout_s = kDefaults.copy_timeout.count();
  long long watch_interval_ms = kDefaults.watch_interval.count();
  long long switchover_timeout_ms = kDefaults.switchover_timeout.count();
  std::string on_sync_timeout =
      kDefaults.on_sync_timeout == OnSyncTimeout::promote ? "promote" : "stay";
};

// CLI11's check for one of the library's ranges (lib/programs/rk/options.hpp).
CLI::Range in(const Range& range) { return CLI::Range(range.min, range.max); }

// redis_check and redis_watch take the local Redis as [HOST [PORT]].
bool local_only(Kind kind) { return kind == Kind::check || kind == Kind::watch; }

const char* positional_help(Kind kind) {
  return local_only(kind) ? "[HOST [PORT]] as in the classic redis_check.sh"
                          : "[LOCAL_HOST PEER_HOST PORT] as in the classic notify scripts";
}

// CLI11 opens the --config file with std::ifstream, which waits for a
// writer on a FIFO and reads any size. The option's check reads the file
// first with the bounded reader (a regular file of at most 1 MiB, never
// blocking), which CLI11 runs before its own open; this formatter then
// parses the text that check read, not the stream CLI11 opened.
class BoundedConfig : public CLI::ConfigTOML {
 public:
  std::vector<CLI::ConfigItem> from_config(std::istream& /*opened_by_cli11*/) const override {
    std::istringstream text(content_);
    return CLI::ConfigTOML::from_config(text);
  }
  // The --config option's check: throws UsageError (exit 2) naming the file.
  std::string read(const std::string& path) {
    if (path != path_) {
      content_ = read_option_file(path, FileRule{"--config", file_bounds::config_file},
                                  Clock::now() + kFileReadBudget)
                     .bytes;
      path_ = path;
    }
    return {};
  }

 private:
  std::string path_;
  std::string content_;
};

void define_options(CLI::App& app, const ToolSpec& spec, ToolOptions& options, Parsed& parsed) {
  auto config = std::make_shared<BoundedConfig>();
  app.config_formatter(config);
  app.set_config("--config", "", "Read these options from an INI/TOML file (key = value)")
      ->check(
          CLI::Validator([config](const std::string& path) { return config->read(path); }, "FILE"));
  // An unknown key in the file is a mistake the operator must hear about.
  app.allow_config_extras(CLI::config_extras_mode::error);
  app.set_version_flag("--version", fmt::format("{} {}", spec.name, RK_VERSION));
  app.add_option("args", parsed.positionals, positional_help(spec.kind))
      ->expected(0, local_only(spec.kind) ? 2 : 3);

  app.add_option("--host", options.host, "Local Redis address")->capture_default_str();
  app.add_option("--port", options.port, "Local Redis port")
      ->check(in(limits::port))
      ->capture_default_str();
  // One --config file serves every tool, so every tool accepts every key;
  // the ones a tool does not use are hidden from its --help (group "").
  const bool uses_peer = !local_only(spec.kind);
  app.add_option("--peer", options.peer, "Peer Redis as HOST[:PORT] (port defaults to --port)")
      ->group(uses_peer ? "Options" : "");
  app.add_option("--user", options.user, "Redis ACL user");
  app.add_option("--password-file", options.password_file,
                 "File holding the password (mode 0600); REDISCLI_AUTH is also read");
  app.add_option("--timeout", parsed.timeout_ms,
                 spec.kind == Kind::check ? "Deadline of the whole check (connect, AUTH, PING), ms"
                 : spec.kind == Kind::watch ? "Deadline of each PING (with its connect), ms"
                                            : "Deadline of each Redis call, ms")
      ->check(in(limits::timeout_ms))
      ->capture_default_str();
  app.add_option("--log-file", options.log_file, "Append log lines to this file (mode 0600)");
  app.add_option("--state-dir", options.state_dir, "Directory for the lock and the last verdict")
      ->capture_default_str();
  app.add_option("--instance", options.instance, "keepalived instance name (one lock each)")
      ->capture_default_str();
  app.add_option("--syslog-ident", options.syslog_ident, "syslog ident (default: the tool name)");
  app.add_option("--syslog-facility", options.syslog_facility,
                 "syslog facility: daemon, user, local0..local7")
      ->capture_default_str();
  app.add_option("--rename-command", parsed.renames,
                 "NAME=NEWNAME for a command renamed in redis.conf (repeatable)");
  // redis-cli's names. Redis's side: tls-port (with port 0 for TLS only),
  // and tls-replication yes on both servers for the link between them.
  app.add_flag("--tls", options.tls.enabled, "Connect to Redis (local and peer) over TLS");
  app.add_option("--cacert", options.tls.cacert,
                 "With --tls: CA certificate file to verify the servers with (default: the "
                 "system's CAs)");
  app.add_option("--cacertdir", options.tls.cacertdir,
                 "With --tls: directory of CA certificates (c_rehash form)");
  app.add_option("--cert", options.tls.cert,
                 "With --tls: client certificate, for servers with tls-auth-clients yes");
  app.add_option("--key", options.tls.key, "With --tls: the client certificate's private key");
  app.add_option("--sni", options.tls.sni,
                 "With --tls: server name to send, and to find in the servers' certificates "
                 "(default: the address as given)");
  app.add_flag("--insecure", options.tls.insecure,
               "With --tls: do not verify the servers' certificates (tests only)");

  app.add_flag("--prometheus", options.prometheus,
               "Print the Prometheus text format instead of text")
      ->group(spec.kind == Kind::status ? "Options" : "");
  app.add_option("--textfile", options.textfile_dir,
                 "Also write DIR/redis_keepalived.prom for node_exporter's textfile collector "
                 "(redis_watch refreshes it as it runs)")
      ->group(spec.kind == Kind::status || spec.kind == Kind::watch ? "Options" : "");
  app.add_flag("--json", options.json, "Print one JSON object instead of text")
      ->group(spec.kind == Kind::status ? "Options" : "");
  app.add_flag("--clear-stale", options.clear_stale,
               "Remove the stale-history record (the operator accepts that this node lacks its "
               "peer's writes; logged), then report")
      ->group(spec.kind == Kind::status ? "Options" : "");
  const char* hook_group = spec.kind == Kind::hook ? "Options" : "";
  app.add_option("--sync-timeout", parsed.sync_timeout_s, "Bound on the wait for the sync, s")
      ->check(in(limits::sync_timeout_s))
      ->capture_default_str()
      ->group(hook_group);
  app.add_option("--on-sync-timeout", parsed.on_sync_timeout,
                 "redis_master when the wait runs out: stay (a replica) or promote")
      ->check(CLI::IsMember({"stay", "promote"}))
      ->capture_default_str()
      ->group(hook_group);
  app.add_option("--announce-host", options.announce_host,
                 "Address the peer must use to replicate this node (default: the local end of "
                 "the connection to the peer)")
      ->group(hook_group);
  app.add_option("--backup-grace", parsed.backup_grace_s,
                 "redis_backup: time the peer's own promotion hook gets before a diverged peer "
                 "is replicated, s")
      ->check(in(limits::backup_grace_s))
      ->capture_default_str()
      ->group(hook_group);
  app.add_flag("--promote-without-pause", options.promote_without_pause,
               "Accept a peer older than Redis 6.2 (no CLIENT PAUSE WRITE): compare without "
               "pausing its writes, so writes it takes meanwhile can be lost (without this flag "
               "such a peer is refused: peer-too-old, exit 1)")
      ->group(hook_group);
  app.add_option("--pause-ms", parsed.pause_ms,
                 "CLIENT PAUSE WRITE window on the peer for the final comparison, ms")
      ->check(in(limits::pause_ms))
      ->capture_default_str()
      ->group(hook_group);
  app.add_option("--poll-ms", parsed.poll_ms, "Interval between observations, ms")
      ->check(in(limits::poll_ms))
      ->capture_default_str()
      ->group(hook_group);
  app.add_option("--peer-silence-ms", parsed.peer_silence_ms,
                 "redis_master: how long a peer that times out is waited for before a node that "
                 "is not known to be incomplete promotes without it, ms (a peer that refuses "
                 "connections is not waited for)")
      ->check(in(limits::peer_silence_ms))
      ->capture_default_str()
      ->group(hook_group);
  app.add_flag("--fence-writes", options.fence_writes,
               "Bound what an isolated master can accept: keep min-replicas-to-write 1 on the "
               "master while its replica is attached, 0 on a master promoted without its peer "
               "(needs +config|get +config|set)")
      ->group(hook_group);
  app.add_option("--fence-max-lag", parsed.fence_max_lag_s,
                 "With --fence-writes: min-replicas-max-lag, the seconds without a replica's ACK "
                 "after which the master refuses writes")
      ->check(in(limits::fence_max_lag_s))
      ->capture_default_str()
      ->group(hook_group);
  const char* watch_group = spec.kind == Kind::watch ? "Options" : "";
  app.add_option("--track-file", options.track_file,
                 "redis_watch: keepalived track_file to write, 0 healthy, 1 not (required)")
      ->group(watch_group);
  app.add_option("--interval-ms", parsed.watch_interval_ms,
                 "redis_watch: interval between PINGs, ms")
      ->check(in(limits::watch_interval_ms))
      ->capture_default_str()
      ->group(watch_group);
  app.add_option("--fall", options.watch_fall,
                 "redis_watch: failed PINGs in a row before the track file says 1 (as "
                 "keepalived's vrrp_script fall)")
      ->check(in(limits::watch_fall_rise))
      ->capture_default_str()
      ->group(watch_group);
  app.add_option("--rise", options.watch_rise,
                 "redis_watch: good PINGs in a row before it says 0 again (as vrrp_script rise)")
      ->check(in(limits::watch_fall_rise))
      ->capture_default_str()
      ->group(watch_group);
  const bool maintenance_shown = spec.kind == Kind::switchover || spec.kind == Kind::status;
  app.add_option("--maintenance-file", options.maintenance_file,
                 "redis_switchover: the track_file whose 1 puts this node in FAULT (required; "
                 "keepalived must track it with weight 0)")
      ->group(maintenance_shown ? "Options" : "");
  const char* switchover_group = spec.kind == Kind::switchover ? "Options" : "";
  app.add_option("--keepalived-conf", options.keepalived_conf,
                 "keepalived's configuration, checked to track --maintenance-file")
      ->capture_default_str()
      ->group(switchover_group);
  app.add_option("--switchover-timeout-ms", parsed.switchover_timeout_ms,
                 "Bound on the peer catching up while writes are paused, and on the VIP moving")
      ->check(in(limits::switchover_timeout_ms))
      ->capture_default_str()
      ->group(switchover_group);
  app.add_flag("--stay-out", options.stay_out,
               "Leave the maintenance value at 1 afterwards: this node stays out of the election")
      ->group(switchover_group);
  app.add_flag("--status", options.switchover_status,
               "Print the maintenance flag and change nothing")
      ->group(switchover_group);
  app.add_flag("--rejoin", options.rejoin,
               "Set the maintenance value back to 0 (after --stay-out) and change nothing else")
      ->group(switchover_group);
  app.add_option("--witness", options.witnesses,
                 "TCP HOST:PORT a healthy node reaches (repeatable): a master that reaches "
                 "neither its peer nor any witness fails its check and fences its Redis "
                 "(min-replicas-to-write at least 1; needs +config|get +config|set). Not on this "
                 "host: loopback or an own address is refused (exit 2)")
      ->group(spec.kind == Kind::check || spec.kind == Kind::hook ? "Options" : "");
  app.add_flag("--witness-on-this-host", options.witness_on_this_host,
               "Accept a --witness on loopback or on this host's own addresses (refused "
               "otherwise: such a witness always answers); for test set-ups on loopback only")
      ->group(spec.kind == Kind::check ? "Options" : "");
  const char* copy_group = spec.kind == Kind::hook || spec.kind == Kind::status ? "Options" : "";
  app.add_option("--copy-dir", options.copy_dir,
                 "Where a dataset is kept (RDB) before a resync discards writes only it holds")
      ->capture_default_str()
      ->group(copy_group);
  app.add_option("--copy-keep-count", options.copy_keep_count,
                 "Retention of kept copies: at most this many (the newest is always kept)")
      ->check(in(limits::copy_keep_count))
      ->capture_default_str()
      ->group(hook_group);
  app.add_option("--copy-keep-mb", options.copy_keep_mb,
                 "Retention of kept copies: at most this many MiB in all, 0 for no bound")
      ->check(in(limits::copy_keep_mb))
      ->capture_default_str()
      ->group(hook_group);
  app.add_option("--copy-timeout", parsed.copy_timeout_s,
                 "Bound on making one copy, s (on the node being demoted its writes are paused "
                 "meanwhile)")
      ->check(in(limits::copy_timeout_s))
      ->capture_default_str()
      ->group(hook_group);
  app.add_flag("--accept-data-loss", options.accept_data_loss,
               "redis_master, run by an operator: promote although a stale-history record says "
               "this node lacks writes its peer holds (logged with the recorded offsets; the "
               "record is cleared)")
      ->group(hook_group);
  app.add_flag("--resync-without-copy", options.resync_without_copy,
               "Let a resync discard writes even when their copy cannot be made (without it the "
               "hook stays as it is and exits 1)")
      ->group(hook_group);
}

// The classic positional form.
void apply_positionals(const CLI::App& app, const ToolSpec& spec, const Parsed& parsed,
                       ToolOptions& options) {
  const auto& args = parsed.positionals;
  // The arguments written in keepalived.conf win over --host/--port/--peer
  // and over a shared --config file, which may name a default for them.
  auto take = [&](size_t index) -> const std::string* {
    return args.size() > index ? &args[index] : nullptr;
  };
  if (app.count("--peer") > 0 && options.peer.empty()) throw UsageError("--peer: empty address");
  if (const std::string* host = take(0)) options.host = *host;
  if (local_only(spec.kind)) {
    if (const std::string* port = take(1)) options.port = parse_port(*port, "PORT");
    return;
  }
  // The classic form is all three or none: with only LOCAL_HOST PEER_HOST
  // the tool would quietly use the default port for both.
  if (args.size() == 1)
    throw UsageError(
        "the classic form is LOCAL_HOST PEER_HOST PORT: PEER_HOST and PORT are missing");
  if (args.size() == 2)
    throw UsageError("the classic form is LOCAL_HOST PEER_HOST PORT: PORT is missing");
  if (const std::string* peer = take(1)) options.peer = *peer;
  if (const std::string* port = take(2)) options.port = parse_port(*port, "PORT");
}

void apply_parsed(const Parsed& parsed, ToolOptions& options) {
  options.timeout = std::chrono::milliseconds(parsed.timeout_ms);
  options.sync_timeout = std::chrono::seconds(parsed.sync_timeout_s);
  options.backup_grace = std::chrono::seconds(parsed.backup_grace_s);
  options.pause = std::chrono::milliseconds(parsed.pause_ms);
  options.poll = std::chrono::milliseconds(parsed.poll_ms);
  options.peer_silence = std::chrono::milliseconds(parsed.peer_silence_ms);
  options.fence_max_lag = std::chrono::seconds(parsed.fence_max_lag_s);
  options.copy_timeout = std::chrono::seconds(parsed.copy_timeout_s);
  options.watch_interval = std::chrono::milliseconds(parsed.watch_interval_ms);
  options.switchover_timeout = std::chrono::milliseconds(parsed.switchover_timeout_ms);
  options.on_sync_timeout =
      parsed.on_sync_timeout == "promote" ? OnSyncTimeout::promote : OnSyncTimeout::stay;
  for (const std::string& rename : parsed.renames) {
    size_t equals = rename.find('=');
    if (equals == std::string::npos || equals == 0 || equals + 1 == rename.size())
      throw UsageError(fmt::format("--rename-command: '{}' is not NAME=NEWNAME", rename));
    std::string name = rename.substr(0, equals);
    for (char& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    options.renamed_commands[name] = rename.substr(equals + 1);
  }
}

// The static redis_check cannot load rk-openssl.so (tools/CMakeLists.txt
// says why): with TLS on, the same command line goes to its dynamic twin,
// `twin` relative to this binary. So far the options were only read:
// nothing was connected, logged or written.
[[noreturn]] void run_tls_twin(const char* twin, char** argv) {
  const std::string path = beside_this_binary(twin);
  ::execv(path.c_str(), argv);
  throw UsageError(
      fmt::format("TLS support is not installed: cannot run {} ({})", path, std::strerror(errno)));
}

// CLI11's messages can span lines; keepalived operators read one.
std::string one_line(std::string text) {
  for (char& c : text)
    if (c == '\n') c = ' ';
  while (!text.empty() && text.back() == ' ') text.pop_back();
  return text;
}

}  // namespace

int run_tool(const ToolSpec& spec, int argc, char** argv, ToolEntry entry, const char* tls_twin) {
  ToolOptions options;
  options.tool = spec.name;
  Parsed parsed;
  CLI::App app(spec.description, spec.name);
  app.footer(exit_code_help());
  try {
    define_options(app, spec, options, parsed);
    app.parse(argc, argv);
    apply_positionals(app, spec, parsed, options);
    apply_parsed(parsed, options);
    if (const char* password = std::getenv("REDISCLI_AUTH"))
      options.environment_password = password;
    validate(options);
    if (tls_twin != nullptr && options.tls.enabled) run_tls_twin(tls_twin, argv);
    return to_int(entry(options));
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return to_int(ExitCode::success);
  } catch (const CLI::CallForVersion&) {
    std::cout << app.version() << '\n';
    return to_int(ExitCode::success);
  } catch (const CLI::ParseError& error) {
    std::fprintf(stderr, "%s: error: %s\n", spec.name, one_line(error.what()).c_str());
    return to_int(ExitCode::usage);
  } catch (const UsageError& error) {
    std::fprintf(stderr, "%s: error: %s\n", spec.name, one_line(error.what()).c_str());
    return to_int(ExitCode::usage);
  } catch (const std::exception& error) {
    // Anything else is a bug or an environment problem (memory, ...); fail
    // the check or the hook rather than pretend success.
    std::fprintf(stderr, "%s: internal error: %s\n", spec.name, one_line(error.what()).c_str());
    return to_int(ExitCode::failure);
  }
}

}  // namespace rk::cli
