#include "rk/exit_code.hpp"

#include <fmt/format.h>

namespace rk {

const char* to_string(Verdict verdict) {
  switch (verdict) {
    case Verdict::promoted: return "promoted";
    case Verdict::already_master: return "already-master";
    case Verdict::promoted_incomplete: return "promoted-incomplete";
    case Verdict::promotion_unknown: return "promotion-unknown";
    case Verdict::sync_timeout: return "sync-timeout";
    case Verdict::stale_history: return "stale-history";
    case Verdict::local_unreachable: return "local-unreachable";
    case Verdict::peer_denied: return "peer-denied";
    case Verdict::peer_is_local: return "peer-is-local";
    case Verdict::peer_too_old: return "peer-too-old";
    case Verdict::replicating: return "replicating";
    case Verdict::peer_demoted: return "peer-demoted";
    case Verdict::copy_failed: return "copy-failed";
    case Verdict::backup_timeout: return "timeout";
    case Verdict::no_peer: return "no-peer";
    case Verdict::recorded: return "recorded";
    case Verdict::sentinels_master: return "sentinels-master";
    case Verdict::not_sentinels_master: return "not-sentinels-master";
    case Verdict::standing_aside: return "standing-aside";
    case Verdict::fenced: return "fenced";
    case Verdict::not_recorded: return "not-recorded";
    case Verdict::superseded: return "superseded";
    case Verdict::error: return "error";
    case Verdict::switched_over: return "switched-over";
    case Verdict::switchover_refused: return "switchover-refused";
    case Verdict::switchover_interrupted: return "switchover-interrupted";
    case Verdict::switchover_unknown: return "switchover-unknown";
    case Verdict::handover_unconfirmed: return "handover-unconfirmed";
    case Verdict::rejoin_failed: return "rejoin-failed";
  }
  return "?";
}

ExitCode exit_code_of(Verdict verdict) {
  switch (verdict) {
    case Verdict::promoted:
    case Verdict::already_master:
    case Verdict::replicating:
    case Verdict::peer_demoted:
    case Verdict::switched_over:
    case Verdict::sentinels_master:
    case Verdict::standing_aside:
    case Verdict::fenced:
    case Verdict::recorded: return ExitCode::success;
    case Verdict::superseded: return ExitCode::superseded;
    // promoted-incomplete: promoted, but without the peer's last writes.
    case Verdict::promoted_incomplete:
    case Verdict::promotion_unknown:
    case Verdict::sync_timeout:
    case Verdict::stale_history:
    case Verdict::local_unreachable:
    case Verdict::peer_denied:
    case Verdict::peer_is_local:
    case Verdict::peer_too_old:
    case Verdict::copy_failed:
    case Verdict::backup_timeout:
    case Verdict::no_peer:
    case Verdict::not_recorded:
    case Verdict::switchover_refused:
    case Verdict::switchover_interrupted:
    case Verdict::switchover_unknown:
    case Verdict::handover_unconfirmed:
    case Verdict::rejoin_failed:
    case Verdict::not_sentinels_master:
    case Verdict::error: return ExitCode::failure;
  }
  return ExitCode::failure;
}

std::string verdict_line(Verdict verdict, long long elapsed_ms, const std::string& detail) {
  return fmt::format("verdict={} exit={} elapsed_ms={} {}", to_string(verdict),
                     to_int(exit_code_of(verdict)), elapsed_ms, detail);
}

}  // namespace rk
