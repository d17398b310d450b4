"""Part memory: peak RSS of every tool, of redis-cli PING and of the classic
check (GNU time %M)."""
import os
import shutil
import subprocess
import tempfile

from .common import CLASSIC, BenchError, fmt, log, median, ratio
from .sync import Pair, promote_once


def peak_rss(argv, env=None, expect_rc=0):
    out = tempfile.NamedTemporaryFile(prefix="rss-", delete=False)
    out.close()
    try:
        res = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", out.name, *argv],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                             env=env, timeout=120)
        if res.returncode != expect_rc:
            raise BenchError(f"{' '.join(argv[:2])} exited {res.returncode}: "
                             f"{res.stderr.strip()[-400:]}")
        return int(open(out.name).read().strip().splitlines()[-1])
    finally:
        os.unlink(out.name)


def part_memory(ctx):
    if not os.access("/usr/bin/time", os.X_OK):
        raise BenchError("/usr/bin/time missing (Debian package: time)")
    root = os.path.join(ctx["tmp"], "memory")
    os.makedirs(root, mode=0o700)
    b = ctx["bindir"]
    cli = shutil.which("redis-cli") or "redis-cli"
    env = dict(os.environ, CLASSIC_CHECK_LOG=os.path.join(root, "classic-check.log"),
               REDIS_CLI=cli)
    pair = Pair(root)
    rss = {}

    def add(label, kib):
        rss.setdefault(label, []).append(kib)

    try:
        for i in range(ctx["args"].memory_runs):
            master, replica = pair.wait_in_sync()
            mp, rp = str(master.port), str(replica.port)
            peer = f"127.0.0.1:{mp}"
            add("redis_check (passing check)",
                peak_rss([f"{b}/redis_check", "127.0.0.1", mp, "--state-dir", master.state]))
            add("redis_status (local and peer)",
                peak_rss([f"{b}/redis_status", "--port", rp, "--peer", peer,
                          "--state-dir", replica.state]))
            add("redis_fault", peak_rss([f"{b}/redis_fault", "--port", rp, "--peer", peer,
                                         "--state-dir", replica.state]))
            add("redis_stop", peak_rss([f"{b}/redis_stop", "--port", rp, "--peer", peer,
                                        "--state-dir", replica.state]))
            add("redis-cli PING", peak_rss([cli, "-h", "127.0.0.1", "-p", mp, "PING"]))
            add("classic redis_check.sh (largest of bash, redis-cli, date)",
                peak_rss([os.path.join(CLASSIC, "redis_check.sh"), "127.0.0.1", mp], env))
            add("/bin/true", peak_rss(["/bin/true"]))
            # A promotion under writes, as in the sync part.
            out = tempfile.NamedTemporaryFile(prefix="rss-", delete=False)
            out.close()
            promote_once(ctx, pair, os.path.join(root, f"redis_master-{i}.log"),
                         wrap=["/usr/bin/time", "-f", "%M", "-o", out.name])
            add("redis_master (a promotion under writes)",
                int(open(out.name).read().strip().splitlines()[-1]))
            os.unlink(out.name)
            # The demoted server now replicates the new master: redis_backup
            # on it checks that and rewrites its config.
            master, replica = pair.wait_in_sync()
            add("redis_backup (already replicating)",
                peak_rss([f"{b}/redis_backup", "--port", str(replica.port), "--peer",
                          f"127.0.0.1:{master.port}", "--state-dir", replica.state]))
            log(f"memory: round {i + 1} done")
    finally:
        pair.stop()
    return {"runs": ctx["args"].memory_runs, "rss_kib": rss}


def report_memory(res):
    ref = median(res["rss_kib"].get("redis-cli PING", []))
    order = ["redis_check (passing check)", "redis_master (a promotion under writes)",
             "redis_backup (already replicating)", "redis_fault", "redis_stop",
             "redis_status (local and peer)", "redis-cli PING",
             "classic redis_check.sh (largest of bash, redis-cli, date)", "/bin/true"]
    lines = [f"### Peak RSS (GNU time %M, median of {res['runs']} runs)", "",
             "| process | peak RSS | vs redis-cli PING |", "|---|---:|---:|"]
    for label in order:
        xs = res["rss_kib"].get(label)
        if not xs:
            continue
        m = median(xs)
        lines.append(f"| {label} | {fmt(m)} KiB | {ratio(m / ref if ref else None)} |")
    return "\n".join(lines)

