#include "catch_compat.hpp"

#include "rk/sentinel_quorum.hpp"
#include "sentinel_views.hpp"

using namespace rk;
using rk_test::names;
using rk_test::node_a;
using rk_test::node_b;
using rk_test::silent;

namespace {

RedisState master_state() {
  RedisState state;
  state.role = Role::master;
  return state;
}

RedisState replica_state() {
  RedisState state;
  state.role = Role::replica;
  state.master_host = node_a.host;
  state.master_port = node_a.port;
  return state;
}

FenceRecord sentinel_fence_record() {
  return FenceRecord{FenceValues{0, 10}, sentinel_fence(1), true};
}

}  // namespace

TEST_CASE("same_address compares IP literals by value and names without case", "[sentinel]") {
  CHECK(same_address("10.0.0.1", "10.0.0.1"));
  CHECK(same_address("fe80::1", "FE80:0:0:0:0:0:0:1"));
  CHECK(same_address("Redis-A", "redis-a"));
  CHECK_FALSE(same_address("10.0.0.1", "10.0.0.10"));
  CHECK_FALSE(same_address("10.0.0.1", "redis-a"));
  CHECK(same_endpoint({"::1", 6379}, {"0:0::1", 6379}));
  CHECK_FALSE(same_endpoint({"10.0.0.1", 6379}, {"10.0.0.1", 6380}));
}

TEST_CASE("a majority is of the configured sentinels, not of those that answered", "[sentinel]") {
  SentinelTally all = tally_sentinels({names(1, node_a), names(2, node_a), names(3, node_a)}, 3);
  REQUIRE(all.master);
  CHECK(*all.master == node_a);
  CHECK(all.votes == 3);
  CHECK(all.needed == 2);

  // One of three answers and names node a: no majority.
  SentinelTally one = tally_sentinels({names(1, node_a), silent(2), silent(3)}, 3);
  CHECK_FALSE(one.master);
  CHECK(one.votes == 1);
  CHECK(one.summary.find("10.0.0.12:26379: connection refused") != std::string::npos);

  // Two of five is no majority even if nobody else names anything.
  CHECK_FALSE(tally_sentinels({names(1, node_a), names(2, node_a)}, 5).master);
  // Four sentinels need three.
  CHECK_FALSE(tally_sentinels({names(1, node_a), names(2, node_a), names(3, node_b)}, 4).master);
}

TEST_CASE("sentinels in TILT, or that monitor no such name, do not count", "[sentinel]") {
  SentinelTally tilted =
      tally_sentinels({names(1, node_a), names(2, node_a, true), names(3, node_b)}, 3);
  CHECK_FALSE(tilted.master);
  CHECK(tilted.tilted == 1);
  CHECK(tilted.summary.find("in TILT") != std::string::npos);

  SentinelView unknown = names(2, node_a);
  unknown.master.reset();
  SentinelTally tally = tally_sentinels({names(1, node_a), unknown, names(3, node_a)}, 3);
  REQUIRE(tally.master);
  CHECK(tally.unknown_master);
  CHECK(tally.summary.find("monitors no master of that name") != std::string::npos);
}

TEST_CASE("disagreeing sentinels: the most-named address, a master only with a majority",
          "[sentinel]") {
  SentinelTally split = tally_sentinels({names(1, node_a), names(2, node_b), silent(3)}, 3);
  CHECK_FALSE(split.master);
  CHECK(split.summary.find("2 addresses named") != std::string::npos);
  SentinelTally moving = tally_sentinels({names(1, node_b), names(2, node_b), names(3, node_a)}, 3);
  REQUIRE(moving.master);
  CHECK(*moving.master == node_b);
}

TEST_CASE("the answers in settle the tally once no pending one could change its master",
          "[sentinel]") {
  // Two of three name node a: the third cannot change that.
  CHECK(sentinel_tally_settled({names(1, node_a), names(2, node_a)}, 1, 3));
  // One of three names node a, two pending: they could make it a majority,
  // or name node b.
  CHECK_FALSE(sentinel_tally_settled({names(1, node_a)}, 2, 3));
  // a and b once each, one pending: it decides.
  CHECK_FALSE(sentinel_tally_settled({names(1, node_a), names(2, node_b)}, 1, 3));
  // Two fail and one names a: no majority whatever the last one says.
  CHECK(sentinel_tally_settled({silent(1), silent(2)}, 1, 3));
  CHECK(sentinel_tally_settled({names(1, node_a), silent(2), names(3, node_b, true)}, 0, 3));
  // Five sentinels: two for a and one for b, two pending: a could still win.
  CHECK_FALSE(sentinel_tally_settled({names(1, node_a), names(2, node_a), names(3, node_b)}, 2, 5));
  CHECK(sentinel_tally_settled({names(1, node_a), names(2, node_a), names(3, node_a)}, 2, 5));
  // Nothing in yet: never settled while a majority is possible.
  CHECK_FALSE(sentinel_tally_settled({}, 3, 3));
}

TEST_CASE("the check passes only for a master the majority names as this node", "[sentinel]") {
  SentinelTally for_a = tally_sentinels({names(1, node_a), names(2, node_a), silent(3)}, 3);
  SentinelCheck passes = decide_sentinel_check(master_state(), for_a, node_a, std::nullopt);
  CHECK(passes.passes);
  CHECK(passes.health == "healthy");
  CHECK(passes.fence == SentinelFenceStep::keep);

  // The same majority seen from node b, a master too (an old master back,
  // a minority side): fails and is fenced.
  SentinelCheck loser = decide_sentinel_check(master_state(), for_a, node_b, std::nullopt);
  CHECK_FALSE(loser.passes);
  CHECK(loser.health == "not-named");
  CHECK(loser.fence == SentinelFenceStep::fence);
  CHECK(loser.reason.find("name 10.0.0.1:6379") != std::string::npos);

  // No majority at all: fenced as well.
  SentinelTally none = tally_sentinels({names(1, node_a), silent(2), silent(3)}, 3);
  SentinelCheck alone = decide_sentinel_check(master_state(), none, node_a, std::nullopt);
  CHECK_FALSE(alone.passes);
  CHECK(alone.health == "no-quorum");
  CHECK(alone.fence == SentinelFenceStep::fence);

  // A replica fails, and is never fenced.
  SentinelCheck replica = decide_sentinel_check(replica_state(), for_a, node_b, std::nullopt);
  CHECK_FALSE(replica.passes);
  CHECK(replica.health == "replica");
  CHECK(replica.fence == SentinelFenceStep::keep);

  RedisState loading = master_state();
  loading.loading = true;
  CHECK_FALSE(decide_sentinel_check(loading, for_a, node_a, std::nullopt).passes);
}

TEST_CASE("the sentinel fence is set once and lifted when named or made a replica", "[sentinel]") {
  SentinelTally for_a = tally_sentinels({names(1, node_a), names(2, node_a), names(3, node_a)}, 3);
  RedisState fenced_master = master_state();
  fenced_master.write_fence_on = true;

  // Already fenced and recorded: nothing more to send.
  CHECK(decide_sentinel_check(fenced_master, for_a, node_b, sentinel_fence_record()).fence ==
        SentinelFenceStep::keep);
  // Named again: lifted.
  CHECK(decide_sentinel_check(fenced_master, for_a, node_a, sentinel_fence_record()).fence ==
        SentinelFenceStep::lift);
  // Made a replica by Sentinel: lifted too (Sentinel's CONFIG REWRITE at a
  // later promotion would otherwise write it into redis.conf).
  RedisState fenced_replica = replica_state();
  fenced_replica.write_fence_on = true;
  CHECK(decide_sentinel_check(fenced_replica, for_a, node_b, sentinel_fence_record()).fence ==
        SentinelFenceStep::lift);
  // The hooks' --fence-writes fence (recorded, not the isolation owner) stays.
  FenceRecord hooks{FenceValues{0, 10}, FenceValues{1, 1}, false};
  CHECK(decide_sentinel_check(fenced_master, for_a, node_a, hooks).fence ==
        SentinelFenceStep::keep);
  // A fence without a record: the values must tell (lift reads them).
  CHECK(decide_sentinel_check(fenced_master, for_a, node_a, std::nullopt).fence ==
        SentinelFenceStep::lift);
}

TEST_CASE("the sentinel fence is recognised by its value", "[sentinel]") {
  CHECK(is_sentinel_fence(sentinel_fence(1)));
  CHECK(sentinel_fence(1).fences());
  CHECK_FALSE(is_sentinel_fence(FenceValues{1, 1}));
  CHECK_FALSE(is_sentinel_fence(FenceValues{0, 10}));
}

TEST_CASE("the replica a failover is promoting is not fenced before it is named", "[sentinel]") {
  SentinelTally for_a = tally_sentinels({names(1, node_a), names(2, node_a), names(3, node_a)}, 3);
  SentinelCheck promoting =
      decide_sentinel_check(master_state(), for_a, node_b, std::nullopt, true);
  CHECK_FALSE(promoting.passes);
  CHECK(promoting.health == "promoting");
  CHECK(promoting.fence == SentinelFenceStep::keep);
  // Once named it passes, promoting or not.
  CHECK(decide_sentinel_check(master_state(), for_a, node_a, std::nullopt, true).passes);
}

TEST_CASE("this node's place: the majority's master, a replica, an unnamed master", "[sentinel]") {
  SentinelTally for_a = tally_sentinels({names(1, node_a), names(2, node_a), silent(3)}, 3);
  SentinelTally none = tally_sentinels({names(1, node_a), names(2, node_b), silent(3)}, 3);

  SentinelStanding named = sentinel_standing(master_state(), for_a, node_a);
  CHECK(named.place == SentinelPlace::named_master);
  CHECK(named.text == "the sentinels' master");

  // node_b, a master while the majority names node_a: the minority side of
  // a split, or an old master back from isolation.
  RedisState fenced_master = master_state();
  fenced_master.write_fence_on = true;
  SentinelStanding unfenced = sentinel_standing(master_state(), for_a, node_b);
  CHECK(unfenced.place == SentinelPlace::unnamed_master);
  CHECK_FALSE(unfenced.fenced);
  CHECK(unfenced.text ==
        "a master the majority does not name (fenced: no); the majority names 10.0.0.1:6379");
  SentinelStanding fenced = sentinel_standing(fenced_master, none, node_a);
  CHECK(fenced.place == SentinelPlace::unnamed_master);
  CHECK(fenced.fenced);
  CHECK(fenced.text ==
        "a master the majority does not name (fenced: yes); no majority names a "
        "master");

  // A replica of the named master says no more; one of another master says
  // whom the majority names.
  SentinelStanding following = sentinel_standing(replica_state(), for_a, node_b);
  CHECK(following.place == SentinelPlace::replica);
  CHECK(following.text == "a replica of 10.0.0.1:6379");
  CHECK(sentinel_standing(replica_state(), none, node_b).text ==
        "a replica of 10.0.0.1:6379; no majority names a master");
  RedisState of_b = replica_state();
  of_b.master_host = node_b.host;
  CHECK(sentinel_standing(of_b, for_a, node_a).text ==
        "a replica of 10.0.0.2:6379; yet the majority names this node as master");

  CHECK(sentinel_standing(std::nullopt, for_a, node_a).place == SentinelPlace::unknown);
  RedisState loading = master_state();
  loading.loading = true;
  SentinelStanding loads = sentinel_standing(loading, for_a, node_a);
  CHECK(loads.place == SentinelPlace::unknown);
  CHECK_THAT(loads.text, rk_test::Contains("loading"));
}
