// redis_switchover: a planned move of the VIP to the peer, losing nothing
// and refusing as few writes as possible. Run on the VIP holder. Like
// Redis's FAILOVER: pause this master's writes, wait until the peer has
// applied all of them, promote the peer, make this node its replica, then
// hand the VIP over through keepalived's maintenance track_file (1 puts this
// node in FAULT; the peer, already master, keeps the data). The peer's
// notify_master then finds itself master with every write: no pause, no
// resync.

#include <fstream>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "rk/bounded_file.hpp"
#include "rk/decisions.hpp"
#include "rk/errors.hpp"
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
    if (!track_file_configured(read_whole_file(options_.keepalived_conf), flag))
      throw UsageError(fmt::format(
          "{} does not track {} in a track_file block: writing it would not move the VIP (see "
          "redis_switchover(1))",
          options_.keepalived_conf, flag));
    if (options_.rejoin) {
      write_track_file(flag, 0);
      log_.info("maintenance off: {} = 0; this node takes part in the election again", flag);
      return ExitCode::success;
    }
    return switch_over();
  }

 private:
  ExitCode refuse(const std::string& why) {
    log_.warning("switchover refused, nothing changed: {}", why);
    log_.info("verdict=switchover-refused exit=1");
    return ExitCode::failure;
  }

  std::string recorded_transition() const {
    try {
      InstanceState state(options_.state_dir, options_.instance, InstanceState::Access::read_only);
      return record_field(state.read_record(), "state");
    } catch (const StateError& error) {
      throw UsageError(fmt::format("cannot read the state dir: {}", error.what()));
    }
  }

  ExitCode switch_over() {
    auto started = Clock::now();
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
    pause.emplace(log_, local_, "local", options_.switchover_timeout * 2);
    RedisState paused = read_info(*local_);
    auto deadline = Clock::now() + options_.switchover_timeout;
    RedisState peer_state;
    for (;;) {
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
    }
    long long caught_up_ms = ms_since(started);
    log_.info("the peer applied every write (offset {}) after {} ms", paused.master_repl_offset,
              caught_up_ms);

    try {
      peer_->command_ok({"REPLICAOF", "NO", "ONE"});
    } catch (const RedisError& error) {
      return refuse(
          fmt::format("REPLICAOF NO ONE on the peer failed ({}); unpaused, the VIP "
                      "stays",
                      error.what()));
    }
    log_.info("peer {} promoted", peer_endpoint.text());
    // From here the peer is the master with every write: nothing is rolled
    // back. A failure below leaves work to the hooks and is a warning.
    try {
      local_->command_ok({"REPLICAOF", peer_endpoint.host, std::to_string(peer_endpoint.port)});
      log_.info("this node now replicates {}", peer_endpoint.text());
    } catch (const RedisError& error) {
      log_.warning(
          "REPLICAOF {} here failed ({}); redis_backup repoints this node when it "
          "rejoins",
          peer_endpoint.text(), error.what());
    }
    write_track_file(options_.maintenance_file, 1);
    log_.info("maintenance on: {} = 1; keepalived moves the VIP to the peer",
              options_.maintenance_file);
    // A replica refuses writes (-READONLY): the clients held by the pause
    // learn so and reconnect through the VIP, which is moving.
    long long paused_ms = pause->held_for().count();
    pause.reset();
    for (auto [which, server] : {std::pair{"local", &local_}, std::pair{"peer", &peer_}}) {
      try {
        if (*server) (*server)->command_ok({"CONFIG", "REWRITE"});
      } catch (const RedisError& error) {
        log_.warning("{} CONFIG REWRITE failed: {}", which, error.what());
      }
    }

    bool handed_over = wait_for_fault(Clock::now() + options_.switchover_timeout);
    if (!handed_over)
      log_.warning(
          "keepalived has not recorded FAULT here within {} ms (notify_fault "
          "redis_fault); the VIP may still be here, on a replica, until redis_check "
          "gives it up",
          options_.switchover_timeout.count());
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
    log_.info(
        "verdict=switched-over exit=0 elapsed_ms={} writes paused {} ms (the peer caught up "
        "after {} ms)",
        ms_since(started), paused_ms, caught_up_ms);
    return ExitCode::success;
  }

  // keepalived records FAULT through notify_fault (redis_fault) once it has
  // read the maintenance value and left MASTER.
  bool wait_for_fault(Clock::time_point deadline) {
    while (Clock::now() < deadline) {
      if (recorded_transition() == "FAULT") return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  ToolOptions options_;
  Logger log_;
  std::optional<Connection> local_;
  std::optional<Connection> peer_;
};

}  // namespace

ExitCode run_switchover(const ToolOptions& given) {
  ToolOptions options = given;
  if (options.maintenance_file.empty())
    throw UsageError("--maintenance-file FILE is required (a track_file keepalived watches)");
  if (!options.peer_endpoint && !options.switchover_status && !options.rejoin)
    throw UsageError("no peer: give --peer or LOCAL_HOST PEER_HOST PORT");
  resolve_password(options);
  return Switchover(options).run();
}

}  // namespace rk
