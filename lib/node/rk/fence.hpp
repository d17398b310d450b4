#pragma once

#include <optional>
#include <string>

#include "rk/decisions.hpp"
#include "rk/instance_state.hpp"
#include "rk/redis_client.hpp"
#include "rk/sentinel_quorum.hpp"

// The write fence (min-replicas-to-write, min-replicas-max-lag) has one
// owner: this module. redis_check's isolation fence and the hooks'
// --fence-writes fence are set here; the operator's own values are kept in
// the state dir (NAME.fence, FenceRecord) and are what "unfenced" means; and
// a CONFIG REWRITE never persists a temporary fence, so redis.conf always
// holds the operator's values.
namespace rk {

// A command deadline: nullopt means the connection's command timeout.
using Deadline = std::optional<Clock::time_point>;

// CONFIG GET min-replicas-* (one round trip). Throws RedisError (ReplyError
// when refused, e.g. NOPERM without +config|get; ProtocolError when a value
// is missing or not a number).
FenceValues read_fence_values(Connection& connection, Deadline deadline = std::nullopt);

// CONFIG SET of what differs between `from` (what the server holds) and
// `to`. Raising a fence sets the lag first and lowering it drops
// min-replicas-to-write first, so the server never passes through a
// setting stricter than both. Throws RedisError.
void set_fence_values(Connection& connection, const FenceValues& from, const FenceValues& to,
                      Deadline deadline = std::nullopt);

// The local node's record: nullopt when `state` is null, absent or cannot be
// read (the caller cannot tell whose fence is on then).
std::optional<FenceRecord> load_fence_record(const InstanceState* state);
// Writes the record when the state dir serves. Throws StateError.
void store_fence_record(const InstanceState* state, const FenceRecord& record);

// The operator's own values for the local Redis, which holds `found`
// (operator_fence_values over `state`'s record), remembered in the record
// when they are new, before any fence can hide them. Throws StateError when
// they cannot be remembered (nothing is lost but the record).
FenceValues learn_operator_values(const InstanceState* state, const FenceValues& found,
                                  int max_lag);

// CONFIG REWRITE of the server behind `connection` that never persists a
// temporary fence: when its min-replicas-* differ from `operator_values`,
// those are set for the rewrite, and the values found before are put back
// afterwards only if the server is still a master (INFO). A node whose role
// changed to replica keeps the operator's values: Redis ignores the fence of
// a replica, and a later promotion sets its own. A master stays unfenced for
// the rewrite's few milliseconds: the price of a file that never holds a
// fence (CONFIG REWRITE has no way to write other values than those in
// force). Returns the values the
// server holds afterwards. Throws RedisError (when the rewrite fails, the
// values found are put back first, as far as the connection allows).
FenceValues rewrite_config_without_fence(Connection& connection, const FenceValues& operator_values,
                                         Deadline deadline = std::nullopt);

// Sentinel mode: carries out decide_sentinel_check's fence step on the local
// Redis behind `connection` and records it in `state` (may be null). `fence`
// sets sentinel_fence over the operator's values, remembered first, so that
// the master stops acknowledging writes at once; `lift` puts the operator's
// values back when the fence on is the toolkit's (recorded, or recognised by
// its value when no record says so) and leaves any other alone. Returns what
// was done, for the log ("" when nothing). Throws RedisError; StateError
// when the record cannot be written after the fence was set.
std::string apply_sentinel_fence(Connection& connection, const InstanceState* state,
                                 SentinelFenceStep step, int max_lag, Deadline deadline);

}  // namespace rk
