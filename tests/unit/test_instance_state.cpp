#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
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
  CHECK_THAT(first.read_record(), Catch::Contains("state=BACKUP"));
  auto soon = std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
  REQUIRE(first.acquire_action_lock(soon, std::chrono::milliseconds(5)));

  InstanceState second(dir, "redis");
  REQUIRE(second.record(Transition::master, "redis_master", master_hook));
  CHECK_THAT(second.read_record(), Catch::Contains("state=MASTER"));
  CHECK(first.superseded());
  CHECK_FALSE(second.superseded());
  // The older hook gives up waiting for the lock at once once superseded.
  CHECK_FALSE(first.acquire_action_lock(soon, std::chrono::milliseconds(5)));

  // A hook forked before the recorded one is superseded from the start.
  InstanceState late_starter(dir, "redis");
  CHECK_FALSE(late_starter.record(Transition::backup, "redis_backup", backup_hook));
  CHECK_THAT(late_starter.read_record(), Catch::Contains("state=MASTER"));

  // A lock held by another open file description times out.
  auto short_deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(50);
  CHECK_FALSE(second.acquire_action_lock(short_deadline, std::chrono::milliseconds(5)));

  second.write_health("healthy");
  CHECK(second.read_health() == "healthy");
}

TEST_CASE("InstanceState refuses bad dirs and names", "[instance_state]") {
  CHECK_THROWS_AS(InstanceState("/proc/version/state", "redis"), UsageError);
  std::string dir = temp_dir();
  CHECK_THROWS_AS(InstanceState(dir, "../escape"), UsageError);
  CHECK_THROWS_AS(InstanceState(dir, ""), UsageError);
}
