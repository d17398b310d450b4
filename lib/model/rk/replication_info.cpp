#include "rk/replication_info.hpp"

#include <charconv>
#include <limits>
#include <map>
#include <optional>

#include <fmt/format.h>

namespace rk {
namespace {

using Fields = std::map<std::string_view, std::string_view>;

// INFO is "key:value" lines separated by CRLF, with "# Section" headers.
Fields split_fields(std::string_view text) {
  Fields fields;
  while (!text.empty()) {
    size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) continue;
    fields.emplace(line.substr(0, colon), line.substr(colon + 1));
  }
  return fields;
}

std::optional<long long> to_integer(std::string_view text) {
  long long value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end || text.empty()) return std::nullopt;
  return value;
}

// Reads the fields of one line, e.g. "ip=1.2.3.4,port=6379,state=online".
std::map<std::string_view, std::string_view> split_pairs(std::string_view text) {
  std::map<std::string_view, std::string_view> pairs;
  while (!text.empty()) {
    size_t comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
    size_t equals = item.find('=');
    if (equals != std::string_view::npos)
      pairs.emplace(item.substr(0, equals), item.substr(equals + 1));
  }
  return pairs;
}

class FieldReader {
 public:
  explicit FieldReader(const Fields& fields) : fields_(fields) {}

  std::optional<std::string_view> text(std::string_view key, bool required) {
    auto it = fields_.find(key);
    if (it == fields_.end()) {
      if (required) fail(fmt::format("INFO lacks {}", key));
      return std::nullopt;
    }
    return it->second;
  }
  // A number within [min, max]. The bounds are what Redis can report (no
  // offset below -1, no port above 65535): anything else comes from a broken
  // or hostile server, and would make the offset arithmetic of the decisions
  // overflow.
  long long integer(std::string_view key, bool required, long long fallback, long long min,
                    long long max) {
    auto raw = text(key, required);
    if (!raw) return fallback;
    auto value = to_integer(*raw);
    if (!value) {
      fail(fmt::format("INFO field {} is not a number: '{}'", key, *raw));
      return fallback;
    }
    if (*value < min || *value > max) {
      fail(fmt::format("INFO field {} is out of range ({}..{}): '{}'", key, min, max, *raw));
      return fallback;
    }
    return *value;
  }
  bool flag(std::string_view key, bool required) {
    auto raw = text(key, required);
    if (!raw) return false;
    if (*raw != "0" && *raw != "1")
      fail(fmt::format("INFO field {} is not 0 or 1: '{}'", key, *raw));
    return *raw == "1";
  }
  void fail(std::string reason) {
    if (error.empty()) error = std::move(reason);
  }
  std::string error;

 private:
  const Fields& fields_;
};

constexpr long long max_value = std::numeric_limits<long long>::max();
constexpr long long max_int = std::numeric_limits<int>::max();

bool is_replid(std::string_view id) {
  if (id.size() != 40) return false;
  for (char c : id)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

}  // namespace

Result<RedisState> parse_info(std::string_view text) {
  Fields fields = split_fields(text);
  FieldReader read(fields);
  RedisState state;

  auto role = read.text("role", true);
  if (role && *role == "master") {
    state.role = Role::master;
  } else if (role && *role == "slave") {
    state.role = Role::replica;
  } else if (role) {
    read.fail(fmt::format("INFO role is neither master nor slave: '{}'", *role));
  }

  state.loading = read.flag("loading", true);
  state.redis_version = std::string(read.text("redis_version", false).value_or(""));
  // Valkey's INFO server section has server_name:valkey, valkey_version, and
  // server_mode where Redis has redis_mode (unless extended-redis-compatibility
  // is on); nothing here needs the mode. Redis 7.0 has no server_name.
  if (auto valkey = read.text("valkey_version", false)) {
    state.server_name = "valkey";
    state.server_version = std::string(*valkey);
  } else if (!state.redis_version.empty()) {
    state.server_name = std::string(read.text("server_name", false).value_or("redis"));
    state.server_version = state.redis_version;
  }
  state.config_file = std::string(read.text("config_file", false).value_or(""));
  state.run_id = std::string(read.text("run_id", false).value_or(""));

  state.master_replid = std::string(read.text("master_replid", true).value_or(""));
  state.master_replid2 = std::string(read.text("master_replid2", false).value_or(""));
  if (!state.master_replid.empty() && !is_replid(state.master_replid))
    read.fail(fmt::format("INFO master_replid is malformed: '{}'", state.master_replid));
  state.master_repl_offset = read.integer("master_repl_offset", true, 0, 0, max_value);
  state.second_repl_offset = read.integer("second_repl_offset", false, -1, -1, max_value);
  state.connected_slaves = static_cast<int>(read.integer("connected_slaves", false, 0, 0, max_int));
  if (read.text("min_slaves_good_slaves", false)) {
    state.write_fence_on = true;
    state.good_replicas =
        static_cast<int>(read.integer("min_slaves_good_slaves", false, 0, 0, max_int));
  }

  if (state.role == Role::replica) {
    state.master_host = std::string(read.text("master_host", true).value_or(""));
    state.master_port = static_cast<int>(read.integer("master_port", true, 0, 0, 65535));
    auto link = read.text("master_link_status", true);
    if (link && *link != "up" && *link != "down")
      read.fail(fmt::format("INFO master_link_status is neither up nor down: '{}'", *link));
    state.link_up = link && *link == "up";
    state.sync_in_progress = read.flag("master_sync_in_progress", false);
    // Reported only while the link is not up.
    state.link_never_up = !state.link_up && read.integer("master_link_down_since_seconds", false, 0,
                                                         -1, max_value) == -1;
    state.slave_repl_offset = read.integer("slave_repl_offset", false, -1, -1, max_value);
    state.slave_read_repl_offset = read.integer("slave_read_repl_offset", false, -1, -1, max_value);
  }

  for (int i = 0; i < state.connected_slaves && i < 1024; ++i) {
    auto line = read.text(fmt::format("slave{}", i), false);
    if (!line) continue;
    auto pairs = split_pairs(*line);
    ReplicaEntry entry;
    entry.ip = std::string(pairs["ip"]);
    entry.port = static_cast<int>(to_integer(pairs["port"]).value_or(0));
    entry.state = std::string(pairs["state"]);
    entry.offset = to_integer(pairs["offset"]).value_or(0);
    entry.lag = to_integer(pairs["lag"]).value_or(0);
    state.replicas.push_back(std::move(entry));
  }

  // The keyspace section lists only non-empty databases ("db0:keys=3,...").
  for (const auto& [key, value] : fields) {
    if (key.size() < 3 || key.substr(0, 2) != "db" || !to_integer(key.substr(2))) continue;
    auto keys = to_integer(split_pairs(value)["keys"]);
    if (!keys || *keys < 0) {
      read.fail(fmt::format("INFO keyspace line {} is malformed: '{}'", key, value));
      continue;
    }
    if (*keys > max_value - state.keys) {
      read.fail(fmt::format("INFO keyspace key counts overflow at line {}", key));
      continue;
    }
    state.keys += *keys;
  }

  if (!read.error.empty()) return Result<RedisState>::failure(read.error);
  return state;
}

std::string describe(const RedisState& state) {
  std::string text;
  if (state.role == Role::master) {
    text =
        fmt::format("role=master replid={} offset={} replicas={}", state.master_replid.substr(0, 8),
                    state.master_repl_offset, state.connected_slaves);
  } else {
    text = fmt::format("role=replica master={}:{} link={} sync={} replid={} applied={}",
                       state.master_host, state.master_port, state.link_up ? "up" : "down",
                       state.sync_in_progress ? 1 : 0, state.master_replid.substr(0, 8),
                       state.slave_repl_offset);
    if (state.link_never_up) text += " never-synced";
  }
  text += fmt::format(" keys={}", state.keys);
  if (state.loading) text += " loading=1";
  return text;
}

}  // namespace rk
