#include "rk/sentinel_failover.hpp"

#include <charconv>
#include <optional>

#include <fmt/format.h>

namespace rk {

void read_sentinel_master(const Reply& reply, SentinelMasterView& view) {
  if (reply.is_error()) {
    view.problem = fmt::format("SENTINEL MASTER refused: {}", reply.text.substr(0, 120));
    return;
  }
  bool flags_seen = false;
  if (reply.type == Reply::Type::array && reply.elements.size() % 2 == 0) {
    for (std::size_t i = 0; i + 1 < reply.elements.size(); i += 2) {
      const std::string& field = reply.elements[i].text;
      const std::string& value = reply.elements[i + 1].text;
      if (field == "flags") {
        view.flags = value;
        flags_seen = true;
      } else if (field == "down-after-milliseconds") {
        long long number = 0;
        auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), number);
        if (error == std::errc() && end == value.data() + value.size() && number > 0)
          view.down_after_ms = number;
      }
    }
  }
  if (!flags_seen) {
    view.problem = "SENTINEL MASTER: not a field list with flags";
    return;
  }
  view.answered = true;
}

SentinelMasterView query_sentinel_master(const ConnectionOptions& sentinel,
                                         const std::string& master_name,
                                         Clock::time_point deadline) {
  SentinelMasterView view;
  view.sentinel = sentinel.endpoint();
  try {
    ClientFailure failure;
    std::optional<Connection> connection = Connection::try_open(sentinel, deadline, failure);
    std::optional<Reply> reply;
    if (connection)
      reply = connection->try_command({"SENTINEL", "MASTER", master_name}, deadline, failure);
    if (!reply)
      view.problem = failure.message;
    else
      read_sentinel_master(*reply, view);
  } catch (const std::exception& error) {  // TLS set-up, memory
    view.problem = error.what();
  }
  return view;
}

FailoverRequest request_failover(const ConnectionOptions& sentinel, const std::string& master_name,
                                 Clock::time_point deadline) {
  try {
    ClientFailure failure;
    std::optional<Connection> connection = Connection::try_open(sentinel, deadline, failure);
    if (!connection) return {FailoverAnswer::unreachable, failure.message};
    std::optional<Reply> reply =
        connection->try_command({"SENTINEL", "FAILOVER", master_name}, deadline, failure);
    if (!reply) return {FailoverAnswer::unknown, failure.message};
    if (reply->is_error()) return {FailoverAnswer::refused, reply->text.substr(0, 200)};
    return {FailoverAnswer::accepted, reply->text};
  } catch (const std::exception& error) {  // TLS set-up, memory: nothing was sent
    return {FailoverAnswer::unreachable, error.what()};
  }
}

}  // namespace rk
