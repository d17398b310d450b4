// The socket layer under Connection: bounded name resolution, the TLS
// options' checks, and the non-throwing failure path, without a server.

#include "catch_compat.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>

#include "loopback.hpp"
#include "rk/errors.hpp"
#include "rk/redis_client.hpp"
#include "rk/resolve.hpp"
#include "rk/stream.hpp"
#include "rk/tls.hpp"

using namespace rk;

namespace {

using rk_test::LoopbackPort;

std::string temp_path(const char* name) {
  return std::string("/tmp/rk-unit-") + std::to_string(::getpid()) + "-" + name;
}

}  // namespace

TEST_CASE("resolve_address: literals in place, names under the deadline", "[stream]") {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  SECTION("IPv4 literal") {
    Resolution found = resolve_address("127.0.0.1", 6379, deadline);
    REQUIRE(found.error.empty());
    REQUIRE(found.addresses.size() == 1);
    CHECK(found.addresses[0].family == AF_INET);
    const auto* in4 = reinterpret_cast<const sockaddr_in*>(&found.addresses[0].address);
    CHECK(ntohs(in4->sin_port) == 6379);
  }
  SECTION("IPv6 literal") {
    Resolution found = resolve_address("::1", 7000, deadline);
    REQUIRE(found.error.empty());
    REQUIRE(found.addresses.size() == 1);
    CHECK(found.addresses[0].family == AF_INET6);
  }
  SECTION("a name from /etc/hosts") {
    Resolution found = resolve_address("localhost", 6379, deadline);
    CHECK(found.error.empty());
    CHECK_FALSE(found.addresses.empty());
    CHECK_FALSE(found.timed_out);
  }
}

TEST_CASE("check_tls_options: every misuse is a usage error naming it", "[stream]") {
  TlsOptions options;
  CHECK_NOTHROW(check_tls_options(options));
  SECTION("a TLS option without --tls") {
    options.cacert = "/etc/hostname";
    CHECK_THROWS_WITH(check_tls_options(options), "--cacert needs --tls");
    options = TlsOptions{};
    options.insecure = true;
    CHECK_THROWS_WITH(check_tls_options(options), "--insecure needs --tls");
    options = TlsOptions{};
    options.sni = "redis.example";
    CHECK_THROWS_WITH(check_tls_options(options), "--sni needs --tls");
  }
  options.enabled = true;
  SECTION("--cert without --key, and the reverse") {
    options.cert = "/etc/hostname";
    CHECK_THROWS_WITH(check_tls_options(options), "--cert needs --key");
    options.cert.clear();
    options.key = "/etc/hostname";
    CHECK_THROWS_WITH(check_tls_options(options), "--key needs --cert");
  }
  SECTION("it reads no file: a missing one is load_tls_files' to find") {
    options.cacert = temp_path("missing.pem");
    CHECK_NOTHROW(check_tls_options(options));
  }
}

TEST_CASE("load_tls_files: every unreadable or malformed file is a usage error naming it",
          "[stream]") {
  TlsOptions options;
  options.enabled = true;
  SECTION("missing, wrong-kind and malformed files") {
    options.cacert = temp_path("missing.pem");
    CHECK_THROWS_WITH(load_tls_files(options),
                      rk_test::Contains("--cacert") && rk_test::Contains("No such file"));
    options.cacert = "/tmp";
    CHECK_THROWS_WITH(load_tls_files(options), rk_test::Contains("not a regular file"));
    options.cacert.clear();
    options.cacertdir = "/etc/hostname";
    CHECK_THROWS_WITH(load_tls_files(options), rk_test::Contains("not a directory"));
    options.cacertdir.clear();
    std::string garbage = temp_path("garbage.pem");
    std::ofstream(garbage) << "not a certificate\n";
    options.cacert = garbage;
    CHECK_THROWS_WITH(load_tls_files(options),
                      rk_test::Contains("--cacert") && rk_test::Contains("no certificate"));
    options.cacert.clear();
    options.cert = garbage;
    options.key = garbage;
    CHECK_THROWS_WITH(load_tls_files(options), rk_test::Contains("--cert " + garbage));
    std::remove(garbage.c_str());
  }
  SECTION("--tls alone verifies with the system's CAs") { CHECK_NOTHROW(load_tls_files(options)); }
  SECTION("--insecure parses no CA, but still refuses a file it cannot read") {
    options.insecure = true;
    std::string garbage = temp_path("garbage-ca.pem");
    std::ofstream(garbage) << "not a certificate\n";
    options.cacert = garbage;
    CHECK_NOTHROW(load_tls_files(options));
    options.cacert = "/tmp";
    CHECK_THROWS_WITH(load_tls_files(options), rk_test::Contains("not a regular file"));
    std::remove(garbage.c_str());
  }
}

TEST_CASE("ClientFailure::raise throws the exception of its kind", "[stream]") {
  using Kind = ClientFailure::Kind;
  CHECK_THROWS_AS((ClientFailure{Kind::timeout, "t", {}}.raise()), TimeoutError);
  CHECK_THROWS_AS((ClientFailure{Kind::protocol, "p", {}}.raise()), ProtocolError);
  CHECK_THROWS_AS((ClientFailure{Kind::io, "i", {}}.raise()), IoError);
  try {
    ClientFailure{Kind::reply, "AUTH refused", "WRONGPASS"}.raise();
    FAIL("raise returned");
  } catch (const ReplyError& error) {
    CHECK(error.code() == "WRONGPASS");
  }
}

TEST_CASE("try_open reports a failure as a value, never by throwing", "[stream]") {
  ConnectionOptions options;
  options.host = "127.0.0.1";
  ClientFailure failure;
  SECTION("refused: an I/O failure naming it") {
    LoopbackPort closed(false);
    options.port = closed.port();
    std::optional<Connection> connection;
    REQUIRE_NOTHROW(
        connection =
            Connection::try_open(options, Clock::now() + std::chrono::milliseconds(500), failure));
    CHECK_FALSE(connection);
    CHECK(failure.kind == ClientFailure::Kind::io);
    CHECK_THAT(failure.message, rk_test::Contains("Connection refused while connecting"));
  }
  SECTION("a TLS handshake nobody answers: a timeout within the deadline") {
    LoopbackPort silent(true);
    options.port = silent.port();
    options.tls.enabled = true;
    options.tls.insecure = true;
    auto started = Clock::now();
    std::optional<Connection> connection;
    REQUIRE_NOTHROW(
        connection =
            Connection::try_open(options, started + std::chrono::milliseconds(150), failure));
    CHECK_FALSE(connection);
    CHECK(failure.kind == ClientFailure::Kind::timeout);
    CHECK_THAT(failure.message, rk_test::Contains("TLS handshake"));
    CHECK(Clock::now() - started < std::chrono::milliseconds(1000));
  }
}

namespace {

using rk_test::ms_since;

Stream::TimePoint after_ms(int ms) { return Clock::now() + std::chrono::milliseconds(ms); }

// A plain-text Stream to `port` on 127.0.0.1 (the test's listener).
std::unique_ptr<Stream> open_plain(int port) {
  ClientFailure failure;
  std::unique_ptr<Stream> stream =
      Stream::open("127.0.0.1", port, TlsOptions{}, after_ms(1000), failure);
  INFO(failure.message);
  REQUIRE(stream);
  return stream;
}

// A plain-text Stream to a listener of the test's, and the server's end of
// the connection.
struct Connected {
  LoopbackPort listener{true};
  std::unique_ptr<Stream> stream = open_plain(listener.port());
  rk::Fd server = listener.accept_one();
  std::string buffer;
  ClientFailure failure;
};

}  // namespace

TEST_CASE("Stream::open: a refused connect is an I/O failure naming host:port", "[stream]") {
  LoopbackPort closed(false);
  ClientFailure failure;
  CHECK_FALSE(Stream::open("127.0.0.1", closed.port(), TlsOptions{}, after_ms(1000), failure));
  CHECK(failure.kind == ClientFailure::Kind::io);
  CHECK(failure.message ==
        "127.0.0.1:" + std::to_string(closed.port()) + ": Connection refused while connecting");
  // An IPv6 address in brackets: ::1:PORT would read as one longer address.
  CHECK_FALSE(Stream::open("::1", closed.port(), TlsOptions{}, after_ms(1000), failure));
  CHECK_THAT(failure.message, rk_test::StartsWith("[::1]:" + std::to_string(closed.port()) + ": "));
}

TEST_CASE("Stream::open: a connect nobody completes times out at the deadline", "[stream]") {
  // A backlog of 0 holds one completed connection; the kernel drops the
  // next SYN, so the second connect waits as if the host were silent.
  LoopbackPort full(true, 0);
  rk::Fd first = rk_test::connect_to(full.port());
  ClientFailure failure;
  auto started = Clock::now();
  CHECK_FALSE(Stream::open("127.0.0.1", full.port(), TlsOptions{},
                           started + std::chrono::milliseconds(200), failure));
  CHECK(failure.kind == ClientFailure::Kind::timeout);
  CHECK_THAT(failure.message, rk_test::Contains("timed out while connecting"));
  CHECK(ms_since(started) >= 190);
  CHECK(ms_since(started) < 1000);
}

TEST_CASE("Stream: what the server sends arrives, and is counted", "[stream]") {
  Connected c;
  CHECK(c.stream->received() == 0);
  CHECK_FALSE(c.stream->tls());
  const std::string ping = "*1\r\n$4\r\nPING\r\n";
  REQUIRE(c.stream->write_all(ping.data(), ping.size(), after_ms(1000), c.failure));
  char got[64] = {};
  REQUIRE(::recv(c.server.get(), got, sizeof(got), 0) == static_cast<ssize_t>(ping.size()));
  CHECK(std::string(got) == ping);
  REQUIRE(::send(c.server.get(), "+PONG\r\n", 7, 0) == 7);
  REQUIRE(c.stream->read_some(c.buffer, after_ms(1000), c.failure));
  CHECK(c.buffer == "+PONG\r\n");
  CHECK(c.stream->received() == 7);
}

TEST_CASE("Stream::read_some: a silent server times out at the deadline", "[stream]") {
  Connected c;
  auto started = Clock::now();
  CHECK_FALSE(c.stream->read_some(c.buffer, started + std::chrono::milliseconds(150), c.failure));
  CHECK(c.failure.kind == ClientFailure::Kind::timeout);
  CHECK(c.failure.message ==
        "127.0.0.1:" + std::to_string(c.listener.port()) + ": timed out while reading");
  CHECK(ms_since(started) >= 140);
  CHECK(ms_since(started) < 1000);
  CHECK(c.buffer.empty());
}

TEST_CASE("Stream::read_some: a server that closes is an I/O failure", "[stream]") {
  Connected c;
  SECTION("before any reply: the hint that it may be a TLS port") {
    c.server.reset();
    CHECK_FALSE(c.stream->read_some(c.buffer, after_ms(1000), c.failure));
    CHECK(c.failure.kind == ClientFailure::Kind::io);
    CHECK_THAT(c.failure.message,
               rk_test::Contains("connection closed by the server while reading (before any "
                                 "reply: a TLS port? see --tls)"));
  }
  SECTION("with a reset, before any reply: the same hint") {
    rk_test::reset_connection(c.server);
    CHECK_FALSE(c.stream->read_some(c.buffer, after_ms(1000), c.failure));
    CHECK_THAT(c.failure.message,
               rk_test::Contains("Connection reset by peer while reading (before"));
  }
  SECTION("after a reply: no hint") {
    REQUIRE(::send(c.server.get(), "+OK\r\n", 5, 0) == 5);
    REQUIRE(c.stream->read_some(c.buffer, after_ms(1000), c.failure));
    c.server.reset();
    CHECK_FALSE(c.stream->read_some(c.buffer, after_ms(1000), c.failure));
    CHECK(c.failure.kind == ClientFailure::Kind::io);
    CHECK_THAT(c.failure.message,
               rk_test::Contains("connection closed by the server while reading"));
    CHECK_THAT(c.failure.message, !rk_test::Contains("TLS port"));
  }
}

TEST_CASE("Stream::write_all: a reset connection is an I/O failure, never SIGPIPE", "[stream]") {
  Connected c;
  rk_test::reset_connection(c.server);
  const std::string command = "*1\r\n$4\r\nPING\r\n";
  CHECK_FALSE(c.stream->write_all(command.data(), command.size(), after_ms(1000), c.failure));
  CHECK(c.failure.kind == ClientFailure::Kind::io);
  CHECK_THAT(c.failure.message, rk_test::Contains("while sending"));
}

TEST_CASE("Stream::write_all: a server that never reads times out at the deadline", "[stream]") {
  Connected c;
  // More than both sockets' buffers hold, so the send must wait for room.
  const std::string flood(64 << 20, 'x');
  auto started = Clock::now();
  CHECK_FALSE(c.stream->write_all(flood.data(), flood.size(),
                                  started + std::chrono::milliseconds(200), c.failure));
  CHECK(c.failure.kind == ClientFailure::Kind::timeout);
  CHECK_THAT(c.failure.message, rk_test::Contains("timed out while sending"));
  CHECK(ms_since(started) >= 190);
  CHECK(ms_since(started) < 2000);
}
