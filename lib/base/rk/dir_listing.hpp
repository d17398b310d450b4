#pragma once

#include <dirent.h>

namespace rk {

// The entries of a directory that is open at `dir_fd`, read through a
// duplicate of that descriptor, which closedir() closes on every path. The
// caller's descriptor stays open, and stays usable for *at() calls.
class DirListing {
 public:
  // error() says why the listing could not be opened (an errno; 0 when it was).
  explicit DirListing(int dir_fd);
  DirListing(const DirListing&) = delete;
  DirListing& operator=(const DirListing&) = delete;
  ~DirListing();

  int error() const { return error_; }
  // The next entry's name ("." and ".." included), nullptr after the last.
  const char* next();

 private:
  DIR* listing_ = nullptr;
  int error_ = 0;
};

}  // namespace rk
