#!/usr/bin/env python3
"""End-to-end failover lab for the redis-keepalived toolkit.

The lab builds a small network out of Linux network namespaces:

    rklab-a  10.99.0.1  redis-server + keepalived (priority 254) --+
    rklab-b  10.99.0.2  redis-server + keepalived (priority 253) --+-- bridge
    rklab-c  10.99.0.9  the writer                                 --+   in rklab-sw
                        VIP 10.99.0.100/24

Nothing is routed: the namespaces only see the connected test subnet. Each
node runs keepalived with keepalived/keepalived-node-{a,b}.conf rendered by
plain text substitution (addresses, interface, binary dir, config path) and
the hooks' options from keepalived/toolkit.conf, with the toolkit installed
under the lab root. A writer in rklab-c writes through the VIP while the lab
injects a fault; at the end every acknowledged write must be on the final
master and on its replica, and the pair must have converged: exactly one
node holds the VIP, its Redis is master, and the other Redis replicates it
with the link up.

Usage:
    lab.py --scenario NAME [--build-dir DIR | --bin-dir DIR] [--keep] [--json]
    lab.py --demo [--build-dir DIR | --bin-dir DIR] [--keep]
    lab.py --teardown

Scenarios: startup, crash, maintenance, empty-resync, partition, switchover.
Exit status: 0 pass, 1 fail, 77 skipped (a prerequisite is missing).
"""
import argparse
import calendar
import ctypes
import fcntl
import glob
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "support"))
from rediskit import Resp, RedisReplyError, parse_info, stop_process  # noqa: E402

WRITER = os.path.join(HERE, "writer.py")
SAMPLES = os.path.join(REPO, "keepalived")

PREFIX = "rklab-"
NS_SWITCH = PREFIX + "sw"
NS_CLIENT = PREFIX + "c"
BRIDGE = "br0"
IFNAME = "rkv0"              # the namespace side of every veth pair
NET_LEN = 24
A_IP, B_IP, CLIENT_IP, VIP = "10.99.0.1", "10.99.0.2", "10.99.0.9", "10.99.0.100"
REDIS_PORT = 6379
LOCK_FILE = "/run/rklab.lock"
ROOT_PREFIX = "/run/rklab."
SCRIPT_USER = "keepalived_script"
TOOLS = ("redis_check", "redis_master", "redis_backup", "redis_fault", "redis_stop")

# The placeholders of the sample configs. The lab renders the samples by
# replacing exactly these strings, and refuses a sample that lacks one.
SAMPLE_A_IP, SAMPLE_B_IP, SAMPLE_VIP = "192.0.2.11", "192.0.2.12", "192.0.2.100"
SAMPLE_IFACE = "eth0"
SAMPLE_BIN = "/usr/bin/redis_"
SAMPLE_TOOLKIT_CONF = "/etc/redis-keepalived/toolkit.conf"
SAMPLE_STATE_DIR = "/run/redis-keepalived"
SAMPLE_LOG_FILE = "/var/log/redis-keepalived.log"
SAMPLE_PASSWORD_FILE = "/etc/redis-keepalived/password"
SAMPLE_PASSWORD = "CHANGE-ME"

EXIT_PASS, EXIT_FAIL, EXIT_SKIP = 0, 1, 77

SCENARIOS = ("startup", "crash", "maintenance", "empty-resync", "partition", "switchover")
HARD_TIMEOUT = {"startup": 90, "crash": 120, "maintenance": 120, "empty-resync": 180,
                "partition": 120, "switchover": 180, "demo": 240}


class Skip(Exception):
    """A prerequisite is missing: the lab cannot run here."""


class LabError(Exception):
    """The lab could not be built or driven (a lab problem, not a verdict)."""


class Failed(Exception):
    """The scenario ran and its pass criteria do not hold."""


class Interrupted(BaseException):
    """SIGINT/SIGTERM/SIGHUP or the hard timeout: tear down and leave."""


T0 = time.time()
QUIET = False


def rel(t=None):
    return (t if t is not None else time.time()) - T0


def emit(text, stream=None):
    """Print, but never let a closed stdout/stderr (a pipe into `head`, a
    terminal gone away) stop the lab before it has torn itself down."""
    stream = stream or sys.stdout
    try:
        print(text, file=stream)
    except (OSError, ValueError):
        pass


def say(msg):
    emit(f"[{rel():7.2f}s] {msg}", sys.stderr)


def run(cmd, check=True, timeout=30, **kw):
    """Run a short command; raise LabError with its stderr when it fails."""
    try:
        res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, timeout=timeout, **kw)
    except subprocess.TimeoutExpired:
        raise LabError(f"timed out: {' '.join(cmd)}")
    if check and res.returncode != 0:
        raise LabError(f"{' '.join(cmd)} failed ({res.returncode}): {res.stderr.strip()}")
    return res


# --------------------------------------------------------------------------
# Entering a namespace from this process: setns() is per thread, so a thread
# can open a socket inside a node's namespace and come back. The socket stays
# in the namespace it was created in. No subprocess is started meanwhile.

_libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNET = 0x40000000


def _setns(fd):
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


class netns:
    def __init__(self, name):
        self.name = name

    def __enter__(self):
        self.orig = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        try:
            fd = os.open(f"/run/netns/{self.name}", os.O_RDONLY)
            try:
                _setns(fd)
            finally:
                os.close(fd)
        except BaseException:
            os.close(self.orig)
            raise
        return self

    def __exit__(self, *exc):
        try:
            _setns(self.orig)
        finally:
            os.close(self.orig)


def connect(ns, host, port=REDIS_PORT, timeout=1.0):
    with netns(ns):
        return Resp(host, port, timeout=timeout)


# --------------------------------------------------------------------------
# Processes: every process the lab starts is registered (pid and start time)
# in <root>/pids, so a later run can end exactly those after a crash.

def proc_starttime(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except OSError:
        return None
    return data.rsplit(")", 1)[1].split()[19]


def netns_inode(ns):
    try:
        return os.stat(f"/run/netns/{ns}").st_ino
    except OSError:
        return None


def pid_netns_inode(pid):
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino
    except OSError:
        return None


def lab_namespaces():
    res = run(["ip", "netns", "list"], check=False)
    names = []
    for line in res.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        if name.startswith(PREFIX):
            names.append(name)
    return names


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
    for pidfile in glob.glob(os.path.join(root, "*", "*.pid")):
        try:
            pid = int(open(pidfile).read().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        ino = pid_netns_inode(pid)
        if ino is not None and ino in {netns_inode(n) for n in lab_namespaces()}:
            if kill_pid(pid):
                say_(f"ended stale process {pid} (from {os.path.basename(pidfile)})")


def kill_hooks_in(ns, root):
    """End the toolkit hooks still running in NS: processes whose executable
    is one of the binaries installed under this lab's root (keepalived
    started them; notify hooks are never waited for)."""
    res = run(["ip", "netns", "pids", ns], check=False)
    ended = 0
    for tok in res.stdout.split():
        pid = int(tok)
        if pid == os.getpid():
            continue
        try:
            exe = os.readlink(f"/proc/{pid}/exe")
        except OSError:
            continue
        if exe.startswith(root.rstrip("/") + "/"):
            ended += kill_pid(pid)
    return ended


def teardown_stale(say_=say, keep_root=None):
    """Remove what earlier runs left: their processes, namespaces, roots."""
    roots = [d for d in glob.glob(ROOT_PREFIX + "*")
             if os.path.isdir(d) and d != keep_root]
    for root in roots:
        cleanup_root(root, say_)
    for root in roots:
        for ns in lab_namespaces():
            kill_hooks_in(ns, root)
    for ns in lab_namespaces():
        run(["ip", "netns", "del", ns], check=False)
        say_(f"removed namespace {ns}")
    for root in roots:
        shutil.rmtree(root, ignore_errors=True)
        say_(f"removed {root}")


# --------------------------------------------------------------------------

class Follower:
    """Reads the lines appended to a file since the last call."""

    def __init__(self, path):
        self.path = path
        self.pos = 0
        self.partial = ""

    def lines(self):
        try:
            with open(self.path, errors="replace") as f:
                f.seek(self.pos)
                data = f.read()
                self.pos = f.tell()
        except OSError:
            return []
        data = self.partial + data
        parts = data.split("\n")
        self.partial = parts.pop()
        return parts


class Node:
    def __init__(self, lab, name, ip, peer_ip, priority):
        self.lab = lab
        self.name = name
        self.ns = PREFIX + name
        self.ip = ip
        self.peer_ip = peer_ip
        self.priority = priority
        self.dir = os.path.join(lab.root, name)
        self.data = os.path.join(self.dir, "data")
        self.redis_conf = os.path.join(self.dir, "redis.conf")
        self.redis_log = os.path.join(self.dir, "redis.log")
        self.ka_conf = os.path.join(self.dir, "keepalived.conf")
        self.ka_log = os.path.join(self.dir, "keepalived.log")
        self.toolkit_conf = os.path.join(self.dir, "toolkit.conf")
        self.toolkit_log = os.path.join(self.dir, "toolkit.log")
        self.state_dir = os.path.join(self.dir, "state")
        self.password_file = os.path.join(self.dir, "password")
        self.redis = None
        self.ka = None
        self.ka_state = "stopped"
        self.ka_follow = None
        self.tk_follow = None
        self.run_ids = {}     # run_id prefix -> start time

    def client(self, timeout=1.0):
        return connect(self.ns, "127.0.0.1", REDIS_PORT, timeout)

    def info(self, *sections, timeout=0.5):
        with self.client(timeout) as c:
            return parse_info(c.call("INFO", *sections))

    def redis_state(self):
        try:
            info = self.info("replication", "persistence", "keyspace", timeout=0.3)
        except (OSError, ConnectionError, RedisReplyError):
            return {"role": "down"}
        st = {"role": "replica" if info.get("role") == "slave" else info.get("role", "?"),
              "loading": info.get("loading") == "1",
              "keys": int(re.search(r"keys=(\d+)", info.get("db0", "keys=0")).group(1)),
              "offset": int(info.get("master_repl_offset", 0))}
        if st["role"] == "replica":
            st["master"] = self.lab.name_of(info.get("master_host"))
            st["link"] = info.get("master_link_status")
            st["sync"] = info.get("master_sync_in_progress") == "1"
            st["applied"] = int(info.get("slave_repl_offset", 0))
        return st

    def log_times(self, patterns, since):
        """For each substring in PATTERNS, the time of the first line of the
        Redis log, at or after SINCE, that contains it (or None)."""
        found = dict.fromkeys(patterns)
        try:
            lines = open(self.redis_log, errors="replace").read().splitlines()
        except OSError:
            return found
        for line in lines:
            m = re.match(r"\d+:[A-Z] (\d+ \w+ \d+ \d+:\d+:\d+)(\.\d+) . (.*)", line)
            if not m:
                continue
            t = time.mktime(time.strptime(m.group(1), "%d %b %Y %H:%M:%S")) + float(m.group(2))
            if t < since - 0.001:
                continue
            for p in patterns:
                if found[p] is None and p in m.group(3):
                    found[p] = t
        return found

    def has_vip(self):
        res = run(["ip", "-n", self.ns, "-o", "-4", "addr", "show", "dev", IFNAME], check=False)
        return f" {VIP}/" in res.stdout


def describe_redis(st):
    role = st["role"]
    if role == "replica":
        s = f"replica of {st['master']} (link {st['link']}{', syncing' if st['sync'] else ''})"
    else:
        s = role
    if st.get("loading"):
        s += " loading"
    return s


class Snapshot:
    def __init__(self, t, vip, redis, ka):
        self.t = t
        self.vip = vip          # tuple of node names holding the VIP
        self.redis = redis      # name -> redis_state()
        self.ka = ka            # name -> keepalived state
        self.holder = vip[0] if len(vip) == 1 else None

    def converged(self):
        if self.holder is None:
            return False
        m = self.redis[self.holder]
        others = [n for n in self.redis if n != self.holder]
        if m["role"] != "master" or m.get("loading"):
            return False
        for o in others:
            r = self.redis[o]
            if not (r["role"] == "replica" and r["master"] == self.holder
                    and r["link"] == "up" and not r["sync"]):
                return False
        return True

    def key(self):
        return (self.vip, tuple(sorted(self.ka.items())),
                tuple((n, describe_redis(s)) for n, s in sorted(self.redis.items())))

    def describe(self):
        vip = ",".join(self.vip) or "nobody"
        parts = [f"VIP on {vip}"]
        for n in sorted(self.redis):
            parts.append(f"{n}: keepalived {self.ka[n]}, redis {describe_redis(self.redis[n])}")
        return "; ".join(parts)


class Monitor(threading.Thread):
    """Samples the lab every 0.2 s: who holds the VIP, each keepalived state,
    each Redis role; follows the acknowledged writes and the hooks' logs."""

    def __init__(self, lab):
        super().__init__(daemon=True)
        self.lab = lab
        self.samples = []
        self.events = []
        self.stop_flag = threading.Event()
        self.latest = None
        self.lock = threading.Lock()
        self.on_change = None
        self.error = None

    def run(self):
        last_key = None
        while not self.stop_flag.is_set():
            try:
                snap = self.lab.snapshot()
            except Exception as exc:  # keep sampling; report the first error
                self.error = self.error or repr(exc)
                time.sleep(0.2)
                continue
            with self.lock:
                self.samples.append(snap)
                self.latest = snap
            k = snap.key()
            if k != last_key:
                last_key = k
                self.events.append((snap.t, snap.describe()))
                if self.on_change:
                    self.on_change(snap)
            self.lab.follow_logs()
            self.stop_flag.wait(0.2)

    def stop(self):
        self.stop_flag.set()
        if self.is_alive():
            self.join(timeout=5)


class Acks:
    """The writer's acknowledged writes, read as they are appended."""

    def __init__(self, path):
        self.follow = Follower(path)
        self.rows = []           # (n, t, tag)
        self.max_gap = 0.0
        self.max_gap_at = None

    def update(self):
        for line in self.follow.lines():
            parts = line.split()
            if len(parts) != 3:
                continue
            n, t, tag = int(parts[0]), float(parts[1]), parts[2]
            if self.rows:
                gap = t - self.rows[-1][1]
                if gap > self.max_gap:
                    self.max_gap, self.max_gap_at = gap, self.rows[-1][1]
            self.rows.append((n, t, tag))

    def last_t(self):
        return self.rows[-1][1] if self.rows else None


class Lab:
    def __init__(self, args):
        self.args = args
        self.root = None
        self.lock_fd = None
        self.nodes = {}
        self.monitor = None
        self.writer = None
        self.writer_out = None
        self.acks = None
        self.script_user = SCRIPT_USER
        self.script_user_note = None
        self.keepalived_bin = shutil.which("keepalived") or "/usr/sbin/keepalived"
        self.redis_bin = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.hook_lines = []      # (t, node, line) of the toolkit logs
        self.ka_lines = []        # (t, node, line) of keepalived state changes
        self.log_lock = threading.Lock()
        self.verbose_hooks = True
        self.hard_timeout = 600.0

    # ---- set-up ---------------------------------------------------------

    def name_of(self, ip):
        for n in self.nodes.values():
            if n.ip == ip:
                return n.name
        return ip or "?"

    def other(self, node):
        return next(n for n in self.nodes.values() if n is not node)

    def register(self, proc, what):
        start = proc_starttime(proc.pid) or "0"
        with open(os.path.join(self.root, "pids"), "a") as f:
            f.write(f"{proc.pid} {start} {what}\n")

    def acquire_lock(self):
        self.lock_fd = os.open(LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self.lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self.lock_fd)
            self.lock_fd = None
            raise LabError("another lab run holds the lab lock; run one lab at a time")

    def release_lock(self):
        if self.lock_fd is not None:
            os.close(self.lock_fd)
            self.lock_fd = None

    def prepare(self):
        self.acquire_lock()
        teardown_stale()
        self.root = f"{ROOT_PREFIX}{os.getpid()}"
        os.mkdir(self.root, 0o755)
        os.chmod(self.root, 0o755)
        open(os.path.join(self.root, "pids"), "w").close()
        say(f"lab root {self.root}")
        self.install_toolkit()
        self.ensure_script_user()
        # One password for the hooks' ACL user on both nodes: a hook uses the
        # same credentials for its local Redis and for the peer.
        self.password = secrets.token_hex(16)
        self.nodes = {"a": Node(self, "a", A_IP, B_IP, 254),
                      "b": Node(self, "b", B_IP, A_IP, 253)}
        self.build_network()
        for node in self.nodes.values():
            self.prepare_node(node)
        os.makedirs(os.path.join(self.root, "c"), mode=0o755)

    def install_toolkit(self):
        prefix = os.path.join(self.root, "prefix")
        bindir = os.path.join(prefix, "bin")
        if self.args.bin_dir:
            os.makedirs(bindir, mode=0o755)
            for tool in TOOLS:
                src = os.path.join(self.args.bin_dir, tool)
                if not os.path.isfile(src):
                    raise LabError(f"{src} not found (--bin-dir)")
                shutil.copy(src, os.path.join(bindir, tool))
            how = f"copied from {self.args.bin_dir}"
        else:
            build = self.args.build_dir or os.path.join(REPO, "build")
            if not os.path.exists(os.path.join(build, "cmake_install.cmake")):
                raise LabError(f"{build} is not a configured build dir; build the "
                               "project first (cmake -S . -B build && cmake --build build) "
                               "or pass --bin-dir")
            res = run(["cmake", "--install", build, "--prefix", prefix], check=False,
                      timeout=120)
            with open(os.path.join(self.root, "install.log"), "w") as f:
                f.write(res.stdout + res.stderr)
            if res.returncode != 0:
                raise LabError(f"cmake --install {build} failed: {res.stderr.strip()[-500:]}")
            how = f"cmake --install {build}"
        for tool in TOOLS:
            path = os.path.join(bindir, tool)
            if not os.access(path, os.X_OK):
                raise LabError(f"{path} missing after install ({how})")
        # enable_script_security: keepalived runs a script only if every
        # component of its path is owned by root and not writable by group
        # or others. Make our part so; check the part above us.
        for dirpath, dirnames, filenames in os.walk(prefix):
            for p in [dirpath] + [os.path.join(dirpath, f) for f in filenames]:
                if os.path.islink(p):
                    continue
                os.chown(p, 0, 0)
                os.chmod(p, stat.S_IMODE(os.stat(p).st_mode) & ~0o022)
        p = self.root
        while True:
            st = os.stat(p)
            if st.st_uid != 0 or st.st_mode & 0o022:
                raise Skip(f"{p} is not root-owned or is group/world writable; "
                           "keepalived would refuse scripts below it")
            if p == "/":
                break
            p = os.path.dirname(p)
        self.bindir = bindir
        say(f"toolkit installed in {bindir} ({how})")

    def ensure_script_user(self):
        try:
            pwd.getpwnam(SCRIPT_USER)
            return
        except KeyError:
            pass
        res = run(["useradd", "--system", "--no-create-home", "--shell",
                   "/usr/sbin/nologin", SCRIPT_USER], check=False)
        if res.returncode == 0:
            say(f"created system user {SCRIPT_USER} (the hooks run as it)")
            return
        # Without the user keepalived cannot drop privileges for the hooks;
        # run them as root then, and say so in the rendered config.
        self.script_user = "root"
        self.script_user_note = (f"useradd {SCRIPT_USER} failed ({res.stderr.strip()}): "
                                 "the hooks run as root in this lab")
        say(self.script_user_note)

    def build_network(self):
        for ns in (NS_SWITCH, "rklab-a", "rklab-b", NS_CLIENT):
            run(["ip", "netns", "add", ns])
            run(["ip", "-n", ns, "link", "set", "lo", "up"])
        run(["ip", "-n", NS_SWITCH, "link", "add", BRIDGE, "type", "bridge"])
        run(["ip", "-n", NS_SWITCH, "link", "set", BRIDGE, "up"])
        for name, ns, addr in (("a", "rklab-a", A_IP), ("b", "rklab-b", B_IP),
                               ("c", NS_CLIENT, CLIENT_IP)):
            port = f"{name}-port"
            # Created inside the namespaces: the host's interfaces are never touched.
            run(["ip", "-n", ns, "link", "add", IFNAME, "type", "veth",
                 "peer", "name", port, "netns", NS_SWITCH])
            run(["ip", "-n", NS_SWITCH, "link", "set", port, "master", BRIDGE])
            run(["ip", "-n", NS_SWITCH, "link", "set", port, "up"])
            run(["ip", "-n", ns, "addr", "add", f"{addr}/{NET_LEN}", "dev", IFNAME])
            run(["ip", "-n", ns, "link", "set", IFNAME, "up"])
        say(f"network: a={A_IP} b={B_IP} client={CLIENT_IP} VIP={VIP}/{NET_LEN} "
            f"(bridge {BRIDGE} in {NS_SWITCH})")

    @staticmethod
    def render(sample, pairs):
        path = os.path.join(SAMPLES, sample)
        with open(path) as f:
            text = f.read()
        for old, new in pairs:
            if old not in text:
                raise LabError(f"{path}: placeholder {old!r} not found")
            text = text.replace(old, new)
        return text

    def prepare_node(self, node):
        uid = pwd.getpwnam(self.script_user).pw_uid
        gid = pwd.getpwnam(self.script_user).pw_gid
        os.makedirs(node.data, mode=0o755)
        os.chmod(node.dir, 0o755)
        password = self.password
        with open(node.password_file, "w") as f:
            f.write(password + "\n")
        os.chown(node.password_file, uid, gid)
        os.chmod(node.password_file, 0o600)
        os.mkdir(node.state_dir, 0o700)
        os.chown(node.state_dir, uid, gid)
        open(node.toolkit_log, "a").close()
        os.chown(node.toolkit_log, uid, gid)
        os.chmod(node.toolkit_log, 0o600)

        with open(node.toolkit_conf, "w") as f:
            f.write(self.render("toolkit.conf", [
                (SAMPLE_STATE_DIR, node.state_dir),
                (SAMPLE_LOG_FILE, node.toolkit_log),
                (SAMPLE_PASSWORD_FILE, node.password_file)]))
        os.chmod(node.toolkit_conf, 0o644)

        text = self.render(f"keepalived-node-{node.name}.conf", [
            (SAMPLE_BIN, os.path.join(self.bindir, "redis_")),
            (SAMPLE_TOOLKIT_CONF, node.toolkit_conf),
            (SAMPLE_VIP, VIP),
            (SAMPLE_A_IP, A_IP),
            (SAMPLE_B_IP, B_IP),
            (SAMPLE_IFACE, IFNAME)])
        if self.script_user != SCRIPT_USER:
            text = self.render_script_user_fallback(text)
        with open(node.ka_conf, "w") as f:
            f.write(text)

        acl = [line for line in
               self.render("redis-acl.conf", [(SAMPLE_PASSWORD, password)]).splitlines()
               if line.startswith("user ")]
        with open(node.redis_conf, "w") as f:
            f.write("\n".join([
                f"# redis.conf of lab node {node.name}; CONFIG REWRITE may change it",
                f"port {REDIS_PORT}",
                "bind 0.0.0.0",
                # Reachable only inside the lab's namespaces; the hooks use
                # the ACL user from keepalived/redis-acl.conf.
                "protected-mode no",
                "daemonize no",
                f"dir {node.data}",
                f"logfile {node.redis_log}",
                "appendonly yes",
                "appendfsync everysec",
                # AOF only: no background RDB saves competing with the syncs.
                'save ""',
                ] + acl) + "\n")

    def render_script_user_fallback(self, text):
        old = f"script_user {SCRIPT_USER}"
        if old not in text:
            raise LabError(f"sample lacks {old!r}")
        return text.replace(old, f"# lab: {self.script_user_note}\n    script_user root")

    # ---- processes ------------------------------------------------------

    def start_redis(self, node, wait=True):
        node.redis = subprocess.Popen(
            ["ip", "netns", "exec", node.ns, self.redis_bin, node.redis_conf],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(node.dir, "redis.stderr"), "ab"),
            start_new_session=True)
        self.register(node.redis, f"redis-server {node.name}")
        if wait:
            deadline = time.monotonic() + 20
            while True:
                if node.redis.poll() is not None:
                    raise LabError(f"redis-server on {node.name} exited with "
                                   f"{node.redis.returncode}; see {node.redis_log}")
                try:
                    info = node.info("server", timeout=0.5)
                    node.run_ids[info["run_id"][:8]] = time.time()
                    break
                except (OSError, ConnectionError, RedisReplyError):
                    if time.monotonic() > deadline:
                        raise LabError(f"redis-server on {node.name} not answering")
                    time.sleep(0.05)

    def kill_redis(self, node, sig=signal.SIGKILL):
        if node.redis and node.redis.poll() is None:
            node.redis.send_signal(sig)
            try:
                node.redis.wait(timeout=15)
            except subprocess.TimeoutExpired:
                node.redis.kill()
                node.redis.wait(timeout=5)

    def start_keepalived(self, node):
        logf = open(node.ka_log, "ab")
        node.ka = subprocess.Popen(
            ["ip", "netns", "exec", node.ns, self.keepalived_bin,
             "-n", "-l", "-D", "-G", "-P", "-f", node.ka_conf,
             "-p", os.path.join(node.dir, "keepalived.pid"),
             "-r", os.path.join(node.dir, "vrrp.pid"),
             "-c", os.path.join(node.dir, "checkers.pid")],
            stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
            start_new_session=True, cwd="/")
        logf.close()
        node.ka_state = "starting"
        self.register(node.ka, f"keepalived {node.name}")

    def stop_keepalived(self, node, timeout=10):
        stop_process(node.ka, timeout=timeout)
        node.ka = None

    def start_writer(self, duration=None, rate=200.0):
        # Bounded by the hard timeout, so a writer outlives no lab.
        duration = duration or self.hard_timeout
        cdir = os.path.join(self.root, "c")
        acks = os.path.join(cdir, "acks")
        self.writer_out = os.path.join(cdir, "writer.out")
        self.acks = Acks(acks)
        self.writer = subprocess.Popen(
            ["ip", "netns", "exec", NS_CLIENT, sys.executable, WRITER,
             "--host", VIP, "--port", str(REDIS_PORT), "--out", acks,
             "--duration", str(duration), "--rate", str(rate)],
            stdin=subprocess.DEVNULL, stdout=open(self.writer_out, "wb"),
            stderr=open(os.path.join(cdir, "writer.err"), "wb"),
            start_new_session=True)
        self.register(self.writer, "writer")
        self.writer_started = time.time()
        say(f"writer started in {NS_CLIENT}: SET k:<n> through {VIP}:{REDIS_PORT}, "
            f"{rate:.0f}/s max")

    def stop_writer(self):
        counters = {}
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

    # ---- observation ----------------------------------------------------

    def snapshot(self):
        # Stamped when sampling starts: nothing in it predates the stamp.
        t = time.time()
        vip, redis, ka = [], {}, {}
        for node in self.nodes.values():
            if node.has_vip():
                vip.append(node.name)
            redis[node.name] = node.redis_state()
            ka[node.name] = node.ka_state if node.ka and node.ka.poll() is None else "stopped"
        return Snapshot(t, tuple(vip), redis, ka)

    def follow_logs(self):
        for node in self.nodes.values():
            if node.ka_follow is None:
                node.ka_follow = Follower(node.ka_log)
                node.tk_follow = Follower(node.toolkit_log)
            for line in node.ka_follow.lines():
                m = re.search(r"\(\S+\) Entering (\w+) STATE", line)
                if m:
                    node.ka_state = m.group(1)
                    with self.log_lock:
                        self.ka_lines.append((time.time(), node.name, line.strip()))
                elif "Stopped Keepalived" in line or "Stopping" in line:
                    node.ka_state = "stopping"
            for line in node.tk_follow.lines():
                if not line.strip():
                    continue
                with self.log_lock:
                    self.hook_lines.append((time.time(), node.name, line.strip()))
                if "verdict=" in line and self.verbose_hooks:
                    say(f"hook on {node.name}: {short_hook_line(line)}")
        if self.acks:
            self.acks.update()

    def start_monitor(self, on_change=None):
        self.monitor = Monitor(self)
        self.monitor.on_change = on_change or (lambda s: say(s.describe()))
        self.monitor.start()

    def latest(self):
        deadline = time.monotonic() + 5
        while self.monitor.latest is None:
            if time.monotonic() > deadline:
                raise LabError(f"monitor produced no sample ({self.monitor.error})")
            time.sleep(0.05)
        return self.monitor.latest

    def sample_index(self, since):
        """Index of the first sample taken at or after SINCE (default: the
        latest sample)."""
        with self.monitor.lock:
            samples = self.monitor.samples
            if since is None:
                return max(len(samples) - 1, 0)
            i = len(samples)
            while i > 0 and samples[i - 1].t >= since:
                i -= 1
            return i

    def new_samples(self, idx):
        with self.monitor.lock:
            return self.monitor.samples[idx:]

    def wait_takeover(self, node, since, timeout=30):
        """Wait until NODE holds the VIP and its Redis is master."""
        return self.wait_for(
            lambda s: s.holder == node.name and s.redis[node.name]["role"] == "master",
            timeout, f"node {node.name} to hold the VIP as master", since=since)

    def wait_for(self, pred, timeout, what, since=None):
        """Wait for a sample, taken at or after SINCE, for which PRED holds."""
        self.latest()
        idx = self.sample_index(since)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for snap in self.new_samples(idx):
                idx += 1
                if pred(snap):
                    return snap
            time.sleep(0.05)
        snap = self.latest()
        raise Failed(f"timed out after {timeout:.0f}s waiting for {what}; "
                     f"state: {snap.describe()}")

    def wait_converged(self, timeout=45, stable=2.0, holder=None, since=None):
        """Wait until the pair is converged (with HOLDER holding the VIP, if
        given) and stays so for STABLE seconds; return the first sample of
        that streak. Only samples taken at or after SINCE count."""
        self.latest()
        idx = self.sample_index(since)
        deadline = time.monotonic() + timeout
        first = None
        while time.monotonic() < deadline:
            for snap in self.new_samples(idx):
                idx += 1
                ok = snap.converged() and (holder is None or snap.holder == holder)
                if not ok:
                    first = None
                elif first is None:
                    first = snap
                elif snap.t - first.t >= stable:
                    return first
            time.sleep(0.05)
        snap = self.latest()
        raise Failed(f"not converged after {timeout:.0f}s"
                     f"{' with the VIP on ' + holder if holder else ''}; "
                     f"state: {snap.describe()}")

    def holder_node(self):
        snap = self.latest()
        if snap.holder is None:
            raise Failed(f"no single VIP holder: {snap.describe()}")
        return self.nodes[snap.holder]

    def final_converge_time(self, since_t):
        """Time from SINCE_T to the start of the last converged streak."""
        with self.monitor.lock:
            samples = [s for s in self.monitor.samples if s.t >= since_t]
        start = None
        for s in samples:
            if s.converged():
                if start is None:
                    start = s.t
            else:
                start = None
        return None if start is None else start - since_t

    # ---- verification ---------------------------------------------------

    def wait_replica_caught_up(self, master, replica, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                m = master.info("replication")
                r = replica.info("replication")
                if (r.get("master_link_status") == "up"
                        and int(r.get("slave_repl_offset", -1)) >= int(m["master_repl_offset"])):
                    return True
            except (OSError, ConnectionError, RedisReplyError, KeyError, ValueError):
                pass
            time.sleep(0.1)
        return False

    @staticmethod
    def missing_keys(node, expected):
        """EXPECTED: {key: value}. Return the keys absent or different on NODE."""
        missing = []
        keys = list(expected)
        with node.client(timeout=5) as c:
            for i in range(0, len(keys), 1000):
                chunk = keys[i:i + 1000]
                values = c.call("MGET", *chunk)
                for k, v in zip(chunk, values):
                    if v != expected[k]:
                        missing.append(k)
        return missing

    def verify(self, expected_extra=None):
        """Every acknowledged write on the VIP holder and on its replica."""
        snap = self.latest()
        master = self.nodes[snap.holder]
        replica = self.other(master)
        caught_up = self.wait_replica_caught_up(master, replica)
        expected = {f"k:{n}": str(n) for n, _, _ in self.acks.rows}
        tag_of = {f"k:{n}": tag for n, _, tag in self.acks.rows}
        lost_m = self.missing_keys(master, expected)
        lost_r = self.missing_keys(replica, expected)
        lost = sorted(set(lost_m) | set(lost_r), key=lambda k: int(k[2:]))
        by_node = {}
        for k in lost:
            by_node[self.node_of_tag(tag_of[k])] = by_node.get(self.node_of_tag(tag_of[k]), 0) + 1
        res = {"acked": len(expected), "lost": len(lost), "lost_on_master": len(lost_m),
               "lost_on_replica": len(lost_r), "lost_by_node": by_node,
               "replica_caught_up": caught_up, "lost_sample": lost[:10]}
        if expected_extra:
            em = self.missing_keys(master, expected_extra)
            er = self.missing_keys(replica, expected_extra)
            res["bulk_keys"] = len(expected_extra)
            res["bulk_missing_on_master"] = len(em)
            res["bulk_missing_on_replica"] = len(er)
        return res

    def node_of_tag(self, tag):
        for node in self.nodes.values():
            if tag in node.run_ids:
                return node.name
        return "?"

    def hooks_user(self):
        """Owners of the files the hooks wrote in the state dirs."""
        users = set()
        for node in self.nodes.values():
            for p in glob.glob(os.path.join(node.state_dir, "*")):
                try:
                    users.add(pwd.getpwuid(os.stat(p).st_uid).pw_name)
                except (OSError, KeyError):
                    pass
        return sorted(users)

    def split_brain_logged(self, since=0.0):
        """Nodes whose toolkit log has a split-brain line stamped at or after
        SINCE (the lines start with an ISO-8601 UTC time)."""
        nodes = set()
        with self.log_lock:
            lines = list(self.hook_lines)
        for _, n, line in lines:
            if "split-brain" not in line:
                continue
            m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z", line)
            if m:
                t = calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S"))
                t += float(m.group(2) or 0)
                if t < since - 0.5:
                    continue
            nodes.add(n)
        return sorted(nodes)

    # ---- teardown -------------------------------------------------------

    def teardown(self):
        if self.monitor:
            self.monitor.stop()
        if self.root is None:
            self.release_lock()
            return
        say("tearing down")
        self.stop_writer()
        # Both keepalived at once, so neither has time to take over from the
        # other and start a promotion while the lab is going away.
        for node in self.nodes.values():
            if node.ka and node.ka.poll() is None:
                node.ka.terminate()
        for node in self.nodes.values():
            try:
                self.stop_keepalived(node, timeout=5)
            except Exception as exc:
                say(f"stopping keepalived on {node.name}: {exc}")
        for node in self.nodes.values():
            try:
                self.kill_redis(node, signal.SIGKILL)
            except Exception as exc:
                say(f"stopping redis on {node.name}: {exc}")
        if self.args.artifacts:
            self.save_artifacts(self.args.artifacts)
        cleanup_root(self.root)
        for ns in lab_namespaces():
            kill_hooks_in(ns, self.root)
        for ns in (NS_CLIENT, "rklab-a", "rklab-b", NS_SWITCH):
            run(["ip", "netns", "del", ns], check=False)
        shutil.rmtree(self.root, ignore_errors=True)
        self.release_lock()
        say("lab removed")

    def save_artifacts(self, dest):
        os.makedirs(dest, exist_ok=True)
        for node in self.nodes.values():
            d = os.path.join(dest, node.name)
            os.makedirs(d, exist_ok=True)
            for p in (node.redis_log, node.ka_log, node.toolkit_log, node.redis_conf,
                      node.ka_conf, node.toolkit_conf):
                if os.path.exists(p):
                    shutil.copy(p, d)
            if os.path.isdir(node.state_dir):
                shutil.copytree(node.state_dir, os.path.join(d, "state"), dirs_exist_ok=True)
        for p in glob.glob(os.path.join(self.root, "c", "*")):
            shutil.copy(p, dest)
        if self.monitor:
            with open(os.path.join(dest, "timeline.txt"), "w") as f:
                for t, text in self.monitor.events:
                    f.write(f"{rel(t):8.2f} {text}\n")
        say(f"logs copied to {dest}")

    def log_tails(self, n=25):
        out = []
        for node in self.nodes.values():
            for label, path in (("toolkit", node.toolkit_log), ("keepalived", node.ka_log),
                                ("redis", node.redis_log)):
                try:
                    lines = open(path, errors="replace").read().splitlines()[-n:]
                except OSError:
                    continue
                out.append(f"--- {label} log of {node.name} (last {len(lines)} lines)")
                out.extend(lines)
        return "\n".join(out)

    # ---- common steps ---------------------------------------------------

    def bring_up(self, timeout=45):
        for node in self.nodes.values():
            self.start_redis(node)
        self.start_monitor()
        t = time.time()
        for node in self.nodes.values():
            self.start_keepalived(node)
        since = self.wait_converged(timeout=timeout)
        say(f"pair converged {since.t - t:.1f}s after keepalived started: "
            f"VIP on {since.holder}")
        return since

    def phase(self, text):
        if getattr(self, "demo", False):
            emit(f"\n== {text} ==")
        say(f"== {text}")


def short_hook_line(line):
    # "2026-11-25T12:00:00.123Z redis_master[1234] redis: <message>" -> tool: message
    m = re.match(r"\S+ (\w+)\[\d+\] \S+: (.*)", line.strip())
    return f"{m.group(1)}: {m.group(2)}" if m else line.strip()


# --------------------------------------------------------------------------
# Scenarios. Each returns a dict of figures; it raises Failed when a pass
# criterion does not hold.

def write_figures(lab, counters):
    a = lab.acks
    return {"acked": len(a.rows),
            "write_gap_s": round(a.max_gap, 2),
            "write_gap_at_s": round(rel(a.max_gap_at), 2) if a.max_gap_at else None,
            "writer": counters}


def final_state(lab):
    snap = lab.latest()
    m = snap.holder
    return {"vip": list(snap.vip), "master": m,
            "replica": lab.other(lab.nodes[m]).name if m else None,
            "description": snap.describe()}


def finish(lab, res, event_t, expected_extra=None, allow_loss=False, settle=2.0):
    """Common end: let writes run, stop the writer, check convergence and the
    acknowledged writes."""
    time.sleep(settle)
    since = lab.wait_converged(timeout=45)
    counters = lab.stop_writer()
    res.update(write_figures(lab, counters))
    ct = lab.final_converge_time(event_t)
    res["converge_s"] = round(ct, 2) if ct is not None else round(since.t - event_t, 2)
    res["final"] = final_state(lab)
    res["hooks_ran_as"] = lab.hooks_user()
    lab.follow_logs()
    res["split_brain_logged_on"] = lab.split_brain_logged()
    res.update(lab.verify(expected_extra))
    if res["acked"] == 0:
        raise Failed("the writer got no write acknowledged")
    if res["lost"] and not allow_loss:
        raise Failed(f"{res['lost']} acknowledged writes lost "
                     f"(on master {res['lost_on_master']}, on replica "
                     f"{res['lost_on_replica']}; e.g. {res['lost_sample']})")
    if expected_extra and (res["bulk_missing_on_master"] or res["bulk_missing_on_replica"]):
        raise Failed(f"pre-loaded keys missing: {res['bulk_missing_on_master']} on the "
                     f"master, {res['bulk_missing_on_replica']} on the replica")
    return res


def sc_startup(lab):
    res = {}
    for node in lab.nodes.values():
        lab.start_redis(node)
    lab.start_monitor()
    lab.start_writer()
    t = time.time()
    lab.phase("both keepalived start together")
    for node in lab.nodes.values():
        lab.start_keepalived(node)
    deadline = time.monotonic() + 45
    while not lab.acks.rows:
        if time.monotonic() > deadline:
            raise Failed(f"no write accepted through the VIP within 45s: "
                         f"{lab.latest().describe()}")
        time.sleep(0.05)
    res["first_write_s"] = round(lab.acks.rows[0][1] - t, 2)
    say(f"first write acknowledged through the VIP {res['first_write_s']}s after start")
    lab.wait_converged(timeout=45)
    time.sleep(3)
    return finish(lab, res, t)


def start_under_load(lab):
    """Bring the lab up, let the writer run 3 s; return (VIP holder, other)."""
    lab.bring_up()
    lab.start_writer()
    time.sleep(3)
    m = lab.holder_node()
    return m, lab.other(m)


def sc_crash(lab):
    res = {}
    m, o = start_under_load(lab)
    lab.phase(f"kill -9 the master's Redis (node {m.name}) under load")
    t = time.time()
    lab.kill_redis(m, signal.SIGKILL)
    snap = lab.wait_takeover(o, since=t)
    res["failover_s"] = round(snap.t - t, 2)
    say(f"failover: VIP on {o.name}, its Redis master, {res['failover_s']}s after the kill")
    time.sleep(2)
    lab.phase(f"restart node {m.name}'s Redis from its persistence files")
    t_restart = time.time()
    lab.start_redis(m)
    since = lab.wait_converged(timeout=45, holder=o.name, since=t_restart)
    res["rejoin_s"] = round(since.t - t_restart, 2)
    say(f"node {m.name} rejoined as a replica {res['rejoin_s']}s after its restart")
    return finish(lab, res, t)


def sc_maintenance(lab):
    res = {}
    m, o = start_under_load(lab)
    lab.phase(f"stop keepalived on the master (node {m.name}) with SIGTERM")
    t = time.time()
    lab.stop_keepalived(m)
    snap = lab.wait_takeover(o, since=t)
    res["switchover_s"] = round(snap.t - t, 2)
    say(f"VIP on {o.name}, its Redis master, {res['switchover_s']}s after the stop")
    time.sleep(3)
    lab.phase(f"start keepalived on node {m.name} again")
    t_start = time.time()
    lab.start_keepalived(m)
    since = lab.wait_converged(timeout=45, holder=o.name, since=t)
    # The new master's hook may already have made the old one its replica.
    res["rejoin_s"] = round(max(0.0, since.t - t_start), 2)
    return finish(lab, res, t)


def sc_empty_resync(lab):
    res = {}
    nkeys, delay_us = lab.args.resync_keys, lab.args.resync_delay_us
    lab.bring_up()
    m = lab.holder_node()
    o = lab.other(m)
    lab.phase(f"load {nkeys} keys into the master (node {m.name})")
    bulk = {f"bulk:{i}": str(i) for i in range(nkeys)}
    keys = list(bulk)
    with m.client(timeout=10) as c:
        for i in range(0, nkeys, 1000):
            args = []
            for k in keys[i:i + 1000]:
                args += [k, bulk[k]]
            c.call("MSET", *args)
    if not lab.wait_replica_caught_up(m, o, timeout=30):
        raise Failed(f"node {o.name} did not catch up with the pre-loaded keys")
    lab.start_writer()
    time.sleep(2)
    # Slow the master's RDB production down so a full sync takes well over 10 s.
    with m.client() as c:
        c.call("CONFIG", "SET", "rdb-key-save-delay", str(delay_us))
    lab.phase(f"node {o.name}'s Redis restarts with an empty data dir")
    lab.kill_redis(o, signal.SIGTERM)
    shutil.rmtree(o.data)
    os.mkdir(o.data, 0o755)
    t_restart = time.time()
    lab.start_redis(o)
    snap = lab.wait_for(
        lambda s: (s.redis[o.name]["role"] == "replica" and s.redis[o.name]["sync"]
                   and s.ka[o.name] == "BACKUP"),
        45, f"node {o.name} to be BACKUP with a full sync from {m.name} in progress",
        since=t_restart)
    res["sync_started_s"] = round(snap.t - t_restart, 2)
    say(f"node {o.name} syncing ({snap.redis[o.name]['keys']} keys so far), keepalived BACKUP")
    time.sleep(1)
    lab.phase(f"stop keepalived on node {m.name}: node {o.name} must become master "
              f"while its sync still runs")
    t = time.time()
    lab.stop_keepalived(m)
    snap = lab.wait_takeover(o, since=t, timeout=lab.args.resync_wait)
    res["keys_at_promotion"] = snap.redis[o.name]["keys"]
    # The hook acts within milliseconds of the sync's end, faster than the
    # monitor samples: take the order of events from the replica's own log.
    ev = o.log_times(["MASTER <-> REPLICA sync started", "Full resync from master",
                      "MASTER <-> REPLICA sync: Finished with success", "MASTER MODE enabled"],
                     t_restart)
    started = ev["MASTER <-> REPLICA sync started"]
    done = ev["MASTER <-> REPLICA sync: Finished with success"]
    promoted = ev["MASTER MODE enabled"] or snap.t
    res["promoted_after_s"] = round(promoted - t, 2)
    if started and done:
        res["full_sync_s"] = round(done - started, 2)
        res["sync_still_running_at_request_s"] = round(done - t, 2)
        res["promoted_after_sync_s"] = round(promoted - done, 3)
    say(f"node {o.name} promoted {res['promoted_after_s']}s after the request with "
        f"{res['keys_at_promotion']} keys (full sync took {res.get('full_sync_s')}s, "
        f"{res.get('sync_still_running_at_request_s')}s of it after the request)")
    with m.client() as c:
        c.call("CONFIG", "SET", "rdb-key-save-delay", "0")
    if not (started and done):
        raise Failed(f"no full sync seen in node {o.name}'s Redis log")
    if res["promoted_after_sync_s"] < 0:
        raise Failed(f"node {o.name} was promoted {-res['promoted_after_sync_s']}s "
                     "before its full sync finished")
    if res["sync_still_running_at_request_s"] <= 0:
        raise Failed("the sync was over before the promotion was requested: "
                     "the scenario did not test what it should")
    if res["keys_at_promotion"] < nkeys:
        raise Failed(f"node {o.name} was promoted with {res['keys_at_promotion']} keys "
                     f"of {nkeys} pre-loaded")
    time.sleep(2)
    lab.phase(f"start keepalived on node {m.name} again")
    lab.start_keepalived(m)
    lab.wait_converged(timeout=60, holder=o.name)
    return finish(lab, res, t, expected_extra=bulk)


def isolate(on):
    for port in ("a-port", "b-port"):
        run(["bridge", "-n", NS_SWITCH, "link", "set", "dev", port,
             "isolated", "on" if on else "off"])


def sc_partition(lab):
    res = {}
    m, o = start_under_load(lab)
    lab.phase("partition: the nodes can no longer reach each other "
              "(both still reach the client)")
    t = time.time()
    isolate(True)
    lab.partitioned = True
    snap = lab.wait_for(lambda s: o.name in s.vip and s.redis[o.name]["role"] == "master",
                        30, f"node {o.name} to take the VIP and be master (split brain)",
                        since=t)
    res["second_master_s"] = round(snap.t - t, 2)
    say(f"split brain: {snap.describe()}")
    time.sleep(5)
    lab.phase("heal the partition")
    t_heal = time.time()
    isolate(False)
    lab.partitioned = False
    since = lab.wait_converged(timeout=60, since=t_heal)
    res["heal_converge_s"] = round(since.t - t_heal, 2)
    res = finish(lab, res, t, allow_loss=True)
    time.sleep(0.5)
    lab.follow_logs()
    # Only lines written after the heal count: that is when the two
    # histories meet again.
    res["split_brain_logged_on"] = lab.split_brain_logged(since=t_heal)
    res["winner"] = res["final"]["master"]
    if not res["split_brain_logged_on"]:
        raise Failed("no toolkit log line says split-brain after the heal")
    return res


def sc_switchover(lab):
    res = {"rounds": []}
    rounds = lab.args.rounds
    lab.bring_up()
    lab.start_writer()
    time.sleep(2)
    for i in range(rounds):
        m = lab.holder_node()
        o = lab.other(m)
        lab.phase(f"switchover {i + 1}/{rounds}: stop keepalived on node {m.name}")
        t_i = time.time()
        lab.stop_keepalived(m)
        snap = lab.wait_takeover(o, since=t_i)
        moved = snap.t - t_i
        lab.start_keepalived(m)
        since = lab.wait_converged(timeout=45, holder=o.name, since=t_i)
        res["rounds"].append({"from": m.name, "to": o.name, "vip_moved_s": round(moved, 2),
                              "converged_s": round(since.t - t_i, 2)})
        time.sleep(1)
    # converge_s: from the start of the last switchover.
    return finish(lab, res, t_i)


# --------------------------------------------------------------------------
# Demo

def demo(lab):
    lab.demo = True
    lab.verbose_hooks = False
    res = {}
    emit(f"Failover demo: two nodes (a={A_IP}, b={B_IP}) behind the VIP {VIP}, "
          f"a client at {CLIENT_IP} writing through the VIP.\n")
    emit(f"{'time':>7}  {'VIP':<5} {'node a':<30} {'node b':<30} writes")

    state = {"last_row": 0.0}

    def row(snap):
        acks = lab.acks
        if acks:
            acks_n = len(acks.rows)
            cur = (time.time() - acks.last_t()) if acks.rows else 0.0
            w = f"{acks_n:6d} ok, gap now {cur:4.1f}s, longest {acks.max_gap:4.1f}s"
        else:
            w = "-"
        def node_col(n):
            st = snap.redis[n]
            if st["role"] == "replica":
                r = f"replica of {st['master']}, " + ("syncing" if st["sync"] else st["link"])
            else:
                r = st["role"] + (" loading" if st.get("loading") else "")
            return f"{snap.ka[n]:<8} {r}"[:30]
        emit(f"{rel(snap.t):6.1f}s  {','.join(snap.vip) or '-':<5} {node_col('a'):<30} "
              f"{node_col('b'):<30} {w}")
        state["last_row"] = snap.t

    def on_change(snap):
        row(snap)

    for node in lab.nodes.values():
        lab.start_redis(node)
    lab.start_monitor(on_change)
    lab.phase("start: both keepalived start together; one of them takes the VIP")
    t0 = time.time()
    for node in lab.nodes.values():
        lab.start_keepalived(node)
    lab.wait_converged(timeout=45)
    lab.start_writer()
    time.sleep(4)
    row(lab.latest())
    a, b = lab.nodes["a"], lab.nodes["b"]
    m = lab.holder_node()
    o = lab.other(m)

    lab.phase(f"failover: kill -9 the Redis of node {m.name} (the master)")
    t = time.time()
    lab.kill_redis(m, signal.SIGKILL)
    snap = lab.wait_takeover(o, since=t)
    res["failover_s"] = round(snap.t - t, 2)
    time.sleep(3)
    row(lab.latest())

    lab.phase(f"restart node {m.name}'s Redis: it comes back as a replica")
    lab.start_redis(m)
    lab.wait_converged(timeout=45, holder=o.name)
    row(lab.latest())
    res["lost_after_failover"] = lab.verify()["lost"]
    emit(f"         acknowledged writes lost so far: {res['lost_after_failover']}")
    time.sleep(2)

    lab.phase(f"failback: stop keepalived on node {o.name}, the VIP moves back to {m.name}")
    t = time.time()
    lab.stop_keepalived(o)
    snap = lab.wait_for(lambda s: s.holder == m.name and s.redis[m.name]["role"] == "master",
                        30, f"node {m.name} to take the VIP back", since=t)
    res["failback_s"] = round(snap.t - t, 2)
    time.sleep(2)
    lab.phase(f"start keepalived on node {o.name} again")
    lab.start_keepalived(o)
    lab.wait_converged(timeout=45, holder=m.name)
    row(lab.latest())
    res = finish(lab, res, t)
    emit(f"\nlongest write gap {res['write_gap_s']}s, acknowledged writes {res['acked']}, "
          f"keys lost: {res['lost']}")
    return res


# --------------------------------------------------------------------------

def preflight():
    if os.geteuid() != 0:
        raise Skip("needs root (network namespaces, keepalived)")
    for tool in ("ip", "bridge", "keepalived", "redis-server"):
        if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}"):
            raise Skip(f"{tool} not found (Debian: apt-get install iproute2 keepalived redis-server)")
    probe = f"{PREFIX}probe{os.getpid()}"
    res = run(["ip", "netns", "add", probe], check=False)
    if res.returncode != 0:
        raise Skip(f"ip netns unavailable: {res.stderr.strip()}")
    run(["ip", "netns", "del", probe], check=False)


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
                  ("switchover_s", "VIP moved", "s"),
                  ("second_master_s", "second master after", "s"),
                  ("promoted_after_s", "promoted after", "s"),
                  ("full_sync_s", "full sync took", "s"),
                  ("sync_still_running_at_request_s", "sync left at request", "s"),
                  ("promoted_after_sync_s", "promoted after sync end", "s"),
                  ("keys_at_promotion", "keys at promotion", ""),
                  ("rejoin_s", "old master rejoined", "s"),
                  ("heal_converge_s", "converged after heal", "s"),
                  ("failback_s", "failback", "s"),
                  ("acked", "acknowledged writes", ""),
                  ("lost", "acked writes lost", ""),
                  ("lost_by_node", "lost, by node that acked", ""),
                  ("bulk_keys", "pre-loaded keys", ""),
                  ("write_gap_s", "longest write gap", "s"),
                  ("converge_s", "converged after event", "s"),
                  ("split_brain_logged_on", "split-brain logged on", ""),
                  ("winner", "surviving master", ""),
                  ("hooks_ran_as", "hooks ran as", "")]
        for key, label, unit in labels:
            if key in res and res[key] is not None:
                emit(f"  {label:<26}{res[key]}{unit}")
        for i, r in enumerate(res.get("rounds", [])):
            emit(f"  round {i + 1}: {r['from']} -> {r['to']}: VIP moved {r['vip_moved_s']}s, "
                  f"converged {r['converged_s']}s")
        if "final" in res:
            emit(f"  {'final':<26}{res['final']['description']}")
    if "final" in out:
        out["final"] = {k: v for k, v in out["final"].items() if k != "description"}
    emit(json.dumps(out, sort_keys=True))


def main(argv=None):
    global QUIET
    ap = argparse.ArgumentParser(
        description="End-to-end failover lab: Redis + keepalived in network namespaces.")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--build-dir", help="configured build dir of the project "
                   "(installed into the lab with cmake --install); default ./build")
    g.add_argument("--bin-dir", help="a dir holding the five tool binaries")
    ap.add_argument("--scenario", choices=SCENARIOS)
    ap.add_argument("--demo", action="store_true", help="live failover and failback")
    ap.add_argument("--keep", action="store_true", help="leave the lab up at the end")
    ap.add_argument("--teardown", action="store_true", help="remove a lab left up")
    ap.add_argument("--json", action="store_true", help="print only the JSON result line")
    ap.add_argument("--timeout", type=float, help="hard timeout, seconds")
    ap.add_argument("--artifacts", help="copy the logs here before tearing down")
    ap.add_argument("--rounds", type=int, default=4, help="switchover: rounds")
    ap.add_argument("--resync-keys", type=int, default=50000,
                    help="empty-resync: keys pre-loaded")
    ap.add_argument("--resync-delay-us", type=int, default=300,
                    help="empty-resync: rdb-key-save-delay on the master, microseconds per key")
    ap.add_argument("--resync-wait", type=float, default=90,
                    help="empty-resync: how long to wait for the promotion, seconds")
    args = ap.parse_args(argv)
    if args.build_dir:
        args.build_dir = os.path.abspath(args.build_dir)
    if args.bin_dir:
        args.bin_dir = os.path.abspath(args.bin_dir)
    if args.artifacts:
        args.artifacts = os.path.abspath(args.artifacts)
    QUIET = args.json

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
            teardown_stale()
        finally:
            lab.release_lock()
        say("nothing of the lab is left")
        return EXIT_PASS
    if not args.scenario and not args.demo:
        ap.error("give --scenario NAME, --demo or --teardown")
    name = "demo" if args.demo else args.scenario

    try:
        preflight()
    except Skip as exc:
        emit(f"SKIP: {exc}", sys.stderr)
        print_result(name, "skip", {}, str(exc), 0.0, args.json)
        return EXIT_SKIP

    def on_signal(signum, frame):
        raise Interrupted(f"signal {signal.Signals(signum).name}")

    def on_alarm(signum, frame):
        raise Interrupted(f"hard timeout of {timeout:.0f}s")

    timeout = args.timeout or HARD_TIMEOUT[name]
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    signal.signal(signal.SIGALRM, on_alarm)

    lab = Lab(args)
    lab.hard_timeout = timeout
    res, verdict, reason = {}, "fail", None
    t_start = time.time()
    try:
        signal.alarm(int(timeout))
        lab.prepare()
        fn = demo if args.demo else globals()["sc_" + name.replace("-", "_")]
        res = fn(lab)
        verdict = "pass"
    except Skip as exc:
        verdict, reason = "skip", str(exc)
    except Failed as exc:
        reason = str(exc)
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
        if args.keep and lab.root and verdict != "skip":
            if lab.monitor:
                lab.monitor.stop()
            lab.stop_writer()
            lab.release_lock()
            emit(f"\nThe lab is still up (root {lab.root}). Explore it with:\n"
                  f"  ip netns exec {NS_CLIENT} redis-cli -h {VIP} info replication\n"
                  f"  ip netns exec rklab-a redis-cli role\n"
                  f"  ip -n rklab-a addr show dev {IFNAME}\n"
                  f"  less {lab.root}/a/keepalived.log {lab.root}/a/toolkit.log\n"
                  f"Tear it down with:\n"
                  f"  python3 {os.path.relpath(__file__)} --teardown", sys.stderr)
        else:
            try:
                lab.teardown()
            except Exception as exc:
                say(f"teardown error: {exc!r}")
                reason = reason or f"teardown error: {exc!r}"
                verdict = "fail"
    print_result(name, verdict, res, reason, time.time() - t_start, args.json)
    return {"pass": EXIT_PASS, "skip": EXIT_SKIP}.get(verdict, EXIT_FAIL)


if __name__ == "__main__":
    sys.exit(main())
