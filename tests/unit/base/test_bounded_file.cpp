// The bounded reader every file option goes through: regular files only,
// opened without blocking, of bounded size, whole directories bounded in
// count and bytes.

#include "catch_compat.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>

#include "rk/bounded_file.hpp"
#include "rk/errors.hpp"

using namespace rk;

namespace {

std::chrono::steady_clock::time_point soon() {
  return std::chrono::steady_clock::now() + std::chrono::seconds(5);
}

// A temp dir removed (with what the test put in it) at the end of the test.
class TempDir {
 public:
  TempDir() {
    char name[] = "/tmp/rk-unit-bounded-XXXXXX";
    REQUIRE(::mkdtemp(name) != nullptr);
    path_ = name;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() { std::system(("rm -rf '" + path_ + "'").c_str()); }
  std::string file(const std::string& name, const std::string& content) const {
    std::string path = path_ + "/" + name;
    std::ofstream(path) << content;
    return path;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

const FileRule kRule{"--opt", 16};

}  // namespace

TEST_CASE("read_option_file reads a regular file within its bound", "[bounded_file]") {
  TempDir dir;
  FileContent read = read_option_file(dir.file("f", "0123456789abcdef"), kRule, soon());
  CHECK(read.bytes == "0123456789abcdef");
  CHECK(S_ISREG(read.mode));
  CHECK(read_option_file(dir.file("empty", ""), kRule, soon()).bytes.empty());
}

TEST_CASE("read_option_file refuses, naming the option and the file", "[bounded_file]") {
  TempDir dir;
  SECTION("one byte over the bound, with the size and the bound") {
    std::string path = dir.file("f", "0123456789abcdefg");
    CHECK_THROWS_WITH(read_option_file(path, kRule, soon()),
                      "--opt " + path + ": too large (17 bytes; the bound is 16 bytes)");
  }
  SECTION("a FIFO, without blocking on it") {
    std::string fifo = dir.path() + "/fifo";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    // Opened without O_NONBLOCK, a FIFO with no writer would block here.
    CHECK_THROWS_WITH(read_option_file(fifo, kRule, soon()),
                      "--opt " + fifo + ": not a regular file (a FIFO)");
  }
  SECTION("a directory, a device, a missing file") {
    CHECK_THROWS_WITH(read_option_file(dir.path(), kRule, soon()),
                      rk_test::Contains("not a regular file (a directory)"));
    CHECK_THROWS_WITH(read_option_file("/dev/zero", kRule, soon()),
                      rk_test::Contains("not a regular file (a character device)"));
    CHECK_THROWS_WITH(read_option_file(dir.path() + "/none", kRule, soon()),
                      "--opt " + dir.path() + "/none: No such file or directory");
  }
  SECTION("a symlink: followed unless the rule refuses it") {
    std::string target = dir.file("target", "pem");
    std::string link = dir.path() + "/link";
    REQUIRE(::symlink(target.c_str(), link.c_str()) == 0);
    CHECK(read_option_file(link, kRule, soon()).bytes == "pem");
    FileRule strict{"--password-file", 16, false};
    CHECK_THROWS_WITH(read_option_file(link, strict, soon()),
                      "--password-file " + link + ": a symlink; refused");
  }
  SECTION("a deadline already passed") {
    std::string path = dir.file("f", "x");
    CHECK_THROWS_WITH(read_option_file(path, kRule,
                                       std::chrono::steady_clock::now() - std::chrono::seconds(1)),
                      rk_test::Contains("not read within the deadline"));
  }
}

TEST_CASE("read_option_directory reads the wanted entries, bounded", "[bounded_file]") {
  TempDir dir;
  auto wanted = [](const std::string& name) { return name.size() == 3 && name[0] == 'c'; };
  dir.file("c02", "two");
  dir.file("c01", "one");
  dir.file("other", "not wanted: never opened");
  SECTION("in name order, others left alone") {
    std::vector<NamedContent> files =
        read_option_directory(dir.path(), kRule, 10, 100, wanted, soon());
    REQUIRE(files.size() == 2);
    CHECK(files[0].name == "c01");
    CHECK(files[0].bytes == "one");
    CHECK(files[1].name == "c02");
  }
  SECTION("a dangling symlink is skipped, a link to a file followed") {
    REQUIRE(::symlink((dir.path() + "/none").c_str(), (dir.path() + "/c03").c_str()) == 0);
    REQUIRE(::symlink((dir.path() + "/c01").c_str(), (dir.path() + "/c04").c_str()) == 0);
    std::vector<NamedContent> files =
        read_option_directory(dir.path(), kRule, 10, 100, wanted, soon());
    REQUIRE(files.size() == 3);
    CHECK(files[2].bytes == "one");
  }
  SECTION("a FIFO among them, named with its directory") {
    REQUIRE(::mkfifo((dir.path() + "/c03").c_str(), 0600) == 0);
    CHECK_THROWS_WITH(read_option_directory(dir.path(), kRule, 10, 100, wanted, soon()),
                      "--opt " + dir.path() + "/c03: not a regular file (a FIFO)");
  }
  SECTION("too many files, too many bytes in all, one file too large") {
    CHECK_THROWS_WITH(read_option_directory(dir.path(), kRule, 1, 100, wanted, soon()),
                      rk_test::Contains("too many files (the bound is 1)"));
    CHECK_THROWS_WITH(read_option_directory(dir.path(), kRule, 10, 5, wanted, soon()),
                      rk_test::Contains("the bound is 5 bytes"));
    dir.file("c05", std::string(17, 'x'));
    CHECK_THROWS_WITH(read_option_directory(dir.path(), kRule, 10, 100, wanted, soon()),
                      rk_test::Contains("/c05: too large (17 bytes"));
  }
  SECTION("not a directory, without blocking on a FIFO") {
    std::string fifo = dir.path() + "/fifo";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    CHECK_THROWS_WITH(read_option_directory(fifo, kRule, 10, 100, wanted, soon()),
                      "--opt " + fifo + ": not a directory");
    CHECK_THROWS_WITH(read_option_directory(dir.path() + "/c01", kRule, 10, 100, wanted, soon()),
                      rk_test::Contains("not a directory"));
  }
}
