#include "catch_compat.hpp"

#include <exception>
#include <string>

#include "rk/hook_run.hpp"
#include "rk/promotion.hpp"

using namespace rk;

TEST_CASE("control-flow exceptions reach a catch of std::exception", "[hook_run]") {
  // One that escapes its hook meets the tools' top-level catch, never
  // std::terminate.
  auto caught = [](auto&& raise) -> std::string {
    try {
      raise();
    } catch (const std::exception& error) {
      return error.what();
    }
    return "";
  };
  CHECK(caught([] { throw Superseded(); }) == "a newer transition took over");
  CHECK(caught([] { throw PeerPauseRefused("grant +client|pause"); }) == "grant +client|pause");
  PeerPauseRefused too_old("Redis 6.0", Verdict::peer_too_old);
  CHECK(too_old.verdict() == Verdict::peer_too_old);
}
