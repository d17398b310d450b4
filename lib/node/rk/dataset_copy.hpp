#pragma once

#include <chrono>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "rk/redis_client.hpp"

// Kept copies of datasets that a resync is about to discard. Before a node
// drops writes that only it holds (the losing side of a split brain, or a
// node whose history is unrelated to its peer's after a restart from its
// files), the hooks fetch its whole dataset as an RDB file over the
// replication protocol (Connection::fetch_rdb) and keep it in the copy dir,
// so that no acknowledged write vanishes without a copy.
namespace rk {

// What a copy's file name says. The name is the record: nothing else is
// stored beside it, so a copy moved elsewhere still tells what it holds.
//   <time>_<source>_<replid>_<from>-<to>.rdb
//   20261130T201233.123Z_peer_1f0c..._1200-58811.rdb
// time: UTC when the copy was made; source: "local" or "peer" (seen from
// the node that kept it); replid: the history the copy holds; from: the
// fork offset after which its writes are the ones the resync discards (0
// when the histories are unrelated); to: the offset the copy holds.
struct CopyName {
  std::string time;
  std::string source;
  std::string replid;
  long long from_offset = 0;
  long long to_offset = 0;
  std::string text() const;
  // nullopt-like: an empty source when `file` is not a copy's name.
  static CopyName parse(std::string_view file);
  bool valid() const { return !source.empty(); }
};

struct KeptCopy {
  CopyName name;
  std::string file;  // the file name in the copy dir
  long long bytes = 0;
};

// The copies in `dir`, newest first; files whose names are not copies' are
// ignored. A missing dir has none. Throws UnsafeStateDir/StateError like
// the state dir.
std::vector<KeptCopy> list_kept_copies(const std::string& dir);

// A copy could not be made: the server refused or failed (permissions, a
// failed BGSAVE, a timeout) or the file could not be written (full disk,
// permission). Nothing was discarded.
class CopyFailed : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct CopyRequest {
  std::string dir;
  std::string source;          // "local" or "peer"
  long long fork_offset = 0;   // 0 when the histories are unrelated
  Clock::time_point deadline;  // for the whole copy
  int keep_count = 5;          // retention, applied after a copy is written
  long long keep_bytes = 0;
  // Called at least every `wait_slice` while the copy waits for the server
  // (a hook passes its check for a newer hook): an exception it throws
  // aborts the copy, removes the partial file and passes through.
  std::function<void()> between_waits;
  std::chrono::milliseconds wait_slice{1000};
};

struct CopyOutcome {
  KeptCopy copy;
  long long elapsed_ms = 0;
  std::vector<std::string> pruned;  // older copies removed by the retention
};

// Fetches the dataset of the server at `server` into a new copy in
// `request.dir` (created 0700 when missing; a temp file renamed into place
// once complete and fsynced), then removes the copies beyond the retention
// (never the new one). Throws CopyFailed (a copy dir that must not be
// trusted included), or what `request.between_waits` throws; no partial
// file is left behind either way.
CopyOutcome keep_dataset_copy(const ConnectionOptions& server, const CopyRequest& request);

// Why `dir` cannot take a copy now ("" when it can): unsafe (a symlink,
// writable by group or others, owned by someone else), missing, unreadable,
// or not writable by the running user. `create` makes a missing one (0700)
// first, as the hooks do.
std::string copy_dir_problem(const std::string& dir, bool create);

}  // namespace rk
