#include "rk/temp_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <random>

#include <fmt/format.h>

namespace rk {

TempFile::TempFile(int dir_fd, const std::string& prefix, mode_t mode)
    : dir_fd_(dir_fd),
      // The pid and a random number: a name no other run picks.
      name_(fmt::format("{}.{}.{:08x}.tmp", prefix, ::getpid(), std::random_device{}())) {
  fd_.reset(::openat(dir_fd_, name_.c_str(),
                     O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, mode));
  if (!fd_.valid()) open_error_ = errno;
}

TempFile::~TempFile() {
  fd_.reset();
  if (open_error_ == 0 && !committed_) ::unlinkat(dir_fd_, name_.c_str(), 0);
}

int TempFile::commit(const std::string& target) {
  if (::renameat(dir_fd_, name_.c_str(), dir_fd_, target.c_str()) != 0) return errno;
  committed_ = true;
  return 0;
}

}  // namespace rk
