#pragma once

#include <stdexcept>
#include <string>

namespace rk {

// Bad command line, configuration or environment: the tool exits 2 and does
// nothing to Redis.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The state dir must not be trusted: a symlink, not a directory, writable by
// group or others, or owned by someone other than the running user or root.
// A configuration error (exit 2); the message says how to fix it.
class UnsafeStateDir : public UsageError {
 public:
  using UsageError::UsageError;
};

// The state dir or a log file could not be read or written: a full disk, a
// read-only mount, a directory the running user may not enter. This is not
// a usage error (the command line was fine); each tool decides what it means
// and its man page says so: the check's verdict never depends on it, a hook
// carries on without its records.
class StateError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Anything that went wrong talking to Redis.
class RedisError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Connection refused, reset or closed, or the context is unusable: nothing
// is serving at the address (or it went away mid-call).
class IoError : public RedisError {
 public:
  using RedisError::RedisError;
};

// The deadline of a connect or a command passed. hiredis cannot reuse a
// context after a timeout (the reply stream is out of step), so the
// connection is dead afterwards.
class TimeoutError : public IoError {
 public:
  using IoError::IoError;
};

// The server answered with an error reply (-ERR, -LOADING, -NOPERM, ...).
class ReplyError : public RedisError {
 public:
  ReplyError(std::string code, const std::string& message)
      : RedisError(message), code_(std::move(code)) {}
  // The first word of the error reply, e.g. "LOADING" or "NOPERM".
  const std::string& code() const { return code_; }

 private:
  std::string code_;
};

// The server's reply could not be understood (garbage or missing INFO fields).
class ProtocolError : public RedisError {
 public:
  using RedisError::RedisError;
};

// A failed call to Redis as a value. The client's paths that a failing
// health check takes (connect, AUTH, one command) report this instead of
// throwing: in a static binary the first C++ throw sorts the unwind tables,
// which made a failing redis_check cost twice the CPU of a passing one.
// raise() throws the exception of the same kind, for callers that want one.
struct ClientFailure {
  enum class Kind { io, timeout, reply, protocol };
  Kind kind = Kind::io;
  std::string message;
  std::string code;  // Kind::reply: the error reply's first word

  [[noreturn]] void raise() const {
    switch (kind) {
      case Kind::timeout: throw TimeoutError(message);
      case Kind::reply: throw ReplyError(code, message);
      case Kind::protocol: throw ProtocolError(message);
      case Kind::io: break;
    }
    throw IoError(message);
  }
};

}  // namespace rk
