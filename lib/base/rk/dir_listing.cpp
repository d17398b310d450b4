#include "rk/dir_listing.hpp"

#include <unistd.h>

#include <cerrno>

#include "rk/fd.hpp"

namespace rk {

DirListing::DirListing(int dir_fd) {
  Fd duplicate(::dup(dir_fd));
  if (duplicate.valid()) listing_ = ::fdopendir(duplicate.get());
  if (listing_ == nullptr) {
    error_ = errno;
    return;
  }
  duplicate.release();  // closedir() closes it from here on
  // The duplicate shares the file offset with `dir_fd`: start at the top
  // whatever was read through it before.
  ::rewinddir(listing_);
}

DirListing::~DirListing() {
  if (listing_ != nullptr) ::closedir(listing_);
}

const char* DirListing::next() {
  if (listing_ == nullptr) return nullptr;
  const dirent* entry = ::readdir(listing_);
  return entry == nullptr ? nullptr : entry->d_name;
}

}  // namespace rk
