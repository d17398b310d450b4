#include "catch_compat.hpp"

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
  CHECK_THROWS_WITH(read_password_file(group_readable), rk_test::Contains("group or others"));
  std::string world_readable = temp_file("s3cret\n", 0604);
  CHECK_THROWS_AS(read_password_file(world_readable), UsageError);
  std::string empty = temp_file("\n", 0600);
  CHECK_THROWS_WITH(read_password_file(empty), rk_test::Contains("empty"));
  CHECK_THROWS_AS(read_password_file("/nonexistent/password"), UsageError);
  for (const std::string& path : {good, group_readable, world_readable, empty})
    std::remove(path.c_str());
}

TEST_CASE("read_password_file never blocks on a FIFO and never follows a symlink", "[options]") {
  char dir[] = "/tmp/rk-test-pwdir-XXXXXX";
  REQUIRE(::mkdtemp(dir) != nullptr);
  std::string fifo = std::string(dir) + "/fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  // Opened without O_NONBLOCK, a FIFO with no writer would block here forever.
  CHECK_THROWS_WITH(read_password_file(fifo), rk_test::Contains("not a regular file"));
  std::string good = temp_file("s3cret\n", 0600);
  std::string link = std::string(dir) + "/link";
  REQUIRE(::symlink(good.c_str(), link.c_str()) == 0);
  CHECK_THROWS_WITH(read_password_file(link), rk_test::Contains("symlink"));
  std::remove(link.c_str());
  std::remove(fifo.c_str());
  std::remove(good.c_str());
  ::rmdir(dir);
}

namespace {

// A ToolOptions that validates, with `change` applied.
template <typename Change>
ToolOptions options_with(Change change) {
  ToolOptions options;
  options.peer = "10.0.0.2";
  change(options);
  return options;
}

}  // namespace

TEST_CASE("validate checks every field and derives the peer", "[options]") {
  ToolOptions options = options_with([](ToolOptions& o) { o.port = 6380; });
  validate(options);
  REQUIRE(options.peer_endpoint);
  CHECK(options.peer_endpoint->port == 6380);
  CHECK(peer_connection(options).host == "10.0.0.2");
  CHECK(local_connection(options).host == "127.0.0.1");
  CHECK(local_connection(options).connect_timeout == options.timeout);
  CHECK(local_connection(options).command_timeout == options.timeout);

  using std::chrono::milliseconds;
  using std::chrono::seconds;
  struct Bad {
    const char* field;
    void (*change)(ToolOptions&);
  };
  const Bad bad[] = {
      {"--host", [](ToolOptions& o) { o.host = "::zz"; }},
      {"--port", [](ToolOptions& o) { o.port = 0; }},
      {"--port", [](ToolOptions& o) { o.port = 65536; }},
      {"--timeout", [](ToolOptions& o) { o.timeout = milliseconds(0); }},
      {"--timeout", [](ToolOptions& o) { o.timeout = milliseconds(60001); }},
      {"--poll-ms", [](ToolOptions& o) { o.poll = milliseconds(0); }},
      {"--poll-ms", [](ToolOptions& o) { o.poll = milliseconds(1001); }},
      {"--pause-ms", [](ToolOptions& o) { o.pause = milliseconds(99); }},
      {"--pause-ms", [](ToolOptions& o) { o.pause = milliseconds(60001); }},
      {"--sync-timeout", [](ToolOptions& o) { o.sync_timeout = seconds(0); }},
      {"--sync-timeout", [](ToolOptions& o) { o.sync_timeout = seconds(86401); }},
      {"--backup-grace", [](ToolOptions& o) { o.backup_grace = seconds(-1); }},
      {"--backup-grace", [](ToolOptions& o) { o.backup_grace = seconds(3601); }},
      {"--peer-silence-ms", [](ToolOptions& o) { o.peer_silence = milliseconds(-1); }},
      {"--peer-silence-ms", [](ToolOptions& o) { o.peer_silence = milliseconds(60001); }},
      {"--fall", [](ToolOptions& o) { o.watch_fall = 0; }},
      {"--rise", [](ToolOptions& o) { o.watch_rise = 101; }},
      {"--announce-host", [](ToolOptions& o) { o.announce_host = "300.1.1.1"; }},
      {"--peer", [](ToolOptions& o) { o.peer = "10.0.0.2:abc"; }},
      {"--peer", [](ToolOptions& o) { o.peer = "127.0.0.1"; }},       // the local Redis itself
      {"--peer", [](ToolOptions& o) { o.peer = "127.0.0.1:6379"; }},  // the same, with its port
      {"password", [](ToolOptions& o) { o.user = "keepalived"; }},    // a user needs one
  };
  for (const Bad& entry : bad) {
    ToolOptions wrong = options_with(entry.change);
    INFO("expected a complaint about " << entry.field);
    CHECK_THROWS_WITH(validate(wrong), rk_test::Contains(entry.field));
  }
  // Each bound itself is accepted.
  ToolOptions edges = options_with([](ToolOptions& o) {
    o.timeout = milliseconds(1);
    o.poll = milliseconds(1000);
    o.pause = milliseconds(100);
    o.sync_timeout = seconds(86400);
    o.backup_grace = seconds(0);
    o.peer_silence = milliseconds(0);
    o.peer = "127.0.0.1:6380";  // same host, another port: another server
  });
  CHECK_NOTHROW(validate(edges));
}

TEST_CASE("resolve_password: the file wins over REDISCLI_AUTH", "[options]") {
  std::string file = temp_file("from-file\n", 0600);
  ToolOptions both;
  both.password_file = file;
  both.environment_password = "from-env";
  resolve_password(both);
  CHECK(both.password == "from-file");
  ToolOptions env_only;
  env_only.environment_password = "from-env";
  resolve_password(env_only);
  CHECK(env_only.password == "from-env");
  ToolOptions none;
  resolve_password(none);
  CHECK(none.password.empty());
  ToolOptions user_with_env = options_with([](ToolOptions& o) {
    o.user = "keepalived";
    o.environment_password = "from-env";
  });
  CHECK_NOTHROW(validate(user_with_env));
  std::remove(file.c_str());
}

namespace {

ToolOptions sentinel_options(void (*change)(ToolOptions&)) {
  ToolOptions options;
  options.sentinels = {"10.0.0.11", "10.0.0.12:26380", "[fe80::13]:26379"};
  options.master_name = "mymaster";
  options.announce_host = "10.0.0.1";
  change(options);
  return options;
}

}  // namespace

TEST_CASE("validate: Sentinel mode's options", "[options][sentinel]") {
  ToolOptions good = sentinel_options([](ToolOptions&) {});
  validate(good);
  REQUIRE(good.sentinel_mode());
  REQUIRE(good.sentinel_endpoints.size() == 3);
  CHECK(good.sentinel_endpoints[0].text() == "10.0.0.11:26379");
  CHECK(good.sentinel_endpoints[1].text() == "10.0.0.12:26380");
  CHECK(good.sentinel_endpoints[2].text() == "[fe80::13]:26379");
  CHECK(sentinel_self(good).text() == "10.0.0.1:6379");
  std::vector<ConnectionOptions> connections = sentinel_connections(good);
  REQUIRE(connections.size() == 3);
  CHECK(connections[1].port == 26380);
  CHECK(connections[1].password.empty());  // never the data nodes' password

  struct Bad {
    const char* words;
    void (*change)(ToolOptions&);
  };
  const Bad bad[] = {
      {"--master-name", [](ToolOptions& o) { o.master_name.clear(); }},
      {"not one word", [](ToolOptions& o) { o.master_name = "my master"; }},
      {"--announce-host", [](ToolOptions& o) { o.announce_host.clear(); }},
      {"not a valid host", [](ToolOptions& o) { o.sentinels[1] = "300.0.0.1"; }},
      {"not a port", [](ToolOptions& o) { o.sentinels[1] = "10.0.0.12:0"; }},
      {"given twice", [](ToolOptions& o) { o.sentinels[1] = "10.0.0.11:26379"; }},
      {"2 sentinels", [](ToolOptions& o) { o.sentinels.pop_back(); }},
      {"1 sentinel", [](ToolOptions& o) { o.sentinels.resize(1); }},
      {"--sentinel-password-file", [](ToolOptions& o) { o.sentinel_user = "watcher"; }},
      {"pair mode", [](ToolOptions& o) { o.witnesses = {"10.0.0.9:22"}; o.peer = "10.0.0.2"; }},
      {"belong to Sentinel mode", [](ToolOptions& o) { o.sentinels.clear(); }},
  };
  for (const Bad& entry : bad) {
    ToolOptions wrong = sentinel_options(entry.change);
    INFO("expected a complaint with " << entry.words);
    CHECK_THROWS_WITH(validate(wrong), rk_test::Contains(entry.words));
  }
  // An even number, or one, is accepted when the operator says so.
  for (std::size_t count : {1, 2, 4}) {
    ToolOptions weak = sentinel_options([](ToolOptions& o) { o.weak_sentinel_quorum = true; });
    weak.sentinels = {"10.0.0.11", "10.0.0.12", "10.0.0.13", "10.0.0.14"};
    weak.sentinels.resize(count);
    CHECK_NOTHROW(validate(weak));
  }
}

TEST_CASE("resolve_password reads the sentinels' password from its own file", "[options]") {
  std::string file = temp_file("sentinel-secret\n", 0600);
  ToolOptions options = sentinel_options([](ToolOptions&) {});
  options.sentinel_password_file = file;
  validate(options);
  options.environment_password = "data-node-secret";
  resolve_password(options);
  CHECK(options.sentinel_password == "sentinel-secret");
  CHECK(options.password == "data-node-secret");
  REQUIRE(sentinel_connections(options).size() == 3);
  CHECK(sentinel_connections(options)[0].password == "sentinel-secret");
  std::remove(file.c_str());
  std::string open_file = temp_file("x\n", 0644);
  options.sentinel_password_file = open_file;
  CHECK_THROWS_WITH(resolve_password(options), rk_test::Contains("--sentinel-password-file"));
  std::remove(open_file.c_str());
}
