#include "catch_compat.hpp"

#include "rk/sentinel_switchover.hpp"
#include "sentinel_views.hpp"

using namespace rk;
using rk_test::names;
using rk_test::node_a;
using rk_test::node_b;
using rk_test::silent;

namespace {

SentinelMasterView idle(int index, long long down_after_ms = 5000,
                        const std::string& flags = "master") {
  SentinelMasterView view;
  view.sentinel = {"10.0.0." + std::to_string(10 + index), 26379};
  view.answered = true;
  view.flags = flags;
  view.down_after_ms = down_after_ms;
  return view;
}

std::vector<SentinelMasterView> all_idle() { return {idle(1), idle(2), idle(3)}; }

ReplicaEntry replica(const std::string& ip, const std::string& state = "online") {
  ReplicaEntry entry;
  entry.ip = ip;
  entry.port = 6379;
  entry.state = state;
  return entry;
}

RedisState master_with(std::vector<ReplicaEntry> replicas) {
  RedisState state;
  state.role = Role::master;
  state.replicas = std::move(replicas);
  state.connected_slaves = static_cast<int>(state.replicas.size());
  return state;
}

SentinelTally all_name(const Endpoint& master) {
  return tally_sentinels({names(1, master), names(2, master), names(3, master)}, 3);
}

}  // namespace

TEST_CASE("a Sentinel-mode switchover starts only when nothing is in doubt", "[sentinel]") {
  RedisState local = master_with({replica("10.0.0.2")});
  SwitchoverCheck ok = check_sentinel_switchover_start(local, all_name(node_a), all_idle(), node_a);
  CHECK(ok.ok);
  CHECK(ok.reason.find("all 3 sentinels name this node") != std::string::npos);

  // Run on the node the sentinels do not name.
  SwitchoverCheck elsewhere =
      check_sentinel_switchover_start(local, all_name(node_b), all_idle(), node_a);
  CHECK_FALSE(elsewhere.ok);
  CHECK(elsewhere.reason.find("name 10.0.0.2:6379 as master") != std::string::npos);

  // A majority is not enough: one silent sentinel refuses.
  SentinelTally two = tally_sentinels({names(1, node_a), names(2, node_a), silent(3)}, 3);
  SwitchoverCheck silent_one = check_sentinel_switchover_start(local, two, all_idle(), node_a);
  CHECK_FALSE(silent_one.ok);
  CHECK(silent_one.reason.find("2 of the 3 configured sentinels answered") != std::string::npos);

  // Nor is a majority with one dissenting sentinel.
  SentinelTally split = tally_sentinels({names(1, node_a), names(2, node_a), names(3, node_b)}, 3);
  SwitchoverCheck dissent = check_sentinel_switchover_start(local, split, all_idle(), node_a);
  CHECK_FALSE(dissent.ok);
  CHECK(dissent.reason.find("disagree") != std::string::npos);

  SentinelTally tilted =
      tally_sentinels({names(1, node_a), names(2, node_a, true), names(3, node_a)}, 3);
  SwitchoverCheck tilt = check_sentinel_switchover_start(local, tilted, all_idle(), node_a);
  CHECK_FALSE(tilt.ok);
  CHECK(tilt.reason.find("1 sentinel is in TILT") != std::string::npos);

  SentinelView unknown = names(2, node_a);
  unknown.master.reset();
  SentinelTally no_name = tally_sentinels({names(1, node_a), unknown, names(3, node_a)}, 3);
  CHECK(check_sentinel_switchover_start(local, no_name, all_idle(), node_a)
            .reason.find("monitors no master named mymaster") != std::string::npos);
}

TEST_CASE("a switchover waits for Sentinel's failover machinery to be idle", "[sentinel]") {
  RedisState local = master_with({replica("10.0.0.2")});
  for (const char* flags :
       {"master,failover_in_progress", "s_down,o_down,master", "s_down,master"}) {
    std::vector<SentinelMasterView> masters = all_idle();
    masters[1].flags = flags;
    SwitchoverCheck busy =
        check_sentinel_switchover_start(local, all_name(node_a), masters, node_a);
    CHECK_FALSE(busy.ok);
    CHECK(busy.reason.find("10.0.0.12:26379 reports") != std::string::npos);
  }
  // A flag that only contains one of those words is not it.
  std::vector<SentinelMasterView> masters = all_idle();
  masters[0].flags = "master,s_down_maybe";
  CHECK(check_sentinel_switchover_start(local, all_name(node_a), masters, node_a).ok);

  // SENTINEL MASTER unanswered (NOPERM without +sentinel|master, say).
  masters = all_idle();
  masters[2] = SentinelMasterView{};
  masters[2].sentinel = {"10.0.0.13", 26379};
  masters[2].problem = "SENTINEL MASTER refused: NOPERM";
  SwitchoverCheck unanswered =
      check_sentinel_switchover_start(local, all_name(node_a), masters, node_a);
  CHECK_FALSE(unanswered.ok);
  CHECK(unanswered.reason.find("NOPERM") != std::string::npos);
}

TEST_CASE("every replica a sentinel could promote must be one the master lists online",
          "[sentinel]") {
  RedisState local = master_with({replica("10.0.0.2")});
  auto knowing = [](std::vector<SentinelKnownReplica> replicas) {
    std::vector<SentinelMasterView> masters = all_idle();
    masters[2].replicas = std::move(replicas);
    return masters;
  };
  SentinelKnownReplica b{{"10.0.0.2", 6379}, "slave", 100};
  SentinelKnownReplica c{{"10.0.0.3", 6379}, "slave", 100};
  CHECK(check_sentinel_switchover_start(local, all_name(node_a), knowing({b}), node_a).ok);

  // Sentinel still counts c (its link to the master dropped a moment ago).
  SwitchoverCheck unseen =
      check_sentinel_switchover_start(local, all_name(node_a), knowing({b, c}), node_a);
  CHECK_FALSE(unseen.ok);
  CHECK(unseen.reason.find("10.0.0.13:26379 could promote replica 10.0.0.3:6379") !=
        std::string::npos);

  // Not if Sentinel never promotes it: down, disconnected, or priority 0.
  for (const char* flags : {"s_down,slave", "slave,disconnected", "o_down,slave"}) {
    SentinelKnownReplica out = c;
    out.flags = flags;
    CHECK(check_sentinel_switchover_start(local, all_name(node_a), knowing({b, out}), node_a).ok);
  }
  SentinelKnownReplica never = c;
  never.priority = 0;
  CHECK(check_sentinel_switchover_start(local, all_name(node_a), knowing({b, never}), node_a).ok);

  // Listed by the master, but not online: refused as well.
  RedisState syncing = master_with({replica("10.0.0.2"), replica("10.0.0.3", "wait_bgsave")});
  CHECK_FALSE(
      check_sentinel_switchover_start(syncing, all_name(node_a), knowing({b, c}), node_a).ok);
}

TEST_CASE("a switchover needs a master with an online replica", "[sentinel]") {
  SwitchoverCheck none =
      check_sentinel_switchover_start(master_with({}), all_name(node_a), all_idle(), node_a);
  CHECK_FALSE(none.ok);
  CHECK(none.reason.find("no online replica") != std::string::npos);
  CHECK_FALSE(check_sentinel_switchover_start(master_with({replica("10.0.0.2", "wait_bgsave")}),
                                              all_name(node_a), all_idle(), node_a)
                  .ok);

  RedisState replica_here;
  replica_here.role = Role::replica;
  replica_here.master_host = "10.0.0.2";
  replica_here.master_port = 6379;
  SwitchoverCheck not_master =
      check_sentinel_switchover_start(replica_here, all_name(node_a), all_idle(), node_a);
  CHECK_FALSE(not_master.ok);
  CHECK(not_master.reason.find("not a master") != std::string::npos);

  RedisState loading = master_with({replica("10.0.0.2")});
  loading.loading = true;
  CHECK_FALSE(check_sentinel_switchover_start(loading, all_name(node_a), all_idle(), node_a).ok);
}

TEST_CASE("the shortest down-after of the sentinels that answered", "[sentinel]") {
  CHECK(shortest_down_after({idle(1, 5000), idle(2, 1000), idle(3, 30000)}) == 1000);
  SentinelMasterView unanswered;
  unanswered.down_after_ms = 10;
  CHECK(shortest_down_after({idle(1, 5000), unanswered}) == 5000);
  CHECK(shortest_down_after({}) == 0);
}

TEST_CASE("every replica the paused master lists is waited for, and must be online", "[sentinel]") {
  ReplicaWait both = plan_replica_wait(master_with({replica("10.0.0.2"), replica("10.0.0.3")}));
  CHECK(both.refusal.empty());
  REQUIRE(both.replicas.size() == 2);
  CHECK(both.replicas[1].text() == "10.0.0.3:6379");

  // A replica in a full sync could still be Sentinel's choice.
  ReplicaWait syncing =
      plan_replica_wait(master_with({replica("10.0.0.2"), replica("10.0.0.3", "send_bulk")}));
  CHECK(syncing.refusal.find("10.0.0.3:6379 is in state send_bulk") != std::string::npos);

  CHECK_FALSE(plan_replica_wait(master_with({})).refusal.empty());
}

TEST_CASE("after SENTINEL FAILOVER: wait, follow the majority, or the leader at the bound",
          "[sentinel]") {
  std::optional<SentinelView> leader_old = names(1, node_a);
  std::optional<SentinelView> leader_new = names(1, node_b);

  // Nobody names another node yet: keep waiting, until the bound.
  SentinelHandover early = decide_sentinel_handover(all_name(node_a), leader_old, node_a, false);
  CHECK(early.step == HandoverStep::wait);

  // A strict majority names node b: demote, confirmed.
  SentinelTally moved = tally_sentinels({names(1, node_b), names(2, node_b), names(3, node_a)}, 3);
  SentinelHandover majority = decide_sentinel_handover(moved, leader_new, node_a, false);
  CHECK(majority.step == HandoverStep::demote);
  CHECK(majority.confirmed);
  REQUIRE(majority.new_master);
  CHECK(*majority.new_master == node_b);

  // Only the leader names node b: before the bound, wait for the others.
  SentinelTally leader_only =
      tally_sentinels({names(1, node_b), names(2, node_a), names(3, node_a)}, 3);
  CHECK(decide_sentinel_handover(leader_only, leader_new, node_a, false).step ==
        HandoverStep::wait);
  // At the bound, follow the leader, unconfirmed.
  SentinelHandover at_bound = decide_sentinel_handover(leader_only, leader_new, node_a, true);
  CHECK(at_bound.step == HandoverStep::demote);
  CHECK_FALSE(at_bound.confirmed);
  CHECK(at_bound.reason.find("10.0.0.11:26379, which ran the failover, names 10.0.0.2:6379") !=
        std::string::npos);

  // A leader in TILT or silent does not count; nothing else names node b.
  std::optional<SentinelView> leader_tilted = names(1, node_b, true);
  CHECK(decide_sentinel_handover(all_name(node_a), leader_tilted, node_a, true).step ==
        HandoverStep::unknown);
  CHECK(decide_sentinel_handover(all_name(node_a), silent(1), node_a, true).step ==
        HandoverStep::unknown);
  CHECK(decide_sentinel_handover(all_name(node_a), std::nullopt, node_a, true).step ==
        HandoverStep::unknown);
}

TEST_CASE("this node replicates the new master by address, spelled either way", "[sentinel]") {
  RedisState replica_state;
  replica_state.role = Role::replica;
  replica_state.master_host = "::1";
  replica_state.master_port = 6380;
  CHECK(replicates(replica_state, {"0:0::1", 6380}));
  CHECK_FALSE(replicates(replica_state, {"::1", 6379}));
  RedisState master_state;
  master_state.master_host = "::1";
  master_state.master_port = 6380;
  CHECK_FALSE(replicates(master_state, {"::1", 6380}));
}

TEST_CASE("SENTINEL MASTER's flags are matched whole", "[sentinel]") {
  SentinelMasterView view;
  view.flags = "s_down,o_down,master";
  CHECK(view.has_flag("o_down"));
  CHECK(view.has_flag("master"));
  CHECK(view.has_flag("s_down"));
  CHECK_FALSE(view.has_flag("down"));
  CHECK_FALSE(view.has_flag("failover_in_progress"));
}
