#pragma once

#include <optional>
#include <string>

// keepalived's track_file (2.2.7): keepalived watches the file's directory
// with inotify and reads the number in the file when it is written or moved
// in; a missing file reads as 0. With weight 0, non-zero puts the instance
// in FAULT. redis_watch writes the health file, redis_switchover the
// maintenance file.
namespace rk {

// The directory that holds `path` ("/" for "/file").
std::string parent_directory(const std::string& path);

// Who acts on a file the tools write, for the messages that refuse its
// directory.
enum class OutputFile {
  track_file,  // --track-file, --maintenance-file: keepalived reads it as root
  textfile,    // --textfile: node_exporter exports what the directory holds
};

// Checks `dir` with the state dir's trust rules (open_trusted_dir): a real
// directory, owned by the running user or root, writable by nobody else.
// Whoever else can write there can replace the file, and keepalived acts
// on a track_file as root. Throws UnsafeStateDir (exit 2) naming `option`
// and saying how to fix it. A missing directory passes (returns false): a
// write then fails with StateError, as it always did; true when it exists.
bool require_trusted_directory(const std::string& dir, const char* option, OutputFile kind);

// Replaces `path` with `content` so that readers see the old file or the
// new one, never half of it: a temp file in the same directory (its name
// ends in .tmp), renamed over the target. The directory is opened once and
// checked as require_trusted_directory does, and both steps work relative
// to it: the temp file is created exclusively and never through a symlink,
// and the rename replaces a symlink at `path` instead of following it.
// `kind` says who acts on the file, for a refusal's message. Throws
// UnsafeStateDir for an untrusted directory, StateError otherwise.
void replace_file(const std::string& path, const std::string& content, OutputFile kind);

// Writes `value` (and a newline) to `path` as keepalived reads it whole
// (replace_file: inotify reports IN_MOVED_TO). Throws as replace_file.
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
