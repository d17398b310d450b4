#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rk/clock.hpp"
#include "rk/endpoint.hpp"
#include "rk/errors.hpp"
#include "rk/reply.hpp"
#include "rk/result.hpp"
#include "rk/tls.hpp"

// hiredis is wrapped here once; its header appears only in redis_client.cpp.
// Only its reply reader and command formatter are used: the socket (and its
// TLS session) is Stream's, because hiredis 0.14 has no TLS and does not
// bound name resolution.
struct redisReader;

namespace rk {

class Stream;

struct ConnectionOptions {
  std::string host = "127.0.0.1";  // an address, or a name (resolved under the deadline)
  int port = 6379;
  TlsOptions tls;
  // Bound on name resolution, the TCP connect, the TLS handshake and AUTH.
  std::chrono::milliseconds connect_timeout{500};
  // Bound on each command, from send to full reply.
  std::chrono::milliseconds command_timeout{500};
  std::string user;      // ACL user; empty means the default user
  std::string password;  // empty means no AUTH
  // rename-command in redis.conf: canonical name (upper case) -> name to send.
  std::map<std::string, std::string> renamed_commands;

  Endpoint endpoint() const { return {host, port}; }
};

// What parse_reply_bytes() read from a byte stream.
struct ParsedReplies {
  std::vector<Reply> replies;  // every complete reply, in order
  bool complete = true;        // false when the bytes end inside a reply
};

// Reads `bytes` as a server's reply stream, with the same hiredis reader and
// conversion to Reply that Connection uses. A protocol violation is a
// failure naming it. No I/O: the reply fuzzer drives the parsing through it.
Result<ParsedReplies> parse_reply_bytes(std::string_view bytes);

// What Connection::fetch_rdb() received: the history and offset the copy
// holds (from +FULLRESYNC) and the size of the RDB payload.
struct RdbSnapshot {
  std::string replid;
  long long offset = -1;
  long long bytes = 0;
};

// One connection (TCP, or TLS over TCP) to one Redis server. Move-only;
// closes on destruction.
class Connection {
 public:
  // Connects and authenticates, all before `deadline`. nullopt with
  // `failure` set when that fails (a refused AUTH is Kind::reply). Throws
  // nothing for a server that is down, slow or wrong: the health check's
  // failing path must cost no more than its passing one.
  static std::optional<Connection> try_open(const ConnectionOptions& options,
                                            Clock::time_point deadline, ClientFailure& failure);
  // Same, but throws IoError, TimeoutError, or ReplyError when AUTH is
  // refused.
  static Connection open(const ConnectionOptions& options, Clock::time_point deadline);
  // Same, with the deadline `options.connect_timeout` from now.
  static Connection open(const ConnectionOptions& options);

  Connection(Connection&&) noexcept;
  Connection& operator=(Connection&&) noexcept;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  // Sends argv and returns the reply, bounded by `deadline` as a whole (not
  // per read, so a server that drips half a reply cannot stretch it). Error
  // replies are returned. nullopt with `failure` set when no reply came (the
  // connection is unusable afterwards).
  std::optional<Reply> try_command(const std::vector<std::string>& argv, Clock::time_point deadline,
                                   ClientFailure& failure);
  // The next reply the server sends without being asked (a pub/sub
  // message after SUBSCRIBE), read from the socket when none is buffered;
  // bounded by `deadline`. nullopt with `failure` set when none came (the
  // connection is unusable afterwards).
  std::optional<Reply> try_receive(Clock::time_point deadline, ClientFailure& failure);
  // A reply already read and complete, without touching the socket: what
  // is left after try_receive when several messages came in one read.
  std::optional<Reply> buffered_reply();
  // Same as try_command, but throws IoError/TimeoutError/ProtocolError.
  Reply command(const std::vector<std::string>& argv, Clock::time_point deadline);
  // Same, with the deadline `options.command_timeout` from now.
  Reply command(const std::vector<std::string>& argv);
  // Like command(), but an error reply throws ReplyError.
  Reply command_ok(const std::vector<std::string>& argv);

  // Asks the server for a copy of its whole dataset, as a replica would, and
  // hands the RDB bytes to `sink` as they arrive. `REPLCONF rdb-only 1`
  // (Redis 7.0+) makes the server close the link after the RDB instead of
  // streaming its writes; `PSYNC ? -1` forces a full sync, whose reply
  // +FULLRESYNC <replid> <offset> names the history and offset the copy
  // holds. Without `REPLCONF capa eof` the server saves to disk and sends
  // the file with its length, so repl-diskless-sync-delay does not delay it.
  // Needs +replconf +psync. The connection is unusable afterwards. Bounded
  // by `deadline` as a whole. While it waits for the server (its BGSAVE can
  // take minutes) it calls `between_waits`, when given, at least every
  // `wait_slice`. Throws ReplyError (refused), ProtocolError (not an RDB),
  // IoError/TimeoutError; exceptions thrown by `sink` or `between_waits`
  // pass through.
  RdbSnapshot fetch_rdb(const std::function<void(const char*, size_t)>& sink,
                        Clock::time_point deadline, const std::function<void()>& between_waits = {},
                        std::chrono::milliseconds wait_slice = std::chrono::milliseconds(1000));

  // The local address of this connection's TCP socket (getsockname): the address the
  // server sees us as, which is what a peer must use to reach this host.
  std::string local_address() const;
  const ConnectionOptions& options() const { return options_; }
  // The socket, for poll() by a caller that waits for the server to close
  // it (redis_watch); never read or written outside this class.
  int socket_fd() const;

 private:
  using ReaderPtr = std::unique_ptr<redisReader, void (*)(redisReader*)>;
  Connection(std::unique_ptr<Stream> stream, ConnectionOptions options);
  // Formats and sends argv (after rename-command), bounded by `deadline`.
  bool send(const std::vector<std::string>& argv, Clock::time_point deadline,
            ClientFailure& failure);
  // How fetch_rdb waits: until `deadline`, calling `between` (when set)
  // every `slice` that passes without a byte.
  struct Waiting {
    Clock::time_point deadline;
    const std::function<void()>& between;
    std::chrono::milliseconds slice;
  };
  // Reads what the socket has (at least one byte) into `buffer`; throws
  // IoError when the server closed the connection, TimeoutError at the
  // deadline.
  void read_some(std::string& buffer, const Waiting& waiting);
  // Reads one CRLF-terminated line of the replication handshake, skipping
  // the bare newlines a master sends while it prepares the RDB.
  std::string read_handshake_line(std::string& buffer, const Waiting& waiting);
  // Marks the connection unusable and returns false, for `return fail(...)`.
  bool fail(ClientFailure& failure, ClientFailure cause);

  std::unique_ptr<Stream> stream_;
  ReaderPtr reader_;
  ConnectionOptions options_;
  bool broken_ = false;
};

}  // namespace rk
