"""Paths, errors, progress, the server binary, the processes and servers a
run starts (all stopped by pid at the end, also on error or signal), and
formatting."""
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time

from rediskit import RedisServer, missing_server, server_binary, stop_process

BENCH = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(BENCH)
RUN = os.path.join(BENCH, "run")
CLASSIC = os.path.join(BENCH, "classic")
TOOLS = ("redis_check", "redis_master", "redis_backup", "redis_fault", "redis_stop",
         "redis_status")


class Interrupted(Exception):
    pass


class BenchError(Exception):
    pass


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def on_signal(signum, frame):
    raise Interrupted(signal.Signals(signum).name)


# --------------------------------------------------------------------------
# What this run starts and must stop, even on error or signal: (the process
# or server, how to stop it), newest last.

STARTED = []


def spawn(cmd, grace=5.0, **kw):
    """Popen CMD; stop() or stop_all() sends it SIGTERM, then SIGKILL after
    GRACE seconds."""
    kw.setdefault("stdin", subprocess.DEVNULL)
    proc = subprocess.Popen(cmd, **kw)
    STARTED.append((proc, lambda: stop_process(proc, timeout=grace)))
    return proc


def server():
    """The server binary every part runs, chosen as the tests choose it
    (tests/support/rediskit.py): RK_SERVER, a name on PATH or a path,
    redis-server by default. redis-cli stays the client for either server."""
    path = server_binary()
    if path is None:
        raise BenchError(missing_server())
    return path


def client(args):
    """The client baseline: --redis-cli, else redis-cli on PATH."""
    return args.redis_cli or shutil.which("redis-cli") or "redis-cli"


def redis_server(root, name, extra=(), **kw):
    """A server (server(): RK_SERVER, redis-server by default; see
    tests/support/rediskit.py) on a free loopback port, in ROOT/NAME with its
    config file there (CONFIG REWRITE needs one). KW goes to RedisServer."""
    data_dir = os.path.join(root, name)
    os.makedirs(data_dir, mode=0o700)
    binary = server()
    for attempt in range(5):
        srv = RedisServer(extra_config=extra, data_dir=data_dir, binary=binary, **kw)
        srv.write_config()
        STARTED.append((srv, srv.stop))
        try:
            return srv.start()
        except (RuntimeError, TimeoutError):
            stop(srv)  # port taken meanwhile, or a slow start: try again
    raise BenchError(f"{os.path.basename(binary)} did not start; see {data_dir}/redis.log")


def stop(obj):
    """Stop a process from spawn() or a server from redis_server()."""
    for i, (o, fn) in enumerate(STARTED):
        if o is obj:
            del STARTED[i]
            fn()
            return
    stop_process(obj)


def stop_all():
    while STARTED:
        stop(STARTED[-1][0])


# --------------------------------------------------------------------------
# Commands

def run(cmd, timeout=600, check=True, **kw):
    res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         timeout=timeout, **kw)
    if check and res.returncode != 0:
        raise BenchError(f"{' '.join(cmd)} failed ({res.returncode}): {res.stderr.strip()[-800:]}")
    return res


def first_line(cmd):
    try:
        res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             timeout=10)
        return res.stdout.strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "n/a"


def install_missing(packages):
    """As root on Debian, install missing packages with the project's helper."""
    deps = os.path.join(REPO, "scripts", "deps.sh")
    if os.geteuid() != 0 or not os.path.exists(deps) or not shutil.which("apt-get"):
        return
    res = subprocess.run(["bash", "-c", f'. "{deps}" && rk_install_packages "$@"', "-",
                          *packages], stdout=sys.stderr, stderr=sys.stderr)
    if res.returncode != 0:
        log(f"could not install {' '.join(packages)}")


# --------------------------------------------------------------------------
# Figures

def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, digits=0, unit=""):
    if x is None:
        return "n/a"
    return f"{x:,.{digits}f}{unit}"


def ratio(x, digits=2):
    return "n/a" if x is None else f"{x:.{digits}f}x"


def summary(xs, digits=1):
    xs = [x for x in xs if x is not None]
    if not xs:
        return "n/a", "n/a"
    return fmt(statistics.median(xs), digits), fmt(max(xs), digits)
