#include "catch_compat.hpp"

#include <chrono>
#include <optional>
#include <utility>
#include <vector>

#include "loopback.hpp"
#include "rk/sentinel_client.hpp"

using namespace rk;

namespace {

Reply bulk(const std::string& text) { return Reply{Reply::Type::string, text, 0, {}}; }

// Sentinels at these loopback ports, in order.
std::vector<ConnectionOptions> sentinels_at(
    std::initializer_list<const rk_test::LoopbackPort*> ports) {
  std::vector<ConnectionOptions> sentinels;
  for (const rk_test::LoopbackPort* port : ports) {
    ConnectionOptions options;
    options.host = "127.0.0.1";
    options.port = port->port();
    sentinels.push_back(options);
  }
  return sentinels;
}

// SENTINEL MASTER's reply as Redis 7.0.15's sentinel gave it (RESP2: a flat
// array of field/value pairs), with `changes` applied: a field set to
// nullopt is left out.
Reply sentinel_master_reply(
    const std::vector<std::pair<std::string, std::optional<std::string>>>& changes = {}) {
  std::vector<std::pair<std::string, std::optional<std::string>>> fields = {
      {"name", "mymaster"},
      {"ip", "127.0.0.1"},
      {"port", "16391"},
      {"runid", "96d0dc506c5053df866d5769a002294f5fd723a0"},
      {"flags", "master"},
      {"link-pending-commands", "0"},
      {"last-ping-sent", "0"},
      {"down-after-milliseconds", "2000"},
      {"role-reported", "master"},
      {"config-epoch", "0"},
      {"num-slaves", "0"},
      {"num-other-sentinels", "2"},
      {"quorum", "2"},
      {"failover-timeout", "180000"},
      {"parallel-syncs", "1"}};
  for (const auto& [field, value] : changes)
    for (auto& entry : fields)
      if (entry.first == field) entry.second = value;
  Reply reply{Reply::Type::array, "", 0, {}};
  for (const auto& [field, value] : fields) {
    if (!value) continue;
    reply.elements.push_back(bulk(field));
    reply.elements.push_back(bulk(*value));
  }
  return reply;
}

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

TEST_CASE("SENTINEL MASTER's field/value pairs: epoch, flags, sentinels, quorum", "[sentinel]") {
  SentinelDetails healthy;
  read_sentinel_master(sentinel_master_reply(), healthy);
  REQUIRE(healthy.monitor);
  CHECK(healthy.problem.empty());
  REQUIRE(healthy.monitor->address);
  CHECK(healthy.monitor->address->text() == "127.0.0.1:16391");
  CHECK(healthy.monitor->flags == std::vector<std::string>{"master"});
  CHECK(healthy.monitor->config_epoch == 0);
  CHECK(healthy.monitor->other_sentinels == 2);
  CHECK(healthy.monitor->quorum == 2);

  SentinelDetails failing_over;
  read_sentinel_master(sentinel_master_reply(
                           {{"flags", "master,s_down,o_down,failover_in_progress"},
                            {"config-epoch", "7"}}),
                       failing_over);
  REQUIRE(failing_over.monitor);
  CHECK(failing_over.monitor->config_epoch == 7);
  CHECK(failing_over.monitor->has_flag("o_down"));
  CHECK(failing_over.monitor->has_flag("failover_in_progress"));
  CHECK_FALSE(failing_over.monitor->has_flag("down"));  // whole words only
  CHECK(failing_over.monitor->flags.size() == 4);

  // No address in the reply: the rest still stands.
  SentinelDetails no_address;
  read_sentinel_master(sentinel_master_reply({{"port", "0"}}), no_address);
  REQUIRE(no_address.monitor);
  CHECK_FALSE(no_address.monitor->address);
}

TEST_CASE("SENTINEL MASTER: refusals and malformed replies are problems", "[sentinel]") {
  auto problem_of = [](const Reply& reply) {
    SentinelDetails details;
    read_sentinel_master(reply, details);
    CHECK_FALSE(details.monitor);
    return details.problem;
  };
  CHECK_THAT(problem_of(Reply{Reply::Type::error, "ERR No such master with that name", 0, {}}),
             rk_test::Contains("SENTINEL MASTER refused: ERR No such master"));
  CHECK_THAT(problem_of(Reply{Reply::Type::error, "NOPERM this user has no permissions", 0, {}}),
             rk_test::Contains("NOPERM"));
  Reply odd = sentinel_master_reply();
  odd.elements.pop_back();
  CHECK_THAT(problem_of(odd), rk_test::Contains("not a reply of field/value pairs"));
  Reply not_strings = sentinel_master_reply();
  not_strings.elements[1] = Reply{Reply::Type::integer, "", 3, {}};
  CHECK_THAT(problem_of(not_strings), rk_test::Contains("not a reply of field/value pairs"));
  CHECK_THAT(problem_of(bulk("master")), rk_test::Contains("not a reply of field/value pairs"));
  CHECK_THAT(problem_of(sentinel_master_reply({{"flags", std::nullopt}})),
             rk_test::Contains("no flags field"));
  CHECK_THAT(problem_of(sentinel_master_reply({{"flags", std::string(300, 'x')}})),
             rk_test::Contains("too long"));
  CHECK_THAT(problem_of(sentinel_master_reply({{"config-epoch", "-1"}})),
             rk_test::Contains("no whole config-epoch field"));
  CHECK_THAT(problem_of(sentinel_master_reply({{"num-other-sentinels", "2x"}})),
             rk_test::Contains("no whole num-other-sentinels field"));
  CHECK_THAT(problem_of(sentinel_master_reply({{"quorum", std::nullopt}})),
             rk_test::Contains("no whole quorum field"));
  CHECK_THAT(problem_of(sentinel_master_reply({{"quorum", "0"}})),
             rk_test::Contains("no whole quorum field"));
  // A long refusal is cut: a hostile sentinel must not fill a report.
  CHECK(problem_of(Reply{Reply::Type::error, std::string(5000, 'E'), 0, {}}).size() < 300);
}

TEST_CASE("SENTINEL CKQUORUM: +OK reachable, -NOQUORUM not, anything else a problem",
          "[sentinel]") {
  SentinelDetails ok;
  read_ckquorum(Reply{Reply::Type::status,
                      "OK 3 usable Sentinels. Quorum and failover authorization can be reached",
                      0,
                      {}},
                ok);
  REQUIRE(ok.quorum_reachable);
  CHECK(*ok.quorum_reachable);
  CHECK(ok.quorum_text == "3 usable Sentinels. Quorum and failover authorization can be reached");
  CHECK(ok.problem.empty());

  SentinelDetails no_quorum;
  read_ckquorum(Reply{Reply::Type::error,
                      "NOQUORUM 1 usable Sentinels. Not enough available Sentinels to reach the "
                      "specified quorum for this master",
                      0,
                      {}},
                no_quorum);
  REQUIRE(no_quorum.quorum_reachable);
  CHECK_FALSE(*no_quorum.quorum_reachable);
  CHECK_THAT(no_quorum.quorum_text, rk_test::StartsWith("1 usable Sentinels. Not enough"));

  for (const Reply& other : {Reply{Reply::Type::error, "ERR No such master with that name", 0, {}},
                             Reply{Reply::Type::error, "NOPERM no permissions", 0, {}},
                             Reply{Reply::Type::status, "OKAY", 0, {}},
                             Reply{Reply::Type::integer, "", 1, {}}, bulk("OK")}) {
    SentinelDetails details;
    read_ckquorum(other, details);
    CHECK_FALSE(details.quorum_reachable);
    CHECK_THAT(details.problem, rk_test::StartsWith("SENTINEL CKQUORUM"));
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
  std::vector<ConnectionOptions> sentinels = sentinels_at({&first, &second, &third});
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

  // redis_status's fuller query too.
  started = Clock::now();
  std::vector<SentinelDetails> details =
      query_sentinel_details(sentinels, "mymaster", started + std::chrono::milliseconds(300));
  elapsed = Clock::now() - started;
  REQUIRE(details.size() == 3);
  for (const SentinelDetails& entry : details) {
    CHECK_FALSE(entry.view.answered);
    CHECK_FALSE(entry.view.problem.empty());
    CHECK_FALSE(entry.monitor);
  }
  CHECK(elapsed < std::chrono::milliseconds(600));
}

TEST_CASE("once the answers in settle it, the pending sentinels are not waited for", "[sentinel]") {
  // A port nobody listens on refuses at once; two listeners that never
  // accept hold their queries until the deadline.
  rk_test::LoopbackPort refusing(false), held(true), also_held(true);
  std::vector<ConnectionOptions> sentinels = sentinels_at({&held, &refusing, &also_held});
  std::size_t asked_with = 99;
  auto settled_by_one = [&](const std::vector<SentinelView>& in, std::size_t pending) {
    if (in.empty()) return false;
    asked_with = pending;
    return true;
  };
  auto started = Clock::now();
  std::vector<SentinelView> views =
      query_sentinels(sentinels, "mymaster", started + std::chrono::milliseconds(3000),
                      settled_by_one);
  auto elapsed = Clock::now() - started;
  REQUIRE(views.size() == 3);
  CHECK(asked_with == 2);
  CHECK_THAT(views[1].problem, rk_test::Contains("refused"));
  for (std::size_t held_index : {0, 2}) {
    CHECK_FALSE(views[held_index].answered);
    CHECK(views[held_index].sentinel.port == sentinels[held_index].port);
    CHECK_THAT(views[held_index].problem, rk_test::StartsWith("not waited for"));
  }
  // The held queries were cancelled, not waited out (3 s).
  CHECK(elapsed < std::chrono::milliseconds(1500));

  // Never settled: every query runs to the deadline, and says why.
  started = Clock::now();
  views = query_sentinels(sentinels, "mymaster", started + std::chrono::milliseconds(300),
                          [](const std::vector<SentinelView>&, std::size_t) { return false; });
  CHECK(Clock::now() - started >= std::chrono::milliseconds(290));
  CHECK_THAT(views[0].problem, rk_test::Contains("no reply"));
}

TEST_CASE("SENTINEL REPLICAS: the replica a failover promotes", "[sentinel]") {
  auto entry = [](const std::string& ip, const std::string& port, const std::string& flags) {
    return Reply{Reply::Type::array,
                 "",
                 0,
                 {bulk("name"), bulk(ip + ":" + port), bulk("ip"), bulk(ip), bulk("port"),
                  bulk(port), bulk("flags"), bulk(flags)}};
  };
  Reply replicas{Reply::Type::array,
                 "",
                 0,
                 {entry("10.0.0.2", "6379", "slave"), entry("10.0.0.3", "6379", "slave,promoted")}};
  CHECK(replicas_reply_promotes(replicas, {"10.0.0.3", 6379}));
  CHECK_FALSE(replicas_reply_promotes(replicas, {"10.0.0.2", 6379}));
  CHECK_FALSE(replicas_reply_promotes(replicas, {"10.0.0.3", 6380}));
  // A flag that merely contains the word does not count.
  Reply lookalike{Reply::Type::array, "", 0, {entry("10.0.0.2", "6379", "slave,unpromoted")}};
  CHECK_FALSE(replicas_reply_promotes(lookalike, {"10.0.0.2", 6379}));
  CHECK_FALSE(
      replicas_reply_promotes(Reply{Reply::Type::error, "NOPERM", 0, {}}, {"10.0.0.3", 6379}));
}
