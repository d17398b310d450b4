#pragma once

#include "rk/exit_code.hpp"
#include "rk/hook_run.hpp"

// The notify hooks in Sentinel mode (--sentinel): Redis Sentinel promotes
// and repoints, so the hooks never do. They keep their order, records and
// logs, verify (redis_master), and fence the losers: a local Redis that is
// still a master but that a strict majority of the sentinels does not name
// stops acknowledging writes, and its dataset is copied before Sentinel's
// conversion to a replica (a full resync) can discard them.
namespace rk {

// redis_master: sentinels-master (exit 0) once the majority names this node
// and its Redis is a master, within a short wait for the sentinels to agree;
// otherwise not-sentinels-master (exit 1), after fencing a master they do
// not name.
ExitCode run_sentinel_master(HookRun& run);

// redis_backup, redis_fault, redis_stop: fenced (and a copy kept, except for
// redis_stop, which keepalived kills after about 1 s) when the local Redis is
// a master the majority does not name; otherwise standing-aside.
ExitCode run_sentinel_standby(HookRun& run, Transition transition);

// redis_switchover with --sentinel (sentinel_switchover.cpp): run on the
// master the sentinels name; pause its writes, wait until every replica has
// them all, SENTINEL FAILOVER, wait until a strict majority names the new
// master, then make this node its replica in the transaction that lifts the
// pause. No maintenance file: the VIP follows redis_check. UsageError for
// pair mode's --status, --rejoin, --stay-out.
ExitCode run_sentinel_switchover(const ToolOptions& given);

}  // namespace rk
