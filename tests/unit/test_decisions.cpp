#include <catch2/catch.hpp>

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
    CHECK_FALSE(holds_history_of(master(replid_a, 1000, 5), master(null_replid, 0, 5)));
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

TEST_CASE("describe_replacement_loss names what a full sync discards", "[decisions]") {
  SECTION("nothing local: nothing lost") {
    CHECK_FALSE(describe_replacement_loss(master(replid_a, 0, 0), master(replid_b, 10, 5)));
  }
  SECTION("related, and this node wrote after the fork: split-brain with the bytes") {
    auto loss = describe_replacement_loss(master(replid_a, 150, 5),
                                          promoted(replid_b, replid_a, 100, 180, 5));
    REQUIRE(loss);
    CHECK_THAT(*loss, Catch::StartsWith("split-brain:"));
    CHECK_THAT(*loss, Catch::Contains("after offset 100; 50 bytes"));
  }
  SECTION("related, and this node took nothing after the fork: nothing lost") {
    CHECK_FALSE(describe_replacement_loss(master(replid_a, 100, 5),
                                          promoted(replid_b, replid_a, 100, 180, 5)));
  }
  SECTION("unrelated (a restart from files): said so, without crying split-brain") {
    auto loss = describe_replacement_loss(master(replid_a, 0, 587), master(replid_b, 900, 2232));
    REQUIRE(loss);
    CHECK_THAT(*loss, Catch::Contains("restarted from its files"));
    CHECK_THAT(*loss, Catch::Contains("587 keys are replaced by the peer's 2232"));
    CHECK_THAT(*loss, !Catch::Contains("split-brain"));
  }
}

TEST_CASE("decide_master_step: when to promote at once", "[decisions]") {
  SECTION("peer unreachable, local replica: promote") {
    auto d =
        decide_master_step(replica_of(peer_endpoint, replid_a, 50, 5), std::nullopt, peer_endpoint);
    CHECK(d.action == MasterAction::promote);
    CHECK_THAT(d.reason, Catch::Contains("unreachable"));
  }
  SECTION("peer unreachable, local already master: nothing to do") {
    auto d = decide_master_step(master(replid_a, 50, 5), std::nullopt, peer_endpoint);
    CHECK(d.action == MasterAction::already_master);
  }
  SECTION("peer is a replica: promote") {
    auto d = decide_master_step(replica_of(peer_endpoint, replid_a, 50, 5),
                                replica_of({"10.0.0.1", 6379}, replid_a, 50, 5), peer_endpoint);
    CHECK(d.action == MasterAction::promote);
  }
  SECTION("peer is loading: promote (it cannot serve)") {
    RedisState peer = master(replid_a, 50, 5);
    peer.loading = true;
    CHECK(decide_master_step(master(replid_b, 10, 5), peer, peer_endpoint).action ==
          MasterAction::already_master);
  }
  SECTION("peer is an empty master and local has data: never sync from it") {
    auto d = decide_master_step(master(replid_a, 50, 5), master(replid_b, 0, 0), peer_endpoint);
    CHECK(d.action == MasterAction::already_master);
    CHECK_THAT(d.reason, Catch::Contains("empty"));
  }
  SECTION("a replica mid-sync from an emptied peer promotes with its data") {
    RedisState local = replica_of(peer_endpoint, replid_a, 50, 5);
    local.sync_in_progress = true;
    local.link_up = false;
    auto d = decide_master_step(local, master(replid_b, 0, 0), peer_endpoint);
    CHECK(d.action == MasterAction::promote);
  }
  SECTION("local master already holds all of the peer's writes") {
    auto d = decide_master_step(promoted(replid_b, replid_a, 100, 150, 5), master(replid_a, 100, 5),
                                peer_endpoint);
    CHECK(d.action == MasterAction::already_master);
  }
}

TEST_CASE("decide_master_step: the sync-wait", "[decisions]") {
  SECTION("local loading: wait, REPLICAOF NO ONE would be refused") {
    RedisState local = replica_of(peer_endpoint, replid_a, 50, 5);
    local.loading = true;
    CHECK(decide_master_step(local, std::nullopt, peer_endpoint).action ==
          MasterAction::wait_for_loading);
  }
  SECTION("local master lacking the peer's writes: replicate the peer") {
    auto d = decide_master_step(master(replid_b, 10, 0), master(replid_a, 500, 5), peer_endpoint);
    CHECK(d.action == MasterAction::replicate_peer);
  }
  SECTION("local replica of another master: replicate the peer") {
    auto d = decide_master_step(replica_of({"10.0.0.9", 6379}, replid_c, 10, 5),
                                master(replid_a, 500, 5), peer_endpoint);
    CHECK(d.action == MasterAction::replicate_peer);
  }
  SECTION("replica of the peer with the same host but another port is not the peer") {
    auto d = decide_master_step(replica_of({"10.0.0.2", 6380}, replid_a, 500, 5),
                                master(replid_a, 500, 5), peer_endpoint);
    CHECK(d.action == MasterAction::promote);  // it already holds all of it
    auto lacking = decide_master_step(replica_of({"10.0.0.2", 6380}, replid_a, 400, 5),
                                      master(replid_a, 500, 5), peer_endpoint);
    CHECK(lacking.action == MasterAction::replicate_peer);
  }
  SECTION("sync in progress: wait") {
    RedisState local = replica_of(peer_endpoint, replid_c, 0, 0);
    local.sync_in_progress = true;
    local.link_up = false;
    CHECK(decide_master_step(local, master(replid_a, 500, 5), peer_endpoint).action ==
          MasterAction::wait_for_sync);
  }
  SECTION("link down: wait") {
    RedisState local = replica_of(peer_endpoint, replid_a, 400, 5);
    local.link_up = false;
    CHECK(decide_master_step(local, master(replid_a, 500, 5), peer_endpoint).action ==
          MasterAction::wait_for_sync);
  }
  SECTION("link up but another replid (before the first sync ends): wait") {
    CHECK(decide_master_step(replica_of(peer_endpoint, replid_c, 400, 5), master(replid_a, 500, 5),
                             peer_endpoint)
              .action == MasterAction::wait_for_sync);
  }
  SECTION("link up with the peer's replid: verify under a pause, even if behind") {
    CHECK(decide_master_step(replica_of(peer_endpoint, replid_a, 400, 5), master(replid_a, 500, 5),
                             peer_endpoint)
              .action == MasterAction::verify_and_promote);
  }
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
  CHECK_THAT(ahead.reason, Catch::Contains("lacks"));
  RedisState loading = master(replid_a, 500, 5);
  loading.loading = true;
  CHECK_FALSE(decide_after_promotion(local, loading).repoint_peer);
}

TEST_CASE("decide_backup_step: every branch", "[decisions]") {
  SECTION("local loading: wait") {
    RedisState local = master(replid_a, 0, 0);
    local.loading = true;
    CHECK(decide_backup_step(local, master(replid_b, 10, 5), peer_endpoint, true).action ==
          BackupAction::wait);
  }
  SECTION("peer unreachable: wait") {
    CHECK(decide_backup_step(master(replid_a, 0, 0), std::nullopt, peer_endpoint, true).action ==
          BackupAction::wait);
  }
  SECTION("peer syncing from us before its promotion: wait, no loop") {
    auto d =
        decide_backup_step(master(replid_a, 100, 5),
                           replica_of({"10.0.0.1", 6379}, replid_a, 50, 5), peer_endpoint, true);
    CHECK(d.action == BackupAction::wait);
  }
  SECTION("peer loading: wait") {
    RedisState peer = master(replid_b, 10, 5);
    peer.loading = true;
    CHECK(decide_backup_step(master(replid_a, 0, 0), peer, peer_endpoint, true).action ==
          BackupAction::wait);
  }
  SECTION("already the peer's replica with the link up: done") {
    CHECK(decide_backup_step(replica_of(peer_endpoint, replid_a, 100, 5), master(replid_a, 100, 5),
                             peer_endpoint, false)
              .action == BackupAction::done);
  }
  SECTION("the peer's replica, still syncing: wait for the link") {
    RedisState local = replica_of(peer_endpoint, replid_c, 0, 0);
    local.link_up = false;
    local.sync_in_progress = true;
    CHECK(decide_backup_step(local, master(replid_a, 100, 5), peer_endpoint, false).action ==
          BackupAction::wait_for_link);
  }
  SECTION("empty peer, local with data: refuse") {
    auto d =
        decide_backup_step(master(replid_a, 100, 5), master(replid_b, 0, 0), peer_endpoint, true);
    CHECK(d.action == BackupAction::refuse_empty_peer);
    CHECK_THAT(d.reason, Catch::Contains("empty"));
  }
  SECTION("empty local: replicate at once") {
    CHECK(decide_backup_step(master(replid_a, 0, 0), master(replid_b, 100, 5), peer_endpoint, false)
              .action == BackupAction::replicate_peer);
  }
  SECTION("both empty: replicate") {
    CHECK(decide_backup_step(master(replid_a, 0, 0), master(replid_b, 0, 0), peer_endpoint, false)
              .action == BackupAction::replicate_peer);
  }
  SECTION("peer holds all our writes (it was promoted from us): replicate") {
    CHECK(decide_backup_step(master(replid_a, 100, 5), promoted(replid_b, replid_a, 100, 300, 5),
                             peer_endpoint, false)
              .action == BackupAction::replicate_peer);
  }
  SECTION("diverged histories: wait for the grace, then replicate as a split brain") {
    RedisState local = master(replid_a, 150, 5);
    RedisState peer = promoted(replid_b, replid_a, 100, 180, 5);
    CHECK(decide_backup_step(local, peer, peer_endpoint, false).action == BackupAction::wait);
    CHECK(decide_backup_step(local, peer, peer_endpoint, true).action ==
          BackupAction::replicate_diverged);
  }
}
