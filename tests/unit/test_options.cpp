#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "rk/errors.hpp"
#include "rk/options.hpp"

using namespace rk;

namespace {

std::string temp_file(const std::string& content, mode_t mode) {
  char path[] = "/tmp/rk-test-password-XXXXXX";
  int fd = ::mkstemp(path);
  REQUIRE(fd >= 0);
  REQUIRE(::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()));
  ::close(fd);
  REQUIRE(::chmod(path, mode) == 0);
  return path;
}

}  // namespace

TEST_CASE("is_valid_host accepts addresses and names, rejects typos", "[options]") {
  for (const char* good : {"127.0.0.1", "10.99.0.2", "::1", "fe80::1", "redis-a", "db.example.org"})
    CHECK(is_valid_host(good));
  for (const char* bad : {"", "300.1.1.1", "1.2.3", "::zz", "-lead", "a..b", "a b", "host_name"})
    CHECK_FALSE(is_valid_host(bad));
}

TEST_CASE("parse_endpoint splits HOST[:PORT]", "[options]") {
  Endpoint plain = parse_endpoint("10.0.0.2", 6379);
  CHECK(plain.host == "10.0.0.2");
  CHECK(plain.port == 6379);
  Endpoint with_port = parse_endpoint("10.0.0.2:6380", 6379);
  CHECK(with_port.port == 6380);
  Endpoint v6 = parse_endpoint("[::1]:7000", 6379);
  CHECK(v6.host == "::1");
  CHECK(v6.port == 7000);
  CHECK(parse_endpoint("fe80::1", 6379).host == "fe80::1");
  CHECK_THROWS_AS(parse_endpoint("10.0.0.2:0", 6379), UsageError);
  CHECK_THROWS_AS(parse_endpoint("10.0.0.2:70000", 6379), UsageError);
  CHECK_THROWS_AS(parse_endpoint("10.0.0.2:abc", 6379), UsageError);
  CHECK_THROWS_AS(parse_endpoint("300.1.1.1", 6379), UsageError);
  CHECK_THROWS_AS(parse_endpoint("[::1", 6379), UsageError);
  CHECK_THROWS_AS(parse_endpoint("", 6379), UsageError);
}

TEST_CASE("read_password_file refuses what ssh would refuse", "[options]") {
  std::string good = temp_file("s3cret\nignored\n", 0600);
  CHECK(read_password_file(good) == "s3cret");
  std::string group_readable = temp_file("s3cret\n", 0640);
  CHECK_THROWS_WITH(read_password_file(group_readable), Catch::Contains("group or others"));
  std::string world_readable = temp_file("s3cret\n", 0604);
  CHECK_THROWS_AS(read_password_file(world_readable), UsageError);
  std::string empty = temp_file("\n", 0600);
  CHECK_THROWS_WITH(read_password_file(empty), Catch::Contains("empty"));
  CHECK_THROWS_AS(read_password_file("/nonexistent/password"), UsageError);
  for (const std::string& path : {good, group_readable, world_readable, empty})
    std::remove(path.c_str());
}

TEST_CASE("validate checks every field and derives the peer and password", "[options]") {
  ToolOptions options;
  options.peer = "10.0.0.2";
  options.port = 6380;
  validate(options, "from-env");
  REQUIRE(options.peer_endpoint);
  CHECK(options.peer_endpoint->port == 6380);
  CHECK(options.password == "from-env");
  CHECK(peer_connection(options).host == "10.0.0.2");
  CHECK(local_connection(options).host == "127.0.0.1");

  ToolOptions bad_host;
  bad_host.host = "::zz";
  CHECK_THROWS_WITH(validate(bad_host, nullptr), Catch::Contains("--host"));
  ToolOptions bad_port;
  bad_port.port = 0;
  CHECK_THROWS_WITH(validate(bad_port, nullptr), Catch::Contains("--port"));
  ToolOptions user_without_password;
  user_without_password.user = "keepalived";
  CHECK_THROWS_WITH(validate(user_without_password, nullptr), Catch::Contains("password"));
  ToolOptions bad_announce;
  bad_announce.announce_host = "300.1.1.1";
  CHECK_THROWS_WITH(validate(bad_announce, nullptr), Catch::Contains("--announce-host"));
}
