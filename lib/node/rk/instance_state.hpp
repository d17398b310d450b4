#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <string>

#include "rk/fd.hpp"

namespace rk {

// keepalived's state, as the hooks recorded it.
enum class Transition { master, backup, fault, stop };
const char* to_string(Transition transition);

// Orders hooks of one instance. keepalived forks notify scripts without
// waiting and without ordering (notify_master and notify_backup can overlap
// and run in either order), but it forks them in the order of the
// transitions, so a hook's generation is its process start time (clock ticks
// since boot, /proc/self/stat) with the pid as tie-break, and the boot id.
struct Generation {
  std::string boot_id;
  unsigned long long start_ticks = 0;
  long pid = 0;
  std::string text() const;
  // Parses text(); a default Generation when malformed.
  static Generation parse(const std::string& text);
  static Generation of_this_process();
  // True when this generation was forked after `other` (a record from an
  // earlier boot is always older).
  bool newer_than(const Generation& other) const;
  // False for a generation of this boot that claims a start after `now_ticks`
  // (clock ticks since boot): no process can have started in the future, so
  // such a record was forged or corrupted and must not supersede anyone.
  bool plausible(const std::string& this_boot, unsigned long long now_ticks) const;
};

// Clock ticks since boot now, on the clock /proc/PID/stat's start time uses.
unsigned long long boot_ticks_now();

// True when the process of `generation` still runs: its pid exists in this
// boot, is not a zombie (it exited, its parent has not reaped it yet), and
// started at the recorded time, so a reused pid does not count. A
// generation without a start time (0) or boot id matches on the pid alone.
bool generation_running(const Generation& generation);

// The per-instance files in the state dir: NAME.state (newest transition),
// NAME.lock (held while acting on Redis), NAME.last (last verdict),
// NAME.health (redis_check's last health), NAME.watch (redis_watch's
// state and heartbeat), NAME.fence (the write fence's owner) and NAME.stale
// (a known stale history).
//
// The state dir decides which hook may act on Redis, and the tools may run
// as root, so it is a trust boundary, checked the way ssh checks ~/.ssh: it
// must be a real directory (not a symlink), owned by the running user or by
// root, and writable by nobody else (UnsafeStateDir, exit 2, otherwise).
// Every file in it is opened relative to the directory, without following
// symlinks and without blocking, and anything that is not a regular file is
// refused. I/O failures (full disk, read-only mount, no permission) throw
// StateError.
class InstanceState {
 public:
  enum class Access {
    create,         // hooks: create the dir (0700) when missing
    existing_only,  // redis_check: write into the dir only when it exists
    read_only,      // redis_status: never write; a missing dir reads as empty
  };
  // Throws UsageError for a bad instance name, UnsafeStateDir for a dir
  // that must not be trusted, StateError when it cannot be created or opened.
  InstanceState(std::string dir, std::string instance, Access access = Access::create);
  InstanceState(const InstanceState&) = delete;
  InstanceState& operator=(const InstanceState&) = delete;

  // False when the dir does not exist (existing_only or read_only): reads
  // return nothing and writes are skipped.
  bool present() const { return dir_fd_.valid(); }

  // Records this process's transition unless a newer one is recorded.
  // Returns false when this hook is already superseded.
  bool record(Transition transition, const std::string& tool);
  // Same, as `generation` (tests use it to play several hooks in one process).
  bool record(Transition transition, const std::string& tool, const Generation& generation);
  // True when a newer hook recorded its transition after ours.
  bool superseded() const;
  // Takes the action lock, polling every `poll` so that a newer hook
  // supersedes a waiting one. Returns false when superseded first, or when
  // `deadline` passes.
  bool acquire_action_lock(std::chrono::steady_clock::time_point deadline,
                           std::chrono::milliseconds poll);
  // Writes the last verdict (one line) for status readers.
  void write_last(const std::string& line) const;

  // redis_check's last recorded health ("" when none).
  std::string read_health() const;
  void write_health(const std::string& health) const;
  // Marks the health as confirmed now (updates the file's mtime), so that a
  // reader can tell a check that stopped running from a healthy one.
  void touch_health() const;
  // Seconds since redis_check last wrote or confirmed its health; -1 if never.
  long long health_age_seconds() const;

  // redis_watch's record (key=value lines: pid, health, since, track_file)
  // and its heartbeat: the watcher touches it every second, so a reader
  // tells a watcher that stopped from a running one by its age.
  std::string read_watch() const;
  void write_watch(const std::string& record) const;
  void touch_watch() const;
  // Seconds since redis_watch last wrote or touched its record; -1 if never.
  long long watch_age_seconds() const;

  // The stale-history record (NAME.stale, key=value lines: see
  // StaleHistory in decisions.hpp): written by a hook that learns this node
  // holds an older history than its peer, read by redis_check, redis_master
  // and redis_status, removed once the node has resynced or by the operator.
  // "" when there is none.
  std::string read_stale() const;
  void write_stale(const std::string& record) const;
  // Removes the record; false when there was none. Throws StateError.
  bool remove_stale() const;

  // The metrics the hooks keep for redis_status --prometheus, in
  // NAME.metrics as "name{labels} value" lines (the Prometheus sample
  // syntax). `update` gets the current samples and changes them; the
  // read-modify-write runs under an flock on NAME.metrics.lock, so hooks
  // that overlap never lose each other's counts, and the file is replaced
  // whole. Throws StateError.
  using Metrics = std::map<std::string, double>;
  void update_metrics(const std::function<void(Metrics&)>& update) const;
  Metrics read_metrics() const;

  // The write fence's record (NAME.fence, see FenceRecord in decisions.hpp):
  // the operator's own min-replicas-* values and what the toolkit last set.
  std::string read_fence() const;
  void write_fence(const std::string& record) const;

  // The last hook's summary line ("" when none).
  std::string read_last() const;

  // Returns the newest transition record (key=value lines), or "" if none.
  std::string read_record() const;
  // True when the process that wrote the newest record still runs: its pid
  // exists in this boot with the start time of the recorded generation (so a
  // reused pid does not count).
  bool recorded_hook_running() const;
  const std::string& dir() const { return dir_; }

 private:
  std::string name(const char* suffix) const;
  std::string read(const char* suffix) const;
  void write(const char* suffix, const std::string& content) const;
  // The regular file NAME.SUFFIX (an invalid Fd when it is missing and
  // `flags` do not create it). Throws StateError.
  Fd open_regular(const char* suffix, int flags) const;
  void touch(const char* suffix) const;
  long long age_seconds(const char* suffix) const;
  std::string dir_;
  std::string instance_;
  Fd dir_fd_;
  Generation mine_;  // set by record()
  Fd lock_fd_;       // the action lock; closing it releases the flock
};

// redis_watch's record, NAME.watch: key=value lines that redis_status shows
// and redis_check reads to tell a watcher that stopped from a running one.
struct WatchRecord {
  Generation generation;                    // generation= (pid= alone in an older record)
  std::string health;                       // healthy, unhealthy (its track file says 1), stopped
  std::string since;                        // when the health last changed (utc_time_text)
  std::string track_file;                   // the file it writes
  std::chrono::seconds heartbeat_bound{3};  // watch_heartbeat_bound; 3 s in an older record
  bool sentinel_mode = false;  // its verdict is the sentinels' majority's (mode=sentinel)
  std::string text() const;
  static WatchRecord parse(const std::string& text);
};

// Opens `dir` (O_DIRECTORY, not following a symlink) after the checks the
// state dir gets: a real directory, owned by the running user or root, not
// writable by group or others. `create` makes a missing one (mode 0700);
// without it a missing dir returns an invalid Fd. `what` names it in
// messages ("state dir", "copy dir"). Throws UnsafeStateDir or StateError.
Fd open_trusted_dir(const std::string& dir, const char* what, bool create);

// Replaces `name` in the directory open at `dir_fd` (`dir` in messages)
// with `content`, so that readers see the old file or the new one, never
// half of it: a temp file (NAME.PID.RANDOM.tmp) created exclusively and
// never through a symlink, renamed over `name` (which replaces a symlink
// there instead of following it). Throws StateError.
void replace_in_dir(int dir_fd, const std::string& dir, const std::string& name,
                    const std::string& content, mode_t mode);

// Now, as records write it: 2026-11-30T20:12:33Z (UTC, whole seconds).
std::string utc_time_text();

// The value of `key` in a record of key=value lines ("" when absent).
std::string record_field(const std::string& record, const std::string& key);

}  // namespace rk
