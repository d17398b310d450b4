#include "rk/status.hpp"

#include <cstdio>

#include <fmt/format.h>

#include "rk/errors.hpp"
#include "rk/hook_run.hpp"
#include "rk/instance_state.hpp"

namespace rk {
namespace {

// keepalived runs the check every interval (1-2 s in the samples); a health
// file this old means it is not running.
constexpr long long kStaleHealthSeconds = 30;

NodeStatus read_node(const ConnectionOptions& options) {
  NodeStatus node;
  node.address = fmt::format("{}:{}", options.host, options.port);
  try {
    Connection connection = Connection::open(options);
    node.state = HookRun::observe(connection);
  } catch (const RedisError& error) {
    node.error = error.what();
  }
  return node;
}

std::string json_string(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20)
          out += fmt::format("\\u{:04x}", static_cast<unsigned char>(c));
        else
          out += c;
    }
  }
  return out + "\"";
}

std::string json_node(const NodeStatus& node) {
  std::string out = fmt::format("{{\"address\":{}", json_string(node.address));
  if (!node.state)
    return out + fmt::format(",\"reachable\":false,\"error\":{}}}", json_string(node.error));
  const RedisState& s = *node.state;
  out += fmt::format(
      ",\"reachable\":true,\"role\":{},\"loading\":{},\"keys\":{},\"master_replid\":{},"
      "\"master_repl_offset\":{}",
      json_string(s.is_master() ? "master" : "replica"), s.loading ? "true" : "false", s.keys,
      json_string(s.master_replid), s.master_repl_offset);
  if (s.is_master()) {
    out += ",\"replicas\":[";
    for (size_t i = 0; i < s.replicas.size(); ++i) {
      const ReplicaEntry& r = s.replicas[i];
      out += fmt::format(
          "{}{{\"address\":{},\"state\":{},\"offset\":{},\"lag_bytes\":{},\"lag_s\":{}}}",
          i == 0 ? "" : ",", json_string(fmt::format("{}:{}", r.ip, r.port)), json_string(r.state),
          r.offset, s.master_repl_offset - r.offset, r.lag);
    }
    out += "]";
  } else {
    out += fmt::format(",\"follows\":{},\"link\":{},\"sync_in_progress\":{},\"applied_offset\":{}",
                       json_string(fmt::format("{}:{}", s.master_host, s.master_port)),
                       json_string(s.link_up ? "up" : "down"),
                       s.sync_in_progress ? "true" : "false", s.slave_repl_offset);
  }
  return out + "}";
}

std::string text_node(const char* label, const NodeStatus& node) {
  if (!node.state) return fmt::format("{} {}: unreachable ({})\n", label, node.address, node.error);
  const RedisState& s = *node.state;
  std::string out;
  if (s.is_master()) {
    out = fmt::format("{} {}: master, replid {}, offset {}, {} keys{}\n", label, node.address,
                      s.master_replid.substr(0, 8), s.master_repl_offset, s.keys,
                      s.loading ? ", LOADING" : "");
    for (const ReplicaEntry& r : s.replicas)
      out += fmt::format("  replica {}:{} {} offset {} (behind by {} bytes, last ack {} s ago)\n",
                         r.ip, r.port, r.state, r.offset, s.master_repl_offset - r.offset, r.lag);
    if (s.replicas.empty()) out += "  no replicas connected\n";
  } else {
    out =
        fmt::format("{} {}: replica of {}:{}, link {}{}, applied offset {}, replid {}, {} keys{}\n",
                    label, node.address, s.master_host, s.master_port, s.link_up ? "up" : "down",
                    s.sync_in_progress ? " (sync in progress)" : "", s.slave_repl_offset,
                    s.master_replid.substr(0, 8), s.keys, s.loading ? ", LOADING" : "");
  }
  return out;
}

}  // namespace

StatusReport gather_status(const ToolOptions& options) {
  StatusReport report;
  report.instance = options.instance;
  report.state_dir = options.state_dir;
  InstanceState state(options.state_dir, options.instance, InstanceState::Access::read_only);
  std::string record = state.read_record();
  report.transition = record_field(record, "state");
  report.transition_time = record_field(record, "time");
  report.transition_tool = record_field(record, "tool");
  report.last_verdict = state.read_last();
  report.health = state.read_health();
  report.health_age_s = state.health_age_seconds();
  report.local = read_node(local_connection(options));
  if (options.peer_endpoint) report.peer = read_node(peer_connection(options));
  return report;
}

std::string render_text(const StatusReport& report) {
  std::string out = fmt::format("instance {} (state dir {})\n", report.instance, report.state_dir);
  if (report.transition.empty()) {
    out += "  keepalived: no transition recorded yet\n";
  } else {
    out += fmt::format("  keepalived: {} since {} ({}){}\n", report.transition,
                       report.transition_time, report.transition_tool,
                       report.holds_vip() ? ", holds the VIP" : ", does not hold the VIP");
  }
  out +=
      fmt::format("  last hook: {}\n", report.last_verdict.empty() ? "none" : report.last_verdict);
  if (report.health.empty()) {
    out += "  health: not checked yet (is redis_check in a vrrp_script that keepalived runs?)\n";
  } else {
    out += fmt::format("  health: {} (checked {} s ago){}\n", report.health, report.health_age_s,
                       report.health_age_s > kStaleHealthSeconds
                           ? "; WARNING: redis_check has not run lately: keepalived may not be "
                             "running it"
                           : "");
  }
  out += text_node("local", report.local);
  if (report.peer) out += text_node("peer ", *report.peer);
  return out;
}

std::string render_json(const StatusReport& report) {
  std::string out = fmt::format(
      "{{\"instance\":{},\"state_dir\":{},\"transition\":{},\"transition_time\":{},"
      "\"transition_tool\":{},\"holds_vip\":{},\"last_verdict\":{},\"health\":{},"
      "\"health_age_s\":{},\"local\":{}",
      json_string(report.instance), json_string(report.state_dir), json_string(report.transition),
      json_string(report.transition_time), json_string(report.transition_tool),
      report.holds_vip() ? "true" : "false", json_string(report.last_verdict),
      json_string(report.health), report.health_age_s, json_node(report.local));
  out += report.peer ? fmt::format(",\"peer\":{}", json_node(*report.peer)) : ",\"peer\":null";
  return out + "}\n";
}

ExitCode run_status(const ToolOptions& options) {
  StatusReport report = gather_status(options);
  std::string text = options.json ? render_json(report) : render_text(report);
  std::fwrite(text.data(), 1, text.size(), stdout);
  return report.local.state ? ExitCode::success : ExitCode::failure;
}

}  // namespace rk
