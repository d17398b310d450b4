#include "catch_compat.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <chrono>
#include <cstring>
#include <vector>

#include "loopback.hpp"
#include "rk/reachability.hpp"

using rk::own_witness_text;
using rk::SocketAddress;
using rk_test::LoopbackPort;

namespace {

// An address literal (IPv4 or IPv6) as the probe resolves it: in place,
// without a lookup.
SocketAddress literal(const char* text) {
  rk::Resolution found = rk::resolve_address(text, 0, rk::Clock::now() + std::chrono::seconds(1));
  REQUIRE(found.addresses.size() == 1);
  return found.addresses.front();
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
  const std::vector<SocketAddress> own{literal("192.0.2.10")};
  CHECK_THAT(own_witness_text("10.0.0.1", "10.0.0.1", own), rk_test::Contains("--host"));
  CHECK_THAT(own_witness_text("redis.example", "REDIS.example", own), rk_test::Contains("--host"));
  CHECK_THAT(own_witness_text("::ffff:10.0.0.1", "10.0.0.1", own), rk_test::Contains("--host"));
  CHECK_THAT(own_witness_text("192.0.2.10", "10.0.0.1", own),
             rk_test::Contains("an address of this host"));
  CHECK_THAT(own_witness_text("::ffff:192.0.2.10", "10.0.0.1", own),
             rk_test::Contains("an address of this host"));
}

TEST_CASE("own_witness_text: another host, or a name left to the probe", "[reachability]") {
  const std::vector<SocketAddress> own{literal("192.0.2.10")};
  CHECK(own_witness_text("192.0.2.1", "10.0.0.1", own).empty());
  CHECK(own_witness_text("2001:db8::1", "10.0.0.1", own).empty());
  CHECK(own_witness_text("gateway.example", "10.0.0.1", own).empty());
  CHECK(own_witness_text("notlocalhost", "10.0.0.1", own).empty());
}

namespace {

rk::ProbeTarget on_loopback(int port, bool must_be_remote = false) {
  return rk::ProbeTarget{rk::Endpoint{"127.0.0.1", port}, must_be_remote};
}

rk::Clock::time_point after_ms(int ms) { return rk::Clock::now() + std::chrono::milliseconds(ms); }

}  // namespace

TEST_CASE("own_address: IPv6 and IPv4-mapped addresses of this host", "[reachability]") {
  const std::vector<SocketAddress> own{literal("192.0.2.10"), literal("2001:db8::5")};
  CHECK(rk::own_address(literal("2001:db8::5"), own) == "2001:db8::5 is an address of this host");
  CHECK(rk::own_address(literal("::ffff:192.0.2.10"), own) ==
        "::ffff:192.0.2.10 is an address of this host");
  CHECK(rk::own_address(literal("192.0.2.10"), own) == "192.0.2.10 is an address of this host");
  CHECK(rk::own_address(literal("::1"), own) == "::1 is the loopback address");
  CHECK(rk::own_address(literal("::ffff:127.0.0.2"), own) ==
        "::ffff:127.0.0.2 is a loopback address");
  CHECK(rk::own_address(literal("2001:db8::6"), own).empty());
  // An IPv4 address never matches an IPv6 one that only shares its bytes.
  CHECK(rk::own_address(literal("::c000:20a"), own).empty());
}

TEST_CASE("interface_addresses lists this host's loopback address", "[reachability]") {
  std::vector<SocketAddress> addresses = rk::interface_addresses();
  bool loopback = false;
  for (const SocketAddress& address : addresses)
    if (address.family == AF_INET &&
        ntohl(reinterpret_cast<const sockaddr_in*>(&address.address)->sin_addr.s_addr) ==
            INADDR_LOOPBACK)
      loopback = true;
  CHECK(loopback);
}

TEST_CASE("probe_reachable: a completed or refused connect reaches the host", "[reachability]") {
  LoopbackPort listening(true);
  LoopbackPort refusing(false);
  // Each alone: probing stops at the first reached one.
  std::vector<rk::Probe> probes =
      rk::probe_reachable({on_loopback(listening.port())}, {}, after_ms(1000));
  REQUIRE(probes.size() == 1);
  CHECK(probes[0].reached);
  CHECK(probes[0].own_address.empty());
  probes = rk::probe_reachable({on_loopback(refusing.port())}, {}, after_ms(1000));
  CHECK(probes[0].reached);  // the RST came from the host: the network works
}

TEST_CASE("probe_reachable: a silent host is not reached, and the deadline holds",
          "[reachability]") {
  // A full backlog drops the SYN, as a host behind a cut link would.
  LoopbackPort full(true, 0);
  rk::Fd filler = rk_test::connect_to(full.port());
  auto started = rk::Clock::now();
  std::vector<rk::Probe> probes =
      rk::probe_reachable({on_loopback(full.port())}, {}, started + std::chrono::milliseconds(200));
  CHECK_FALSE(probes[0].reached);
  CHECK_FALSE(probes[0].unresolved);
  CHECK(rk_test::ms_since(started) >= 190);
  CHECK(rk_test::ms_since(started) < 1000);
}

TEST_CASE("probe_reachable: one reached target ends the wait for the others", "[reachability]") {
  LoopbackPort full(true, 0);
  rk::Fd filler = rk_test::connect_to(full.port());
  LoopbackPort listening(true);
  auto started = rk::Clock::now();
  std::vector<rk::Probe> probes =
      rk::probe_reachable({on_loopback(full.port()), on_loopback(listening.port())}, {},
                          after_ms(2000));
  REQUIRE(probes.size() == 2);
  CHECK_FALSE(probes[0].reached);
  CHECK(probes[1].reached);
  CHECK(rk_test::ms_since(started) < 1000);
}

TEST_CASE("probe_reachable: a witness on this host is reported, not probed", "[reachability]") {
  LoopbackPort listening(true);
  std::vector<rk::Probe> probes =
      rk::probe_reachable({on_loopback(listening.port(), true),
                           rk::ProbeTarget{rk::Endpoint{"::1", listening.port()}, true}},
                          {}, after_ms(1000));
  REQUIRE(probes.size() == 2);
  CHECK(probes[0].own_address == "127.0.0.1 is a loopback address");
  CHECK_FALSE(probes[0].reached);
  CHECK(probes[1].own_address == "::1 is the loopback address");
  CHECK_FALSE(probes[1].reached);
}
