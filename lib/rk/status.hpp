#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "rk/dataset_copy.hpp"
#include "rk/exit_code.hpp"
#include "rk/options.hpp"
#include "rk/replication_info.hpp"

// redis_status: the pair at a glance, for people and for machines. Read-only.
namespace rk {

struct NodeStatus {
  std::string address;              // host:port
  std::optional<RedisState> state;  // nullopt when unreadable
  std::string error;                // why it is unreadable
};

struct StatusReport {
  std::string instance;
  std::string state_dir;
  std::string transition;       // MASTER/BACKUP/FAULT/STOP, "" if none recorded
  std::string transition_time;  // as recorded
  std::string transition_tool;
  std::string last_verdict;       // the last hook's summary line
  std::string health;             // redis_check's last health
  long long health_age_s = -1;    // since redis_check last ran; -1 if never
  std::string state_error;        // why the state dir could not be read ("" when it could)
  bool state_dir_unsafe = false;  // it was refused as untrusted (UnsafeStateDir)
  NodeStatus local;
  std::optional<NodeStatus> peer;  // nullopt when no peer is configured
  // redis_watch's record (pid, health, since, track_file) and the age of
  // its heartbeat; an empty record when no watcher ever ran here.
  std::string watch_record;
  long long watch_age_s = -1;
  bool watch_process_running = false;  // the recorded generation's process runs
  // A running watcher touches its heartbeat every second and writes
  // heartbeat_bound_s (watch_heartbeat_bound) in its record; one that
  // stopped says so (health=stopped) or stops touching it (and failover
  // falls back to redis_check's timing).
  bool watcher_running() const;
  // The maintenance track_file (redis_switchover) and its value; empty
  // when none is configured, nullopt value when it cannot be read.
  std::string maintenance_file;
  std::optional<long> maintenance_value;
  // The hooks' counters and gauges (NAME.metrics).
  std::map<std::string, double> metrics;
  std::string copy_dir;
  std::vector<KeptCopy> copies;  // newest first
  std::string copy_error;        // why the copy dir could not be read ("" when it could)
  // Why the copy dir cannot take a copy now ("" when it can): a resync that
  // would discard writes is then refused (copy-failed).
  std::string copy_dir_problem;
  // The stale-history record (NAME.stale), "" when none stands.
  std::string stale_record;
  // True while a record stands that this node has not resolved (it does not
  // hold the recorded history of its peer, or its INFO cannot be read).
  bool stale_history() const;
  // keepalived puts the VIP on the node whose last transition is MASTER.
  bool holds_vip() const { return transition == "MASTER"; }
};

// Reads the state dir and INFO of both nodes.
StatusReport gather_status(const ToolOptions& options);
// The Prometheus text format (exposition format 0.0.4): the hooks' metrics,
// the toolkit's own figures and the replication figures under
// redis_exporter's names, labelled node="local"/"peer".
std::string render_prometheus(const StatusReport& report);
// Writes `text` to DIR/redis_keepalived.prom atomically (temp + rename), as
// node_exporter's textfile collector wants, in a directory the trust rules
// accept (replace_file). Throws UnsafeStateDir or StateError.
void write_textfile(const std::string& dir, const std::string& text);
// Human-readable lines.
std::string render_text(const StatusReport& report);
// One JSON object, valid UTF-8 whatever bytes the paths and errors hold.
std::string render_json(const StatusReport& report);
// JSON string literal of `text`; bytes that are not valid UTF-8 become U+FFFD.
std::string json_string(const std::string& text);
// redis_status's exit code for `report`: 2 for an unsafe state dir (the
// operator's to fix, as for every tool); 1 when the state dir cannot be read
// (a StateError: the command line was right) or the local Redis cannot; 0
// when both can.
ExitCode status_exit_code(const StatusReport& report);
// Prints the report (JSON with options.json) and returns status_exit_code;
// a state dir that cannot be read is said on stderr too. --clear-stale
// first removes the stale-history record and logs it (exit 1 when it cannot
// be removed, 2 for an unsafe state dir).
ExitCode run_status(const ToolOptions& given);

}  // namespace rk
