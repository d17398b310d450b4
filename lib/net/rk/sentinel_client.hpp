#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "rk/clock.hpp"
#include "rk/redis_client.hpp"
#include "rk/sentinel_view.hpp"

namespace rk {

// Asks each sentinel, all at once (one thread each, the first on the
// caller's), which master it names for `master_name` and whether it is in
// TILT: SENTINEL GET-MASTER-ADDR-BY-NAME, then INFO sentinel, on one
// connection, everything before the one `deadline`. So a sentinel that is
// down or stopped costs no more time than one that answers, and a failing
// check no more than a passing one. Never SENTINEL IS-MASTER-DOWN-BY-ADDR:
// with a real run id it casts a leader vote. Throws nothing for a sentinel
// that fails: its view says why (answered false, problem set). One view
// per entry of `sentinels`, in order.
//
// With `settled`, it stops waiting as soon as `settled(in, pending)` says
// the views in so far (`pending` more to come) decide the caller's outcome:
// redis_check needs no third answer once two of three sentinels name the
// same master, so a sentinel cut off costs the surviving side nothing. A
// sentinel not waited for is a view not answered, its problem saying so.
using SentinelsSettled =
    std::function<bool(const std::vector<SentinelView>& in, std::size_t pending)>;
std::vector<SentinelView> query_sentinels(const std::vector<ConnectionOptions>& sentinels,
                                          const std::string& master_name,
                                          Clock::time_point deadline,
                                          const SentinelsSettled& settled = {});

// One sentinel, on the caller's thread (what query_sentinels runs for each).
SentinelView query_sentinel(const ConnectionOptions& sentinel, const std::string& master_name,
                            Clock::time_point deadline);

// Whether any sentinel lists `node` among `master_name`'s replicas with the
// flag "promoted": the leader of a failover under way has chosen it and
// sent it REPLICAOF NO ONE, and names it (GET-MASTER-ADDR-BY-NAME) only once
// it sees the promotion. SENTINEL REPLICAS, on every sentinel at once
// before `deadline`, until one says so; a sentinel that fails counts as not
// saying so.
bool sentinel_promoting(const std::vector<ConnectionOptions>& sentinels,
                        const std::string& master_name, const Endpoint& node,
                        Clock::time_point deadline);
// SENTINEL REPLICAS's reply (an array of flat field/value arrays): whether
// it lists `node` with "promoted" among its flags. No I/O.
bool replicas_reply_promotes(const Reply& reply, const Endpoint& node);
// redis_status's fuller question, all sentinels at once under the one
// `deadline` as query_sentinels: the same two commands, then, from a
// sentinel that names a master, SENTINEL MASTER and SENTINEL CKQUORUM on the
// same connection. Read-only: CKQUORUM only counts the sentinels it knows
// of; never SENTINEL IS-MASTER-DOWN-BY-ADDR. Throws nothing for a sentinel
// that fails. One entry per entry of `sentinels`, in order.
std::vector<SentinelDetails> query_sentinel_details(const std::vector<ConnectionOptions>& sentinels,
                                                    const std::string& master_name,
                                                    Clock::time_point deadline);

// GET-MASTER-ADDR-BY-NAME's reply into `view` (master, or a problem for an
// error or a malformed reply); and INFO sentinel's TILT flag. No I/O.
void read_master_address(const Reply& reply, SentinelView& view);
bool info_says_tilt(const std::string& info);

// SENTINEL MASTER's reply (field/value pairs: a flat array in RESP2) into
// `details.monitor`, or a problem for an error or a malformed reply; and
// SENTINEL CKQUORUM's (+OK ... or -NOQUORUM ...) into
// `details.quorum_reachable`, or a problem for any other reply. No I/O.
void read_sentinel_master(const Reply& reply, SentinelDetails& details);
void read_ckquorum(const Reply& reply, SentinelDetails& details);

}  // namespace rk
