#include "catch_compat.hpp"

#include "rk/decisions.hpp"

using namespace rk;

namespace {

const std::string replid_a(40, 'a');
const std::string replid_b(40, 'b');
const std::string replid_c(40, 'c');
const std::string null_replid(40, '0');
const Endpoint peer_endpoint{"10.0.0.2", 6379};

RedisState master(const std::string& replid, long long offset, long long keys) {
  RedisState state;
  state.role = Role::master;
  state.master_replid = replid;
  state.master_replid2 = null_replid;
  state.master_repl_offset = offset;
  state.keys = keys;
  return state;
}

// A master promoted from `old_replid` at `fork` (second_repl_offset is one past it).
RedisState promoted(const std::string& replid, const std::string& old_replid, long long fork,
                    long long offset, long long keys) {
  RedisState state = master(replid, offset, keys);
  state.master_replid2 = old_replid;
  state.second_repl_offset = fork + 1;
  return state;
}

RedisState replica_of(const Endpoint& endpoint, const std::string& replid, long long applied,
                      long long keys) {
  RedisState state;
  state.role = Role::replica;
  state.master_host = endpoint.host;
  state.master_port = endpoint.port;
  state.link_up = true;
  state.master_replid = replid;
  state.master_replid2 = null_replid;
  state.slave_repl_offset = applied;
  state.master_repl_offset = applied;
  state.keys = keys;
  return state;
}

const MasterPolicy policy{peer_endpoint, std::chrono::milliseconds(2000)};

Observation answered(const RedisState& state) { return Observation::of(state); }
Observation gone() { return Observation::failed(Reach::gone, "Connection refused"); }
Observation silent() { return Observation::failed(Reach::silent, "timed out"); }
Observation denied(const std::string& error) { return Observation::failed(Reach::denied, error); }

// The next master step with no history of the peer from earlier rounds.
MasterDecision step(const RedisState& local, const Observation& peer) {
  std::optional<RedisState> last_seen;
  if (peer.answered() && peer.state->is_master() && !peer.state->loading) last_seen = peer.state;
  return decide_master_step(MasterView{local, peer, last_seen, std::chrono::milliseconds(0),
                                       std::nullopt},
                            policy);
}

// The next master step when the peer is now `peer` (not answering), was
// last seen as `last_seen`, and has been quiet for `silent_ms`.
MasterDecision step_after(const RedisState& local, const Observation& peer,
                          const std::optional<RedisState>& last_seen, long long silent_ms) {
  return decide_master_step(MasterView{local, peer, last_seen, std::chrono::milliseconds(silent_ms),
                                       std::nullopt},
                            policy);
}

// The next backup step when the peer answered as `peer`.
BackupDecision backup_step(const RedisState& local, const RedisState& peer,
                           const Endpoint& endpoint, bool grace_over) {
  return decide_backup_step(local, Observation::of(peer), endpoint, grace_over);
}

Reply status(const std::string& text) {
  Reply reply;
  reply.type = Reply::Type::status;
  reply.text = text;
  return reply;
}

Reply error(const std::string& text) {
  Reply reply;
  reply.type = Reply::Type::error;
  reply.text = text;
  return reply;
}

}  // namespace

TEST_CASE("ping_means_healthy: PONG and MASTERDOWN are alive, the rest is not", "[decisions]") {
  CHECK(ping_means_healthy(status("PONG")));
  CHECK(
      ping_means_healthy(error("MASTERDOWN Link with MASTER is down and "
                               "replica-serve-stale-data is set to 'no'.")));
  CHECK_FALSE(ping_means_healthy(std::nullopt));
  CHECK_FALSE(ping_means_healthy(error("LOADING Redis is loading the dataset in memory")));
  CHECK_FALSE(ping_means_healthy(error("BUSY Redis is busy running a script.")));
  CHECK_FALSE(ping_means_healthy(error("NOAUTH Authentication required.")));
  CHECK_FALSE(ping_means_healthy(error("NOPERM this user has no permissions")));
  CHECK_FALSE(ping_means_healthy(status("OK")));
}

TEST_CASE("decide_vip_holder: the VIP never stays on a replica of a reachable master",
          "[decisions]") {
  RedisState in_sync = replica_of(peer_endpoint, replid_a, 500, 5);
  RedisState syncing = replica_of(peer_endpoint, replid_c, 0, 0);
  syncing.link_up = false;
  syncing.sync_in_progress = true;
  RedisState orphan = replica_of(peer_endpoint, replid_a, 500, 5);
  orphan.link_up = false;
  RedisState loading = in_sync;
  loading.loading = true;
  RedisState pending = replica_of(peer_endpoint, replid_c, 0, 5);
  pending.link_up = false;
  pending.link_never_up = true;

  SECTION("MASTER recorded, no hook acting, replica with the link up or a sync running: yield") {
    for (const RedisState& local : {in_sync, syncing, pending}) {
      VipDecision d = decide_vip_holder("MASTER", false, local);
      CHECK(d.yield);
      CHECK_THAT(d.reason, rk_test::Contains("10.0.0.2:6379"));
    }
  }
  SECTION("never while redis_master is still in its sync-wait") {
    CHECK_FALSE(decide_vip_holder("MASTER", true, in_sync).yield);
    CHECK_FALSE(decide_vip_holder("MASTER", true, syncing).yield);
  }
  SECTION("a master, a loading node, or a replica whose master is unreachable keeps it") {
    CHECK_FALSE(decide_vip_holder("MASTER", false, master(replid_a, 10, 5)).yield);
    CHECK_FALSE(decide_vip_holder("MASTER", false, loading).yield);
    CHECK_FALSE(decide_vip_holder("MASTER", false, orphan).yield);
  }
  SECTION("a node that does not hold the VIP has nothing to give up") {
    for (const char* transition : {"BACKUP", "FAULT", "STOP", ""})
      CHECK_FALSE(decide_vip_holder(transition, false, in_sync).yield);
  }
}

TEST_CASE("ProbeHysteresis: fall and rise count probes in a row", "[decisions][watch]") {
  SECTION("1 and 1 follow every probe") {
    ProbeHysteresis counter(1, 1);
    CHECK(counter.observe(true));
    CHECK_FALSE(counter.observe(false));
    CHECK(counter.observe(true));
  }
  SECTION("the first probe decides at once, either way") {
    ProbeHysteresis down(3, 2);
    CHECK_FALSE(down.observe(false));
    ProbeHysteresis up(3, 2);
    CHECK(up.observe(true));
  }
  SECTION("fall 3: two failures are absorbed, the third changes the verdict") {
    ProbeHysteresis counter(3, 2);
    CHECK(counter.observe(true));
    CHECK(counter.observe(false));
    CHECK(counter.observe(false));
    CHECK(counter.disagreeing() == 2);
    CHECK(counter.needed() == 3);
    CHECK_FALSE(counter.observe(false));
    CHECK(counter.disagreeing() == 0);
  }
  SECTION("a good probe in between starts the count again") {
    ProbeHysteresis counter(3, 1);
    CHECK(counter.observe(true));
    CHECK(counter.observe(false));
    CHECK(counter.observe(false));
    CHECK(counter.observe(true));
    CHECK(counter.disagreeing() == 0);
    CHECK(counter.observe(false));
    CHECK(counter.observe(false));
    CHECK_FALSE(counter.observe(false));
  }
  SECTION("rise 2: one good probe after a failure does not make it healthy") {
    ProbeHysteresis counter(1, 2);
    CHECK_FALSE(counter.observe(false));
    CHECK_FALSE(counter.observe(true));
    CHECK(counter.needed() == 2);
    CHECK_FALSE(counter.observe(false));
    CHECK_FALSE(counter.observe(true));
    CHECK(counter.observe(true));
    CHECK(counter.needed() == 1);
  }
}

TEST_CASE("watch_heartbeat_bound: a cycle and the mtime second, twice over", "[decisions][watch]") {
  using std::chrono::milliseconds;
  using std::chrono::seconds;
  // 100 ms + 3 x 500 ms = 1.6 s -> 2 s, + 1 s, x 2.
  CHECK(watch_heartbeat_bound(milliseconds(100), milliseconds(500)) == seconds(6));
  // Never under a second's cycle: the heartbeat is touched once a second.
  CHECK(watch_heartbeat_bound(milliseconds(10), milliseconds(1)) == seconds(4));
  CHECK(watch_heartbeat_bound(milliseconds(10000), milliseconds(60000)) == seconds(382));
}

TEST_CASE("watcher_stopped: recorded stop, gone process or stale heartbeat", "[decisions][watch]") {
  const std::chrono::seconds bound(6);
  CHECK_FALSE(watcher_stopped("unhealthy", true, 0, bound));
  CHECK_FALSE(watcher_stopped("unhealthy", true, 6, bound));
  CHECK(watcher_stopped("unhealthy", true, 7, bound));
  CHECK(watcher_stopped("unhealthy", true, -1, bound));
  CHECK(watcher_stopped("unhealthy", false, 0, bound));
  CHECK(watcher_stopped("stopped", true, 0, bound));
  CHECK_FALSE(watcher_stopped("healthy", true, 1, bound));
}

TEST_CASE("holds_history_of compares replids and offsets", "[decisions]") {
  SECTION("same replid: the larger offset holds the smaller") {
    CHECK(holds_history_of(master(replid_a, 100, 5), master(replid_a, 100, 5)));
    CHECK(holds_history_of(master(replid_a, 101, 5), master(replid_a, 100, 5)));
    CHECK_FALSE(holds_history_of(master(replid_a, 99, 5), master(replid_a, 100, 5)));
  }
  SECTION("a replica's applied offset counts, not what it merely received") {
    RedisState replica = replica_of(peer_endpoint, replid_a, 90, 5);
    replica.slave_read_repl_offset = 100;
    CHECK_FALSE(holds_history_of(replica, master(replid_a, 100, 5)));
  }
  SECTION("an empty server has nothing to lose") {
    CHECK(holds_history_of(master(replid_a, 0, 0), master(replid_b, 500, 0)));
  }
  SECTION("a loading server holds nothing yet") {
    RedisState loading = master(replid_a, 100, 5);
    loading.loading = true;
    CHECK_FALSE(holds_history_of(loading, master(replid_a, 100, 5)));
  }
  SECTION("promoted from the other's replid, and the other did not move since") {
    CHECK(holds_history_of(promoted(replid_b, replid_a, 100, 150, 5), master(replid_a, 100, 5)));
    CHECK_FALSE(
        holds_history_of(promoted(replid_b, replid_a, 100, 150, 5), master(replid_a, 101, 5)));
  }
  SECTION("the other was promoted from our history and took no writes") {
    CHECK(holds_history_of(master(replid_a, 100, 5), promoted(replid_b, replid_a, 100, 100, 5)));
    CHECK_FALSE(
        holds_history_of(master(replid_a, 100, 5), promoted(replid_b, replid_a, 100, 120, 5)));
    CHECK_FALSE(
        holds_history_of(master(replid_a, 90, 5), promoted(replid_b, replid_a, 100, 100, 5)));
  }
  SECTION("unrelated histories with data") {
    CHECK_FALSE(holds_history_of(master(replid_a, 1000, 5), master(replid_b, 10, 5)));
  }
  SECTION("null replid2 never matches") {
    // Without the guard, the holder's null replid2 would equal the other's
    // null replid, and 0 < second_repl_offset would claim its history.
    RedisState holder = master(replid_a, 1000, 5);
    holder.second_repl_offset = 1001;
    CHECK_FALSE(holds_history_of(holder, master(null_replid, 0, 5)));
    // Likewise the other way round: the other's null replid2 against ours.
    RedisState other = master(replid_b, 10, 5);
    other.second_repl_offset = 1;
    RedisState null_holder = master(null_replid, 1000, 5);
    CHECK_FALSE(holds_history_of(null_holder, other));
  }
}

TEST_CASE("describe_divergence finds the fork and what only this node has", "[decisions]") {
  SECTION("this node was promoted away from the peer (the partitioned replica)") {
    Divergence d =
        describe_divergence(promoted(replid_b, replid_a, 100, 180, 5), master(replid_a, 150, 5));
    CHECK(d.related);
    CHECK(d.fork_offset == 100);
    CHECK(d.local_only_bytes == 80);
  }
  SECTION("the peer was promoted away from this node (the partitioned master)") {
    Divergence d =
        describe_divergence(master(replid_a, 150, 5), promoted(replid_b, replid_a, 100, 180, 5));
    CHECK(d.related);
    CHECK(d.fork_offset == 100);
    CHECK(d.local_only_bytes == 50);
  }
  SECTION("both promoted from the same master") {
    Divergence d = describe_divergence(promoted(replid_b, replid_a, 100, 130, 5),
                                       promoted(replid_c, replid_a, 90, 95, 5));
    CHECK(d.related);
    CHECK(d.fork_offset == 90);
    CHECK(d.local_only_bytes == 40);
  }
  SECTION("unrelated histories") {
    Divergence d = describe_divergence(master(replid_a, 150, 5), master(replid_b, 10, 5));
    CHECK_FALSE(d.related);
    CHECK(d.local_only_bytes == -1);
  }
}

TEST_CASE("compare_after_fork: the larger tail after the fork wins", "[decisions]") {
  // The node promoted during the split (fork at 100, now at 180) against the
  // old master that took 50 bytes more after the fork.
  auto heal =
      compare_after_fork(promoted(replid_b, replid_a, 100, 180, 5), master(replid_a, 150, 5));
  REQUIRE(heal);
  CHECK(heal->fork_offset == 100);
  CHECK(heal->local_tail == 80);
  CHECK(heal->peer_tail == 50);
  CHECK(heal->local_wins);
  CHECK_THAT(heal->rule, rk_test::Contains("offset 180"));
  CHECK_THAT(heal->rule, rk_test::Contains("offset 150"));
  // Seen from the old master: it loses.
  CHECK_FALSE(
      compare_after_fork(master(replid_a, 150, 5), promoted(replid_b, replid_a, 100, 180, 5))
          ->local_wins);
  // A tie leaves the data where VRRP put the VIP (the peer).
  CHECK_FALSE(
      compare_after_fork(promoted(replid_b, replid_a, 100, 150, 5), master(replid_a, 150, 5))
          ->local_wins);
  // Unrelated histories (a restart from files): no rule applies.
  CHECK_FALSE(compare_after_fork(master(replid_a, 150, 5), master(replid_b, 10, 5)));
}

TEST_CASE("describe_replacement_loss names what a full sync discards", "[decisions]") {
  SECTION("nothing local: nothing lost") {
    CHECK_FALSE(describe_replacement_loss(master(replid_a, 0, 0), master(replid_b, 10, 5)));
  }
  SECTION("related, and this node wrote after the fork: split-brain with the bytes") {
    auto loss = describe_replacement_loss(master(replid_a, 150, 5),
                                          promoted(replid_b, replid_a, 100, 180, 5));
    REQUIRE(loss);
    CHECK_THAT(*loss, rk_test::StartsWith("split-brain:"));
    CHECK_THAT(*loss, rk_test::Contains("after offset 100; the 50 bytes of writes only this node"));
  }
  SECTION("related, and this node took nothing after the fork: nothing lost") {
    CHECK_FALSE(describe_replacement_loss(master(replid_a, 100, 5),
                                          promoted(replid_b, replid_a, 100, 180, 5)));
  }
  SECTION("unrelated (a restart from files): said so, without crying split-brain") {
    auto loss = describe_replacement_loss(master(replid_a, 0, 587), master(replid_b, 900, 2232));
    REQUIRE(loss);
    CHECK_THAT(*loss, rk_test::Contains("restarted from its files"));
    CHECK_THAT(*loss,
               rk_test::Contains("587 keys this node holds are replaced by the other node's 2232"));
    CHECK_THAT(*loss, !rk_test::Contains("split-brain"));
  }
}

TEST_CASE("decide_isolation: only a master that reaches nobody", "[decisions]") {
  RedisState a_master = master(replid_a, 10, 5);
  RedisState a_replica = replica_of(peer_endpoint, replid_a, 10, 5);
  CHECK_FALSE(decide_isolation(a_master, false, 0, 0).isolated);  // no witness configured
  CHECK_FALSE(decide_isolation(a_replica, false, 0, 2).isolated);
  CHECK_FALSE(decide_isolation(a_master, true, 0, 2).isolated);
  IsolationDecision witness = decide_isolation(a_master, false, 1, 2);
  CHECK_FALSE(witness.isolated);
  CHECK_THAT(witness.reason, rk_test::Contains("1 of 2 witness"));
  IsolationDecision cut_off = decide_isolation(a_master, false, 0, 2);
  CHECK(cut_off.isolated);
  CHECK_THAT(cut_off.reason, rk_test::Contains("neither its peer nor any of its 2 witness"));
}

TEST_CASE("fence_after_isolation: the policy in force, else the operator's own", "[decisions]") {
  RedisState alone = master(replid_a, 10, 5);
  RedisState with_replica = alone;
  with_replica.replicas.push_back(ReplicaEntry{"10.0.0.2", 6379, "online", 10, 0});
  FenceValues base{2, 7};
  CHECK(fence_after_isolation(alone, false, base, 3) == base);
  CHECK(fence_after_isolation(with_replica, false, base, 3) == base);
  CHECK(fence_after_isolation(alone, true, base, 3) == base);
  CHECK(fence_after_isolation(with_replica, true, base, 3) == FenceValues{2, 3});
  CHECK(fence_after_isolation(with_replica, true, FenceValues{}, 3) == FenceValues{1, 3});
}

TEST_CASE("toolkit_fence: at least one replica, the toolkit's lag", "[decisions]") {
  CHECK(toolkit_fence(FenceValues{0, 10}, 1) == FenceValues{1, 1});
  CHECK(toolkit_fence(FenceValues{2, 7}, 3) == FenceValues{2, 3});
  CHECK(FenceValues{1, 1}.fences());
  CHECK_FALSE(FenceValues{0, 10}.fences());
  CHECK_FALSE(FenceValues{1, 0}.fences());  // Redis ignores a lag of 0
  CHECK(describe(FenceValues{2, 7}) == "min-replicas-to-write 2, min-replicas-max-lag 7");
}

TEST_CASE("fence records read back what was written; damage reads as not recorded", "[decisions]") {
  FenceRecord record{FenceValues{2, 7}, FenceValues{2, 1}, true};
  FenceRecord back = parse_fence_record(render_fence_record(record));
  CHECK(back.base == record.base);
  CHECK(back.last_set == record.last_set);
  CHECK(back.isolation);
  FenceRecord hooks =
      parse_fence_record(render_fence_record(FenceRecord{FenceValues{}, FenceValues{1, 3}, false}));
  CHECK_FALSE(hooks.isolation);
  CHECK(hooks.last_set == FenceValues{1, 3});
  FenceRecord empty = parse_fence_record("");
  CHECK_FALSE(empty.base);
  CHECK_FALSE(empty.last_set);
  CHECK_FALSE(empty.isolation);
  FenceRecord damaged = parse_fence_record("base=2\nset=x 1\nowner=isolation\n");
  CHECK_FALSE(damaged.base);
  CHECK_FALSE(damaged.last_set);
  CHECK_FALSE(damaged.isolation);  // an owner without values is no fence to lift
  CHECK_FALSE(parse_fence_record("base=-1 3\n").base);
  CHECK_FALSE(parse_fence_record("base=1 3 4\n").base);
}

TEST_CASE("operator_fence_values: what the toolkit did not set is the operator's", "[decisions]") {
  FenceRecord record{FenceValues{2, 7}, FenceValues{2, 1}, true};
  SECTION("the toolkit's last values leave the base") {
    CHECK(operator_fence_values(record, FenceValues{2, 1}, 1) == FenceValues{2, 7});
  }
  SECTION("a toolkit fence over the base (set by the peer's hooks) leaves it") {
    CHECK(operator_fence_values(FenceRecord{FenceValues{2, 7}, std::nullopt, false},
                                FenceValues{2, 3}, 3) == FenceValues{2, 7});
  }
  SECTION("nothing recorded: the toolkit's fence means Redis's defaults") {
    CHECK(operator_fence_values(FenceRecord{}, FenceValues{1, 3}, 3) == FenceValues{0, 10});
  }
  SECTION("nothing recorded: other values are the operator's") {
    CHECK(operator_fence_values(FenceRecord{}, FenceValues{2, 7}, 3) == FenceValues{2, 7});
    CHECK(operator_fence_values(FenceRecord{}, FenceValues{1, 9}, 3) == FenceValues{1, 9});
  }
  SECTION("each changed value is the operator's new one") {
    CHECK(operator_fence_values(record, FenceValues{2, 9}, 1) == FenceValues{2, 9});
    CHECK(operator_fence_values(record, FenceValues{4, 1}, 1) == FenceValues{4, 7});
    CHECK(operator_fence_values(record, FenceValues{0, 5}, 1) == FenceValues{0, 5});
  }
}

TEST_CASE("fence_target: the toolkit's fence when the plan fences, else the base", "[decisions]") {
  CHECK(fence_target(FencePlan{1, ""}, FenceValues{0, 10}, 3) == FenceValues{1, 3});
  CHECK(fence_target(FencePlan{0, ""}, FenceValues{2, 7}, 3) == FenceValues{2, 7});
}

TEST_CASE("decide_fence_lift: one branch each", "[decisions]") {
  RedisState fenced = master(replid_a, 10, 5);
  fenced.write_fence_on = true;
  FenceRecord isolation{FenceValues{}, FenceValues{1, 1}, true};
  FenceRecord hooks{FenceValues{}, FenceValues{1, 1}, false};
  FenceRecord unfenced{FenceValues{2, 7}, FenceValues{0, 7}, false};
  SECTION("isolated: the fence stays") {
    CHECK(decide_fence_lift(fenced, true, isolation).step == FenceLiftStep::keep);
  }
  SECTION("a replica: nothing to lift") {
    RedisState replica = replica_of(Endpoint{"10.0.0.1", 6379}, replid_a, 10, 10);
    replica.write_fence_on = true;
    CHECK(decide_fence_lift(replica, false, isolation).step == FenceLiftStep::keep);
  }
  SECTION("INFO shows no fence: nothing to lift, whatever the record says") {
    RedisState open = master(replid_a, 10, 5);
    CHECK(decide_fence_lift(open, false, isolation).step == FenceLiftStep::keep);
    CHECK(decide_fence_lift(open, false, std::nullopt).step == FenceLiftStep::keep);
    CHECK_THAT(decide_fence_lift(open, false, std::nullopt).reason,
               rk_test::Contains("min_slaves_good_slaves"));
  }
  SECTION("the recorded isolation fence lifts") {
    CHECK(decide_fence_lift(fenced, false, isolation).step == FenceLiftStep::lift);
  }
  SECTION("a fence the hooks set stays") {
    CHECK(decide_fence_lift(fenced, false, hooks).step == FenceLiftStep::keep);
  }
  SECTION("no usable state dir, nothing recorded, or no fence recorded: read the values") {
    CHECK(decide_fence_lift(fenced, false, std::nullopt).step == FenceLiftStep::read_values);
    CHECK(decide_fence_lift(fenced, false, FenceRecord{}).step == FenceLiftStep::read_values);
    CHECK(decide_fence_lift(fenced, false, unfenced).step == FenceLiftStep::read_values);
  }
}

TEST_CASE("unrecorded_isolation_fence: only the toolkit's values, only without --fence-writes",
          "[decisions]") {
  CHECK(unrecorded_isolation_fence(FenceValues{1, 3}, 3, false));
  CHECK_FALSE(unrecorded_isolation_fence(FenceValues{1, 3}, 3, true));
  CHECK_FALSE(unrecorded_isolation_fence(FenceValues{1, 7}, 3, false));
  CHECK_FALSE(unrecorded_isolation_fence(FenceValues{2, 3}, 3, false));
}

TEST_CASE("copy_before_replacing: a copy whenever a resync discards writes", "[decisions]") {
  SECTION("the discarded side took writes after the fork: copy, from the fork") {
    CopyNeed need = copy_before_replacing(promoted(replid_b, replid_a, 100, 180, 5),
                                          master(replid_a, 150, 5), "the peer");
    CHECK(need.needed);
    CHECK(need.fork_offset == 100);
    CHECK_THAT(need.loss, rk_test::Contains("the 80 bytes of writes only the peer took"));
  }
  SECTION("it took nothing after the fork: no copy") {
    CHECK_FALSE(copy_before_replacing(master(replid_a, 100, 5),
                                      promoted(replid_b, replid_a, 100, 180, 5), "this node")
                    .needed);
  }
  SECTION("unrelated histories: the whole dataset, from offset 0") {
    CopyNeed need =
        copy_before_replacing(master(replid_a, 40, 3), master(replid_b, 900, 20), "this node");
    CHECK(need.needed);
    CHECK(need.fork_offset == 0);
  }
  SECTION("an empty node: nothing to keep") {
    CHECK_FALSE(
        copy_before_replacing(master(replid_a, 40, 0), master(replid_b, 900, 20), "this node")
            .needed);
  }
}

namespace {
KeptCopy kept(const std::string& time, long long bytes) {
  KeptCopy copy;
  copy.name = CopyName{time, "local", replid_a, 0, 10};
  copy.file = copy.name.text();
  copy.bytes = bytes;
  return copy;
}
}  // namespace

TEST_CASE("copies_beyond_retention: newest kept, by count and by bytes", "[decisions]") {
  std::vector<KeptCopy> copies{kept("20261130T000004.000Z", 100), kept("20261130T000003.000Z", 100),
                               kept("20261130T000002.000Z", 100),
                               kept("20261130T000001.000Z", 100)};
  const std::string& newest = copies[0].file;
  SECTION("within both bounds: nothing removed") {
    CHECK(copies_beyond_retention(copies, newest, 4, 400).empty());
    CHECK(copies_beyond_retention(copies, newest, 10, 0).empty());
  }
  SECTION("by count: the oldest go") {
    CHECK(copies_beyond_retention(copies, newest, 2, 0) ==
          std::vector<std::string>{copies[2].file, copies[3].file});
  }
  SECTION("by bytes: the oldest go") {
    CHECK(copies_beyond_retention(copies, newest, 10, 250) ==
          std::vector<std::string>{copies[2].file, copies[3].file});
  }
  SECTION("the new copy alone over the byte bound stays; all older go") {
    CHECK(copies_beyond_retention(copies, newest, 10, 50) ==
          std::vector<std::string>{copies[1].file, copies[2].file, copies[3].file});
  }
  SECTION("once one does not fit, no older one is kept even if small") {
    std::vector<KeptCopy> mixed{kept("20261130T000004.000Z", 100),
                                kept("20261130T000003.000Z", 500),
                                kept("20261130T000002.000Z", 10)};
    CHECK(copies_beyond_retention(mixed, mixed[0].file, 10, 300) ==
          std::vector<std::string>{mixed[1].file, mixed[2].file});
  }
}

TEST_CASE("CopyName: the file name is the record", "[copies]") {
  CopyName name{"20261130T201233.123Z", "peer", replid_b, 1200, 58811};
  std::string text = name.text();
  CHECK(text == "20261130T201233.123Z_peer_" + replid_b + "_1200-58811.rdb");
  CopyName back = CopyName::parse(text);
  REQUIRE(back.valid());
  CHECK(back.time == name.time);
  CHECK(back.source == "peer");
  CHECK(back.replid == replid_b);
  CHECK(back.from_offset == 1200);
  CHECK(back.to_offset == 58811);
  for (const char* other :
       {"dump.rdb", "notes.txt", ".incoming.12.abcd.tmp", "20261130T201233.123Z_other_abc_1-2.rdb",
        "20261130T201233.123Z_peer_XYZ_1-2.rdb", "20261130T201233.123Z_peer_abc_1.rdb",
        "20261130T201233.123Z_peer_abc_-1-2.rdb", "20261130T201233.123Z_peer_abc_1-2.rdb.tmp"})
    CHECK_FALSE(CopyName::parse(other).valid());
}

TEST_CASE("decide_master_step: when to promote at once", "[decisions]") {
  SECTION("peer gone, local replica whose link was up: promote") {
    RedisState local = replica_of(peer_endpoint, replid_a, 50, 5);
    local.link_up = false;
    auto d = step(local, gone());
    CHECK(d.action == MasterAction::promote);
    CHECK_THAT(d.reason, rk_test::Contains("gone"));
  }
  SECTION("peer gone, local already master: nothing to do") {
    CHECK(step(master(replid_a, 50, 5), gone()).action == MasterAction::already_master);
  }
  SECTION("no peer configured: promote without a sync-wait") {
    auto d = step(replica_of(peer_endpoint, replid_a, 50, 5),
                  Observation::failed(Reach::not_configured, "no peer"));
    CHECK(d.action == MasterAction::promote);
    CHECK_THAT(d.reason, rk_test::Contains("no peer"));
  }
  SECTION("peer is a replica: a complete replica promotes") {
    auto d = step(replica_of(peer_endpoint, replid_a, 50, 5),
                  answered(replica_of({"10.0.0.1", 6379}, replid_a, 50, 5)));
    CHECK(d.action == MasterAction::promote);
  }
  SECTION("peer is loading (it cannot serve): a replica promotes, a master stays master") {
    RedisState peer = master(replid_a, 50, 5);
    peer.loading = true;
    CHECK(step(replica_of(peer_endpoint, replid_a, 50, 5), answered(peer)).action ==
          MasterAction::promote);
    CHECK(step(master(replid_b, 10, 5), answered(peer)).action == MasterAction::already_master);
  }
  SECTION("peer is an empty master and local has data: never sync from it") {
    auto d = step(master(replid_a, 50, 5), answered(master(replid_b, 0, 0)));
    CHECK(d.action == MasterAction::already_master);
    CHECK_THAT(d.reason, rk_test::Contains("empty"));
  }
  SECTION("a replica mid-sync from an emptied peer promotes with its data") {
    RedisState local = replica_of(peer_endpoint, replid_a, 50, 5);
    local.sync_in_progress = true;
    local.link_up = false;
    CHECK(step(local, answered(master(replid_b, 0, 0))).action == MasterAction::promote);
  }
  SECTION("local master already holds all of the peer's writes") {
    CHECK(step(promoted(replid_b, replid_a, 100, 150, 5), answered(master(replid_a, 100, 5)))
              .action == MasterAction::already_master);
  }
}

TEST_CASE("known_incompleteness: what says this node lacks the peer's writes", "[decisions]") {
  SECTION("a full sync running") {
    RedisState local = replica_of(peer_endpoint, replid_c, 0, 0);
    local.sync_in_progress = true;
    local.link_up = false;
    auto why = known_incompleteness(local, std::nullopt);
    REQUIRE(why);
    CHECK_THAT(*why, rk_test::Contains("master_sync_in_progress:1"));
  }
  SECTION("an empty replica's first sync pending: REPLICAOF given, link never up since") {
    RedisState local = replica_of(peer_endpoint, replid_c, 0, 0);
    local.link_up = false;
    local.link_never_up = true;
    auto why = known_incompleteness(local, std::nullopt);
    REQUIRE(why);
    CHECK_THAT(*why, rk_test::Contains("master_link_down_since_seconds:-1"));
    // Restarted from its own files, not at its master yet: it holds its data.
    RedisState restarted = local;
    restarted.keys = 3000;
    CHECK_FALSE(known_incompleteness(restarted, std::nullopt));
    // Its master answers with no keys: nothing to wait for.
    CHECK_FALSE(known_incompleteness(local, std::nullopt, true));
  }
  SECTION("the peer was last seen with writes this node lacks") {
    auto why = known_incompleteness(master(replid_c, 0, 0), master(replid_a, 5000, 1000));
    REQUIRE(why);
    CHECK_THAT(*why, rk_test::Contains("offset 5000"));
    CHECK_THAT(*why, rk_test::Contains("1000 keys"));
  }
  SECTION("complete: a replica whose link dropped after the peer was last seen") {
    RedisState local = replica_of(peer_endpoint, replid_a, 500, 5);
    local.link_up = false;
    CHECK_FALSE(known_incompleteness(local, master(replid_a, 500, 5)));
    CHECK_FALSE(known_incompleteness(local, std::nullopt));
  }
  SECTION("complete: the peer was last seen empty") {
    CHECK_FALSE(known_incompleteness(master(replid_c, 0, 0), master(replid_a, 5000, 0)));
  }
}

TEST_CASE("decide_master_step: a quiet peer never gets an incomplete node promoted",
          "[decisions]") {
  const RedisState peer_seen = master(replid_a, 5000, 1000);
  RedisState empty_local = master(replid_c, 0, 0);
  RedisState syncing = replica_of(peer_endpoint, replid_c, 0, 0);
  syncing.sync_in_progress = true;
  syncing.link_up = false;
  RedisState pending = replica_of(peer_endpoint, replid_c, 0, 0);
  pending.link_up = false;
  pending.link_never_up = true;

  SECTION("silent (a stall) after it was seen holding writes this node lacks: wait, however long") {
    for (long long silent_ms : {0LL, 1000LL, 60000LL}) {
      auto d = step_after(empty_local, silent(), peer_seen, silent_ms);
      CHECK(d.action == MasterAction::wait_for_peer);
      CHECK_THAT(d.reason, rk_test::Contains("incomplete"));
    }
  }
  SECTION("gone after it was seen holding writes this node lacks: wait") {
    CHECK(step_after(empty_local, gone(), peer_seen, 100).action == MasterAction::wait_for_peer);
  }
  SECTION("silent or gone while a full sync runs or an empty node's sync is pending: wait") {
    for (const RedisState& local : {syncing, pending}) {
      CHECK(step_after(local, silent(), std::nullopt, 60000).action == MasterAction::wait_for_peer);
      CHECK(step_after(local, gone(), std::nullopt, 0).action == MasterAction::wait_for_peer);
    }
  }
  SECTION("two empty nodes that started as each other's replicas: the master hook promotes") {
    RedisState peer_replica = replica_of({"10.0.0.1", 6379}, replid_b, 0, 0);
    peer_replica.link_up = false;
    peer_replica.link_never_up = true;
    CHECK(step(pending, answered(peer_replica)).action == MasterAction::promote);
  }
  SECTION("a loading or replica peer does not end the wait of an incomplete node") {
    RedisState loading = master(replid_a, 5000, 1000);
    loading.loading = true;
    CHECK(step_after(empty_local, answered(loading), peer_seen, 0).action ==
          MasterAction::wait_for_peer);
    CHECK(step_after(empty_local, answered(replica_of({"10.0.0.1", 6379}, replid_a, 10, 5)),
                     peer_seen, 0)
              .action == MasterAction::wait_for_peer);
  }
  SECTION("silent, complete node: wait out the grace, then promote") {
    RedisState local = replica_of(peer_endpoint, replid_a, 5000, 1000);
    auto early = step_after(local, silent(), peer_seen, 1999);
    CHECK(early.action == MasterAction::wait_for_peer);
    CHECK_THAT(early.reason, rk_test::Contains("waiting up to 2000 ms"));
    auto late = step_after(local, silent(), peer_seen, 2000);
    CHECK(late.action == MasterAction::promote);
    CHECK_THAT(late.reason, rk_test::Contains("silent"));
  }
  SECTION("gone, complete node: promote at once, no grace") {
    RedisState local = replica_of(peer_endpoint, replid_a, 5000, 1000);
    local.link_up = false;
    CHECK(step_after(local, gone(), peer_seen, 0).action == MasterAction::promote);
  }
}

TEST_CASE("decide_master_step: a peer that refuses us, or is us", "[decisions]") {
  SECTION("denied (WRONGPASS, NOPERM): stop, change nothing, name the error") {
    for (const RedisState& local :
         {master(replid_c, 0, 0), replica_of(peer_endpoint, replid_a, 10, 5)}) {
      auto d = step(local, denied("AUTH as default at 10.0.0.2:6379 refused: WRONGPASS"));
      CHECK(d.action == MasterAction::stop_peer_denied);
      CHECK_THAT(d.reason, rk_test::Contains("WRONGPASS"));
      CHECK_THAT(d.reason, rk_test::Contains("+client|pause"));
    }
  }
  SECTION("same run_id on both addresses: stop before anything changes") {
    RedisState local = master(replid_a, 10, 5);
    local.run_id = std::string(40, '7');
    RedisState peer = local;
    auto d = step(local, answered(peer));
    CHECK(d.action == MasterAction::stop_peer_is_local);
    CHECK_THAT(d.reason, rk_test::Contains("run_id"));
    // Different processes: the usual decision.
    peer.run_id = std::string(40, '8');
    CHECK(step(local, answered(peer)).action == MasterAction::already_master);
    // No run_id reported: never taken as the same server.
    local.run_id.clear();
    peer.run_id.clear();
    CHECK(step(local, answered(peer)).action == MasterAction::already_master);
  }
}

TEST_CASE("decide_master_step: the sync-wait", "[decisions]") {
  SECTION("local loading: wait, REPLICAOF NO ONE would be refused") {
    RedisState local = replica_of(peer_endpoint, replid_a, 50, 5);
    local.loading = true;
    CHECK(step(local, gone()).action == MasterAction::wait_for_loading);
  }
  SECTION("local master lacking the peer's writes: replicate the peer") {
    CHECK(step(master(replid_b, 10, 0), answered(master(replid_a, 500, 5))).action ==
          MasterAction::replicate_peer);
  }
  SECTION("local replica of another master: replicate the peer") {
    CHECK(step(replica_of({"10.0.0.9", 6379}, replid_c, 10, 5), answered(master(replid_a, 500, 5)))
              .action == MasterAction::replicate_peer);
  }
  SECTION("replica of the peer with the same host but another port is not the peer") {
    CHECK(step(replica_of({"10.0.0.2", 6380}, replid_a, 500, 5), answered(master(replid_a, 500, 5)))
              .action == MasterAction::promote);  // it already holds all of it
    CHECK(step(replica_of({"10.0.0.2", 6380}, replid_a, 400, 5), answered(master(replid_a, 500, 5)))
              .action == MasterAction::replicate_peer);
  }
  SECTION("sync in progress: wait") {
    RedisState local = replica_of(peer_endpoint, replid_c, 0, 0);
    local.sync_in_progress = true;
    local.link_up = false;
    CHECK(step(local, answered(master(replid_a, 500, 5))).action == MasterAction::wait_for_sync);
  }
  SECTION("link down: wait") {
    RedisState local = replica_of(peer_endpoint, replid_a, 400, 5);
    local.link_up = false;
    CHECK(step(local, answered(master(replid_a, 500, 5))).action == MasterAction::wait_for_sync);
  }
  SECTION("link up but another replid (before the first sync ends): wait") {
    CHECK(step(replica_of(peer_endpoint, replid_c, 400, 5), answered(master(replid_a, 500, 5)))
              .action == MasterAction::wait_for_sync);
  }
  SECTION("link up with the peer's replid: verify under a pause, even if behind") {
    CHECK(step(replica_of(peer_endpoint, replid_a, 400, 5), answered(master(replid_a, 500, 5)))
              .action == MasterAction::verify_and_promote);
  }
}

TEST_CASE("keep_verifying: three quarters of the pause window, and only with the link up",
          "[decisions]") {
  using std::chrono::milliseconds;
  CHECK(keep_verifying(milliseconds(0), milliseconds(2000), true));
  CHECK(keep_verifying(milliseconds(1499), milliseconds(2000), true));
  CHECK_FALSE(keep_verifying(milliseconds(1500), milliseconds(2000), true));
  CHECK_FALSE(keep_verifying(milliseconds(10), milliseconds(2000), false));
}

TEST_CASE("decide_on_sync_timeout: stay unless told to promote, and never while loading",
          "[decisions]") {
  RedisState replica = replica_of(peer_endpoint, replid_a, 400, 5);
  CHECK(decide_on_sync_timeout(replica, false) == SyncTimeoutAction::stay_replica);
  CHECK(decide_on_sync_timeout(replica, true) == SyncTimeoutAction::promote_anyway);
  RedisState loading = replica;
  loading.loading = true;
  CHECK(decide_on_sync_timeout(loading, true) == SyncTimeoutAction::stay_loading);
  CHECK(decide_on_sync_timeout(loading, false) == SyncTimeoutAction::stay_replica);
  CHECK(decide_on_sync_timeout(master(replid_a, 10, 5), false) ==
        SyncTimeoutAction::already_master);
}

// A node that lost a heal: promoted from replid_a at 1000 and took 40 bytes
// of writes the peer never saw; the peer kept replid_a and went on to 5000.
StaleHistory lost_heal() {
  StaleHistory stale = stale_history_of(promoted(replid_b, replid_a, 1000, 1040, 240),
                                        master(replid_a, 5000, 500), "split-brain: lost the heal");
  stale.since = "2026-12-07T02:00:00Z";
  stale.hook = "redis_backup";
  return stale;
}

TEST_CASE("StaleHistory: the record's text round-trips and names the proof", "[decisions]") {
  StaleHistory stale = lost_heal();
  CHECK(stale.local_replid == replid_b);
  CHECK(stale.local_offset == 1040);
  CHECK(stale.peer_replid == replid_a);
  CHECK(stale.peer_offset == 5000);
  std::optional<StaleHistory> back = StaleHistory::parse(stale.text());
  REQUIRE(back);
  CHECK(back->text() == stale.text());
  CHECK_THAT(back->describe(), rk_test::Contains("offset 5000 of replid aaaaaaaa"));
  CHECK_THAT(back->describe(), rk_test::Contains("offset 1040 of replid bbbbbbbb"));
  CHECK_THAT(back->describe(), rk_test::Contains("redis_backup"));
  SECTION("no text is no record; a damaged one still stands") {
    CHECK_FALSE(StaleHistory::parse(""));
    std::optional<StaleHistory> damaged = StaleHistory::parse("garbage\npeer_offset=x\n");
    REQUIRE(damaged);
    CHECK(damaged->peer_offset == 0);
    CHECK_FALSE(stale_history_resolved(master(replid_a, 9000, 5), *damaged));
  }
  SECTION("a newline in a value cannot forge a field") {
    StaleHistory forged = stale;
    forged.reason = "x\npeer_replid=" + replid_c;
    CHECK(StaleHistory::parse(forged.text())->peer_replid == replid_a);
  }
}

TEST_CASE("stale_history_resolved: only once this node holds the recorded history", "[decisions]") {
  StaleHistory stale = lost_heal();
  // Still the lone master of the losing side.
  CHECK_FALSE(stale_history_resolved(promoted(replid_b, replid_a, 1000, 1040, 240), stale));
  // Resyncing: the RDB not loaded yet.
  RedisState syncing = replica_of(peer_endpoint, replid_b, 1040, 240);
  syncing.link_up = false;
  syncing.sync_in_progress = true;
  CHECK_FALSE(stale_history_resolved(syncing, stale));
  // Resynced, behind the recorded offset, then past it.
  CHECK_FALSE(stale_history_resolved(replica_of(peer_endpoint, replid_a, 4999, 500), stale));
  CHECK(stale_history_resolved(replica_of(peer_endpoint, replid_a, 5000, 500), stale));
  // Promoted after catching up: the peer's replid is its replid2.
  CHECK(stale_history_resolved(promoted(replid_c, replid_a, 6000, 6100, 600), stale));
}

TEST_CASE("decide_stale_check: fail while the record stands and no hook acts on it",
          "[decisions]") {
  StaleHistory stale = lost_heal();
  RedisState lone = promoted(replid_b, replid_a, 1000, 1040, 240);
  CHECK_FALSE(decide_stale_check(std::nullopt, lone, false).fails);
  StaleCheck check = decide_stale_check(stale, lone, false);
  CHECK(check.fails);
  CHECK_THAT(check.reason, rk_test::Contains("offset 5000"));
  // INFO unreadable: the record still stands.
  CHECK(decide_stale_check(stale, std::nullopt, false).fails);
  // redis_backup resyncing it (or redis_master waiting): not failed meanwhile.
  CHECK_FALSE(decide_stale_check(stale, lone, true).fails);
  // Resynced past the recorded offset.
  CHECK_FALSE(
      decide_stale_check(stale, replica_of(peer_endpoint, replid_a, 5000, 500), false).fails);
}

TEST_CASE("a stale-history record keeps a node without its peer from promotion", "[decisions]") {
  StaleHistory stale = lost_heal();
  RedisState local = promoted(replid_b, replid_a, 1000, 1040, 240);
  SECTION("known_incompleteness names the record") {
    auto why = known_incompleteness(local, std::nullopt, false, stale);
    REQUIRE(why);
    CHECK_THAT(*why, rk_test::Contains("older history than its peer"));
    CHECK_THAT(*why, rk_test::Contains("offset 5000"));
    CHECK_FALSE(known_incompleteness(local, std::nullopt));
  }
  SECTION("the peer gone: wait, where without the record it would stay master") {
    MasterView view{local, gone(), std::nullopt, std::chrono::milliseconds(0), stale};
    MasterDecision decision = decide_master_step(view, policy);
    CHECK(decision.action == MasterAction::wait_for_peer);
    CHECK_THAT(decision.reason, rk_test::Contains("older history"));
    view.stale.reset();  // --accept-data-loss
    CHECK(decide_master_step(view, policy).action == MasterAction::already_master);
    RedisState replica = replica_of(peer_endpoint, replid_b, 1040, 240);
    replica.link_up = false;
    CHECK(decide_master_step(MasterView{replica, silent(), std::nullopt,
                                        std::chrono::milliseconds(5000), stale},
                             policy)
              .action == MasterAction::wait_for_peer);
  }
  SECTION("resolved: the record no longer holds it back") {
    RedisState resynced = replica_of(peer_endpoint, replid_a, 5000, 500);
    resynced.link_up = false;
    MasterView view{resynced, gone(), std::nullopt, std::chrono::milliseconds(0), stale};
    CHECK(decide_master_step(view, policy).action == MasterAction::promote);
  }
  SECTION("the peer answers: the normal sync-wait runs") {
    MasterView view{local, answered(master(replid_a, 5000, 500)), master(replid_a, 5000, 500),
                    std::chrono::milliseconds(0), stale};
    CHECK(decide_master_step(view, policy).action == MasterAction::replicate_peer);
  }
  SECTION("at the sync timeout: stale wins over --on-sync-timeout promote and already-master") {
    CHECK(decide_on_sync_timeout(local, false, stale) == SyncTimeoutAction::stay_stale);
    CHECK(decide_on_sync_timeout(local, true, stale) == SyncTimeoutAction::stay_stale);
    CHECK(decide_on_sync_timeout(local, true) == SyncTimeoutAction::already_master);
    RedisState resynced = replica_of(peer_endpoint, replid_a, 5000, 500);
    CHECK(decide_on_sync_timeout(resynced, true, stale) == SyncTimeoutAction::promote_anyway);
  }
}

TEST_CASE("pause_peer_before_repoint: only a reachable master not paused yet", "[decisions]") {
  CHECK(pause_peer_before_repoint(master(replid_a, 10, 5), false));
  CHECK_FALSE(pause_peer_before_repoint(master(replid_a, 10, 5), true));
  CHECK_FALSE(pause_peer_before_repoint(std::nullopt, false));
  CHECK_FALSE(pause_peer_before_repoint(replica_of({"10.0.0.1", 6379}, replid_a, 10, 5), false));
}

TEST_CASE("caught_up_with: the final comparison under a pause", "[decisions]") {
  RedisState peer = master(replid_a, 500, 5);
  CHECK(caught_up_with(replica_of(peer_endpoint, replid_a, 500, 5), peer));
  CHECK(caught_up_with(replica_of(peer_endpoint, replid_a, 501, 5), peer));
  CHECK_FALSE(caught_up_with(replica_of(peer_endpoint, replid_a, 499, 5), peer));
  CHECK_FALSE(caught_up_with(replica_of(peer_endpoint, replid_b, 500, 5), peer));
  RedisState received_not_applied = replica_of(peer_endpoint, replid_a, 400, 5);
  received_not_applied.slave_read_repl_offset = 500;
  CHECK_FALSE(caught_up_with(received_not_applied, peer));
  RedisState link_down = replica_of(peer_endpoint, replid_a, 500, 5);
  link_down.link_up = false;
  CHECK_FALSE(caught_up_with(link_down, peer));
  RedisState syncing = replica_of(peer_endpoint, replid_a, 500, 5);
  syncing.sync_in_progress = true;
  CHECK_FALSE(caught_up_with(syncing, peer));
  RedisState loading = replica_of(peer_endpoint, replid_a, 500, 5);
  loading.loading = true;
  CHECK_FALSE(caught_up_with(loading, peer));
  CHECK_FALSE(caught_up_with(master(replid_a, 500, 5), peer));
}

TEST_CASE("decide_after_promotion: repoint only a peer that loses nothing", "[decisions]") {
  RedisState local = promoted(replid_b, replid_a, 500, 500, 5);
  CHECK(decide_after_promotion(local, master(replid_a, 500, 5)).repoint_peer);
  CHECK(decide_after_promotion(local, master(replid_a, 0, 0)).repoint_peer);
  CHECK_FALSE(decide_after_promotion(local, std::nullopt).repoint_peer);
  CHECK_FALSE(
      decide_after_promotion(local, replica_of({"10.0.0.1", 6379}, replid_b, 500, 5)).repoint_peer);
  auto ahead = decide_after_promotion(local, master(replid_a, 600, 5));
  CHECK_FALSE(ahead.repoint_peer);
  CHECK_THAT(ahead.reason, rk_test::Contains("lacks"));
  RedisState loading = master(replid_a, 500, 5);
  loading.loading = true;
  CHECK_FALSE(decide_after_promotion(local, loading).repoint_peer);
  RedisState itself = local;
  itself.run_id = std::string(40, '7');
  CHECK_FALSE(decide_after_promotion(itself, itself).repoint_peer);
}

TEST_CASE("fence_for_master: fenced only with a replica attached", "[decisions]") {
  RedisState alone = master(replid_a, 100, 5);
  CHECK(fence_for_master(alone, false).min_replicas_to_write == 0);
  CHECK_THAT(fence_for_master(alone, false).reason, rk_test::Contains("unfenced"));
  CHECK(fence_for_master(alone, true).min_replicas_to_write == 1);
  RedisState with_replica = alone;
  with_replica.replicas.push_back(ReplicaEntry{"10.0.0.2", 6379, "online", 100, 0});
  CHECK(fence_for_master(with_replica, false).min_replicas_to_write == 1);
  // A replica still in its full sync does not ACK yet.
  with_replica.replicas.front().state = "wait_bgsave";
  CHECK(fence_for_master(with_replica, false).min_replicas_to_write == 0);
}

TEST_CASE("decide_backup_step: every branch", "[decisions]") {
  SECTION("local loading: wait") {
    RedisState local = master(replid_a, 0, 0);
    local.loading = true;
    CHECK(backup_step(local, master(replid_b, 10, 5), peer_endpoint, true).action ==
          BackupAction::wait);
  }
  SECTION("peer unreachable: wait") {
    CHECK(decide_backup_step(master(replid_a, 0, 0), gone(), peer_endpoint, true).action ==
          BackupAction::wait);
    CHECK(decide_backup_step(master(replid_a, 0, 0), silent(), peer_endpoint, true).action ==
          BackupAction::wait);
  }
  SECTION("peer refuses us: stop and say why") {
    auto d = decide_backup_step(master(replid_a, 0, 0), denied("NOPERM no permissions to run INFO"),
                                peer_endpoint, true);
    CHECK(d.action == BackupAction::stop_peer_denied);
    CHECK_THAT(d.reason, rk_test::Contains("NOPERM"));
  }
  SECTION("peer is this very server: stop") {
    RedisState local = master(replid_a, 10, 5);
    local.run_id = std::string(40, '7');
    CHECK(decide_backup_step(local, answered(local), peer_endpoint, true).action ==
          BackupAction::stop_peer_is_local);
  }
  SECTION("peer syncing from us before its promotion: wait, no loop") {
    auto d = backup_step(master(replid_a, 100, 5), replica_of({"10.0.0.1", 6379}, replid_a, 50, 5),
                         peer_endpoint, true);
    CHECK(d.action == BackupAction::wait);
  }
  SECTION("peer loading: wait") {
    RedisState peer = master(replid_b, 10, 5);
    peer.loading = true;
    CHECK(backup_step(master(replid_a, 0, 0), peer, peer_endpoint, true).action ==
          BackupAction::wait);
  }
  SECTION("already the peer's replica with the link up: done") {
    CHECK(backup_step(replica_of(peer_endpoint, replid_a, 100, 5), master(replid_a, 100, 5),
                      peer_endpoint, false)
              .action == BackupAction::done);
  }
  SECTION("the peer's replica, still syncing: wait for the link") {
    RedisState local = replica_of(peer_endpoint, replid_c, 0, 0);
    local.link_up = false;
    local.sync_in_progress = true;
    CHECK(backup_step(local, master(replid_a, 100, 5), peer_endpoint, false).action ==
          BackupAction::wait_for_link);
  }
  SECTION("empty peer, local with data: refuse") {
    auto d = backup_step(master(replid_a, 100, 5), master(replid_b, 0, 0), peer_endpoint, true);
    CHECK(d.action == BackupAction::refuse_empty_peer);
    CHECK_THAT(d.reason, rk_test::Contains("empty"));
  }
  SECTION("empty local: replicate at once") {
    CHECK(backup_step(master(replid_a, 0, 0), master(replid_b, 100, 5), peer_endpoint, false)
              .action == BackupAction::replicate_peer);
  }
  SECTION("both empty: replicate") {
    CHECK(
        backup_step(master(replid_a, 0, 0), master(replid_b, 0, 0), peer_endpoint, false).action ==
        BackupAction::replicate_peer);
  }
  SECTION("peer holds all our writes (it was promoted from us): replicate") {
    CHECK(backup_step(master(replid_a, 100, 5), promoted(replid_b, replid_a, 100, 300, 5),
                      peer_endpoint, false)
              .action == BackupAction::replicate_peer);
  }
  SECTION("after a split, this node's history is the newer: demote the peer at once") {
    // This node was promoted during the split and took writes; the old
    // master, VIP holder since the heal, took fewer (or none).
    for (long long peer_offset : {100LL, 120LL}) {
      auto d = backup_step(promoted(replid_b, replid_a, 100, 180, 5),
                           master(replid_a, peer_offset, 5), peer_endpoint, false);
      CHECK(d.action == BackupAction::demote_peer);
      CHECK_THAT(d.reason, rk_test::StartsWith("heal: histories fork at offset 100"));
    }
  }
  SECTION("diverged histories: wait for the grace, then replicate as a split brain") {
    RedisState local = master(replid_a, 150, 5);
    RedisState peer = promoted(replid_b, replid_a, 100, 180, 5);
    CHECK(backup_step(local, peer, peer_endpoint, false).action == BackupAction::wait);
    CHECK(backup_step(local, peer, peer_endpoint, true).action == BackupAction::replicate_diverged);
  }
}

TEST_CASE("check_maintenance_tracked: a track_file block tracked with weight 0", "[decisions]") {
  const std::string path = "/run/redis-keepalived/maintenance";
  const std::string block = "track_file maintenance {\n  file \"" + path + "\"\n  weight 0\n}\n";
  const std::string instance =
      "vrrp_instance redis {\n  state BACKUP\n  track_file {\n    maintenance\n  }\n}\n";
  auto tracked = [&](const std::string& conf) { return check_maintenance_tracked(conf, path); };
  CHECK(tracked(block + instance).tracked);
  CHECK_THAT(tracked(block + instance).reason, rk_test::Contains("vrrp_instance redis"));
  // Unquoted path, braces on their own lines, the instance's weight 0
  // overriding the block's default of 1.
  CHECK(tracked("track_file m\n{\n file " + path +
                "\n}\nvrrp_instance r\n{\n track_file {\n  m weight 0\n }\n}\n")
            .tracked);
  // A sync group may track it too.
  CHECK(tracked(block +
                "vrrp_sync_group g {\n group {\n  redis\n }\n track_file {\n  maintenance\n "
                "}\n}\n")
            .tracked);
  // Only in a comment, only in a notify line, or in another block.
  CHECK_FALSE(tracked("# track_file m { file \"" + path + "\" }\n" + instance).tracked);
  CHECK_FALSE(
      tracked("vrrp_instance redis {\n  notify_master \"/usr/bin/redis_master " + path + "\"\n}\n")
          .tracked);
  CHECK_FALSE(tracked("track_file m {\n  file \"/run/other\"\n  weight 0\n}\n" + instance).tracked);
  CHECK_THAT(tracked("vrrp_instance x {\n}\n").reason, rk_test::Contains("no track_file block"));
  // Declared but tracked by no instance.
  CHECK_THAT(tracked(block + "vrrp_instance redis {\n  state BACKUP\n}\n").reason,
             rk_test::Contains("tracked by no vrrp_instance"));
  // A non-zero weight moves the priority instead of forcing FAULT: the block's
  // default of 1, an explicit one, the instance's own, and reverse.
  MaintenanceTracking weighted =
      tracked("track_file maintenance {\n  file \"" + path + "\"\n}\n" + instance);
  CHECK_FALSE(weighted.tracked);
  CHECK_THAT(weighted.reason, rk_test::Contains("weight 1"));
  CHECK_FALSE(
      tracked("track_file maintenance {\n  file \"" + path + "\"\n  weight -10\n}\n" + instance)
          .tracked);
  CHECK_FALSE(tracked(block + "vrrp_instance redis {\n  track_file {\n    maintenance weight 5\n  "
                              "}\n}\n")
                  .tracked);
  CHECK_FALSE(tracked("track_file maintenance {\n  file \"" + path + "\"\n  weight 0 reverse\n}\n" +
                      instance)
                  .tracked);
  // What an include may hold is not seen: the reason says so.
  CHECK_THAT(tracked("include /etc/keepalived/conf.d/*.conf\n").reason,
             rk_test::Contains("includes are not read"));
}

TEST_CASE("check_switchover_start: only the VIP holder with a caught-up replica peer",
          "[decisions]") {
  RedisState local = master(replid_a, 100, 5);
  RedisState peer = replica_of(Endpoint{"10.0.0.1", 6379}, replid_a, 90, 5);
  CHECK(check_switchover_start("MASTER", local, answered(peer)).ok);
  CHECK_THAT(check_switchover_start("MASTER", local, answered(peer)).reason,
             rk_test::Contains("10 bytes behind"));
  CHECK_THAT(check_switchover_start("BACKUP", local, answered(peer)).reason,
             rk_test::Contains("does not hold the VIP"));
  CHECK_THAT(check_switchover_start("", local, answered(peer)).reason, rk_test::Contains("none"));
  CHECK_FALSE(check_switchover_start("MASTER", peer, answered(peer)).ok);
  CHECK_THAT(check_switchover_start("MASTER", local, gone()).reason, rk_test::Contains("gone"));
  CHECK_THAT(check_switchover_start("MASTER", local, answered(master(replid_b, 10, 5))).reason,
             rk_test::Contains("is a master"));
  RedisState other_history = replica_of(Endpoint{"10.0.0.1", 6379}, replid_b, 90, 5);
  CHECK_THAT(check_switchover_start("MASTER", local, answered(other_history)).reason,
             rk_test::Contains("another history"));
  RedisState link_down = peer;
  link_down.link_up = false;
  CHECK_FALSE(check_switchover_start("MASTER", local, answered(link_down)).ok);
}

TEST_CASE("switchover_caught_up: every write up to the paused offset", "[decisions]") {
  RedisState peer = replica_of(Endpoint{"10.0.0.1", 6379}, replid_a, 100, 5);
  CHECK(switchover_caught_up(peer, replid_a, 100));
  CHECK(switchover_caught_up(peer, replid_a, 99));
  CHECK_FALSE(switchover_caught_up(peer, replid_a, 101));
  CHECK_FALSE(switchover_caught_up(peer, replid_b, 100));
  peer.link_up = false;
  CHECK_FALSE(switchover_caught_up(peer, replid_a, 100));
}

TEST_CASE("write_pause_unsupported: Redis before 6.2 only", "[decisions]") {
  RedisState server = master(replid_a, 10, 5);
  for (const char* old : {"6.0.16", "6.1.9", "5.0.14", "4.0.0"}) {
    server.redis_version = old;
    REQUIRE(write_pause_unsupported(server));
    CHECK_THAT(*write_pause_unsupported(server), rk_test::Contains("older than 6.2"));
  }
  for (const char* fine : {"6.2.0", "6.2.14", "7.0.15", "10.1.0", "", "garbled"}) {
    server.redis_version = fine;
    CHECK_FALSE(write_pause_unsupported(server));
  }
  server.redis_version = "7.2.4";
  server.server_name = "valkey";
  CHECK_FALSE(write_pause_unsupported(server));
}
