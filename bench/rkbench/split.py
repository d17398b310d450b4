"""Part split: the lab's split-brain scenarios, this build against a baseline
build (--baseline-bin) and against itself with --fence-writes and --witness,
in the same run, interleaved round by round (--split-runs rounds).

- partition: the two nodes lose each other for 5 s while both still reach
  the client (the writer, 200 writes/s through the VIP, follows the last
  gratuitous ARP, so both sides take writes). Profiles: baseline, this
  build, this build with fence-writes and fence-max-lag 1, and with
  fence-max-lag 2.
- master-cut-off: the master's node reaches nobody for 15 s while an
  application on that node keeps writing to its own Redis (20 writes/s); VRRP
  prefers the cut-off node when it is back. Profiles: baseline, this build,
  this build with a witness (the client's address, a port nothing listens on:
  a refused connect is an answer).

For each run: the acknowledged writes missing from the final master, how
many of them a kept copy holds (the lab reads every copy back), the longest
write gap, the final master and the run's verdict.
"""
import os

from .common import REPO, BenchError, fmt, log, median
from .failover import run_lab

WRITES_PER_S = 200  # the lab writer's rate through the VIP
WITNESS = "10.99.0.9:7"  # the lab client's address; nothing listens on port 7

PROFILES = (
    ("partition", "baseline", "baseline", ()),
    ("partition", "this", "this build", ()),
    ("partition", "this", "this build, fence-writes, fence-max-lag 1",
     ("fence-writes=true", "fence-max-lag=1")),
    ("partition", "this", "this build, fence-writes, fence-max-lag 2",
     ("fence-writes=true", "fence-max-lag=2")),
    ("master-cut-off", "baseline", "baseline", ()),
    ("master-cut-off", "this", "this build", ()),
    ("master-cut-off", "this", f"this build, witness {WITNESS}", (f"witness={WITNESS}",)),
)
FIELDS = ("result", "reason", "acked", "lost", "lost_in_copies", "lost_not_in_copies",
          "write_gap_s", "winner", "cut_off_local_acked", "cut_off_local_lost",
          "cut_off_local_lost_in_copies", "heal_converge_s")


def split_trial(ctx, bindir, scenario, label, toolkit, i):
    """One lab run of SCENARIO with the binaries in BINDIR and TOOLKIT options."""
    slug = label.replace(" ", "-").replace(",", "").replace(":", "-")
    errlog = os.path.join(ctx["outdir"], f"split-{scenario}-{slug}-{i}.log")
    cmd = ["python3", os.path.join(REPO, "tests", "e2e", "lab.py"), "--scenario", scenario,
           "--bin-dir", bindir, "--json"]
    for item in toolkit:
        cmd += ["--toolkit", item]
    res = run_lab(cmd, errlog)
    trial = {"scenario": scenario, "profile": label, "log": os.path.basename(errlog)}
    trial.update({k: res.get(k) for k in FIELDS})
    trial["result"] = trial["result"] or "error"
    return trial


def part_split(ctx):
    args = ctx["args"]
    if not args.baseline_bin:
        raise BenchError("give --baseline-bin DIR: the binaries of the build to compare with")
    if os.geteuid() != 0:
        raise BenchError("the lab needs root")
    bins = {"baseline": os.path.abspath(args.baseline_bin), "this": ctx["bindir"]}
    trials = []
    for i in range(args.split_runs):
        for scenario, build, label, toolkit in PROFILES:
            t = split_trial(ctx, bins[build], scenario, label, toolkit, i)
            log(f"split {scenario} [{label}] {i}: {t['result']} lost {t['lost']} "
                f"(in copies {t['lost_in_copies']}) gap {t['write_gap_s']} s "
                f"master {t['winner']} {t['reason'] or ''}")
            trials.append(t)
    return {"baseline_bin": bins["baseline"], "runs": args.split_runs, "trials": trials}


def report_split(res):
    lines = ["### split: this build against the baseline and with its options, same run, "
             "interleaved", "", f"Baseline binaries: `{res['baseline_bin']}`; "
             f"{res['runs']} run(s) of each profile; medians (min-max).", ""]

    def spread(values, unit=""):
        values = [v for v in values if v is not None]
        if not values:
            return "n/a"
        return (f"{fmt(median(values), 2)}{unit} ({fmt(min(values), 2)}-"
                f"{fmt(max(values), 2)}{unit})")

    for scenario in ("partition", "master-cut-off"):
        lines += [f"`{scenario}`:", "",
                  "| profile | runs passed | final master | acked writes missing from it | "
                  "same, in writes/s x s | of them in a kept copy | longest write gap |"
                  + (" cut-off node's local writes acked / missing / in a copy |"
                     if scenario == "master-cut-off" else ""),
                  "|---|---|---|---|---|---|---|" + ("---|" if scenario == "master-cut-off"
                                                     else "")]
        for _, _, label, _ in [p for p in PROFILES if p[0] == scenario]:
            ts = [t for t in res["trials"] if t["scenario"] == scenario and t["profile"] == label]
            passed = sum(1 for t in ts if t["result"] == "pass")
            masters = ", ".join(sorted({str(t["winner"]) for t in ts}))
            lost = [t["lost"] for t in ts]
            row = [label, f"{passed} of {len(ts)}", masters, spread(lost),
                   spread([x / WRITES_PER_S for x in lost if x is not None], " s"),
                   "; ".join(f"{t['lost_in_copies']} of {t['lost']}" for t in ts),
                   spread([t["write_gap_s"] for t in ts], " s")]
            if scenario == "master-cut-off":
                row.append("; ".join(f"{t['cut_off_local_acked']} / {t['cut_off_local_lost']} / "
                                     f"{t['cut_off_local_lost_in_copies']}" for t in ts))
            lines.append("| " + " | ".join(str(c) for c in row) + " |")
        failed = [t for t in res["trials"] if t["scenario"] == scenario and t["result"] != "pass"]
        for t in failed:
            lines.append(f"\n- {t['profile']}: {t['result']}: {t['reason']}")
        lines.append("")
    return "\n".join(lines)
