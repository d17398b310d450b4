#include "rk/redis_client.hpp"

#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
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
#include "rk/stream.hpp"

namespace rk {
namespace {

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

// hiredis 0.14 passes the count as int, 1.x as size_t: the type is taken
// from hiredis's own table, so one definition serves both.
using CreateArray = decltype(redisReplyObjectFunctions::createArray);
CreateArray hiredis_create_array = nullptr;

template <typename Count>
void* create_bounded_array(const redisReadTask* task, Count elements) {
  if (elements > static_cast<Count>(max_array_elements)) return nullptr;
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

// The type of the reader's first read task (-1 while none is started).
// hiredis 0.14 keeps its tasks in an array (rstack), 1.x allocates each one
// (task); exactly one of these overloads compiles for the installed reader.
template <typename Reader>
auto first_task_type(const Reader& reader) -> decltype(reader.rstack[0].type) {
  return reader.rstack[0].type;
}
template <typename Reader>
auto first_task_type(const Reader& reader) -> decltype(reader.task[0]->type) {
  return reader.task[0]->type;
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
  // hiredis 1.x does the same with its own task list.
  bool in_progress = reader->ridx > 0 || (reader->ridx == 0 && first_task_type(*reader) >= 0);
  parsed.complete = reader->pos == reader->len && !in_progress;
  return parsed;
}

Connection::Connection(std::unique_ptr<Stream> stream, ConnectionOptions options)
    : stream_(std::move(stream)),
      reader_(redisReaderCreate(), &redisReaderFree),
      options_(std::move(options)) {
  if (!reader_) throw std::bad_alloc();
  bound_array_replies(reader_.get());
}
Connection::Connection(Connection&&) noexcept = default;
Connection& Connection::operator=(Connection&&) noexcept = default;
Connection::~Connection() = default;

Connection Connection::open(const ConnectionOptions& options) {
  return open(options, Clock::now() + options.connect_timeout);
}

Connection Connection::open(const ConnectionOptions& options, Clock::time_point deadline) {
  ClientFailure failure;
  std::optional<Connection> connection = try_open(options, deadline, failure);
  if (!connection) failure.raise();
  return std::move(*connection);
}

std::optional<Connection> Connection::try_open(const ConnectionOptions& options,
                                               Clock::time_point deadline, ClientFailure& failure) {
  std::unique_ptr<Stream> stream =
      Stream::open(options.host, options.port, options.tls, deadline, failure);
  if (!stream) return std::nullopt;
  std::optional<Connection> connection(Connection(std::move(stream), options));
  if (options.password.empty()) return connection;

  std::vector<std::string> auth{"AUTH"};
  if (!options.user.empty()) auth.push_back(options.user);
  auth.push_back(options.password);
  std::optional<Reply> reply = connection->try_command(auth, deadline, failure);
  if (!reply) return std::nullopt;
  if (reply->is_error()) {
    // The message names the user, never the password.
    failure = ClientFailure{ClientFailure::Kind::reply,
                            fmt::format("AUTH as {} at {} refused: {}",
                                        options.user.empty() ? "default" : options.user,
                                        connection->stream_->where(), reply->text),
                            reply->error_code()};
    return std::nullopt;
  }
  return connection;
}

bool Connection::fail(ClientFailure& failure, ClientFailure cause) {
  broken_ = true;
  failure = std::move(cause);
  return false;
}

Reply Connection::command(const std::vector<std::string>& argv) {
  return command(argv, Clock::now() + options_.command_timeout);
}

Reply Connection::command(const std::vector<std::string>& argv, Clock::time_point deadline) {
  ClientFailure failure;
  std::optional<Reply> reply = try_command(argv, deadline, failure);
  if (!reply) failure.raise();
  return std::move(*reply);
}

bool Connection::send(const std::vector<std::string>& argv, Clock::time_point deadline,
                      ClientFailure& failure) {
  if (broken_)
    return fail(failure,
                {ClientFailure::Kind::io,
                 fmt::format("{}: connection unusable after an earlier error", stream_->where()),
                 {}});
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
  char* formatted = nullptr;
  // hiredis 0.14 returns the length as int, 1.x as long long: long long
  // holds either.
  long long length = redisFormatCommandArgv(&formatted, static_cast<int>(args.size()), args.data(),
                                            lengths.data());
  if (length < 0 || formatted == nullptr) throw std::bad_alloc();
  std::unique_ptr<char, void (*)(char*)> owned(formatted, &redisFreeCommand);
  if (!stream_->write_all(formatted, static_cast<size_t>(length), deadline, failure)) {
    broken_ = true;
    return false;
  }
  return true;
}

std::optional<Reply> Connection::try_command(const std::vector<std::string>& argv,
                                             Clock::time_point deadline, ClientFailure& failure) {
  if (!send(argv, deadline, failure)) return std::nullopt;
  return try_receive(deadline, failure);
}

std::optional<Reply> Connection::buffered_reply() {
  if (broken_) return std::nullopt;
  void* raw = nullptr;
  if (redisReaderGetReply(reader_.get(), &raw) != REDIS_OK || raw == nullptr) return std::nullopt;
  std::unique_ptr<redisReply, void (*)(void*)> owned(static_cast<redisReply*>(raw),
                                                     &freeReplyObject);
  return convert(*owned);
}

std::optional<Reply> Connection::try_receive(Clock::time_point deadline, ClientFailure& failure) {
  if (broken_) {
    fail(failure, {ClientFailure::Kind::io,
                   fmt::format("{}: connection unusable after an earlier error", stream_->where()),
                   {}});
    return std::nullopt;
  }
  std::string bytes;
  for (;;) {
    void* raw = nullptr;
    if (redisReaderGetReply(reader_.get(), &raw) != REDIS_OK) {
      std::string why =
          reader_->err == REDIS_ERR_OOM
              ? fmt::format("array over {} elements, or no memory", max_array_elements)
              : std::string(reader_->errstr);
      // TLS records start with 0x15 (alert) or 0x16 (handshake): a TLS port
      // answering a plain-text client.
      bool tls_answer = !stream_->tls() && !bytes.empty() && bytes.size() == stream_->received() &&
                        (bytes[0] == '\x15' || bytes[0] == '\x16');
      fail(failure,
           {ClientFailure::Kind::protocol,
            fmt::format("{}: protocol error while parsing the reply: {}{}", stream_->where(), why,
                        tls_answer ? " (the server speaks TLS: see --tls)" : ""),
            {}});
      return std::nullopt;
    }
    if (raw != nullptr) {
      std::unique_ptr<redisReply, void (*)(void*)> owned(static_cast<redisReply*>(raw),
                                                         &freeReplyObject);
      return convert(*owned);
    }
    bytes.clear();
    if (!stream_->read_some(bytes, deadline, failure)) {
      broken_ = true;
      // The whole-command deadline, in the words the logs have always used.
      if (failure.kind == ClientFailure::Kind::timeout)
        failure.message = fmt::format("{}: no reply within {} ms", stream_->where(),
                                      options_.command_timeout.count());
      return std::nullopt;
    }
    if (redisReaderFeed(reader_.get(), bytes.data(), bytes.size()) != REDIS_OK) {
      fail(failure,
           {ClientFailure::Kind::protocol,
            fmt::format("{}: protocol error while reading: {}", stream_->where(), reader_->errstr),
            {}});
      return std::nullopt;
    }
  }
}

Reply Connection::command_ok(const std::vector<std::string>& argv) {
  Reply reply = command(argv);
  if (reply.is_error()) {
    // Name the subcommand too ("CLIENT PAUSE", "CONFIG REWRITE"): that is
    // what an ACL grants (+client|pause).
    std::string name = argv.front();
    if (argv.size() > 1 && (upper(name) == "CLIENT" || upper(name) == "CONFIG"))
      name += " " + upper(argv[1]);
    throw ReplyError(reply.error_code(), fmt::format("{}: {} refused: {}",
                                                     options_.endpoint().text(), name, reply.text));
  }
  return reply;
}

void Connection::read_some(std::string& buffer, const Waiting& waiting) {
  for (;;) {
    Clock::time_point until = waiting.deadline;
    if (waiting.between) until = std::min(until, Clock::now() + waiting.slice);
    ClientFailure failure;
    if (stream_->read_some(buffer, until, failure)) return;
    // A wait that ended at the slice consumed nothing (recv, or SSL_read
    // after WANT_READ, is simply retried): ask, then wait again.
    if (failure.kind == ClientFailure::Kind::timeout && until < waiting.deadline) {
      waiting.between();
      continue;
    }
    broken_ = true;
    failure.raise();
  }
}

std::string Connection::read_handshake_line(std::string& buffer, const Waiting& waiting) {
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
    read_some(buffer, waiting);
  }
  broken_ = true;
  throw ProtocolError(fmt::format("{}: no replication handshake line within {} bytes",
                                  options_.endpoint().text(), longest_line));
}

RdbSnapshot Connection::fetch_rdb(const std::function<void(const char*, size_t)>& sink,
                                  Clock::time_point deadline,
                                  const std::function<void()>& between_waits,
                                  std::chrono::milliseconds wait_slice) {
  const std::string where = options_.endpoint().text();
  const Waiting waiting{deadline, between_waits, wait_slice};
  ClientFailure failure;
  if (!send({"REPLCONF", "rdb-only", "1"}, deadline, failure)) failure.raise();
  // Nothing else was asked, so nothing is left in hiredis's reader. The
  // reply to REPLCONF is one line (+OK or an error), read off the socket
  // like the handshake's, so that a stalled server is waited for in slices
  // too; unusable until it has come whole.
  broken_ = true;
  std::string buffer;
  std::string line = read_handshake_line(buffer, waiting);
  broken_ = false;
  // Servers before 7.0 do not know rdb-only: they stream their writes after
  // the RDB, which is read no further. A refused permission is fatal.
  if (line.rfind("-NOPERM", 0) == 0)
    throw ReplyError("NOPERM", fmt::format("{}: REPLCONF refused: {}", where, line.substr(1)));
  if (!send({"PSYNC", "?", "-1"}, deadline, failure)) failure.raise();
  broken_ = true;  // from here on the connection carries a replication stream
  line = read_handshake_line(buffer, waiting);
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
  line = read_handshake_line(buffer, waiting);
  long long length = -1;
  if (line.rfind("$EOF:", 0) == 0 || std::sscanf(line.c_str(), "$%lld", &length) != 1 || length < 0)
    throw ProtocolError(
        fmt::format("{}: expected the RDB's length, got '{}'", where, line.substr(0, 80)));
  // Every RDB file starts with "REDIS" and its version.
  while (buffer.size() < 5 && static_cast<long long>(buffer.size()) < length)
    read_some(buffer, waiting);
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
    read_some(buffer, waiting);
  }
  snapshot.bytes = length;
  return snapshot;
}

int Connection::socket_fd() const { return stream_->fd(); }

std::string Connection::local_address() const {
  sockaddr_storage address{};
  socklen_t length = sizeof(address);
  if (::getsockname(stream_->fd(), reinterpret_cast<sockaddr*>(&address), &length) != 0)
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
