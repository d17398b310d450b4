#include "catch_compat.hpp"

#include "rk/sentinel_mode.hpp"

using namespace rk;

namespace {

Reply bulk(const std::string& text) { return Reply{Reply::Type::string, text, 0, {}}; }

Reply message(const std::string& channel, const std::string& payload) {
  return Reply{Reply::Type::array, "", 0, {bulk("message"), bulk(channel), bulk(payload)}};
}

}  // namespace

TEST_CASE("switch_of reads +switch-master messages about our master only", "[sentinel]") {
  std::optional<std::string> change =
      switch_of(message("+switch-master", "mymaster 10.0.0.1 6379 10.0.0.2 6379"), "mymaster");
  REQUIRE(change);
  CHECK(*change == "10.0.0.1:6379 -> 10.0.0.2:6379");
  CHECK_FALSE(
      switch_of(message("+switch-master", "other 10.0.0.1 6379 10.0.0.2 6379"), "mymaster"));
  CHECK_FALSE(switch_of(message("+sdown", "master mymaster 10.0.0.1 6379"), "mymaster"));
  CHECK_FALSE(switch_of(message("+switch-master", "mymaster 10.0.0.1"), "mymaster"));
  Reply confirmation{Reply::Type::array,
                     "",
                     0,
                     {bulk("subscribe"), bulk("+switch-master"),
                      Reply{Reply::Type::integer, "", 1, {}}}};
  CHECK_FALSE(switch_of(confirmation, "mymaster"));
}
