#include "rk/status.hpp"

#include <cstdio>

#include <fmt/format.h>

#include "rk/decisions.hpp"
#include "rk/errors.hpp"
#include "rk/instance_state.hpp"
#include "rk/log.hpp"
#include "rk/metrics.hpp"
#include "rk/observe.hpp"
#include "rk/status_sentinel.hpp"
#include "rk/track_file.hpp"

namespace rk {
namespace {

// keepalived runs the check every interval (1-2 s in the samples); a health
// file this old means it is not running.
constexpr long long kStaleHealthSeconds = 30;

// null for a field the server did not report.
std::string json_or_null(const std::string& text) {
  return text.empty() ? std::string("null") : json_string(text);
}

std::string json_node(const NodeStatus& node) {
  std::string out = fmt::format("{{\"address\":{}", json_string(node.address));
  if (!node.state)
    return out + fmt::format(",\"reachable\":false,\"error\":{}}}", json_string(node.error));
  const RedisState& s = *node.state;
  out += fmt::format(
      ",\"reachable\":true,\"server_name\":{},\"server_version\":{},\"role\":{},"
      "\"loading\":{},\"keys\":{},\"master_replid\":{},\"master_repl_offset\":{}",
      json_or_null(s.server_name), json_or_null(s.server_version),
      json_string(s.is_master() ? "master" : "replica"), s.loading ? "true" : "false", s.keys,
      json_string(s.master_replid), s.master_repl_offset);
  if (s.is_master()) {
    out += ",\"replicas\":[";
    for (size_t i = 0; i < s.replicas.size(); ++i) {
      const ReplicaEntry& r = s.replicas[i];
      out += fmt::format(
          "{}{{\"address\":{},\"state\":{},\"offset\":{},\"lag_bytes\":{},\"lag_s\":{}}}",
          i == 0 ? "" : ",", json_string(r.endpoint().text()), json_string(r.state), r.offset,
          s.master_repl_offset - r.offset, r.lag);
    }
    out += "]";
  } else {
    out += fmt::format(",\"follows\":{},\"link\":{},\"sync_in_progress\":{},\"applied_offset\":{}",
                       json_string(s.master().text()), json_string(s.link_up ? "up" : "down"),
                       s.sync_in_progress ? "true" : "false", s.slave_repl_offset);
  }
  return out + "}";
}

std::string text_node(const char* label, const NodeStatus& node) {
  if (!node.state) return fmt::format("{} {}: unreachable ({})\n", label, node.address, node.error);
  const RedisState& s = *node.state;
  // Which server answered and its own version (Valkey's, not the Redis
  // release it is compatible with); nothing when INFO names none.
  std::string server = s.server_name.empty()
                           ? std::string()
                           : fmt::format(", server: {} {}", s.server_name, s.server_version);
  std::string out;
  if (s.is_master()) {
    out = fmt::format("{} {}: master, replid {}, offset {}, {} keys{}{}\n", label, node.address,
                      s.master_replid.substr(0, 8), s.master_repl_offset, s.keys,
                      s.loading ? ", LOADING" : "", server);
    for (const ReplicaEntry& r : s.replicas)
      out += fmt::format("  replica {} {} offset {} (behind by {} bytes, last ack {} s ago)\n",
                         r.endpoint().text(), r.state, r.offset, s.master_repl_offset - r.offset,
                         r.lag);
    if (s.replicas.empty()) out += "  no replicas connected\n";
  } else {
    out =
        fmt::format("{} {}: replica of {}, link {}{}, applied offset {}, replid {}, {} keys{}{}\n",
                    label, node.address, s.master().text(), s.link_up ? "up" : "down",
                    s.sync_in_progress ? " (sync in progress)" : "", s.slave_repl_offset,
                    s.master_replid.substr(0, 8), s.keys, s.loading ? ", LOADING" : "", server);
  }
  return out;
}

}  // namespace

namespace {

// Length of the valid UTF-8 sequence at `at`, or 0 when the bytes there are
// not one (RFC 3629: no overlongs, no surrogates, nothing past U+10FFFF).
size_t utf8_sequence_length(const std::string& text, size_t at) {
  auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  unsigned char lead = byte(at);
  size_t length = 0;
  unsigned char low = 0x80;
  unsigned char high = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;
    if (lead == 0xED) high = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;
    if (lead == 0xF4) high = 0x8F;
  } else {
    return 0;
  }
  if (at + length > text.size()) return 0;
  if (byte(at + 1) < low || byte(at + 1) > high) return 0;
  for (size_t i = 2; i < length; ++i)
    if (byte(at + i) < 0x80 || byte(at + i) > 0xBF) return 0;
  return length;
}

}  // namespace

std::string json_string(const std::string& text) {
  std::string out = "\"";
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    auto byte = static_cast<unsigned char>(c);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (byte < 0x20) {
          out += fmt::format("\\u{:04x}", byte);
        } else if (byte < 0x80) {
          out += c;
        } else if (size_t length = utf8_sequence_length(text, i)) {
          out.append(text, i, length);
          i += length - 1;
        } else {
          out += "\\ufffd";  // a byte that is not UTF-8 (paths are bytes)
        }
    }
  }
  return out + "\"";
}

namespace {

long long total_bytes(const std::vector<KeptCopy>& copies) {
  long long total = 0;
  for (const KeptCopy& copy : copies) total += copy.bytes;
  return total;
}

std::string text_watcher(const StatusReport& report) {
  const std::string& record = report.watch_record;
  if (record.empty())
    return "  watcher: none (no redis_watch has run here; the track_file reads 0)\n";
  std::string what = fmt::format("{} since {} (pid {}, track file {}, heartbeat {} s ago)",
                                 record_field(record, "health"), record_field(record, "since"),
                                 record_field(record, "pid"), record_field(record, "track_file"),
                                 report.watch_age_s);
  if (report.watcher_running()) return fmt::format("  watcher: {}\n", what);
  return fmt::format(
      "  watcher: STOPPED: last seen {}; failover falls back to redis_check's timing\n", what);
}

std::string json_watcher(const StatusReport& report) {
  const std::string& record = report.watch_record;
  if (record.empty()) return "null";
  return fmt::format(
      "{{\"running\":{},\"health\":{},\"since\":{},\"pid\":{},\"track_file\":{},"
      "\"heartbeat_age_s\":{}}}",
      report.watcher_running() ? "true" : "false", json_string(record_field(record, "health")),
      json_string(record_field(record, "since")), json_string(record_field(record, "pid")),
      json_string(record_field(record, "track_file")), report.watch_age_s);
}

std::string text_maintenance(const StatusReport& report) {
  if (report.maintenance_file.empty()) return "";
  return fmt::format("  maintenance: {}\n",
                     describe_maintenance(report.maintenance_file, report.maintenance_value));
}

std::string json_maintenance(const StatusReport& report) {
  if (report.maintenance_file.empty()) return "null";
  return fmt::format("{{\"file\":{},\"value\":{}}}", json_string(report.maintenance_file),
                     report.maintenance_value ? std::to_string(*report.maintenance_value)
                                              : std::string("null"));
}

std::string text_copy_list(const StatusReport& report);

// Sentinel mode's key; nothing in pair mode.
std::string json_sentinels(const StatusReport& report) {
  if (!report.sentinel) return "";
  return ",\"sentinels\":" + render_sentinel_json(*report.sentinel);
}

std::string text_stale(const StatusReport& report) {
  std::optional<StaleHistory> stale = StaleHistory::parse(report.stale_record);
  if (!stale) return "  stale history: none\n";
  if (!report.stale_history())
    return fmt::format(
        "  stale history: recorded, but this node holds that history now (it resynced); the next "
        "redis_backup or redis_master clears it: {}\n",
        stale->describe());
  return fmt::format(
      "  stale history: STALE: this node lacks writes its peer holds: {}. redis_check fails it "
      "and redis_master does not promote it without its peer until it has resynced (operator "
      "overrides: redis_master --accept-data-loss, redis_status --clear-stale)\n",
      stale->describe());
}

std::string json_stale(const StatusReport& report) {
  std::optional<StaleHistory> stale = StaleHistory::parse(report.stale_record);
  if (!stale) return "null";
  return fmt::format(
      "{{\"stale\":{},\"since\":{},\"hook\":{},\"reason\":{},\"local_replid\":{},"
      "\"local_offset\":{},\"peer_replid\":{},\"peer_offset\":{}}}",
      report.stale_history() ? "true" : "false", json_string(stale->since),
      json_string(stale->hook), json_string(stale->reason), json_string(stale->local_replid),
      stale->local_offset, json_string(stale->peer_replid), stale->peer_offset);
}

std::string text_copies(const StatusReport& report) {
  std::string dir_line =
      report.copy_dir_problem.empty()
          ? std::string()
          : fmt::format(
                "  copy dir: UNUSABLE: {}; a resync that would discard writes is refused "
                "(copy-failed) until it is fixed\n",
                report.copy_dir_problem);
  return dir_line + text_copy_list(report);
}

std::string text_copy_list(const StatusReport& report) {
  if (!report.copy_error.empty())
    return fmt::format("  kept copies ({}): UNREADABLE: {}\n", report.copy_dir, report.copy_error);
  if (report.copies.empty()) return fmt::format("  kept copies ({}): none\n", report.copy_dir);
  std::string out = fmt::format("  kept copies ({}): {}, {} bytes in all\n", report.copy_dir,
                                report.copies.size(), total_bytes(report.copies));
  for (const KeptCopy& copy : report.copies)
    out += fmt::format(
        "    {}: {} bytes, the {} dataset, replid {}, the writes after offset {} up to {}\n",
        copy.file, copy.bytes, copy.name.source, copy.name.replid.substr(0, 8),
        copy.name.from_offset, copy.name.to_offset);
  return out;
}

std::string json_copies(const StatusReport& report) {
  std::string list;
  for (const KeptCopy& copy : report.copies) {
    if (!list.empty()) list += ",";
    list += fmt::format(
        "{{\"file\":{},\"bytes\":{},\"time\":{},\"source\":{},\"replid\":{},"
        "\"from_offset\":{},\"to_offset\":{}}}",
        json_string(copy.file), copy.bytes, json_string(copy.name.time),
        json_string(copy.name.source), json_string(copy.name.replid), copy.name.from_offset,
        copy.name.to_offset);
  }
  return fmt::format(
      "{{\"dir\":{},\"usable\":{},\"problem\":{},\"error\":{},\"count\":{},\"bytes\":{},"
      "\"copies\":[{}]}}",
      json_string(report.copy_dir), report.copy_dir_problem.empty() ? "true" : "false",
      json_or_null(report.copy_dir_problem), json_or_null(report.copy_error), report.copies.size(),
      total_bytes(report.copies), list);
}

}  // namespace

std::string render_text(const StatusReport& report) {
  std::string out = fmt::format("instance {} (state dir {})\n", report.instance, report.state_dir);
  if (!report.state_error.empty()) {
    out += fmt::format("  state dir: UNREADABLE: {}\n", report.state_error);
  } else if (report.transition.empty()) {
    out += "  keepalived: no transition recorded yet\n";
  } else {
    out += fmt::format("  keepalived: {} since {} ({}){}\n", report.transition,
                       report.transition_time, report.transition_tool,
                       report.holds_vip() ? ", holds the VIP" : ", does not hold the VIP");
  }
  out +=
      fmt::format("  last hook: {}\n", report.last_verdict.empty() ? "none" : report.last_verdict);
  if (!report.state_error.empty()) {
    out += "  health: unknown (the state dir cannot be read)\n";
  } else if (report.health.empty()) {
    out += "  health: not checked yet (is redis_check in a vrrp_script that keepalived runs?)\n";
  } else {
    out += fmt::format("  health: {} (checked {} s ago){}\n", report.health, report.health_age_s,
                       report.health_age_s > kStaleHealthSeconds
                           ? "; WARNING: redis_check has not run lately: keepalived may not be "
                             "running it"
                           : "");
  }
  if (report.state_error.empty()) out += text_stale(report);
  out += text_node("local", report.local);
  if (report.peer) out += text_node("peer ", *report.peer);
  if (report.sentinel) out += render_sentinel_text(*report.sentinel);
  return out + text_watcher(report) + text_maintenance(report) + text_copies(report);
}

std::string render_json(const StatusReport& report) {
  std::string out = fmt::format(
      "{{\"instance\":{},\"state_dir\":{},\"transition\":{},\"transition_time\":{},"
      "\"transition_tool\":{},\"holds_vip\":{},\"last_verdict\":{},\"health\":{},"
      "\"health_age_s\":{},\"state_error\":{},\"local\":{}",
      json_string(report.instance), json_string(report.state_dir), json_string(report.transition),
      json_string(report.transition_time), json_string(report.transition_tool),
      report.holds_vip() ? "true" : "false", json_string(report.last_verdict),
      json_string(report.health), report.health_age_s,
      report.state_error.empty() ? std::string("null") : json_string(report.state_error),
      json_node(report.local));
  out += report.peer ? fmt::format(",\"peer\":{}", json_node(*report.peer)) : ",\"peer\":null";
  return out + ",\"stale_history\":" + json_stale(report) + ",\"watcher\":" + json_watcher(report) +
         ",\"maintenance\":" + json_maintenance(report) +
         ",\"kept_copies\":" + json_copies(report) + json_sentinels(report) + "}\n";
}

namespace {

// --clear-stale: the operator accepts that this node lacks writes its peer
// held. Logged with what the record said, so the log tells who lost what.
ExitCode clear_stale(const ToolOptions& options) {
  try {
    InstanceState state(options.state_dir, options.instance, InstanceState::Access::existing_only);
    std::optional<StaleHistory> stale = StaleHistory::parse(state.read_stale());
    if (!state.remove_stale() || !stale) {
      std::printf("no stale-history record to clear\n");
      return ExitCode::success;
    }
    Logger log(log_options(options));
    log.open_sinks();
    log.warning_to_log_only(fmt::format(
        "stale-history record cleared by the operator (redis_status --clear-stale); it said: {}",
        stale->describe()));
    std::printf("stale-history record cleared; it said: %s\n", stale->describe().c_str());
    return ExitCode::success;
  } catch (const StateError& error) {
    std::fprintf(stderr, "%s: error: cannot clear the stale-history record: %s\n",
                 options.tool.c_str(), error.what());
    return ExitCode::failure;
  }
}

}  // namespace

ExitCode run_status(const ToolOptions& given) {
  ToolOptions options = given;
  if (!options.textfile_dir.empty())
    require_trusted_directory(options.textfile_dir, "--textfile", OutputFile::textfile);
  resolve_password(options);
  if (options.clear_stale)
    if (ExitCode cleared = clear_stale(options); cleared != ExitCode::success) return cleared;
  StatusReport report = gather_status(options);
  if (!options.textfile_dir.empty()) {
    try {
      write_textfile(options.textfile_dir, render_prometheus(report));
    } catch (const StateError& error) {
      std::fprintf(stderr, "%s: error: %s\n", options.tool.c_str(), error.what());
      return ExitCode::failure;
    }
  }
  std::string text = options.json         ? render_json(report)
                     : options.prometheus ? render_prometheus(report)
                                          : render_text(report);
  std::fwrite(text.data(), 1, text.size(), stdout);
  if (!report.state_error.empty())
    std::fprintf(stderr, "%s: error: cannot read the state dir: %s\n", options.tool.c_str(),
                 report.state_error.c_str());
  return status_exit_code(report);
}

ExitCode status_exit_code(const StatusReport& report) {
  if (report.state_dir_unsafe) return ExitCode::usage;
  if (!report.state_error.empty() || !report.local.state) return ExitCode::failure;
  return ExitCode::success;
}

}  // namespace rk
