#include "catch_compat.hpp"

#include <fstream>
#include <sstream>

#include "rk/decisions.hpp"
#include "rk/metrics.hpp"
#include "rk/status.hpp"

using namespace rk;

namespace {

StatusReport sample_report() {
  StatusReport report;
  report.instance = "redis";
  report.state_dir = "/run/redis-keepalived";
  report.transition = "MASTER";
  report.transition_time = "2026-11-25T12:00:00Z";
  report.transition_tool = "redis_master";
  report.last_verdict = "verdict=promoted exit=0 \"quoted\"";
  report.health = "healthy";
  report.health_age_s = 1;
  RedisState master;
  master.role = Role::master;
  master.master_replid = std::string(40, 'a');
  master.master_repl_offset = 1000;
  master.keys = 12;
  master.server_name = "valkey";
  master.server_version = "8.0.1";
  master.redis_version = "7.2.4";
  master.replicas.push_back({"10.0.0.2", 6379, "online", 900, 1});
  report.local = {"127.0.0.1:6379", master, ""};
  report.peer = NodeStatus{"10.0.0.2:6379", std::nullopt, "connection refused"};
  return report;
}

// The peer as sample_report's local master's replica, its link up.
RedisState peer_replica(long long applied) {
  RedisState replica;
  replica.role = Role::replica;
  replica.master_host = "127.0.0.1";
  replica.master_port = 6379;
  replica.link_up = true;
  replica.slave_repl_offset = applied;
  replica.master_replid = std::string(40, 'a');
  return replica;
}

// sample_report with every other part filled too: the peer as a replica,
// the watcher, the maintenance flag, the hooks' metrics and a kept copy.
StatusReport full_report() {
  StatusReport report = sample_report();
  RedisState replica = peer_replica(900);
  replica.keys = 12;
  report.peer = NodeStatus{"10.0.0.2:6379", replica, ""};
  report.watch_record =
      "pid=4242\nstart=99\nhealth=healthy\nsince=2026-11-25T12:00:01Z\n"
      "track_file=/run/redis-keepalived/watch\nheartbeat_bound=6\n";
  report.watch_age_s = 0;
  report.watch_process_running = true;
  report.maintenance_file = "/var/lib/redis-keepalived/maintenance";
  report.maintenance_value = 0;
  report.metrics = {{"redis_keepalived_transitions_total{transition=\"MASTER\"}", 3},
                    {"redis_keepalived_hook_runs_total{hook=\"redis_master\",verdict=\"promoted\"}",
                     2},
                    {"redis_keepalived_sync_wait_seconds", 0.25}};
  report.copy_dir = "/var/lib/redis-keepalived/copies";
  KeptCopy copy;
  copy.name =
      CopyName::parse("20261130T201233.123Z_peer_" + std::string(40, 'c') + "_1200-58811.rdb");
  copy.file = copy.name.text();
  copy.bytes = 4096;
  report.copies.push_back(copy);
  return report;
}

// A file of tests/unit/programs/golden/.
std::string golden(const std::string& name) {
  std::ifstream file(std::string(RK_UNIT_DIR) + "/programs/golden/" + name);
  REQUIRE(file);
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

}  // namespace

TEST_CASE("pair mode: redis_status's text, JSON and metrics, byte for byte", "[status]") {
  // The bytes redis_status printed for a pair before Sentinel mode existed:
  // scripts and dashboards read them, and a pair keeps getting exactly
  // those.
  StatusReport report = full_report();
  CHECK(render_text(report) == golden("pair_status.txt"));
  CHECK(render_json(report) == golden("pair_status.json"));
  CHECK(render_prometheus(report) == golden("pair_status.prom"));
}

TEST_CASE("render_text shows VIP, roles, lag and the last hook", "[status]") {
  std::string text = render_text(sample_report());
  CHECK_THAT(text,
             rk_test::Contains("MASTER since 2026-11-25T12:00:00Z (redis_master), holds the VIP"));
  CHECK_THAT(text, rk_test::Contains(
                       "local 127.0.0.1:6379: master, replid aaaaaaaa, offset 1000, 12 keys"));
  CHECK_THAT(text,
             rk_test::Contains("replica 10.0.0.2:6379 online offset 900 (behind by 100 bytes"));
  CHECK_THAT(text, rk_test::Contains("peer  10.0.0.2:6379: unreachable (connection refused)"));
  CHECK_THAT(text, rk_test::Contains("health: healthy (checked 1 s ago)\n"));

  StatusReport stale = sample_report();
  stale.health_age_s = 31;
  CHECK_THAT(render_text(stale), rk_test::Contains("redis_check has not run lately"));
  StatusReport never = sample_report();
  never.health.clear();
  never.health_age_s = -1;
  CHECK_THAT(render_text(never), rk_test::Contains("not checked yet"));

  StatusReport backup = sample_report();
  backup.transition = "BACKUP";
  RedisState replica;
  replica.role = Role::replica;
  replica.master_host = "10.0.0.2";
  replica.master_port = 6379;
  replica.link_up = false;
  replica.sync_in_progress = true;
  replica.slave_repl_offset = 5;
  replica.master_replid = std::string(40, 'b');
  backup.local.state = replica;
  std::string backup_text = render_text(backup);
  CHECK_THAT(backup_text, rk_test::Contains("does not hold the VIP"));
  CHECK_THAT(backup_text,
             rk_test::Contains("replica of 10.0.0.2:6379, link down (sync in progress)"));
}

TEST_CASE("render_json escapes strings and writes every field", "[status]") {
  std::string json = render_json(sample_report());
  CHECK_THAT(json, rk_test::StartsWith("{\"instance\":\"redis\""));
  CHECK_THAT(json, rk_test::Contains("\"holds_vip\":true"));
  CHECK_THAT(json, rk_test::Contains("\"health_age_s\":1,"));
  CHECK_THAT(json,
             rk_test::Contains("\"last_verdict\":\"verdict=promoted exit=0 \\\"quoted\\\"\""));
  CHECK_THAT(json, rk_test::Contains("\"lag_bytes\":100"));
  CHECK_THAT(json,
             rk_test::Contains("\"peer\":{\"address\":\"10.0.0.2:6379\",\"reachable\":false"));
  StatusReport without_peer = sample_report();
  without_peer.peer.reset();
  CHECK_THAT(render_json(without_peer), rk_test::Contains("\"peer\":null"));
}

TEST_CASE("redis_status writes IPv6 addresses in brackets", "[status]") {
  // fd00::2:6379 would read as one longer address; INFO gives the bare one.
  StatusReport report = sample_report();
  report.local.state->replicas.front().ip = "fd00::2";
  CHECK_THAT(render_text(report), rk_test::Contains("replica [fd00::2]:6379 online offset 900"));
  CHECK_THAT(render_json(report), rk_test::Contains("\"address\":\"[fd00::2]:6379\""));
  RedisState replica;
  replica.role = Role::replica;
  replica.master_host = "fd00::1";
  replica.master_port = 6379;
  report.local.state = replica;
  CHECK_THAT(render_text(report), rk_test::Contains("replica of [fd00::1]:6379, link down"));
  CHECK_THAT(render_json(report), rk_test::Contains("\"follows\":\"[fd00::1]:6379\""));
}

TEST_CASE("json_string: valid UTF-8 whatever the bytes", "[status]") {
  CHECK(json_string("plain") == "\"plain\"");
  CHECK(json_string("caf\xc3\xa9") == "\"caf\xc3\xa9\"");             // valid UTF-8 kept
  CHECK(json_string("\xe2\x82\xac") == "\"\xe2\x82\xac\"");           // three bytes
  CHECK(json_string("\xf0\x9f\x98\x80") == "\"\xf0\x9f\x98\x80\"");   // four bytes
  CHECK(json_string("/run/\xff\xfe") == "\"/run/\\ufffd\\ufffd\"");   // not UTF-8
  CHECK(json_string("\xc3") == "\"\\ufffd\"");                        // cut short
  CHECK(json_string("\xc0\xaf") == "\"\\ufffd\\ufffd\"");             // overlong
  CHECK(json_string("\xed\xa0\x80") == "\"\\ufffd\\ufffd\\ufffd\"");  // a surrogate
  CHECK(json_string("a\x01"
                    "b") == "\"a\\u0001b\"");
}

TEST_CASE("render_text and render_json say when the state dir cannot be read", "[status]") {
  StatusReport report = sample_report();
  report.state_error = "cannot open state dir /run/x: Permission denied";
  CHECK_THAT(render_text(report), rk_test::Contains("UNREADABLE: cannot open state dir"));
  CHECK_THAT(render_text(report), !rk_test::Contains("no transition recorded yet"));
  CHECK_THAT(render_json(report), rk_test::Contains("\"state_error\":\"cannot open state dir"));
  CHECK_THAT(render_json(sample_report()), rk_test::Contains("\"state_error\":null"));
}

TEST_CASE("redis_status names each node's server and version", "[status]") {
  StatusReport report = sample_report();
  RedisState replica = peer_replica(1000);
  replica.server_name = "redis";
  replica.server_version = "7.0.15";
  replica.redis_version = "7.0.15";
  report.peer = NodeStatus{"10.0.0.2:6379", replica, ""};

  std::string text = render_text(report);
  CHECK_THAT(text, rk_test::Contains("local 127.0.0.1:6379: master, replid aaaaaaaa, offset 1000, "
                                     "12 keys, server: valkey 8.0.1\n"));
  CHECK_THAT(text, rk_test::Contains("peer  10.0.0.2:6379: replica of 127.0.0.1:6379, link up, "
                                     "applied offset 1000, replid aaaaaaaa, 0 keys, "
                                     "server: redis 7.0.15\n"));

  std::string json = render_json(report);
  CHECK_THAT(json, rk_test::Contains("\"local\":{\"address\":\"127.0.0.1:6379\",\"reachable\":true,"
                                     "\"server_name\":\"valkey\",\"server_version\":\"8.0.1\","));
  CHECK_THAT(json, rk_test::Contains("\"peer\":{\"address\":\"10.0.0.2:6379\",\"reachable\":true,"
                                     "\"server_name\":\"redis\",\"server_version\":\"7.0.15\","));

  std::string prometheus = render_prometheus(report);
  CHECK_THAT(prometheus, rk_test::Contains("# TYPE redis_keepalived_server_info gauge\n"
                                           "redis_keepalived_server_info{node=\"local\","
                                           "addr=\"127.0.0.1:6379\",server=\"valkey\","
                                           "version=\"8.0.1\"} 1\n"
                                           "redis_keepalived_server_info{node=\"peer\","
                                           "addr=\"10.0.0.2:6379\",server=\"redis\","
                                           "version=\"7.0.15\"} 1\n"));

  // An INFO that names no version: no server field, null in the JSON, no
  // info sample; an unreachable node has none either.
  report.local.state->server_name.clear();
  report.local.state->server_version.clear();
  report.peer->state.reset();
  CHECK_THAT(render_text(report), !rk_test::Contains("server:"));
  CHECK_THAT(render_json(report),
             rk_test::Contains("\"server_name\":null,\"server_version\":null"));
  CHECK_THAT(render_prometheus(report), !rk_test::Contains("redis_keepalived_server_info"));
}

TEST_CASE("render_text words the maintenance flag", "[status]") {
  StatusReport report = sample_report();
  CHECK_THAT(render_text(report), !rk_test::Contains("maintenance:"));  // none configured
  report.maintenance_file = "/var/lib/redis-keepalived/maintenance";
  report.maintenance_value = 1;
  CHECK_THAT(render_text(report),
             rk_test::Contains("  maintenance: ON: this node stays out of the election "
                               "(/var/lib/redis-keepalived/maintenance = 1)\n"));
  report.maintenance_value = 0;
  CHECK_THAT(render_text(report),
             rk_test::Contains("  maintenance: off (/var/lib/redis-keepalived/maintenance = 0)\n"));
  report.maintenance_value.reset();
  CHECK_THAT(render_text(report),
             rk_test::Contains("  maintenance: unknown (/var/lib/redis-keepalived/maintenance "
                               "cannot be read)\n"));
}

TEST_CASE("redis_status shows a stale history and an unusable copy dir", "[status]") {
  StatusReport report = sample_report();
  CHECK_THAT(render_text(report), rk_test::Contains("stale history: none"));
  CHECK_THAT(render_json(report), rk_test::Contains("\"stale_history\":null"));
  CHECK_THAT(render_prometheus(report), rk_test::Contains("\nredis_keepalived_stale_history 0\n"));
  CHECK_THAT(render_prometheus(report),
             rk_test::Contains("\nredis_keepalived_copy_dir_usable 1\n"));

  StaleHistory stale;
  stale.since = "2026-12-07T02:00:00Z";
  stale.hook = "redis_backup";
  stale.reason = "split-brain: lost the heal";
  stale.local_replid = std::string(40, 'b');
  stale.local_offset = 1040;
  stale.peer_replid = std::string(40, 'c');
  stale.peer_offset = 5000;
  report.stale_record = stale.text();
  report.copy_dir_problem = "copy dir /x is a symlink or not a directory";
  CHECK(report.stale_history());
  std::string text = render_text(report);
  CHECK_THAT(text, rk_test::Contains("stale history: STALE: this node lacks writes its peer holds: "
                                     "recorded 2026-12-07T02:00:00Z by redis_backup"));
  CHECK_THAT(text, rk_test::Contains("the peer held offset 5000 of replid cccccccc"));
  CHECK_THAT(text, rk_test::Contains("copy dir: UNUSABLE: copy dir /x is a symlink"));
  std::string json = render_json(report);
  CHECK_THAT(json, rk_test::Contains(
                       "\"stale_history\":{\"stale\":true,\"since\":\"2026-12-07T02:00:00Z\""));
  CHECK_THAT(json, rk_test::Contains("\"peer_offset\":5000}"));
  CHECK_THAT(json, rk_test::Contains("\"usable\":false,\"problem\":\"copy dir /x is a symlink"));
  CHECK_THAT(render_prometheus(report), rk_test::Contains("\nredis_keepalived_stale_history 1\n"));
  CHECK_THAT(render_prometheus(report),
             rk_test::Contains("\nredis_keepalived_copy_dir_usable 0\n"));

  // The local node holds the recorded history now (it resynced): resolved.
  RedisState resynced;
  resynced.role = Role::replica;
  resynced.link_up = true;
  resynced.master_replid = std::string(40, 'c');
  resynced.slave_repl_offset = 5000;
  report.local.state = resynced;
  CHECK_FALSE(report.stale_history());
  CHECK_THAT(render_text(report), rk_test::Contains("this node holds that history now"));
  CHECK_THAT(render_prometheus(report), rk_test::Contains("\nredis_keepalived_stale_history 0\n"));
}

TEST_CASE("redis_status exits 2 only for an unsafe state dir", "[status]") {
  StatusReport report = sample_report();
  CHECK(status_exit_code(report) == ExitCode::success);
  // A dir it cannot read (no permission, a FIFO for a record) is a
  // StateError: the command line was right.
  report.state_error = "cannot open state dir /run/x: Permission denied";
  CHECK(status_exit_code(report) == ExitCode::failure);
  report.state_dir_unsafe = true;
  CHECK(status_exit_code(report) == ExitCode::usage);
  StatusReport unreachable = sample_report();
  unreachable.local.state.reset();
  CHECK(status_exit_code(unreachable) == ExitCode::failure);
}

namespace {

// Sentinel mode: three sentinels, one naming this node with everything
// read, one in TILT, one that does not answer.
StatusReport sentinel_report() {
  StatusReport report = full_report();
  SentinelStatus status;
  status.master_name = "mymaster";
  status.self = {"127.0.0.1", 6379};
  SentinelDetails named;
  named.view = {{"10.0.0.11", 26379}, "mymaster", true, Endpoint{"127.0.0.1", 6379}, false, ""};
  named.monitor = SentinelMonitor{Endpoint{"127.0.0.1", 6379}, {"master", "s_down"}, 4, 2, 2};
  named.quorum_reachable = true;
  named.quorum_text = "3 usable Sentinels. Quorum and failover authorization can be reached";
  SentinelDetails tilted;
  tilted.view = {{"10.0.0.12", 26379}, "mymaster", true, Endpoint{"127.0.0.1", 6379}, true, ""};
  tilted.problem = "SENTINEL CKQUORUM refused: NOPERM no permissions";
  tilted.monitor = SentinelMonitor{std::nullopt, {"master"}, 4, 2, 2};
  SentinelDetails silent;
  silent.view.sentinel = {"10.0.0.13", 26379};
  silent.view.problem = "10.0.0.13:26379: no reply within 500 ms";
  status.sentinels = {named, tilted, silent};
  std::vector<SentinelView> views{named.view, tilted.view, silent.view};
  status.tally = tally_sentinels(views, 3);
  status.standing = sentinel_standing(report.local.state, status.tally, status.self);
  report.sentinel = status;
  return report;
}

}  // namespace

TEST_CASE("Sentinel mode: each sentinel's view, the verdict and this node's place", "[status]") {
  StatusReport report = sentinel_report();
  std::string text = render_text(report);
  CHECK_THAT(text, rk_test::Contains(
                       "sentinels for mymaster: 3 configured, 2 make a majority\n"
                       "  sentinel 10.0.0.11:26379: names 127.0.0.1:6379 (this node), config "
                       "epoch 4, flags master,s_down, 2 other sentinels, quorum 2, quorum "
                       "reachable\n"
                       "  sentinel 10.0.0.12:26379: TILT (its view does not count), names "
                       "127.0.0.1:6379 (this node), config epoch 4, flags master, 2 other "
                       "sentinels, quorum 2 (SENTINEL CKQUORUM refused: NOPERM no permissions)\n"
                       "  sentinel 10.0.0.13:26379: NO ANSWER: no reply within 500 ms\n"
                       "  verdict: NO MAJORITY: no master is named by 2 of the 3 configured "
                       "sentinels (the most named has 1; 1 in TILT, 2 answered)\n"
                       "  this node 127.0.0.1:6379: a master the majority does not name "
                       "(fenced: no); no majority names a master\n"
                       "  watcher:"));

  std::string json = render_json(report);
  CHECK_THAT(json, rk_test::Contains(
                       ",\"sentinels\":{\"master_name\":\"mymaster\",\"self\":\"127.0.0.1:6379\","
                       "\"configured\":3,\"needed\":2,\"list\":[{\"address\":\"10.0.0.11:26379\","
                       "\"answered\":true,\"problem\":null,\"master\":\"127.0.0.1:6379\","
                       "\"names_this_node\":true,\"tilt\":false,\"monitor\":{\"address\":"
                       "\"127.0.0.1:6379\",\"flags\":[\"master\",\"s_down\"],\"config_epoch\":4,"
                       "\"num_other_sentinels\":2,\"quorum\":2},\"quorum_reachable\":true,"));
  CHECK_THAT(json, rk_test::Contains("{\"address\":\"10.0.0.13:26379\",\"answered\":false,"
                                     "\"problem\":\"10.0.0.13:26379: no reply within 500 ms\","
                                     "\"master\":null,\"names_this_node\":false,\"tilt\":false,"
                                     "\"monitor\":null,\"quorum_reachable\":null,\"ckquorum\":null,"
                                     "\"details_problem\":null}]"));
  CHECK_THAT(json, rk_test::Contains(
                       "\"verdict\":{\"agree\":false,\"master\":null,\"votes\":1,\"answered\":2,"
                       "\"tilted\":1,"));
  CHECK_THAT(json, rk_test::Contains("\"this_node\":{\"place\":\"unnamed-master\",\"fenced\":false,"
                                     "\"text\":\"a master the majority does not name (fenced: "
                                     "no); no majority names a master\"}}}\n"));

  std::string prometheus = render_prometheus(report);
  CHECK_THAT(prometheus, rk_test::Contains("# HELP redis_keepalived_sentinel_up "));
  CHECK_THAT(prometheus, rk_test::Contains("# TYPE redis_keepalived_sentinel_up gauge\n"
                                           "redis_keepalived_sentinel_up{sentinel=\"10.0.0.11:"
                                           "26379\"} 1\n"
                                           "redis_keepalived_sentinel_up{sentinel=\"10.0.0.12:"
                                           "26379\"} 1\n"
                                           "redis_keepalived_sentinel_up{sentinel=\"10.0.0.13:"
                                           "26379\"} 0\n"));
  // Only what was read: no TILT, epoch or quorum for a sentinel that did
  // not answer, no CKQUORUM for one that refused it.
  CHECK_THAT(prometheus, rk_test::Contains("redis_keepalived_sentinel_tilt{sentinel=\"10.0.0.12:"
                                           "26379\"} 1\n# HELP"));
  CHECK_THAT(prometheus, rk_test::Contains(
                             "redis_keepalived_sentinel_config_epoch{sentinel=\"10.0.0.12:26379\"}"
                             " 4\n# HELP"));
  CHECK_THAT(prometheus, rk_test::Contains("# TYPE redis_keepalived_sentinel_quorum_reachable "
                                           "gauge\nredis_keepalived_sentinel_quorum_reachable{"
                                           "sentinel=\"10.0.0.11:26379\"} 1\n"));
  CHECK_THAT(prometheus, !rk_test::Contains("quorum_reachable{sentinel=\"10.0.0.12"));
  CHECK_THAT(prometheus, rk_test::Contains("redis_keepalived_sentinel_master_flag{sentinel=\"10.0."
                                           "0.11:26379\",flag=\"s_down\"} 1\n"));
  CHECK_THAT(prometheus, rk_test::Contains("\nredis_keepalived_sentinel_configured 3\n"));
  CHECK_THAT(prometheus, rk_test::Contains("\nredis_keepalived_sentinel_agree 0\n"));
  CHECK_THAT(prometheus,
             rk_test::Contains("\nredis_keepalived_sentinel_majority_names_this_node 0\n"));
  CHECK_THAT(prometheus, rk_test::Contains("\nredis_keepalived_sentinel_unfenced_master 1\n"));

  // The pair's part of the report is the same bytes as without Sentinel.
  CHECK_THAT(prometheus, rk_test::StartsWith(golden("pair_status.prom")));
  StatusReport pair = full_report();
  CHECK(render_json(report).substr(0, render_json(pair).size() - 2) ==
        render_json(pair).substr(0, render_json(pair).size() - 2));
}

TEST_CASE("Sentinel mode: a majority that names this node, fenced or not", "[status]") {
  StatusReport report = sentinel_report();
  SentinelStatus& status = *report.sentinel;
  status.sentinels[1].view.tilt = false;
  status.tally = tally_sentinels({status.sentinels[0].view, status.sentinels[1].view,
                                  status.sentinels[2].view},
                                 3);
  status.standing = sentinel_standing(report.local.state, status.tally, status.self);
  CHECK_THAT(render_text(report),
             rk_test::Contains("  verdict: the majority names 127.0.0.1:6379 (2 of 3 configured, 2 "
                               "needed)\n  this node 127.0.0.1:6379: the sentinels' master\n"));
  std::string prometheus = render_prometheus(report);
  CHECK_THAT(prometheus,
             rk_test::Contains("\nredis_keepalived_sentinel_majority_names_this_node 1\n"));
  CHECK_THAT(prometheus, rk_test::Contains("\nredis_keepalived_sentinel_unnamed_master 0\n"));
  CHECK_THAT(render_json(report), rk_test::Contains("\"place\":\"named-master\""));

  // Its Redis does not answer: no place, so no place figures either.
  report.local.state.reset();
  status.standing = sentinel_standing(std::nullopt, status.tally, status.self);
  CHECK_THAT(render_text(report), rk_test::Contains("this node 127.0.0.1:6379: unknown: the local "
                                                    "Redis does not answer\n"));
  CHECK_THAT(render_prometheus(report), !rk_test::Contains("unnamed_master"));
  CHECK_THAT(render_json(report), rk_test::Contains("\"place\":\"unknown\""));
}
