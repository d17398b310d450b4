// reach_of: how a failed read of a server's INFO becomes a Reach, the word
// the decisions act on (only a server that is gone lets a hook give up on
// its peer; a silent one may come back; a denied one is a configuration
// problem). Each RedisError kind directly, then observe() against loopback
// listeners that this test plays the server with.

#include "catch_compat.hpp"

#include <sys/socket.h>

#include <chrono>
#include <optional>
#include <string>

#include <fmt/format.h>

#include "loopback.hpp"
#include "rk/errors.hpp"
#include "rk/observe.hpp"

using namespace rk;
using rk_test::LoopbackPort;

TEST_CASE("reach_of: every RedisError kind", "[observe]") {
  CHECK(reach_of(IoError("Connection refused")) == Reach::gone);
  // A TimeoutError is an IoError too, but a server that is slow is not gone.
  CHECK(reach_of(TimeoutError("timed out")) == Reach::silent);
  CHECK(reach_of(ProtocolError("garbage")) == Reach::silent);
  CHECK(reach_of(RedisError("other")) == Reach::silent);
  for (const char* later : {"LOADING", "BUSY", "TRYAGAIN"}) {
    INFO(later);
    CHECK(reach_of(ReplyError(later, "later")) == Reach::silent);
  }
  for (const char* refused : {"NOAUTH", "WRONGPASS", "NOPERM", "ERR", "MASTERDOWN", ""}) {
    INFO(refused);
    CHECK(reach_of(ReplyError(refused, "refused")) == Reach::denied);
  }
}

TEST_CASE("reach_of: the same for each failure a try_ call returns as a value", "[observe]") {
  using Kind = ClientFailure::Kind;
  auto reach_of_failure = [](const ClientFailure& failure) {
    try {
      failure.raise();
    } catch (const RedisError& error) {
      return reach_of(error);
    }
    return Reach::answered;
  };
  CHECK(reach_of_failure({Kind::io, "refused", {}}) == Reach::gone);
  CHECK(reach_of_failure({Kind::timeout, "timed out", {}}) == Reach::silent);
  CHECK(reach_of_failure({Kind::protocol, "garbage", {}}) == Reach::silent);
  CHECK(reach_of_failure({Kind::reply, "loading", "LOADING"}) == Reach::silent);
  CHECK(reach_of_failure({Kind::reply, "denied", "NOPERM"}) == Reach::denied);
}

namespace {

ConnectionOptions loopback_options(int port) {
  ConnectionOptions options;
  options.host = "127.0.0.1";
  options.port = port;
  options.connect_timeout = std::chrono::milliseconds(500);
  options.command_timeout = std::chrono::milliseconds(150);
  return options;
}

// observe() over a connection the test opened, to a server whose answer to
// INFO (`reply`, raw RESP) is already waiting in the socket.
Observation observe_answer(const std::string& reply) {
  LoopbackPort listener(true);
  ConnectionOptions options = loopback_options(listener.port());
  std::optional<Connection> connection(Connection::open(options));
  rk::Fd server = listener.accept_one();
  if (!reply.empty())
    REQUIRE(::send(server.get(), reply.data(), reply.size(), 0) ==
            static_cast<ssize_t>(reply.size()));
  Observation seen = observe(connection, options);
  // After any failure the connection is dropped, so the next call reconnects.
  CHECK(connection.has_value() == seen.answered());
  return seen;
}

}  // namespace

TEST_CASE("observe: nothing listening is gone", "[observe]") {
  LoopbackPort closed(false);
  std::optional<Connection> connection;
  Observation seen = observe(connection, loopback_options(closed.port()));
  CHECK(seen.reach == Reach::gone);
  CHECK_THAT(seen.error, rk_test::Contains("Connection refused"));
  CHECK_FALSE(connection);
}

TEST_CASE("observe: what the server answers to INFO", "[observe]") {
  SECTION("no answer before the deadline: silent") {
    Observation seen = observe_answer("");
    CHECK(seen.reach == Reach::silent);
    CHECK_THAT(seen.error, rk_test::Contains("no reply within 150 ms"));
  }
  SECTION("-LOADING: silent, it will answer later") {
    CHECK(observe_answer("-LOADING Redis is loading the dataset in memory\r\n").reach ==
          Reach::silent);
  }
  SECTION("-NOAUTH: denied") {
    Observation seen = observe_answer("-NOAUTH Authentication required.\r\n");
    CHECK(seen.reach == Reach::denied);
    CHECK_THAT(seen.error, rk_test::Contains("INFO refused: NOAUTH"));
  }
  SECTION("bytes that are not RESP: silent") {
    CHECK(observe_answer("HTTP/1.1 400 Bad Request\r\n\r\n").reach == Reach::silent);
  }
  SECTION("an INFO without its replication fields: silent") {
    Observation seen = observe_answer("$13\r\nredis_version\r\n");
    CHECK(seen.reach == Reach::silent);
    CHECK_THAT(seen.error, rk_test::Contains("INFO lacks"));
  }
  SECTION("a whole INFO: answered, with the state it describes") {
    const std::string info =
        "# Replication\r\nrole:master\r\nconnected_slaves:0\r\n"
        "master_replid:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\nmaster_repl_offset:42\r\n"
        "# Persistence\r\nloading:0\r\n";
    Observation seen = observe_answer(fmt::format("${}\r\n{}\r\n", info.size(), info));
    REQUIRE(seen.reach == Reach::answered);
    CHECK(seen.state->is_master());
    CHECK(seen.state->master_repl_offset == 42);
  }
}
