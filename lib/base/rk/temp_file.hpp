#pragma once

#include <sys/types.h>

#include <string>

#include "rk/fd.hpp"

namespace rk {

// A file written under a fresh name in a directory and renamed over its
// target once complete, so that readers see the old file or the new one,
// never half of it. Removed on every path unless committed: a failed or
// aborted write leaves nothing behind. Failures are errno values; the
// callers word them.
class TempFile {
 public:
  // Creates PREFIX.PID.RANDOM.tmp in the directory open at `dir_fd`, with
  // `mode`: exclusively (never an existing file) and never through a
  // symlink. O_NONBLOCK: nothing here may wait on a FIFO. open_error() says
  // why when it could not (then fd() is -1).
  TempFile(int dir_fd, const std::string& prefix, mode_t mode);
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  // Closes the file, and unlinks it unless commit() renamed it.
  ~TempFile();

  int fd() const { return fd_.get(); }
  // The temp name, relative to the directory.
  const std::string& name() const { return name_; }
  // 0 when the file was created, else open()'s errno.
  int open_error() const { return open_error_; }
  // Closes the file now: 0, or close()'s errno (a write error that only
  // shows at close, as on NFS, means the content is not whole).
  int close() { return fd_.close(); }
  // Renames the file over `target` in the same directory (replacing a
  // symlink there, never following it): 0, or rename()'s errno. Once it
  // succeeded the file is no longer removed.
  int commit(const std::string& target);

 private:
  int dir_fd_;
  std::string name_;
  Fd fd_;
  int open_error_ = 0;
  bool committed_ = false;
};

}  // namespace rk
