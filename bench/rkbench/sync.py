"""Part sync: the sync-wait overhead of redis_master. Two loopback
redis-servers, one replicating the other, a writer on the master;
redis_master promotes the replica. After a promotion redis_master makes the
old master replicate the new one, so the next run promotes the other
server."""
import os
import re
import subprocess
import time

from rediskit import RedisReplyError
import toolkit_log

from .common import BenchError, fmt, log, median, redis_server, run, spawn, stop, summary
from .helpers import helper_cmd


class Pair:
    def __init__(self, root):
        self.root = root
        self.x = redis_server(root, "x")
        self.y = redis_server(root, "y", [f"replicaof 127.0.0.1 {self.x.port}"])
        for s in (self.x, self.y):
            s.state = os.path.join(root, f"state-{s.port}")
            os.mkdir(s.state, 0o700)

    def roles(self):
        with self.x.client() as c:
            if c.info("replication").get("role") == "master":
                return self.x, self.y
        return self.y, self.x

    def wait_in_sync(self, timeout=30):
        """Wait until the replica's link is up and it applied everything."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            master, replica = self.roles()
            try:
                with master.client() as m, replica.client() as r:
                    ri = r.info("replication")
                    mi = m.info("replication")
                    if (ri.get("role") == "slave" and ri.get("master_link_status") == "up"
                            and ri.get("master_sync_in_progress") == "0"
                            and ri.get("master_port") == str(master.port)
                            and int(ri.get("slave_repl_offset", -1))
                            >= int(mi.get("master_repl_offset", 0))):
                        return master, replica
            except (OSError, ConnectionError, RedisReplyError):
                pass
            time.sleep(0.05)
        raise BenchError("the replica did not catch up within 30 s")

    def stop(self):
        stop(self.x)
        stop(self.y)


def promote_once(ctx, pair, logfile, wrap=()):
    """Promote the current replica with redis_master while a writer writes on
    the master and a poller SETs on the replica. Returns the figures."""
    master, replica = pair.wait_in_sync()
    writer = spawn(helper_cmd("writer", str(master.port)), stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    poller = spawn(helper_cmd("poller", str(replica.port)), stdout=subprocess.PIPE,
                   stderr=subprocess.DEVNULL, text=True)
    try:
        if poller.stdout.readline().strip() != "ready":
            raise BenchError("poller did not start")
        time.sleep(0.3)  # let the writer move the offsets
        cmd = [*wrap, os.path.join(ctx["bindir"], "redis_master"), "--port", str(replica.port),
               "--peer", f"127.0.0.1:{master.port}", "--state-dir", replica.state,
               "--log-file", logfile]
        res = run(cmd, check=False, timeout=120)
        try:
            ok_line = poller.communicate(timeout=10)[0].strip()
        except subprocess.TimeoutExpired:
            ok_line = ""
    finally:
        stop(poller)
        stop(writer)
    if res.returncode != 0:
        raise BenchError(f"redis_master exited {res.returncode}: {res.stderr.strip()[-600:]}")
    lines = open(logfile).read().splitlines()
    caught = next((ln for ln in lines if re.search(r"\]\s+\S+: caught up\b", ln)), None)
    promoted = next((ln for ln in lines if re.search(r"\]\s+\S+: promoted\b", ln)), None)
    verdict = next((ln for ln in lines if "verdict=" in ln), "")
    if not caught or not promoted or "verdict=promoted" not in verdict:
        raise BenchError(f"redis_master did not log 'caught up' and 'promoted': {lines[-3:]}")
    t_caught, t_promoted = toolkit_log.line_time(caught), toolkit_log.line_time(promoted)
    paused = re.search(r"paused (\d+) ms", caught)
    elapsed = re.search(r"elapsed_ms=(\d+)", verdict)
    return {"in_log_ms": (t_promoted - t_caught) * 1000,
            "external_ms": (float(ok_line) - t_caught) * 1000 if ok_line else None,
            "peer_paused_ms": int(paused.group(1)) if paused else None,
            "elapsed_ms": int(elapsed.group(1)) if elapsed else None,
            "stderr": res.stderr}


def part_sync(ctx):
    root = os.path.join(ctx["tmp"], "sync")
    os.makedirs(root, mode=0o700)
    pair = Pair(root)
    runs = []
    try:
        for i in range(ctx["args"].sync_runs):
            r = promote_once(ctx, pair, os.path.join(root, f"redis_master-{i}.log"))
            r.pop("stderr")
            runs.append(r)
            log(f"sync: run {i + 1}: caught up -> promoted {r['in_log_ms']:.0f} ms in the log, "
                f"-> first SET OK {fmt(r['external_ms'], 1)} ms")
    finally:
        pair.stop()
    return {"runs": runs}


def report_sync(res):
    runs = res["runs"]
    rows = [("caught up -> promoted (redis_master's log, 1 ms resolution)", "in_log_ms"),
            ("caught up -> first SET accepted (client polling every ~1 ms)", "external_ms"),
            ("old master's writes paused for the final comparison", "peer_paused_ms"),
            ("whole redis_master run", "elapsed_ms")]
    lines = [f"### Sync-wait overhead ({len(runs)} promotions under writes)", "",
             "| interval | median | max |", "|---|---:|---:|"]
    for label, key in rows:
        med, mx = summary([r[key] for r in runs])
        lines.append(f"| {label} | {med} ms | {mx} ms |")
    return "\n".join(lines)


def sync_target(res):
    xs = [r["external_ms"] for r in res["runs"] if r["external_ms"] is not None]
    mx = max(xs) if xs else None
    return ("caught up -> accepts writes < 100 ms (max of the runs)",
            f"median {fmt(median(xs), 1)} ms, max {fmt(mx, 1)} ms",
            mx is not None and len(xs) == len(res["runs"]) and mx < 100)

