#include "catch_compat.hpp"

#include <fstream>
#include <iterator>
#include <string>

#include "rk/replication_info.hpp"

#ifndef RK_FUZZ_CORPUS_DIR
#error "RK_FUZZ_CORPUS_DIR must name the fuzz/corpus directory (tests/unit/CMakeLists.txt)"
#endif

using rk::parse_info;
using rk::Role;

namespace {

const char* const replica_info =
    "# Server\r\nredis_version:7.0.15\r\nconfig_file:/etc/redis/redis.conf\r\n"
    "# Persistence\r\nloading:0\r\n"
    "# Replication\r\nrole:slave\r\nmaster_host:10.0.0.1\r\nmaster_port:6379\r\n"
    "master_link_status:up\r\nmaster_sync_in_progress:0\r\nslave_read_repl_offset:1500\r\n"
    "slave_repl_offset:1400\r\nconnected_slaves:0\r\n"
    "master_replid:d7105da45178642606ebca63a3ba80a9d3e3a24e\r\n"
    "master_replid2:0000000000000000000000000000000000000000\r\n"
    "master_repl_offset:1500\r\nsecond_repl_offset:-1\r\n"
    "# Keyspace\r\ndb0:keys=3,expires=0,avg_ttl=0\r\ndb2:keys=4,expires=1,avg_ttl=5\r\n";

const char* const master_info =
    "# Persistence\r\nloading:1\r\n"
    "# Replication\r\nrole:master\r\nconnected_slaves:2\r\n"
    "slave0:ip=10.0.0.2,port=6379,state=online,offset=700,lag=0\r\n"
    "slave1:ip=10.0.0.3,port=6380,state=wait_bgsave,offset=0,lag=1\r\n"
    "master_replid:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n"
    "master_replid2:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\r\n"
    "master_repl_offset:900\r\nsecond_repl_offset:501\r\n";

// A real INFO reply from fuzz/corpus/parse_info/: fuzz/make_seeds.py saves
// what redis-server 7.0.15 (NAME.txt) and, with RK_SERVER=valkey-server,
// valkey-server 8.0.1 (valkey-NAME.txt) answered in the same scenarios.
std::string seed(const std::string& name) {
  std::ifstream in(std::string(RK_FUZZ_CORPUS_DIR) + "/parse_info/" + name, std::ios::binary);
  INFO("fuzz/corpus/parse_info/" << name);
  REQUIRE(in);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

rk::RedisState parsed_seed(const std::string& name) {
  auto state = parse_info(seed(name));
  INFO("fuzz/corpus/parse_info/" << name << ": " << (state.ok() ? "" : state.error()));
  REQUIRE(state.ok());
  return *state;
}

}  // namespace

TEST_CASE("parse_info reads a replica's replication state", "[replication_info]") {
  auto state = parse_info(replica_info);
  REQUIRE(state.ok());
  CHECK(state->role == Role::replica);
  CHECK(state->master_host == "10.0.0.1");
  CHECK(state->master_port == 6379);
  CHECK(state->link_up);
  CHECK_FALSE(state->sync_in_progress);
  CHECK(state->slave_repl_offset == 1400);
  CHECK(state->slave_read_repl_offset == 1500);
  CHECK(state->held_offset() == 1400);
  CHECK(state->keys == 7);
  CHECK(state->config_file == "/etc/redis/redis.conf");
  CHECK(state->redis_version == "7.0.15");
  CHECK_FALSE(state->loading);
  CHECK(state->is_replica_of("10.0.0.1", 6379));
  CHECK_FALSE(state->is_replica_of("10.0.0.1", 6380));
}

TEST_CASE("parse_info reads a master's replicas, replid2 and loading", "[replication_info]") {
  auto state = parse_info(master_info);
  REQUIRE(state.ok());
  CHECK(state->role == Role::master);
  CHECK(state->loading);
  CHECK(state->held_offset() == 900);
  CHECK(state->second_repl_offset == 501);
  CHECK(state->master_replid2 == std::string(40, 'b'));
  REQUIRE(state->replicas.size() == 2);
  CHECK(state->replicas[0].ip == "10.0.0.2");
  CHECK(state->replicas[0].offset == 700);
  CHECK(state->replicas[1].state == "wait_bgsave");
  CHECK(state->replicas[1].port == 6380);
  CHECK(state->keys == 0);
}

TEST_CASE("parse_info accepts LF-only line ends", "[replication_info]") {
  std::string text = replica_info;
  std::string lf;
  for (char c : text)
    if (c != '\r') lf += c;
  auto state = parse_info(lf);
  REQUIRE(state.ok());
  CHECK(state->slave_repl_offset == 1400);
}

TEST_CASE("parse_info names the missing or malformed field", "[replication_info]") {
  struct Case {
    std::string text;
    std::string expected;
  };
  std::string base = replica_info;
  auto without = [&](const std::string& line) {
    std::string copy = base;
    copy.erase(copy.find(line), line.size());
    return copy;
  };
  auto replaced = [&](const std::string& from, const std::string& to) {
    std::string copy = base;
    copy.replace(copy.find(from), from.size(), to);
    return copy;
  };
  const Case cases[] = {
      {"", "role"},
      {"garbage without colons\r\n\r\n:::\r\n", "role"},
      {without("role:slave\r\n"), "role"},
      {replaced("role:slave", "role:sentinel"), "role"},
      {without("loading:0\r\n"), "loading"},
      {replaced("loading:0", "loading:yes"), "loading"},
      {without("master_host:10.0.0.1\r\n"), "master_host"},
      {replaced("master_port:6379", "master_port:six"), "master_port"},
      {replaced("master_link_status:up", "master_link_status:sideways"), "master_link_status"},
      {replaced("slave_repl_offset:1400", "slave_repl_offset:14x0"), "slave_repl_offset"},
      {replaced("master_repl_offset:1500", "master_repl_offset:"), "master_repl_offset"},
      {replaced("d7105da45178642606ebca63a3ba80a9d3e3a24e", "not-a-replid"), "master_replid"},
      {replaced("db0:keys=3", "db0:keys=-3"), "db0"},
      {replaced("db0:keys=3", "db0:keys=lots"), "db0"},
  };
  for (const Case& c : cases) {
    auto state = parse_info(c.text);
    INFO("expected a failure naming " << c.expected);
    REQUIRE_FALSE(state.ok());
    CHECK_THAT(state.error(), rk_test::Contains(c.expected));
  }
}

TEST_CASE("describe summarises role, link and offsets", "[replication_info]") {
  auto replica = parse_info(replica_info);
  REQUIRE(replica.ok());
  CHECK(rk::describe(*replica) ==
        "role=replica master=10.0.0.1:6379 link=up sync=0 replid=d7105da4 applied=1400 keys=7");
  auto master = parse_info(master_info);
  REQUIRE(master.ok());
  CHECK(rk::describe(*master) ==
        "role=master replid=aaaaaaaa offset=900 replicas=2 keys=0 loading=1");
}

TEST_CASE("parse_info names the server and its own version", "[replication_info]") {
  const std::string base = "role:master\r\nloading:0\r\nmaster_replid:" + std::string(40, 'a') +
                           "\r\nmaster_repl_offset:0\r\n";
  struct Case {
    std::string server_fields;
    std::string name;
    std::string version;
  };
  const Case cases[] = {
      {"redis_version:7.0.15\r\nredis_mode:standalone\r\n", "redis", "7.0.15"},
      // Valkey reports the Redis release it is compatible with as
      // redis_version: valkey_version is the server's own.
      {"redis_version:7.2.4\r\nserver_name:valkey\r\nvalkey_version:8.0.1\r\n"
       "server_mode:standalone\r\n",
       "valkey", "8.0.1"},
      {"valkey_version:8.1.0\r\nredis_version:7.2.4\r\n", "valkey", "8.1.0"},
      {"redis_version:7.2.4\r\nserver_name:valkey\r\n", "valkey", "7.2.4"},
      {"", "", ""},
  };
  for (const Case& c : cases) {
    INFO(c.server_fields);
    auto state = parse_info(c.server_fields + base);
    REQUIRE(state.ok());
    CHECK(state->server_name == c.name);
    CHECK(state->server_version == c.version);
  }
}

TEST_CASE("parse_info reads Redis 7.0.15's INFO", "[replication_info]") {
  rk::RedisState master = parsed_seed("master.txt");
  CHECK(master.server_name == "redis");
  CHECK(master.server_version == "7.0.15");
  CHECK(master.redis_version == "7.0.15");
  rk::RedisState replica = parsed_seed("replica.txt");
  CHECK(replica.server_name == "redis");
  CHECK(replica.server_version == "7.0.15");
  CHECK(replica.is_replica_of("127.0.0.1", 6379));
}

TEST_CASE("parse_info reads Valkey 8.0.1's INFO of a master and its replica",
          "[replication_info][valkey]") {
  rk::RedisState master = parsed_seed("valkey-master.txt");
  CHECK(master.server_name == "valkey");
  CHECK(master.server_version == "8.0.1");
  CHECK(master.redis_version == "7.2.4");
  CHECK(master.config_file == "/etc/valkey/valkey.conf");
  CHECK(master.role == Role::master);
  CHECK_FALSE(master.loading);
  CHECK(master.master_repl_offset == 60);
  CHECK(master.connected_slaves == 1);
  // Valkey adds type=replica to the slaveN line.
  REQUIRE(master.replicas.size() == 1);
  CHECK(master.replicas[0].ip == "127.0.0.1");
  CHECK(master.replicas[0].port == 6380);
  CHECK(master.replicas[0].state == "online");
  CHECK(master.keys == 301);

  rk::RedisState replica = parsed_seed("valkey-replica.txt");
  CHECK(replica.server_name == "valkey");
  CHECK(replica.server_version == "8.0.1");
  CHECK(replica.is_replica_of("127.0.0.1", 6379));
  CHECK(replica.link_up);
  CHECK_FALSE(replica.sync_in_progress);
  CHECK_FALSE(replica.link_never_up);
  CHECK(replica.slave_repl_offset == 60);
  CHECK(replica.slave_read_repl_offset == 60);
  CHECK(replica.master_replid == master.master_replid);
  CHECK(replica.keys == 301);
}

TEST_CASE("Valkey's INFO reads as Redis's did in the same scenario", "[replication_info][valkey]") {
  // Both servers ran fuzz/make_seeds.py's scenarios: only the replids (and
  // the server) differ, so describe() says the same for both.
  for (const char* name : {"master.txt", "replica.txt", "replica-syncing.txt", "promoted.txt"}) {
    INFO(name);
    rk::RedisState redis = parsed_seed(name);
    rk::RedisState valkey = parsed_seed(std::string("valkey-") + name);
    CHECK(redis.server_name == "redis");
    CHECK(valkey.server_name == "valkey");
    CHECK(valkey.role == redis.role);
    CHECK(valkey.link_up == redis.link_up);
    CHECK(valkey.sync_in_progress == redis.sync_in_progress);
    CHECK(valkey.link_never_up == redis.link_never_up);
    CHECK(valkey.held_offset() == redis.held_offset());
    CHECK(valkey.second_repl_offset == redis.second_repl_offset);
    CHECK(valkey.keys == redis.keys);
    auto without_replid = [](const rk::RedisState& state) {
      rk::RedisState copy = state;
      copy.master_replid.clear();
      return rk::describe(copy);
    };
    CHECK(without_replid(valkey) == without_replid(redis));
  }
}

TEST_CASE("parse_info reads Valkey 8.0.1 syncing, never synced, promoted and loading",
          "[replication_info][valkey]") {
  rk::RedisState syncing = parsed_seed("valkey-replica-syncing.txt");
  CHECK(syncing.role == Role::replica);
  CHECK_FALSE(syncing.link_up);
  CHECK(syncing.sync_in_progress);
  // master_link_down_since_seconds:-1, as Redis reports it before the first
  // sync with the current master.
  CHECK(syncing.link_never_up);
  CHECK(syncing.keys == 0);

  rk::RedisState lonely = parsed_seed("valkey-replica-never-synced.txt");
  CHECK(lonely.is_replica_of("127.0.0.1", 9));
  CHECK_FALSE(lonely.link_up);
  CHECK_FALSE(lonely.sync_in_progress);
  CHECK(lonely.link_never_up);

  rk::RedisState promoted = parsed_seed("valkey-promoted.txt");
  CHECK(promoted.role == Role::master);
  CHECK(promoted.master_replid2 == parsed_seed("valkey-master.txt").master_replid);
  CHECK(promoted.second_repl_offset == 61);
  CHECK(promoted.keys == 301);

  rk::RedisState loading = parsed_seed("valkey-loading.txt");
  CHECK(loading.loading);
  CHECK(loading.server_version == "8.0.1");
}

TEST_CASE("parse_info reads Valkey with and without extended-redis-compatibility",
          "[replication_info][valkey]") {
  // Without it Valkey reports server_mode, with it redis_mode; server_name
  // and valkey_version stay.
  CHECK(seed("valkey-master.txt").find("\r\nserver_mode:") != std::string::npos);
  CHECK(seed("valkey-master.txt").find("redis_mode:") == std::string::npos);
  CHECK(seed("valkey-master-redis-compat.txt").find("\r\nredis_mode:") != std::string::npos);
  rk::RedisState compat = parsed_seed("valkey-master-redis-compat.txt");
  CHECK(compat.server_name == "valkey");
  CHECK(compat.server_version == "8.0.1");
  CHECK(compat.keys == 10);
}

TEST_CASE("parse_info tells from min_slaves_good_slaves whether a write fence is on",
          "[replication_info]") {
  // Redis prints the line only while min-replicas-to-write and
  // min-replicas-max-lag are both non-zero.
  auto unfenced = parse_info(master_info);
  REQUIRE(unfenced.ok());
  CHECK_FALSE(unfenced->write_fence_on);
  CHECK(unfenced->good_replicas == 0);

  std::string fenced_text = std::string(master_info) + "min_slaves_good_slaves:1\r\n";
  auto fenced = parse_info(fenced_text);
  REQUIRE(fenced.ok());
  CHECK(fenced->write_fence_on);
  CHECK(fenced->good_replicas == 1);

  auto none_good = parse_info(std::string(master_info) + "min_slaves_good_slaves:0\r\n");
  REQUIRE(none_good.ok());
  CHECK(none_good->write_fence_on);
  CHECK(none_good->good_replicas == 0);

  auto bad = parse_info(std::string(master_info) + "min_slaves_good_slaves:x\r\n");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().find("min_slaves_good_slaves") != std::string::npos);
}
