#include "rk/status_report.hpp"

#include <fmt/format.h>

#include "rk/dataset_copy.hpp"
#include "rk/decisions.hpp"
#include "rk/errors.hpp"
#include "rk/instance_state.hpp"
#include "rk/observe.hpp"
#include "rk/sentinel_client.hpp"
#include "rk/track_file.hpp"

namespace rk {
namespace {

NodeStatus read_node(const ConnectionOptions& options) {
  NodeStatus node;
  node.address = options.endpoint().text();
  try {
    Connection connection = Connection::open(options);
    node.state = read_info(connection);
  } catch (const RedisError& error) {
    node.error = error.what();
  }
  return node;
}

// Every sentinel at once, under one --timeout: a sentinel that is down or
// stopped costs that, not one --timeout each. Read-only (SENTINEL MASTER,
// CKQUORUM), and after the local INFO, whose answer places this node.
SentinelStatus read_sentinels(const ToolOptions& options, const NodeStatus& local) {
  SentinelStatus status;
  status.master_name = options.master_name;
  status.self = sentinel_self(options);
  status.sentinels = query_sentinel_details(sentinel_connections(options), options.master_name,
                                            Clock::now() + options.timeout);
  std::vector<SentinelView> views;
  for (const SentinelDetails& details : status.sentinels) views.push_back(details.view);
  status.tally = tally_sentinels(views, options.sentinel_endpoints.size());
  status.standing = sentinel_standing(local.state, status.tally, status.self);
  return status;
}

}  // namespace

bool SentinelStatus::names_self(std::size_t index) const {
  const std::optional<Endpoint>& named = sentinels.at(index).view.master;
  return named && same_endpoint(*named, self);
}

bool StatusReport::watcher_running() const {
  if (watch_record.empty()) return false;
  WatchRecord record = WatchRecord::parse(watch_record);
  return !watcher_stopped(record.health, watch_process_running, watch_age_s,
                          record.heartbeat_bound);
}

bool StatusReport::stale_history() const {
  std::optional<StaleHistory> stale = StaleHistory::parse(stale_record);
  if (!stale) return false;
  return !local.state || !stale_history_resolved(*local.state, *stale);
}

StatusReport gather_status(const ToolOptions& options) {
  StatusReport report;
  report.instance = options.instance;
  report.state_dir = options.state_dir;
  try {
    InstanceState state(options.state_dir, options.instance, InstanceState::Access::read_only);
    std::string record = state.read_record();
    report.transition = record_field(record, "state");
    report.transition_time = record_field(record, "time");
    report.transition_tool = record_field(record, "tool");
    report.last_verdict = state.read_last();
    report.health = state.read_health();
    report.health_age_s = state.health_age_seconds();
    report.watch_record = state.read_watch();
    report.metrics = state.read_metrics();
    report.watch_age_s = state.watch_age_seconds();
    report.watch_process_running =
        generation_running(WatchRecord::parse(report.watch_record).generation);
    report.stale_record = state.read_stale();
  } catch (const StateError& error) {
    report.state_error = error.what();
  } catch (const UnsafeStateDir& error) {
    report.state_error = error.what();
    report.state_dir_unsafe = true;
  }
  report.maintenance_file = options.maintenance_file;
  if (!report.maintenance_file.empty())
    report.maintenance_value = read_track_file(report.maintenance_file);
  report.copy_dir = options.copy_dir;
  try {
    report.copies = list_kept_copies(options.copy_dir);
  } catch (const StateError& error) {
    report.copy_error = error.what();
  } catch (const UnsafeStateDir& error) {
    report.copy_error = error.what();
  }
  report.copy_dir_problem = copy_dir_problem(options.copy_dir, false);
  report.local = read_node(local_connection(options));
  if (options.peer_endpoint) report.peer = read_node(peer_connection(options));
  if (options.sentinel_mode()) report.sentinel = read_sentinels(options, report.local);
  return report;
}

}  // namespace rk
