"""The lab: two nodes (Redis + keepalived) and a client, set up, brought up
and torn down; or, with --topology sentinel|sentinel3, data nodes that Redis
Sentinel watches (sentinel.py). What runs in them, what is observed of them, what is verified
and what is done to them are its parts:

  lab.procs     starting and stopping Redis, keepalived, the watcher and the
                writers (procs.Processes)
  lab.observer  snapshots of the pair, waiting for its states, the logs
                (observe.Observer)
  lab.verifier  the acknowledged writes on the pair and in the kept copies
                (verify.Verifier)
  lab.faults    what the scenarios do to the nodes, and when each fault was
                noticed (faults.Faults)
"""
import fcntl
import glob
import os
import pwd
import secrets
import shutil
import stat
import time

from . import configs, network, procs, sentinel
from .common import LabError, Skip, emit, rel, run, say
from .configs import REDIS_PORT, SCRIPT_USER
from .faults import Faults
from .network import A_IP, VIP
from .node import Node
from .observe import Observer
from .sentinel import Sentinels
from .tls import LabCerts
from .verify import Verifier

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(os.path.dirname(HERE))
LOCK_FILE = "/run/rklab.lock"
TOOLS = ("redis_check", "redis_master", "redis_backup", "redis_fault", "redis_stop")
# Tools some scenarios use; a build from before them (a baseline) runs the
# others.
OPTIONAL_TOOLS = ("redis_watch", "redis_switchover", "redis_status")


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
        # pair, sentinel or sentinel3 (sentinel.TOPOLOGIES); with Sentinel,
        # what moves the VIP (toolkit or reconfig-script) and its timing.
        self.topology = getattr(args, "topology", None) or "pair"
        self.mover = getattr(args, "vip_mover", None) or "toolkit"
        self.down_after_ms = getattr(args, "down_after_ms", None) or sentinel.DEFAULT_DOWN_AFTER_MS
        # sentinel-switchover: redis_switchover or plain SENTINEL FAILOVER.
        self.switchover_by = getattr(args, "switchover_by", None)
        # (VRRP version, advert_int, down_timer_adverts) of every
        # vrrp_instance, None: the samples' (configs.set_vrrp_timing).
        self.vrrp_timing = tuple(getattr(args, key, None) for key in
                                 ("vrrp_version", "advert_int", "down_timer_adverts"))
        # Whether redis_check runs with --defer-to-watch (Sentinel mode with
        # --watch, when the build has the option).
        self.check_defers = False
        self.sentinels = None
        self.rendered = {}        # node -> what its keepalived.conf says
        self.keepalived_versions = {}  # node -> "2.2.7", from its log
        self.root = None
        self.lock_fd = None
        self.nodes = {}
        self.script_user = SCRIPT_USER
        self.script_user_note = None
        self.hard_timeout = 600.0
        self.demo = False
        # --tls: the run's certificates (LabCerts) and the lab's own client
        # (a TlsClient); None: plain TCP.
        self.use_tls = bool(getattr(args, "tls", False))
        self.certs = None
        self.tls = None
        self.procs = procs.Processes(self)
        self.observer = Observer(self)
        self.verifier = Verifier(self)
        self.faults = Faults(self)

    # ---- set-up ---------------------------------------------------------

    def name_of(self, ip):
        for n in self.nodes.values():
            if n.ip == ip:
                return n.name
        return ip or "?"

    def other(self, node):
        return next(n for n in self.nodes.values() if n is not node)

    def others(self, node):
        return [n for n in self.nodes.values() if n is not node]

    def data_ips(self):
        return {n.ip for n in self.nodes.values()}

    def keepalived_runs(self):
        """Whether the data nodes run keepalived (not with the reconfig
        script of plain Sentinel)."""
        return self.sentinels is None or self.mover == "toolkit"

    def acquire_lock(self, wait=0.0):
        """The lab lock; WAIT: seconds to wait for another run to end."""
        if self.lock_fd is not None:
            return
        deadline = time.monotonic() + wait
        self.lock_fd = os.open(LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        while True:
            try:
                fcntl.flock(self.lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() < deadline:
                    time.sleep(0.5)
                    continue
                os.close(self.lock_fd)
                self.lock_fd = None
                raise LabError("another lab run holds the lab lock; run one lab at a time"
                               + (f" (waited {wait:.0f}s)" if wait else ""))

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
        say(f"nodes run {self.procs.redis_bin} "
            f"({run([self.procs.redis_bin, '--version'], check=False).stdout.strip()})")
        self.ensure_script_user()
        # One password for the hooks' ACL user on both nodes: a hook uses the
        # same credentials for its local Redis and for the peer.
        self.password = secrets.token_hex(16)
        # The toolkit's own on the sentinels (keepalived/redis-sentinel-acl.conf).
        self.sentinel_password = secrets.token_hex(16)
        data, sentinel_only = sentinel.TOPOLOGIES[self.topology]
        # None: the sample's VRRP priority (254 and 253 in the pair's, the
        # same on every node in the Sentinel one's).
        self.nodes = {name: Node(self, name, network.HOSTS[name][1], self.priorities.get(name))
                      for name in data}
        if self.topology != "pair":
            self.sentinels = Sentinels(self, data + sentinel_only)
        if self.use_tls:
            self.certs = LabCerts(os.path.join(self.root, "tls")).make(
                {n.name: n.ip for n in self.nodes.values()}, VIP, self.script_user)
            self.tls = self.certs.client_tls()
            say(f"TLS only: certificates in {self.certs.dir} (CA, a server certificate "
                "per node, the hooks' client certificate)")
        network.build_network(data + sentinel_only + ("c",))
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
        check_help = run([os.path.join(bindir, "redis_check"), "--help"], check=False).stdout
        self.check_can_defer = "--defer-to-watch" in check_help
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
        self.write_secret(node.password_file, self.password)
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
        note = self.script_user_note if self.script_user != SCRIPT_USER else None
        if self.sentinels:
            toolkit_text, text = self.sentinel_mode_configs(node, options, note)
        else:
            toolkit_text = configs.toolkit_conf(node, options, self.keys_unknown_to_build)
            text = configs.keepalived_conf(node, self.bindir, script_user_note=note,
                                           vrrp_script=self.vrrp_script, priority=node.priority,
                                           timing=self.vrrp_timing)
        with open(node.toolkit_conf, "w") as f:
            f.write(toolkit_text)
        os.chmod(node.toolkit_conf, 0o644)
        # What keepalived runs with, for the result (plain Sentinel's
        # reconfig script runs without it).
        if self.keepalived_runs():
            self.rendered[node.name] = {"vrrp_script": configs.vrrp_script_directives(text),
                                        "priority": configs.priority_of(text),
                                        **configs.vrrp_timing_of(text)}
        with open(node.ka_conf, "w") as f:
            f.write(text)
        extra = []
        if self.sentinels:
            # Sentinel must list each replica by its real address, not by the
            # VIP its connection may come from (redis/redis#6536); a starts as
            # the master.
            extra = [f"replica-announce-ip {node.ip}"]
            if node.name != "a":
                extra.append(f"replicaof {A_IP} {REDIS_PORT}")
        with open(node.redis_conf, "w") as f:
            f.write(configs.redis_conf(
                node, self.password,
                self.certs.redis_lines(node.name, REDIS_PORT) if self.certs else None, extra))

    def sentinel_mode_configs(self, node, options, script_user_note):
        """(toolkit.conf, keepalived.conf) of NODE in Sentinel mode, rendered
        from the Sentinel samples as an operator installs them: the lab's
        sentinels, NODE's address as announce-host and unicast_src_ip, every
        other data node in unicast_peer, the sentinels' password; the
        command line's overrides on top (--toolkit, --vrrp-script,
        --priority, the VRRP timing). redis_check keeps the sample's
        --defer-to-watch only beside a watcher of a build that has it."""
        self.check_defers = bool(self.args.watch and self.check_can_defer)
        password_file = os.path.join(node.dir, "sentinel-password")
        self.write_secret(password_file, self.sentinel_password)
        toolkit_text = configs.sentinel_toolkit_conf(
            node, self.sentinels.addresses(), password_file, options,
            self.keys_unknown_to_build)
        text = configs.keepalived_sentinel_conf(
            node, self.bindir, sorted(self.data_ips() - {node.ip}), self.check_defers,
            script_user_note=script_user_note, vrrp_script=self.vrrp_script,
            priority=node.priority, timing=self.vrrp_timing)
        return toolkit_text, text

    def write_secret(self, path, secret):
        """SECRET in PATH, mode 0600, owned by the hooks' user."""
        pw = pwd.getpwnam(self.script_user)
        with open(path, "w") as f:
            f.write(secret + "\n")
        os.chown(path, pw.pw_uid, pw.pw_gid)
        os.chmod(path, 0o600)

    def vrrp_script_seconds(self, key):
        """A timing directive of node a's rendered vrrp_script block, as a
        number (keepalived's default when the block leaves it out)."""
        defaults = {"interval": 1, "fall": 1, "rise": 1}
        value = self.rendered["a"]["vrrp_script"].get(key)
        return float(value) if value is not None else defaults[key]

    def record(self):
        """For the result: what each keepalived ran with (vrrp_script timings,
        priority), and for each Redis the scenario killed, when that was
        noticed (see Faults.record)."""
        out = {"keepalived_conf": self.rendered, "keepalived_version": self.keepalived_versions,
               "kills": self.faults.record(), "tls": self.use_tls, "topology": self.topology}
        if self.sentinels:
            out.update({"vip_mover": self.mover, "down_after_ms": self.down_after_ms,
                        "server": os.path.basename(self.procs.redis_bin),
                        "watch": bool(self.args.watch) and self.mover == "toolkit",
                        "check_defers_to_watch": self.check_defers})
        return out

    # ---- teardown -------------------------------------------------------

    def teardown(self):
        self.observer.stop_monitor()
        if self.root is None:
            self.release_lock()
            return
        say("tearing down")
        self.procs.stop_writer()
        self.procs.stop_nodes()
        if self.args.artifacts:
            self.save_artifacts(self.args.artifacts)
        self.note_keepalived_versions()
        procs.cleanup_root(self.root)
        for ns in network.lab_namespaces():
            procs.kill_hooks_in(ns, self.root)
        # A reconfig script the sentinels started runs as the shell: only its
        # namespace tells it (every process there is the lab's).
        if self.kill_leftovers or self.sentinels:
            hosts = [s.ns for s in self.sentinels.all] if self.sentinels else []
            for ns in sorted({n.ns for n in self.nodes.values()} | set(hosts)):
                ended = procs.kill_all_in(ns)
                if ended:
                    say(f"ended {ended} leftover processes in {ns}")
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
        for s in self.sentinels.all if self.sentinels else ():
            if os.path.isdir(s.dir):
                shutil.copytree(s.dir, os.path.join(dest, s.name, "sentinel"), dirs_exist_ok=True)
        for p in glob.glob(os.path.join(self.root, "c", "*")):
            shutil.copy(p, dest)
        if self.observer.monitor:
            with open(os.path.join(dest, "timeline.txt"), "w") as f:
                for t, text in self.observer.monitor.events:
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
        if self.sentinels:
            return self.bring_up_sentinel(timeout)
        for node in self.nodes.values():
            self.procs.start_redis(node)
        if self.args.watch:
            for node in self.nodes.values():
                self.procs.start_watcher(node)
        self.observer.start_monitor()
        t = time.time()
        for node in self.nodes.values():
            self.procs.start_keepalived(node)
        since = self.observer.wait_converged(timeout=timeout)
        say(f"pair converged {since.t - t:.1f}s after keepalived started: "
            f"VIP on {since.holder}")
        self.require_config_read_as_written()
        return since

    def bring_up_sentinel(self, timeout=45):
        """The data nodes (a master, the others its replicas), the
        sentinels, then what moves the VIP: keepalived on every data node,
        or the VIP put on a by hand (the reconfig script moves it only at a
        failover)."""
        a = self.nodes["a"]
        for node in self.nodes.values():
            self.procs.start_redis(node)
        for node in self.others(a):
            if not self.verifier.wait_replica_caught_up(a, node, timeout=30):
                raise LabError(f"node {node.name} did not start replicating node a")
        self.sentinels.start(a.ip, self.down_after_ms, with_script=self.mover != "toolkit",
                             users=configs.sentinel_acl_users(self.sentinel_password))
        self.sentinels.wait_ready(replicas=len(self.nodes) - 1)
        self.sentinels.start_sampler()
        self.observer.start_monitor()
        t = time.time()
        if self.mover == "toolkit":
            if self.args.watch:
                for node in self.nodes.values():
                    self.procs.start_watcher(node)
            for node in self.nodes.values():
                self.procs.start_keepalived(node)
        else:
            sentinel.add_vip(a)
        since = self.observer.wait_converged(timeout=timeout)
        say(f"converged {since.t - t:.1f}s after the VIP mover started: VIP on {since.holder}, "
            f"named by the sentinels")
        if self.mover == "toolkit":
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
        if self.demo:
            emit(f"\n== {text} ==")
        say(f"== {text}")

