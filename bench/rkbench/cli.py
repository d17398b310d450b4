"""Benchmarks of redis-keepalived against the classic shell hooks, in one run.

Every comparison is measured side by side in the same run and quoted as a
ratio: absolute times on a shared machine mean little.

Parts (--only, comma-separated; all by default):
  check     CPU and wall time of one health check: redis_check against
            redis-cli PING, the classic bash check (bench/classic) and
            /bin/true, in interleaved rounds against a server started here;
            passing and failing (closed port); over TLS too, redis_check
            --tls against redis-cli --tls PING on a TLS-only server; the
            cost before main(); instructions (callgrind); ldd.
  sentinel  CPU and wall time of one Sentinel-mode check against a pair-mode
            check and redis-cli PING, as for check, with a master, a
            replica and three sentinels started here: passing (the named
            master), failing (the replica), failing with one sentinel
            SIGSTOPped (wall time bounded by --timeout); instructions.
  openssl   this build, which loads the system's OpenSSL for TLS only,
            against --baseline-bin, a build with OpenSSL linked in
            statically, interleaved: the plain and the TLS check of each
            against redis-cli PING and redis-cli --tls PING; instructions;
            ldd; installed size (bench/rkbench/openssl.py says how to run it
            on another system, such as a Debian 13 root).
  sync      sync-wait overhead of redis_master: from the moment the local
            replica has caught up to the moment it accepts writes.
  memory    peak RSS of every tool, of redis-cli PING and of the classic check.
  peer-faults  this build against --baseline-bin, interleaved: a peer
            stalled during a fresh node's sync-wait (is an empty node
            promoted?), and the lab's crash scenario (write gap, writes lost).
  split     the lab's partition and master-cut-off scenarios: this build
            against --baseline-bin, and with fence-writes and a witness
            (writes missing from the final master, how many a kept copy
            holds, write gap, final master).
  seams     this build against --baseline-bin, interleaved: a switchover
            whose peer answers REPLICAOF NO ONE late (verdict, two masters,
            writes only on the old master), a node whose heal copy failed
            when its peer dies (check, promotion), redis_check with a FIFO
            as --cacert (seconds, exit code).
  watch     redis_watch: its CPU and memory at the default interval beside
            redis_check once a second, and the lab's crash, freeze (SIGSTOP),
            planned switchover and watcher-killed cases with the watcher on
            and off.
  failover  longest write gap after kill -9 of the master's Redis, in the
            namespace lab (tests/e2e/lab.py, root only), with the classic
            shell hooks and with redis-keepalived at the classic and the
            sample vrrp_script timings, and at the sample timings with
            priorities 254/253 (the lab's --vrrp-script and --priority
            options set them).
  sentinel-lab  (only with --only sentinel-lab) the lab's Sentinel
            topology: plain Sentinel moving the VIP with a
            client-reconfig-script against keepalived with the toolkit in
            Sentinel mode (VRRPv2 advert_int 1, VRRPv3 advert_int 0.1, the
            latter with redis_watch, and with down_timer_adverts 1 too), and
            the pair's comparable scenario, interleaved, --rounds N times
            (default 3); --sentinel-lab-topology sentinel3 for three data
            nodes, RK_SERVER=valkey-server for Valkey: write gap, writes
            lost and in kept copies, the VIP on a node the sentinels'
            majority does not name; also written to sentinel-lab.json and
            sentinel-lab.md. In sentinel-switchover the toolkit's rows
            switch over with redis_switchover --sentinel, and one more row
            (toolkit-v3-watch-sentinel-failover, that scenario only) has the
            same VIP mover with plain SENTINEL FAILOVER, so that the writes
            it loses stand beside redis_switchover's 0. About 5 minutes per
            round and scenario.

The server: every part (and the lab) runs the server the tests run, named
by the environment variable RK_SERVER: redis-server by default,
RK_SERVER=valkey-server for Valkey (a name on PATH or a path). redis-cli is
the client baseline with either server (they speak the same protocol). The
server's name and version are in the Machine table and results.json.

Prints Markdown tables on stdout, progress on stderr, and writes every
figure to results.json in the --out dir. Needs python3, a C compiler, cmake,
the server, redis-cli; the openssl CLI for the TLS rows; /usr/bin/time
(package "time") for memory, valgrind for the instruction counts,
keepalived and iproute2 for failover. As root, missing "time" and
"valgrind" packages are installed with apt-get.
"""
import argparse
import json
import os
import shutil
import signal
import tempfile
import time

import samples

from .build import build, machine
from .check import check_targets, part_check, report_check
from .common import (REPO, BenchError, Interrupted, client, install_missing, log, on_signal,
                     server, stop_all)
from .failover import (DEFAULT_FAILOVER_PROFILES, FAILOVER_PROFILES, failover_targets,
                       part_failover, report_failover)
from .helpers import helper
from .memory import part_memory, report_memory
from .openssl import openssl_targets, part_openssl, report_openssl
from .peer_faults import part_peer_faults, report_peer_faults
from .seams import part_seams, report_seams
from .sentinel import part_sentinel, report_sentinel, sentinel_targets
from .sentinel_lab import (DEFAULT_SCENARIOS, SCENARIOS, TOPOLOGIES, VARIANTS,
                           part_sentinel_lab, report_sentinel_lab, sentinel_lab_targets)
from .split import part_split, report_split
from .watch import part_watch, report_watch
from .sync import part_sync, report_sync, sync_target

PARTS = ("check", "sentinel", "openssl", "sync", "memory", "failover", "peer-faults", "split",
         "seams", "watch", "sentinel-lab")
NEEDS_BASELINE = ("openssl", "peer-faults", "split", "seams")
# Parts that run only when --only names them (their length).
ON_REQUEST = ("sentinel-lab",)
DEFAULT_ROUNDS = {"check": 7, "sentinel-lab": 3}


def main(argv):
    if argv[:1] == ["--helper"]:
        return helper(argv[1:])
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--only", default=None,
                    help=f"parts to run, comma-separated ({','.join(PARTS)}); default: all "
                         "but sentinel-lab, peer-faults, split and seams only with "
                         "--baseline-bin")
    ap.add_argument("--build-dir", default=os.path.join(REPO, "build-bench"),
                    help="build dir (configured as Release if new); default build-bench/")
    ap.add_argument("--no-build", action="store_true", help="use --build-dir as it is")
    ap.add_argument("--bin-dir",
                    help="take the tools from this dir instead of <build-dir>/bin "
                         "(implies --no-build; for example a copy of a build's bin/)")
    ap.add_argument("--rounds", type=int, default=None,
                    help="check, sentinel: interleaved rounds (default "
                    f"{DEFAULT_ROUNDS['check']}); sentinel-lab: rounds of every scenario and "
                    f"variant (default {DEFAULT_ROUNDS['sentinel-lab']})")
    ap.add_argument("--runs", type=int, default=300,
                    help="check, sentinel: runs per command per round")
    ap.add_argument("--no-callgrind", action="store_true",
                    help="check, sentinel: skip valgrind")
    ap.add_argument("--sentinel-stopped-runs", type=int, default=10,
                    help="sentinel: runs per round of the row with a sentinel stopped (each "
                         "waits --timeout for it)")
    ap.add_argument("--sentinel-lab-scenarios", default=",".join(DEFAULT_SCENARIOS),
                    help=f"sentinel-lab: the lab's scenarios ({', '.join(SCENARIOS)}); "
                    "default %(default)s")
    ap.add_argument("--sentinel-lab-variants", default=",".join(v[0] for v in VARIANTS),
                    help="sentinel-lab: " + "; ".join(
                        f"{v[0]} = {v[1]}" + (f" (only in {', '.join(v[3])})" if v[3] else "")
                        for v in VARIANTS))
    ap.add_argument("--sentinel-lab-topology", choices=TOPOLOGIES, default=TOPOLOGIES[0],
                    help="sentinel-lab: the lab's topology for the Sentinel rows: sentinel "
                    "(two data nodes and a sentinel-only host), sentinel3 (three data nodes; "
                    "sentinel-partition does not run there); default %(default)s")
    ap.add_argument("--no-pair", action="store_true",
                    help="sentinel-lab: leave out the pair's comparable scenario")
    ap.add_argument("--redis-cli",
                    help="check, openssl: the client baseline (default: redis-cli on PATH)")
    ap.add_argument("--sync-runs", type=int, default=12, help="sync: promotions")
    ap.add_argument("--memory-runs", type=int, default=5, help="memory: runs per tool")
    ap.add_argument("--failover-runs", type=int, default=5,
                    help="failover: runs of classic-timings and sample")
    ap.add_argument("--comparison-runs", type=int, default=3,
                    help="failover: runs of classic-hooks, sample-prio and classic-prio")
    ap.add_argument("--failover-profiles", default=",".join(DEFAULT_FAILOVER_PROFILES),
                    help="failover: " + "; ".join(f"{k} = {v['label']}"
                                                  for k, v in FAILOVER_PROFILES.items()))
    ap.add_argument("--baseline-bin",
                    help="openssl, peer-faults, split, seams: a dir with the tools of the "
                         "build to compare with (for example an earlier commit's build/bin)")
    ap.add_argument("--stall-runs", type=int, default=5,
                    help="peer-faults: stalled-peer promotions per build")
    ap.add_argument("--crash-runs", type=int, default=5,
                    help="peer-faults: lab crash runs per build")
    ap.add_argument("--sync-timeout-runs", type=int, default=1,
                    help="peer-faults: lab sync-timeout runs per build")
    ap.add_argument("--seams-runs", type=int, default=3,
                    help="seams: rounds of the late-reply, stale and fifo trials")
    ap.add_argument("--split-runs", type=int, default=5,
                    help="split: rounds of the lab partition and master-cut-off profiles")
    ap.add_argument("--watch-runs", type=int, default=5,
                    help="watch: rounds of the lab profiles")
    ap.add_argument("--watch-seconds", type=float, default=30,
                    help="watch: how long the watcher's cost is measured")
    ap.add_argument("--out", help="dir for the JSON figures and the lab logs "
                    "(default: <build-dir>/bench-results/<time>)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    args = ap.parse_args(argv)
    args.build_dir = os.path.abspath(args.build_dir)
    if args.bin_dir:
        args.bin_dir = os.path.abspath(args.bin_dir)
        args.no_build = True
    args.sentinel_lab_rounds = args.rounds or DEFAULT_ROUNDS["sentinel-lab"]
    args.rounds = args.rounds or DEFAULT_ROUNDS["check"]
    if args.only is None:
        args.only = ",".join(p for p in PARTS if p not in ON_REQUEST
                             and (p not in NEEDS_BASELINE or args.baseline_bin))
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    for p in parts:
        if p not in PARTS:
            ap.error(f"unknown part {p!r}; parts: {', '.join(PARTS)}")

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    t_start = time.time()
    tmp = tempfile.mkdtemp(prefix="rk-bench-")
    os.chmod(tmp, 0o755)  # the lab's script user reads the classic bin dir
    outdir = os.path.abspath(args.out or os.path.join(
        args.build_dir, "bench-results", time.strftime("%Y%m%d-%H%M%S")))
    results, targets, errors = {}, [], {}
    try:
        missing = [pkg for pkg, path in (("time", "/usr/bin/time"), ("valgrind", None))
                   if not (os.access(path, os.X_OK) if path else shutil.which(pkg))]
        if missing:
            install_missing(missing)
        log(f"server: {server()} (RK_SERVER; redis-server by default), client: redis-cli")
        bindir, launcher, build_type = build(args, tmp)
        os.makedirs(outdir, exist_ok=True)
        ctx = {"args": args, "bindir": bindir, "launcher": launcher, "tmp": tmp,
               "outdir": outdir}
        results["machine"] = machine(build_type, client(args), args.bin_dir)
        steps = {"check": (part_check, report_check, check_targets),
                 "sentinel": (part_sentinel, report_sentinel, sentinel_targets),
                 "openssl": (part_openssl, report_openssl, openssl_targets),
                 "sync": (part_sync, report_sync, lambda r: [sync_target(r)]),
                 "memory": (part_memory, report_memory, lambda r: []),
                 "failover": (part_failover, report_failover, failover_targets),
                 "peer-faults": (part_peer_faults, report_peer_faults, lambda r: []),
                 "split": (part_split, report_split, lambda r: []),
                 "seams": (part_seams, report_seams, lambda r: []),
                 "watch": (part_watch, report_watch, lambda r: []),
                 "sentinel-lab": (part_sentinel_lab, report_sentinel_lab, sentinel_lab_targets)}
        reports = []
        for part in PARTS:
            if part not in parts:
                continue
            fn, report, target = steps[part]
            try:
                results[part] = fn(ctx)
                reports.append(report(results[part]))
                targets += target(results[part])
            except (BenchError, samples.SampleError) as exc:
                errors[part] = str(exc)
                log(f"{part}: not measured: {exc}")
                reports.append(f"### {part}\n\nnot measured: {exc}")
        results["machine"]["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
        results["duration_s"] = round(time.time() - t_start, 1)
        results["errors"] = errors
        m = results["machine"]
        print("### Machine\n\n| | |\n|---|---|")
        for key, label in (("nproc", "nproc"), ("cpu", "CPU"), ("kernel", "kernel"),
                           ("server", "server (RK_SERVER)"), ("client", "client baseline"),
                           ("keepalived", "keepalived"),
                           ("compiler", "compiler"), ("build", "build")):
            print(f"| {label} | {m[key]} |")
        print(f"| load average (1, 5, 15 min) at start / end | {' '.join(m['loadavg_start'])} / "
              f"{' '.join(m['loadavg_end'])} |")
        print(f"| bench/run duration | {results['duration_s']} s |\n")
        for r in reports:
            print(r + "\n")
        if targets:
            print("### Targets\n\n| target | measured | met |\n|---|---|---|")
            for label, value, ok in targets:
                met = "n/a" if ok is None else "yes" if ok else "NO"
                print(f"| {label} | {value} | {met} |")
        results["targets"] = [{"target": t, "measured": v, "met": ok} for t, v, ok in targets]
        with open(os.path.join(outdir, "results.json"), "w") as f:
            json.dump(results, f, indent=1, sort_keys=True)
        log(f"figures and logs in {outdir}")
    except Interrupted as exc:
        log(f"interrupted ({exc}): stopping what this run started")
        return 130
    except BenchError as exc:
        log(f"error: {exc}")
        return 1
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        stop_all()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    return 1 if errors else 0
