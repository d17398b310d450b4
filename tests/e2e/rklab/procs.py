"""The lab's processes: Redis, keepalived, redis_watch, redis_switchover and
the writers, started in the namespaces and stopped.

Every process the lab starts is recorded (pid and start time) in
<root>/pids, so that this run, or a later one after a crash, ends exactly
those, by pid. Nothing is ever ended by name."""
import glob
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import time

from rediskit import SERVER, RedisReplyError, python_with, server_binary, stop_process

from . import network
from .common import LabError, run, say
from .configs import REDIS_PORT
from .network import NS_CLIENT, VIP
from .observe import Acks

ROOT_PREFIX = "/run/rklab."
E2E_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WRITER = os.path.join(E2E_DIR, "writer.py")
# An application's writer: redis-py (python3-redis) with a settings profile.
REDISPY_WRITER = os.path.join(E2E_DIR, "redispy_writer.py")


def proc_starttime(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except OSError:
        return None
    return data.rsplit(")", 1)[1].split()[19]


def register(root, proc, what):
    """Record PROC (a Popen) in ROOT's pid file."""
    start = proc_starttime(proc.pid) or "0"
    with open(os.path.join(root, "pids"), "a") as f:
        f.write(f"{proc.pid} {start} {what}\n")


def kill_pid(pid, sig=signal.SIGKILL):
    try:
        with open(f"/proc/{pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                return False      # already dead, waiting to be reaped
    except (OSError, IndexError):
        return False
    try:
        os.kill(pid, sig)
        return True
    except ProcessLookupError:
        return False


def cleanup_root(root, say_=say):
    """End what a lab run under ROOT started, by the pids it recorded."""
    pids_file = os.path.join(root, "pids")
    if os.path.exists(pids_file):
        with open(pids_file) as f:
            for line in f:
                parts = line.split()
                if len(parts) < 2:
                    continue
                pid, start = int(parts[0]), parts[1]
                if proc_starttime(pid) == start and kill_pid(pid):
                    say_(f"ended stale process {pid} ({' '.join(parts[2:])})")
    # keepalived's VRRP child, from the pid files the lab asked keepalived for.
    lab_inodes = {network.netns_inode(n) for n in network.lab_namespaces()}
    for pidfile in glob.glob(os.path.join(root, "*", "*.pid")):
        try:
            pid = int(open(pidfile).read().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        ino = network.pid_netns_inode(pid)
        if ino is not None and ino in lab_inodes:
            if kill_pid(pid):
                say_(f"ended stale process {pid} (from {os.path.basename(pidfile)})")


def kill_hooks_in(ns, root):
    """End the toolkit hooks still running in NS: processes whose executable
    is one of the binaries installed under this lab's root (keepalived
    started them; notify hooks are never waited for)."""
    ended = 0
    for pid in network.namespace_pids(ns):
        try:
            exe = os.readlink(f"/proc/{pid}/exe")
        except OSError:
            continue
        if exe.startswith(root.rstrip("/") + "/"):
            ended += kill_pid(pid)
    return ended


def kill_all_in(ns):
    """End every process still in NS. For hooks that are scripts: they run
    as the shell (and their children as whatever they exec), so their
    executables do not tell them apart."""
    return sum(kill_pid(pid) for pid in network.namespace_pids(ns))


def teardown_stale(say_=say, keep_root=None):
    """Remove what earlier runs left: their processes, namespaces, roots."""
    roots = [d for d in glob.glob(ROOT_PREFIX + "*")
             if os.path.isdir(d) and d != keep_root]
    for root in roots:
        cleanup_root(root, say_)
    for root in roots:
        for ns in network.lab_namespaces():
            kill_hooks_in(ns, root)
    for ns in network.lab_namespaces():
        network.remove_namespace(ns)
        say_(f"removed namespace {ns}")
    for root in roots:
        shutil.rmtree(root, ignore_errors=True)
        say_(f"removed {root}")


class ClientWriter:
    """A writer other than the lab's own, started by Processes: its process,
    its acknowledged writes (Acks), its file of failed or slow calls, its
    stdout (one JSON line of counters at its end) and its stderr."""

    def __init__(self, name, acks, calls, out, err):
        self.name, self.acks, self.calls, self.out, self.err = name, Acks(acks), calls, out, err
        self.proc = None

    def stop(self):
        """Ends it (SIGTERM); returns its counters."""
        stop_process(self.proc)
        self.acks.update()
        try:
            return json.loads(open(self.out).read().strip().splitlines()[-1])
        except (OSError, ValueError, IndexError):
            return {}


class Processes:
    """Starts and stops the processes of LAB's nodes and of its client
    namespace, each recorded in the lab root's pid file."""

    def __init__(self, lab):
        self.lab = lab
        self.keepalived_bin = shutil.which("keepalived") or "/usr/sbin/keepalived"
        # RK_SERVER: redis-server, or valkey-server (which runs in the
        # namespaces the same way, with the same redis.conf).
        self.redis_bin = server_binary() or SERVER
        self.writer = None
        self.writer_out = None
        self.acks = None          # the writer's acknowledged writes (Acks)
        self.writer_stopped_t = None

    def register(self, proc, what):
        register(self.lab.root, proc, what)

    def start_redis(self, node, wait=True):
        node.redis = subprocess.Popen(
            ["ip", "netns", "exec", node.ns, self.redis_bin, node.redis_conf],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(node.dir, "redis.stderr"), "ab"),
            start_new_session=True)
        self.register(node.redis, f"{SERVER} {node.name}")
        if wait:
            deadline = time.monotonic() + 20
            while True:
                if node.redis.poll() is not None:
                    raise LabError(f"{SERVER} on {node.name} exited with "
                                   f"{node.redis.returncode}; see {node.redis_log}")
                try:
                    info = node.info("server", timeout=0.5)
                    node.run_ids[info["run_id"][:8]] = time.time()
                    break
                except (OSError, ConnectionError, RedisReplyError):
                    if time.monotonic() > deadline:
                        raise LabError(f"{SERVER} on {node.name} not answering")
                    time.sleep(0.05)

    def end_redis(self, node, sig=signal.SIGKILL):
        if node.redis and node.redis.poll() is None:
            node.redis.send_signal(sig)
            try:
                node.redis.wait(timeout=15)
            except subprocess.TimeoutExpired:
                node.redis.kill()
                node.redis.wait(timeout=5)

    def start_keepalived(self, node):
        logf = open(node.ka_log, "ab")
        # Every pid file of its own, the BFD child's too: both nodes share
        # /run, and keepalived 2.3.3 (Debian builds it with BFD) holds an OFD
        # lock on its BFD pid file, /run/bfd.pid by default, even with -P. The
        # node that started second found it locked and exited ("Another
        # process has pid file /run/bfd.pid locked", "daemon is already
        # running"). 2.2.7 takes -b too.
        node.ka = subprocess.Popen(
            ["ip", "netns", "exec", node.ns, self.keepalived_bin,
             "-n", "-l", "-D", "-G", "-P", "-f", node.ka_conf,
             "-p", os.path.join(node.dir, "keepalived.pid"),
             "-r", os.path.join(node.dir, "vrrp.pid"),
             "-c", os.path.join(node.dir, "checkers.pid"),
             "-b", os.path.join(node.dir, "bfd.pid")],
            stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
            start_new_session=True, cwd="/")
        logf.close()
        node.ka_state = "starting"
        self.register(node.ka, f"keepalived {node.name}")

    def stop_keepalived(self, node, timeout=10):
        stop_process(node.ka, timeout=timeout)
        node.ka = None

    def stop_nodes(self):
        """Every keepalived, the sentinels, then every Redis (kill -9), for
        the teardown."""
        # Both keepalived at once, so neither has time to take over from the
        # other and start a promotion while the lab is going away.
        nodes = self.lab.nodes.values()
        for node in nodes:
            if node.ka and node.ka.poll() is None:
                node.ka.terminate()
        for node in nodes:
            try:
                self.stop_keepalived(node, timeout=5)
            except Exception as exc:
                say(f"stopping keepalived on {node.name}: {exc}")
        # The sentinels next, so that none starts a failover (or runs a
        # reconfig script) while the data nodes go away.
        if self.lab.sentinels:
            try:
                self.lab.sentinels.stop()
            except Exception as exc:
                say(f"stopping the sentinels: {exc}")
        for node in nodes:
            try:
                self.end_redis(node, signal.SIGKILL)
            except Exception as exc:
                say(f"stopping redis on {node.name}: {exc}")

    def start_watcher(self, node):
        """redis_watch in NODE's namespace, as the package's unit runs it,
        writing the track_file its keepalived watches."""
        binary = os.path.join(self.lab.bindir, "redis_watch")
        if not os.access(binary, os.X_OK):
            raise LabError(f"{binary} missing: this build has no redis_watch")
        node.watch = subprocess.Popen(
            ["ip", "netns", "exec", node.ns, *self.as_script_user(), binary, "--config",
             node.toolkit_conf,
             "--track-file", node.track_file, "--log-file", node.toolkit_log],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(node.dir, "watch.stderr"), "ab"), start_new_session=True)
        self.register(node.watch, f"redis_watch {node.name}")
        deadline = time.monotonic() + 10
        while not os.path.exists(node.track_file):
            if node.watch.poll() is not None or time.monotonic() > deadline:
                raise LabError(f"redis_watch on {node.name} wrote no track file; see "
                               f"{node.dir}/watch.stderr")
            time.sleep(0.02)

    def as_script_user(self):
        """Command prefix that drops to the hooks' user, as the package's
        unit runs redis_watch and an operator runs redis_switchover: the
        state dir trusts its owner (or root's own dirs) only."""
        pw = pwd.getpwnam(self.lab.script_user)
        return ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--clear-groups", "--"]

    def run_switchover(self, node, peer, timeout=60):
        """redis_switchover on NODE (the VIP holder) towards PEER, as an
        operator runs it: the node's toolkit.conf and keepalived.conf."""
        return self.switchover_tool(node, ["--keepalived-conf", node.ka_conf, "127.0.0.1",
                                           network.HOSTS[peer.name][1], str(REDIS_PORT)],
                                    timeout)

    def run_sentinel_switchover(self, node, timeout=60):
        """redis_switchover in Sentinel mode on NODE (the master the
        sentinels name), as an operator runs it: the node's toolkit.conf
        alone (its sentinels, master-name, announce-host and the shipped
        ACL users' credentials: `keepalived` on the data nodes,
        `rk-sentinel` on the sentinels)."""
        return self.switchover_tool(node, [], timeout)

    def switchover_tool(self, node, args, timeout):
        """redis_switchover --config <NODE's toolkit.conf> ARGS in NODE's
        namespace as the hooks' user; its stderr kept in switchover.log."""
        binary = os.path.join(self.lab.bindir, "redis_switchover")
        if not os.access(binary, os.X_OK):
            raise LabError(f"{binary} missing: this build has no redis_switchover")
        res = run(["ip", "netns", "exec", node.ns, *self.as_script_user(), binary, "--config",
                   node.toolkit_conf, *args], check=False, timeout=timeout)
        with open(os.path.join(node.dir, "switchover.log"), "a") as f:
            f.write(res.stderr)
        return res

    def start_writer(self, duration=None, rate=200.0):
        # Bounded by the hard timeout, so a writer outlives no lab.
        duration = duration or self.lab.hard_timeout
        cdir = os.path.join(self.lab.root, "c")
        acks = os.path.join(cdir, "acks")
        self.writer_out = os.path.join(cdir, "writer.out")
        self.acks = Acks(acks)
        self.writer = subprocess.Popen(
            ["ip", "netns", "exec", NS_CLIENT, sys.executable, WRITER,
             "--host", VIP, "--port", str(REDIS_PORT), "--out", acks,
             "--duration", str(duration), "--rate", str(rate), *self.writer_tls_args()],
            stdin=subprocess.DEVNULL, stdout=open(self.writer_out, "wb"),
            stderr=open(os.path.join(cdir, "writer.err"), "wb"),
            start_new_session=True)
        self.register(self.writer, "writer")
        say(f"writer started in {NS_CLIENT}: SET k:<n> through {VIP}:{REDIS_PORT}, "
            f"{rate:.0f}/s max")

    def writer_tls_args(self):
        return self.lab.tls.args() if self.lab.tls else []

    def stop_writer(self):
        counters = {}
        if self.writer is not None:
            self.writer_stopped_t = time.time()
        stop_process(self.writer)
        if self.writer_out and os.path.exists(self.writer_out):
            try:
                counters = json.loads(open(self.writer_out).read().strip().splitlines()[-1])
            except (ValueError, IndexError):
                counters = {}
        self.writer = None
        if self.acks:
            self.acks.update()
        return counters

    def start_local_writer(self, node, duration, rate, first_key=10_000_000):
        """A second writer inside NODE's namespace, writing to its own Redis
        on 127.0.0.1 (an application on the same host): what a node cut off
        from the network can still acknowledge."""
        acks = os.path.join(node.dir, "local-acks")
        proc = subprocess.Popen(
            ["ip", "netns", "exec", node.ns, sys.executable, WRITER, "--host", "127.0.0.1",
             "--port", str(REDIS_PORT), "--out", acks, "--duration", str(duration),
             "--rate", str(rate), "--start", str(first_key), *self.writer_tls_args()],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(node.dir, "local-writer.err"), "wb"),
            start_new_session=True)
        self.register(proc, f"local writer on {node.name}")
        say(f"local writer started on node {node.name}: SET k:<n> on 127.0.0.1, {rate:.0f}/s max")
        return proc, Acks(acks)

    def start_redispy_writer(self, profile, first_key, rate=200.0):
        """redis-py writing through the VIP from the client namespace, with
        PROFILE's settings (redispy_writer.py), from key FIRST_KEY on.
        Returns a ClientWriter."""
        cdir = os.path.join(self.lab.root, "c")
        w = ClientWriter(f"redis-py {profile}",
                         *(os.path.join(cdir, f"redispy-{profile}-{first_key}.{x}")
                           for x in ("acks", "calls", "out", "err")))
        w.proc = subprocess.Popen(
            ["ip", "netns", "exec", NS_CLIENT, python_with("redis"), REDISPY_WRITER,
             "--host", VIP, "--port", str(REDIS_PORT), "--profile", profile, "--out",
             w.acks.follow.path, "--calls", w.calls, "--duration", str(self.lab.hard_timeout),
             "--rate", str(rate), "--start", str(first_key)],
            stdin=subprocess.DEVNULL, stdout=open(w.out, "wb"),
            stderr=open(w.err, "wb"),
            start_new_session=True)
        self.register(w.proc, f"redis-py writer ({profile})")
        say(f"redis-py writer ({profile} settings) started in {NS_CLIENT}: SET k:<n> from "
            f"{first_key} through {VIP}:{REDIS_PORT}, {rate:.0f}/s max")
        return w

    def stop_local_writer(self, proc, acks):
        stop_process(proc)
        acks.update()
        return acks.written()
