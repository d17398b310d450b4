// redis_switchover: a planned move of the VIP to the peer, losing nothing
// and refusing as few writes as possible. Run on the VIP holder. Like
// Redis's FAILOVER: pause this master's writes, wait until the peer has
// applied all of them, promote the peer, make this node its replica, then
// hand the VIP over through keepalived's maintenance track_file (1 puts this
// node in FAULT; the peer, already master, keeps the data). The peer's
// notify_master then finds itself master with every write: no pause, no
// resync.

#include <algorithm>
#include <csignal>
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
#include "rk/log.hpp"
#include "rk/observe.hpp"
#include "rk/promotion.hpp"
#include "rk/track_file.hpp"

namespace rk {
namespace {

std::string read_whole_file(const std::string& path) {
  return read_option_file(path, FileRule{"--keepalived-conf", file_bounds::keepalived_conf},
                          Clock::now() + kFileReadBudget)
      .bytes;
}

// SIGINT or SIGTERM (an operator's Ctrl-C, a service stop) while the
// switchover runs: before the peer is promoted the switchover stops and
// unpauses; after it, the steps that keep one master run to their end
// (each is bounded by --timeout) and only the wait for FAULT is cut short.
volatile std::sig_atomic_t interrupted_by = 0;

void note_interrupt(int signal_number) { interrupted_by = signal_number; }

class InterruptGuard {
 public:
  InterruptGuard() {
    interrupted_by = 0;
    struct sigaction action {};
    action.sa_handler = note_interrupt;
    sigemptyset(&action.sa_mask);
    ::sigaction(SIGINT, &action, &old_int_);
    ::sigaction(SIGTERM, &action, &old_term_);
  }
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;
  ~InterruptGuard() {
    ::sigaction(SIGINT, &old_int_, nullptr);
    ::sigaction(SIGTERM, &old_term_, nullptr);
  }
  static bool interrupted() { return interrupted_by != 0; }
  static const char* signal_name() { return interrupted_by == SIGINT ? "SIGINT" : "SIGTERM"; }

 private:
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
};

class Switchover {
 public:
  explicit Switchover(const ToolOptions& options) : options_(options), log_(log_options(options)) {
    log_.open_sinks();
  }

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
    if (options_.rejoin) {
      write_track_file(flag, 0);
      log_.info("maintenance off: {} = 0; this node takes part in the election again", flag);
      return ExitCode::success;
    }
    InterruptGuard interrupts;
    return switch_over();
  }

 private:
  ExitCode finish(Verdict verdict, const std::string& detail) {
    ExitCode code = exit_code_of(verdict);
    log_.info("verdict={} exit={} elapsed_ms={} {}", to_string(verdict), to_int(code),
              ms_since(started_), detail);
    return code;
  }

  ExitCode refuse(const std::string& why) {
    log_.warning("switchover refused, nothing changed: {}", why);
    return finish(Verdict::switchover_refused, "nothing changed");
  }

  std::string recorded_transition() const {
    try {
      InstanceState state(options_.state_dir, options_.instance, InstanceState::Access::read_only);
      return record_field(state.read_record(), "state");
    } catch (const StateError& error) {
      throw UsageError(fmt::format("cannot read the state dir: {}", error.what()));
    }
  }

  // The pause is held in windows of a few --timeout, renewed while the
  // switchover needs it: a switchover that is killed (SIGKILL, a crash)
  // leaves at most one window behind, never 2 x --switchover-timeout-ms.
  std::chrono::milliseconds pause_window() const {
    return std::max(options_.timeout * 3, std::chrono::milliseconds(300));
  }
  // Renews the window when less than one command's time is left of it.
  void keep_paused(WritePause& pause) const {
    pause.ensure_open_for(options_.timeout + std::chrono::milliseconds(50));
  }

  ExitCode switch_over() {
    started_ = Clock::now();
    const Endpoint& peer_endpoint = *options_.peer_endpoint;
    std::string transition = recorded_transition();
    Observation local_seen = observe(local_, local_connection(options_));
    if (!local_seen.answered()) return refuse("the local Redis: " + local_seen.error);
    Observation peer_seen = observe(peer_, peer_connection(options_));
    SwitchoverCheck check = check_switchover_start(transition, *local_seen.state, peer_seen);
    if (!check.ok) return refuse(check.reason);
    log_.info("switchover to {}: {}", peer_endpoint.text(), check.reason);

    // Hold this master's writes; from here every exit unpauses them (RAII)
    // until the peer has been promoted.
    std::optional<WritePause> pause;
    pause.emplace(log_, local_, "local", pause_window());
    RedisState paused = read_info(*local_);
    log_.info(
        "waiting for the peer to apply every write up to offset {} (writes paused in "
        "windows of {} ms)",
        paused.master_repl_offset, pause_window().count());
    auto deadline = Clock::now() + options_.switchover_timeout;
    for (;;) {
      if (InterruptGuard::interrupted())
        return finish(Verdict::switchover_interrupted,
                      fmt::format("{} before the peer was promoted: nothing changed, unpaused, "
                                  "the VIP stays",
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
      keep_paused(*pause);
    }
    long long caught_up_ms = ms_since(started_);
    log_.info("the peer applied every write (offset {}) after {} ms", paused.master_repl_offset,
              caught_up_ms);

    keep_paused(*pause);
    PeerPromotion promotion = promote_peer(*pause);
    if (promotion == PeerPromotion::refused)
      return refuse(
          fmt::format("REPLICAOF NO ONE on the peer was refused ({}); unpaused, the VIP "
                      "stays",
                      refusal_));
    if (promotion == PeerPromotion::unknown) return demote_after_unknown(*pause);
    log_.info("peer {} promoted", peer_endpoint.text());

    // From here the peer is the master with every write: nothing is rolled
    // back. Each step below keeps one master; failures are reported.
    bool repointed = repoint_local(*pause);
    if (peer_)
      unfence(*peer_, "peer",
              "the new master has no replica attached until this node's link is up");
    write_track_file(options_.maintenance_file, 1);
    log_.info("maintenance on: {} = 1; keepalived moves the VIP to the peer",
              options_.maintenance_file);
    // A replica refuses writes (-READONLY): the clients held by the pause
    // learn so and reconnect through the VIP, which is moving.
    long long paused_ms = pause->held_for().count();
    pause.reset();
    // Neither redis.conf may keep a fence: the demoted node's master fence
    // (Redis ignores a replica's) must not come back at its next start.
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

    bool handed_over = wait_for_fault(Clock::now() + options_.switchover_timeout);
    if (!handed_over)
      log_.warning(
          "keepalived has not recorded FAULT here within {} ms (notify_fault "
          "redis_fault){}; the VIP may still be here, on a replica, until redis_check "
          "gives it up",
          options_.switchover_timeout.count(),
          InterruptGuard::interrupted()
              ? fmt::format(", and {} cut the wait short", InterruptGuard::signal_name())
              : std::string());
    if (options_.stay_out) {
      log_.info("--stay-out: {} stays 1; `redis_switchover --rejoin` lets this node back in",
                options_.maintenance_file);
    } else {
      write_track_file(options_.maintenance_file, 0);
      log_.info(
          "maintenance off: {} = 0; this node rejoins as a replica (nopreempt keeps the VIP "
          "on the peer)",
          options_.maintenance_file);
    }
    std::string detail = fmt::format("writes paused {} ms (the peer caught up after {} ms)",
                                     paused_ms, caught_up_ms);
    if (!repointed)
      return finish(Verdict::handover_unconfirmed,
                    "the peer is master with every write, but this node could not be made its "
                    "replica; " +
                        detail);
    if (!handed_over)
      return finish(Verdict::handover_unconfirmed,
                    "the peer is master with every write and this node its replica, but "
                    "keepalived did not confirm the handover; " +
                        detail);
    return finish(Verdict::switched_over, detail);
  }

  enum class PeerPromotion { promoted, refused, unknown };

  // REPLICAOF NO ONE on the peer. A refusal (an error reply) means it did
  // nothing. No reply (a timeout or a reset after the send) means it may
  // have promoted itself: the peer is read again over a fresh connection,
  // and sent REPLICAOF NO ONE again while it is still a replica (the command
  // is idempotent, and this master's writes are still held, so the peer
  // still has every one of them).
  PeerPromotion promote_peer(WritePause& pause) {
    if (std::optional<PeerPromotion> answered = send_promotion()) return *answered;
    log_.warning(
        "no reply to REPLICAOF NO ONE from the peer ({}): it may have promoted itself; "
        "reading its role again with this node's writes still paused",
        no_reply_);
    auto deadline = Clock::now() + options_.switchover_timeout;
    for (;;) {
      std::optional<RedisState> seen =
          read_again_after_unknown(peer_, peer_connection(options_), deadline,
                                   std::chrono::milliseconds(10), [&] { keep_paused(pause); });
      if (!seen) return PeerPromotion::unknown;
      if (seen->is_master()) {
        log_.info("the peer is master: its REPLICAOF NO ONE took effect");
        return PeerPromotion::promoted;
      }
      keep_paused(pause);
      if (std::optional<PeerPromotion> answered = send_promotion()) return *answered;
      log_.warning("no reply to REPLICAOF NO ONE from the peer again ({})", no_reply_);
      if (Clock::now() >= deadline) return PeerPromotion::unknown;
    }
  }

  // REPLICAOF NO ONE on the peer: promoted on +OK, refused on an error reply
  // (refusal_ says why); nullopt when no reply came (no_reply_ says why).
  std::optional<PeerPromotion> send_promotion() {
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

  // The peer's role stays unknown: it may be a master, and this node must
  // then not take writes as a second one. Made a replica of the peer, this
  // node refuses writes (-READONLY) and keeps its data; the VIP stays here
  // (the maintenance file is not written) until an operator looks.
  ExitCode demote_after_unknown(WritePause& pause) {
    const Endpoint& peer_endpoint = *options_.peer_endpoint;
    std::string demoted = "this node could not be made its replica either";
    try {
      keep_paused(pause);
      local_->command_ok({"REPLICAOF", peer_endpoint.host, std::to_string(peer_endpoint.port)});
      demoted = "this node was made its replica, so that two masters cannot both take writes";
    } catch (const RedisError& error) {
      log_.warning("REPLICAOF {} here failed: {}", peer_endpoint.text(), error.what());
    }
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
  bool repoint_local(WritePause& pause) {
    const Endpoint& peer_endpoint = *options_.peer_endpoint;
    const std::vector<std::string> replicaof{"REPLICAOF", peer_endpoint.host,
                                             std::to_string(peer_endpoint.port)};
    for (int attempt = 0; attempt < 2; ++attempt) {
      try {
        keep_paused(pause);
        local_->command_ok(replicaof);
        log_.info("this node now replicates {}", peer_endpoint.text());
        return true;
      } catch (const RedisError& error) {
        log_.warning("REPLICAOF {} here failed ({}); reading this node's role again",
                     peer_endpoint.text(), error.what());
      }
      std::optional<RedisState> seen =
          read_again_after_unknown(local_, local_connection(options_),
                                   Clock::now() + options_.timeout * 4,
                                   std::chrono::milliseconds(10), [&] { keep_paused(pause); });
      if (seen && seen->role == Role::replica && seen->master_port == peer_endpoint.port) {
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

  ToolOptions options_;
  Logger log_;
  Clock::time_point started_;
  std::optional<Connection> local_;
  std::optional<Connection> peer_;
  std::string refusal_;
  std::string no_reply_;
  std::optional<FenceValues> operator_fence_;
};

}  // namespace

ExitCode run_switchover(const ToolOptions& given) {
  ToolOptions options = given;
  if (options.maintenance_file.empty())
    throw UsageError("--maintenance-file FILE is required (a track_file keepalived watches)");
  if (!options.peer_endpoint && !options.switchover_status && !options.rejoin)
    throw UsageError("no peer: give --peer or LOCAL_HOST PEER_HOST PORT");
  // keepalived acts on the maintenance file as root (exit 2 before anything).
  if (!options.switchover_status)
    require_trusted_directory(parent_directory(options.maintenance_file), "--maintenance-file",
                              OutputFile::track_file);
  resolve_password(options);
  return Switchover(options).run();
}

}  // namespace rk
