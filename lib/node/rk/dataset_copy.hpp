#pragma once

#include <chrono>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "rk/clock.hpp"
#include "rk/kept_copy.hpp"
#include "rk/redis_client.hpp"

// Kept copies of datasets that a resync is about to discard. Before a node
// drops writes that only it holds (the losing side of a split brain, or a
// node whose history is unrelated to its peer's after a restart from its
// files), the hooks fetch its whole dataset as an RDB file over the
// replication protocol (Connection::fetch_rdb) and keep it in the copy dir,
// so that no acknowledged write vanishes without a copy.
namespace rk {

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
