"""The lab: two nodes (Redis + keepalived), the writer, waiting for states of
the pair, verifying the acknowledged writes, tearing everything down."""
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
import tempfile
import threading
import time

from rediskit import (SERVER, RedisReplyError, RedisServer, free_port, parse_info,
                      server_binary, stop_process)
import toolkit_log

from . import configs, network, procs
from .common import Failed, LabError, Skip, emit, rel, run, say
from .configs import REDIS_PORT, SCRIPT_USER
from .network import A_IP, B_IP, NS_CLIENT, VIP, connect
from .observe import Acks, Follower, Monitor, Snapshot
from .tls import LabCerts

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(os.path.dirname(HERE))
WRITER = os.path.join(HERE, "writer.py")
LOCK_FILE = "/run/rklab.lock"
TOOLS = ("redis_check", "redis_master", "redis_backup", "redis_fault", "redis_stop")
# Tools some scenarios use; a build from before them (a baseline) runs the
# others.
OPTIONAL_TOOLS = ("redis_watch", "redis_switchover", "redis_status")


# Valkey 8 logs the replication events with "primary" where Redis 7 says
# "master": "PRIMARY <-> REPLICA sync started", "Full resync from primary",
# "PRIMARY MODE enabled". The scenarios look for Redis's wording.
VALKEY_WORDING = (("PRIMARY <-> REPLICA", "MASTER <-> REPLICA"),
                  ("resync from primary", "resync from master"),
                  ("PRIMARY MODE", "MASTER MODE"))


def redis_wording(text):
    """A line of the server's log in Redis's wording."""
    for valkey, redis in VALKEY_WORDING:
        text = text.replace(valkey, redis)
    return text


class Node:
    def __init__(self, lab, name, ip, peer_ip, priority):
        self.lab = lab
        self.name = name
        self.ns = network.PREFIX + name
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
        # The package's layout: /var/lib/redis-keepalived (owned by the
        # script user) holds the kept copies and the maintenance flag, and
        # the state dir holds redis_watch's track_file.
        self.var_lib = os.path.join(self.dir, "var-lib")
        self.copy_dir = os.path.join(self.var_lib, "copies")
        self.maintenance_file = os.path.join(self.var_lib, "maintenance")
        # keepalived's track_file for redis_watch (the lab runs no watcher
        # unless a scenario starts one: a missing file reads as 0).
        self.track_file = os.path.join(self.state_dir, "redis.watch")
        self.password_file = os.path.join(self.dir, "password")
        self.redis = None
        self.ka = None
        self.watch = None
        self.ka_state = "stopped"
        self.ka_follow = None
        self.tk_follow = None
        self.run_ids = {}     # run_id prefix -> start time

    def client(self, timeout=1.0):
        return connect(self.ns, "127.0.0.1", REDIS_PORT, timeout, tls=self.lab.tls)

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

    def toolkit_line_time(self, text, since):
        """Time of the first line of the node's toolkit log, at or after
        SINCE, that contains TEXT (or None)."""
        try:
            lines = open(self.toolkit_log, errors="replace").read().splitlines()
        except OSError:
            return None
        for line in lines:
            t = toolkit_log.line_time(line)
            if t is not None and t >= since - 0.001 and text in line:
                return t
        return None

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
            text = redis_wording(m.group(3))
            for p in patterns:
                if found[p] is None and p in text:
                    found[p] = t
        return found

    def has_vip(self):
        return network.has_address(self.ns, VIP)


class Lab:
    """ARGS: the command line (see cli.py): the toolkit to install and the
    options the lab runs with (vrrp_script timings, priorities, ...)."""

    def __init__(self, args):
        self.args = args
        # {directive: value or None (keepalived's default)} for vrrp_script.
        self.vrrp_script = dict(getattr(args, "vrrp_script", None) or {})
        # {"a": 254, "b": 253}; empty: the samples' priorities.
        self.priorities = dict(getattr(args, "priority", None) or {})
        self.kill_leftovers = bool(getattr(args, "kill_leftovers", False))
        self.rendered = {}        # node -> what its keepalived.conf says
        self.keepalived_versions = {}  # node -> "2.2.7", from its log
        self.kills = []           # (t, node, signal name) of the Redis kills
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
        # RK_SERVER: redis-server, or valkey-server (which runs in the
        # namespaces the same way, with the same redis.conf).
        self.redis_bin = server_binary() or SERVER
        self.hook_lines = []      # (t, node, line) of the toolkit logs
        self.ka_lines = []        # (t, node, line) of keepalived state changes
        self.log_lock = threading.Lock()
        self.verbose_hooks = True
        self.hard_timeout = 600.0
        # --tls: the run's certificates (LabCerts) and the lab's own client
        # (a TlsClient); None: plain TCP.
        self.use_tls = bool(getattr(args, "tls", False))
        self.certs = None
        self.tls = None

    # ---- set-up ---------------------------------------------------------

    def name_of(self, ip):
        for n in self.nodes.values():
            if n.ip == ip:
                return n.name
        return ip or "?"

    def other(self, node):
        return next(n for n in self.nodes.values() if n is not node)

    def register(self, proc, what):
        procs.register(self.root, proc, what)

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
        procs.teardown_stale()
        self.root = f"{procs.ROOT_PREFIX}{os.getpid()}"
        os.mkdir(self.root, 0o755)
        os.chmod(self.root, 0o755)
        open(os.path.join(self.root, "pids"), "w").close()
        say(f"lab root {self.root}")
        self.install_toolkit()
        say(f"nodes run {self.redis_bin} "
            f"({run([self.redis_bin, '--version'], check=False).stdout.strip()})")
        self.ensure_script_user()
        # One password for the hooks' ACL user on both nodes: a hook uses the
        # same credentials for its local Redis and for the peer.
        self.password = secrets.token_hex(16)
        self.nodes = {"a": Node(self, "a", A_IP, B_IP, self.priorities.get("a")),
                      "b": Node(self, "b", B_IP, A_IP, self.priorities.get("b"))}
        if self.use_tls:
            self.certs = LabCerts(os.path.join(self.root, "tls")).make(
                {n.name: n.ip for n in self.nodes.values()}, VIP, self.script_user)
            self.tls = self.certs.client_tls()
            say(f"TLS only: certificates in {self.certs.dir} (CA, a server certificate "
                "per node, the hooks' client certificate)")
        network.build_network()
        for node in self.nodes.values():
            self.prepare_node(node)
        os.makedirs(os.path.join(self.root, "c"), mode=0o755)

    def install_toolkit(self):
        prefix = os.path.join(self.root, "prefix")
        bindir = os.path.join(prefix, "bin")
        if self.args.bin_dir:
            os.makedirs(bindir, mode=0o755)
            for tool in TOOLS + OPTIONAL_TOOLS:
                src = os.path.join(self.args.bin_dir, tool)
                if not os.path.isfile(src):
                    if tool in OPTIONAL_TOOLS:
                        continue
                    raise LabError(f"{src} not found (--bin-dir)")
                shutil.copy(src, os.path.join(bindir, tool))
            # TLS support (rk-openssl.so, a static redis_check's twin): the
            # tools find it beside bin/, at the same place as in the build.
            for private in glob.glob(os.path.join(self.args.bin_dir, os.pardir, "lib*", "**",
                                                  "redis-keepalived"), recursive=True):
                shutil.copytree(private, os.path.join(prefix, os.path.relpath(
                    private, os.path.join(self.args.bin_dir, os.pardir))))
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
        # A build from before kept copies (a baseline in bench/) refuses the
        # sample's copy-dir key: the lab leaves it out for such a build.
        status = os.path.join(bindir, "redis_status")
        help_text = run([status, "--help"], check=False).stdout if os.path.exists(status) else ""
        self.keys_unknown_to_build = {key for key in ("copy-dir", "maintenance-file")
                                      if f"--{key}" not in help_text}
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

    def prepare_node(self, node):
        uid = pwd.getpwnam(self.script_user).pw_uid
        gid = pwd.getpwnam(self.script_user).pw_gid
        os.makedirs(node.data, mode=0o755)
        os.chmod(node.dir, 0o755)
        with open(node.password_file, "w") as f:
            f.write(self.password + "\n")
        os.chown(node.password_file, uid, gid)
        os.chmod(node.password_file, 0o600)
        for d in (node.state_dir, node.var_lib, node.copy_dir):
            os.mkdir(d, 0o700)
            os.chown(d, uid, gid)
        open(node.toolkit_log, "a").close()
        os.chown(node.toolkit_log, uid, gid)
        os.chmod(node.toolkit_log, 0o600)

        options = self.args.toolkit
        if self.certs:
            # --toolkit wins, as for every other key.
            options = {**self.certs.toolkit_options(), **options}
        with open(node.toolkit_conf, "w") as f:
            f.write(configs.toolkit_conf(node, options, self.keys_unknown_to_build))
        os.chmod(node.toolkit_conf, 0o644)
        text = configs.keepalived_conf(
            node, self.bindir,
            script_user_note=self.script_user_note if self.script_user != SCRIPT_USER else None,
            vrrp_script=self.vrrp_script, priority=node.priority)
        # What keepalived runs with, for the result.
        self.rendered[node.name] = {"vrrp_script": configs.vrrp_script_directives(text),
                                    "priority": configs.priority_of(text)}
        with open(node.ka_conf, "w") as f:
            f.write(text)
        with open(node.redis_conf, "w") as f:
            f.write(configs.redis_conf(
                node, self.password,
                self.certs.redis_lines(node.name, REDIS_PORT) if self.certs else None))

    # ---- processes ------------------------------------------------------

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

    def kill_redis(self, node, sig=signal.SIGKILL):
        """A fault: end NODE's Redis with SIG; the result records when."""
        if node.redis and node.redis.poll() is None:
            self.kills.append((time.time(), node.name, signal.Signals(sig).name))
        self.end_redis(node, sig)

    def freeze_redis(self, node, frozen=True):
        """A fault: SIGSTOP NODE's Redis (alive, its sockets open, silent),
        or SIGCONT it again."""
        if node.redis and node.redis.poll() is None:
            if frozen:
                self.kills.append((time.time(), node.name, "SIGSTOP"))
            node.redis.send_signal(signal.SIGSTOP if frozen else signal.SIGCONT)

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

    def start_watcher(self, node):
        """redis_watch in NODE's namespace, as the package's unit runs it,
        writing the track_file its keepalived watches."""
        binary = os.path.join(self.bindir, "redis_watch")
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
        pw = pwd.getpwnam(self.script_user)
        return ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--clear-groups", "--"]

    def run_switchover(self, node, peer, timeout=60):
        """redis_switchover on NODE (the VIP holder) towards PEER, as an
        operator runs it: the node's toolkit.conf and keepalived.conf."""
        binary = os.path.join(self.bindir, "redis_switchover")
        if not os.access(binary, os.X_OK):
            raise LabError(f"{binary} missing: this build has no redis_switchover")
        res = run(["ip", "netns", "exec", node.ns, *self.as_script_user(), binary, "--config",
                   node.toolkit_conf,
                   "--keepalived-conf", node.ka_conf, "127.0.0.1", network.HOSTS[peer.name][1],
                   str(REDIS_PORT)], check=False, timeout=timeout)
        with open(os.path.join(node.dir, "switchover.log"), "a") as f:
            f.write(res.stderr)
        return res

    def kill_watcher(self, node):
        """A fault: kill -9 NODE's watcher (its last value stays in the file)."""
        if node.watch and node.watch.poll() is None:
            self.kills.append((time.time(), node.name, "watcher SIGKILL"))
            node.watch.kill()
            node.watch.wait(timeout=10)

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
             "--duration", str(duration), "--rate", str(rate), *self.writer_tls_args()],
            stdin=subprocess.DEVNULL, stdout=open(self.writer_out, "wb"),
            stderr=open(os.path.join(cdir, "writer.err"), "wb"),
            start_new_session=True)
        self.register(self.writer, "writer")
        self.writer_started = time.time()
        say(f"writer started in {NS_CLIENT}: SET k:<n> through {VIP}:{REDIS_PORT}, "
            f"{rate:.0f}/s max")

    def writer_tls_args(self):
        return self.tls.args() if self.tls else []

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
                    say(f"hook on {node.name}: {toolkit_log.short_line(line)}")
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

    def first_snapshot(self, pred, since):
        """The first sample taken at or after SINCE for which PRED holds, or
        the latest sample when none does."""
        for snap in self.new_samples(self.sample_index(since)):
            if pred(snap):
                return snap
        return self.latest()

    def vrrp_script_seconds(self, key):
        """A timing directive of node a's rendered vrrp_script block, as a
        number (keepalived's default when the block leaves it out)."""
        defaults = {"interval": 1, "fall": 1, "rise": 1}
        value = self.rendered["a"]["vrrp_script"].get(key)
        return float(value) if value is not None else defaults[key]

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
        self.last_lost, self.last_expected = lost, expected
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

    def keys_in_kept_copies(self, wanted):
        """Reads back every copy the hooks kept (a redis-server on loopback
        started on it, as the man page tells operators). WANTED: {key:
        value}. Returns (the keys of WANTED some copy holds, one row per
        copy)."""
        found, copies = set(), []
        for node in self.nodes.values():
            for name in sorted(os.listdir(node.copy_dir)):
                if not name.endswith(".rdb"):
                    continue
                path = os.path.join(node.copy_dir, name)
                data = tempfile.mkdtemp(prefix="rklab-copy-")
                srv = self.copy_server(node, data)
                try:
                    shutil.copy(path, os.path.join(data, "dump.rdb"))
                    srv.start()
                    held = set(wanted) - set(self.missing_keys(srv, wanted)) if wanted else set()
                finally:
                    srv.cleanup()
                    shutil.rmtree(data, True)
                found |= held
                copies.append({"node": node.name, "file": name, "bytes": os.path.getsize(path),
                               "wanted_keys_in_it": len(held)})
        return found, copies

    def copy_server(self, node, data):
        """The loopback server that reads a kept copy back: with --tls,
        TLS only (NODE's server certificate, which names 127.0.0.1) and
        read with the lab's client certificate."""
        extra = ["dbfilename dump.rdb"]
        if not self.certs:
            return RedisServer(data_dir=data, extra_config=extra)
        port = free_port()
        # RedisServer writes port 0 and tls-port itself.
        tls_lines = [ln for ln in self.certs.redis_lines(node.name, port)
                     if not ln.startswith(("port ", "tls-port "))]
        return RedisServer(port=port, data_dir=data, extra_config=extra + tls_lines,
                           tls=self.tls)

    def check_kept_copies(self):
        """The acknowledged writes missing from the pair (the last verify())
        that a kept copy holds."""
        lost = getattr(self, "last_lost", [])
        found, copies = self.keys_in_kept_copies({k: self.last_expected[k] for k in lost})
        return {"kept_copies": copies, "lost_in_copies": len(found),
                "lost_not_in_copies": len(lost) - len(found)}

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

    def stop_local_writer(self, proc, acks):
        stop_process(proc)
        acks.update()
        return {f"k:{n}": str(n) for n, _, _ in acks.rows}

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

    def split_brain_logged(self, since=0.0, text="split-brain"):
        """Nodes whose toolkit log has a line with TEXT stamped at or after
        SINCE (the lines start with an ISO-8601 UTC time)."""
        nodes = set()
        with self.log_lock:
            lines = list(self.hook_lines)
        for _, n, line in lines:
            if text not in line:
                continue
            t = toolkit_log.line_time(line)
            if t is not None and t < since - 0.5:
                continue
            nodes.add(n)
        return sorted(nodes)

    def record(self):
        """For the result: what each keepalived ran with (vrrp_script timings,
        priority), and for each Redis the scenario killed, when that was
        noticed. Unix times; None where it did not happen:
          fault_t            the killed node's keepalived entered FAULT (seen
                             in its log, read every 0.2 s)
          fault_logged_t     the killed node's redis_fault wrote its first
                             line (the line's own time, 1 ms resolution)
          master_t           the other node's keepalived entered MASTER (seen)
          promoted_seen_t    the other node's redis_master logged its verdict
                             (seen)
          promoted_logged_t  the other node's redis_master logged "promoted"
                             (the line's own time)"""
        with self.log_lock:
            ka_lines, hook_lines = list(self.ka_lines), list(self.hook_lines)

        def first(lines, node, pred, logged=False):
            for seen, n, line in lines:
                if n != node or seen < t_kill or not pred(line):
                    continue
                if not logged:
                    return round(seen, 3)
                lt = toolkit_log.line_time(line)
                if lt is not None and lt >= t_kill:
                    return round(lt, 3)
            return None

        kills = []
        for t_kill, name, sig in self.kills:
            other = self.other(self.nodes[name]).name
            kills.append({
                "node": name, "signal": sig, "t": round(t_kill, 3),
                "fault_t": first(ka_lines, name, lambda ln: "Entering FAULT STATE" in ln),
                "fault_logged_t": first(hook_lines, name,
                                        lambda ln: toolkit_log.line_tool(ln) == "redis_fault",
                                        logged=True),
                "master_t": first(ka_lines, other, lambda ln: "Entering MASTER STATE" in ln),
                "promoted_seen_t": first(
                    hook_lines, other,
                    lambda ln: toolkit_log.line_tool(ln) == "redis_master" and "verdict=" in ln),
                "promoted_logged_t": first(
                    hook_lines, other,
                    lambda ln: (toolkit_log.line_tool(ln) == "redis_master"
                                and re.search(r": promoted\b", ln) is not None),
                    logged=True)})
        return {"keepalived_conf": self.rendered, "keepalived_version": self.keepalived_versions,
                "kills": kills, "tls": self.use_tls}

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
                self.end_redis(node, signal.SIGKILL)
            except Exception as exc:
                say(f"stopping redis on {node.name}: {exc}")
        if self.args.artifacts:
            self.save_artifacts(self.args.artifacts)
        self.note_keepalived_versions()
        procs.cleanup_root(self.root)
        for ns in network.lab_namespaces():
            procs.kill_hooks_in(ns, self.root)
        if self.kill_leftovers:
            for node in self.nodes.values():
                ended = procs.kill_all_in(node.ns)
                if ended:
                    say(f"ended {ended} leftover processes in {node.ns}")
        network.remove_network()
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
        if self.args.watch:
            for node in self.nodes.values():
                self.start_watcher(node)
        self.start_monitor()
        t = time.time()
        for node in self.nodes.values():
            self.start_keepalived(node)
        since = self.wait_converged(timeout=timeout)
        say(f"pair converged {since.t - t:.1f}s after keepalived started: "
            f"VIP on {since.holder}")
        self.require_config_read_as_written()
        return since

    def note_keepalived_versions(self):
        """Reads each node's keepalived log: its version for the result, and
        {node: log text}."""
        logs = {}
        for node in self.nodes.values():
            try:
                with open(node.ka_log, errors="replace") as f:
                    logs[node.name] = f.read()
            except OSError:
                continue
            version = configs.keepalived_version(logs[node.name])
            if version:
                self.keepalived_versions[node.name] = version
        return logs

    def require_config_read_as_written(self):
        """A keepalived that rewrote a line of its config (keepalived 2.2.7
        runs "interval 0.3" every second, after a warning) measures other
        timings than the result would say: stop the run with its words."""
        for name, text in self.note_keepalived_versions().items():
            complaints = configs.config_complaints(text)
            if complaints:
                version = self.keepalived_versions.get(name, "(version unknown)")
                hint = ""
                fractional = configs.fractional_vrrp_script(self.vrrp_script)
                if fractional:
                    hint = (f"; {', '.join(f'{k} {v}' for k, v in fractional.items())} needs "
                            "keepalived 2.3.2 or later")
                raise LabError(f"keepalived {version} on {name} did not read its config as "
                               f"written{hint}: {complaints[0]}")

    def phase(self, text):
        if getattr(self, "demo", False):
            emit(f"\n== {text} ==")
        say(f"== {text}")

