#pragma once

#include <stdlib.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "catch_compat.hpp"

namespace rk_test {

// A temp dir removed (with what the test put in it) at the end of the test.
class TempDir {
 public:
  TempDir() {
    char name[] = "/tmp/rk-unit-XXXXXX";
    REQUIRE(::mkdtemp(name) != nullptr);
    path_ = name;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() { std::system(("rm -rf '" + path_ + "'").c_str()); }
  // Writes `content` to NAME in the dir; returns its path.
  std::string file(const std::string& name, const std::string& content) const {
    std::string path = path_ + "/" + name;
    std::ofstream(path) << content;
    return path;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace rk_test
