#include "rk/redis_client.hpp"

#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <new>

#include <fmt/format.h>

#include "rk/errors.hpp"

namespace rk {
namespace {

timeval to_timeval(std::chrono::milliseconds ms) {
  if (ms.count() < 1) ms = std::chrono::milliseconds(1);
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

std::chrono::milliseconds remaining(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return std::max(left, std::chrono::milliseconds(0));
}

Reply convert(const redisReply& raw) {
  Reply reply;
  switch (raw.type) {
    case REDIS_REPLY_STATUS:
      reply.type = Reply::Type::status;
      reply.text.assign(raw.str, raw.len);
      break;
    case REDIS_REPLY_ERROR:
      reply.type = Reply::Type::error;
      reply.text.assign(raw.str, raw.len);
      break;
    case REDIS_REPLY_INTEGER:
      reply.type = Reply::Type::integer;
      reply.integer = raw.integer;
      break;
    case REDIS_REPLY_STRING:
      reply.type = Reply::Type::string;
      reply.text.assign(raw.str, raw.len);
      break;
    case REDIS_REPLY_ARRAY:
      reply.type = Reply::Type::array;
      reply.elements.reserve(raw.elements);
      for (size_t i = 0; i < raw.elements; ++i) reply.elements.push_back(convert(*raw.element[i]));
      break;
    default: reply.type = Reply::Type::nil; break;
  }
  return reply;
}

// hiredis allocates an array reply's table of elements as soon as it reads
// the "*<count>" header, before any element arrives: the 13 bytes
// "*2147483647\r\n" from a broken or hostile server cost a 16 GiB calloc. No
// reply the tools read has more than a handful of elements, so larger counts
// are refused; hiredis then reports the reply as out of memory.
constexpr int max_array_elements = 1 << 20;

void* (*hiredis_create_array)(const redisReadTask*, int) = nullptr;

void* create_bounded_array(const redisReadTask* task, int elements) {
  if (elements > max_array_elements) return nullptr;
  return hiredis_create_array(task, elements);
}

// Makes `reader` build replies with hiredis's own functions, except that
// array counts are bounded.
void bound_array_replies(redisReader* reader) {
  static redisReplyObjectFunctions bounded = [&reader] {
    redisReplyObjectFunctions functions = *reader->fn;
    hiredis_create_array = functions.createArray;
    functions.createArray = &create_bounded_array;
    return functions;
  }();
  reader->fn = &bounded;
}

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return s;
}

}  // namespace

Result<ParsedReplies> parse_reply_bytes(std::string_view bytes) {
  std::unique_ptr<redisReader, void (*)(redisReader*)> reader(redisReaderCreate(),
                                                              &redisReaderFree);
  if (!reader) throw std::bad_alloc();
  bound_array_replies(reader.get());
  if (redisReaderFeed(reader.get(), bytes.data(), bytes.size()) != REDIS_OK)
    return Result<ParsedReplies>::failure(reader->errstr);
  ParsedReplies parsed;
  for (;;) {
    void* raw = nullptr;
    if (redisReaderGetReply(reader.get(), &raw) != REDIS_OK)
      return Result<ParsedReplies>::failure(reader->errstr);
    if (raw == nullptr) break;
    std::unique_ptr<redisReply, void (*)(void*)> owned(static_cast<redisReply*>(raw),
                                                       &freeReplyObject);
    parsed.replies.push_back(convert(*owned));
  }
  // Incomplete: bytes left unread, or a reply still being assembled. After
  // the last reply hiredis 0.14 resets ridx to -1 only once it has trimmed
  // its buffer (past 1 KiB); below that it leaves ridx at 0 with the first
  // task's type unset (-1), which means the same: no reply in progress.
  bool in_progress = reader->ridx > 0 || (reader->ridx == 0 && reader->rstack[0].type >= 0);
  parsed.complete = reader->pos == reader->len && !in_progress;
  return parsed;
}

Connection::Connection(ContextPtr context, ConnectionOptions options)
    : context_(std::move(context)), options_(std::move(options)) {}
Connection::Connection(Connection&&) noexcept = default;
Connection& Connection::operator=(Connection&&) noexcept = default;
Connection::~Connection() = default;

Connection Connection::open(const ConnectionOptions& options) {
  return open(options, Clock::now() + options.connect_timeout);
}

namespace {

// The one place where a hiredis error becomes an exception. `saved_errno` is
// errno as hiredis left it: hiredis 0.14 sets err = REDIS_ERR_IO from errno
// for every socket failure, including its own connect timeout (ETIMEDOUT)
// and a blocking read or write that hit SO_RCVTIMEO/SO_SNDTIMEO (EAGAIN).
[[noreturn]] void throw_hiredis_error(const redisContext& context, int saved_errno,
                                      const std::string& where, const char* during) {
  const bool timed_out =
      context.err == REDIS_ERR_IO && (saved_errno == ETIMEDOUT || saved_errno == EAGAIN ||
                                      saved_errno == EWOULDBLOCK || saved_errno == EINPROGRESS);
  if (timed_out) throw TimeoutError(fmt::format("{}: timed out {}", where, during));
  if (context.err == REDIS_ERR_OOM)
    throw ProtocolError(fmt::format("{}: reply refused {}: array over {} elements, or no memory",
                                    where, during, max_array_elements));
  if (context.err == REDIS_ERR_PROTOCOL)
    throw ProtocolError(fmt::format("{}: protocol error {}: {}", where, during, context.errstr));
  throw IoError(fmt::format("{}: {} {}", where, context.errstr, during));
}

}  // namespace

Connection Connection::open(const ConnectionOptions& options, Clock::time_point deadline) {
  // redisConnectWithTimeout bounds the TCP connect; name resolution is not
  // bounded by it (hiredis 0.14), which is why hosts are best given as
  // addresses.
  errno = 0;
  redisContext* raw =
      redisConnectWithTimeout(options.host.c_str(), options.port, to_timeval(remaining(deadline)));
  int saved_errno = errno;
  if (raw == nullptr) throw IoError("cannot allocate a Redis connection");
  Connection connection(ContextPtr(raw, &redisFree), options);
  std::string where = fmt::format("{}:{}", options.host, options.port);
  if (raw->err != 0) throw_hiredis_error(*raw, saved_errno, where, "while connecting");
  // Backstop for the blocking reads and writes; command() polls with the
  // real remaining deadline before each of them.
  redisSetTimeout(raw, to_timeval(options.command_timeout));
  bound_array_replies(raw->reader);

  if (!options.password.empty()) {
    std::vector<std::string> auth{"AUTH"};
    if (!options.user.empty()) auth.push_back(options.user);
    auth.push_back(options.password);
    Reply reply = connection.command(auth, deadline);
    // The message names the user, never the password.
    if (reply.is_error())
      throw ReplyError(reply.error_code(),
                       fmt::format("AUTH as {} at {} refused: {}",
                                   options.user.empty() ? "default" : options.user, where,
                                   reply.text));
  }
  return connection;
}

void Connection::fail(const char* during) {
  int saved_errno = errno;
  broken_ = true;
  throw_hiredis_error(*context_, saved_errno, fmt::format("{}:{}", options_.host, options_.port),
                      during);
}

void Connection::wait_for_socket(short events, Clock::time_point deadline) {
  for (;;) {
    auto left = remaining(deadline);
    if (left.count() <= 0) break;
    pollfd pfd{context_->fd, events, 0};
    int ready = ::poll(&pfd, 1, static_cast<int>(left.count()));
    if (ready > 0) return;
    if (ready < 0 && errno != EINTR) {
      broken_ = true;
      throw IoError(fmt::format("{}:{}: poll failed: {}", options_.host, options_.port,
                                std::strerror(errno)));
    }
    if (ready == 0) break;
  }
  broken_ = true;
  throw TimeoutError(fmt::format("{}:{}: no reply within {} ms", options_.host, options_.port,
                                 options_.command_timeout.count()));
}

Reply Connection::command(const std::vector<std::string>& argv) {
  return command(argv, Clock::now() + options_.command_timeout);
}

void Connection::send(const std::vector<std::string>& argv, Clock::time_point deadline) {
  if (broken_)
    throw IoError(fmt::format("{}:{}: connection unusable after an earlier error", options_.host,
                              options_.port));
  if (argv.empty()) throw std::invalid_argument("empty Redis command");

  std::vector<const char*> args;
  std::vector<size_t> lengths;
  args.reserve(argv.size());
  lengths.reserve(argv.size());
  // rename-command applies to the command name only; subcommands keep theirs.
  auto renamed = options_.renamed_commands.find(upper(argv.front()));
  const std::string& name =
      renamed == options_.renamed_commands.end() ? argv.front() : renamed->second;
  args.push_back(name.c_str());
  lengths.push_back(name.size());
  for (size_t i = 1; i < argv.size(); ++i) {
    args.push_back(argv[i].c_str());
    lengths.push_back(argv[i].size());
  }
  if (redisAppendCommandArgv(context_.get(), static_cast<int>(args.size()), args.data(),
                             lengths.data()) != REDIS_OK)
    fail("while formatting a command");

  int done = 0;
  while (done == 0) {
    wait_for_socket(POLLOUT, deadline);
    if (redisBufferWrite(context_.get(), &done) != REDIS_OK) fail("while sending");
  }
}

Reply Connection::command(const std::vector<std::string>& argv, Clock::time_point deadline) {
  send(argv, deadline);
  void* raw = nullptr;
  for (;;) {
    if (redisGetReplyFromReader(context_.get(), &raw) != REDIS_OK) fail("while parsing the reply");
    if (raw != nullptr) break;
    wait_for_socket(POLLIN, deadline);
    if (redisBufferRead(context_.get()) != REDIS_OK) fail("while reading");
  }
  std::unique_ptr<redisReply, void (*)(void*)> owned(static_cast<redisReply*>(raw),
                                                     &freeReplyObject);
  return convert(*owned);
}

Reply Connection::command_ok(const std::vector<std::string>& argv) {
  Reply reply = command(argv);
  if (reply.is_error()) {
    // Name the subcommand too ("CLIENT PAUSE", "CONFIG REWRITE"): that is
    // what an ACL grants (+client|pause).
    std::string name = argv.front();
    if (argv.size() > 1 && (upper(name) == "CLIENT" || upper(name) == "CONFIG"))
      name += " " + upper(argv[1]);
    throw ReplyError(reply.error_code(), fmt::format("{}:{}: {} refused: {}", options_.host,
                                                     options_.port, name, reply.text));
  }
  return reply;
}

void Connection::read_some(std::string& buffer, Clock::time_point deadline) {
  char chunk[64 * 1024];
  for (;;) {
    wait_for_socket(POLLIN, deadline);
    ssize_t got = ::read(context_->fd, chunk, sizeof(chunk));
    if (got > 0) {
      buffer.append(chunk, static_cast<size_t>(got));
      return;
    }
    if (got < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
    broken_ = true;
    throw IoError(fmt::format("{}:{}: {} while reading the copy", options_.host, options_.port,
                              got == 0 ? "connection closed by the server" : std::strerror(errno)));
  }
}

std::string Connection::read_handshake_line(std::string& buffer, Clock::time_point deadline) {
  // A handshake line is short; a server that sends more without a CRLF is
  // not sending a replication handshake.
  constexpr size_t longest_line = 512;
  for (;;) {
    size_t start = buffer.find_first_not_of('\n');
    if (start == std::string::npos) {
      buffer.clear();
    } else {
      buffer.erase(0, start);
      size_t end = buffer.find("\r\n");
      if (end != std::string::npos) {
        std::string line = buffer.substr(0, end);
        buffer.erase(0, end + 2);
        return line;
      }
      if (buffer.size() > longest_line) break;
    }
    read_some(buffer, deadline);
  }
  broken_ = true;
  throw ProtocolError(fmt::format("{}:{}: no replication handshake line within {} bytes",
                                  options_.host, options_.port, longest_line));
}

RdbSnapshot Connection::fetch_rdb(const std::function<void(const char*, size_t)>& sink,
                                  Clock::time_point deadline) {
  const std::string where = fmt::format("{}:{}", options_.host, options_.port);
  Reply rdb_only = command({"REPLCONF", "rdb-only", "1"}, deadline);
  // Servers before 7.0 do not know rdb-only: they stream their writes after
  // the RDB, which is read no further. A refused permission is fatal.
  if (rdb_only.is_error() && rdb_only.error_code() == "NOPERM")
    throw ReplyError(rdb_only.error_code(),
                     fmt::format("{}: REPLCONF refused: {}", where, rdb_only.text));
  send({"PSYNC", "?", "-1"}, deadline);
  broken_ = true;  // from here on the connection carries a replication stream
  // Nothing else was asked, so nothing is left in hiredis's reader; what the
  // socket brings is read directly.
  std::string buffer;
  std::string line = read_handshake_line(buffer, deadline);
  if (!line.empty() && line.front() == '-') {
    std::string text = line.substr(1);
    throw ReplyError(text.substr(0, text.find(' ')),
                     fmt::format("{}: PSYNC refused: {}", where, text));
  }
  RdbSnapshot snapshot;
  char replid[64] = {};
  if (std::sscanf(line.c_str(), "+FULLRESYNC %40s %lld", replid, &snapshot.offset) != 2)
    throw ProtocolError(
        fmt::format("{}: expected +FULLRESYNC, got '{}'", where, line.substr(0, 80)));
  snapshot.replid = replid;
  line = read_handshake_line(buffer, deadline);
  long long length = -1;
  if (line.rfind("$EOF:", 0) == 0 || std::sscanf(line.c_str(), "$%lld", &length) != 1 || length < 0)
    throw ProtocolError(
        fmt::format("{}: expected the RDB's length, got '{}'", where, line.substr(0, 80)));
  // Every RDB file starts with "REDIS" and its version.
  while (buffer.size() < 5 && static_cast<long long>(buffer.size()) < length)
    read_some(buffer, deadline);
  if (length < 5 || buffer.compare(0, 5, "REDIS") != 0)
    throw ProtocolError(fmt::format("{}: the server's payload is not an RDB file", where));
  long long left = length;
  for (;;) {
    size_t take =
        static_cast<size_t>(std::min<long long>(left, static_cast<long long>(buffer.size())));
    if (take > 0) sink(buffer.data(), take);
    left -= static_cast<long long>(take);
    buffer.clear();
    if (left == 0) break;
    read_some(buffer, deadline);
  }
  snapshot.bytes = length;
  return snapshot;
}

int Connection::socket_fd() const { return context_->fd; }

std::string Connection::local_address() const {
  sockaddr_storage address{};
  socklen_t length = sizeof(address);
  if (::getsockname(context_->fd, reinterpret_cast<sockaddr*>(&address), &length) != 0)
    throw IoError(fmt::format("getsockname failed: {}", std::strerror(errno)));
  char text[INET6_ADDRSTRLEN] = {};
  if (address.ss_family == AF_INET) {
    auto* in4 = reinterpret_cast<sockaddr_in*>(&address);
    ::inet_ntop(AF_INET, &in4->sin_addr, text, sizeof(text));
  } else if (address.ss_family == AF_INET6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&address);
    ::inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text));
  } else {
    throw IoError("the connection is not TCP/IP");
  }
  return text;
}

}  // namespace rk
