#include "catch_compat.hpp"

#include <chrono>

#include "loopback.hpp"
#include "rk/sentinel_client.hpp"

using namespace rk;

namespace {

Reply bulk(const std::string& text) { return Reply{Reply::Type::string, text, 0, {}}; }

}  // namespace

TEST_CASE("GET-MASTER-ADDR-BY-NAME's reply: an address, none, or a problem", "[sentinel]") {
  SentinelView named;
  read_master_address(Reply{Reply::Type::array, "", 0, {bulk("10.0.0.1"), bulk("6379")}}, named);
  CHECK(named.answered);
  REQUIRE(named.master);
  CHECK(named.master->text() == "10.0.0.1:6379");

  SentinelView unknown;
  read_master_address(Reply{}, unknown);  // nil: no master of that name
  CHECK(unknown.answered);
  CHECK_FALSE(unknown.master);

  SentinelView refused;
  read_master_address(Reply{Reply::Type::error, "NOPERM no permissions", 0, {}}, refused);
  CHECK_FALSE(refused.answered);
  CHECK(refused.problem.find("NOPERM") != std::string::npos);

  for (const Reply& bad :
       {Reply{Reply::Type::array, "", 0, {bulk("10.0.0.1"), bulk("port")}},
        Reply{Reply::Type::array, "", 0, {bulk("10.0.0.1"), bulk("70000")}},
        Reply{Reply::Type::array, "", 0, {bulk("10.0.0.1")}}, bulk("10.0.0.1:6379")}) {
    SentinelView view;
    read_master_address(bad, view);
    CHECK_FALSE(view.answered);
    CHECK_FALSE(view.master);
  }
}

TEST_CASE("INFO sentinel's TILT flag", "[sentinel]") {
  CHECK(info_says_tilt("# Sentinel\r\nsentinel_masters:1\r\nsentinel_tilt:1\r\n"));
  CHECK_FALSE(info_says_tilt("# Sentinel\r\nsentinel_masters:1\r\nsentinel_tilt:0\r\n"));
  CHECK_FALSE(info_says_tilt("sentinel_tilt_since_seconds:-1\r\n"));
}

TEST_CASE("sentinels that do not answer cost one deadline, not one each", "[sentinel]") {
  // Listening sockets that never accept: each connect completes in the
  // kernel's backlog, then no reply ever comes.
  rk_test::LoopbackPort first(true), second(true), third(true);
  std::vector<ConnectionOptions> sentinels;
  for (const rk_test::LoopbackPort* listener : {&first, &second, &third}) {
    ConnectionOptions options;
    options.host = "127.0.0.1";
    options.port = listener->port();
    sentinels.push_back(options);
  }
  auto started = Clock::now();
  std::vector<SentinelView> views =
      query_sentinels(sentinels, "mymaster", started + std::chrono::milliseconds(300));
  auto elapsed = Clock::now() - started;
  REQUIRE(views.size() == 3);
  for (const SentinelView& view : views) {
    CHECK_FALSE(view.answered);
    CHECK_FALSE(view.problem.empty());
  }
  // One after another they would take 900 ms; at once, one deadline.
  CHECK(elapsed < std::chrono::milliseconds(600));
}
