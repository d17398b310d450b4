"""Part sentinel: what one Sentinel-mode check costs against a pair-mode
check (issue #18: at most 2x), measured as the check part measures
(bench/cpu_per_run: user + sys CPU and wall time per run; interleaved
rounds; medians of the rounds; ratios paired by round).

A real master and replica (replica-announce-ip 127.0.0.1) and three
sentinels (SERVER CONF --sentinel, each with its own writable config file
and dir), on free loopback ports, started here and stopped by PID. The rows:
redis_check in pair mode on the master (the check part's invocation);
redis_check in Sentinel mode on the master the sentinels name (passes) and
on the replica (fails); on the replica with one sentinel SIGSTOPped for
that row's runs (fails once --timeout is spent waiting for it); redis-cli
PING, the common baseline. A process that waits out its timeout costs more
CPU than one that does not, whatever it waits for (the machine runs other
work meanwhile), so the stopped row has a pair-mode twin: the pair check on
the replica with the replica SIGSTOPped. The two stopped rows run
--sentinel-stopped-runs times a round. Also instructions (callgrind, one
run each), with the share run on the query threads.

A sentinel stopped for longer than 2 s enters TILT for 30 s once resumed
(facts: "A timer gap over 2 s"); it still answers, so the rows after it ask
three sentinels as before, and the master still passes on the other two.
"""
import contextlib
import os
import shutil
import signal
import subprocess
import time

from rediskit import wait_until
from sentinelkit import DATA_NODE_CONFIG, SentinelSet

from .check import callgrind_instructions, interleaved, paired
from .common import STARTED, BenchError, client, fmt, log, median, ratio, redis_server, stop

NAME = "mymaster"
# No failover may start during the run, whatever the machine's load: the
# data nodes are never stopped, and a sentinel's PING that a busy machine
# delays must not read as a master down.
DOWN_AFTER_MS = 60000
# redis_check's default --timeout; the Sentinel rows pass it explicitly, so
# the stopped row's wall time has a stated bound.
TIMEOUT_MS = 500

PAIR = "redis_check HOST PORT (pair mode, on the master)"
PASS = "redis_check, Sentinel mode, on the named master (passes)"
FAIL = "redis_check, Sentinel mode, on the replica (fails)"
STOPPED = "redis_check, Sentinel mode, on the replica, one sentinel SIGSTOPped (fails)"
PAIR_STOPPED = "redis_check HOST PORT (pair mode, on the replica), the replica SIGSTOPped (fails)"
CLI = "redis-cli PING"
# The rows that must fail (exit 1, never 2: a usage error is no check).
FAILING = (FAIL, STOPPED, PAIR_STOPPED)
# The rows that wait out --timeout, and fewer runs for them.
WAITING = (STOPPED, PAIR_STOPPED)


def topology(root):
    """(master, replica, sentinels), all registered in STARTED."""
    data = ["repl-diskless-sync-delay 0", *DATA_NODE_CONFIG]
    master = redis_server(root, "master", data)
    replica = redis_server(root, "replica", data)
    replica.call("REPLICAOF", "127.0.0.1", str(master.port))
    wait_until(lambda: replica.info("replication").get("master_link_status") == "up", 30, 0.05,
               what="the replica's link up")
    sentinels = SentinelSet(master.port, 3, NAME, down_after_ms=DOWN_AFTER_MS)
    STARTED.append((sentinels, sentinels.cleanup))
    sentinels.start()
    sentinels.wait_named(master.port)
    return master, replica, sentinels


def commands_for(rc, cli, master, replica, sentinels, root):
    """(label, argv) of the six rows; each node has its own state dir, as
    on a real node."""
    states = {}
    for name in ("pair", "pair-replica", "master", "replica"):
        states[name] = os.path.join(root, f"state-{name}")
        os.mkdir(states[name], 0o700)
    mode = ["--timeout", str(TIMEOUT_MS), "--master-name", NAME, "--announce-host", "127.0.0.1"]
    for address in sentinels.addresses():
        mode += ["--sentinel", address]

    def check(node, state):
        return [rc, "127.0.0.1", str(node.port), "--state-dir", states[state]]

    return [(PAIR, check(master, "pair")),
            (PASS, check(master, "master") + mode),
            (FAIL, check(replica, "replica") + mode),
            (STOPPED, check(replica, "replica") + mode),
            (PAIR_STOPPED, check(replica, "pair-replica") + ["--timeout", str(TIMEOUT_MS)]),
            (CLI, [cli, "-h", "127.0.0.1", "-p", str(master.port), "PING"])]


def first_runs(commands, around, env):
    """Each command once before the benchmark: the passing rows exit 0, the
    failing rows 1. Returns the seconds each waiting row took."""
    seconds = {}
    for label, argv in commands:
        with around(label):
            t0 = time.monotonic()
            res = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True, timeout=30)
            if label in WAITING:
                seconds[label] = round(time.monotonic() - t0, 3)
        want = 1 if label in FAILING else 0
        if res.returncode != want:
            raise BenchError(f"{label} exits {res.returncode}, not {want}, before the "
                             f"benchmark: {res.stderr.strip()[-400:]}")
    return seconds


@contextlib.contextmanager
def stopped(pid):
    """PID SIGSTOPped for the block, and resumed on every path."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def part_sentinel(ctx):
    args = ctx["args"]
    root = os.path.join(ctx["tmp"], "sentinel")
    os.makedirs(root, mode=0o700)
    env = dict(os.environ)
    master, replica, sentinels = topology(root)
    try:
        pids = {STOPPED: sentinels[len(sentinels) - 1].proc.pid, PAIR_STOPPED: replica.proc.pid}

        def around(label):
            return stopped(pids[label]) if label in pids else contextlib.nullcontext()

        commands = commands_for(os.path.join(ctx["bindir"], "redis_check"), client(args),
                                master, replica, sentinels, root)
        first_seconds = first_runs(commands, around, env)
        per = interleaved(ctx, "sentinel", commands, env,
                          runs_of=lambda label: args.sentinel_stopped_runs
                          if label in WAITING else None, around=around)
        counts = {}
        if shutil.which("valgrind") and not args.no_callgrind:
            log("sentinel: counting instructions with callgrind")
            # start_thread: what the query threads ran (glibc's entry of
            # every thread but the main one).
            counts = {label: callgrind_instructions(argv, env, root, functions=("start_thread",))
                      for label, argv in commands if label not in WAITING}
    finally:
        stop(sentinels)
        stop(replica)
        stop(master)
    rows = [{"command": label, "argv": argv[:1], "cpu_us": median(per[label]["cpu"]),
             "wall_us": median(per[label]["wall"]),
             "cpu_vs_pair": paired(per, label, PAIR, "cpu"),
             "wall_vs_pair": paired(per, label, PAIR, "wall"),
             "cpu_vs_cli": paired(per, label, CLI, "cpu"),
             "runs": args.sentinel_stopped_runs if label in WAITING else args.runs,
             "failures": per[label]["failures"], "rounds_cpu_us": per[label]["cpu"],
             "rounds_wall_us": per[label]["wall"]}
            for label, argv in commands]
    return {"rounds": args.rounds, "runs": args.runs,
            "stopped_runs": args.sentinel_stopped_runs, "timeout_ms": TIMEOUT_MS,
            "first_run_s": first_seconds, "rows": rows, "instructions": counts,
            # Failing against passing, paired round by round; the last one
            # is pair mode's, for comparison.
            "fail_vs_pass": {"replica": paired(per, FAIL, PASS, "cpu"),
                             "one sentinel stopped": paired(per, STOPPED, PASS, "cpu"),
                             "pair mode, its Redis stopped": paired(per, PAIR_STOPPED, PAIR,
                                                                    "cpu")},
            "stopped_vs_pair_stopped": paired(per, STOPPED, PAIR_STOPPED, "cpu")}


def report_sentinel(res):
    rounds = res["rounds"]
    lines = [f"### Sentinel mode: check cost ({rounds} interleaved rounds x {res['runs']} runs, "
             f"the two stopped rows {res['stopped_runs']} runs; median of the rounds; ratios "
             f"paired by round; Sentinel rows and stopped rows with --timeout "
             f"{res['timeout_ms']})", "",
             "| command | CPU/run | wall/run | CPU vs pair mode | wall vs pair mode "
             "| CPU vs redis-cli PING | unexpected exits |", "|---|---:|---:|---:|---:|---:|---:|"]
    for r in res["rows"]:
        total = rounds * r["runs"]
        bad = total - r["failures"] if r["command"] in FAILING else r["failures"]
        lines.append(f"| {r['command']} | {fmt(r['cpu_us'], 0, ' µs')} | "
                     f"{fmt(r['wall_us'], 0, ' µs')} | {ratio(r['cpu_vs_pair'])} | "
                     f"{ratio(r['wall_vs_pair'])} | {ratio(r['cpu_vs_cli'])} | {bad} |")
    lines += ["", "A failing check against a passing one, CPU (paired by round): "
              + "; ".join(f"{k} {ratio(v)}" for k, v in res["fail_vs_pass"].items()),
              "", "Sentinel mode with one sentinel stopped against pair mode with its Redis "
              f"stopped, CPU (paired by round): {ratio(res['stopped_vs_pair_stopped'])}"]
    if res["instructions"]:
        lines += ["", "| command (callgrind, one run) | instructions | in the dynamic loader "
                  "| on the query threads | total vs pair mode |", "|---|---:|---:|---:|---:|"]
        ref = (res["instructions"].get(PAIR) or {}).get("total")
        for label, c in res["instructions"].items():
            if not c:
                lines.append(f"| {label} | n/a | | | |")
                continue
            lines.append(f"| {label} | {fmt(c['total'])} | {fmt(c['loader'])} | "
                         f"{fmt(c.get('start_thread'))} | "
                         f"{ratio(c['total'] / ref if ref else None)} |")
    return "\n".join(lines)


def sentinel_targets(res):
    rows = {r["command"]: r for r in res["rows"]}
    out = []
    for key, v in (("passing", rows[PASS]["cpu_vs_pair"]),
                   ("failing", rows[FAIL]["cpu_vs_pair"]),
                   ("one sentinel stopped, against pair mode with its Redis stopped",
                    res["stopped_vs_pair_stopped"])):
        out.append((f"Sentinel-mode check CPU <= 2x pair-mode check ({key})", ratio(v),
                    v is not None and v <= 2.0))
    v = res["fail_vs_pass"]["replica"]
    out.append(("Sentinel mode: failing check (the replica) CPU <= passing check", ratio(v),
                v is not None and v <= 1.0))
    wall = rows[STOPPED]["wall_us"]
    out.append((f"Sentinel mode, one sentinel stopped: wall <= --timeout "
                f"({res['timeout_ms']} ms)", fmt(wall / 1000 if wall else None, 0, " ms"),
                wall is not None and wall <= res["timeout_ms"] * 1000))
    return out
