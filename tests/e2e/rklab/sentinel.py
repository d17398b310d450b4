"""The Sentinel topologies: Redis Sentinel decides who is master, and the VIP
follows it, moved either by keepalived with the toolkit in Sentinel mode or
by a `client-reconfig-script` of the kind public examples use.

    sentinel   data nodes a, b (redis-server + sentinel [+ keepalived]) and
               rklab-s, a host that runs only a sentinel
    sentinel3  data nodes a, b, d (redis-server + sentinel [+ keepalived])

Every sentinel monitors node a's real address (never the VIP) with quorum 2;
the data nodes announce their real addresses (replica-announce-ip), and b
(and d) start as replicas of a. The lab reads each sentinel on 127.0.0.1
inside its own namespace, so a partition between the hosts never hides a
sentinel's view from the lab.
"""
import os
import shutil
import socket
import subprocess
import threading
import time

from rediskit import RedisReplyError

from . import configs, network
from .common import LabError, run, say
from .configs import REDIS_PORT
from .network import IFNAME, NET_LEN, VIP, connect

SENTINEL_PORT = 26379
MASTER_NAME = "mymaster"
QUORUM = 2
# topology -> (data nodes, hosts that run only a sentinel).
TOPOLOGIES = {"pair": (("a", "b"), ()),
              "sentinel": (("a", "b"), ("s",)),
              "sentinel3": (("a", "b", "d"), ())}
MOVERS = ("toolkit", "reconfig-script")
# What sentinel-switchover runs (--switchover-by): the toolkit's switchover
# in Sentinel mode (the default with the toolkit), or plain SENTINEL
# FAILOVER (the reconfig script's only one, and the toolkit's baseline).
SWITCHOVER_TOOL = "redis_switchover"
SWITCHOVER_BY = (SWITCHOVER_TOOL, "sentinel-failover")
# Redis's own Sentinel tests run with these (tests/sentinel/tests/includes).
DEFAULT_DOWN_AFTER_MS = 2000
FAILOVER_TIMEOUT_MS = 10000
SAMPLE_PERIOD = 0.1
# What keepalived runs with by default when the toolkit moves the VIP: the
# Sentinel sample's (see the README's "Which keepalived settings"), as
# shipped VRRPv3 with adverts every 0.1 s,
# so a node that leaves FAULT waits 0.3 s for the master-down timer instead
# of about 3 s (keepalived's try_up_instance), and redis_watch beside the
# check, whose track file follows +switch-master within milliseconds
# (redis_check --defer-to-watch where the build has it). Measured with
# bench/run --only sentinel-lab against plain Sentinel's reconfig script.
TOOLKIT_VRRP = configs.sentinel_sample_timing()
TOOLKIT_WATCH = True
ARPING = shutil.which("arping") or "/usr/bin/arping"


def sentinel_conf(ip, monitor_ip, directory, log, down_after_ms, script=None, users=()):
    """A fresh sentinel.conf for the sentinel on IP: no `sentinel myid` (a
    cloned id makes sentinels ignore each other), its own writable
    directory, as Sentinel rewrites the file through a temporary one; USERS:
    ACL `user` lines (the toolkit's, from the sample; the default user stays
    open to the lab and to the other sentinels)."""
    lines = [f"# sentinel.conf of the lab's sentinel on {ip}; Sentinel rewrites it",
             f"port {SENTINEL_PORT}",
             f"bind {ip} 127.0.0.1",
             "protected-mode no",
             "daemonize no",
             f"dir {directory}",
             f"logfile {log}",
             f"sentinel announce-ip {ip}",
             f"sentinel monitor {MASTER_NAME} {monitor_ip} {REDIS_PORT} {QUORUM}",
             f"sentinel down-after-milliseconds {MASTER_NAME} {down_after_ms}",
             f"sentinel failover-timeout {MASTER_NAME} {FAILOVER_TIMEOUT_MS}",
             f"sentinel parallel-syncs {MASTER_NAME} 1"]
    if script:
        lines.append(f"sentinel client-reconfig-script {MASTER_NAME} {script}")
    return "\n".join(lines + list(users)) + "\n"


def reconfig_script(my_ip, log):
    """The client-reconfig-script of the host at MY_IP, as public examples
    write it: Sentinel runs it with <master-name> <role> <state> <from-ip>
    <from-port> <to-ip> <to-port> (the leader at the promotion, the others
    when a hello message tells them of the new configuration), and the VIP
    goes where $6 says, announced with iputils' arping (-A: unsolicited ARP
    replies; without them the client keeps the old node's MAC address until
    its neighbour entry expires, tens of seconds)."""
    ip = shutil.which("ip") or "/usr/sbin/ip"
    return f"""#!/bin/sh
# client-reconfig-script: the VIP follows Sentinel's new master.
MASTER_IP=$6
MY_IP={my_ip}
VIP={VIP}
echo "$(date +%s.%N) $*" >> {log}
if [ "$MASTER_IP" = "$MY_IP" ]; then
    {ip} addr add $VIP/{NET_LEN} dev {IFNAME}
    {ARPING} -q -c 3 -A $VIP -I {IFNAME}
    exit 0
else
    {ip} addr del $VIP/{NET_LEN} dev {IFNAME}
    exit 0
fi
"""


def missing_arping():
    """Why the reconfig script cannot announce the VIP here, or None."""
    try:
        out = subprocess.run([ARPING, "-V"], capture_output=True, text=True, timeout=5)
    except OSError:
        return "arping not found (Debian: apt-get install iputils-arping)"
    if "iputils" not in out.stdout + out.stderr:
        return f"{ARPING} is not iputils' arping (Debian: apt-get install iputils-arping)"
    return None


def holds_address(ns, addr):
    """Whether ADDR is a local address in NS: bind() to a non-local address
    fails (EADDRNOTAVAIL, ip_nonlocal_bind is 0 in a new namespace). Cheaper
    than running `ip` ten times a second per node."""
    with network.netns(ns):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind((addr, 0))
        return True
    except OSError:
        return False
    finally:
        s.close()


class Sentinel:
    """The sentinel on host NAME of LAB: its files, its process and the
    lab's connection to it (inside its namespace, on 127.0.0.1)."""

    def __init__(self, lab, name):
        self.lab = lab
        self.name = name
        self.ns, self.ip = network.HOSTS[name]
        self.dir = os.path.join(lab.root, name, "sentinel")
        self.conf = os.path.join(self.dir, "sentinel.conf")
        self.log = os.path.join(self.dir, "sentinel.log")
        self.script = os.path.join(self.dir, "reconfig.sh")
        self.script_log = os.path.join(self.dir, "reconfig.log")
        self.proc = None
        self.conn = None
        self.lock = threading.Lock()

    def write_files(self, monitor_ip, down_after_ms, with_script, users):
        os.makedirs(self.dir, mode=0o755, exist_ok=True)
        if with_script:
            with open(self.script, "w") as f:
                f.write(reconfig_script(self.ip, self.script_log))
            os.chmod(self.script, 0o755)
        with open(self.conf, "w") as f:
            f.write(sentinel_conf(self.ip, monitor_ip, self.dir, self.log, down_after_ms,
                                  self.script if with_script else None, users))

    def call(self, *args, timeout=0.3):
        """One command on a kept connection; a connection that failed is
        never reused (a late reply would answer the next command)."""
        with self.lock:
            try:
                if self.conn is None:
                    self.conn = connect(self.ns, "127.0.0.1", SENTINEL_PORT, timeout)
                return self.conn.call(*args)
            except (OSError, ConnectionError):
                self.close()
                raise

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def names(self):
        """The data node this sentinel names as master (GET-MASTER-ADDR-BY-
        NAME), "?" for an address that is no data node, None when it does
        not answer."""
        try:
            addr = self.call("SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME)
        except (OSError, ConnectionError, RedisReplyError):
            return None
        if not addr:
            return None
        return self.lab.name_of(addr[0]) if addr[0] in self.lab.data_ips() else "?"

    def master_fields(self):
        reply = self.call("SENTINEL", "MASTER", MASTER_NAME)
        return dict(zip(reply[::2], reply[1::2]))


class VipSampler(threading.Thread):
    """Every 0.1 s: which data nodes hold the VIP, and what each sentinel
    names (so what a strict majority of them names)."""

    def __init__(self, sentinels):
        super().__init__(daemon=True)
        self.sentinels = sentinels
        self.samples = []         # (t, holders, majority, views)
        self.lock = threading.Lock()
        self.stop_flag = threading.Event()
        self.error = None

    def run(self):
        nodes = list(self.sentinels.lab.nodes.values())
        while not self.stop_flag.is_set():
            t = time.time()
            try:
                holders = tuple(n.name for n in nodes if holds_address(n.ns, VIP))
                views = self.sentinels.views()
            except Exception as exc:  # keep sampling; report the first error
                self.error = self.error or repr(exc)
            else:
                with self.lock:
                    self.samples.append((t, holders, majority(views), views))
            self.stop_flag.wait(max(0.0, SAMPLE_PERIOD - (time.time() - t)))

    def latest(self):
        with self.lock:
            return self.samples[-1] if self.samples else None

    def stop(self):
        self.stop_flag.set()
        if self.is_alive():
            self.join(timeout=5)

    def unnamed_holders(self, since, until=None):
        """The longest time, from SINCE (to UNTIL), that some node held the
        VIP while the majority of the sentinels did not name it (or named
        no one): (seconds, node or None, the first sample of that streak or
        None). A streak runs from its first sample to the first sample
        that no longer shows it, so it is measured to one SAMPLE_PERIOD."""
        with self.lock:
            samples = [s for s in self.samples if s[0] >= since and (until is None or s[0] <= until)]
        longest, who, began = 0.0, None, None
        start = {}                # node -> first sample of its current streak
        for t, holders, named, _ in samples:
            for node in list(start):
                if node not in holders or node == named:
                    t0 = start.pop(node)
                    if t - t0 > longest:
                        longest, who, began = t - t0, node, t0
            for node in holders:
                if node != named and node not in start:
                    start[node] = t
        end = samples[-1][0] if samples else since
        for node, t0 in start.items():
            if end - t0 > longest:
                longest, who, began = end - t0, node, t0
        return round(longest, 2), who, began

    def named_to_vip(self, since, node):
        """(seconds from SINCE to the first sample in which the majority
        names NODE, seconds from then to the first sample in which NODE
        alone holds the VIP (negative: the VIP came first)), 0.1 s
        resolution; None where no sample shows it."""
        with self.lock:
            samples = [s for s in self.samples if s[0] >= since]
        named = next((t for t, _, m, _ in samples if m == node), None)
        held = next((t for t, h, _, _ in samples if h == (node,)), None)
        return (None if named is None else round(named - since, 2),
                None if named is None or held is None else round(held - named, 2))


def majority(views):
    """The data node a strict majority of VIEWS (one entry per configured
    sentinel) names, or None."""
    counts = {}
    for v in views.values():
        if v is not None:
            counts[v] = counts.get(v, 0) + 1
    for node, n in counts.items():
        if n > len(views) // 2:
            return node
    return None


class Sentinels:
    """The sentinels of LAB's Sentinel topology, started, read and ended."""

    def __init__(self, lab, hosts):
        self.lab = lab
        self.all = [Sentinel(lab, h) for h in hosts]
        self.sampler = None

    def addresses(self):
        return [f"{s.ip}:{SENTINEL_PORT}" for s in self.all]

    def start(self, monitor_ip, down_after_ms, with_script, users=()):
        """USERS: ACL `user` lines for every sentinel."""
        binary = self.lab.procs.redis_bin
        for s in self.all:
            s.write_files(monitor_ip, down_after_ms, with_script, users)
            # redis-server (or valkey-server) CONF --sentinel, as a root
            # process of the lab: a reconfig script runs with its rights.
            s.proc = subprocess.Popen(
                ["ip", "netns", "exec", s.ns, binary, s.conf, "--sentinel"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=open(os.path.join(s.dir, "sentinel.stderr"), "ab"),
                start_new_session=True)
            self.lab.procs.register(s.proc, f"sentinel {s.name}")
        say(f"sentinels on {', '.join(f'{s.name} ({s.ip})' for s in self.all)} monitor "
            f"{MASTER_NAME} at {monitor_ip}:{REDIS_PORT}, quorum {QUORUM}, down-after "
            f"{down_after_ms} ms, failover-timeout {FAILOVER_TIMEOUT_MS} ms")

    def wait_ready(self, replicas, timeout=30):
        """Until every sentinel knows the others and REPLICAS replicas."""
        deadline = time.monotonic() + timeout
        want = len(self.all) - 1
        while True:
            state = {}
            for s in self.all:
                if s.proc.poll() is not None:
                    raise LabError(f"the sentinel on {s.name} exited with {s.proc.returncode}; "
                                   f"see {s.log}")
                try:
                    f = s.master_fields()
                    state[s.name] = (int(f["num-other-sentinels"]), int(f["num-slaves"]))
                except (OSError, ConnectionError, RedisReplyError, KeyError, ValueError):
                    state[s.name] = None
            if all(v == (want, replicas) for v in state.values()):
                return
            if time.monotonic() > deadline:
                raise LabError(f"sentinels not ready after {timeout}s "
                               f"(other sentinels, replicas known: {state})")
            time.sleep(0.2)

    def views(self):
        return {s.name: s.names() for s in self.all}

    def majority(self):
        return majority(self.views())

    def failover(self, via):
        """SENTINEL FAILOVER on sentinel VIA (a Sentinel)."""
        return via.call("SENTINEL", "FAILOVER", MASTER_NAME, timeout=2.0)

    def start_sampler(self):
        self.sampler = VipSampler(self)
        self.sampler.start()

    def stop(self):
        if self.sampler:
            self.sampler.stop()
        for s in self.all:
            s.close()
            if s.proc and s.proc.poll() is None:
                s.proc.kill()
                s.proc.wait(timeout=10)

    def reconfig_lines(self):
        """Every line the reconfig scripts logged: (time, host, arguments)."""
        out = []
        for s in self.all:
            try:
                lines = open(s.script_log).read().splitlines()
            except OSError:
                continue
            for line in lines:
                t, _, rest = line.partition(" ")
                out.append((float(t), s.name, rest))
        return sorted(out)


def add_vip(node):
    """The VIP on NODE, as an operator sets it up for the first master (the
    reconfig script runs only at a failover)."""
    run(["ip", "-n", node.ns, "addr", "add", f"{VIP}/{NET_LEN}", "dev", IFNAME])
