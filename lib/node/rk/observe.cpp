#include "rk/observe.hpp"

#include <thread>

#include <fmt/format.h>

#include "rk/errors.hpp"

namespace rk {

RedisState read_info(Connection& connection) {
  Reply reply = connection.command({"INFO"});
  if (reply.is_error())
    throw ReplyError(reply.error_code(),
                     fmt::format("{}:{}: INFO refused: {}", connection.options().host,
                                 connection.options().port, reply.text));
  if (reply.type != Reply::Type::string) throw ProtocolError("INFO did not return text");
  Result<RedisState> state = parse_info(reply.text);
  if (!state) throw ProtocolError(state.error());
  return state.value();
}

Reach reach_of(const RedisError& error) {
  if (const auto* reply = dynamic_cast<const ReplyError*>(&error))
    return reach_of_error_reply(reply->code());
  // A timeout is an IoError too: test it first.
  if (dynamic_cast<const TimeoutError*>(&error) != nullptr) return Reach::silent;
  if (dynamic_cast<const IoError*>(&error) != nullptr) return Reach::gone;
  // ProtocolError: something answers, but not as Redis would.
  return Reach::silent;
}

Observation observe(std::optional<Connection>& connection, const ConnectionOptions& options) {
  try {
    if (!connection) connection.emplace(Connection::open(options));
    return Observation::of(read_info(*connection));
  } catch (const RedisError& error) {
    connection.reset();
    return Observation::failed(reach_of(error), error.what());
  }
}

std::optional<RedisState> read_again_after_unknown(std::optional<Connection>& connection,
                                                   const ConnectionOptions& options,
                                                   Clock::time_point deadline,
                                                   std::chrono::milliseconds poll,
                                                   const std::function<void()>& between) {
  // The old connection may still deliver the late reply: never read from it.
  connection.reset();
  for (;;) {
    Observation seen = observe(connection, options);
    if (seen.answered()) return seen.state;
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(poll);
    if (between) between();
  }
}

}  // namespace rk
