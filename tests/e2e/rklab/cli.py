"""The lab's command line: run one scenario or the demo, or remove a lab that
was left up. Prints progress on stderr, a result block and one JSON line on
stdout (--json: the JSON line only)."""
import argparse
import json
import os
import shutil
import signal
import sys
import time

from rediskit import missing_server, python_with

from . import configs, network, procs, sentinel
from .common import (EXIT_FAIL, EXIT_PASS, EXIT_SKIP, Failed, Interrupted, LabError, Skip,
                     emit, say)
from .clients import table_lines
from .lab import Lab
from .network import IFNAME, NS_CLIENT, VIP
from .scenarios import HARD_TIMEOUT, SCENARIO_TOOLKIT, SCENARIO_WATCH, SCENARIOS, demo
from .sentinel_scenarios import SENTINEL3_SCENARIOS, SENTINEL_HARD_TIMEOUT, SENTINEL_SCENARIOS

ALL_SCENARIOS = {**SCENARIOS, **SENTINEL_SCENARIOS}
ALL_HARD_TIMEOUT = {**HARD_TIMEOUT, **SENTINEL_HARD_TIMEOUT}

def preflight(scenario, args):
    if scenario == "clients" and python_with("redis") is None:
        raise Skip("the clients scenario runs redis-py, which is missing "
                   "(Debian: apt-get install python3-redis)")
    if os.geteuid() != 0:
        raise Skip("needs root (network namespaces, keepalived)")
    for tool in ("ip", "bridge", "keepalived"):
        if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}"):
            raise Skip(f"{tool} not found (Debian: apt-get install iproute2 keepalived)")
    # The server the nodes run: RK_SERVER (redis-server by default).
    missing = missing_server()
    if missing:
        raise Skip(missing)
    if args.topology != "pair" and args.vip_mover == "reconfig-script":
        missing = sentinel.missing_arping()
        if missing:
            raise Skip(f"the reconfig script announces the VIP with arping: {missing}")
    why = network.probe()
    if why is not None:
        raise Skip(f"ip netns unavailable: {why}")


def print_result(name, verdict, res, reason, duration, as_json):
    res = dict(res)
    out = {"scenario": name, "result": verdict, "reason": reason,
           "duration_s": round(duration, 1)}
    out.update(res)
    if not as_json:
        emit(f"\n== {name}: {verdict.upper()} ({duration:.1f}s) ==")
        if reason:
            emit(f"  {'reason':<26}{reason}")
        labels = [("first_write_s", "first write via VIP", "s"),
                  ("failover_s", "failover", "s"),
                  ("switchover_by", "switchover by", ""),
                  ("switchover_verdict", "switchover verdict", ""),
                  ("switchover_paused_ms", "writes paused", " ms"),
                  ("switchover_s", "VIP moved", "s"),
                  ("second_master_s", "second master after", "s"),
                  ("promoted_after_s", "promoted after", "s"),
                  ("full_sync_s", "full sync took", "s"),
                  ("sync_still_running_at_request_s", "sync left at request", "s"),
                  ("promoted_after_sync_s", "promoted after sync end", "s"),
                  ("keys_at_promotion", "keys at promotion", ""),
                  ("rejoin_s", "old master rejoined", "s"),
                  ("old_master_acked_after_promotion", "old acks after promotion", ""),
                  ("old_master_last_ack_after_promotion_s", "old master's last ack", "s"),
                  ("old_master_rejoined_at_fork", "old master at the fork", ""),
                  ("heal_converge_s", "converged after heal", "s"),
                  ("failback_s", "failback", "s"),
                  ("new_master", "new master", ""),
                  ("new_master_named_s", "majority named another", "s"),
                  ("minority_acked_after_cut", "minority acked after cut", ""),
                  ("minority_acked_until_s", "minority acked until", "s"),
                  ("acked", "acknowledged writes", ""),
                  ("lost", "acked writes lost", ""),
                  ("lost_by_node", "lost, by node that acked", ""),
                  ("bulk_keys", "pre-loaded keys", ""),
                  ("write_gap_s", "longest write gap", "s"),
                  ("converge_s", "converged after event", "s"),
                  ("lost_in_copies", "lost, in kept copies", ""),
                  ("vip_on_unnamed_max_s", "VIP on unnamed, longest", "s"),
                  ("vip_on_unnamed_node", "VIP on unnamed, node", ""),
                  ("vip_on_unnamed_from_s", "VIP on unnamed, from", "s"),
                  ("named_after_fault_s", "majority named new master", "s"),
                  ("vip_after_named_s", "VIP after majority named", "s"),
                  ("vip_moves", "VIP moves while idle", ""),
                  ("keepalived_state_changes", "keepalived changes, idle", ""),
                  ("split_brain_logged_on", "split-brain logged on", ""),
                  ("winner", "surviving master", ""),
                  ("hooks_ran_as", "hooks ran as", "")]
        for key, label, unit in labels:
            if key in res and res[key] is not None:
                emit(f"  {label:<26}{res[key]}{unit}")
        # The timings the figures above were measured with: node a's check
        # (both nodes get the same) and the keepalived that read it.
        timings = (res.get("keepalived_conf") or {}).get("a", {}).get("vrrp_script")
        if timings:
            versions = sorted(set((res.get("keepalived_version") or {}).values()))
            ran = f" (keepalived {', '.join(versions)})" if versions else ""
            emit(f"  {'vrrp_script':<26}"
                 f"{', '.join(f'{k} {v}' for k, v in timings.items())}{ran}")
            a = res["keepalived_conf"]["a"]
            if a.get("advert_int"):
                emit(f"  {'vrrp_instance':<26}VRRPv{a['version']}, advert_int {a['advert_int']}, "
                     f"down_timer_adverts {a['down_timer_adverts']}"
                     + (", redis_watch beside the check" if res.get("watch") else "")
                     + (" (redis_check --defer-to-watch)" if res.get("check_defers_to_watch")
                        else ""))
        for i, r in enumerate(res.get("rounds", [])):
            emit(f"  round {i + 1}: {r['from']} -> {r['to']}: VIP moved {r['vip_moved_s']}s, "
                  f"converged {r['converged_s']}s")
        if "final" in res:
            emit(f"  {'final':<26}{res['final']['description']}")
        if res.get("clients"):
            emit("")
            for line in table_lines(res["clients"]):
                emit(f"  {line}")
    if "final" in out:
        out["final"] = {k: v for k, v in out["final"].items() if k != "description"}
    emit(json.dumps(out, sort_keys=True))


def check_topology(ap, args):
    """The sentinel-* scenarios run on a Sentinel topology (sentinel by
    default), the others on the pair."""
    sentinel_scenario = args.scenario in SENTINEL_SCENARIOS
    if args.topology is None:
        args.topology = "sentinel" if sentinel_scenario else "pair"
    if args.demo and args.topology != "pair":
        ap.error("--demo runs the pair")
    if args.scenario and sentinel_scenario != (args.topology != "pair"):
        ap.error(f"--scenario {args.scenario} does not run on --topology {args.topology}")
    if args.topology == "sentinel3" and args.scenario not in SENTINEL3_SCENARIOS:
        ap.error(f"--topology sentinel3 runs {', '.join(SENTINEL3_SCENARIOS)}")
    if args.topology != "pair" and args.tls:
        ap.error("the Sentinel topologies run without --tls")
    # Accepted by every Sentinel scenario (a benchmark passes one set of
    # options to all of them); only sentinel-switchover uses it.
    if args.switchover_by and args.topology == "pair":
        ap.error("--switchover-by belongs to the Sentinel topologies")
    if args.switchover_by is None:
        args.switchover_by = (sentinel.SWITCHOVER_TOOL if args.vip_mover == "toolkit"
                              else "sentinel-failover")
    if args.switchover_by == sentinel.SWITCHOVER_TOOL and args.vip_mover != "toolkit":
        ap.error(f"--switchover-by {sentinel.SWITCHOVER_TOOL} runs with --vip-mover toolkit")
    if args.topology != "pair" and args.vip_mover != "toolkit" and (
            args.watch or args.vrrp_version or args.advert_int or args.down_timer_adverts):
        ap.error("--watch, --vrrp-version, --advert-int and --down-timer-adverts set up "
                 "keepalived, which "
                 f"--vip-mover {args.vip_mover} runs without")


def keepalived_defaults(args):
    """What keepalived runs with where the command line leaves it open: with
    the toolkit in a Sentinel topology, the VRRP settings of the Sentinel
    sample (sentinel.TOOLKIT_VRRP) and the watcher (TOOLKIT_WATCH); elsewhere the samples' and no
    watcher (but for the scenarios that always run one)."""
    sentinel_toolkit = args.topology != "pair" and args.vip_mover == "toolkit"
    if args.watch is None:
        args.watch = sentinel_toolkit and sentinel.TOOLKIT_WATCH
    args.watch = args.watch or args.scenario in SCENARIO_WATCH
    if sentinel_toolkit:
        version, advert_int = sentinel.TOOLKIT_VRRP
        if args.vrrp_version is None:
            args.vrrp_version = version
        if args.advert_int is None:
            # The sample's sub-second advert_int is VRRPv3's; VRRPv2 counts
            # whole seconds (the pair samples' 1).
            args.advert_int = advert_int if args.vrrp_version == version else "1"


def main(argv=None, prog=None):
    """PROG: the path of the entry point, for the hints printed."""
    prog = prog or sys.argv[0]
    ap = argparse.ArgumentParser(
        description="End-to-end failover lab: Redis + keepalived in network namespaces.")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--build-dir", help="configured build dir of the project "
                   "(installed into the lab with cmake --install); default ./build")
    g.add_argument("--bin-dir", help="a dir holding the five tool binaries")
    ap.add_argument("--scenario", choices=ALL_SCENARIOS)
    ap.add_argument("--demo", action="store_true", help="live failover and failback")
    ap.add_argument("--keep", action="store_true", help="leave the lab up at the end")
    ap.add_argument("--teardown", action="store_true", help="remove a lab left up")
    ap.add_argument("--json", action="store_true", help="print only the JSON result line")
    ap.add_argument("--timeout", type=float, help="hard timeout, seconds")
    ap.add_argument("--artifacts", help="copy the logs here before tearing down")
    ap.add_argument("--lock-wait", type=float, default=0, metavar="SECONDS",
                    help="wait up to this long for another lab run to end (default: fail "
                    "at once); the hard timeout starts after")
    ap.add_argument("--rounds", type=int, default=4, help="switchover: rounds")
    ap.add_argument("--resync-keys", type=int, default=50000,
                    help="empty-resync: keys pre-loaded")
    ap.add_argument("--resync-delay-us", type=int, default=300,
                    help="empty-resync: rdb-key-save-delay on the master, microseconds per key")
    ap.add_argument("--resync-wait", type=float, default=90,
                    help="empty-resync: how long to wait for the promotion, seconds")
    ap.add_argument("--vrrp-script", action="append", metavar="KEY=VALUE",
                    help="set a directive of the samples' vrrp_script block on both nodes "
                    f"({', '.join(configs.VRRP_SCRIPT_KEYS)}); VALUE 'default' removes it, "
                    "so keepalived's default applies; interval and timeout take up to three "
                    "decimals (keepalived 2.3.2+, e.g. interval=0.3); repeatable")
    ap.add_argument("--priority", metavar="A,B",
                    help="the vrrp_instance priorities of nodes a and b (1 to 254) instead "
                    "of the samples'")
    ap.add_argument("--vrrp-version", type=int, choices=(2, 3),
                    help="the VRRP version of every vrrp_instance (default: with the toolkit "
                    f"in a Sentinel topology {sentinel.TOOLKIT_VRRP[0]}, else the samples', "
                    "keepalived's default 2)")
    ap.add_argument("--advert-int", metavar="SECONDS",
                    help="advert_int of every vrrp_instance: whole seconds with VRRPv2, down "
                    "to 0.01 with --vrrp-version 3 (a node that leaves FAULT waits 3 x "
                    "advert_int + skew before it goes MASTER); default: with the toolkit in a "
                    f"Sentinel topology and VRRPv{sentinel.TOOLKIT_VRRP[0]} "
                    f"{sentinel.TOOLKIT_VRRP[1]}, else the samples' 1")
    ap.add_argument("--down-timer-adverts", type=int, metavar="N",
                    help="down_timer_adverts of every vrrp_instance: the adverts a backup "
                    "misses before it goes MASTER, and the master-down timer a node leaving "
                    "FAULT waits (keepalived's default 3, as the VRRP RFCs say; 1 to 100)")
    ap.add_argument("--toolkit", action="append", metavar="KEY=VALUE",
                    help="set an option in both nodes' toolkit.conf (e.g. sync-timeout=5); "
                    "repeatable")
    ap.add_argument("--watch", action=argparse.BooleanOptionalAction,
                    help="run redis_watch on every data node (keepalived's track_file; in "
                    "the Sentinel topologies in Sentinel mode, and redis_check gets "
                    "--defer-to-watch when the build has it); default: with the toolkit in "
                    "a Sentinel topology, else not (some scenarios always do)")
    ap.add_argument("--tls", action="store_true",
                    help="both Redis servers TLS only (certificates made for the run, "
                    "client certificates required, replication over TLS); the hooks and "
                    "every connection of the lab use TLS")
    ap.add_argument("--topology", choices=sentinel.TOPOLOGIES,
                    help="pair (the default; the sentinel-* scenarios default to sentinel): "
                    "sentinel: data nodes a, b with a sentinel each and a host s that runs "
                    "only a sentinel; sentinel3: data nodes a, b, d with a sentinel each")
    ap.add_argument("--vip-mover", choices=sentinel.MOVERS, default="toolkit",
                    help="Sentinel topologies: what moves the VIP: keepalived with the "
                    "toolkit in Sentinel mode (default), or plain Sentinel's "
                    "client-reconfig-script (ip addr add/del), without keepalived")
    ap.add_argument("--switchover-by", choices=sentinel.SWITCHOVER_BY,
                    help="Sentinel topologies, sentinel-switchover: what moves the master: the toolkit's "
                    f"{sentinel.SWITCHOVER_TOOL} in Sentinel mode, run on the master's node "
                    "with its toolkit.conf (the default with --vip-mover toolkit), or plain "
                    "SENTINEL FAILOVER sent to a sentinel (the baseline; the only one with "
                    "--vip-mover reconfig-script)")
    ap.add_argument("--down-after-ms", type=int, default=sentinel.DEFAULT_DOWN_AFTER_MS,
                    help="Sentinel topologies: down-after-milliseconds (default "
                    f"{sentinel.DEFAULT_DOWN_AFTER_MS})")
    ap.add_argument("--kill-leftovers", action="store_true",
                    help="at teardown, end every process still in the nodes' namespaces "
                    "(for hooks that are scripts: the lab tells the toolkit's hooks by "
                    "their executable, and a script runs as its shell)")
    args = ap.parse_args(argv)
    if args.build_dir:
        args.build_dir = os.path.abspath(args.build_dir)
    if args.bin_dir:
        args.bin_dir = os.path.abspath(args.bin_dir)
    if args.artifacts:
        args.artifacts = os.path.abspath(args.artifacts)
    try:
        args.vrrp_script = configs.parse_vrrp_script(args.vrrp_script)
        args.priority = configs.parse_priorities(args.priority) if args.priority else None
        if args.down_timer_adverts is not None and not 1 <= args.down_timer_adverts <= 100:
            raise ValueError(f"--down-timer-adverts {args.down_timer_adverts}: 1 to 100")
        args.toolkit = {**SCENARIO_TOOLKIT.get(args.scenario, {}),
                        **configs.parse_toolkit_options(args.toolkit)}
    except ValueError as exc:
        ap.error(str(exc))
    if args.scenario == "clients" and args.tls:
        ap.error("the clients scenario's redis-py writers speak plain TCP: no --tls")
    check_topology(ap, args)
    keepalived_defaults(args)
    try:
        configs.parse_vrrp_timing(args.vrrp_version, args.advert_int)
    except ValueError as exc:
        ap.error(str(exc))

    if args.teardown:
        if os.geteuid() != 0:
            emit("lab.py --teardown needs root", sys.stderr)
            return EXIT_FAIL
        lab = Lab(args)
        try:
            lab.acquire_lock()
        except LabError as exc:
            emit(f"lab.py --teardown: {exc}", sys.stderr)
            return EXIT_FAIL
        try:
            procs.teardown_stale()
        finally:
            lab.release_lock()
        say("nothing of the lab is left")
        return EXIT_PASS
    if not args.scenario and not args.demo:
        ap.error("give --scenario NAME, --demo or --teardown")
    name = "demo" if args.demo else args.scenario

    try:
        preflight(name, args)
    except Skip as exc:
        emit(f"SKIP: {exc}", sys.stderr)
        print_result(name, "skip", {}, str(exc), 0.0, args.json)
        return EXIT_SKIP

    def on_signal(signum, frame):
        raise Interrupted(f"signal {signal.Signals(signum).name}")

    def on_alarm(signum, frame):
        raise Interrupted(f"hard timeout of {timeout:.0f}s")

    timeout = args.timeout or ALL_HARD_TIMEOUT[name]
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    signal.signal(signal.SIGALRM, on_alarm)

    lab = Lab(args)
    lab.hard_timeout = timeout
    res, verdict, reason = {}, "fail", None
    t_start = time.time()
    try:
        # Waiting for another lab to finish is not part of this run's time.
        lab.acquire_lock(wait=args.lock_wait)
        t_start = time.time()
        signal.alarm(int(timeout))
        lab.prepare()
        fn = demo if args.demo else ALL_SCENARIOS[name]
        res = fn(lab)
        verdict = "pass"
    except Skip as exc:
        verdict, reason = "skip", str(exc)
    except Failed as exc:
        reason, res = str(exc), exc.figures
    except LabError as exc:
        reason = f"lab error: {exc}"
    except Interrupted as exc:
        reason = f"interrupted: {exc}"
    except Exception as exc:  # a lab bug: still tear down and report
        import traceback
        traceback.print_exc()
        reason = f"lab error: {exc!r}"
    finally:
        signal.alarm(0)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        if verdict == "fail" and lab.root and lab.nodes:
            try:
                emit(lab.log_tails(), sys.stderr)
            except Exception:
                pass
        lab.observer.stop_monitor()
        try:
            lab.observer.follow_logs()  # the last keepalived and hook lines, for record()
        except Exception as exc:
            say(f"reading the logs: {exc!r}")
        if args.keep and lab.root and verdict != "skip":
            lab.observer.stop_monitor()
            lab.procs.stop_writer()
            lab.release_lock()
            cli = f"redis-cli {lab.certs.cli_args()}" if lab.certs else "redis-cli"
            emit(f"\nThe lab is still up (root {lab.root}). Explore it with:\n"
                  f"  ip netns exec {NS_CLIENT} {cli} -h {VIP} info replication\n"
                  f"  ip netns exec rklab-a {cli} role\n"
                  f"  ip -n rklab-a addr show dev {IFNAME}\n"
                  f"  less {lab.root}/a/keepalived.log {lab.root}/a/toolkit.log\n"
                  f"Tear it down with:\n"
                  f"  python3 {os.path.relpath(prog)} --teardown", sys.stderr)
        else:
            try:
                lab.teardown()
            except Exception as exc:
                say(f"teardown error: {exc!r}")
                reason = reason or f"teardown error: {exc!r}"
                verdict = "fail"
    if lab.root and verdict != "skip":
        res = dict(res, **lab.record())
        if lab.procs.acks:      # also when the scenario failed before its end
            res.setdefault("acked", len(lab.procs.acks.rows))
            res.setdefault("write_gap_s", round(lab.procs.acks.max_gap, 2))
    print_result(name, verdict, res, reason, time.time() - t_start, args.json)
    return {"pass": EXIT_PASS, "skip": EXIT_SKIP}.get(verdict, EXIT_FAIL)
