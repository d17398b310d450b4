#include "common/tools.hpp"

namespace rk::cli::tools {
namespace {

// The hooks' shared meanings of 2 and 3.
const ExitStatus kHookUsage{ExitCode::usage,
                            "usage or configuration error (bad options, an unsafe state dir, an "
                            "unreadable password file), named on stderr; nothing was done"};
const ExitStatus kTransitionUsage{ExitCode::usage,
                                  "usage or configuration error (bad options, an unsafe state "
                                  "dir), named on stderr; nothing was recorded"};
const ExitStatus kSuperseded{ExitCode::superseded,
                             "superseded: a newer transition of the same instance took over"};

}  // namespace

const ToolSpec check{
    "redis_check",
    Kind::check,
    "keepalived vrrp_script check: exit 0 when the local Redis answers PING (or MASTERDOWN) "
    "within --timeout, including connect and AUTH; LOADING, BUSY, auth failures, refused and "
    "timed-out connections fail. Read-only; logs only changes of health.",
    {{ExitCode::success, "the local Redis is healthy"},
     {ExitCode::failure,
      "it is not: unhealthy, yielding the VIP to the node holding the data, "
      "isolated (--witness) or stale"},
     {ExitCode::usage, "usage or configuration error, named on stderr"}},
};

const ToolSpec master{
    "redis_master",
    Kind::hook,
    "keepalived notify_master hook: promote the local Redis only once it holds every write its "
    "peer holds (same replid, applied offset at the peer's offset, checked while the peer's "
    "writes are paused), then make the peer replicate this node.",
    {{ExitCode::success, "the local Redis is the master (promoted, or already master)"},
     {ExitCode::failure, "the goal was not reached; the log's verdict says why"},
     kHookUsage,
     kSuperseded},
};

const ToolSpec backup{
    "redis_backup",
    Kind::hook,
    "keepalived notify_backup hook: make the local Redis a replica of the peer once the peer is "
    "a master that is not itself syncing from this node; never replace a non-empty dataset "
    "with an empty peer's.",
    {{ExitCode::success,
      "the local Redis replicates the peer, or the peer now replicates it "
      "(peer-demoted)"},
     {ExitCode::failure, "the goal was not reached; the log's verdict says why"},
     kHookUsage,
     kSuperseded},
};

const ToolSpec fault{
    "redis_fault",
    Kind::transition,
    "keepalived notify_fault hook: record the FAULT transition so that any older hook of the "
    "same instance stops (exit 3); does not touch Redis.",
    {{ExitCode::success, "the transition is recorded"},
     {ExitCode::failure, "the state dir could not be written (not-recorded)"},
     kTransitionUsage,
     kSuperseded},
};

const ToolSpec stop{
    "redis_stop",
    Kind::transition,
    "keepalived notify_stop hook: record the STOP transition so that any older hook of the same "
    "instance stops (exit 3); finishes well within keepalived's 1 s limit for stop notifies; "
    "does not touch Redis.",
    {{ExitCode::success, "the transition is recorded"},
     {ExitCode::failure, "the state dir could not be written (not-recorded)"},
     kTransitionUsage,
     kSuperseded},
};

const ToolSpec status{
    "redis_status",
    Kind::status,
    "Show the Redis pair at a glance: each node's role, link, offsets and lag, which node "
    "this one follows, whether it holds the VIP (from the hooks' state dir), and the last "
    "transition and what the hook decided. Read-only. --json for machines.",
    {{ExitCode::success, "the local Redis and the state dir could be read"},
     {ExitCode::failure,
      "the local Redis or the state dir could not be read, or --clear-stale could not remove "
      "the record"},
     {ExitCode::usage,
      "usage or configuration error (a state dir or --textfile directory that must not be "
      "trusted), named on stderr"}},
};

const ToolSpec watch{
    "redis_watch",
    Kind::watch,
    "keepalived track_file watcher: keeps one connection to the local Redis, PINGs it every "
    "--interval-ms with its own deadline, and writes 0 (healthy: PONG or MASTERDOWN) or 1 (a "
    "closed or refused connection, a missed deadline, LOADING, BUSY) to --track-file at start "
    "and at every change, so that keepalived moves the VIP at once. Runs in the foreground "
    "until SIGTERM/SIGINT (then removes the file: keepalived reads a missing file as 0, and "
    "redis_check decides alone); SIGHUP reopens the log file.",
    {{ExitCode::success, "stopped by SIGTERM or SIGINT"},
     {ExitCode::failure, "stopped on an error, logged, after removing the track file"},
     {ExitCode::usage, "usage or configuration error, named on stderr; nothing was written"}},
};

const ToolSpec switchover{
    "redis_switchover",
    Kind::switchover,
    "Planned switchover, run on the VIP holder: pause the local master's writes, wait until "
    "the peer has applied all of them (else unpause, keep the VIP, exit 1), promote the peer, "
    "make this node its replica, and hand the VIP over through the maintenance track_file "
    "(1 puts this node in FAULT); then clear it, unless --stay-out. --status prints the "
    "maintenance flag; --rejoin clears it. In Sentinel mode (--sentinel), run on the master the "
    "sentinels name: pause its writes, wait until every replica has applied them, SENTINEL "
    "FAILOVER, wait until a majority names the new master, then make this node its replica in "
    "the transaction that lifts the pause; the VIP follows redis_check.",
    {{ExitCode::success,
      "switched over (or --status, --rejoin done); in Sentinel mode: the majority names the new "
      "master and this node replicates it"},
     {ExitCode::failure,
      "refused or interrupted with nothing changed, or the master role moved but the "
      "handover is unconfirmed or this node could not rejoin; the log's verdict says which"},
     {ExitCode::usage, "usage or configuration error, named on stderr; nothing was changed"}},
};

const std::vector<const ToolSpec*>& all() {
  static const std::vector<const ToolSpec*> every{&check, &master, &backup, &fault,
                                                  &stop,  &status, &watch,  &switchover};
  return every;
}

}  // namespace rk::cli::tools
