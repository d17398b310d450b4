#include "rk/sentinel_failover.hpp"

#include <charconv>
#include <optional>

#include <fmt/format.h>

namespace rk {

namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;

// A RESP2 field list (name, value, name, value, ...) as pairs; nullopt when
// the reply is not one.
std::optional<Fields> field_list(const Reply& reply) {
  if (reply.type != Reply::Type::array || reply.elements.size() % 2 != 0) return std::nullopt;
  Fields fields;
  for (std::size_t i = 0; i + 1 < reply.elements.size(); i += 2) {
    if (reply.elements[i].type != Reply::Type::string ||
        reply.elements[i + 1].type != Reply::Type::string)
      return std::nullopt;
    fields.emplace_back(reply.elements[i].text, reply.elements[i + 1].text);
  }
  return fields;
}

// A whole decimal number, or nullopt.
std::optional<long long> number(const std::string& text) {
  long long value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// One entry of SENTINEL REPLICAS; nullopt without an address.
std::optional<SentinelKnownReplica> known_replica(const Reply& entry) {
  std::optional<Fields> fields = field_list(entry);
  if (!fields) return std::nullopt;
  SentinelKnownReplica replica;
  std::optional<long long> port;
  for (const auto& [field, value] : *fields) {
    if (field == "ip") replica.address.host = value;
    if (field == "port") port = number(value);
    if (field == "flags") replica.flags = value;
    if (field == "slave-priority") replica.priority = number(value).value_or(replica.priority);
  }
  if (replica.address.host.empty() || !port || *port <= 0 || *port > 65535) return std::nullopt;
  replica.address.port = static_cast<int>(*port);
  return replica;
}

}  // namespace

void read_sentinel_master(const Reply& reply, SentinelMasterView& view) {
  if (reply.is_error()) {
    view.problem = fmt::format("SENTINEL MASTER refused: {}", reply.text.substr(0, 120));
    return;
  }
  std::optional<Fields> fields = field_list(reply);
  bool flags_seen = false;
  for (const auto& [field, value] : fields.value_or(Fields{})) {
    if (field == "flags") {
      view.flags = value;
      flags_seen = true;
    } else if (field == "down-after-milliseconds") {
      std::optional<long long> milliseconds = number(value);
      if (milliseconds && *milliseconds > 0) view.down_after_ms = *milliseconds;
    }
  }
  if (!flags_seen) {
    view.problem = "SENTINEL MASTER: not a field list with flags";
    return;
  }
  view.answered = true;
}

void read_sentinel_replicas(const Reply& reply, SentinelMasterView& view) {
  view.answered = false;
  view.replicas.clear();
  if (reply.is_error()) {
    view.problem = fmt::format("SENTINEL REPLICAS refused: {}", reply.text.substr(0, 120));
    return;
  }
  if (reply.type != Reply::Type::array) {
    view.problem = "SENTINEL REPLICAS: not a list";
    return;
  }
  for (const Reply& entry : reply.elements) {
    std::optional<SentinelKnownReplica> replica = known_replica(entry);
    if (!replica) {
      view.replicas.clear();
      view.problem = "SENTINEL REPLICAS: an entry without an address";
      return;
    }
    view.replicas.push_back(*replica);
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
    if (reply) read_sentinel_master(*reply, view);
    if (reply && view.answered) {
      reply = connection->try_command({"SENTINEL", "REPLICAS", master_name}, deadline, failure);
      if (reply) read_sentinel_replicas(*reply, view);
    }
    if (!reply) {
      view.answered = false;
      view.problem = failure.message;
    }
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
