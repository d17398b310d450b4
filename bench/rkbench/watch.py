"""Part watch: redis_watch (keepalived's track_file) against the check alone,
in the same run, interleaved round by round (--watch-runs rounds).

Lab profiles (tests/e2e/lab.py, a writer at 200 writes/s through the VIP):
- crash: kill -9 of the master's Redis, with the watcher off and on;
- freeze: SIGSTOP of the master's Redis for 15 s, off and on (how fast the
  VIP moves);
- planned switchover: redis_switchover on the VIP holder, against today's way
  (stopping keepalived on the master: the lab's maintenance scenario);
- watcher killed: the watcher on the master's node dies, then its Redis is
  killed: failover at the check's speed, against crash with the watcher off.

Cost: redis_watch against a redis-server on loopback for --watch-seconds at
its default interval (100 ms): CPU as a share of one core and peak RSS,
beside redis_check run once a second (keepalived's fastest interval) for the
same time.
"""
import os
import resource
import subprocess
import time

from .common import REPO, BenchError, fmt, log, median, redis_server, spawn, stop
from .failover import run_lab

LAB_PROFILES = (
    ("crash", "crash", "watcher off", ()),
    ("crash", "crash", "watcher on", ("--watch",)),
    ("freeze", "freeze", "watcher off", ()),
    ("freeze", "freeze", "watcher on", ("--watch",)),
    ("switchover", "maintenance", "keepalived stopped on the master (today)", ()),
    ("switchover", "planned-switchover", "redis_switchover, watcher on", ("--watch",)),
    ("watcher-killed", "watcher-killed", "watcher killed, then kill -9", ()),
)
FIELDS = ("result", "reason", "write_gap_s", "lost", "acked", "converge_s", "vip_moved_s",
          "failover_s", "switchover_s", "converged_s")


def lab_trial(ctx, scenario, label, extra, i):
    slug = "".join(c if c.isalnum() else "-" for c in label)
    errlog = os.path.join(ctx["outdir"], f"watch-{scenario}-{slug}-{i}.log")
    res = run_lab(["python3", os.path.join(REPO, "tests", "e2e", "lab.py"), "--scenario",
                   scenario, "--bin-dir", ctx["bindir"], "--json", *extra], errlog)
    trial = {"scenario": scenario, "profile": label, "log": os.path.basename(errlog)}
    trial.update({k: res.get(k) for k in FIELDS})
    trial["result"] = trial["result"] or "error"
    return trial


def proc_cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime


def proc_peak_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return None


def watcher_cost(ctx, seconds):
    """CPU share of one core and peak RSS of redis_watch at its default
    interval, and the CPU of redis_check once a second, over SECONDS."""
    root = ctx["tmp"]
    srv = redis_server(root, "watch-cost")
    try:
        track = os.path.join(root, "watch-cost.track")
        proc = spawn([os.path.join(ctx["bindir"], "redis_watch"), "--port", str(srv.port),
                      "--track-file", track, "--state-dir", os.path.join(root, "no-state"),
                      "--instance", "bench"], stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL)
        time.sleep(1.0)
        cpu0, t0 = proc_cpu_seconds(proc.pid), time.monotonic()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        checks = 0
        while time.monotonic() - t0 < seconds:
            subprocess.run([os.path.join(ctx["bindir"], "redis_check"), "127.0.0.1",
                            str(srv.port), "--state-dir", os.path.join(root, "no-state")],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            checks += 1
            time.sleep(max(0.0, checks - (time.monotonic() - t0)))
        elapsed = time.monotonic() - t0
        cpu = proc_cpu_seconds(proc.pid) - cpu0
        rss = proc_peak_rss_kib(proc.pid)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        stop(proc)
        check_cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        return {"seconds": round(elapsed, 1), "watch_cpu_pct": round(100 * cpu / elapsed, 3),
                "watch_peak_rss_kib": rss, "checks": checks,
                "check_cpu_pct": round(100 * check_cpu / elapsed, 3)}
    finally:
        stop(srv)


def part_watch(ctx):
    args = ctx["args"]
    if not os.access(os.path.join(ctx["bindir"], "redis_watch"), os.X_OK):
        raise BenchError("this build has no redis_watch")
    res = {"cost": watcher_cost(ctx, args.watch_seconds), "runs": args.watch_runs, "trials": []}
    log(f"watch cost: {res['cost']}")
    if os.geteuid() != 0:
        log("watch: lab profiles skipped (the lab needs root)")
        return res
    for i in range(args.watch_runs):
        for _, scenario, label, extra in LAB_PROFILES:
            t = lab_trial(ctx, scenario, label, extra, i)
            log(f"watch {scenario} [{label}] {i}: {t['result']} gap {t['write_gap_s']} s "
                f"lost {t['lost']} vip {t['vip_moved_s']} {t['reason'] or ''}")
            res["trials"].append(t)
    return res


def report_watch(res):
    cost = res["cost"]
    lines = ["### watch: redis_watch (track_file) against the check alone, same run", "",
             f"Cost over {cost['seconds']} s at the default interval (100 ms): redis_watch "
             f"{cost['watch_cpu_pct']}% of one core, peak RSS {cost['watch_peak_rss_kib']} KiB; "
             f"redis_check once a second: {cost['check_cpu_pct']}% of one core "
             f"({cost['checks']} runs).", ""]
    if not res["trials"]:
        return "\n".join(lines)

    def spread(values, unit=" s"):
        values = [v for v in values if v is not None]
        if not values:
            return "n/a"
        return f"{fmt(median(values), 2)}{unit} ({fmt(min(values), 2)}-{fmt(max(values), 2)})"

    lines += [f"{res['runs']} run(s) of each profile, interleaved; medians (min-max).", "",
              "| case | profile | runs passed | longest write gap | VIP moved after | "
              "acknowledged writes lost | converged after |",
              "|---|---|---|---|---|---|---|"]
    for case, scenario, label, _ in LAB_PROFILES:
        ts = [t for t in res["trials"] if t["scenario"] == scenario and t["profile"] == label]
        passed = sum(1 for t in ts if t["result"] == "pass")
        moved = [t["vip_moved_s"] or t["failover_s"] or t["switchover_s"] for t in ts]
        lines.append(f"| {case} | {label} | {passed} of {len(ts)} | "
                     f"{spread([t['write_gap_s'] for t in ts])} | {spread(moved)} | "
                     f"{sum(t['lost'] or 0 for t in ts)} | "
                     f"{spread([t['converge_s'] or t['converged_s'] for t in ts])} |")
    for case in ("crash", "freeze", "switchover"):
        rows = [p for p in LAB_PROFILES if p[0] == case]
        gaps = [[t["write_gap_s"] for t in res["trials"]
                 if t["scenario"] == p[1] and t["profile"] == p[2] and t["write_gap_s"]]
                for p in rows]
        if len(gaps) == 2 and all(gaps):
            lines.append(f"\n{case}: longest write gap, {rows[1][2]} / {rows[0][2]}: "
                         f"{fmt(median(gaps[1]) / median(gaps[0]), 2)}x (medians).")
    for t in res["trials"]:
        if t["result"] != "pass":
            lines.append(f"\n- {t['scenario']} [{t['profile']}]: {t['result']}: {t['reason']}")
    return "\n".join(lines)
