#pragma once

#include <optional>
#include <string>

// keepalived's track_file (2.2.7): keepalived watches the file's directory
// with inotify and reads the number in the file when it is written or moved
// in; a missing file reads as 0. With weight 0, non-zero puts the instance
// in FAULT. redis_watch writes the health file, redis_switchover the
// maintenance file.
namespace rk {

// Replaces `path` with `content` so that readers see the old file or the
// new one, never half of it: a temp file in the same directory (its name
// ends in .tmp), renamed over the target. Throws StateError.
void replace_file(const std::string& path, const std::string& content);

// Writes `value` (and a newline) to `path` as keepalived reads it whole
// (replace_file: inotify reports IN_MOVED_TO). Throws StateError.
void write_track_file(const std::string& path, long value);

// The number in `path` as keepalived reads it: 0 for a missing or empty
// file, nullopt when it cannot be read or is not a number.
std::optional<long> read_track_file(const std::string& path);

// The maintenance flag (redis_switchover's track_file at `path`, holding
// `value` as read_track_file read it) in words, as redis_switchover
// --status and redis_status print it: "ON: this node stays out of the
// election (PATH = 1)", "off (PATH = 0)" or "unknown (PATH cannot be read)".
std::string describe_maintenance(const std::string& path, std::optional<long> value);

}  // namespace rk
