#include "catch_compat.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

#include "rk/reachability.hpp"

using rk::own_witness_text;
using rk::SocketAddress;

namespace {

SocketAddress ipv4(const char* text) {
  SocketAddress address;
  auto* in = reinterpret_cast<sockaddr_in*>(&address.address);
  in->sin_family = AF_INET;
  REQUIRE(::inet_pton(AF_INET, text, &in->sin_addr) == 1);
  address.family = AF_INET;
  address.length = sizeof(sockaddr_in);
  return address;
}

}  // namespace

TEST_CASE("own_witness_text: loopback, unspecified and localhost are this host", "[reachability]") {
  const std::vector<SocketAddress> none;
  CHECK_THAT(own_witness_text("127.0.0.1", "10.0.0.1", none), rk_test::Contains("loopback"));
  CHECK_THAT(own_witness_text("127.200.0.9", "10.0.0.1", none), rk_test::Contains("loopback"));
  CHECK_THAT(own_witness_text("::1", "10.0.0.1", none), rk_test::Contains("loopback"));
  CHECK_THAT(own_witness_text("::ffff:127.0.0.1", "10.0.0.1", none), rk_test::Contains("loopback"));
  CHECK_THAT(own_witness_text("0.0.0.0", "10.0.0.1", none), rk_test::Contains("this host"));
  CHECK_THAT(own_witness_text("::", "10.0.0.1", none), rk_test::Contains("this host"));
  CHECK_THAT(own_witness_text("localhost", "10.0.0.1", none), rk_test::Contains("names this host"));
  CHECK_THAT(own_witness_text("LocalHost.", "10.0.0.1", none),
             rk_test::Contains("names this host"));
  CHECK_THAT(own_witness_text("db.localhost", "10.0.0.1", none),
             rk_test::Contains("names this host"));
}

TEST_CASE("own_witness_text: the --host and this host's interface addresses", "[reachability]") {
  const std::vector<SocketAddress> own{ipv4("192.0.2.10")};
  CHECK_THAT(own_witness_text("10.0.0.1", "10.0.0.1", own), rk_test::Contains("--host"));
  CHECK_THAT(own_witness_text("redis.example", "REDIS.example", own), rk_test::Contains("--host"));
  CHECK_THAT(own_witness_text("::ffff:10.0.0.1", "10.0.0.1", own), rk_test::Contains("--host"));
  CHECK_THAT(own_witness_text("192.0.2.10", "10.0.0.1", own),
             rk_test::Contains("an address of this host"));
  CHECK_THAT(own_witness_text("::ffff:192.0.2.10", "10.0.0.1", own),
             rk_test::Contains("an address of this host"));
}

TEST_CASE("own_witness_text: another host, or a name left to the probe", "[reachability]") {
  const std::vector<SocketAddress> own{ipv4("192.0.2.10")};
  CHECK(own_witness_text("192.0.2.1", "10.0.0.1", own).empty());
  CHECK(own_witness_text("2001:db8::1", "10.0.0.1", own).empty());
  CHECK(own_witness_text("gateway.example", "10.0.0.1", own).empty());
  CHECK(own_witness_text("notlocalhost", "10.0.0.1", own).empty());
}
