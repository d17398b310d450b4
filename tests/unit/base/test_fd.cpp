// The descriptor guards every open file goes through: Fd (one owner, closed
// on every path), TempFile (a whole file or none) and DirListing.

#include "catch_compat.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <regex>
#include <set>
#include <string>
#include <utility>

#include "rk/dir_listing.hpp"
#include "rk/fd.hpp"
#include "rk/temp_file.hpp"
#include "temp_dir.hpp"

using namespace rk;
using rk_test::content_of;
using rk_test::TempDir;

namespace {

bool is_open(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

int open_null() {
  int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  return fd;
}

}  // namespace

TEST_CASE("Fd closes its descriptor when it goes", "[fd]") {
  int raw = open_null();
  {
    Fd fd(raw);
    CHECK(fd.valid());
    CHECK(fd.get() == raw);
  }
  CHECK_FALSE(is_open(raw));
  CHECK_FALSE(Fd().valid());
  CHECK_FALSE(Fd(-1).valid());
}

TEST_CASE("Fd has one owner: a move hands the descriptor over", "[fd]") {
  int raw = open_null();
  Fd first(raw);
  Fd second(std::move(first));
  CHECK_FALSE(first.valid());  // NOLINT(bugprone-use-after-move): the point of the test
  CHECK(second.get() == raw);

  // Move assignment closes what the target held.
  int other = open_null();
  Fd third(other);
  third = std::move(second);
  CHECK_FALSE(is_open(other));
  CHECK(third.get() == raw);
  CHECK(is_open(raw));
  third.reset();
  CHECK_FALSE(is_open(raw));
}

TEST_CASE("Fd::release gives up the descriptor without closing it", "[fd]") {
  int raw = open_null();
  {
    Fd fd(raw);
    CHECK(fd.release() == raw);
    CHECK_FALSE(fd.valid());
  }
  CHECK(is_open(raw));
  ::close(raw);
}

TEST_CASE("Fd::reset closes the old descriptor and owns the new one", "[fd]") {
  int first = open_null();
  int second = open_null();
  Fd fd(first);
  fd.reset(second);
  CHECK_FALSE(is_open(first));
  CHECK(fd.get() == second);
}

TEST_CASE("Fd::close reports close()'s result and owns nothing after", "[fd]") {
  int raw = open_null();
  Fd fd(raw);
  CHECK(fd.close() == 0);
  CHECK_FALSE(fd.valid());
  CHECK_FALSE(is_open(raw));
  CHECK(fd.close() == 0);  // nothing left to close
  // A descriptor closed behind the guard's back: EBADF, reported.
  Fd stale(open_null());
  ::close(stale.get());
  CHECK(stale.close() == EBADF);
}

TEST_CASE("TempFile is removed unless committed", "[temp_file]") {
  TempDir dir;
  Fd dir_fd(::open(dir.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  REQUIRE(dir_fd.valid());
  {
    TempFile temp(dir_fd.get(), "state", 0600);
    REQUIRE(temp.open_error() == 0);
    CHECK(std::regex_match(temp.name(), std::regex("state\\." + std::to_string(::getpid()) +
                                                   "\\.[0-9a-f]{8}\\.tmp")));
    CHECK(dir.names() == std::set<std::string>{temp.name()});
    REQUIRE(::write(temp.fd(), "half", 4) == 4);
  }
  CHECK(dir.names().empty());
}

TEST_CASE("TempFile::commit renames it over the target, which then stays", "[temp_file]") {
  TempDir dir;
  std::string target = dir.file("target", "old\n");
  Fd dir_fd(::open(dir.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  REQUIRE(dir_fd.valid());
  {
    TempFile temp(dir_fd.get(), "target", 0640);
    REQUIRE(temp.open_error() == 0);
    REQUIRE(::write(temp.fd(), "new\n", 4) == 4);
    CHECK(temp.close() == 0);
    CHECK(content_of(target) == "old\n");  // readers see the old file until the rename
    CHECK(temp.commit("target") == 0);
  }
  CHECK(content_of(target) == "new\n");
  CHECK(dir.names() == std::set<std::string>{"target"});
  struct stat info {};
  REQUIRE(::stat(target.c_str(), &info) == 0);
  CHECK((info.st_mode & 07777) == 0640);
}

TEST_CASE("TempFile::commit replaces a symlink at the target, never its target", "[temp_file]") {
  TempDir dir;
  std::string victim = dir.file("victim", "untouched\n");
  std::string link = dir.path_of("target");
  REQUIRE(::symlink(victim.c_str(), link.c_str()) == 0);
  Fd dir_fd(::open(dir.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  REQUIRE(dir_fd.valid());
  TempFile temp(dir_fd.get(), "target", 0600);
  REQUIRE(::write(temp.fd(), "new\n", 4) == 4);
  CHECK(temp.commit("target") == 0);
  CHECK(content_of(victim) == "untouched\n");
  struct stat info {};
  REQUIRE(::lstat(link.c_str(), &info) == 0);
  CHECK(S_ISREG(info.st_mode));
}

TEST_CASE("TempFile reports why it could not be made or renamed", "[temp_file]") {
  TempDir dir;
  {
    TempFile temp(-1, "x", 0600);
    CHECK(temp.open_error() == EBADF);
    CHECK(temp.fd() == -1);
  }
  Fd dir_fd(::open(dir.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  REQUIRE(dir_fd.valid());
  {
    TempFile temp(dir_fd.get(), "x", 0600);
    REQUIRE(temp.open_error() == 0);
    // A rename into a missing directory fails; the temp file is still removed.
    CHECK(temp.commit("missing/x") == ENOENT);
  }
  CHECK(dir.names().empty());
}

TEST_CASE("DirListing lists every entry, whatever the caller read before", "[dir_listing]") {
  TempDir dir;
  dir.file("a", "");
  dir.file("b", "");
  Fd dir_fd(::open(dir.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  REQUIRE(dir_fd.valid());
  for (int round = 0; round < 2; ++round) {
    // The second listing shares the file offset the first moved to the end.
    DirListing listing(dir_fd.get());
    REQUIRE(listing.error() == 0);
    std::set<std::string> names;
    while (const char* name = listing.next()) names.insert(name);
    CHECK(names == std::set<std::string>{".", "..", "a", "b"});
  }
  CHECK(is_open(dir_fd.get()));  // the caller's descriptor outlives the listings
}

TEST_CASE("DirListing of a descriptor that is not a directory says why", "[dir_listing]") {
  TempDir dir;
  Fd file(::open(dir.file("f", "x").c_str(), O_RDONLY | O_CLOEXEC));
  REQUIRE(file.valid());
  DirListing listing(file.get());
  CHECK(listing.error() == ENOTDIR);
  CHECK(listing.next() == nullptr);
  CHECK(DirListing(-1).error() == EBADF);
}
