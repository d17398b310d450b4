// redis_watch: one long-lived connection to the local Redis, a PING every
// --interval-ms, and the verdict in keepalived's track_file (0 healthy, 1
// not), so that a crash or a hang moves the VIP at once instead of at the
// next vrrp_script run (keepalived 2.2.7 runs those at most once a second,
// and watches a track_file with inotify). --fall and --rise count PINGs in
// a row before the value changes (ProbeHysteresis), as keepalived's
// vrrp_script does, so that one short stall need not move the VIP. Whenever
// it stops (a signal, or an error it cannot go on after) it removes the
// file: keepalived reads a missing file as 0, and redis_check alone decides.

#include <poll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

#include "rk/decisions.hpp"
#include "rk/errors.hpp"
#include "rk/fd.hpp"
#include "rk/fence.hpp"
#include "rk/hooks.hpp"
#include "rk/instance_state.hpp"
#include "rk/log.hpp"
#include "rk/metrics.hpp"
#include "rk/replication_info.hpp"
#include "rk/sentinel_mode.hpp"
#include "rk/status_report.hpp"
#include "rk/track_file.hpp"

namespace rk {
namespace {

// SIGTERM, SIGINT and SIGHUP arrive on a descriptor that the main loop
// polls beside the Redis socket: no handler runs in signal context.
Fd block_signals_to_fd() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  if (::sigprocmask(SIG_BLOCK, &set, nullptr) != 0)
    throw StateError(fmt::format("sigprocmask: {}", std::strerror(errno)));
  Fd fd(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!fd.valid()) throw StateError(fmt::format("signalfd: {}", std::strerror(errno)));
  return fd;
}

class Watcher {
 public:
  explicit Watcher(const ToolOptions& options)
      : options_(options),
        log_(log_options(options)),
        signals_(block_signals_to_fd()),
        hysteresis_(options.watch_fall, options.watch_rise) {
    log_.open_sinks();
    if (options_.sentinel_mode()) feed_.emplace(options_);
    try {
      state_.emplace(options_.state_dir, options_.instance, InstanceState::Access::existing_only);
      if (!state_->present())
        log_.warning("state dir {} does not exist: no heartbeat for redis_status",
                     options_.state_dir);
    } catch (const StateError& error) {
      log_.warning("state dir unusable ({}): no heartbeat for redis_status", error.what());
      state_.reset();
    }
  }
  Watcher(const Watcher&) = delete;
  Watcher& operator=(const Watcher&) = delete;

  ExitCode run() {
    log_.info("watching {} every {} ms (PING deadline {} ms, fall {}, rise {}), verdicts in {}",
              local_endpoint(options_).text(), options_.watch_interval.count(),
              options_.timeout.count(), options_.watch_fall, options_.watch_rise,
              options_.track_file);
    try {
      auto next_tick = Clock::now();
      for (;;) {
        std::string why;
        bool probe_healthy = probe(why);
        report(counted(probe_healthy, why), why, false);
        heartbeat();
        refresh_textfile();
        // A probe woken early by a closed socket leaves the schedule as it
        // was; a scheduled one moves it on (and a late one restarts it).
        auto now = Clock::now();
        if (now >= next_tick) next_tick += options_.watch_interval;
        if (next_tick < now) next_tick = now + options_.watch_interval;
        if (std::optional<ExitCode> done = wait_until(next_tick)) return *done;
      }
    } catch (const std::exception& error) {
      return stop(ExitCode::failure, fmt::format("error: {}", error.what()));
    }
  }

 private:
  // One PING with its own deadline, on the kept connection (reconnecting
  // when there is none). Any failure drops the connection.
  bool probe(std::string& why) {
    auto deadline = Clock::now() + options_.timeout;
    std::optional<Reply> reply;
    try {
      if (!connection_) connection_.emplace(Connection::open(local_connection(options_), deadline));
      reply = connection_->command({"PING"}, deadline);
      why = reply->is_error() ? reply->text : std::string("PONG");
    } catch (const RedisError& error) {
      why = error.what();
      connection_.reset();
    }
    bool healthy = ping_means_healthy(reply);
    if (!healthy) connection_.reset();  // LOADING, BUSY: ask again on a fresh one
    if (healthy && feed_) return sentinels_say(why);
    return healthy;
  }

  // Sentinel mode: the sentinels' majority must name this node's Redis, a
  // master (decide_sentinel_check), as redis_check's. Asked at once after a
  // +switch-master message and every kSentinelPollEvery otherwise (pub/sub
  // delivery is not guaranteed); between, the last verdict stands. A master
  // the majority does not name is fenced here too, at once.
  bool sentinels_say(std::string& why) {
    constexpr auto kSentinelPollEvery = std::chrono::seconds(1);
    auto now = Clock::now();
    if (sentinel_verdict_ && !sentinels_now_ && now < sentinels_due_) {
      why = sentinel_verdict_->reason;
      return sentinel_verdict_->passes;
    }
    sentinels_now_ = false;
    sentinels_due_ = now + kSentinelPollEvery;
    std::string problems = feed_->connect();
    if (!problems.empty()) log_.repeated_warning("subscribe", "+switch-master: " + problems);
    auto deadline = now + options_.timeout;
    try {
      Reply info = connection_->command({"INFO", "replication", "persistence"}, deadline);
      Result<RedisState> local = info.type == Reply::Type::string
                                     ? parse_info(info.text)
                                     : Result<RedisState>::failure("INFO: not a bulk string");
      if (!local) throw ProtocolError(local.error());
      const InstanceState* records = state_ && state_->present() ? &*state_ : nullptr;
      sentinel_verdict_ = judge_by_sentinels(options_, *local, records, deadline).verdict;
      std::string done = apply_sentinel_fence(*connection_, records, sentinel_verdict_->fence,
                                              static_cast<int>(options_.fence_max_lag.count()),
                                              Clock::now() + options_.timeout);
      if (!done.empty()) log_.warning("{}: {}", sentinel_verdict_->reason, done);
    } catch (const std::runtime_error& error) {  // RedisError, StateError
      why = error.what();
      connection_.reset();
      sentinel_verdict_.reset();
      return false;
    }
    why = sentinel_verdict_->reason;
    return sentinel_verdict_->passes;
  }

  // The probe counted by --fall/--rise: returns the verdict, and logs a
  // probe that disagrees with it without changing it yet.
  bool counted(bool probe_healthy, const std::string& why) {
    bool verdict = hysteresis_.observe(probe_healthy);
    if (verdict != probe_healthy)
      log_.repeated_info("hysteresis", fmt::format("{} ({}: {}): {} of {} in a row before {} = {}",
                                                   probe_healthy ? "PING answered" : "PING failed",
                                                   local_endpoint(options_).text(), why,
                                                   hysteresis_.disagreeing(), hysteresis_.needed(),
                                                   options_.track_file, probe_healthy ? 0 : 1));
    return verdict;
  }

  // Writes the track file at start and at every change, never on a tick
  // that changes nothing, and logs the change.
  void report(bool healthy, const std::string& why, bool force) {
    if (!force && healthy_ && *healthy_ == healthy && written_) return;
    bool changed = !healthy_ || *healthy_ != healthy;
    if (changed) {
      std::string was = healthy_ ? (*healthy_ ? "healthy" : "unhealthy") : "unknown";
      // The first verdict is the first probe's; later ones took `in_a_row`.
      int in_a_row = healthy ? options_.watch_rise : options_.watch_fall;
      std::string streak =
          healthy_ && in_a_row > 1 ? fmt::format(", {} in a row", in_a_row) : std::string();
      if (healthy)
        log_.info("health changed: {} -> healthy ({} answered {}{}); {} = 0", was,
                  local_endpoint(options_).text(), why, streak, options_.track_file);
      else
        log_.warning("health changed: {} -> unhealthy ({}: {}{}); {} = 1", was,
                     local_endpoint(options_).text(), why, streak, options_.track_file);
      healthy_ = healthy;
      since_ = utc_time_text();
    }
    // redis_check clears a 1 that a stopped watcher left behind only while
    // the record says "unhealthy", so the record never says "healthy" while
    // the file may still hold 1: recorded before a 1 is written, after a 0.
    if (!healthy) record("unhealthy");
    try {
      write_track_file(options_.track_file, healthy ? 0 : 1);
      written_ = true;
    } catch (const std::runtime_error& error) {  // StateError, UnsafeStateDir
      written_ = false;                          // try again next tick
      log_.repeated_warning("track-file", error.what());
    }
    if (healthy && written_) record("healthy");
  }

  // Writes the watch record when `health` differs from the recorded one.
  void record(const std::string& health) {
    if (!state_ || !state_->present() || recorded_health_ == health) return;
    WatchRecord record;
    record.generation = Generation::of_this_process();
    record.health = health;
    record.since = since_;
    record.track_file = options_.track_file;
    record.heartbeat_bound = watch_heartbeat_bound(options_.watch_interval, options_.timeout);
    record.sentinel_mode = options_.sentinel_mode();
    try {
      state_->write_watch(record.text());
      recorded_health_ = health;
      last_heartbeat_ = Clock::now();
    } catch (const StateError& error) {
      log_.repeated_warning("watch-record", error.what());
    }
  }

  // --textfile: the Prometheus figures for node_exporter, refreshed every
  // kTextfileEvery and at every change of health (gather_status reads both
  // nodes and the state dir, so not at every tick).
  void refresh_textfile() {
    if (options_.textfile_dir.empty()) return;
    constexpr auto kTextfileEvery = std::chrono::seconds(10);
    bool due = !textfile_written_ || Clock::now() - textfile_at_ >= kTextfileEvery ||
               textfile_health_ != healthy_;
    if (!due) return;
    textfile_at_ = Clock::now();
    textfile_health_ = healthy_;
    try {
      write_textfile(options_.textfile_dir, render_prometheus(gather_status(options_)));
      textfile_written_ = true;
    } catch (const std::runtime_error& error) {  // StateError, UnsafeStateDir
      log_.repeated_warning("textfile", error.what());
    }
  }

  void heartbeat() {
    if (!state_ || Clock::now() - last_heartbeat_ < std::chrono::seconds(1)) return;
    state_->touch_watch();
    last_heartbeat_ = Clock::now();
  }

  // Sleeps until `until`, waking at once when the Redis socket closes (a
  // crash: the next PING then fails without waiting for the tick) or a
  // signal arrives. Returns the exit code when the watcher must stop.
  std::optional<ExitCode> wait_until(Clock::time_point until) {
    for (;;) {
      auto now = Clock::now();
      if (now >= until) return std::nullopt;
      // Rounded up: a wait rounded down to 0 ms would probe again before
      // the tick, many times over.
      auto left = std::chrono::ceil<std::chrono::milliseconds>(until - now);
      std::vector<pollfd> fds = {{signals_.get(), POLLIN, 0}, {-1, POLLRDHUP, 0}};
      if (connection_) fds[1].fd = connection_->socket_fd();
      if (feed_) feed_->add_poll_fds(fds);
      int ready = ::poll(fds.data(), fds.size(), static_cast<int>(left.count()));
      if (ready < 0 && errno != EINTR)
        return stop(ExitCode::failure, fmt::format("poll: {}", std::strerror(errno)));
      if (ready <= 0) continue;
      if (fds[0].revents & POLLIN) {
        if (std::optional<ExitCode> done = on_signal()) return done;
      }
      // The server closed the connection (or sent something unasked for,
      // which no healthy Redis does): probe now.
      if (fds[1].revents != 0) return std::nullopt;
      if (feed_ && switch_announced(fds)) return std::nullopt;
    }
  }

  // A sentinel announced a switch of --master-name: ask the sentinels at
  // the next probe, which runs now.
  bool switch_announced(const std::vector<pollfd>& fds) {
    std::vector<std::string> switches = feed_->read(fds, 2);
    for (const std::string& change : switches) log_.info("+switch-master {}", change);
    if (switches.empty()) return false;
    sentinels_now_ = true;
    return true;
  }

  std::optional<ExitCode> on_signal() {
    signalfd_siginfo info{};
    if (::read(signals_.get(), &info, sizeof(info)) != static_cast<ssize_t>(sizeof(info)))
      return std::nullopt;
    if (info.ssi_signo == SIGHUP) {
      // logrotate: reopen the log file; rewrite the track file in case
      // someone changed it by hand.
      log_.reopen_log_file();
      log_.info("SIGHUP: log reopened, {} rewritten", options_.track_file);
      if (healthy_) report(*healthy_, "SIGHUP", true);
      return std::nullopt;
    }
    return stop(ExitCode::success,
                fmt::format("on {}", ::strsignal(static_cast<int>(info.ssi_signo))));
  }

  // Every way out of the loop: remove the track file and record "stopped".
  // keepalived reads a missing file as 0, so the node's health falls back to
  // redis_check's timing instead of staying in whatever state the watcher
  // last wrote: neither a stale 1 keeps a recovered node out nor a stale 0
  // keeps a dead Redis in.
  ExitCode stop(ExitCode code, const std::string& why) {
    if (::unlink(options_.track_file.c_str()) != 0 && errno != ENOENT)
      log_.warning("cannot remove {}: {}", options_.track_file, std::strerror(errno));
    since_ = utc_time_text();
    record("stopped");
    std::string line =
        fmt::format("stopping {}: {} removed; redis_check alone decides the health now", why,
                    options_.track_file);
    if (code == ExitCode::success)
      log_.info(line);
    else
      log_.warning(line);
    return code;
  }

  ToolOptions options_;
  Logger log_;
  Fd signals_;
  std::optional<InstanceState> state_;
  std::optional<Connection> connection_;
  ProbeHysteresis hysteresis_;
  std::optional<bool> healthy_;
  bool written_ = false;
  std::string recorded_health_;
  std::string since_;
  Clock::time_point last_heartbeat_{};
  bool textfile_written_ = false;
  Clock::time_point textfile_at_{};
  std::optional<bool> textfile_health_;
  // Sentinel mode only.
  std::optional<SwitchFeed> feed_;
  std::optional<SentinelCheck> sentinel_verdict_;
  Clock::time_point sentinels_due_{};
  bool sentinels_now_ = false;
};

// The state dir holds this instance's records as NAME.SUFFIX (NAME.watch is
// the watcher's own): a track file among them would be overwritten by a
// record, and keepalived would read the record's text as the value.
void refuse_record_path(const ToolOptions& options) {
  namespace fs = std::filesystem;
  fs::path track = fs::path(options.track_file).lexically_normal();
  fs::path records = fs::path(options.state_dir).lexically_normal();
  if (!records.has_filename()) records = records.parent_path();
  std::string name = track.filename().string();
  if (track.parent_path() == records && name.rfind(options.instance + ".", 0) == 0)
    throw UsageError(fmt::format(
        "--track-file {}: the state dir keeps instance {}'s records under that name ({}.*, "
        "{}.watch is this watcher's own); name the file otherwise, e.g. {}/redis_watch.track",
        options.track_file, options.instance, options.instance, options.instance,
        records.string()));
}

}  // namespace

ExitCode run_watch(const ToolOptions& given) {
  if (given.track_file.empty())
    throw UsageError("--track-file FILE is required (the file keepalived's track_file reads)");
  ToolOptions options = given;
  // keepalived acts on the track file as root: refuse a directory that
  // others may write in before anything is written (exit 2).
  require_trusted_directory(parent_directory(options.track_file), "--track-file",
                            OutputFile::track_file);
  refuse_record_path(options);
  if (!options.textfile_dir.empty())
    require_trusted_directory(options.textfile_dir, "--textfile", OutputFile::textfile);
  resolve_password(options);
  return Watcher(options).run();
}

}  // namespace rk
