#pragma once

#include <string>

#include "rk/clock.hpp"
#include "rk/redis_client.hpp"
#include "rk/sentinel_master_view.hpp"

// The calls redis_switchover makes to a sentinel beyond query_sentinels
// (sentinel_client.hpp): SENTINEL MASTER, whose flags say whether Sentinel's
// failover machinery is idle, SENTINEL REPLICAS, the replicas it could
// promote, and SENTINEL FAILOVER. Never SENTINEL
// IS-MASTER-DOWN-BY-ADDR: with a real run id it casts a leader vote.
namespace rk {

// SENTINEL MASTER `master_name`, then SENTINEL REPLICAS `master_name`, on
// one connection to one sentinel, everything before `deadline`. Throws
// nothing for a sentinel that fails: the view says why (answered false,
// problem set).
SentinelMasterView query_sentinel_master(const ConnectionOptions& sentinel,
                                         const std::string& master_name,
                                         Clock::time_point deadline);

// SENTINEL MASTER's reply (a flat list of field names and values in RESP2)
// into `view`: flags and down-after-milliseconds; a problem for an error
// reply or a list without flags. No I/O.
void read_sentinel_master(const Reply& reply, SentinelMasterView& view);
// SENTINEL REPLICAS's reply (a list of field lists) into `view.replicas`:
// address, flags, slave-priority; `view` is answered only when every entry
// has an address. No I/O.
void read_sentinel_replicas(const Reply& reply, SentinelMasterView& view);

// What one sentinel did with SENTINEL FAILOVER.
enum class FailoverAnswer {
  accepted,     // +OK: it runs the failover, skipping the election
  refused,      // an error reply (-INPROG, -NOGOODSLAVE, -NOPERM, ...): nothing started
  unknown,      // sent, but no reply came: it may have started
  unreachable,  // no connection (or AUTH refused): nothing was sent
};
struct FailoverRequest {
  FailoverAnswer answer = FailoverAnswer::unreachable;
  std::string detail;  // the error reply or the failure
};
// SENTINEL FAILOVER `master_name` on one sentinel, before `deadline`.
// Throws nothing.
FailoverRequest request_failover(const ConnectionOptions& sentinel, const std::string& master_name,
                                 Clock::time_point deadline);

}  // namespace rk
