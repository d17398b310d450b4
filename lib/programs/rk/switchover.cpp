// redis_switchover: a planned move of the VIP to the peer, losing nothing
// and refusing as few writes as possible. Run on the VIP holder. Like
// Redis's FAILOVER: pause this master's writes, wait until the peer has
// applied all of them, promote the peer, make this node its replica, then
// hand the VIP over through keepalived's maintenance track_file (1 puts this
// node in FAULT; the peer, already master, keeps the data). The peer's
// notify_master then finds itself master with every write: no pause, no
// resync.

#include <algorithm>
#include <fstream>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "rk/bounded_file.hpp"
#include "rk/decisions.hpp"
#include "rk/errors.hpp"
#include "rk/fence.hpp"
#include "rk/hooks.hpp"
#include "rk/instance_state.hpp"
#include "rk/interrupts.hpp"
#include "rk/log.hpp"
#include "rk/observe.hpp"
#include "rk/promotion.hpp"
#include "rk/sentinel_hooks.hpp"
#include "rk/switchover_steps.hpp"
#include "rk/track_file.hpp"

namespace rk {
namespace {

std::string read_whole_file(const std::string& path) {
  return read_option_file(path, FileRule{"--keepalived-conf", file_bounds::keepalived_conf},
                          Clock::now() + kFileReadBudget)
      .bytes;
}

// SIGINT or SIGTERM while the switchover runs (InterruptGuard): before the
// peer is promoted the switchover stops and unpauses; after it, the steps
// that keep one master run to their end (each is bounded by --timeout) and
// only the wait for FAULT is cut short.
class Switchover : SwitchoverSteps {
 public:
  explicit Switchover(const ToolOptions& options) : SwitchoverSteps(options) {}

  ExitCode run() {
    const std::string& flag = options_.maintenance_file;
    if (options_.switchover_status) {
      std::fprintf(stdout, "maintenance: %s\n",
                   describe_maintenance(flag, read_track_file(flag)).c_str());
      return ExitCode::success;
    }
    MaintenanceTracking tracking =
        check_maintenance_tracked(read_whole_file(options_.keepalived_conf), flag);
    if (!tracking.tracked)
      throw UsageError(
          fmt::format("{}: {}; writing {} would not move the VIP (see redis_switchover(1))",
                      options_.keepalived_conf, tracking.reason, flag));
    if (options_.rejoin) return rejoin_election();
    InterruptGuard interrupts;
    return switch_over();
  }

 private:
  // The switchover, one step per line. Until the peer is promoted, every
  // way out unpauses this node and changes nothing; from then on nothing is
  // rolled back, each step keeps one master, and the verdict says what was
  // done.
  ExitCode switch_over() {
    started_ = Clock::now();
    if (std::optional<ExitCode> refused = check_start()) return *refused;
    try {
      pause_.emplace(log_, local_, "local", pause_window());  // hold this master's writes
      if (std::optional<ExitCode> stopped = wait_caught_up()) return *stopped;
      if (std::optional<ExitCode> stopped = promote_peer()) return *stopped;
    } catch (const RedisError& error) {
      return stopped_by(error);
    }
    Handover done;
    try {
      done.repointed = repoint_self();  // REPLICAOF the peer here, writes still held
      if (peer_)
        unfence(*peer_, "peer",
                "the new master has no replica attached until this node's link is up");
      hand_over_vip(done);  // maintenance 1, unpause, CONFIG REWRITE, wait for FAULT
      rejoin(done);         // maintenance 0, unless --stay-out
    } catch (const std::runtime_error& error) {
      // Each step above reports its own failures; this is for one that
      // throws anyway: the master role has moved all the same.
      done.failure = error.what();
      log_.warning("the switchover stopped after the peer's promotion: {}", error.what());
    }
    return finish_handover(done);
  }

  // What the steps after the peer's promotion did, for the verdict.
  struct Handover {
    bool repointed = false;         // this node replicates the peer
    std::string maintenance_error;  // why 1 could not be written ("" when it was)
    long long paused_ms = 0;        // how long this node's writes were held
    bool fault_recorded = false;    // keepalived recorded FAULT here: the VIP moved
    std::string rejoin_error;       // why 0 could not be written back ("" when it was)
    std::string failure;            // a step that threw ("" when none did)
  };

  ExitCode refuse(const std::string& why) {
    return SwitchoverSteps::refuse(why, "nothing changed");
  }

  // A call that failed before the handover: nothing changed unless
  // REPLICAOF NO ONE had gone to the peer, whose role is then unknown.
  ExitCode stopped_by(const RedisError& error) {
    if (!promotion_sent_)
      return refuse(
          fmt::format("the local Redis failed ({}); unpaused, the VIP stays", error.what()));
    log_.warning("a call failed after REPLICAOF NO ONE went to the peer: {}", error.what());
    return demote_after_unknown();
  }

  std::string recorded_transition() const {
    try {
      InstanceState state(options_.state_dir, options_.instance, InstanceState::Access::read_only);
      return record_field(state.read_record(), "state");
    } catch (const StateError& error) {
      throw UsageError(fmt::format("cannot read the state dir: {}", error.what()));
    }
  }

  // Before anything changes: this node holds the VIP and is a master, the
  // peer a caught-up replica of its history (check_switchover_start).
  // nullopt when the switchover may go on, else the verdict.
  std::optional<ExitCode> check_start() {
    std::string transition = recorded_transition();
    Observation local_seen = observe(local_, local_connection(options_));
    if (!local_seen.answered()) return refuse("the local Redis: " + local_seen.error);
    Observation peer_seen = observe(peer_, peer_connection(options_));
    SwitchoverCheck check = check_switchover_start(transition, *local_seen.state, peer_seen);
    if (!check.ok) return refuse(check.reason);
    log_.info("switchover to {}: {}", options_.peer_endpoint->text(), check.reason);
    return std::nullopt;
  }

  // With this master's writes held, waits until the peer has applied every
  // one of them. nullopt once it has, else the verdict (nothing changed).
  std::optional<ExitCode> wait_caught_up() {
    RedisState paused = read_info(*local_);
    log_.info(
        "waiting for the peer to apply every write up to offset {} (writes paused in "
        "windows of {} ms)",
        paused.master_repl_offset, pause_window().count());
    auto deadline = Clock::now() + options_.switchover_timeout;
    for (;;) {
      if (InterruptGuard::interrupted())
        return stop_unchanged(Verdict::switchover_interrupted,
                              fmt::format("{} before the peer was promoted: nothing changed, "
                                          "unpaused, the VIP stays",
                                          InterruptGuard::signal_name()));
      RedisState peer_state;
      try {
        peer_state = read_info(*peer_);
      } catch (const RedisError& error) {
        peer_.reset();
        return refuse(
            fmt::format("the peer stopped answering ({}); unpaused, the VIP stays", error.what()));
      }
      if (switchover_caught_up(peer_state, paused.master_replid, paused.master_repl_offset)) break;
      if (Clock::now() >= deadline)
        return refuse(fmt::format(
            "the peer did not catch up within {} ms (applied {}, this master {}); unpaused, the "
            "VIP stays",
            options_.switchover_timeout.count(), peer_state.slave_repl_offset,
            paused.master_repl_offset));
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      keep_paused();
    }
    caught_up_ms_ = ms_since(started_);
    log_.info("the peer applied every write (offset {}) after {} ms", paused.master_repl_offset,
              caught_up_ms_);
    return std::nullopt;
  }

  // REPLICAOF NO ONE on the peer, this node's writes still held. nullopt
  // once the peer is master, else the verdict: refused (nothing changed) or
  // unknown (this node is made its replica).
  std::optional<ExitCode> promote_peer() {
    keep_paused();
    PeerPromotion promotion = promote_and_confirm();
    if (promotion == PeerPromotion::refused)
      return refuse(
          fmt::format("REPLICAOF NO ONE on the peer was refused ({}); unpaused, the VIP "
                      "stays",
                      refusal_));
    if (promotion == PeerPromotion::unknown) return demote_after_unknown();
    log_.info("peer {} promoted", options_.peer_endpoint->text());
    return std::nullopt;
  }

  enum class PeerPromotion { promoted, refused, unknown };

  // A refusal (an error reply) means the peer did nothing. No reply (a
  // timeout or a reset after the send) means it may have promoted itself:
  // the peer is read again over a fresh connection, and sent REPLICAOF NO
  // ONE again while it is still a replica (the command is idempotent, and
  // this master's writes are still held, so the peer still has every one
  // of them).
  PeerPromotion promote_and_confirm() {
    if (std::optional<PeerPromotion> answered = send_promotion()) return *answered;
    log_.warning(
        "no reply to REPLICAOF NO ONE from the peer ({}): it may have promoted itself; "
        "reading its role again with this node's writes still paused",
        no_reply_);
    auto deadline = Clock::now() + options_.switchover_timeout;
    for (;;) {
      std::optional<RedisState> seen =
          read_again_after_unknown(peer_, peer_connection(options_), deadline,
                                   std::chrono::milliseconds(10), [&] { keep_paused(); });
      if (!seen) return PeerPromotion::unknown;
      if (seen->is_master()) {
        log_.info("the peer is master: its REPLICAOF NO ONE took effect");
        return PeerPromotion::promoted;
      }
      keep_paused();
      if (std::optional<PeerPromotion> answered = send_promotion()) return *answered;
      log_.warning("no reply to REPLICAOF NO ONE from the peer again ({})", no_reply_);
      if (Clock::now() >= deadline) return PeerPromotion::unknown;
    }
  }

  // REPLICAOF NO ONE on the peer: promoted on +OK, refused on an error reply
  // (refusal_ says why); nullopt when no reply came (no_reply_ says why).
  std::optional<PeerPromotion> send_promotion() {
    promotion_sent_ = true;
    try {
      peer_->command_ok({"REPLICAOF", "NO", "ONE"});
      return PeerPromotion::promoted;
    } catch (const ReplyError& error) {
      refusal_ = error.what();
      return PeerPromotion::refused;
    } catch (const RedisError& error) {
      no_reply_ = error.what();
      return std::nullopt;
    }
  }

  // REPLICAOF the peer on this node, as redis-cli would send it.
  std::vector<std::string> replicaof_peer() const {
    const Endpoint& peer = *options_.peer_endpoint;
    return {"REPLICAOF", peer.host, std::to_string(peer.port)};
  }

  // The peer's role stays unknown: it may be a master, and this node must
  // then not take writes as a second one. Made a replica of the peer, this
  // node refuses writes (-READONLY) and keeps its data; the VIP stays here
  // (the maintenance file is not written) until an operator looks.
  ExitCode demote_after_unknown() {
    const Endpoint& peer_endpoint = *options_.peer_endpoint;
    std::string demoted = "this node could not be made its replica either";
    try {
      Connection& server = local();
      keep_paused();
      server.command_ok(replicaof_peer());
      demoted = "this node was made its replica, so that two masters cannot both take writes";
    } catch (const RedisError& error) {
      log_.warning("REPLICAOF {} here failed: {}", peer_endpoint.text(), error.what());
    }
    pause_.reset();
    log_.warning(
        "the peer's role after REPLICAOF NO ONE is unknown (it did not answer within {} ms); {}. "
        "Check the peer: if it is master, `redis_switchover --rejoin` is not needed and the VIP "
        "follows it once this node's redis_check yields; if it is down, run REPLICAOF NO ONE on "
        "this node by hand",
        options_.switchover_timeout.count(), demoted);
    return finish(Verdict::switchover_unknown, "the peer's role is unknown; " + demoted);
  }

  // REPLICAOF the peer here, while this node's writes are still held. A
  // missing reply is read again: the node may already replicate the peer.
  bool repoint_self() {
    const Endpoint& peer_endpoint = *options_.peer_endpoint;
    for (int attempt = 0; attempt < 2; ++attempt) {
      try {
        Connection& server = local();
        keep_paused();
        server.command_ok(replicaof_peer());
        log_.info("this node now replicates {}", peer_endpoint.text());
        return true;
      } catch (const RedisError& error) {
        log_.warning("REPLICAOF {} here failed ({}); reading this node's role again",
                     peer_endpoint.text(), error.what());
      }
      if (replicates_peer()) {
        log_.info("this node now replicates {}", peer_endpoint.text());
        return true;
      }
    }
    log_.warning(
        "this node is not a replica of the new master {}: clients still connected here may "
        "write to it once its pause ends; the VIP moves to the peer, and redis_backup repoints "
        "this node when it rejoins",
        peer_endpoint.text());
    return false;
  }

  // This node's role, read again over a fresh connection with its writes
  // kept held: true when it replicates the peer.
  bool replicates_peer() {
    try {
      std::optional<RedisState> seen =
          read_again_after_unknown(local_, local_connection(options_),
                                   Clock::now() + options_.timeout * 4,
                                   std::chrono::milliseconds(10), [&] { keep_paused(); });
      return seen && seen->role == Role::replica &&
             seen->master_port == options_.peer_endpoint->port;
    } catch (const RedisError& error) {  // the pause's window could not be renewed
      log_.warning("this node's role could not be read again: {}", error.what());
      return false;
    }
  }

  // Tells keepalived to move the VIP (1 in the maintenance file puts this
  // node in FAULT; the peer, already master, takes it), lets the held
  // clients go, keeps both roles across a restart, and waits until
  // keepalived has recorded FAULT here.
  void hand_over_vip(Handover& done) {
    const std::string& flag = options_.maintenance_file;
    done.maintenance_error = write_maintenance(1);
    if (done.maintenance_error.empty())
      log_.info("maintenance on: {} = 1; keepalived moves the VIP to the peer", flag);
    else
      log_.warning(
          "cannot write 1 to {} ({}): keepalived is not told to move the VIP, which stays here, "
          "on a replica, until redis_check gives it up",
          flag, done.maintenance_error);
    // A replica refuses writes (-READONLY): the clients held by the pause
    // learn so and reconnect through the VIP, which is moving.
    done.paused_ms = pause_ ? pause_->held_for().count() : 0;
    pause_.reset();
    rewrite_configs();
    done.fault_recorded = wait_for_fault(Clock::now() + options_.switchover_timeout);
    if (!done.fault_recorded)
      log_.warning(
          "keepalived has not recorded FAULT here within {} ms (notify_fault "
          "redis_fault){}; the VIP may still be here, on a replica, until redis_check "
          "gives it up",
          options_.switchover_timeout.count(),
          InterruptGuard::interrupted()
              ? fmt::format(", and {} cut the wait short", InterruptGuard::signal_name())
              : std::string());
  }

  // --rejoin: 0 in the maintenance file. A file that cannot be written
  // leaves the 1 there, and this node out of the election: a verdict that
  // says so, not an internal error.
  ExitCode rejoin_election() {
    started_ = Clock::now();
    const std::string& flag = options_.maintenance_file;
    std::string error = write_maintenance(0);
    if (!error.empty())
      return finish(Verdict::rejoin_failed,
                    fmt::format("cannot write 0 to {} ({}): this node stays out of the election",
                                flag, error));
    log_.info("maintenance off: {} = 0; this node takes part in the election again", flag);
    return ExitCode::success;
  }

  // Lets this node take part in the election again (0 in the maintenance
  // file; nopreempt keeps the VIP on the peer), unless --stay-out.
  void rejoin(Handover& done) {
    const std::string& flag = options_.maintenance_file;
    if (options_.stay_out) {
      log_.info("--stay-out: {} stays 1; `redis_switchover --rejoin` lets this node back in", flag);
      return;
    }
    if (!done.maintenance_error.empty()) return;  // 1 never reached the file
    done.rejoin_error = write_maintenance(0);
    if (done.rejoin_error.empty())
      log_.info(
          "maintenance off: {} = 0; this node rejoins as a replica (nopreempt keeps the VIP "
          "on the peer)",
          flag);
    else
      log_.warning(
          "cannot write 0 back to {} ({}): it still holds 1, and this node stays out of the "
          "election until `redis_switchover --rejoin`",
          flag, done.rejoin_error);
  }

  // Writes `value` to the maintenance file: "" when done, else why not. A
  // state error or an unsafe directory here is no usage error (exit 2, which
  // says nothing was done): the master role has already moved.
  std::string write_maintenance(long value) const {
    try {
      write_track_file(options_.maintenance_file, value);
      return "";
    } catch (const std::runtime_error& error) {  // StateError, UnsafeStateDir
      return error.what();
    }
  }

  // The verdict once the peer is master with every write: switched-over
  // only when this node replicates it and keepalived recorded FAULT here
  // after being told through the maintenance file; otherwise the detail
  // says what was done and what was not.
  ExitCode finish_handover(const Handover& done) {
    pause_.reset();
    const std::string& flag = options_.maintenance_file;
    std::string timing = fmt::format("writes paused {} ms (the peer caught up after {} ms)",
                                     done.paused_ms, caught_up_ms_);
    std::string rejoin_problem =
        done.rejoin_error.empty()
            ? std::string()
            : fmt::format(
                  "{} is still 1 ({}): this node stays out of the election until "
                  "`redis_switchover --rejoin`",
                  flag, done.rejoin_error);
    std::string problems;
    auto add = [&problems](const std::string& problem) {
      if (!problem.empty()) problems += (problems.empty() ? "" : "; ") + problem;
    };
    if (!done.repointed) add("this node could not be made its replica");
    if (!done.maintenance_error.empty())
      add(fmt::format("{} could not be written ({}), so keepalived was not told to move the VIP",
                      flag, done.maintenance_error));
    if (!done.failure.empty()) add("a step failed: " + done.failure);
    if (!done.fault_recorded) add("keepalived did not confirm the handover (no FAULT recorded)");
    if (!problems.empty()) {
      add(rejoin_problem);
      return finish(Verdict::handover_unconfirmed,
                    fmt::format("the peer is master with every write{}, but {}; {}",
                                done.repointed ? " and this node its replica" : "", problems,
                                timing));
    }
    if (!rejoin_problem.empty())
      return finish(Verdict::rejoin_failed,
                    fmt::format("switched over (the peer is master with every write, this node "
                                "its replica, keepalived recorded FAULT here), but {}; {}",
                                rejoin_problem, timing));
    return finish(Verdict::switched_over, timing);
  }

  // Neither redis.conf may keep a fence: the demoted node's master fence
  // (Redis ignores a replica's) must not come back at its next start.
  void rewrite_configs() {
    for (auto [which, server] : {std::pair{"local", &local_}, std::pair{"peer", &peer_}}) {
      try {
        if (!*server) continue;
        if (owns_fence())
          rewrite_config_without_fence(**server, operator_fence());
        else
          (*server)->command_ok({"CONFIG", "REWRITE"});
      } catch (const RedisError& error) {
        log_.warning("{} CONFIG REWRITE failed: {}", which, error.what());
      }
    }
  }

  // With --fence-writes or --witness the hooks own min-replicas-*.
  bool owns_fence() const { return options_.fence_writes || !options_.witness_endpoints.empty(); }

  // The operator's own min-replicas-* values, as this node's hooks recorded
  // them (fence.hpp); both nodes are taken to be configured alike, as the
  // hooks do. Redis's defaults when nothing is recorded.
  FenceValues operator_fence() {
    if (operator_fence_) return *operator_fence_;
    operator_fence_ = FenceValues{};
    try {
      InstanceState state(options_.state_dir, options_.instance, InstanceState::Access::read_only);
      if (std::optional<FenceRecord> record = load_fence_record(&state))
        if (record->base) operator_fence_ = *record->base;
    } catch (const std::runtime_error& error) {
      log_.warning(
          "the operator's min-replicas-* values are not recorded ({}); using Redis's "
          "defaults",
          error.what());
    }
    return *operator_fence_;
  }

  // The fence the hooks keep is lifted on the new master: it has no replica
  // attached yet (this node's link comes up in a moment, and with --stay-out
  // it is about to leave), so, as after any promotion, it runs with the
  // operator's own values until this node's redis_backup finds its link up
  // and fences it again. A fence left from an earlier role would refuse
  // every write (-NOREPLICAS) once this node stops.
  void unfence(Connection& server, const char* which, const char* why) {
    if (!owns_fence()) return;
    try {
      FenceValues found = read_fence_values(server);
      FenceValues target = operator_fence();
      set_fence_values(server, found, target);
      log_.info("{} fence: {}: {}", which, describe(target), why);
    } catch (const RedisError& error) {
      log_.warning("{} fence not lifted: {}", which, error.what());
    }
  }

  // keepalived records FAULT through notify_fault (redis_fault) once it has
  // read the maintenance value and left MASTER. A state dir that cannot be
  // read any more leaves the handover unconfirmed, never a usage error: the
  // master role has already moved.
  bool wait_for_fault(Clock::time_point deadline) {
    while (Clock::now() < deadline && !InterruptGuard::interrupted()) {
      try {
        if (recorded_transition() == "FAULT") return true;
      } catch (const std::runtime_error& error) {
        log_.repeated_warning("fault-wait", fmt::format("cannot read the state dir while waiting "
                                                        "for FAULT: {}",
                                                        error.what()));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  long long caught_up_ms_ = 0;
  std::optional<Connection> peer_;
  bool promotion_sent_ = false;  // REPLICAOF NO ONE went to the peer
  std::string refusal_;
  std::string no_reply_;
  std::optional<FenceValues> operator_fence_;
};

}  // namespace

ExitCode run_switchover(const ToolOptions& given) {
  if (given.sentinel_mode()) return run_sentinel_switchover(given);
  ToolOptions options = given;
  if (options.maintenance_file.empty())
    throw UsageError("--maintenance-file FILE is required (a track_file keepalived watches)");
  if (!options.peer_endpoint && !options.switchover_status && !options.rejoin)
    throw UsageError("no peer: give --peer or LOCAL_HOST PEER_HOST PORT");
  // keepalived acts on the maintenance file as root (exit 2 before anything).
  if (!options.switchover_status) {
    std::string dir = parent_directory(options.maintenance_file);
    // A missing directory is trusted (nothing can be planted in it), but
    // the 1 that hands the VIP over could never be written there: refuse
    // before anything is paused.
    if (!require_trusted_directory(dir, "--maintenance-file", OutputFile::track_file))
      throw UsageError(fmt::format(
          "--maintenance-file {}: directory {} does not exist (create it, and keepalived's "
          "track_file reads the file there); nothing was done",
          options.maintenance_file, dir));
  }
  resolve_password(options);
  return Switchover(options).run();
}

}  // namespace rk
