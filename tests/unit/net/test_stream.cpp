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

#include "rk/errors.hpp"
#include "rk/redis_client.hpp"
#include "rk/resolve.hpp"
#include "rk/tls.hpp"

using namespace rk;

namespace {

// A loopback TCP socket, bound and optionally listening: its port refuses
// connections until it listens, and a listener that never accepts keeps a
// client waiting for its first byte.
class LoopbackPort {
 public:
  explicit LoopbackPort(bool listening) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
    socklen_t length = sizeof(address);
    REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) == 0);
    port_ = ntohs(address.sin_port);
    if (listening) REQUIRE(::listen(fd_, 4) == 0);
  }
  LoopbackPort(const LoopbackPort&) = delete;
  LoopbackPort& operator=(const LoopbackPort&) = delete;
  ~LoopbackPort() { ::close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

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
