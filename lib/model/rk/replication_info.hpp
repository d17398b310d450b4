#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "rk/result.hpp"

namespace rk {

enum class Role { master, replica };

// One `slaveN:` line of a master's INFO replication.
struct ReplicaEntry {
  std::string ip;
  int port = 0;
  std::string state;  // "online", "wait_bgsave", "send_bulk", ...
  long long offset = 0;
  long long lag = 0;
};

// What one INFO call says about a server's data and replication. Every field
// comes from Redis itself; nothing is inferred from time.
struct RedisState {
  Role role = Role::master;
  bool loading = false;  // INFO persistence loading:1 (a dataset is being loaded)
  // Which server answered, and its own version: "valkey" and valkey_version
  // when INFO has valkey_version (Valkey also reports redis_version, the
  // Redis release it is compatible with: 7.2.4 for Valkey 8.0.1), else
  // "redis" and redis_version. Both empty when INFO names no version.
  std::string server_name;
  std::string server_version;
  std::string redis_version;  // as reported, by Valkey too
  std::string config_file;    // empty when the server runs without one
  // INFO server run_id: random per process start, so two addresses that
  // report the same run_id lead to one and the same server.
  std::string run_id;

  // Replica side (role:slave).
  std::string master_host;
  int master_port = 0;
  bool link_up = false;           // master_link_status:up, only after the RDB loaded
  bool sync_in_progress = false;  // master_sync_in_progress:1
  // master_link_down_since_seconds:-1: Redis resets the link-down time at
  // REPLICAOF and at start-up, so -1 means no sync with the current master
  // has completed since then (a sync is pending).
  bool link_never_up = false;
  long long slave_repl_offset = -1;       // applied
  long long slave_read_repl_offset = -1;  // received

  // Both roles.
  std::string master_replid;
  std::string master_replid2;  // the previous replid kept by REPLICAOF NO ONE
  long long master_repl_offset = 0;
  long long second_repl_offset = -1;  // first offset of master_replid; -1 if none

  // Master side.
  int connected_slaves = 0;
  // INFO replication prints min_slaves_good_slaves only while both
  // min-replicas-to-write and min-replicas-max-lag are non-zero (Redis
  // 7.0 replication section; Valkey the same), which is exactly when Redis
  // may refuse writes with -NOREPLICAS: so the INFO a check reads anyway
  // tells whether a write fence is on, without a CONFIG GET.
  bool write_fence_on = false;
  int good_replicas = 0;  // min_slaves_good_slaves: replicas ACKed within the lag
  std::vector<ReplicaEntry> replicas;

  long long keys = 0;  // sum of keys= over the INFO keyspace dbN lines

  // The offset of the history this server holds: applied offset on a replica,
  // master_repl_offset on a master.
  long long held_offset() const {
    return role == Role::replica ? slave_repl_offset : master_repl_offset;
  }
  bool is_master() const { return role == Role::master; }
  bool is_replica_of(std::string_view host, int port) const {
    return role == Role::replica && master_host == host && master_port == port;
  }
};

// Parses the text of INFO (default sections: it needs replication,
// persistence, server and keyspace). Fails, naming the field, when a field the
// decisions rely on is missing or malformed.
Result<RedisState> parse_info(std::string_view text);

// Short human summary for log lines: role, link, replid and offsets.
std::string describe(const RedisState& state);

}  // namespace rk
