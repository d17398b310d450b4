#include "rk/sentinel_hooks.hpp"

#include <fmt/format.h>

#include "rk/dataset_copy.hpp"
#include "rk/fence.hpp"
#include "rk/sentinel_client.hpp"
#include "rk/sentinel_quorum.hpp"

namespace rk {
namespace {

// The local Redis and the sentinels' majority, as they stand now.
struct SentinelSight {
  std::optional<RedisState> local;
  SentinelTally tally;
  SentinelCheck verdict;
};

SentinelSight look(HookRun& run) {
  const ToolOptions& options = run.options();
  SentinelSight sight;
  sight.local = run.observe_local();
  std::vector<SentinelView> views = query_sentinels(sentinel_connections(options),
                                                    options.master_name,
                                                    Clock::now() + options.timeout);
  sight.tally = tally_sentinels(views, options.sentinel_endpoints.size());
  if (sight.local)
    sight.verdict = decide_sentinel_check(*sight.local, sight.tally, sentinel_self(options),
                                          load_fence_record(run.records()));
  return sight;
}

// decide_sentinel_check's fence step on the local Redis. A failure is a
// warning in the log and the returned text: the hook's verdict says the rest.
std::string carry_out_fence(HookRun& run, SentinelFenceStep step) {
  if (step == SentinelFenceStep::keep || !run.local()) return {};
  try {
    std::string done =
        apply_sentinel_fence(*run.local(), run.records(), step,
                             static_cast<int>(run.options().fence_max_lag.count()),
                             Clock::now() + run.options().timeout);
    if (!done.empty()) run.log().warning("{}", done);
    return done;
  } catch (const std::runtime_error& error) {  // RedisError, StateError
    std::string text = fmt::format("fence not changed: {}", error.what());
    run.log().warning("{}", text);
    return text;
  }
}

// A master the majority does not name: its writes stop (the fence), then its
// dataset is copied, before Sentinel converts it to a replica of the master
// it names (at the earliest about 8 s after it sees this one as a master
// again: sentinel.c waits SENTINEL_PUBLISH_PERIOD * 4) and the full resync
// discards what only this node holds. The fence, not a CLIENT PAUSE, holds
// the writes: a pause also blocks PUBLISH, which stalls Sentinel's hello
// messages on this node.
struct Outcome {
  Verdict verdict;
  std::string detail;
};
Outcome fence_and_keep_copy(HookRun& run, const SentinelSight& sight, bool copy) {
  std::string fence = carry_out_fence(run, SentinelFenceStep::fence);
  std::string detail = fmt::format("{}{}{}", sight.verdict.reason, fence.empty() ? "" : "; ", fence);
  if (!copy) return {Verdict::fenced, detail + "; no copy (keepalived ends this hook)"};
  const ToolOptions& options = run.options();
  try {
    CopyRequest request{options.copy_dir,
                        "local",
                        0,
                        Clock::now() + options.copy_timeout,
                        options.copy_keep_count,
                        options.copy_keep_mb * 1024 * 1024,
                        run.superseded_probe(),
                        options.poll};
    CopyOutcome kept = keep_dataset_copy(local_connection(options), request);
    run.log().warning(
        "kept a copy of the local Redis's dataset: {}/{} ({} bytes, replid {}, offset {}) in {} ms; "
        "Sentinel's conversion of this node to a replica discards the writes only it holds; to "
        "read it back see KEPT COPIES in redis_backup(1)",
        options.copy_dir, kept.copy.file, kept.copy.bytes, kept.copy.name.replid,
        kept.copy.name.to_offset, kept.elapsed_ms);
    return {Verdict::fenced, fmt::format("{}; copy {}", detail, kept.copy.file)};
  } catch (const CopyFailed& error) {
    run.log().warning("no copy of the local Redis's dataset: {}", error.what());
    return {Verdict::copy_failed, fmt::format("{}; no copy: {}", detail, error.what())};
  }
}

}  // namespace

ExitCode run_sentinel_master(HookRun& run) {
  const ToolOptions& options = run.options();
  // keepalived made this node MASTER because its check passed, that is the
  // majority named it a moment ago. A failover under way can make them
  // disagree for a moment: a short wait, never a promotion.
  auto give_up_at = Clock::now() + std::max(std::chrono::milliseconds(2000), options.timeout * 4);
  SentinelSight sight = look(run);
  while (!(sight.local && sight.verdict.passes) && !run.past(give_up_at)) {
    run.pause_briefly();
    sight = look(run);
  }
  if (!sight.local)
    return run.finish(Verdict::local_unreachable,
                      fmt::format("the local Redis never answered; {}", sight.tally.summary));
  if (sight.verdict.passes) {
    std::string lifted = carry_out_fence(run, sight.verdict.fence);
    return run.finish(Verdict::sentinels_master,
                      fmt::format("{}{}{}", sight.verdict.reason, lifted.empty() ? "" : "; ", lifted));
  }
  run.log().warning("the sentinels do not make this node master: {}; nothing is promoted here",
                    sight.verdict.reason);
  // Whatever the fence and the copy came to, the verdict is that this node
  // is not the sentinels' master; the detail says the rest.
  std::string detail = sight.verdict.reason;
  if (sight.verdict.fence == SentinelFenceStep::fence)
    detail = fence_and_keep_copy(run, sight, true).detail;
  else
    carry_out_fence(run, sight.verdict.fence);
  return run.finish(Verdict::not_sentinels_master, detail);
}

ExitCode run_sentinel_standby(HookRun& run, Transition transition) {
  SentinelSight sight = look(run);
  if (!sight.local)
    return run.finish(Verdict::standing_aside,
                      fmt::format("the local Redis does not answer; {}", sight.tally.summary));
  if (sight.verdict.fence == SentinelFenceStep::fence ||
      (sight.local->is_master() && !sight.verdict.passes)) {
    Outcome outcome = fence_and_keep_copy(run, sight, transition != Transition::stop);
    return run.finish(outcome.verdict, outcome.detail);
  }
  std::string lifted = carry_out_fence(run, sight.verdict.fence);
  return run.finish(Verdict::standing_aside,
                    fmt::format("{}{}{}", sight.verdict.reason, lifted.empty() ? "" : "; ", lifted));
}

}  // namespace rk
