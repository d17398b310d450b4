#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "rk/kept_copy.hpp"
#include "rk/options.hpp"
#include "rk/replication_info.hpp"
#include "rk/sentinel_quorum.hpp"
#include "rk/sentinel_view.hpp"

// What this node knows about itself and its peer, read once: the state
// dir's records, the kept copies and INFO of both servers. redis_status
// prints it; redis_status --prometheus and redis_watch --textfile render it
// as metrics (metrics.hpp).
namespace rk {

struct NodeStatus {
  std::string address;              // host:port
  std::optional<RedisState> state;  // nullopt when unreadable
  std::string error;                // why it is unreadable
};

// Sentinel mode: what each configured sentinel says of --master-name, their
// verdict (tally_sentinels, as redis_check judges it) and this node's place.
struct SentinelStatus {
  std::string master_name;
  Endpoint self;                           // --announce-host and --port
  std::vector<SentinelDetails> sentinels;  // one per --sentinel, in order
  SentinelTally tally;
  SentinelStanding standing;
  // The sentinel at `index` names this node as master.
  bool names_self(std::size_t index) const;
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
  // Sentinel mode only (nullopt in pair mode, whose output it leaves alone).
  std::optional<SentinelStatus> sentinel;
  // keepalived puts the VIP on the node whose last transition is MASTER.
  bool holds_vip() const { return transition == "MASTER"; }
};

// Reads the state dir and INFO of both nodes; in Sentinel mode also asks
// every sentinel at once, under one --timeout.
StatusReport gather_status(const ToolOptions& options);
}  // namespace rk
