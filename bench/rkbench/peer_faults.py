"""Part peer-faults: this build against a baseline build (--baseline-bin), in
the same run, interleaved.

- stall: a fresh node's redis_master asks the peer (1,000 keys, a 5 s
  diskless-sync delay) for its data; the peer then stalls for 1.2 s
  (DEBUG SLEEP), longer than the hook's --timeout. Counted: runs in which the
  node became master before it held the peer's keys (an empty node promoted
  while the peer held everything), and the time to a complete promotion.
- crash: the lab's crash scenario (kill -9 of the master's Redis under
  writes), with each build's binaries: the longest write gap and the
  acknowledged writes lost.
- sync-timeout: the lab's sync-timeout scenario (a node takes the VIP while
  its full sync outlasts --sync-timeout): how long the VIP stays on a replica
  after the sync-wait gave up, the write gap, the writes lost.
"""
import os
import subprocess
import threading
import time

from rediskit import RedisReplyError, Resp, populate

from .common import REPO, BenchError, fmt, log, median, redis_server, spawn, stop
from .failover import run_lab

KEYS = 1000
STALL_S = 1.2
HOOK_TIMEOUT_MS = 300
SYNC_DELAY_S = 5


def keys_of(info):
    db0 = info.get("db0", "")
    return int(db0.split(",")[0].split("=")[1]) if db0.startswith("keys=") else 0


def stall_trial(ctx, bindir, label, i):
    """One stalled-peer promotion with the binaries in BINDIR."""
    root = ctx["tmp"]
    name = f"{label}-{i}"
    peer = redis_server(root, f"stall-peer-{name}",
                        [f"repl-diskless-sync-delay {SYNC_DELAY_S}", "enable-debug-command yes"])
    local = redis_server(root, f"stall-local-{name}")
    state = os.path.join(root, f"stall-state-{name}")
    os.mkdir(state, 0o700)
    logfile = os.path.join(ctx["outdir"], f"stall-{name}.log")
    try:
        populate(peer, KEYS)
        hook = spawn([os.path.join(bindir, "redis_master"), "--host", "127.0.0.1",
                      "--port", str(local.port), "--peer", f"127.0.0.1:{peer.port}",
                      "--timeout", str(HOOK_TIMEOUT_MS), "--sync-timeout", "30",
                      "--state-dir", state, "--instance", "bench", "--log-file", logfile],
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t0 = time.monotonic()
        deadline = t0 + 10
        while time.monotonic() < deadline and hook.poll() is None:
            if os.path.exists(logfile) and "replicating" in open(logfile).read():
                break
            time.sleep(0.01)
        else:
            raise BenchError(f"stall {name}: the hook never asked the peer for its data")

        def debug_sleep():
            with Resp("127.0.0.1", peer.port, timeout=10) as c:
                c.call("DEBUG", "SLEEP", str(STALL_S))
        sleeper = threading.Thread(target=debug_sleep, daemon=True)
        sleeper.start()
        incomplete_master, complete_at = None, None
        seen_replica = False
        with Resp("127.0.0.1", local.port, timeout=2) as c:
            # Sampled until the hook has exited, then once more: a hook that
            # promotes and exits between two samples is still seen.
            hook_done = False
            while time.monotonic() < t0 + 45:
                hook_done = hook.poll() is not None
                try:
                    info = c.info()
                except (OSError, ConnectionError, RedisReplyError):
                    info = {}
                role, keys = info.get("role"), keys_of(info)
                seen_replica = seen_replica or role == "slave"
                if seen_replica and role == "master":
                    if keys < KEYS and incomplete_master is None:
                        incomplete_master = keys
                    if keys >= KEYS and info.get("loading") == "0" and complete_at is None:
                        complete_at = time.monotonic() - t0
                if hook_done:
                    break
                time.sleep(0.02)
        rc = hook.wait(timeout=40)
        sleeper.join(timeout=5)
        return {"build": label, "rc": rc, "promoted_incomplete": incomplete_master is not None,
                "keys_when_promoted": incomplete_master, "complete_promotion_s":
                round(complete_at, 2) if complete_at is not None else None,
                "log": os.path.basename(logfile)}
    finally:
        stop(local)
        stop(peer)


def lab_trial(ctx, bindir, label, i, scenario):
    """The lab's SCENARIO with the binaries in BINDIR."""
    errlog = os.path.join(ctx["outdir"], f"{scenario}-{label}-{i}.log")
    res = run_lab(["python3", os.path.join(REPO, "tests", "e2e", "lab.py"), "--scenario",
                   scenario, "--bin-dir", bindir, "--json"], errlog)
    return {"build": label, "result": res.get("result", "error"), "reason": res.get("reason"),
            "write_gap_s": res.get("write_gap_s"), "lost": res.get("lost"),
            "acked": res.get("acked"),
            "vip_on_replica_after_timeout_s": res.get("vip_on_replica_after_timeout_s"),
            "log": os.path.basename(errlog)}


def spread(xs, digits=2):
    """'median (min-max)' of the numbers in XS."""
    return f"{fmt(median(xs), digits)} ({fmt(min(xs), digits)}-{fmt(max(xs), digits)})"


def part_peer_faults(ctx):
    args = ctx["args"]
    if not args.baseline_bin:
        raise BenchError("give --baseline-bin DIR: the binaries of the build to compare with")
    builds = (("baseline", os.path.abspath(args.baseline_bin)), ("this", ctx["bindir"]))
    for label, bindir in builds:
        if not os.access(os.path.join(bindir, "redis_master"), os.X_OK):
            raise BenchError(f"{bindir} has no redis_master ({label})")
    res = {"baseline_bin": builds[0][1], "stall": [], "crash": [], "sync-timeout": []}
    for i in range(args.stall_runs):
        for label, bindir in builds:
            trial = stall_trial(ctx, bindir, label, i)
            log(f"stall {label} {i}: incomplete master={trial['promoted_incomplete']} "
                f"rc={trial['rc']} complete after {trial['complete_promotion_s']} s")
            res["stall"].append(trial)
    if os.geteuid() != 0:
        log("crash: skipped (the lab needs root)")
        return res
    for scenario, runs in (("crash", args.crash_runs),
                           ("sync-timeout", args.sync_timeout_runs)):
        for i in range(runs):
            for label, bindir in builds:
                trial = lab_trial(ctx, bindir, label, i, scenario)
                log(f"{scenario} {label} {i}: {trial['result']} gap {trial['write_gap_s']} s "
                    f"lost {trial['lost']} {trial['reason'] or ''}")
                res[scenario].append(trial)
    return res


def report_peer_faults(res):
    lines = ["### peer-faults: this build against the baseline, same run, interleaved", "",
             f"Baseline binaries: `{res['baseline_bin']}`.", "",
             "| | baseline | this build |", "|---|---|---|"]

    def of(kind, label):
        return [t for t in res[kind] if t["build"] == label]

    def row(text, kind, cell):
        """A table row: TEXT, then CELL(trials of KIND) for each build."""
        cells = [cell(of(kind, label)) for label in ("baseline", "this")]
        lines.append("| " + " | ".join([text] + cells) + " |")

    def durations(values):
        values = [v for v in values if v is not None]
        return spread(values) + " s" if values else "n/a"

    row("peer stalled 1.2 s during the sync-wait: empty node promoted", "stall",
        lambda ts: f"{sum(1 for t in ts if t['promoted_incomplete'])} of {len(ts)}")
    row("same: time to a promotion with all 1,000 keys, median (min-max)", "stall",
        lambda ts: durations(t["complete_promotion_s"] for t in ts
                             if not t["promoted_incomplete"]))
    if res["crash"]:
        row("kill -9 of the master's Redis: longest write gap, median (min-max)", "crash",
            lambda ts: durations(t["write_gap_s"] for t in ts))
        row("same: runs passed; acknowledged writes lost", "crash",
            lambda ts: f"{sum(1 for t in ts if t['result'] == 'pass')} of {len(ts)}; "
                       f"{sum(t['lost'] or 0 for t in ts)}")
    if res.get("sync-timeout"):
        row("sync-wait outlasted, then: VIP on a replica after the hook gave up", "sync-timeout",
            lambda ts: "; ".join(f"{t['vip_on_replica_after_timeout_s']} s" if t["result"] == "pass"
                                 else f"{t['result']}: {t['reason']}" for t in ts))
        row("same: longest write gap; acknowledged writes lost", "sync-timeout",
            lambda ts: "; ".join(f"{t['write_gap_s']} s, {t['lost']} lost" for t in ts))
    if res["crash"]:
        base = [t["write_gap_s"] for t in of("crash", "baseline") if t["write_gap_s"]]
        this = [t["write_gap_s"] for t in of("crash", "this") if t["write_gap_s"]]
        if base and this:
            lines += ["", f"Crash write gap, this build / baseline: "
                          f"{fmt(median(this) / median(base), 2)}x (medians)."]
    return "\n".join(lines)
