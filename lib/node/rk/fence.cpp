#include "rk/fence.hpp"

#include <charconv>

#include <fmt/format.h>

#include "rk/errors.hpp"

namespace rk {
namespace {

Reply run(Connection& connection, const std::vector<std::string>& argv, Deadline deadline) {
  Reply reply = deadline ? connection.command(argv, *deadline) : connection.command(argv);
  if (reply.is_error())
    throw ReplyError(reply.error_code(),
                     fmt::format("{}: {} {} refused: {}", connection.options().endpoint().text(),
                                 argv[0], argv.size() > 1 ? argv[1] : "", reply.text));
  return reply;
}

int config_number(const Reply& reply, const std::string& name) {
  // CONFIG GET answers a flat array of name, value pairs.
  for (size_t i = 0; i + 1 < reply.elements.size(); i += 2) {
    if (reply.elements[i].text != name) continue;
    const std::string& text = reply.elements[i + 1].text;
    int value = -1;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error == std::errc() && end == text.data() + text.size() && value >= 0) return value;
    throw ProtocolError(fmt::format("CONFIG GET {}: not a number: '{}'", name, text));
  }
  throw ProtocolError(fmt::format("CONFIG GET min-replicas-* lacks {}", name));
}

void set_one(Connection& connection, const char* name, int value, Deadline deadline) {
  run(connection, {"CONFIG", "SET", name, std::to_string(value)}, deadline);
}

}  // namespace

FenceValues read_fence_values(Connection& connection, Deadline deadline) {
  // One pattern, one round trip: Redis and Valkey list both settings (and
  // not the min-slaves-* aliases) for it.
  Reply reply = run(connection, {"CONFIG", "GET", "min-replicas-*"}, deadline);
  return {config_number(reply, "min-replicas-to-write"),
          config_number(reply, "min-replicas-max-lag")};
}

void set_fence_values(Connection& connection, const FenceValues& from, const FenceValues& to,
                      Deadline deadline) {
  bool lag = from.max_lag != to.max_lag;
  bool to_write = from.to_write != to.to_write;
  bool raising = to.to_write > from.to_write;
  if (lag && raising) set_one(connection, "min-replicas-max-lag", to.max_lag, deadline);
  if (to_write) set_one(connection, "min-replicas-to-write", to.to_write, deadline);
  if (lag && !raising) set_one(connection, "min-replicas-max-lag", to.max_lag, deadline);
}

std::optional<FenceRecord> load_fence_record(const InstanceState* state) {
  if (state == nullptr || !state->present()) return std::nullopt;
  try {
    return parse_fence_record(state->read_fence());
  } catch (const StateError&) {
    return std::nullopt;
  }
}

void store_fence_record(const InstanceState* state, const FenceRecord& record) {
  if (state == nullptr || !state->present()) return;
  state->write_fence(render_fence_record(record));
}

FenceValues learn_operator_values(const InstanceState* state, const FenceValues& found,
                                  int max_lag) {
  std::optional<FenceRecord> record = load_fence_record(state);
  FenceRecord known = record.value_or(FenceRecord{});
  FenceValues base = operator_fence_values(known, found, max_lag);
  if (record && known.base != base)
    store_fence_record(state, FenceRecord{base, known.last_set, known.isolation});
  return base;
}

FenceValues rewrite_config_without_fence(Connection& connection, const FenceValues& operator_values,
                                         Deadline deadline) {
  FenceValues found = read_fence_values(connection, deadline);
  if (found == operator_values) {
    run(connection, {"CONFIG", "REWRITE"}, deadline);
    return found;
  }
  // CONFIG REWRITE writes the values in force: for the few milliseconds of
  // the rewrite they are the operator's, so a restart never comes back
  // with a fence the toolkit set for the moment (an isolation, a role
  // change).
  set_fence_values(connection, found, operator_values, deadline);
  try {
    run(connection, {"CONFIG", "REWRITE"}, deadline);
  } catch (const RedisError&) {
    set_fence_values(connection, operator_values, found, deadline);
    throw;
  }
  // INFO replication's role line (the hooks' ACL grants +info, not +role).
  Reply info = run(connection, {"INFO", "replication"}, deadline);
  bool master =
      info.type == Reply::Type::string && info.text.find("role:master") != std::string::npos;
  if (!master) return operator_values;
  set_fence_values(connection, operator_values, found, deadline);
  return found;
}

std::string apply_sentinel_fence(Connection& connection, const InstanceState* state,
                                 SentinelFenceStep step, int max_lag, Deadline deadline) {
  if (step == SentinelFenceStep::keep) return {};
  std::optional<FenceRecord> record = load_fence_record(state);
  FenceValues found = read_fence_values(connection, deadline);
  bool recorded_base = record && record->base;
  // Without a recorded base, the sentinel fence's values are no operator's:
  // Redis's defaults are.
  FenceValues base = is_sentinel_fence(found) && !recorded_base
                         ? FenceValues{}
                         : operator_fence_values(record.value_or(FenceRecord{}), found, max_lag);
  if (step == SentinelFenceStep::fence) {
    FenceValues fence = sentinel_fence(max_lag);
    // The fence before its record: a state dir that cannot be written must
    // not keep a master taking writes. A fence without a record is still
    // recognised (is_sentinel_fence) and lifted to Redis's defaults.
    set_fence_values(connection, found, fence, deadline);
    store_fence_record(state, FenceRecord{base, fence, true});
    return fmt::format("fenced: {} (was {})", describe(fence), describe(found));
  }
  bool ours = (record && record->isolation) || is_sentinel_fence(found);
  if (!ours || found == base) return {};
  set_fence_values(connection, found, base, deadline);
  store_fence_record(state, FenceRecord{base, base, false});
  // Sentinel rewrites redis.conf when it changes a node's role (CONFIG
  // REWRITE after REPLICAOF), which wrote the fence that was on into the
  // file: written again now, with the operator's values, so that a restart
  // does not come back fenced. A server without a config file refuses.
  try {
    run(connection, {"CONFIG", "REWRITE"}, deadline);
  } catch (const ReplyError& error) {
    return fmt::format("fence lifted: {} (redis.conf not rewritten: {})", describe(base),
                       error.what());
  }
  return fmt::format("fence lifted: {}, redis.conf rewritten", describe(base));
}

}  // namespace rk
