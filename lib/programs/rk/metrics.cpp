// redis_status --prometheus and --textfile: the Prometheus text format
// (exposition format 0.0.4), one HELP and TYPE line per family, and the
// textfile collector's atomic write.

#include <cstring>

#include <fmt/format.h>

#include "rk/errors.hpp"
#include "rk/metrics.hpp"
#include "rk/track_file.hpp"

namespace rk {
namespace {

// Label values escape backslash, double quote and newline.
std::string label_value(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

// The help text of each family the toolkit writes; a family from the
// metrics file that is not listed gets a generic one.
struct Family {
  const char* name;
  const char* type;
  const char* help;
};
constexpr Family kFamilies[] = {
    {"redis_keepalived_transitions_total", "counter",
     "keepalived transitions recorded by the hooks, by state"},
    {"redis_keepalived_hook_runs_total", "counter", "hook runs, by hook and verdict"},
    {"redis_keepalived_last_hook_exit_code", "gauge", "exit code of each hook's last run"},
    {"redis_keepalived_last_hook_duration_seconds", "gauge", "duration of each hook's last run"},
    {"redis_keepalived_sync_wait_seconds", "gauge",
     "duration of the last sync-wait before promotion (redis_master's run)"},
    {"redis_keepalived_split_brain_detected", "gauge",
     "1 when the last notify hook found two masters with diverged histories"},
    {"redis_keepalived_split_brain_detected_total", "counter",
     "split brains found by the notify hooks"},
};

const Family* family_of(const std::string& name) {
  for (const Family& family : kFamilies)
    if (name == family.name) return &family;
  return nullptr;
}

class Exposition {
 public:
  void sample(const std::string& name, const char* type, const char* help,
              const std::string& labels, double value) {
    if (name != last_family_) {
      out_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
      last_family_ = name;
    }
    out_ += labels.empty() ? fmt::format("{} {}\n", name, value)
                           : fmt::format("{}{{{}}} {}\n", name, labels, value);
  }
  std::string text() const { return out_; }

 private:
  std::string out_;
  std::string last_family_;
};

// The replication figures of one node, named as redis_exporter names them.
void node_samples(Exposition& out, const char* node, const NodeStatus& status) {
  std::string base = fmt::format("node=\"{}\",addr=\"{}\"", node, label_value(status.address));
  out.sample("redis_up", "gauge", "1 when the node answered INFO", base, status.state ? 1 : 0);
}

using Nodes = std::vector<std::pair<const char*, const NodeStatus*>>;

// One gauge per node that answered and reports it (value_of gives nullopt
// where the figure does not apply: a master has no applied offset).
template <typename ValueOf>
void node_gauge(Exposition& out, const Nodes& nodes, const char* name, const char* help,
                ValueOf value_of) {
  for (const auto& [node, status] : nodes) {
    if (!status->state) continue;
    std::optional<double> value = value_of(*status->state);
    if (!value) continue;
    out.sample(name, "gauge", help,
               fmt::format("node=\"{}\",addr=\"{}\"", node, label_value(status->address)), *value);
  }
}

// Each node's own replication figures.
void offset_samples(Exposition& out, const Nodes& nodes) {
  node_gauge(out, nodes, "redis_connected_slaves", "replicas connected to the node",
             [](const RedisState& s) -> std::optional<double> { return s.connected_slaves; });
  node_gauge(out, nodes, "redis_master_repl_offset", "the node's replication offset",
             [](const RedisState& s) -> std::optional<double> {
               return static_cast<double>(s.master_repl_offset);
             });
  node_gauge(out, nodes, "redis_slave_repl_offset", "the offset a replica has applied",
             [](const RedisState& s) -> std::optional<double> {
               if (s.is_master()) return std::nullopt;
               return static_cast<double>(s.slave_repl_offset);
             });
  node_gauge(out, nodes, "redis_master_link_up", "1 when a replica's link to its master is up",
             [](const RedisState& s) -> std::optional<double> {
               if (s.is_master()) return std::nullopt;
               return s.link_up ? 1 : 0;
             });
  node_gauge(out, nodes, "redis_master_sync_in_progress", "1 while a replica's full sync runs",
             [](const RedisState& s) -> std::optional<double> {
               if (s.is_master()) return std::nullopt;
               return s.sync_in_progress ? 1 : 0;
             });
}

// A master's view of each of its replicas: lag and acknowledged offset.
void replica_samples(Exposition& out, const Nodes& nodes) {
  for (const char* name :
       {"redis_connected_slave_lag_seconds", "redis_connected_slave_offset_bytes"}) {
    bool lag = std::strcmp(name, "redis_connected_slave_lag_seconds") == 0;
    for (const auto& [node, status] : nodes) {
      if (!status->state) continue;
      for (const ReplicaEntry& replica : status->state->replicas)
        out.sample(name, "gauge",
                   lag ? "seconds since each replica's last ACK, as the master sees it"
                       : "offset each replica has acknowledged, as the master sees it",
                   fmt::format("node=\"{}\",slave_ip=\"{}\",slave_port=\"{}\",slave_state=\"{}\"",
                               node, label_value(replica.ip), replica.port,
                               label_value(replica.state)),
                   static_cast<double>(lag ? replica.lag : replica.offset));
    }
  }
}

// Each node's role and server, as info gauges (value 1, the facts in labels).
void info_samples(Exposition& out, const Nodes& nodes) {
  for (const auto& [node, status] : nodes) {
    if (!status->state) continue;
    const RedisState& s = *status->state;
    out.sample("redis_instance_info", "gauge", "the node's role and server version",
               fmt::format("node=\"{}\",addr=\"{}\",role=\"{}\",redis_version=\"{}\"", node,
                           label_value(status->address), s.is_master() ? "master" : "slave",
                           label_value(s.redis_version)),
               1);
  }
  // Which server answered and its own version: for Valkey, valkey_version
  // (redis_instance_info's redis_version is the Redis release it is
  // compatible with).
  for (const auto& [node, status] : nodes) {
    if (!status->state || status->state->server_name.empty()) continue;
    const RedisState& s = *status->state;
    out.sample("redis_keepalived_server_info", "gauge",
               "the server (redis or valkey) and its version",
               fmt::format("node=\"{}\",addr=\"{}\",server=\"{}\",version=\"{}\"", node,
                           label_value(status->address), label_value(s.server_name),
                           label_value(s.server_version)),
               1);
  }
}

void replication_samples(Exposition& out, const Nodes& nodes) {
  offset_samples(out, nodes);
  replica_samples(out, nodes);
  info_samples(out, nodes);
}

// Sentinel's master flags shown as 0/1, a fixed set so that the series stay
// the same from scrape to scrape (sentinel.c: the master is subjectively or
// objectively down, or a failover of it runs).
constexpr const char* kSentinelFlags[] = {"s_down", "o_down", "failover_in_progress"};

// One gauge per sentinel for which `value_of` gives a value.
template <typename ValueOf>
void sentinel_gauge(Exposition& out, const SentinelStatus& status, const char* name,
                    const char* help, ValueOf value_of) {
  for (std::size_t i = 0; i < status.sentinels.size(); ++i) {
    std::optional<double> value = value_of(i, status.sentinels[i]);
    if (!value) continue;
    out.sample(name, "gauge", help,
               fmt::format("sentinel=\"{}\"",
                           label_value(status.sentinels[i].view.sentinel.text())),
               *value);
  }
}

// Each sentinel's own answer: up, TILT, the master it names.
void sentinel_view_samples(Exposition& out, const SentinelStatus& status) {
  using Value = std::optional<double>;
  sentinel_gauge(out, status, "redis_keepalived_sentinel_up",
                 "1 when the sentinel answered GET-MASTER-ADDR-BY-NAME and INFO sentinel",
                 [](std::size_t, const SentinelDetails& d) -> Value { return d.view.answered; });
  sentinel_gauge(out, status, "redis_keepalived_sentinel_tilt",
                 "1 while the sentinel is in TILT (its view does not count in the majority)",
                 [](std::size_t, const SentinelDetails& d) -> Value {
                   if (!d.view.answered) return std::nullopt;
                   return d.view.tilt;
                 });
  sentinel_gauge(out, status, "redis_keepalived_sentinel_names_this_node",
                 "1 when the sentinel names this node (--announce-host:--port) as master",
                 [&status](std::size_t i, const SentinelDetails& d) -> Value {
                   if (!d.view.answered) return std::nullopt;
                   return status.names_self(i);
                 });
}

// What SENTINEL MASTER and SENTINEL CKQUORUM said.
void sentinel_monitor_samples(Exposition& out, const SentinelStatus& status) {
  using Value = std::optional<double>;
  auto field = [](long long SentinelMonitor::*member) {
    return [member](std::size_t, const SentinelDetails& d) -> Value {
      if (!d.monitor) return std::nullopt;
      return static_cast<double>((*d.monitor).*member);
    };
  };
  sentinel_gauge(out, status, "redis_keepalived_sentinel_config_epoch",
                 "the master's config epoch as the sentinel knows it (it rises at each failover)",
                 field(&SentinelMonitor::config_epoch));
  sentinel_gauge(out, status, "redis_keepalived_sentinel_other_sentinels",
                 "the other sentinels this sentinel knows for the master (num-other-sentinels)",
                 field(&SentinelMonitor::other_sentinels));
  sentinel_gauge(out, status, "redis_keepalived_sentinel_quorum",
                 "the quorum in the sentinel's `sentinel monitor` line",
                 field(&SentinelMonitor::quorum));
  for (const SentinelDetails& details : status.sentinels) {
    if (!details.monitor) continue;
    for (const char* flag : kSentinelFlags)
      out.sample("redis_keepalived_sentinel_master_flag", "gauge",
                 "1 when the sentinel's SENTINEL MASTER flags hold the flag",
                 fmt::format("sentinel=\"{}\",flag=\"{}\"",
                             label_value(details.view.sentinel.text()), flag),
                 details.monitor->has_flag(flag) ? 1 : 0);
  }
  sentinel_gauge(out, status, "redis_keepalived_sentinel_quorum_reachable",
                 "1 when SENTINEL CKQUORUM says the quorum and a failover's majority can be "
                 "reached",
                 [](std::size_t, const SentinelDetails& d) -> Value {
                   if (!d.quorum_reachable) return std::nullopt;
                   return *d.quorum_reachable;
                 });
}

// The verdict and this node's place.
void sentinel_verdict_samples(Exposition& out, const SentinelStatus& status) {
  out.sample("redis_keepalived_sentinel_configured", "gauge",
             "sentinels configured (--sentinel); a strict majority of them decides", "",
             static_cast<double>(status.tally.configured));
  out.sample("redis_keepalived_sentinel_agree", "gauge",
             "1 when a strict majority of the configured sentinels, not in TILT, name one master",
             "", status.tally.master ? 1 : 0);
  out.sample("redis_keepalived_sentinel_majority_names_this_node", "gauge",
             "1 when a strict majority of the configured sentinels name this node as master", "",
             status.tally.master && same_endpoint(*status.tally.master, status.self) ? 1 : 0);
  if (status.standing.place == SentinelPlace::unknown) return;  // the local Redis does not answer
  bool unnamed = status.standing.place == SentinelPlace::unnamed_master;
  out.sample("redis_keepalived_sentinel_unnamed_master", "gauge",
             "1 when the local Redis is a master that no majority of the sentinels names", "",
             unnamed ? 1 : 0);
  out.sample("redis_keepalived_sentinel_unfenced_master", "gauge",
             "1 when the local Redis is a master that no majority names and no write fence is "
             "on: it acknowledges writes Sentinel's reconfiguration would discard",
             "", unnamed && !status.standing.fenced ? 1 : 0);
}

}  // namespace

std::string render_prometheus(const StatusReport& report) {
  Exposition out;
  // The hooks' counters and gauges, grouped by family (the map is sorted
  // by "name{labels}", so a family's samples are adjacent).
  for (const auto& [sample, value] : report.metrics) {
    std::string name = sample.substr(0, sample.find('{'));
    std::string labels;
    size_t open = sample.find('{');
    if (open != std::string::npos && sample.back() == '}')
      labels = sample.substr(open + 1, sample.size() - open - 2);
    const Family* family = family_of(name);
    out.sample(name, family ? family->type : "gauge",
               family ? family->help : "a figure recorded by the hooks", labels, value);
  }
  out.sample("redis_keepalived_holds_vip", "gauge",
             "1 when this node's last keepalived transition is MASTER", "",
             report.holds_vip() ? 1 : 0);
  if (report.health_age_s >= 0)
    out.sample("redis_keepalived_check_age_seconds", "gauge",
               "seconds since redis_check last ran (keepalived runs it every interval)", "",
               static_cast<double>(report.health_age_s));
  out.sample("redis_keepalived_watcher_up", "gauge", "1 while redis_watch's heartbeat is fresh", "",
             report.watcher_running() ? 1 : 0);
  if (!report.maintenance_file.empty() && report.maintenance_value)
    out.sample("redis_keepalived_maintenance", "gauge",
               "1 when the maintenance track_file keeps this node out of the election", "",
               *report.maintenance_value != 0 ? 1 : 0);
  out.sample("redis_keepalived_stale_history", "gauge",
             "1 while a hook's record says this node lacks writes its peer holds: redis_check "
             "fails it and redis_master does not promote it without its peer",
             "", report.stale_history() ? 1 : 0);
  out.sample("redis_keepalived_copy_dir_usable", "gauge",
             "1 when the copy dir can take a copy; 0: a resync that would discard writes is "
             "refused (copy-failed)",
             "", report.copy_dir_problem.empty() ? 1 : 0);
  long long bytes = 0;
  for (const KeptCopy& copy : report.copies) bytes += copy.bytes;
  out.sample("redis_keepalived_kept_copies", "gauge",
             "datasets kept in the copy dir before a resync discarded writes", "",
             static_cast<double>(report.copies.size()));
  out.sample("redis_keepalived_kept_copies_bytes", "gauge", "bytes of the kept copies", "",
             static_cast<double>(bytes));
  Nodes nodes{{"local", &report.local}};
  if (report.peer) nodes.emplace_back("peer", &*report.peer);
  for (const auto& [node, status] : nodes) node_samples(out, node, *status);
  replication_samples(out, nodes);
  if (report.sentinel) {
    sentinel_verdict_samples(out, *report.sentinel);
    sentinel_view_samples(out, *report.sentinel);
    sentinel_monitor_samples(out, *report.sentinel);
  }
  return out.text();
}

void write_textfile(const std::string& dir, const std::string& text) {
  // The temp name ends in .tmp: node_exporter reads only *.prom.
  replace_file(dir + "/redis_keepalived.prom", text, OutputFile::textfile);
}

}  // namespace rk
