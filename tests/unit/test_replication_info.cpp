#include <catch2/catch.hpp>

#include "rk/replication_info.hpp"

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
    CHECK_THAT(state.error(), Catch::Contains(c.expected));
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
