#include "catch_compat.hpp"

#include <string>

#include "rk/exit_code.hpp"

using namespace rk;

TEST_CASE("verdict_line names the verdict and the exit code it maps to", "[exit_code]") {
  CHECK(verdict_line(Verdict::switched_over, 12, "writes paused 3 ms") ==
        "verdict=switched-over exit=0 elapsed_ms=12 writes paused 3 ms");
  CHECK(verdict_line(Verdict::superseded, 0, "before acting") ==
        "verdict=superseded exit=3 elapsed_ms=0 before acting");
  CHECK(verdict_line(Verdict::rejoin_failed, 5, "x") ==
        "verdict=rejoin-failed exit=1 elapsed_ms=5 x");
}

TEST_CASE("a change of unknown effect is a failure with its own name", "[exit_code]") {
  // Neither may read as success nor as "nothing changed" (exit 2).
  for (Verdict verdict : {Verdict::promotion_unknown, Verdict::switchover_unknown,
                          Verdict::handover_unconfirmed, Verdict::rejoin_failed}) {
    CHECK(exit_code_of(verdict) == ExitCode::failure);
    CHECK(std::string(to_string(verdict)) != "error");
  }
  CHECK(std::string(to_string(Verdict::promotion_unknown)) == "promotion-unknown");
}

TEST_CASE("no verdict maps to the usage exit code", "[exit_code]") {
  // Exit 2 means nothing was done; a hook that got to a verdict has acted
  // or decided not to, so its exit code is 0, 1 or 3.
  for (int v = 0; v <= static_cast<int>(Verdict::rejoin_failed); ++v) {
    auto verdict = static_cast<Verdict>(v);
    CAPTURE(to_string(verdict));
    CHECK(std::string(to_string(verdict)) != "?");
    CHECK(exit_code_of(verdict) != ExitCode::usage);
  }
}
