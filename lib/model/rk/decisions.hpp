#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "rk/endpoint.hpp"
#include "rk/kept_copy.hpp"
#include "rk/observation.hpp"
#include "rk/replication_info.hpp"
#include "rk/reply.hpp"

// The choices the hooks make, as pure functions of observed state. No I/O
// here: every branch is unit-tested without a server.
namespace rk {

// What the peer looked like; nullopt when it could not be reached or read.
using PeerView = std::optional<RedisState>;

// --- redis_check -----------------------------------------------------------

// Whether a PING reply means the local Redis can serve. `reply` is nullopt
// when there was no reply at all (refused, timed out, closed).
// MASTERDOWN is alive: it is a replica whose master is gone (with
// replica-serve-stale-data no), and it must stay eligible to take over.
// LOADING and BUSY cannot serve; any other error is a failure too.
bool ping_means_healthy(const std::optional<Reply>& reply);

// Whether the node that holds the VIP must give it up. It holds the VIP when
// its last recorded transition is MASTER. It must give it up when its Redis is
// a replica of a master it reaches (the link is up, or a full sync from it
// runs), or one whose first sync since REPLICAOF is still pending, and no
// redis_master of this node is still acting (in its sync-wait):
// keeping the VIP would refuse every write (-READONLY) while the node that
// holds the data stands by. This follows a sync timeout, a heal, or a
// REPLICAOF run by hand. A replica whose master is unreachable keeps it: no
// other node holds the data either.
struct VipDecision {
  bool yield = false;
  std::string reason;
};
VipDecision decide_vip_holder(const std::string& recorded_transition, bool master_hook_running,
                              const RedisState& local);

// --witness: whether a master is cut off. Two nodes and a reachability
// witness are not a quorum; the witness only lets a master that has lost the
// whole network (neither its peer nor any witness answers TCP) stop taking
// writes the other side would discard at the heal. A refused connection is
// an answer: the host is reachable.
struct IsolationDecision {
  bool isolated = false;  // fail the check and fence the local Redis
  std::string reason;
};
IsolationDecision decide_isolation(const RedisState& local, bool peer_reached,
                                   std::size_t witnesses_reached, std::size_t witnesses);

// --- redis_watch -----------------------------------------------------------

// --fall and --rise of redis_watch, as keepalived's vrrp_script has them: the
// verdict written to the track file turns unhealthy only after `fall` failed
// probes in a row, and healthy again only after `rise` good ones in a row,
// so that a stall shorter than `fall` intervals does not move the VIP
// (keepalived acts on a track_file the moment it changes). The first probe
// sets the verdict at once: there is none to keep yet. fall = rise = 1
// follows every probe.
class ProbeHysteresis {
 public:
  // Both at least 1 (validate() checks the options).
  ProbeHysteresis(int fall, int rise);
  // Counts one probe; returns the verdict (true: healthy).
  bool observe(bool probe_healthy);
  // The probes in a row that disagree with the verdict so far (0 when the
  // last one agreed): how far a change has come.
  int disagreeing() const { return disagreeing_; }
  // How many disagreeing probes change the verdict from its current value.
  int needed() const { return verdict_ && *verdict_ ? fall_ : rise_; }

 private:
  int fall_;
  int rise_;
  std::optional<bool> verdict_;
  int disagreeing_ = 0;
};

// How old redis_watch's heartbeat (NAME.watch's mtime) may get while the
// watcher runs: it is touched after a probe, at most once a second, so one
// cycle (the wait of `interval`, a PING under `timeout`, a --textfile
// refresh that reads both nodes under theirs) plus the second of mtime
// rounding, twice over for a loaded machine. Older, the watcher is stopped
// or frozen.
std::chrono::seconds watch_heartbeat_bound(std::chrono::milliseconds interval,
                                           std::chrono::milliseconds timeout);

// Whether the redis_watch that wrote a watch record no longer decides the
// track file: it recorded that it stopped ("stopped"), its process is gone
// (`process_running` false: pid and start time, so a reused pid does not
// count), or its heartbeat is older than `bound` (or has none, age -1).
bool watcher_stopped(const std::string& recorded_health, bool process_running,
                     long long heartbeat_age_s, std::chrono::seconds bound);

// --- history comparison ----------------------------------------------------

// True when `holder` already has every write `other` has, judged from replids
// and offsets only: same replid and at least the same offset, or `other` is
// the master `holder` was promoted from and has not moved past the point of
// promotion, or `other` holds no keys at all.
bool holds_history_of(const RedisState& holder, const RedisState& other);

// How two histories relate when neither holds the other's (a split brain).
struct Divergence {
  bool related = false;             // the histories share a fork point
  long long fork_offset = -1;       // last offset both had
  long long local_only_bytes = -1;  // replication bytes only `local` has
};
Divergence describe_divergence(const RedisState& local, const RedisState& peer);

// After a split both nodes may have taken writes past the point where their
// histories forked. The rule that decides which history survives the heal:
// the one with more bytes of writes after the fork (its "tail") wins, so the
// node that served the clients during the split keeps what it acknowledged,
// whichever node VRRP prefers; on a tie the node VRRP made master keeps its
// data. nullopt when the histories are unrelated.
struct HealComparison {
  long long fork_offset = -1;
  long long local_tail = 0;  // bytes of writes only `local` took after the fork
  long long peer_tail = 0;   // bytes of writes only `peer` took after the fork
  bool local_wins = false;
  std::string rule;  // one log line naming the rule and both offsets
};
std::optional<HealComparison> compare_after_fork(const RedisState& local, const RedisState& peer);

// What replacing `local`'s dataset with `peer`'s by a full sync discards, as
// one log line naming `local` as `who` ("this node", "the peer"); nullopt
// when it discards nothing. Related histories that both moved on are a split
// brain (the word "split-brain" starts the line); unrelated ones are usually
// a node that restarted from its files.
std::optional<std::string> describe_replacement_loss(const RedisState& local,
                                                     const RedisState& peer,
                                                     const char* who = "this node");

// --- kept copies of discarded writes ---------------------------------------

// Whether replacing `discarded`'s dataset with `kept`'s by a full sync needs
// a copy of `discarded` first: it does whenever the sync would discard
// writes only `discarded` holds (describe_replacement_loss). `fork_offset`
// names where its own writes begin: the fork of related histories, 0 for
// unrelated ones (the whole dataset may be unique).
struct CopyNeed {
  bool needed = false;
  long long fork_offset = 0;
  std::string loss;  // the describe_replacement_loss line, when needed
};
CopyNeed copy_before_replacing(const RedisState& discarded, const RedisState& kept,
                               const char* who);

// The retention of kept copies: given the copies (newest first) and the one
// just written, the files to remove so that at most `keep_count` copies and
// `keep_bytes` bytes remain (0 bytes: no byte bound). The newest copy is
// always kept, even alone over the byte bound: removing the copy that was
// just made would defeat it.
std::vector<std::string> copies_beyond_retention(const std::vector<KeptCopy>& newest_first,
                                                 const std::string& just_written, int keep_count,
                                                 long long keep_bytes);

// --- stale history (the state dir's NAME.stale) ----------------------------

// What a hook recorded when it learned that this node holds an older history
// than its peer (a lost heal, a copy that could not be made, a sync that ran
// out): the peer's replid and offset prove it, this node's show how far it
// got. Kept in the state dir, so that a later redis_check and redis_master
// know it when the peer, which holds the writes, is gone.
struct StaleHistory {
  std::string since;   // UTC, as records write it
  std::string hook;    // the tool that recorded it
  std::string reason;  // one line
  std::string local_replid;
  long long local_offset = 0;
  std::string peer_replid;
  long long peer_offset = 0;
  // key=value lines, one per field.
  std::string text() const;
  // Parses text(). A record whose fields are damaged still stands (empty
  // fields, offset 0): only an empty text is no record at all.
  static std::optional<StaleHistory> parse(const std::string& text);
  // One line naming the offsets, for log lines and redis_status.
  std::string describe() const;
};

// The record of `local` lacking the writes `peer` holds (replids and held
// offsets of both), with `reason`; `since` and `hook` are the caller's.
StaleHistory stale_history_of(const RedisState& local, const RedisState& peer, std::string reason);

// True when `local` now holds the history the record names (the peer's
// replid up to its recorded offset, judged by holds_history_of): it has
// resynced since, and the record no longer says anything about it. A record
// without the peer's replid is never resolved.
bool stale_history_resolved(const RedisState& local, const StaleHistory& stale);

// redis_check with a stale-history record: whether it fails the node. It
// does while the record stands (`local`, when its INFO was read, does not
// hold the recorded history), so that keepalived never makes the node
// MASTER, except while a hook of this node is acting (`hook_running`: the
// newest recorded hook's process runs): redis_backup copying and resyncing
// after a lost heal, or redis_master in its sync-wait, clears the record
// itself, and a check that failed meanwhile would move the node to FAULT,
// whose notify_fault stops that hook before the resync.
struct StaleCheck {
  bool fails = false;
  std::string reason;
};
StaleCheck decide_stale_check(const std::optional<StaleHistory>& stale,
                              const std::optional<RedisState>& local, bool hook_running);

// --- redis_master (notify_master) ------------------------------------------

// Why this node's dataset is known to lack writes its peer holds; nullopt
// when nothing observed says so. Incomplete means: a full sync is running,
// an empty replica's first sync is pending (REPLICAOF given, no sync
// completed since), the peer was last seen holding writes this node's
// history lacks, or a hook recorded a stale history (`stale`) that this
// node has not resolved since.
// `peer_known_empty`: the peer answers now, with no keys.
std::optional<std::string> known_incompleteness(const RedisState& local,
                                                const std::optional<RedisState>& peer_last_seen,
                                                bool peer_known_empty = false,
                                                const std::optional<StaleHistory>& stale = {});

enum class MasterAction {
  promote,             // REPLICAOF NO ONE: the peer holds nothing this node lacks
  already_master,      // this node is a master and holds the peer's history
  replicate_peer,      // REPLICAOF peer: it holds data this node lacks
  wait_for_sync,       // replica of the peer, still loading or behind
  verify_and_promote,  // looks caught up: pause the peer's writes, confirm, promote
  wait_for_loading,    // local is loading: REPLICAOF NO ONE would be refused
  wait_for_peer,       // the peer is silent, or gone while this node is incomplete
  stop_peer_denied,    // the peer refuses us (password, ACL): exit 1, change nothing
  stop_peer_is_local,  // --peer leads to this very server (same run_id): exit 1
};

struct MasterDecision {
  MasterAction action;
  std::string reason;
};

// Everything redis_master knows when it decides its next step.
struct MasterView {
  RedisState local;
  Observation peer;
  // The peer's newest answer during this hook run in which it was a master
  // that was not loading: what it was last seen holding when it goes quiet.
  // (A replica's data is its master's, so a replica's answer is not kept.)
  std::optional<RedisState> peer_last_seen;
  // How long the peer has not answered (0 when it just did).
  std::chrono::milliseconds peer_silent_for{0};
  // The state dir's stale-history record, unless an operator overrides it
  // (--accept-data-loss): while it stands, a peer that is gone is waited for.
  std::optional<StaleHistory> stale;
};

struct MasterPolicy {
  Endpoint peer_endpoint;
  // How long a silent peer (timeouts) is waited for before a complete node
  // promotes without it; a peer that is gone (refused) is not waited for.
  std::chrono::milliseconds silence_grace{2000};
};

// The next step of the sync-wait before promotion.
MasterDecision decide_master_step(const MasterView& view, const MasterPolicy& policy);

// True when the final comparison, made while the peer's writes are paused,
// shows this replica has applied everything the peer has.
bool caught_up_with(const RedisState& local, const RedisState& paused_peer);

// Whether to keep comparing offsets inside the peer's pause window: stop at
// three quarters of it (the rest is for promotion and repointing the peer,
// which must happen while writes are still held) or when the link drops.
bool keep_verifying(std::chrono::milliseconds paused_for, std::chrono::milliseconds pause_window,
                    bool link_up);

// Why `server` cannot hold its writes with CLIENT PAUSE <ms> WRITE, which
// the final comparison before a promotion and a repoint rely on: Redis
// before 6.2 has no WRITE mode (only CLIENT PAUSE of every client, which
// also stops the replication the comparison reads). nullopt when it can
// (Redis 6.2+, Valkey, or a version INFO does not say).
std::optional<std::string> write_pause_unsupported(const RedisState& server);

// What redis_master does when --sync-timeout runs out.
enum class SyncTimeoutAction {
  stay_replica,    // the default: the peer still holds the data
  promote_anyway,  // --on-sync-timeout promote, and the local node can be promoted
  stay_loading,    // --on-sync-timeout promote, but REPLICAOF NO ONE would be refused
  already_master,  // nothing to promote
  stay_stale,      // a stale-history record stands: neither promoted nor confirmed as
                   // master, whatever --on-sync-timeout says (verdict stale-history when
                   // the record stood before the wait and the peer is gone)
};
// `stale`: the record, when one stands (see MasterView::stale).
SyncTimeoutAction decide_on_sync_timeout(const RedisState& local, bool promote_requested,
                                         const std::optional<StaleHistory>& stale = {});

// Whether to pause the peer's writes before deciding to repoint it: only a
// reachable master that is not paused already can take writes between the
// check and the REPLICAOF, and those writes would be discarded by its resync.
bool pause_peer_before_repoint(const PeerView& peer, bool already_paused);

// What to do once this node is master.
struct AfterPromotion {
  bool repoint_peer = false;  // REPLICAOF <this node> on the peer, then CONFIG REWRITE there
  std::string reason;
};
// `local` is this node's state after promotion. The peer is repointed only
// when it is a reachable master whose every write this node holds, so that
// repointing it discards nothing.
AfterPromotion decide_after_promotion(const RedisState& local, const PeerView& peer);

// --- fencing (--fence-writes) -----------------------------------------------

// min-replicas-to-write for a master, as the hooks keep it with
// --fence-writes. With 1, Redis refuses writes (-NOREPLICAS) once no replica
// has ACKed within min-replicas-max-lag seconds (replicas ACK every second):
// a master cut off from its replica stops taking writes that the other side
// would discard at the heal. A master with no replica attached (promoted
// without its peer) runs with 0, or it could take no write at all.
struct FencePlan {
  int min_replicas_to_write = 0;
  std::string reason;
};
// `master` is the master's INFO; `replica_attached` says that its replica is
// known to be attached (just repointed to it, or reporting its link up).
FencePlan fence_for_master(const RedisState& master, bool replica_attached);

// --- the fence's one owner (min-replicas-to-write, min-replicas-max-lag) ----

// The two settings Redis fences writes with.
struct FenceValues {
  int to_write = 0;  // min-replicas-to-write
  int max_lag = 10;  // min-replicas-max-lag (Redis's default)
  bool operator==(const FenceValues& other) const {
    return to_write == other.to_write && max_lag == other.max_lag;
  }
  bool operator!=(const FenceValues& other) const { return !(*this == other); }
  // Redis refuses writes (-NOREPLICAS) only while both are non-zero.
  bool fences() const { return to_write > 0 && max_lag > 0; }
};
// "min-replicas-to-write N, min-replicas-max-lag S", for log lines.
std::string describe(const FenceValues& values);

// The toolkit's fence over the operator's `base`: at least one replica, and
// the toolkit's lag (--fence-max-lag).
FenceValues toolkit_fence(const FenceValues& base, int max_lag);

// What the state dir remembers about the local Redis (NAME.fence): the
// operator's own values, the values the toolkit last set there, and whether
// those are redis_check's isolation fence (which the first check that is not
// isolated lifts).
struct FenceRecord {
  std::optional<FenceValues> base;
  std::optional<FenceValues> last_set;
  bool isolation = false;
};
// key=value lines; what is missing or malformed reads as not recorded.
FenceRecord parse_fence_record(const std::string& text);
std::string render_fence_record(const FenceRecord& record);

// The operator's own values, given what the server holds now (`found`): a
// toolkit fence over the recorded base (a peer's hook fences this node
// without recording it here) leaves the recorded base (Redis's defaults when
// none is recorded); otherwise each value equal to what the toolkit last set
// there keeps the recorded one, and any other value is the operator's new
// one.
FenceValues operator_fence_values(const FenceRecord& record, const FenceValues& found, int max_lag);

// What a master's fence should be under the hooks' policy: the toolkit's
// fence when `plan` fences (--fence-writes with its replica attached), else
// the operator's own values.
FenceValues fence_target(const FencePlan& plan, const FenceValues& base, int max_lag);

// redis_check on a node that is not isolated: must it lift a fence? The
// INFO the check reads anyway says whether one is on (write_fence_on), so
// a check of a node without a fence costs nothing more, and neither does
// one whose record explains the fence on. `record` is nullopt when the state
// dir cannot be used (missing, unsafe); when it does not explain the fence
// (nothing recorded, or the toolkit last set no fence) the values are read
// to tell an unrecorded isolation fence from the operator's own.
enum class FenceLiftStep {
  keep,         // nothing to lift
  lift,         // the recorded isolation fence: back to the policy
  read_values,  // no record: read the values (unrecorded_isolation_fence)
};
struct FenceLiftDecision {
  FenceLiftStep step = FenceLiftStep::keep;
  std::string reason;
};
FenceLiftDecision decide_fence_lift(const RedisState& local, bool isolated,
                                    const std::optional<FenceRecord>& record);

// Without a record: whether `found` can only be redis_check's isolation
// fence, to lift. With --witness alone the toolkit sets no other fence; with
// --fence-writes the same values are the hooks' fence, which holds while the
// replica is away, so nothing is lifted then.
bool unrecorded_isolation_fence(const FenceValues& found, int max_lag, bool fence_writes);

// The values a master that is no longer isolated gets: the --fence-writes
// policy (fence_for_master) when that is on, else the operator's own.
FenceValues fence_after_isolation(const RedisState& local, bool fence_writes,
                                  const FenceValues& base, int max_lag);

// --- redis_switchover (planned) ---------------------------------------------

// Whether writing 1 into `path` really hands the VIP over: keepalived's
// configuration text must declare it in a top-level `track_file NAME { file
// "PATH" }` block, and a vrrp_instance (or vrrp_sync_group) must track NAME
// with an effective weight of 0 and without `reverse`. keepalived (track_file.c)
// gives a track_file weight 1 unless it says otherwise, and an instance's
// `NAME weight W` overrides it; only with weight 0 does a non-zero value put
// the instance in FAULT, any other weight just moves its priority. The path
// inside a notify_* line or a comment does not count. `reason` says what is
// missing, or names the instance that tracks it.
struct MaintenanceTracking {
  bool tracked = false;
  std::string reason;
};
MaintenanceTracking check_maintenance_tracked(const std::string& keepalived_conf,
                                              const std::string& path);

// Whether a planned switchover may start: this node holds the VIP (its last
// recorded transition is MASTER), its Redis is a master, and the peer is a
// replica of this very history with its link up. `reason` says why not;
// nothing has been changed then.
struct SwitchoverCheck {
  bool ok = false;
  std::string reason;
};
SwitchoverCheck check_switchover_start(const std::string& recorded_transition,
                                       const RedisState& local, const Observation& peer);

// True when the peer, a replica of this node, has applied every write up to
// `paused_offset` (the master's offset read after its writes were paused).
bool switchover_caught_up(const RedisState& peer, const std::string& replid,
                          long long paused_offset);

// --- redis_backup (notify_backup) ------------------------------------------

enum class BackupAction {
  done,                // replica of the peer with the link up
  replicate_peer,      // REPLICAOF peer: nothing of ours is lost by it
  replicate_diverged,  // REPLICAOF peer although our own writes are lost (split brain)
  wait_for_link,       // replica of the peer, link not up yet
  wait,                // nothing safe to do yet (peer unreachable, syncing from us, ...)
  refuse_empty_peer,   // the peer is empty and we hold data: never sync from it
  demote_peer,         // this node holds the newer history (compare_after_fork): the peer,
                       // master by VRRP, is made this node's replica

  stop_peer_denied,    // the peer refuses us (password, ACL): exit 1, change nothing
  stop_peer_is_local,  // --peer leads to this very server (same run_id): exit 1
};

struct BackupDecision {
  BackupAction action;
  std::string reason;
};

// The next step of notify_backup. `grace_over` says whether the peer's own
// promotion hook has had time to act (see --backup-grace).
BackupDecision decide_backup_step(const RedisState& local, const Observation& observed,
                                  const Endpoint& peer_endpoint, bool grace_over);

// True when `local` and `peer` are one and the same server process.
bool same_server(const RedisState& local, const RedisState& peer);

}  // namespace rk
