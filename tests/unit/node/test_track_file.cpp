// keepalived's track_file as the tools write and read it: a number and a
// newline, replaced whole (temp file + rename, so inotify reports
// IN_MOVED_TO and a reader never sees half a file), only in a directory
// that passes the state dir's trust rules, since keepalived acts on the
// file as root.

#include "catch_compat.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <optional>
#include <set>
#include <string>

#include "rk/errors.hpp"
#include "rk/track_file.hpp"
#include "temp_dir.hpp"

using namespace rk;
using rk_test::content_of;
using rk_test::TempDir;

TEST_CASE("track_file: the value written is the value read", "[track_file]") {
  TempDir dir;  // mkdtemp makes it 0700: the trust rules accept it
  std::string file = dir.path_of("health");
  for (long value : {0L, 1L, -254L, 100L}) {
    write_track_file(file, value);
    CHECK(content_of(file) == std::to_string(value) + "\n");
    CHECK(read_track_file(file) == value);
  }
  struct stat info {};
  REQUIRE(::stat(file.c_str(), &info) == 0);
  CHECK((info.st_mode & 07777) == 0644);  // keepalived may run as another user: readable
  CHECK(dir.names() == std::set<std::string>{"health"});  // no temp file left
}

TEST_CASE("track_file: replaced whole, never written in place", "[track_file]") {
  TempDir dir;  // mkdtemp makes it 0700: the trust rules accept it
  std::string file = dir.path_of("health");
  write_track_file(file, 0);
  // A second name for the old file: a rename leaves it as it was, a write
  // in place would change it.
  std::string old_link = dir.path_of("old");
  REQUIRE(::link(file.c_str(), old_link.c_str()) == 0);
  write_track_file(file, 1);
  CHECK(content_of(old_link) == "0\n");
  CHECK(content_of(file) == "1\n");
}

TEST_CASE("track_file: a symlink at the path is replaced, its target untouched", "[track_file]") {
  TempDir dir;  // mkdtemp makes it 0700: the trust rules accept it
  std::string victim = dir.file("victim", "precious\n");
  std::string file = dir.path_of("health");
  REQUIRE(::symlink(victim.c_str(), file.c_str()) == 0);
  write_track_file(file, 1);
  CHECK(content_of(victim) == "precious\n");
  struct stat info {};
  REQUIRE(::lstat(file.c_str(), &info) == 0);
  CHECK(S_ISREG(info.st_mode));
  CHECK(read_track_file(file) == 1);
}

TEST_CASE("read_track_file: as keepalived reads the file", "[track_file]") {
  TempDir dir;  // mkdtemp makes it 0700: the trust rules accept it
  CHECK(read_track_file(dir.path_of("missing")) == 0);  // keepalived: a missing file is 0
  CHECK(read_track_file(dir.file("empty", "")) == 0);
  CHECK(read_track_file(dir.file("spaces", "  7\n")) == 7);
  CHECK(read_track_file(dir.file("garbage", "yes\n")) == std::nullopt);
  CHECK(read_track_file(dir.file("huge", "99999999999999999999999\n")) == std::nullopt);
  CHECK(read_track_file(dir.path()) == std::nullopt);  // a directory cannot be read
  // A FIFO is opened without blocking: no writer reads as empty, at once.
  std::string fifo = dir.path_of("fifo");
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  CHECK(read_track_file(fifo) == 0);
}

TEST_CASE("replace_file: the directory must pass the trust rules", "[track_file]") {
  TempDir dir;  // mkdtemp makes it 0700: the trust rules accept it
  std::string file = dir.path_of("health");
  SECTION("writable by others: refused, naming who acts on the file, nothing written") {
    REQUIRE(::chmod(dir.path().c_str(), 0777) == 0);
    CHECK_THROWS_AS(write_track_file(file, 1), UnsafeStateDir);
    CHECK_THROWS_WITH(require_trusted_directory(dir.path(), "--track-file", OutputFile::track_file),
                      rk_test::Contains("--track-file: directory") &&
                          rk_test::Contains("writable by group or others") &&
                          rk_test::Contains("keepalived acts on the file as root"));
    CHECK_THROWS_WITH(require_trusted_directory(dir.path(), "--textfile", OutputFile::textfile),
                      rk_test::Contains("node_exporter exports whatever that directory holds"));
    CHECK(dir.names().empty());
  }
  SECTION("owned by another user: refused") {
    // Only root can give the directory away.
    if (::geteuid() == 0) {
      REQUIRE(::chown(dir.path().c_str(), 4321, 4321) == 0);
      CHECK_THROWS_WITH(write_track_file(file, 1), rk_test::Contains("owned by uid 4321"));
    } else {
      WARN("not root: the owner rule is not tried");
    }
  }
  SECTION("a symlink to a directory: refused") {
    std::string link = dir.path_of("link");
    std::string real = dir.path_of("real");
    REQUIRE(::mkdir(real.c_str(), 0700) == 0);
    REQUIRE(::symlink(real.c_str(), link.c_str()) == 0);
    CHECK_THROWS_AS(write_track_file(link + "/health", 1), UnsafeStateDir);
    CHECK(TempDir::names_in(real).empty());
  }
  SECTION("missing: passes the check, and a write fails with StateError") {
    std::string missing = dir.path_of("missing");
    CHECK_NOTHROW(require_trusted_directory(missing, "--track-file", OutputFile::track_file));
    CHECK_THROWS_AS(write_track_file(missing + "/health", 1), StateError);
    CHECK_THROWS_WITH(write_track_file(missing + "/health", 1),
                      rk_test::Contains("directory " + missing + " does not exist"));
  }
  SECTION("a 0700 directory of this user: written") {
    CHECK_NOTHROW(require_trusted_directory(dir.path(), "--track-file", OutputFile::track_file));
    write_track_file(file, 1);
    CHECK(read_track_file(file) == 1);
  }
}

TEST_CASE("parent_directory: the directory a track_file is replaced in", "[track_file]") {
  CHECK(parent_directory("/run/redis/health") == "/run/redis");
  CHECK(parent_directory("/health") == "/");
  CHECK(parent_directory("health") == ".");
}

TEST_CASE("describe_maintenance: the flag in words", "[track_file]") {
  CHECK(describe_maintenance("/m", 1) == "ON: this node stays out of the election (/m = 1)");
  CHECK(describe_maintenance("/m", 0) == "off (/m = 0)");
  CHECK(describe_maintenance("/m", std::nullopt) == "unknown (/m cannot be read)");
}
