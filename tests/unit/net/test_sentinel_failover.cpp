#include "catch_compat.hpp"

#include <chrono>

#include "loopback.hpp"
#include "rk/sentinel_failover.hpp"

using namespace rk;

namespace {

Reply bulk(const std::string& text) { return Reply{Reply::Type::string, text, 0, {}}; }

Reply fields(std::initializer_list<const char*> texts) {
  Reply reply{Reply::Type::array, "", 0, {}};
  for (const char* text : texts) reply.elements.push_back(bulk(text));
  return reply;
}

ConnectionOptions sentinel_at(int port) {
  ConnectionOptions options;
  options.host = "127.0.0.1";
  options.port = port;
  return options;
}

}  // namespace

TEST_CASE("SENTINEL MASTER's field list: flags and down-after, or a problem", "[sentinel]") {
  SentinelMasterView view;
  read_sentinel_master(fields({"name", "mymaster", "flags", "s_down,master",
                               "down-after-milliseconds", "1000", "quorum", "2"}),
                       view);
  CHECK(view.answered);
  CHECK(view.flags == "s_down,master");
  CHECK(view.has_flag("s_down"));
  CHECK(view.down_after_ms == 1000);

  SentinelMasterView no_number;
  read_sentinel_master(fields({"flags", "master", "down-after-milliseconds", "soon"}), no_number);
  CHECK(no_number.answered);
  CHECK(no_number.down_after_ms == 0);

  SentinelMasterView refused;
  read_sentinel_master(Reply{Reply::Type::error, "ERR No such master with that name", 0, {}},
                       refused);
  CHECK_FALSE(refused.answered);
  CHECK(refused.problem.find("No such master") != std::string::npos);

  for (const Reply& bad :
       {fields({"name", "mymaster"}), fields({"flags"}), bulk("master"), Reply{}}) {
    SentinelMasterView view_of_bad;
    read_sentinel_master(bad, view_of_bad);
    CHECK_FALSE(view_of_bad.answered);
    CHECK_FALSE(view_of_bad.problem.empty());
  }
}

TEST_CASE("SENTINEL REPLICAS: each entry's address, flags and priority", "[sentinel]") {
  SentinelMasterView view;
  view.answered = true;
  Reply list{Reply::Type::array,
             "",
             0,
             {fields({"name", "10.0.0.2:6379", "ip", "10.0.0.2", "port", "6379", "flags", "slave",
                      "slave-priority", "100"}),
              fields({"ip", "10.0.0.3", "port", "6380", "flags", "s_down,slave,disconnected",
                      "slave-priority", "0"})}};
  read_sentinel_replicas(list, view);
  CHECK(view.answered);
  REQUIRE(view.replicas.size() == 2);
  CHECK(view.replicas[0].address.text() == "10.0.0.2:6379");
  CHECK(view.replicas[0].priority == 100);
  CHECK(view.replicas[1].address.port == 6380);
  CHECK(view.replicas[1].priority == 0);
  CHECK(has_sentinel_flag(view.replicas[1].flags, "disconnected"));

  SentinelMasterView none;
  read_sentinel_replicas(Reply{Reply::Type::array, "", 0, {}}, none);
  CHECK(none.answered);
  CHECK(none.replicas.empty());

  for (const Reply& bad :
       {Reply{Reply::Type::error, "NOPERM this user has no permissions", 0, {}}, bulk("slave"),
        Reply{Reply::Type::array, "", 0, {fields({"ip", "10.0.0.2", "flags", "slave"})}},
        Reply{Reply::Type::array, "", 0, {fields({"ip", "10.0.0.2", "port", "99999"})}}}) {
    SentinelMasterView refused;
    refused.answered = true;
    read_sentinel_replicas(bad, refused);
    CHECK_FALSE(refused.answered);
    CHECK(refused.replicas.empty());
    CHECK_FALSE(refused.problem.empty());
  }
}

TEST_CASE("SENTINEL FAILOVER: nothing sent to a closed port, unknown without a reply",
          "[sentinel]") {
  rk_test::LoopbackPort closed(false);
  auto deadline = Clock::now() + std::chrono::milliseconds(300);
  FailoverRequest unreachable = request_failover(sentinel_at(closed.port()), "mymaster", deadline);
  CHECK(unreachable.answer == FailoverAnswer::unreachable);

  // Connected, sent, and no reply: the sentinel may be failing over.
  rk_test::LoopbackPort silent(true);
  FailoverRequest unknown = request_failover(sentinel_at(silent.port()), "mymaster",
                                             Clock::now() + std::chrono::milliseconds(200));
  CHECK(unknown.answer == FailoverAnswer::unknown);
  CHECK_FALSE(unknown.detail.empty());

  SentinelMasterView view = query_sentinel_master(sentinel_at(closed.port()), "mymaster",
                                                  Clock::now() + std::chrono::milliseconds(200));
  CHECK_FALSE(view.answered);
  CHECK(view.sentinel.port == closed.port());
}
