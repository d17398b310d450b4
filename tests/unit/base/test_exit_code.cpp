// The exit codes are an API (keepalived reads 0 as success, anything else
// as failure; operators script against the rest), and the verdict names are
// what log lines and the state dir's NAME.last say: both are pinned here,
// one row per verdict.

#include "catch_compat.hpp"

#include <set>
#include <string>
#include <vector>

#include "rk/exit_code.hpp"

using namespace rk;

namespace {

struct Row {
  Verdict verdict;
  const char* name;
  ExitCode code;
};

const std::vector<Row> kVerdicts{
    {Verdict::promoted, "promoted", ExitCode::success},
    {Verdict::already_master, "already-master", ExitCode::success},
    // Promoted, but without the peer's last writes: not the goal.
    {Verdict::promoted_incomplete, "promoted-incomplete", ExitCode::failure},
    // No reply to REPLICAOF NO ONE: it may or may not be master.
    {Verdict::promotion_unknown, "promotion-unknown", ExitCode::failure},
    {Verdict::sync_timeout, "sync-timeout", ExitCode::failure},
    {Verdict::stale_history, "stale-history", ExitCode::failure},
    {Verdict::local_unreachable, "local-unreachable", ExitCode::failure},
    {Verdict::peer_denied, "peer-denied", ExitCode::failure},
    {Verdict::peer_is_local, "peer-is-local", ExitCode::failure},
    {Verdict::peer_too_old, "peer-too-old", ExitCode::failure},
    {Verdict::replicating, "replicating", ExitCode::success},
    {Verdict::peer_demoted, "peer-demoted", ExitCode::success},
    {Verdict::copy_failed, "copy-failed", ExitCode::failure},
    {Verdict::backup_timeout, "timeout", ExitCode::failure},
    {Verdict::no_peer, "no-peer", ExitCode::failure},
    {Verdict::recorded, "recorded", ExitCode::success},
    {Verdict::not_recorded, "not-recorded", ExitCode::failure},
    {Verdict::superseded, "superseded", ExitCode::superseded},
    {Verdict::error, "error", ExitCode::failure},
    {Verdict::sentinels_master, "sentinels-master", ExitCode::success},
    {Verdict::not_sentinels_master, "not-sentinels-master", ExitCode::failure},
    {Verdict::standing_aside, "standing-aside", ExitCode::success},
    {Verdict::fenced, "fenced", ExitCode::success},
    {Verdict::switched_over, "switched-over", ExitCode::success},
    {Verdict::switchover_refused, "switchover-refused", ExitCode::failure},
    {Verdict::switchover_interrupted, "switchover-interrupted", ExitCode::failure},
    {Verdict::switchover_unknown, "switchover-unknown", ExitCode::failure},
    {Verdict::handover_unconfirmed, "handover-unconfirmed", ExitCode::failure},
    {Verdict::rejoin_failed, "rejoin-failed", ExitCode::failure},
};

}  // namespace

TEST_CASE("exit codes: 0 success, 1 failure, 2 usage, 3 superseded", "[exit_code]") {
  CHECK(to_int(ExitCode::success) == 0);
  CHECK(to_int(ExitCode::failure) == 1);
  CHECK(to_int(ExitCode::usage) == 2);
  CHECK(to_int(ExitCode::superseded) == 3);
}

TEST_CASE("every verdict has its name and its exit code", "[exit_code]") {
  for (const Row& row : kVerdicts) {
    INFO("verdict " << row.name);
    CHECK(std::string(to_string(row.verdict)) == row.name);
    CHECK(to_int(exit_code_of(row.verdict)) == to_int(row.code));
  }
}

TEST_CASE("the table above lists every verdict, each name once", "[exit_code]") {
  // Verdict's enumerators run from 0 without gaps, and to_string names any
  // other value "?": counting up to the first "?" counts the verdicts, so a
  // new one without a row here fails this test.
  std::size_t count = 0;
  while (std::string(to_string(static_cast<Verdict>(count))) != "?") ++count;
  CHECK(count == kVerdicts.size());
  std::set<std::string> names;
  for (const Row& row : kVerdicts) names.insert(row.name);
  CHECK(names.size() == kVerdicts.size());
}

TEST_CASE("verdict_line names the verdict and the exit code it maps to", "[exit_code]") {
  CHECK(verdict_line(Verdict::switched_over, 12, "writes paused 3 ms") ==
        "verdict=switched-over exit=0 elapsed_ms=12 writes paused 3 ms");
  CHECK(verdict_line(Verdict::superseded, 0, "before acting") ==
        "verdict=superseded exit=3 elapsed_ms=0 before acting");
  CHECK(verdict_line(Verdict::rejoin_failed, 5, "x") ==
        "verdict=rejoin-failed exit=1 elapsed_ms=5 x");
}

TEST_CASE("a change of unknown effect is a failure with its own name", "[exit_code]") {
  // Neither may read as success nor as "nothing changed" (exit 2).
  for (Verdict verdict : {Verdict::promotion_unknown, Verdict::switchover_unknown,
                          Verdict::handover_unconfirmed, Verdict::rejoin_failed}) {
    CHECK(exit_code_of(verdict) == ExitCode::failure);
    CHECK(std::string(to_string(verdict)) != "error");
  }
  CHECK(std::string(to_string(Verdict::promotion_unknown)) == "promotion-unknown");
}

TEST_CASE("no verdict maps to the usage exit code", "[exit_code]") {
  // Exit 2 means nothing was done; a hook that got to a verdict has acted
  // or decided not to, so its exit code is 0, 1 or 3.
  for (int v = 0; v <= static_cast<int>(Verdict::rejoin_failed); ++v) {
    auto verdict = static_cast<Verdict>(v);
    CAPTURE(to_string(verdict));
    CHECK(std::string(to_string(verdict)) != "?");
    CHECK(exit_code_of(verdict) != ExitCode::usage);
  }
}
