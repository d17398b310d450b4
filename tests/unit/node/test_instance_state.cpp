#include "catch_compat.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "rk/errors.hpp"
#include "rk/instance_state.hpp"

using namespace rk;

namespace {

std::string temp_dir() {
  char path[] = "/tmp/rk-test-state-XXXXXX";
  REQUIRE(::mkdtemp(path) != nullptr);
  return path;
}

}  // namespace

TEST_CASE("Generation orders by boot, start time, then pid", "[instance_state]") {
  Generation older{"boot-1", 100, 50};
  Generation newer{"boot-1", 101, 40};
  CHECK(newer.newer_than(older));
  CHECK_FALSE(older.newer_than(newer));
  Generation same_tick{"boot-1", 100, 51};
  CHECK(same_tick.newer_than(older));
  Generation next_boot{"boot-2", 1, 1};
  CHECK(next_boot.newer_than(older));
  CHECK(Generation::parse(newer.text()).newer_than(older));
  Generation garbage = Generation::parse("not a generation");
  CHECK(garbage.pid == 0);
  CHECK(Generation::of_this_process().pid == static_cast<long>(::getpid()));
}

TEST_CASE("generation_running: this process, not a gone or reused pid", "[instance_state]") {
  Generation mine = Generation::of_this_process();
  CHECK(generation_running(mine));
  Generation reused = mine;
  reused.start_ticks += 1;  // the same pid, started at another time
  CHECK_FALSE(generation_running(reused));
  Generation other_boot = mine;
  other_boot.boot_id = "another-boot";
  CHECK_FALSE(generation_running(other_boot));
  CHECK_FALSE(generation_running(Generation{}));
  // An older record: the pid alone.
  CHECK(generation_running(Generation{"", 0, mine.pid}));
}

TEST_CASE("WatchRecord: what redis_watch writes, read back; older records", "[instance_state]") {
  WatchRecord record;
  record.generation = Generation::of_this_process();
  record.health = "unhealthy";
  record.since = "2026-12-07T02:00:00Z";
  record.track_file = "/run/redis-keepalived/redis_watch.track";
  record.heartbeat_bound = std::chrono::seconds(6);
  WatchRecord read = WatchRecord::parse(record.text());
  CHECK(read.generation.text() == record.generation.text());
  CHECK(read.health == "unhealthy");
  CHECK(read.since == record.since);
  CHECK(read.track_file == record.track_file);
  CHECK(read.heartbeat_bound == std::chrono::seconds(6));
  CHECK(record_field(record.text(), "pid") == std::to_string(::getpid()));
  // Before the generation and the bound were recorded.
  WatchRecord old = WatchRecord::parse("pid=42\nhealth=healthy\nsince=x\ntrack_file=/f\n");
  CHECK(old.generation.pid == 42);
  CHECK(old.generation.start_ticks == 0);
  CHECK(old.heartbeat_bound == std::chrono::seconds(3));
  WatchRecord none = WatchRecord::parse("");
  CHECK(none.generation.pid == 0);
  CHECK(none.health.empty());
}

TEST_CASE("InstanceState records, detects supersession and holds the lock", "[instance_state]") {
  std::string dir = temp_dir() + "/state";
  InstanceState first(dir, "redis");
  struct stat info {};
  REQUIRE(::stat(dir.c_str(), &info) == 0);
  CHECK((info.st_mode & 0777) == 0700);

  Generation backup_hook{"boot", 100, 10};
  Generation master_hook{"boot", 101, 11};
  CHECK_FALSE(first.superseded());
  REQUIRE(first.record(Transition::backup, "redis_backup", backup_hook));
  CHECK_FALSE(first.superseded());
  CHECK_THAT(first.read_record(), rk_test::Contains("state=BACKUP"));
  auto soon = std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
  REQUIRE(first.acquire_action_lock(soon, std::chrono::milliseconds(5)));

  InstanceState second(dir, "redis");
  REQUIRE(second.record(Transition::master, "redis_master", master_hook));
  CHECK_THAT(second.read_record(), rk_test::Contains("state=MASTER"));
  CHECK(first.superseded());
  CHECK_FALSE(second.superseded());
  // The older hook gives up waiting for the lock at once once superseded.
  CHECK_FALSE(first.acquire_action_lock(soon, std::chrono::milliseconds(5)));

  // A hook forked before the recorded one is superseded from the start.
  InstanceState late_starter(dir, "redis");
  CHECK_FALSE(late_starter.record(Transition::backup, "redis_backup", backup_hook));
  CHECK_THAT(late_starter.read_record(), rk_test::Contains("state=MASTER"));

  // A lock held by another open file description times out.
  auto short_deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(50);
  CHECK_FALSE(second.acquire_action_lock(short_deadline, std::chrono::milliseconds(5)));

  second.write_health("healthy");
  CHECK(second.read_health() == "healthy");
}

TEST_CASE("InstanceState refuses bad dirs and names", "[instance_state]") {
  // A path through a regular file: a configuration error (exit 2).
  CHECK_THROWS_AS(InstanceState("/proc/version/state", "redis"), UnsafeStateDir);
  // Cannot be created for another reason: an I/O problem, not a usage error.
  CHECK_THROWS_AS(InstanceState("/nonexistent-rk-parent/state", "redis"), StateError);
  std::string dir = temp_dir();
  CHECK_THROWS_AS(InstanceState(dir, "../escape"), UsageError);
  CHECK_THROWS_AS(InstanceState(dir, ""), UsageError);
}

TEST_CASE("the state dir is a trust boundary, as ssh treats ~/.ssh", "[instance_state]") {
  std::string parent = temp_dir();
  SECTION("group- or world-writable: refused, with how to fix it") {
    std::string dir = parent + "/open";
    REQUIRE(::mkdir(dir.c_str(), 0700) == 0);
    REQUIRE(::chmod(dir.c_str(), 01777) == 0);
    CHECK_THROWS_AS(InstanceState(dir, "redis"), UnsafeStateDir);
    CHECK_THROWS_WITH(InstanceState(dir, "redis"), rk_test::Contains("chmod 700"));
    REQUIRE(::chmod(dir.c_str(), 0770) == 0);
    CHECK_THROWS_AS(InstanceState(dir, "redis", InstanceState::Access::read_only), UnsafeStateDir);
  }
  SECTION("a symlink to a directory: refused") {
    std::string real = parent + "/real";
    std::string link = parent + "/link";
    REQUIRE(::mkdir(real.c_str(), 0700) == 0);
    REQUIRE(::symlink(real.c_str(), link.c_str()) == 0);
    CHECK_THROWS_AS(InstanceState(link, "redis"), UnsafeStateDir);
  }
  SECTION("owned by another user: refused (when the test can make one)") {
    if (::geteuid() != 0) return;  // only root can give a dir away
    std::string dir = parent + "/foreign";
    REQUIRE(::mkdir(dir.c_str(), 0700) == 0);
    REQUIRE(::chown(dir.c_str(), 65534, 65534) == 0);
    CHECK_THROWS_WITH(InstanceState(dir, "redis"), rk_test::Contains("owned by uid 65534"));
  }
  SECTION("a missing dir is never created by the read-only and existing-only modes") {
    std::string dir = parent + "/missing";
    InstanceState reader(dir, "redis", InstanceState::Access::read_only);
    CHECK_FALSE(reader.present());
    CHECK(reader.read_record().empty());
    CHECK(reader.health_age_seconds() == -1);
    InstanceState checker(dir, "redis", InstanceState::Access::existing_only);
    checker.write_health("healthy");  // skipped, not created
    struct stat info {};
    CHECK(::stat(dir.c_str(), &info) != 0);
  }
}

TEST_CASE("files in the state dir: no symlinks followed, no FIFOs waited on", "[instance_state]") {
  std::string dir = temp_dir() + "/state";
  InstanceState state(dir, "redis");
  Generation hook{"boot", 100, 10};

  SECTION("a symlink at a record's name is replaced, never written through") {
    std::string outside = temp_dir() + "/victim";
    {
      FILE* victim = std::fopen(outside.c_str(), "w");
      REQUIRE(victim != nullptr);
      std::fputs("precious\n", victim);
      std::fclose(victim);
    }
    REQUIRE(::symlink(outside.c_str(), (dir + "/redis.last").c_str()) == 0);
    // Reading through it is refused...
    CHECK_THROWS_AS(state.read_last(), StateError);
    // ...and writing replaces the link itself (rename), leaving its target alone.
    state.write_last("verdict=recorded");
    CHECK(state.read_last() == "verdict=recorded");
    FILE* victim = std::fopen(outside.c_str(), "r");
    REQUIRE(victim != nullptr);
    char line[32] = {};
    REQUIRE(std::fgets(line, sizeof(line), victim) != nullptr);
    std::fclose(victim);
    CHECK(std::string(line) == "precious\n");
  }
  SECTION("a FIFO as the state record: refused at once, not waited on") {
    REQUIRE(::mkfifo((dir + "/redis.state").c_str(), 0600) == 0);
    auto started = std::chrono::steady_clock::now();
    CHECK_THROWS_WITH(state.record(Transition::stop, "redis_stop", hook),
                      rk_test::Contains("not a regular file"));
    CHECK_THROWS_AS(state.read_record(), StateError);
    // A blocking open of a FIFO without a writer never returns; this one
    // returned, so it did not block.
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(5));
  }
  SECTION("a FIFO as the lock: refused") {
    REQUIRE(::mkfifo((dir + "/redis.lock").c_str(), 0600) == 0);
    REQUIRE(state.record(Transition::master, "redis_master", hook));
    CHECK_THROWS_AS(state.acquire_action_lock(std::chrono::steady_clock::now(),
                                              std::chrono::milliseconds(1)),
                    StateError);
  }
  SECTION("a record from the future (forged) supersedes nobody") {
    Generation mine = Generation::of_this_process();
    REQUIRE(state.record(Transition::backup, "redis_backup", mine));
    Generation forged{mine.boot_id, boot_ticks_now() + 1000000, 1};
    InstanceState forger(dir, "redis");
    REQUIRE(forger.record(Transition::master, "forged", forged));
    CHECK_FALSE(state.superseded());
    // And a real hook forked later records over it.
    InstanceState later(dir, "redis");
    CHECK(later.record(Transition::fault, "redis_fault", mine));
    // A plausible newer record still supersedes as before.
    Generation newer{mine.boot_id, mine.start_ticks, mine.pid + 1};
    InstanceState next(dir, "redis");
    REQUIRE(next.record(Transition::master, "redis_master", newer));
    CHECK(state.superseded());
  }
}

TEST_CASE("the stale-history record: written whole, read back, removed once", "[instance_state]") {
  std::string dir = temp_dir() + "/state";
  InstanceState state(dir, "redis");
  CHECK(state.read_stale().empty());
  CHECK_FALSE(state.remove_stale());
  state.write_stale("since=now\npeer_offset=5000\n");
  CHECK(record_field(state.read_stale(), "peer_offset") == "5000");
  CHECK(state.remove_stale());
  CHECK(state.read_stale().empty());
  CHECK_FALSE(state.remove_stale());
  SECTION("a symlink planted at its name is removed, never its target") {
    std::string outside = temp_dir() + "/victim";
    FILE* victim = std::fopen(outside.c_str(), "w");
    REQUIRE(victim != nullptr);
    std::fclose(victim);
    REQUIRE(::symlink(outside.c_str(), (dir + "/redis.stale").c_str()) == 0);
    CHECK_THROWS_AS(state.read_stale(), StateError);
    CHECK(state.remove_stale());
    CHECK(::access(outside.c_str(), F_OK) == 0);
  }
}
