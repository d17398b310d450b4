#pragma once

#include <string>

// The tools' exit codes are an API: keepalived's vrrp_script treats 0 as
// success and anything else as failure, and operators script against the rest.
// Documented in README.md, docs/interface.md and every tool's --help and man
// page. Every hook's outcome is a Verdict, and this file alone maps verdicts
// to exit codes.
namespace rk {

enum class ExitCode : int {
  success = 0,     // the check passed, or the hook reached its goal
  failure = 1,     // the check failed, or the hook could not reach its goal
  usage = 2,       // bad command line or configuration; nothing was done
  superseded = 3,  // a newer hook of the same instance took over
};

// The process exit status for `code`.
constexpr int to_int(ExitCode code) { return static_cast<int>(code); }

// How a hook ended, as its summary line names it (verdict=NAME).
enum class Verdict {
  promoted,             // redis_master: REPLICAOF NO ONE succeeded
  already_master,       // redis_master: this node was master and holds the peer's writes
  promoted_incomplete,  // redis_master: --on-sync-timeout promote after the wait ran out
  promotion_unknown,    // redis_master: no reply to REPLICAOF NO ONE and the local Redis
                        // could not be read again: it may or may not be master
  sync_timeout,         // redis_master: the wait ran out; stayed a replica
  stale_history,        // redis_master: the wait ran out on a node recorded as lacking the
                        // peer's writes (NAME.stale); not promoted
  local_unreachable,    // the local Redis never answered
  peer_denied,          // the peer refused AUTH, INFO or CLIENT PAUSE; nothing was changed
  peer_is_local,        // --peer leads to the local Redis itself; nothing was changed
  peer_too_old,         // the peer has no CLIENT PAUSE WRITE (Redis < 6.2); nothing was changed
  replicating,          // redis_backup: replicating the peer with the link up
  peer_demoted,         // redis_backup: this node holds the newer history; the peer replicates it
  copy_failed,          // a resync would discard writes and their copy could not be made;
                        // nothing was changed (see --resync-without-copy)
  backup_timeout,       // redis_backup: gave up after --sync-timeout
  no_peer,              // redis_backup: no peer configured
  recorded,             // redis_fault/redis_stop: the transition is recorded
  not_recorded,         // redis_fault/redis_stop: the state dir could not be written
  superseded,           // a newer hook of the instance took over
  error,                // a Redis call failed in a way the hook could not handle
  // Sentinel mode (the hooks never promote or repoint):
  sentinels_master,      // redis_master: the sentinels' majority names this node, a master
  not_sentinels_master,  // redis_master: it does not, or the local Redis is not a master
  standing_aside,        // redis_backup/fault/stop: nothing to change (a replica, or the
                         // master the majority names)
  fenced,                // a master the majority does not name: fenced, its dataset copied
  // redis_switchover (Sentinel mode's meanings after the semicolons):
  switched_over,           // the peer is master with every write, this node its replica,
                           // and keepalived recorded FAULT here (the VIP moved); a strict
                           // majority names the new master, and this node replicates it
  switchover_refused,      // nothing changed: this node is still the master, unpaused
  switchover_interrupted,  // SIGINT/SIGTERM before the peer was promoted (before SENTINEL
                           // FAILOVER); nothing changed
  switchover_unknown,      // the peer's role after REPLICAOF NO ONE could not be read: this
                           // node was made its replica, so that no two masters take writes;
                           // SENTINEL FAILOVER was sent but no sentinel named another master
                           // in time: this node was fenced before its pause ended
  handover_unconfirmed,    // the peer is master with every write, but keepalived did not
                           // record FAULT here in time, this node was not repointed, or
                           // the maintenance file could not be written; only the sentinel
                           // that ran the failover named the new master (this node replicates
                           // it), or this node could not be made its replica (it was fenced)
  rejoin_failed,           // switched over, but 0 could not be written back to the
                           // maintenance file: this node stays out of the election
  // (rejoin_failed stays last: tests/unit/base/test_exit_code.cpp walks them all)
};

// The verdict's name in log lines ("promoted", "sync-timeout", ...).
const char* to_string(Verdict verdict);
// The exit code that `verdict` means.
ExitCode exit_code_of(Verdict verdict);
// The summary line that ends every hook's and redis_switchover's run:
// "verdict=NAME exit=N elapsed_ms=MS DETAIL", the exit code from
// exit_code_of(). Operators and the tests grep for it.
std::string verdict_line(Verdict verdict, long long elapsed_ms, const std::string& detail);

}  // namespace rk
