// redis_switchover in Sentinel mode (--sentinel): a planned move of the
// master role that loses no acknowledged write. Sentinel chooses and
// promotes the new master; this node holds its writes meanwhile and then
// demotes itself, so that no write is taken by two masters:
//   check_start -> pause -> wait_replicas_caught_up -> ask_failover ->
//   wait_new_master -> hand_over (demote_self)
// Run on the node whose Redis the sentinels name as master. There is no
// maintenance file: the VIP follows redis_check, which fails here once the
// majority names the new master.

#include <memory>
#include <thread>

#include <fmt/format.h>

#include "rk/errors.hpp"
#include "rk/fence.hpp"
#include "rk/hook_run.hpp"
#include "rk/instance_state.hpp"
#include "rk/interrupts.hpp"
#include "rk/log.hpp"
#include "rk/observe.hpp"
#include "rk/promotion.hpp"
#include "rk/sentinel_client.hpp"
#include "rk/sentinel_failover.hpp"
#include "rk/sentinel_hooks.hpp"
#include "rk/sentinel_switchover.hpp"
#include "rk/switchover_steps.hpp"

namespace rk {
namespace {

class SentinelSwitchover : SwitchoverSteps {
 public:
  explicit SentinelSwitchover(const ToolOptions& options)
      : SwitchoverSteps(options),
        sentinels_(sentinel_connections(options)),
        self_(sentinel_self(options)) {}

  // The switchover, one step per line. Until a sentinel has accepted
  // SENTINEL FAILOVER every way out unpauses this node and changes nothing;
  // from then on this node leaves its pause only as the new master's
  // replica, or fenced.
  ExitCode run() {
    InterruptGuard interrupts;
    started_ = Clock::now();
    if (std::optional<ExitCode> refused = check_start()) return *refused;
    try {
      pause_.emplace(log_, local_, "local", pause_window());  // hold this master's writes
      if (std::optional<ExitCode> stopped = wait_replicas_caught_up()) return *stopped;
      if (std::optional<ExitCode> stopped = ask_failover()) return *stopped;
    } catch (const RedisError& error) {
      if (!failover_sent_)
        return refuse(fmt::format("the local Redis failed ({}); unpaused", error.what()));
      log_.warning("the local Redis failed after SENTINEL FAILOVER: {}", error.what());
    }
    return hand_over(wait_new_master());
  }

 private:
  ExitCode refuse(const std::string& why) {
    return SwitchoverSteps::refuse(why, "nothing changed: " + why);
  }

  ExitCode interrupted() {
    return stop_unchanged(Verdict::switchover_interrupted,
                          fmt::format("{} before SENTINEL FAILOVER: nothing changed, unpaused",
                                      InterruptGuard::signal_name()));
  }

  // Before anything changes: the local Redis is a master with an online
  // replica, every configured sentinel answers, none is in TILT, all name
  // this node, and none is failing over or sees the master down
  // (check_sentinel_switchover_start). nullopt when the switchover may go
  // on, else the verdict.
  std::optional<ExitCode> check_start() {
    Observation local_seen = observe(local_, local_connection(options_));
    if (!local_seen.answered()) return refuse("the local Redis: " + local_seen.error);
    std::vector<SentinelView> views =
        query_sentinels(sentinels_, options_.master_name, Clock::now() + options_.timeout);
    SentinelTally tally = tally_sentinels(views, sentinels_.size());
    std::vector<SentinelMasterView> masters;
    // A sentinel that did not answer already refuses the switchover: it is
    // not waited for a second time.
    if (tally.answered == sentinels_.size())
      for (const ConnectionOptions& sentinel : sentinels_)
        masters.push_back(
            query_sentinel_master(sentinel, options_.master_name, Clock::now() + options_.timeout));
    SwitchoverCheck check =
        check_sentinel_switchover_start(*local_seen.state, tally, masters, self_);
    if (!check.ok) return refuse(check.reason);
    log_.info("switchover in Sentinel mode: {}", check.reason);
    // A shared --config may carry pair mode's settings: said, not obeyed.
    if (!options_.maintenance_file.empty() || options_.peer_endpoint)
      log_.info(
          "--maintenance-file and --peer are not used in Sentinel mode: the sentinels "
          "choose the new master, and the VIP follows redis_check");
    warn_if_pause_outlasts_down_after(shortest_down_after(masters));
    return std::nullopt;
  }

  // A WRITE pause also holds PUBLISH, and with it the hello message each
  // sentinel publishes on its command link to this master every 2 s; the
  // PINGs queued behind it go unanswered, and once a sentinel has had no
  // reply for down-after-milliseconds it sees the master down (s_down), a
  // quorum of them o_down, and they start a failover of their own. Measured
  // with down-after-milliseconds 1000 (Redis 7.0.15, 3 sentinels, 8 WRITE
  // pauses of 4 s): the earliest +sdown came 1.72 s into a pause; a 6 s pause
  // was failed over. The switchover's pause lasts the replicas' catch-up
  // (milliseconds) and Sentinel's promotion (about a second: the failover's
  // leader reads the promoted replica's INFO once a second), so it stays
  // clear of any down-after that leaves room for that; its bound is said
  // here when it does not.
  void warn_if_pause_outlasts_down_after(long long down_after_ms) {
    long long bound = 2 * options_.switchover_timeout.count() +
                      static_cast<long long>(sentinels_.size() + 1) * options_.timeout.count();
    if (down_after_ms > 0 && bound >= down_after_ms)
      log_.warning(
          "this master's writes may stay paused for up to {} ms (twice --switchover-timeout-ms, "
          "and the sentinels' replies), longer than the sentinels' down-after-milliseconds {}: a "
          "pause that long would make them see it down and fail it over on their own (a lower "
          "--switchover-timeout-ms, or a longer down-after-milliseconds, keeps clear of that)",
          bound, down_after_ms);
  }

  ConnectionOptions replica_connection(const Endpoint& replica) const {
    ConnectionOptions connection = local_connection(options_);
    connection.host = replica.host;
    connection.port = replica.port;
    return connection;
  }

  // With this master's writes held, waits until every replica its INFO
  // lists has applied all of them: Sentinel may promote any of them.
  // nullopt once they have, else the verdict (nothing changed).
  std::optional<ExitCode> wait_replicas_caught_up() {
    RedisState paused = read_info(local());
    ReplicaWait plan = plan_replica_wait(paused);
    if (!plan.refusal.empty()) return refuse(plan.refusal + "; unpaused");
    log_.info(
        "waiting for {} replica{} to apply every write up to offset {} (writes paused in "
        "windows of {} ms)",
        plan.replicas.size(), plan.replicas.size() == 1 ? "" : "s", paused.master_repl_offset,
        pause_window().count());
    std::vector<std::optional<Connection>> links(plan.replicas.size());
    std::vector<bool> done(plan.replicas.size(), false);
    auto waiting_since = Clock::now();
    auto deadline = waiting_since + options_.switchover_timeout;
    for (;;) {
      if (InterruptGuard::interrupted()) return interrupted();
      std::string behind = first_behind(plan.replicas, links, done, paused);
      if (behind.empty()) break;
      if (Clock::now() >= deadline)
        return refuse(
            fmt::format("{}, after a wait of {} ms (--switchover-timeout-ms {}); unpaused", behind,
                        ms_since(waiting_since), options_.switchover_timeout.count()));
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      keep_paused();
    }
    caught_up_ms_ = ms_since(started_);
    log_.info("every replica applied every write (offset {}) after {} ms",
              paused.master_repl_offset, caught_up_ms_);
    return std::nullopt;
  }

  // The first replica that has not applied every write of `paused` yet,
  // described ("" when none): a replica that has stays so, since this
  // master's writes are held.
  std::string first_behind(const std::vector<Endpoint>& replicas,
                           std::vector<std::optional<Connection>>& links, std::vector<bool>& done,
                           const RedisState& paused) {
    for (std::size_t i = 0; i < replicas.size(); ++i) {
      if (done[i]) continue;
      Observation seen = observe(links[i], replica_connection(replicas[i]));
      if (!seen.answered())
        return fmt::format("replica {} does not answer ({})", replicas[i].text(), seen.error);
      done[i] = switchover_caught_up(*seen.state, paused.master_replid, paused.master_repl_offset);
      if (!done[i])
        return fmt::format("replica {} has not applied every write (applied {}, this master {})",
                           replicas[i].text(), seen.state->slave_repl_offset,
                           paused.master_repl_offset);
    }
    return {};
  }

  // SENTINEL FAILOVER on one sentinel: the first configured one, and the
  // next when one refuses (-INPROG, -NOGOODSLAVE, an error) or cannot be
  // reached. Any of them can run it: a forced failover skips the election
  // (the sentinel asked leads it in a new epoch on its own vote), and all of
  // them named this node a moment ago. The operator's order makes the
  // choice predictable, so that the log names the sentinel whose own log
  // tells the failover's steps. The others learn the new master from the
  // leader's hello messages through the promoted replica. No reply at all
  // is no refusal: that sentinel may be failing over, and asking another
  // would start a second failover.
  std::optional<ExitCode> ask_failover() {
    std::string refusals;
    for (std::size_t i = 0; i < sentinels_.size(); ++i) {
      if (InterruptGuard::interrupted()) return interrupted();
      keep_paused();
      const std::string sentinel = sentinels_[i].endpoint().text();
      FailoverRequest request =
          request_failover(sentinels_[i], options_.master_name, Clock::now() + options_.timeout);
      if (request.answer == FailoverAnswer::accepted || request.answer == FailoverAnswer::unknown) {
        leader_ = i;
        failover_sent_ = true;
        log_.info("SENTINEL FAILOVER {} sent to {}: {}", options_.master_name, sentinel,
                  request.answer == FailoverAnswer::accepted
                      ? std::string("accepted")
                      : "no reply (" + request.detail + "); it may be failing over");
        return std::nullopt;
      }
      log_.warning("sentinel {} {} SENTINEL FAILOVER: {}", sentinel,
                   request.answer == FailoverAnswer::refused ? "refused" : "could not be sent",
                   request.detail);
      refusals += fmt::format("{}{}: {}", refusals.empty() ? "" : "; ", sentinel, request.detail);
    }
    return refuse(fmt::format("no sentinel ran SENTINEL FAILOVER ({}); unpaused", refusals));
  }

  // Asks the sentinels until a strict majority names another master, this
  // node's writes held all along, bounded by --switchover-timeout-ms; at the
  // bound, one last answer decides (decide_sentinel_handover).
  SentinelHandover wait_new_master() {
    auto deadline = Clock::now() + options_.switchover_timeout;
    for (;;) {
      bool time_up = Clock::now() >= deadline;
      std::vector<SentinelView> views =
          query_sentinels(sentinels_, options_.master_name, Clock::now() + options_.timeout);
      SentinelTally tally = tally_sentinels(views, sentinels_.size());
      SentinelHandover handover =
          decide_sentinel_handover(tally, views.at(leader_), self_, time_up);
      if (handover.step != HandoverStep::wait) {
        named_ms_ = ms_since(started_);
        return handover;
      }
      hold_writes();
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  // keep_paused() that does not give up: a lost connection is opened again
  // (CLIENT PAUSE is the server's, not the connection's) and the window
  // renewed through it.
  void hold_writes() {
    try {
      local();
      keep_paused();
    } catch (const RedisError& error) {
      local_.reset();
      log_.repeated_warning("sentinel-switchover-pause",
                            fmt::format("cannot renew the pause of this node's writes ({}); it "
                                        "ends by itself within {} ms",
                                        error.what(), pause_window().count()));
    }
  }

  ExitCode hand_over(const SentinelHandover& handover) {
    if (handover.step == HandoverStep::unknown)
      return end_fenced(Verdict::switchover_unknown,
                        fmt::format("SENTINEL FAILOVER was sent, but after {} ms {}",
                                    options_.switchover_timeout.count(), handover.reason));
    const Endpoint& new_master = *handover.new_master;
    if (!demote_self(new_master))
      return end_fenced(Verdict::handover_unconfirmed,
                        fmt::format("{}, but this node could not be made its replica",
                                    handover.reason));
    persist_role();
    std::string timing = fmt::format(
        "writes paused {} ms (the replicas caught up after {} ms, the new master named after "
        "{} ms)",
        paused_ms_, caught_up_ms_, named_ms_);
    if (!handover.confirmed)
      return finish(Verdict::handover_unconfirmed,
                    fmt::format("this node replicates {}; {}; {}", new_master.text(),
                                handover.reason, timing));
    return finish(Verdict::switched_over, fmt::format("{} is master, this node its replica; {}",
                                                      new_master.text(), timing));
  }

  // MULTI; CLIENT UNPAUSE; REPLICAOF host port; EXEC (redis/redis#8170):
  // the writes held since the pause are let go together with the role
  // change, so they meet a replica (-READONLY) and this node takes no write
  // after the new master's promotion. INFO must then show it a replica of
  // the new master. A transaction without a reply is read again (it may
  // have run) and, while this node is still a master, tried once more.
  bool demote_self(const Endpoint& new_master) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      try {
        Connection& server = local();
        keep_paused();
        replicaof_unpausing(server, new_master);
        paused_ms_ = pause_->held_for().count();
        pause_->lifted();
        pause_.reset();
      } catch (const RedisError& error) {
        local_.reset();
        log_.warning("MULTI; CLIENT UNPAUSE; REPLICAOF {}; EXEC failed here: {}", new_master.text(),
                     error.what());
      }
      std::optional<RedisState> seen =
          read_again_after_unknown(local_, local_connection(options_),
                                   Clock::now() + options_.timeout * 4,
                                   std::chrono::milliseconds(10), [&] { hold_writes(); });
      if (seen && replicates(*seen, new_master)) {
        log_.info("this node replicates the new master {}", new_master.text());
        return true;
      }
    }
    return false;
  }

  // The transaction itself. Throws RedisError when it did not run whole:
  // an EXEC that ran CLIENT UNPAUSE but not REPLICAOF leaves a writable
  // master, so its writes are held again at once.
  void replicaof_unpausing(Connection& server, const Endpoint& new_master) {
    server.command_ok({"MULTI"});
    server.command_ok({"CLIENT", "UNPAUSE"});
    server.command_ok({"REPLICAOF", new_master.host, std::to_string(new_master.port)});
    Reply exec = server.command_ok({"EXEC"});
    bool whole = exec.type == Reply::Type::array && exec.elements.size() == 2 &&
                 !exec.elements[0].is_error() && !exec.elements[1].is_error();
    if (whole) return;
    std::string why = exec.elements.size() == 2 && exec.elements[1].is_error()
                          ? exec.elements[1].text
                          : std::string("not two replies");
    pause_->lifted();
    pause_.emplace(log_, local_, "local", pause_window());
    throw ReplyError("EXEC", fmt::format("the transaction did not run whole: {}", why));
  }

  // The demoted node's role kept across a restart (CONFIG REWRITE, as
  // Sentinel does after its own REPLICAOF), once a fence the toolkit set
  // earlier is lifted: redis.conf must not keep one.
  void persist_role() {
    try {
      std::unique_ptr<InstanceState> records = open_records();
      std::string lifted = apply_sentinel_fence(local(), records.get(), SentinelFenceStep::lift,
                                                static_cast<int>(options_.fence_max_lag.count()),
                                                Clock::now() + options_.timeout);
      if (!lifted.empty()) log_.info("{}", lifted);
      local().command_ok({"CONFIG", "REWRITE"});
    } catch (const RedisError& error) {
      log_.warning(
          "CONFIG REWRITE here failed ({}): a restart brings this node back as a "
          "master, which redis_check fences and Sentinel converts",
          error.what());
    }
  }

  // After SENTINEL FAILOVER, a way out on which this node may still be a
  // master: fenced (sentinel_fence: min-replicas-to-write beyond any replica
  // set) before its pause ends, so that it acknowledges no write that the
  // failover could discard. redis_check lifts the fence once the majority
  // names this node again, or after Sentinel has made it a replica.
  ExitCode end_fenced(Verdict verdict, const std::string& detail) {
    std::string fence;
    try {
      std::unique_ptr<InstanceState> records = open_records();
      fence = apply_sentinel_fence(local(), records.get(), SentinelFenceStep::fence,
                                   static_cast<int>(options_.fence_max_lag.count()),
                                   Clock::now() + options_.timeout);
    } catch (const std::runtime_error& error) {  // RedisError, StateError
      fence = fmt::format("not fenced: {}", error.what());
    }
    if (pause_) paused_ms_ = pause_->held_for().count();
    pause_.reset();
    log_.warning("{}; this node: {}; unpaused after {} ms", detail, fence, paused_ms_);
    return finish(verdict, fmt::format("{}; this node: {}", detail, fence));
  }

  // The hooks' records (the fence's record), when the state dir exists and
  // can be trusted; nullptr otherwise (the fence is then recognised by its
  // value).
  std::unique_ptr<InstanceState> open_records() const {
    try {
      return std::make_unique<InstanceState>(options_.state_dir, options_.instance,
                                             InstanceState::Access::existing_only);
    } catch (const std::runtime_error&) {  // UsageError, UnsafeStateDir, StateError
      return nullptr;
    }
  }

  std::vector<ConnectionOptions> sentinels_;
  Endpoint self_;
  long long caught_up_ms_ = 0;
  long long named_ms_ = 0;
  long long paused_ms_ = 0;
  std::size_t leader_ = 0;  // the sentinel that was sent SENTINEL FAILOVER
  bool failover_sent_ = false;
};

}  // namespace

ExitCode run_sentinel_switchover(const ToolOptions& given) {
  ToolOptions options = given;
  if (options.switchover_status || options.rejoin || options.stay_out)
    throw UsageError(
        "--status, --rejoin and --stay-out belong to pair mode's maintenance file: in Sentinel "
        "mode the VIP follows redis_check, and the old master stays the new one's replica");
  resolve_password(options);
  return SentinelSwitchover(options).run();
}

}  // namespace rk
