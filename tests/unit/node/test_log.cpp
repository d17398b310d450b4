#include "catch_compat.hpp"

#include "rk/log.hpp"

using namespace rk;

TEST_CASE("RepeatFilter: the first line, then one per period with a count", "[log]") {
  RepeatFilter filter(std::chrono::seconds(10));
  const RepeatFilter::Clock::time_point start{};
  auto at = [&](int ms) { return start + std::chrono::milliseconds(ms); };

  auto first = filter.pass("pause", "cannot pause", at(0));
  REQUIRE(first);
  CHECK(*first == "cannot pause");
  // Everything else inside the period is held back: 48 a second for 10 s.
  int written = 0;
  for (int ms = 20; ms < 10000; ms += 20)
    if (filter.pass("pause", "cannot pause", at(ms))) ++written;
  CHECK(written == 0);
  auto next = filter.pass("pause", "cannot pause", at(10000));
  REQUIRE(next);
  CHECK_THAT(*next, rk_test::Contains("repeated"));
  CHECK_THAT(*next, rk_test::Contains("more times in 10 s"));
  // Another key is independent of the first.
  CHECK(filter.pass("other", "something else", at(10001)));
}
