"""Part seams: this build against a baseline build (--baseline-bin), in the
same run, interleaved, at the seams where a late reply, a failed copy or a
bad file used to break the promise.

- late-reply: redis_switchover under writes, with the peer's reply to
  REPLICAOF NO ONE held 1.5 s by a loopback proxy (the peer acts at once).
  Counted: the verdict, whether two masters are left, and the acknowledged
  writes the promoted peer lacks (they exist only on the old master).
- stale: a node loses a heal and its copy cannot be made (copy-failed); then
  its peer dies. Counted: whether its check passes, and whether redis_master
  promotes it (it lacks the peer's acknowledged writes).
- fifo: redis_check --tls --cacert FIFO --timeout 500: how long it runs
  (cut at 5 s) and its exit code.
"""
import os
import subprocess
import threading
import time

from delayproxy import REPLICAOF_NO_ONE, DelayProxy
from rediskit import Resp, populate

from .common import BenchError, log, redis_server, spawn, stop

KEEPALIVED_CONF = """track_file maintenance {{
    file "{path}"
    weight 0
}}
vrrp_instance redis {{
    track_file {{
        maintenance
    }}
}}
"""


def tool(bindir, name, *args, timeout=60):
    """Runs a tool; (exit code or None when cut at TIMEOUT, seconds, stderr)."""
    t0 = time.monotonic()
    proc = spawn([os.path.join(bindir, name), *args], stdout=subprocess.DEVNULL,
                 stderr=subprocess.PIPE, text=True)
    try:
        _, err = proc.communicate(timeout=timeout)
        return proc.returncode, time.monotonic() - t0, err
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        return None, time.monotonic() - t0, err


def node_dirs(root, name):
    state = os.path.join(root, f"state-{name}")
    os.makedirs(state, mode=0o700, exist_ok=True)
    return ["--state-dir", state, "--instance", "bench", "--timeout", "500"]


def verdict_of(text):
    words = [w for w in text.split() if w.startswith("verdict=")]
    return words[-1][len("verdict="):] if words else "none"


def late_reply_trial(ctx, bindir, label, i):
    root, name = ctx["tmp"], f"late-{label}-{i}"
    a = redis_server(root, f"{name}-a")
    b = redis_server(root, f"{name}-b")
    proxy = DelayProxy(b.port)
    stop_writer = threading.Event()
    acked = []
    try:
        populate(a, 200)
        with Resp("127.0.0.1", b.port) as c:
            c.call("REPLICAOF", "127.0.0.1", str(a.port))
        deadline = time.monotonic() + 30
        while "master_link_status:up" not in b.client().call("INFO", "replication"):
            if time.monotonic() > deadline:
                raise BenchError(f"{name}: replica link never up")
            time.sleep(0.05)
        common = node_dirs(root, name) + ["--host", "127.0.0.1", "--port", str(a.port),
                                          "--peer", f"127.0.0.1:{proxy.port}"]
        tool(bindir, "redis_master", *common)  # records MASTER, as keepalived would
        flag = os.path.join(root, f"{name}-maintenance")
        conf = os.path.join(root, f"{name}-keepalived.conf")
        with open(conf, "w") as f:
            f.write(KEEPALIVED_CONF.format(path=flag))

        def keepalived():  # notify_fault once the flag says 1
            while not stop_writer.is_set():
                if os.path.exists(flag) and open(flag).read().strip() == "1":
                    tool(bindir, "redis_fault", *common)
                    return
                time.sleep(0.005)

        def writer():
            n = 0
            while not stop_writer.is_set():
                try:
                    with Resp("127.0.0.1", a.port, timeout=0.5) as c:
                        while not stop_writer.is_set():
                            c.call("SET", f"w:{n}", "v")
                            acked.append(n)
                            n += 1
                except Exception:  # READONLY, paused, reset: try again
                    n += 1
                    time.sleep(0.01)
        threads = [threading.Thread(target=t, daemon=True) for t in (keepalived, writer)]
        for t in threads:
            t.start()
        time.sleep(0.3)
        proxy.delay_reply_after(REPLICAOF_NO_ONE, 1.5)
        rc, _, err = tool(bindir, "redis_switchover", *common, "--maintenance-file", flag,
                          "--keepalived-conf", conf, "--switchover-timeout-ms", "3000")
        time.sleep(1.0)  # writes the old master still takes, if it is one
        stop_writer.set()
        for t in threads:
            t.join(5)
        roles = [x.client().info("replication")["role"] for x in (a, b)]
        with Resp("127.0.0.1", b.port) as c:
            values = c.call("MGET", *[f"w:{n}" for n in acked]) if acked else []
        missing = sum(1 for v in values if v != "v")
        return {"build": label, "rc": rc, "verdict": verdict_of(err),
                "two_masters": roles == ["master", "master"], "acked": len(acked),
                "missing_on_promoted_peer": missing}
    finally:
        stop_writer.set()
        proxy.close()
        stop(a)
        stop(b)


def stale_trial(ctx, bindir, label, i):
    root, name = ctx["tmp"], f"stale-{label}-{i}"
    a = redis_server(root, f"{name}-a")  # loses the heal
    b = redis_server(root, f"{name}-b")
    try:
        populate(a, 200)
        with Resp("127.0.0.1", b.port) as c:
            c.call("REPLICAOF", "127.0.0.1", str(a.port))
        time.sleep(1.0)
        with Resp("127.0.0.1", b.port) as c:
            c.call("REPLICAOF", "NO", "ONE")  # the split
        populate(a, 50, prefix="a-only")
        populate(b, 300, prefix="b-only")  # b's tail is longer: b's history wins
        # A copy dir that cannot be created: the copy fails, so does the heal.
        common = node_dirs(root, name) + ["--host", "127.0.0.1", "--port", str(a.port),
                                          "--peer", f"127.0.0.1:{b.port}", "--copy-dir",
                                          os.path.join(root, "no-such-dir", "copies")]
        backup_rc, _, backup_err = tool(bindir, "redis_backup", *common, "--backup-grace", "0")
        check_rc, _, _ = tool(bindir, "redis_check", *common[:6], "--host", "127.0.0.1",
                              "--port", str(a.port))
        stop(b)
        b = None  # the peer is gone
        master_rc, _, master_err = tool(bindir, "redis_master", *common, "--sync-timeout", "3")
        role = a.client().info("replication")["role"]
        return {"build": label, "backup_verdict": verdict_of(backup_err),
                "check_passes": check_rc == 0, "master_verdict": verdict_of(master_err),
                "master_rc": master_rc, "promoted_without_peer_writes": role == "master"
                and master_rc == 0}
    finally:
        stop(a)
        if b is not None:
            stop(b)


def fifo_trial(ctx, bindir, label, i):
    root = ctx["tmp"]
    fifo = os.path.join(root, f"fifo-{label}-{i}")
    os.mkfifo(fifo)
    rc, seconds, _ = tool(bindir, "redis_check", "--tls", "--cacert", fifo, "--host",
                          "127.0.0.1", "--port", "6390", "--timeout", "500", "--state-dir",
                          os.path.join(root, "none"), timeout=5)
    return {"build": label, "rc": rc, "seconds": round(seconds, 3)}


def part_seams(ctx):
    args = ctx["args"]
    if not args.baseline_bin:
        raise BenchError("give --baseline-bin DIR: the binaries of the build to compare with")
    builds = (("baseline", os.path.abspath(args.baseline_bin)), ("this", ctx["bindir"]))
    res = {"baseline_bin": builds[0][1], "late-reply": [], "stale": [], "fifo": []}
    for i in range(args.seams_runs):
        for label, bindir in builds:
            for kind, trial in (("late-reply", late_reply_trial), ("stale", stale_trial),
                                ("fifo", fifo_trial)):
                t = trial(ctx, bindir, label, i)
                log(f"seams {kind} {label} {i}: {t}")
                res[kind].append(t)
    return res


def report_seams(res):
    lines = ["### seams: this build against the baseline, same run, interleaved", "",
             f"Baseline binaries: `{res['baseline_bin']}`.", "",
             "| | baseline | this build |", "|---|---|---|"]

    def row(text, kind, cell):
        cells = [cell([t for t in res[kind] if t["build"] == b]) for b in ("baseline", "this")]
        lines.append("| " + " | ".join([text] + cells) + " |")

    row("switchover, the peer's +OK 1.5 s late: verdicts", "late-reply",
        lambda ts: ", ".join(sorted({t["verdict"] for t in ts})))
    row("same: runs that left two masters", "late-reply",
        lambda ts: f"{sum(t['two_masters'] for t in ts)} of {len(ts)}")
    row("same: acknowledged writes the promoted peer lacks (per run)", "late-reply",
        lambda ts: ", ".join(str(t["missing_on_promoted_peer"]) for t in ts))
    row("heal lost, copy failed: check passes afterwards", "stale",
        lambda ts: f"{sum(t['check_passes'] for t in ts)} of {len(ts)}")
    row("same, then the peer dies: promoted without the peer's writes", "stale",
        lambda ts: f"{sum(t['promoted_without_peer_writes'] for t in ts)} of {len(ts)} "
                   f"({', '.join(sorted({t['master_verdict'] for t in ts}))})")
    row("redis_check --tls --cacert FIFO --timeout 500: seconds (exit code)", "fifo",
        lambda ts: ", ".join(f"{t['seconds']} ({'cut at 5 s' if t['rc'] is None else t['rc']})"
                             for t in ts))
    return "\n".join(lines)
