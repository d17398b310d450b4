"""Part sentinel-lab: the lab's Sentinel topology (tests/e2e/lab.py --topology
sentinel: data nodes a and b with a sentinel each, a third host with a
sentinel only), the VIP moved by plain Sentinel's client-reconfig-script
(the baseline) and by keepalived with the toolkit in Sentinel mode at several
VRRP settings, and pair mode's comparable scenario beside them, in the same
run, interleaved round by round (--rounds N; the order of the variants
rotates each round). --sentinel-lab-topology sentinel3 runs the Sentinel
rows on three data nodes (the pair rows stay a pair); RK_SERVER picks the
server (Valkey: RK_SERVER=valkey-server), as for every part.

For each run: the longest write gap of the writer (200 writes/s through the
VIP), the acknowledged writes lost and how many of them a kept copy holds,
the longest time the VIP sat on a node the sentinels' majority did not name
(sampled every 0.1 s), and how long after the majority named the new master
the VIP was on it. The table gives medians (min-max) and every run's losses;
sentinel-lab.json and sentinel-lab.md in the --out dir hold the same for the docs.

In sentinel-switchover the toolkit's rows switch over with redis_switchover
--sentinel (the lab's default with the toolkit), the reconfig script's with
plain SENTINEL FAILOVER; the row toolkit-v3-watch-sentinel-failover, which
runs in that scenario only, has the toolkit move the VIP while plain
SENTINEL FAILOVER moves the master, so that the writes SENTINEL FAILOVER
loses (redis/redis#6062) stand beside redis_switchover's in the same run.
"""
import json
import os
import sys

from .common import REPO, BenchError, fmt, log, median
from .failover import run_lab

LAB = os.path.join(REPO, "tests", "e2e", "lab.py")

# (name, label, lab options, the scenarios it runs in or None for all). The
# toolkit variants say their VRRP settings and whether redis_watch runs in
# full, so that a change of the lab's default changes no row.
PLAIN_FAILOVER = "toolkit-v3-watch-sentinel-failover"
TOOLKIT_V3_WATCH = ("--vip-mover", "toolkit", "--vrrp-version", "3", "--advert-int", "0.1",
                    "--watch", "--down-timer-adverts", "3")
VARIANTS = (
    ("reconfig-script", "plain Sentinel, client-reconfig-script (baseline)",
     ("--vip-mover", "reconfig-script"), None),
    ("toolkit-v2", "toolkit, VRRPv2, advert_int 1",
     ("--vip-mover", "toolkit", "--vrrp-version", "2", "--advert-int", "1", "--no-watch",
      "--down-timer-adverts", "3"), None),
    ("toolkit-v3", "toolkit, VRRPv3, advert_int 0.1",
     ("--vip-mover", "toolkit", "--vrrp-version", "3", "--advert-int", "0.1", "--no-watch",
      "--down-timer-adverts", "3"), None),
    ("toolkit-v3-watch", "toolkit, VRRPv3, advert_int 0.1, redis_watch", TOOLKIT_V3_WATCH, None),
    # One missed advert instead of the RFCs' three: a node that leaves
    # FAULT waits 0.1 s, not 0.3 s. In Sentinel mode only the node the
    # majority names is out of FAULT, so no second backup can race it.
    ("toolkit-v3-watch-dt1", "toolkit, VRRPv3, advert_int 0.1, down_timer_adverts 1, "
     "redis_watch", (*TOOLKIT_V3_WATCH, "--down-timer-adverts", "1"), None),
    # The same VIP mover as toolkit-v3-watch, the master moved by plain
    # SENTINEL FAILOVER instead of redis_switchover: the writes the old
    # master takes until Sentinel converts it are lost (redis/redis#6062),
    # beside redis_switchover's none, in the same run.
    (PLAIN_FAILOVER, "toolkit, VRRPv3, advert_int 0.1, redis_watch; "
     "the master moved by plain SENTINEL FAILOVER",
     (*TOOLKIT_V3_WATCH, "--switchover-by", "sentinel-failover"), ("sentinel-switchover",)),
)
BASELINE = "reconfig-script"
# How long a run waits for a lab that something else runs on this host.
LOCK_WAIT_S = 1800
# Sentinel scenario -> the pair's scenario that does the same to a pair
# (None: no such row). sentinel-partition is left out unless asked for.
SCENARIOS = {"sentinel-kill": "crash", "sentinel-isolate": "master-cut-off",
             "sentinel-switchover": "planned-switchover", "sentinel-partition": "partition",
             "sentinel-stop": "freeze", "sentinel-minority": None}
DEFAULT_SCENARIOS = ("sentinel-kill", "sentinel-isolate", "sentinel-switchover")
# The lab's Sentinel topologies (tests/e2e/rklab/sentinel.py): a sentinel-only
# third host, or three data nodes.
TOPOLOGIES = ("sentinel", "sentinel3")
PAIR = "pair"
FIELDS = ("result", "reason", "acked", "lost", "lost_in_copies", "lost_not_in_copies",
          "write_gap_s", "vip_on_unnamed_max_s", "vip_after_named_s", "failover_s",
          "switchover_s", "new_master", "check_defers_to_watch", "winner",
          "named_after_fault_s", "switchover_by", "old_master_acked_after_promotion")


def lab_trial(ctx, scenario, name, options, i):
    """One lab run of SCENARIO with OPTIONS; its figures."""
    errlog = os.path.join(ctx["outdir"], f"sentinel-{scenario}-{name}-{i}.log")
    # Every log of the run (the sentinels' too) beside its progress log:
    # Sentinel's own failover time varies from run to run (elections, TILT),
    # and only the sentinels' logs tell why.
    cmd = [sys.executable, LAB, "--scenario", scenario, "--bin-dir", ctx["bindir"], "--json",
           "--lock-wait", str(LOCK_WAIT_S), "--artifacts", errlog[:-len(".log")], *options]
    res = run_lab(cmd, errlog, timeout=300 + LOCK_WAIT_S)
    trial = {"scenario": scenario, "variant": name, "round": i, "log": os.path.basename(errlog)}
    trial.update({k: res.get(k) for k in FIELDS})
    trial["result"] = trial["result"] or "error"
    conf = (res.get("keepalived_conf") or {}).get("a") or {}
    trial["vrrp"] = (f"VRRPv{conf['version']} advert_int {conf['advert_int']} "
                     f"down_timer_adverts {conf.get('down_timer_adverts')}"
                     if conf.get("advert_int") else None)
    return trial


def trial_line(t):
    return (f"sentinel {t['scenario']} [{t['variant']}] round {t['round'] + 1}: {t['result']}, "
            f"write gap {t['write_gap_s']} s, lost {t['lost']} (in copies "
            f"{t['lost_in_copies']}), VIP on unnamed max {t['vip_on_unnamed_max_s']} s, "
            f"VIP after named {t['vip_after_named_s']} s"
            + (f", switchover by {t['switchover_by']}, old master acked "
               f"{t['old_master_acked_after_promotion']} after the promotion"
               if t["switchover_by"] else "")
            + (f" ({t['reason']})" if t["reason"] else ""))


def plan(args):
    """[(sentinel scenario, [(variant, lab options)], pair scenario or None)]."""
    names = [s.strip() for s in args.sentinel_lab_scenarios.split(",") if s.strip()]
    for n in names:
        if n not in SCENARIOS:
            raise BenchError(f"unknown Sentinel scenario {n}; known: {', '.join(SCENARIOS)}")
    variants = [v.strip() for v in args.sentinel_lab_variants.split(",") if v.strip()]
    known = {v[0]: v for v in VARIANTS}
    for v in variants:
        if v not in known:
            raise BenchError(f"unknown Sentinel variant {v}; known: {', '.join(known)}")
    # The topology goes to the Sentinel rows only: a pair row is a pair.
    topology = ("--topology", args.sentinel_lab_topology)
    return [(n, [(v, (*topology, *known[v][2])) for v in variants
                 if known[v][3] is None or n in known[v][3]],
             None if args.no_pair else SCENARIOS[n]) for n in names]


def part_sentinel_lab(ctx):
    args = ctx["args"]
    if os.geteuid() != 0:
        raise BenchError("the lab needs root")
    steps = plan(args)
    trials = []
    for i in range(args.sentinel_lab_rounds):
        for scenario, variants, pair in steps:
            runs = variants + ([(PAIR, ("--scenario", pair))] if pair else [])
            k = i % len(runs)
            for name, options in runs[k:] + runs[:k]:
                # A pair row runs the pair's own scenario (its --scenario
                # comes last and wins), recorded under the Sentinel one.
                t = lab_trial(ctx, scenario, name, options, i)
                if name == PAIR:
                    t["pair_scenario"] = pair
                log(trial_line(t))
                trials.append(t)
    res = {"rounds": args.sentinel_lab_rounds, "topology": args.sentinel_lab_topology,
           "scenarios": [s for s, _, _ in steps],
           "variants": list(dict.fromkeys(v for _, vs, _ in steps for v, _ in vs)),
           "pair": {s: p for s, _, p in steps if p}, "trials": trials}
    res["summary"] = summary(res)
    write_summary(ctx["outdir"], res)
    return res


def spread(values, unit=" s"):
    values = [v for v in values if v is not None]
    if not values:
        return "n/a"
    return f"{fmt(median(values), 2)}{unit} ({fmt(min(values), 2)}-{fmt(max(values), 2)})"


def summary(res):
    """{scenario: {variant: medians and per-run figures}}."""
    out = {}
    for scenario in res["scenarios"]:
        rows = {}
        for variant in res["variants"] + ([PAIR] if scenario in res["pair"] else []):
            ts = [t for t in res["trials"] if t["scenario"] == scenario and t["variant"] == variant]
            if not ts:
                continue  # a variant that runs in other scenarios only
            gaps = [t["write_gap_s"] for t in ts if t["write_gap_s"] is not None]
            rows[variant] = {
                "runs": len(ts), "passed": sum(t["result"] == "pass" for t in ts),
                "write_gap_median_s": median(gaps), "write_gap_min_s": min(gaps, default=None),
                "write_gap_max_s": max(gaps, default=None),
                "lost": [t["lost"] for t in ts], "lost_in_copies": [t["lost_in_copies"] for t in ts],
                "vip_on_unnamed_max_s": max((t["vip_on_unnamed_max_s"] for t in ts
                                             if t["vip_on_unnamed_max_s"] is not None),
                                            default=None),
                "vip_after_named_median_s": median([t["vip_after_named_s"] for t in ts]),
                "named_after_fault_median_s": median([t["named_after_fault_s"] for t in ts]),
                "check_defers_to_watch": any(t["check_defers_to_watch"] for t in ts),
                "vrrp": sorted({t["vrrp"] for t in ts if t["vrrp"]}),
                "failed": [f"round {t['round'] + 1}: {t['result']}: {t['reason']}"
                           for t in ts if t["result"] != "pass"]}
        base = rows.get(BASELINE, {}).get("write_gap_median_s")
        for row in rows.values():
            g = row["write_gap_median_s"]
            row["gap_over_baseline_s"] = (round(g - base, 2) if g is not None
                                          and base is not None else None)
        out[scenario] = rows
    return out


def label(variant, row, pair_scenario=None):
    if variant == PAIR:
        return f"pair mode, `{pair_scenario}` (sample config)"
    # "VIP mover settings; what moved the master": the check's deferral
    # belongs to the VIP mover's part.
    mover, _, master_moved = next(v[1] for v in VARIANTS if v[0] == variant).partition("; ")
    return (mover + (" + redis_check --defer-to-watch" if row["check_defers_to_watch"] else "")
            + (f"; {master_moved}" if master_moved else ""))


def report_sentinel_lab(res):
    lines = ["### Sentinel mode: the VIP moved by the toolkit against plain Sentinel's "
             "client-reconfig-script, same run, interleaved", "",
             f"{res['rounds']} round(s); lab topology `{res.get('topology', 'sentinel')}` "
             "(down-after-milliseconds "
             "2000); medians (min-max). VIP on unnamed: the longest time, over all runs, "
             "that a node held the VIP while the sentinels' majority did not name it "
             "(sampled every 0.1 s); fault -> named: Sentinel's own failover, from the "
             "fault to the majority naming the new master; VIP after named: from then to "
             "the VIP on the new master alone, what the VIP mover adds (0.1 s samples; "
             "negative: the VIP came first). In `sentinel-switchover` the toolkit's rows "
             "switch over with `redis_switchover --sentinel` unless the row says plain "
             "SENTINEL FAILOVER, and the reconfig script's with plain SENTINEL FAILOVER.", ""]
    for scenario in res["scenarios"]:
        rows = res["summary"][scenario]
        lines += [f"`{scenario}`:", "",
                  "| VIP mover | runs passed | longest write gap | gap - baseline "
                  "| acked writes lost, per run | of them in kept copies | VIP on unnamed "
                  "| fault -> named | VIP after named |", "|---|---|---|---|---|---|---|---|---|"]
        for variant, row in rows.items():
            ts = [t for t in res["trials"] if t["scenario"] == scenario and t["variant"] == variant]
            lines.append("| " + " | ".join(str(c) for c in [
                label(variant, row, res["pair"].get(scenario)),
                f"{row['passed']} of {row['runs']}",
                spread([t["write_gap_s"] for t in ts]),
                fmt(row["gap_over_baseline_s"], 2, " s"),
                ", ".join("?" if x is None else str(x) for x in row["lost"]),
                ", ".join("-" if x is None else str(x) for x in row["lost_in_copies"]),
                fmt(row["vip_on_unnamed_max_s"], 2, " s"),
                spread([t["named_after_fault_s"] for t in ts]),
                spread([t["vip_after_named_s"] for t in ts])]) + " |")
        for variant, row in rows.items():
            for f in row["failed"]:
                lines.append(f"\n- {variant}, {f}")
        lines.append("")
    return "\n".join(lines)


def sentinel_lab_targets(res):
    """Issue #18's bounds on kill -9: the toolkit's gap within 0.3 s of plain
    Sentinel's (0.1 s with redis_watch), nothing lost; a switchover by
    redis_switchover loses nothing; the VIP never on an unnamed node for
    longer than one check interval (1 s, to the lab's 0.1 s sampling), in
    any scenario."""
    out = []
    kill = res["summary"].get("sentinel-kill", {})
    for variant, bound in (("toolkit-v2", 0.3), ("toolkit-v3", 0.3),
                           ("toolkit-v3-watch", 0.1), ("toolkit-v3-watch-dt1", 0.1)):
        row = kill.get(variant)
        if row is None:
            continue
        over = row["gap_over_baseline_s"]
        out.append((f"sentinel-kill, {label(variant, row)}: write gap <= baseline + {bound} s "
                    "(medians), 0 lost",
                    f"{fmt(over, 2, ' s')} over, lost {row['lost']}",
                    over is not None and over <= bound and all(x == 0 for x in row["lost"])))
    switch = res["summary"].get("sentinel-switchover", {})
    by_tool = {v: row["lost"] for v, row in switch.items()
               if v not in (BASELINE, PAIR, PLAIN_FAILOVER)}
    if by_tool:
        plain = switch.get(PLAIN_FAILOVER)
        out.append(("sentinel-switchover by redis_switchover: 0 acked writes lost (every run)",
                    f"lost {by_tool}" + (f"; plain SENTINEL FAILOVER, same VIP mover: lost "
                                         f"{plain['lost']}" if plain else ""),
                    all(x == 0 for lost in by_tool.values() for x in lost)))
    worst = [(row["vip_on_unnamed_max_s"], f"{s} {v}") for s, rows in res["summary"].items()
             for v, row in rows.items() if v not in (BASELINE, PAIR)
             and row["vip_on_unnamed_max_s"] is not None]
    if worst:
        top = max(worst)
        # The lab's own bound: one check interval (1 s) plus its 0.1 s
        # sampling, to which a streak is measured.
        out.append(("toolkit: VIP on a node the majority does not name <= 1 s + the 0.1 s "
                    "sampling (every run)", f"{fmt(top[0], 2, ' s')} ({top[1]})",
                    top[0] <= 1.1))
    return out


def write_summary(outdir, res):
    """sentinel-lab.json (the summary and every run) and sentinel-lab.md (the
    table)."""
    with open(os.path.join(outdir, "sentinel-lab.json"), "w") as f:
        json.dump(res, f, indent=1, sort_keys=True)
    with open(os.path.join(outdir, "sentinel-lab.md"), "w") as f:
        f.write(report_sentinel_lab(res) + "\n")
