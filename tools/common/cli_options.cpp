#include "common/cli_options.hpp"

#include <memory>
#include <sstream>

#include <fmt/format.h>

#include "rk/bounded_file.hpp"

namespace rk::cli {
namespace {

// The library's defaults (ToolOptions' initialisers) are the only ones.
const ToolOptions kDefaults{};

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

// The group an option shows under for this tool, or group::hidden: every
// tool accepts every option, so that one --config file serves them all.
const char* shown_in(bool shown, const char* heading) { return shown ? heading : group::hidden; }

// The check of a number option: within `range`. Not CLI::Range, which
// builds a description with an ostringstream for every option (redis_check
// defines them all at every keepalived interval) that CLI11 would append to
// the option's type name ("INT:INT in [1 - 65535]"): the range is in the
// option's text, in words. The number is read as CLI11 reads the option's
// value (lexical_cast: 0x10 is 16, 010 is 8), so the check and the value
// agree.
CLI::Validator in(const Range& range) {
  return CLI::Validator(
      [range](const std::string& input) -> std::string {
        long long value = 0;
        if (CLI::detail::lexical_cast(input, value) && range.contains(value)) return {};
        return fmt::format("{} is not a number from {} to {}", input, range.min, range.max);
      },
      "");
}

// A number within `range`, shown as METAVAR, its text ending in the range
// and the default: "Local Redis port (1-65535, default 6379)".
template <typename Number>
CLI::Option* add_number(CLI::App& app, const char* name, Number& value, const char* metavar,
                        const Range& range, const char* text) {
  return app
      .add_option(name, value,
                  fmt::format("{} ({}-{}, default {})", text, range.min, range.max,
                              static_cast<long long>(value)))
      ->type_name(metavar)
      ->check(in(range));
}

// A string shown as METAVAR, with its default when it has one.
CLI::Option* add_text(CLI::App& app, const char* name, std::string& value, const char* metavar,
                      const std::string& text) {
  const std::string shown = value.empty() ? text : fmt::format("{} (default {})", text, value);
  return app.add_option(name, value, shown)->type_name(metavar);
}

// A repeatable option, each value shown as METAVAR.
CLI::Option* add_list(CLI::App& app, const char* name, std::vector<std::string>& values,
                      const char* metavar, const std::string& text) {
  return app.add_option(name, values, text)->type_name(metavar);
}

const char* timeout_text(Kind kind) {
  switch (kind) {
    case Kind::check: return "Deadline of the whole check: connect, AUTH and PING";
    case Kind::watch: return "Deadline of each PING, with its connect";
    default: return "Deadline of each Redis call";
  }
}

void add_connection_options(CLI::App& app, Kind kind, ToolOptions& options, Parsed& parsed) {
  // redis_fault and redis_stop only record a transition: they take the
  // hooks' connection options and ignore them.
  const char* shown = shown_in(kind != Kind::transition, group::connection);
  add_text(app, "--host", options.host, "HOST", "Local Redis address")->group(shown);
  add_number(app, "--port", options.port, "PORT", limits::port, "Local Redis port")->group(shown);
  // redis_check needs the peer only for --witness.
  add_text(app, "--peer", options.peer, "HOST[:PORT]", "Peer Redis (the port defaults to --port)")
      ->group(shown_in(kind != Kind::watch && kind != Kind::transition, group::connection));
  add_text(app, "--user", options.user, "USER", "Redis ACL user")->group(shown);
  add_text(app, "--password-file", options.password_file, "FILE",
           "File holding the password (mode 0600); REDISCLI_AUTH is also read")
      ->group(shown);
  add_number(app, "--timeout", parsed.timeout_ms, "MS", limits::timeout_ms, timeout_text(kind))
      ->group(shown);
  add_list(app, "--rename-command", parsed.renames, "NAME=NEWNAME",
           "A command renamed in redis.conf (repeatable)")
      ->group(shown);
}

// redis-cli's names. Redis's side: tls-port (with port 0 for TLS only),
// and tls-replication yes on both servers for the link between them.
void add_tls_options(CLI::App& app, Kind kind, TlsOptions& tls) {
  const char* shown = shown_in(kind != Kind::transition, group::tls);
  app.add_flag("--tls", tls.enabled, "Connect to Redis (local and peer) over TLS")->group(shown);
  add_text(app, "--cacert", tls.cacert, "FILE",
           "CA certificates to verify the servers with (default: the system's)")
      ->group(shown);
  add_text(app, "--cacertdir", tls.cacertdir, "DIR", "Directory of CA certificates (c_rehash form)")
      ->group(shown);
  add_text(app, "--cert", tls.cert, "FILE",
           "Client certificate, for servers with tls-auth-clients yes")
      ->group(shown);
  add_text(app, "--key", tls.key, "FILE", "The client certificate's private key")->group(shown);
  add_text(app, "--sni", tls.sni, "NAME",
           "Server name to send and to find in the servers' certificates (default: the address "
           "as given)")
      ->group(shown);
  app.add_flag("--insecure", tls.insecure, "Do not verify the servers' certificates (tests only)")
      ->group(shown);
}

// redis_master and redis_backup: the sync-wait, the final comparison and
// the peer.
void add_hook_options(CLI::App& app, Kind kind, ToolOptions& options, Parsed& parsed) {
  const char* shown = shown_in(kind == Kind::hook, group::hook);
  add_number(app, "--sync-timeout", parsed.sync_timeout_s, "SECONDS", limits::sync_timeout_s,
             "Bound on the wait for the sync")
      ->group(shown);
  add_text(app, "--on-sync-timeout", parsed.on_sync_timeout, "stay|promote",
           "redis_master when the wait runs out: stay a replica, or promote")
      ->check(CLI::IsMember({"stay", "promote"}).description(""))
      ->group(shown);
  add_text(app, "--announce-host", options.announce_host, "HOST",
           "Address the peer must use to replicate this node (default: the local end of the "
           "connection to the peer); in Sentinel mode required: the address Sentinel monitors "
           "this node's Redis at (its replica-announce-ip)")
      ->group(kind == Kind::hook ? group::hook : group::sentinel);
  add_number(app, "--backup-grace", parsed.backup_grace_s, "SECONDS", limits::backup_grace_s,
             "redis_backup: time the peer's own promotion hook gets before a diverged peer is "
             "replicated")
      ->group(shown);
  app.add_flag("--promote-without-pause", options.promote_without_pause,
               "Accept a peer older than Redis 6.2 (no CLIENT PAUSE WRITE) and compare without "
               "pausing its writes, which can lose the writes it takes meanwhile (refused "
               "otherwise: peer-too-old, exit 1)")
      ->group(shown);
  add_number(app, "--pause-ms", parsed.pause_ms, "MS", limits::pause_ms,
             "CLIENT PAUSE WRITE window on the peer for the final comparison")
      ->group(shown);
  add_number(app, "--poll-ms", parsed.poll_ms, "MS", limits::poll_ms,
             "Interval between observations")
      ->group(shown);
  add_number(app, "--peer-silence-ms", parsed.peer_silence_ms, "MS", limits::peer_silence_ms,
             "redis_master: how long a peer that times out (not one that refuses) is waited for "
             "before a node not known to be incomplete promotes without it")
      ->group(shown);
  app.add_flag("--accept-data-loss", options.accept_data_loss,
               "redis_master, run by an operator: promote although a stale-history record says "
               "this node lacks writes its peer holds (logged with the recorded offsets; the "
               "record is cleared)")
      ->group(shown);
}

// The write fence: redis_check's --witness, and the hooks' --fence-writes.
void add_fencing_options(CLI::App& app, Kind kind, ToolOptions& options, Parsed& parsed) {
  const char* shown = shown_in(kind == Kind::check || kind == Kind::hook, group::fencing);
  add_list(app, "--witness", options.witnesses, "HOST:PORT",
           "A TCP address a healthy node reaches (repeatable): a master that reaches neither its "
           "peer nor any witness fails its check and fences its Redis (needs --peer, and "
           "+config|get +config|set). Not on this host: exit 2")
      ->group(shown);
  app.add_flag("--witness-on-this-host", options.witness_on_this_host,
               "Accept a --witness on loopback or on this host's own addresses, which always "
               "answers; for test set-ups on loopback only")
      ->group(shown_in(kind == Kind::check, group::fencing));
  app.add_flag("--fence-writes", options.fence_writes,
               "Keep min-replicas-to-write 1 on the master while its replica is attached, 0 on a "
               "master promoted without its peer (needs +config|get +config|set)")
      ->group(shown);
  add_number(app, "--fence-max-lag", parsed.fence_max_lag_s, "SECONDS", limits::fence_max_lag_s,
             "The fence's min-replicas-max-lag: the time without a replica's ACK after which "
             "the master refuses writes")
      ->group(shown);
}

// Sentinel mode: Redis Sentinel's majority decides which node is master.
void add_sentinel_options(CLI::App& app, ToolOptions& options) {
  const char* shown = group::sentinel;
  add_list(app, "--sentinel", options.sentinels, "HOST[:PORT]",
           "A sentinel (repeatable; the port defaults to 26379): Sentinel mode, in which a strict "
           "majority of these sentinels decides which node is master and the hooks never promote "
           "or repoint")
      ->group(shown);
  add_text(app, "--master-name", options.master_name, "NAME",
           "The master's name in `sentinel monitor NAME ...` (required with --sentinel)")
      ->group(shown);
  add_text(app, "--sentinel-user", options.sentinel_user, "USER",
           "ACL user on the sentinels (needs --sentinel-password-file)")
      ->group(shown);
  add_text(app, "--sentinel-password-file", options.sentinel_password_file, "FILE",
           "File holding the sentinels' password (mode 0600); the data nodes' password is never "
           "sent to a sentinel")
      ->group(shown);
  app.add_flag("--defer-to-watch", options.defer_to_watch,
               "redis_check: while a Sentinel-mode redis_watch of this --instance runs, pass after "
               "the PING and let its track file (tracked with weight 0) decide at the sentinels' "
               "speed")
      ->group(shown);
  app.add_flag("--weak-sentinel-quorum", options.weak_sentinel_quorum,
               "Accept one sentinel or an even number of them (refused otherwise: a majority of "
               "2 or 4 survives no more failures than one of 1 or 3)")
      ->group(shown);
}

// Kept copies: a dataset saved before a resync discards writes only it holds.
void add_copy_options(CLI::App& app, Kind kind, ToolOptions& options, Parsed& parsed) {
  const char* shown = shown_in(kind == Kind::hook, group::copies);
  add_text(app, "--copy-dir", options.copy_dir, "DIR",
           kind == Kind::status ? "Where the hooks keep copies, listed in the report"
                                : "Where a dataset is kept (RDB) before a resync discards writes "
                                  "only it holds")
      ->group(shown_in(kind == Kind::hook || kind == Kind::status, group::copies));
  add_number(app, "--copy-keep-count", options.copy_keep_count, "N", limits::copy_keep_count,
             "Retention: at most this many copies, the newest always kept")
      ->group(shown);
  add_number(app, "--copy-keep-mb", options.copy_keep_mb, "MIB", limits::copy_keep_mb,
             "Retention: at most this many MiB of copies in all, 0 for no bound")
      ->group(shown);
  add_number(app, "--copy-timeout", parsed.copy_timeout_s, "SECONDS", limits::copy_timeout_s,
             "Bound on making one copy, while the copied node's writes are paused")
      ->group(shown);
  app.add_flag("--resync-without-copy", options.resync_without_copy,
               "Let a resync discard writes even when their copy cannot be made (without it the "
               "hook stays as it is and exits 1)")
      ->group(shown);
}

// redis_watch's track file and its hysteresis (as vrrp_script fall/rise).
void add_watch_options(CLI::App& app, Kind kind, ToolOptions& options, Parsed& parsed) {
  const char* shown = shown_in(kind == Kind::watch, group::watching);
  add_text(app, "--track-file", options.track_file, "FILE",
           "The keepalived track_file to write: 0 healthy, 1 not (required)")
      ->group(shown);
  add_number(app, "--interval-ms", parsed.watch_interval_ms, "MS", limits::watch_interval_ms,
             "Interval between PINGs")
      ->group(shown);
  add_number(app, "--fall", options.watch_fall, "N", limits::watch_fall_rise,
             "Failed PINGs in a row before the file says 1 (as vrrp_script fall)")
      ->group(shown);
  add_number(app, "--rise", options.watch_rise, "N", limits::watch_fall_rise,
             "Good PINGs in a row before it says 0 again (as vrrp_script rise)")
      ->group(shown);
}

// redis_status's forms of the report, and its one change.
void add_status_options(CLI::App& app, Kind kind, ToolOptions& options) {
  const char* shown = shown_in(kind == Kind::status, group::output);
  app.add_flag("--json", options.json, "Print one JSON object instead of text")->group(shown);
  app.add_flag("--prometheus", options.prometheus,
               "Print the Prometheus text format instead of text")
      ->group(shown);
  add_text(app, "--textfile", options.textfile_dir, "DIR",
           kind == Kind::watch
               ? "Keep DIR/redis_keepalived.prom fresh for node_exporter's textfile collector"
               : "Also write DIR/redis_keepalived.prom for node_exporter's textfile collector")
      ->group(shown_in(kind == Kind::status || kind == Kind::watch,
                       kind == Kind::watch ? group::watching : group::output));
  app.add_flag("--clear-stale", options.clear_stale,
               "Remove the stale-history record first (the operator accepts that this node lacks "
               "its peer's writes; logged), then report")
      ->group(shown);
}

// redis_switchover, and the maintenance flag redis_status shows.
void add_switchover_options(CLI::App& app, Kind kind, ToolOptions& options, Parsed& parsed) {
  const char* shown = shown_in(kind == Kind::switchover, group::switchover);
  add_text(app, "--maintenance-file", options.maintenance_file, "FILE",
           kind == Kind::status ? "redis_switchover's maintenance track_file, whose flag to show"
                                : "The track_file whose 1 puts this node in FAULT (required "
                                  "but in Sentinel mode; keepalived must track it with weight 0)")
      ->group(shown_in(kind == Kind::switchover || kind == Kind::status, group::switchover));
  add_text(app, "--keepalived-conf", options.keepalived_conf, "FILE",
           "keepalived's configuration, checked to track --maintenance-file")
      ->group(shown);
  add_number(app, "--switchover-timeout-ms", parsed.switchover_timeout_ms, "MS",
             limits::switchover_timeout_ms,
             "Bound on the peer catching up while writes are paused, and on the VIP moving (in "
             "Sentinel mode: on the replicas catching up, and on the sentinels naming the new "
             "master)")
      ->group(shown);
  app.add_flag("--stay-out", options.stay_out,
               "Leave the maintenance value at 1 afterwards: this node stays out of the election")
      ->group(shown);
  app.add_flag("--status", options.switchover_status,
               "Print the maintenance flag and change nothing")
      ->group(shown);
  app.add_flag("--rejoin", options.rejoin,
               "Set the maintenance value back to 0 (after --stay-out) and change nothing else")
      ->group(shown);
}

void add_state_options(CLI::App& app, ToolOptions& options) {
  const char* shown = group::state;
  add_text(app, "--state-dir", options.state_dir, "DIR",
           "Directory of the hooks' records: lock, transitions, last verdict, health")
      ->group(shown);
  add_text(app, "--instance", options.instance, "NAME",
           "keepalived instance name, which names its records and lock")
      ->group(shown);
  add_text(app, "--log-file", options.log_file, "FILE", "Append log lines to this file (mode 0600)")
      ->group(shown);
  add_text(app, "--syslog-ident", options.syslog_ident, "IDENT",
           "syslog ident (default: the tool's name)")
      ->group(shown);
  add_text(app, "--syslog-facility", options.syslog_facility, "FACILITY",
           "syslog facility: daemon, user, local0 to local7")
      ->group(shown);
}

// --config, --help, --version, and the classic positional form.
void add_general_options(CLI::App& app, const ToolSpec& spec, Parsed& parsed) {
  auto config = std::make_shared<BoundedConfig>();
  app.config_formatter(config);
  app.set_config("--config", "", "Read options from this INI/TOML file (key = value)")
      ->type_name("FILE")
      ->check(CLI::Validator([config](const std::string& path) { return config->read(path); }, ""))
      ->group(group::general);
  // An unknown key in the file is a mistake the operator must hear about.
  app.allow_config_extras(CLI::config_extras_mode::error);
  app.set_help_flag("-h,--help", "Show this help and exit")->group(group::general);
  app.set_version_flag("--version", fmt::format("{} {}", spec.name, RK_VERSION),
                       "Show the version and exit")
      ->group(group::general);
  app.add_option("args", parsed.positionals)->expected(0, local_only(spec.kind) ? 2 : 3);
}

}  // namespace

Parsed::Parsed()
    : timeout_ms(kDefaults.timeout.count()),
      sync_timeout_s(kDefaults.sync_timeout.count()),
      backup_grace_s(kDefaults.backup_grace.count()),
      pause_ms(kDefaults.pause.count()),
      poll_ms(kDefaults.poll.count()),
      peer_silence_ms(kDefaults.peer_silence.count()),
      fence_max_lag_s(kDefaults.fence_max_lag.count()),
      copy_timeout_s(kDefaults.copy_timeout.count()),
      watch_interval_ms(kDefaults.watch_interval.count()),
      switchover_timeout_ms(kDefaults.switchover_timeout.count()),
      on_sync_timeout(kDefaults.on_sync_timeout == OnSyncTimeout::promote ? "promote" : "stay") {}

bool local_only(Kind kind) { return kind == Kind::check || kind == Kind::watch; }

void define_options(CLI::App& app, const ToolSpec& spec, ToolOptions& options, Parsed& parsed) {
  // First, although they show last (group::order): CLI11 compares each new
  // option's names with every option defined before it, and redis_check
  // defines all of them at every keepalived interval.
  add_general_options(app, spec, parsed);
  add_connection_options(app, spec.kind, options, parsed);
  add_tls_options(app, spec.kind, options.tls);
  add_hook_options(app, spec.kind, options, parsed);
  add_fencing_options(app, spec.kind, options, parsed);
  add_sentinel_options(app, options);
  add_copy_options(app, spec.kind, options, parsed);
  add_watch_options(app, spec.kind, options, parsed);
  add_status_options(app, spec.kind, options);
  add_switchover_options(app, spec.kind, options, parsed);
  add_state_options(app, options);
}

std::vector<std::string> synopsis(Kind kind) {
  switch (kind) {
    case Kind::check: return {"[OPTIONS] [HOST [PORT]]"};
    case Kind::watch: return {"--track-file FILE [OPTIONS] [HOST [PORT]]"};
    case Kind::switchover:
      return {"--maintenance-file FILE [OPTIONS] [LOCAL_HOST PEER_HOST PORT]",
              "--maintenance-file FILE --status | --rejoin",
              "--sentinel HOST[:PORT]... --master-name NAME --announce-host HOST [OPTIONS]"};
    case Kind::hook:
    case Kind::transition:
    case Kind::status: break;
  }
  return {"[OPTIONS] [LOCAL_HOST PEER_HOST PORT]"};
}

}  // namespace rk::cli
