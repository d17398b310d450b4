#include "rk/decisions.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <map>

#include <fmt/format.h>

namespace rk {
namespace {

// Redis reports "0000...0000" as master_replid2 until a replid was replaced.
bool is_null_replid(const std::string& id) {
  return id.empty() || id.find_first_not_of('0') == std::string::npos;
}

}  // namespace

bool ping_means_healthy(const std::optional<Reply>& reply) {
  if (!reply) return false;
  if (reply->is_status("PONG")) return true;
  // A replica with a down link and replica-serve-stale-data no answers
  // -MASTERDOWN: the process is alive and must stay a failover candidate.
  return reply->is_error() && reply->error_code() == "MASTERDOWN";
}

ProbeHysteresis::ProbeHysteresis(int fall, int rise) : fall_(fall), rise_(rise) {}

bool ProbeHysteresis::observe(bool probe_healthy) {
  if (!verdict_ || *verdict_ == probe_healthy) {
    verdict_ = probe_healthy;
    disagreeing_ = 0;
    return *verdict_;
  }
  if (++disagreeing_ >= needed()) {
    verdict_ = probe_healthy;
    disagreeing_ = 0;
  }
  return *verdict_;
}

std::chrono::seconds watch_heartbeat_bound(std::chrono::milliseconds interval,
                                           std::chrono::milliseconds timeout) {
  // A textfile refresh reads the local node and the peer, each under
  // `timeout`: three deadlines in one cycle at most.
  std::chrono::milliseconds cycle =
      std::max<std::chrono::milliseconds>(interval + 3 * timeout, std::chrono::seconds(1));
  return 2 * (std::chrono::ceil<std::chrono::seconds>(cycle) + std::chrono::seconds(1));
}

bool watcher_stopped(const std::string& recorded_health, bool process_running,
                     long long heartbeat_age_s, std::chrono::seconds bound) {
  if (recorded_health == "stopped" || !process_running) return true;
  return heartbeat_age_s < 0 || heartbeat_age_s > bound.count();
}

VipDecision decide_vip_holder(const std::string& recorded_transition, bool master_hook_running,
                              const RedisState& local) {
  if (recorded_transition != "MASTER") return {false, "not the VIP holder"};
  if (master_hook_running) return {false, "redis_master is still acting"};
  if (local.is_master()) return {false, "a master"};
  if (local.loading) return {false, "loading"};
  // A replica whose first sync since REPLICAOF is still pending (after a
  // heal the peer made it its replica; Redis waits repl-diskless-sync-delay
  // before the transfer) serves no write either: the node it was pointed at
  // holds the data.
  if (!local.link_up && !local.sync_in_progress && !local.link_never_up)
    return {false, "a replica whose master is unreachable"};
  const char* how = local.link_up            ? "link up"
                    : local.sync_in_progress ? "full sync running"
                                             : "its first sync pending";
  return {true, fmt::format("the VIP holder is a replica of {}:{} ({}); giving the VIP up to "
                            "the node that holds the data",
                            local.master_host, local.master_port, how)};
}

IsolationDecision decide_isolation(const RedisState& local, bool peer_reached,
                                   std::size_t witnesses_reached, std::size_t witnesses) {
  if (witnesses == 0) return {false, "no witness configured"};
  if (!local.is_master()) return {false, "a replica takes no writes"};
  if (peer_reached) return {false, "the peer answers"};
  if (witnesses_reached > 0)
    return {false, fmt::format("{} of {} witness(es) answer", witnesses_reached, witnesses)};
  return {true, fmt::format("a master that reaches neither its peer nor any of its {} "
                            "witness(es): cut off from the network; fencing its writes",
                            witnesses)};
}

bool holds_history_of(const RedisState& holder, const RedisState& other) {
  if (other.keys == 0) return true;
  if (holder.loading) return false;
  long long held = holder.held_offset();
  if (holder.master_replid == other.master_replid) return held >= other.master_repl_offset;
  // REPLICAOF NO ONE keeps the old replid as replid2 and second_repl_offset
  // is one past the last offset shared with it, so `holder` has all of
  // `other` when `other` is its former master and has not moved since.
  if (!is_null_replid(holder.master_replid2) && holder.master_replid2 == other.master_replid)
    return other.master_repl_offset < holder.second_repl_offset;
  // `other` was promoted from `holder`'s history and has taken no writes.
  if (!is_null_replid(other.master_replid2) && other.master_replid2 == holder.master_replid)
    return other.master_repl_offset < other.second_repl_offset &&
           other.second_repl_offset - 1 <= held;
  return false;
}

Divergence describe_divergence(const RedisState& local, const RedisState& peer) {
  Divergence divergence;
  long long fork = -1;
  if (!is_null_replid(local.master_replid2) && local.master_replid2 == peer.master_replid) {
    fork = local.second_repl_offset - 1;
  } else if (!is_null_replid(peer.master_replid2) && peer.master_replid2 == local.master_replid) {
    fork = peer.second_repl_offset - 1;
  } else if (!is_null_replid(local.master_replid2) && local.master_replid2 == peer.master_replid2) {
    fork = std::min(local.second_repl_offset, peer.second_repl_offset) - 1;
  } else if (local.master_replid == peer.master_replid) {
    fork = std::min(local.held_offset(), peer.held_offset());
  }
  if (fork < 0) return divergence;
  divergence.related = true;
  divergence.fork_offset = fork;
  divergence.local_only_bytes = std::max(0LL, local.held_offset() - fork);
  return divergence;
}

std::optional<HealComparison> compare_after_fork(const RedisState& local, const RedisState& peer) {
  Divergence divergence = describe_divergence(local, peer);
  if (!divergence.related) return std::nullopt;
  HealComparison heal;
  heal.fork_offset = divergence.fork_offset;
  heal.local_tail = divergence.local_only_bytes;
  heal.peer_tail = std::max(0LL, peer.held_offset() - divergence.fork_offset);
  heal.local_wins = heal.local_tail > heal.peer_tail;
  heal.rule = fmt::format(
      "histories fork at offset {}: this node took {} bytes of writes after it (offset {}), the "
      "peer {} (offset {}); the larger tail wins ({}), a tie leaves the data on the node VRRP "
      "made master",
      heal.fork_offset, heal.local_tail, local.held_offset(), heal.peer_tail, peer.held_offset(),
      heal.local_wins ? "this node" : "the peer");
  return heal;
}

std::optional<std::string> describe_replacement_loss(const RedisState& local,
                                                     const RedisState& peer, const char* who) {
  if (local.keys == 0) return std::nullopt;
  Divergence divergence = describe_divergence(local, peer);
  if (divergence.related) {
    if (divergence.local_only_bytes <= 0) return std::nullopt;
    return fmt::format(
        "split-brain: both nodes took writes after offset {}; the {} bytes of writes only {} "
        "took are discarded by its resync",
        divergence.fork_offset, divergence.local_only_bytes, who);
  }
  // A restart from RDB/AOF starts a new replid at offset 0, so the histories
  // cannot be related; what the restarted node acknowledged but never
  // replicated is gone either way.
  return fmt::format(
      "histories unrelated (a node restarted from its files): the {} keys {} holds are replaced "
      "by the other node's {}; what it acknowledged that never reached the other node is "
      "discarded",
      local.keys, who, peer.keys);
}

CopyNeed copy_before_replacing(const RedisState& discarded, const RedisState& kept,
                               const char* who) {
  CopyNeed need;
  std::optional<std::string> loss = describe_replacement_loss(discarded, kept, who);
  if (!loss) return need;
  need.needed = true;
  need.loss = *loss;
  Divergence divergence = describe_divergence(discarded, kept);
  need.fork_offset = divergence.related ? divergence.fork_offset : 0;
  return need;
}

std::vector<std::string> copies_beyond_retention(const std::vector<KeptCopy>& newest_first,
                                                 const std::string& just_written, int keep_count,
                                                 long long keep_bytes) {
  std::vector<std::string> remove;
  int kept = 0;
  long long bytes = 0;
  bool full = false;  // once one copy does not fit, every older one goes too
  for (const KeptCopy& copy : newest_first) {
    full = full || kept >= keep_count || (keep_bytes > 0 && bytes + copy.bytes > keep_bytes);
    if (copy.file == just_written || !full) {
      ++kept;
      bytes += copy.bytes;
    } else {
      remove.push_back(copy.file);
    }
  }
  return remove;
}

bool same_server(const RedisState& local, const RedisState& peer) {
  return !local.run_id.empty() && local.run_id == peer.run_id;
}

namespace {

// The value of `key` in key=value lines ("" when absent).
std::string field_of(const std::string& text, const std::string& key) {
  size_t at = 0;
  while (at < text.size()) {
    size_t end = text.find('\n', at);
    if (end == std::string::npos) end = text.size();
    if (text.compare(at, key.size() + 1, key + "=") == 0)
      return text.substr(at + key.size() + 1, end - at - key.size() - 1);
    at = end + 1;
  }
  return {};
}

long long offset_of(const std::string& text) {
  if (text.empty() || text.size() > 18 || text.find_first_not_of("0123456789") != std::string::npos)
    return 0;
  return std::stoll(text);
}

// A record is one line per field: a newline inside a value would forge one.
std::string one_line(std::string text) {
  std::replace(text.begin(), text.end(), '\n', ' ');
  return text;
}

}  // namespace

std::string StaleHistory::text() const {
  return fmt::format(
      "since={}\nhook={}\nreason={}\nlocal_replid={}\nlocal_offset={}\npeer_replid={}\n"
      "peer_offset={}\n",
      one_line(since), one_line(hook), one_line(reason), one_line(local_replid), local_offset,
      one_line(peer_replid), peer_offset);
}

std::optional<StaleHistory> StaleHistory::parse(const std::string& text) {
  if (text.empty()) return std::nullopt;
  StaleHistory stale;
  stale.since = field_of(text, "since");
  stale.hook = field_of(text, "hook");
  stale.reason = field_of(text, "reason");
  stale.local_replid = field_of(text, "local_replid");
  stale.local_offset = offset_of(field_of(text, "local_offset"));
  stale.peer_replid = field_of(text, "peer_replid");
  stale.peer_offset = offset_of(field_of(text, "peer_offset"));
  return stale;
}

std::string StaleHistory::describe() const {
  return fmt::format(
      "recorded {} by {}: {}; the peer held offset {} of replid {}, this node offset {} of "
      "replid {}",
      since.empty() ? "at an unknown time" : since, hook.empty() ? "an unknown hook" : hook,
      reason.empty() ? "no reason given" : reason, peer_offset,
      peer_replid.empty() ? "?" : peer_replid.substr(0, 8), local_offset,
      local_replid.empty() ? "?" : local_replid.substr(0, 8));
}

StaleHistory stale_history_of(const RedisState& local, const RedisState& peer, std::string reason) {
  StaleHistory stale;
  stale.reason = std::move(reason);
  stale.local_replid = local.master_replid;
  stale.local_offset = local.held_offset();
  stale.peer_replid = peer.master_replid;
  stale.peer_offset = peer.held_offset();
  return stale;
}

bool stale_history_resolved(const RedisState& local, const StaleHistory& stale) {
  if (stale.peer_replid.empty()) return false;
  // The peer as recorded: a master with that history, holding writes (a
  // record is made only when the peer held some this node lacks).
  RedisState recorded;
  recorded.role = Role::master;
  recorded.master_replid = stale.peer_replid;
  recorded.master_repl_offset = stale.peer_offset;
  recorded.keys = 1;
  return holds_history_of(local, recorded);
}

StaleCheck decide_stale_check(const std::optional<StaleHistory>& stale,
                              const std::optional<RedisState>& local, bool hook_running) {
  if (!stale) return {false, "no stale-history record"};
  if (hook_running) return {false, "a hook of this node is acting on its stale history"};
  if (local && stale_history_resolved(*local, *stale))
    return {false, "this node holds the recorded history now"};
  return {true,
          "a hook recorded that this node lacks writes its peer holds (" + stale->describe() + ")"};
}

std::optional<std::string> known_incompleteness(const RedisState& local,
                                                const std::optional<RedisState>& peer_last_seen,
                                                bool peer_known_empty,
                                                const std::optional<StaleHistory>& stale) {
  if (local.role == Role::replica && local.sync_in_progress)
    return fmt::format("a full sync from {}:{} is running (master_sync_in_progress:1)",
                       local.master_host, local.master_port);
  // An empty replica whose first sync has not completed is waiting for all
  // of its data. A replica that restarted from its own files and has not
  // reached its master yet is not: it holds what it had. Nor is one whose
  // peer answers with no keys at all (two empty nodes that started as each
  // other's replicas wait for nothing).
  if (local.role == Role::replica && local.link_never_up && local.keys == 0 && !peer_known_empty)
    return fmt::format(
        "it is empty and no sync from {}:{} has completed since REPLICAOF or start-up "
        "(master_link_down_since_seconds:-1)",
        local.master_host, local.master_port);
  if (peer_last_seen && !holds_history_of(local, *peer_last_seen))
    return fmt::format(
        "the peer was last seen at offset {} of replid {} with {} keys, and this node holds only "
        "offset {} of replid {}",
        peer_last_seen->master_repl_offset, peer_last_seen->master_replid.substr(0, 8),
        peer_last_seen->keys, local.held_offset(), local.master_replid.substr(0, 8));
  // What an earlier hook learned outlives it: without the record a node
  // that lost a heal, and then its peer, would look complete here.
  if (stale && !stale_history_resolved(local, *stale))
    return "a hook recorded that this node holds an older history than its peer (" +
           stale->describe() + ")";
  return std::nullopt;
}

namespace {

MasterDecision promote_or_stay(const RedisState& local, std::string reason) {
  if (local.is_master()) return {MasterAction::already_master, std::move(reason)};
  return {MasterAction::promote, std::move(reason)};
}

// The peer cannot be compared with (gone, silent or not serving): promote
// only when nothing observed says this node lacks the peer's writes.
MasterDecision decide_without_peer(const MasterView& view, const MasterPolicy& policy,
                                   const std::string& peer_condition) {
  bool peer_known_empty = view.peer.answered() && view.peer.state->keys == 0;
  if (auto incomplete =
          known_incompleteness(view.local, view.peer_last_seen, peer_known_empty, view.stale))
    return {MasterAction::wait_for_peer,
            fmt::format("{}, and this node is incomplete: {}", peer_condition, *incomplete)};
  // A silent peer may be a stalled one (a fork, a slow command, a network
  // hiccup) that answers again in a moment and lets the final comparison
  // run; one that refuses connections has no process listening any more.
  if (view.peer.reach == Reach::silent && view.peer_silent_for < policy.silence_grace)
    return {MasterAction::wait_for_peer,
            fmt::format("{} for {} ms; waiting up to {} ms for it to answer", peer_condition,
                        view.peer_silent_for.count(), policy.silence_grace.count())};
  return promote_or_stay(view.local, peer_condition +
                                         "; nothing observed says this node lacks "
                                         "its writes");
}

}  // namespace

MasterDecision decide_master_step(const MasterView& view, const MasterPolicy& policy) {
  const RedisState& local = view.local;
  // While loading, Redis refuses REPLICAOF (-LOADING): wait it out.
  if (local.loading) return {MasterAction::wait_for_loading, "local Redis is loading its dataset"};

  switch (view.peer.reach) {
    case Reach::not_configured: return promote_or_stay(local, "no peer configured");
    case Reach::denied:
      return {MasterAction::stop_peer_denied,
              fmt::format("the peer refuses this hook ({}); fix the password or ACL the hooks "
                          "use on the peer (they need +info +client|pause +replicaof "
                          "+config|rewrite +client|kill)",
                          view.peer.error)};
    case Reach::gone:
      return decide_without_peer(view, policy, "peer is gone (" + view.peer.error + ")");
    case Reach::silent:
      return decide_without_peer(view, policy, "peer is silent (" + view.peer.error + ")");
    case Reach::answered: break;
  }

  const RedisState& peer = *view.peer.state;
  if (same_server(local, peer))
    return {MasterAction::stop_peer_is_local,
            fmt::format("--peer {} is this node's own Redis (same run_id {}); the other node's "
                        "address is needed",
                        policy.peer_endpoint.text(), local.run_id.substr(0, 8))};
  if (!peer.is_master()) return decide_without_peer(view, policy, "peer is not a master");
  if (peer.loading) return decide_without_peer(view, policy, "peer is loading and cannot serve");
  // Never sync from an empty peer over local data: a restarted, empty master
  // would make its replica wipe everything at the end of the transfer.
  if (peer.keys == 0) {
    return promote_or_stay(local, local.keys > 0 ? "peer is empty; keeping local data"
                                                 : "both datasets are empty");
  }

  const Endpoint& endpoint = policy.peer_endpoint;
  bool replicating_peer = local.is_replica_of(endpoint.host, endpoint.port);
  if (!replicating_peer) {
    if (holds_history_of(local, peer))
      return promote_or_stay(local, "local holds all of the peer's writes");
    return {MasterAction::replicate_peer,
            fmt::format("peer {} is a master holding writes this node lacks", endpoint.text())};
  }

  if (local.sync_in_progress || !local.link_up)
    return {MasterAction::wait_for_sync, "sync from the peer still running"};
  if (local.master_replid != peer.master_replid)
    return {MasterAction::wait_for_sync, "replid differs from the peer's"};
  return {MasterAction::verify_and_promote, "link up with the peer's replid"};
}

bool caught_up_with(const RedisState& local, const RedisState& paused_peer) {
  return !local.loading && local.role == Role::replica && local.link_up &&
         !local.sync_in_progress && local.master_replid == paused_peer.master_replid &&
         local.slave_repl_offset >= paused_peer.master_repl_offset;
}

bool keep_verifying(std::chrono::milliseconds paused_for, std::chrono::milliseconds pause_window,
                    bool link_up) {
  return link_up && paused_for < pause_window * 3 / 4;
}

std::optional<std::string> write_pause_unsupported(const RedisState& server) {
  if (server.server_name == "valkey") return std::nullopt;  // forked from Redis 7.2
  int major = 0;
  int minor = 0;
  if (std::sscanf(server.redis_version.c_str(), "%d.%d", &major, &minor) != 2) return std::nullopt;
  if (major > 6 || (major == 6 && minor >= 2)) return std::nullopt;
  return fmt::format(
      "the peer runs Redis {}, older than 6.2: it has no CLIENT PAUSE WRITE, so its writes cannot "
      "be held while the hooks compare offsets; nothing was changed. Upgrade it to 6.2 or later "
      "(or let redis_master promote without the pause: --promote-without-pause)",
      server.redis_version);
}

SyncTimeoutAction decide_on_sync_timeout(const RedisState& local, bool promote_requested,
                                         const std::optional<StaleHistory>& stale) {
  // --on-sync-timeout promote is a policy set in advance for a replica that
  // is merely slow; a recorded stale history is knowledge of lost writes,
  // which only an operator's explicit --accept-data-loss overrides.
  if (stale && !stale_history_resolved(local, *stale)) return SyncTimeoutAction::stay_stale;
  if (local.is_master()) return SyncTimeoutAction::already_master;
  if (!promote_requested) return SyncTimeoutAction::stay_replica;
  if (local.loading) return SyncTimeoutAction::stay_loading;
  return SyncTimeoutAction::promote_anyway;
}

bool pause_peer_before_repoint(const PeerView& peer, bool already_paused) {
  return peer && peer->is_master() && !already_paused;
}

AfterPromotion decide_after_promotion(const RedisState& local, const PeerView& peer) {
  if (!peer) return {false, "peer unreachable"};
  if (same_server(local, *peer)) return {false, "the peer address leads to this node's own Redis"};
  if (!peer->is_master()) return {false, "peer is already a replica"};
  if (peer->loading) return {false, "peer is loading (REPLICAOF would be refused)"};
  if (!holds_history_of(local, *peer))
    return {false, "peer holds writes this node lacks; left as master for recovery"};
  return {true, "peer is a master whose writes this node holds"};
}

FencePlan fence_for_master(const RedisState& master, bool replica_attached) {
  bool online = std::any_of(master.replicas.begin(), master.replicas.end(),
                            [](const ReplicaEntry& r) { return r.state == "online"; });
  if (replica_attached || online)
    return {1, "a replica is attached: writes need its acknowledgement"};
  return {0, "no replica attached: unfenced until one is back and caught up"};
}

std::string describe(const FenceValues& values) {
  return fmt::format("min-replicas-to-write {}, min-replicas-max-lag {}", values.to_write,
                     values.max_lag);
}

FenceValues toolkit_fence(const FenceValues& base, int max_lag) {
  return {std::max(1, base.to_write), max_lag};
}

namespace {

// "N S" as the record writes a pair; nullopt when absent or malformed.
std::optional<FenceValues> parse_fence_pair(const std::string& text) {
  int to_write = -1;
  int max_lag = -1;
  char rest = 0;
  if (std::sscanf(text.c_str(), "%d %d %c", &to_write, &max_lag, &rest) != 2) return std::nullopt;
  if (to_write < 0 || max_lag < 0) return std::nullopt;
  return FenceValues{to_write, max_lag};
}

}  // namespace

FenceRecord parse_fence_record(const std::string& text) {
  FenceRecord record;
  record.base = parse_fence_pair(field_of(text, "base"));
  record.last_set = parse_fence_pair(field_of(text, "set"));
  record.isolation = record.last_set && field_of(text, "owner") == "isolation";
  return record;
}

std::string render_fence_record(const FenceRecord& record) {
  std::string text;
  if (record.base) text += fmt::format("base={} {}\n", record.base->to_write, record.base->max_lag);
  if (record.last_set) {
    text += fmt::format("set={} {}\n", record.last_set->to_write, record.last_set->max_lag);
    text += fmt::format("owner={}\n", record.isolation ? "isolation" : "hooks");
  }
  return text;
}

FenceValues operator_fence_values(const FenceRecord& record, const FenceValues& found,
                                  int max_lag) {
  FenceValues base = record.base.value_or(FenceValues{});
  if (found == toolkit_fence(base, max_lag)) return base;
  if (!record.last_set) return found;
  // Each value on its own: an operator who changes only the lag while a
  // fence is on keeps the lag, and the fence still lifts.
  return {found.to_write == record.last_set->to_write ? base.to_write : found.to_write,
          found.max_lag == record.last_set->max_lag ? base.max_lag : found.max_lag};
}

FenceValues fence_target(const FencePlan& plan, const FenceValues& base, int max_lag) {
  return plan.min_replicas_to_write > 0 ? toolkit_fence(base, max_lag) : base;
}

FenceLiftDecision decide_fence_lift(const RedisState& local, bool isolated,
                                    const std::optional<FenceRecord>& record) {
  if (isolated) return {FenceLiftStep::keep, "isolated: the fence stays"};
  if (!local.is_master()) return {FenceLiftStep::keep, "a replica: Redis ignores its fence"};
  if (!local.write_fence_on)
    return {FenceLiftStep::keep, "no fence on (INFO has no min_slaves_good_slaves)"};
  if (record && record->isolation) return {FenceLiftStep::lift, "the isolation fence is still on"};
  if (record && record->last_set && record->last_set->fences())
    return {FenceLiftStep::keep,
            "the fence on is the one the hooks set (--fence-writes, or the "
            "operator's own values)"};
  // No record (the state dir is missing, unsafe, or an isolation fence could
  // not be recorded), or the toolkit last set no fence: whose is it?
  return {FenceLiftStep::read_values, "a fence is on that the state dir does not explain"};
}

bool unrecorded_isolation_fence(const FenceValues& found, int max_lag, bool fence_writes) {
  return !fence_writes && found == toolkit_fence(FenceValues{}, max_lag);
}

FenceValues fence_after_isolation(const RedisState& local, bool fence_writes,
                                  const FenceValues& base, int max_lag) {
  FencePlan plan = fence_writes ? fence_for_master(local, false) : FencePlan{0, ""};
  return fence_target(plan, base, max_lag);
}

namespace {

// keepalived's configuration as statements: each is the words of one line
// (or up to a brace), with the block it sits in. Comments (# or ! to the
// end of the line) are dropped and a quoted word loses its quotes.
struct ConfStatement {
  std::vector<std::string> words;
  std::vector<std::vector<std::string>> blocks;  // heads of the enclosing blocks, outermost first
};

std::vector<ConfStatement> parse_keepalived_conf(const std::string& text) {
  std::vector<ConfStatement> statements;
  std::vector<std::vector<std::string>> open_blocks;
  std::vector<std::string> words;
  std::vector<std::string> last_words;  // a brace on its own line opens the previous statement
  auto end_statement = [&] {
    if (words.empty()) return;
    statements.push_back({words, open_blocks});
    last_words = words;
    words.clear();
  };
  std::string word;
  bool quoted = false;
  auto end_word = [&] {
    if (!word.empty() || quoted) words.push_back(word);
    word.clear();
    quoted = false;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '"') {
      size_t close = text.find('"', i + 1);
      if (close == std::string::npos) close = text.size();
      word += text.substr(i + 1, close - i - 1);
      quoted = true;
      i = close;
    } else if (c == '#' || c == '!') {
      while (i + 1 < text.size() && text[i + 1] != '\n') ++i;
    } else if (c == '\n') {
      end_word();
      end_statement();  // keeps last_words: a brace may open it on the next line
    } else if (c == '{') {
      end_word();
      std::vector<std::string> head = words.empty() ? last_words : words;
      if (!words.empty())
        end_statement();
      else if (!statements.empty() && head == statements.back().words)
        statements.pop_back();
      open_blocks.push_back(head);
      last_words.clear();
    } else if (c == '}') {
      end_word();
      end_statement();
      if (!open_blocks.empty()) open_blocks.pop_back();
      last_words.clear();
    } else if (std::isspace(static_cast<unsigned char>(c)) != 0) {
      end_word();
    } else {
      word += c;
    }
  }
  end_word();
  end_statement();
  return statements;
}

const std::string& head_word(const std::vector<std::string>& head, size_t index) {
  static const std::string none;
  return index < head.size() ? head[index] : none;
}

bool is_track_file_block(const std::vector<std::string>& head) {
  return head_word(head, 0) == "track_file" || head_word(head, 0) == "vrrp_track_file";
}

// `weight W [reverse]` from words[from...]; unchanged when absent.
void read_weight(const std::vector<std::string>& words, size_t from, int& weight, bool& reverse) {
  if (head_word(words, from) != "weight") return;
  try {
    weight = std::stoi(head_word(words, from + 1));
  } catch (const std::exception&) {
    return;
  }
  reverse = head_word(words, from + 2) == "reverse";
}

}  // namespace

MaintenanceTracking check_maintenance_tracked(const std::string& keepalived_conf,
                                              const std::string& path) {
  std::vector<ConfStatement> statements = parse_keepalived_conf(keepalived_conf);
  // The top-level track_file blocks that watch `path`, with their own weight.
  struct Declared {
    int weight = 1;  // keepalived's default for a track_file block
    bool reverse = false;
  };
  std::map<std::string, Declared> declared;
  bool has_include = false;
  for (const ConfStatement& s : statements) {
    if (s.blocks.empty() && s.words[0] == "include") has_include = true;
    if (s.blocks.size() != 1 || !is_track_file_block(s.blocks[0])) continue;
    const std::string& name = head_word(s.blocks[0], 1);
    if (s.words[0] == "file" && head_word(s.words, 1) == path) declared[name];
  }
  for (const ConfStatement& s : statements)
    if (s.blocks.size() == 1 && is_track_file_block(s.blocks[0]) && s.words[0] == "weight") {
      auto found = declared.find(head_word(s.blocks[0], 1));
      if (found != declared.end())
        read_weight(s.words, 0, found->second.weight, found->second.reverse);
    }
  std::string unseen =
      has_include ? " (files it includes are not read: declare it in this file)" : std::string();
  if (declared.empty())
    return {false, fmt::format("no track_file block declares file \"{}\"{}", path, unseen)};
  std::string wrong_weight;
  for (const ConfStatement& s : statements) {
    // Inside `vrrp_instance X { track_file { NAME [weight W [reverse]] } }`.
    if (s.blocks.size() != 2 || head_word(s.blocks[1], 0) != "track_file") continue;
    const std::string& owner = head_word(s.blocks[0], 0);
    if (owner != "vrrp_instance" && owner != "vrrp_sync_group") continue;
    auto found = declared.find(s.words[0]);
    if (found == declared.end()) continue;
    int weight = found->second.weight;
    bool reverse = found->second.reverse;
    read_weight(s.words, 1, weight, reverse);
    std::string where = fmt::format("{} {}", owner, head_word(s.blocks[0], 1));
    if (weight == 0 && !reverse)
      return {true, fmt::format("{} tracks track_file {} with weight 0", where, found->first)};
    wrong_weight = fmt::format(
        "{} tracks track_file {} with weight {}{}: writing 1 there moves its priority but does "
        "not put it in FAULT (give it weight 0)",
        where, found->first, weight, reverse ? " reverse" : "");
  }
  if (!wrong_weight.empty()) return {false, wrong_weight};
  return {false, fmt::format("track_file {} (file \"{}\") is tracked by no vrrp_instance{}",
                             declared.begin()->first, path, unseen)};
}

SwitchoverCheck check_switchover_start(const std::string& recorded_transition,
                                       const RedisState& local, const Observation& peer) {
  if (recorded_transition != "MASTER")
    return {false, fmt::format("this node does not hold the VIP (last recorded transition: {}); "
                               "run redis_switchover on the VIP holder",
                               recorded_transition.empty() ? "none" : recorded_transition)};
  if (!local.is_master()) return {false, "the local Redis is not a master"};
  if (!peer.answered())
    return {false, fmt::format("the peer is {}: {}", to_string(peer.reach), peer.error)};
  const RedisState& p = *peer.state;
  if (p.is_master()) return {false, "the peer is a master, not this node's replica"};
  if (p.master_replid != local.master_replid)
    return {false, fmt::format("the peer replicates another history (replid {}, here {})",
                               p.master_replid.substr(0, 8), local.master_replid.substr(0, 8))};
  if (!p.link_up || p.sync_in_progress)
    return {false, "the peer's replication link is not up (or a full sync runs)"};
  return {true, fmt::format("the peer replicates this node, {} bytes behind",
                            std::max(0LL, local.master_repl_offset - p.slave_repl_offset))};
}

bool switchover_caught_up(const RedisState& peer, const std::string& replid,
                          long long paused_offset) {
  return peer.role == Role::replica && peer.master_replid == replid && peer.link_up &&
         peer.slave_repl_offset >= paused_offset;
}

BackupDecision decide_backup_step(const RedisState& local, const Observation& observed,
                                  const Endpoint& peer_endpoint, bool grace_over) {
  if (local.loading) return {BackupAction::wait, "local Redis is loading its dataset"};
  if (observed.reach == Reach::denied)
    return {BackupAction::stop_peer_denied,
            fmt::format("the peer refuses this hook ({}); fix the password or ACL the hooks use "
                        "on the peer",
                        observed.error)};
  if (!observed.answered())
    return {BackupAction::wait, fmt::format("peer {}", to_string(observed.reach))};
  const PeerView& peer = observed.state;
  if (same_server(local, *peer))
    return {BackupAction::stop_peer_is_local,
            fmt::format("--peer {} is this node's own Redis (same run_id {})", peer_endpoint.text(),
                        local.run_id.substr(0, 8))};
  // A peer that is a replica is either syncing from us before its own
  // promotion, or not promoted yet: replicating it now would form a loop.
  if (!peer->is_master()) return {BackupAction::wait, "peer is a replica, not yet promoted"};
  if (peer->loading) return {BackupAction::wait, "peer is loading"};

  if (local.is_replica_of(peer_endpoint.host, peer_endpoint.port)) {
    if (local.link_up && !local.sync_in_progress) return {BackupAction::done, "link up"};
    return {BackupAction::wait_for_link, "sync from the peer still running"};
  }
  if (peer->keys == 0 && local.keys > 0)
    return {BackupAction::refuse_empty_peer,
            fmt::format("peer is empty and this node holds {} keys", local.keys)};
  if (local.keys == 0) return {BackupAction::replicate_peer, "local dataset is empty"};
  // Both masters after a split: the newer history wins, not VRRP's choice.
  // The peer has held the VIP only since the heal; this node served the
  // clients during the split, so its tail is the larger one.
  if (local.is_master())
    if (auto heal = compare_after_fork(local, *peer); heal && heal->local_wins)
      return {BackupAction::demote_peer, "heal: " + heal->rule};
  if (holds_history_of(*peer, local))
    return {BackupAction::replicate_peer, "peer holds all of this node's writes"};
  // Both hold data and the histories diverge. If the peer is about to be
  // promoted, its notify_master hook first syncs from us; give it the time.
  if (!grace_over)
    return {BackupAction::wait, "histories diverge; waiting for the peer's promotion hook"};
  return {BackupAction::replicate_diverged, "histories diverge and the peer is the master"};
}

}  // namespace rk
