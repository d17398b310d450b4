#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

// The one way the tools read a file an option names (--password-file,
// --config, --cacert, --cacertdir, --cert, --key, --keepalived-conf): a
// regular file only, opened without blocking, of bounded size, read under a
// deadline. A FIFO, a device or a huge file given by mistake then ends the
// tool at once with exit 2 and one line naming the file, instead of hanging
// it (keepalived cannot kill its notify hooks) or running it past its
// deadline.
namespace rk {

// Bounds, in bytes, of what each option may name. A PEM file holds a
// certificate chain, a key or a CA bundle: Debian's whole bundle
// (/etc/ssl/certs/ca-certificates.crt, about 140 CAs) is 215 KiB. OpenSSL
// parses a bundle at about 7 MiB/s here, so 1 MiB already costs a check
// about 0.13 s (4 MiB: 1.1 s, twice the default --timeout).
namespace file_bounds {
constexpr std::size_t pem_file = std::size_t{1} * 1024 * 1024;
// --cacertdir: the hashed names OpenSSL looks up (one CA each, as
// `openssl rehash` makes them); Debian's /etc/ssl/certs has 144 of them,
// 215 KiB in all.
constexpr std::size_t cacert_dir_files = 1000;
constexpr std::size_t cacert_dir_bytes = std::size_t{1} * 1024 * 1024;
constexpr std::size_t password_file = std::size_t{64} * 1024;
constexpr std::size_t config_file = std::size_t{1} * 1024 * 1024;
constexpr std::size_t keepalived_conf = std::size_t{8} * 1024 * 1024;
}  // namespace file_bounds

// How long reading one option's files may take: the files are local and
// small, so this only ends a read that stalls between chunks (a network
// file system, say) for the tools that have no deadline of their own yet.
constexpr std::chrono::seconds kFileReadBudget{2};

// What read_option_file accepts, and the name its errors give the file.
struct FileRule {
  std::string option;  // "--cert": every error starts with "OPTION PATH: "
  std::size_t max_bytes = 0;
  bool follow_symlink = true;  // false: a symlink is refused (the password file)
};

// A file's content and its mode bits (st_mode) as fstat() gave them.
struct FileContent {
  std::string bytes;
  mode_t mode = 0;
};

// Reads the whole file at `path` under `rule`, giving up at `deadline`.
// Throws UsageError "OPTION PATH: not a regular file" (a FIFO, a device, a
// directory), "OPTION PATH: too large (N bytes; the bound is M bytes)", a symlink
// when the rule refuses them, the system's reason when it cannot be opened
// or read, or the deadline.
FileContent read_option_file(const std::string& path, const FileRule& rule,
                             std::chrono::steady_clock::time_point deadline);

// One file of a directory read by read_option_directory.
struct NamedContent {
  std::string name;  // the entry's name in the directory
  std::string bytes;
};

// Reads the entries of the directory at `path` whose names `wanted` accepts,
// in name order, each as read_option_file does (symlinks followed; a
// dangling one is skipped, as OpenSSL's own directory lookup skips it).
// Throws UsageError "OPTION PATH: not a directory", more than `max_files`
// such entries, more than `max_total` bytes in all, or any entry that is
// not a regular file or too large (named "OPTION PATH/NAME: ...").
std::vector<NamedContent> read_option_directory(
    const std::string& path, const FileRule& rule, std::size_t max_files, std::size_t max_total,
    const std::function<bool(const std::string&)>& wanted,
    std::chrono::steady_clock::time_point deadline);

}  // namespace rk
