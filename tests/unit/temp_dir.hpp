#pragma once

#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
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
  // NAME in the dir.
  std::string path_of(const std::string& name) const { return path_ + "/" + name; }
  // The names in the dir, "." and ".." left out.
  std::set<std::string> names() const { return names_in(path_); }

  static std::set<std::string> names_in(const std::string& dir) {
    std::set<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(dir))
      names.insert(entry.path().filename().string());
    return names;
  }

 private:
  std::string path_;
};

// The whole content of the file at `path` ("" when it cannot be read).
inline std::string content_of(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace rk_test
