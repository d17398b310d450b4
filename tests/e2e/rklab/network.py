"""Network namespaces: the lab's addresses, entering a namespace from this
process, building the bridge and veth pairs, and removing them.

    rklab-a   A_IP       --+
    rklab-b   B_IP       --+-- bridge BRIDGE in rklab-sw
    rklab-c   CLIENT_IP  --+
              VIP/NET_LEN

The Sentinel topologies add rklab-d (D_IP, a third data node) or rklab-s
(S_IP, a host that runs only a sentinel) on the same bridge.

Nothing is routed out of the namespaces, and the host's own interfaces and
routes are never touched: the veth pairs are created inside them.
"""
import ctypes
import os

from rediskit import Resp

from .common import run, say

PREFIX = "rklab-"
NS_SWITCH = PREFIX + "sw"
NS_CLIENT = PREFIX + "c"
BRIDGE = "br0"
IFNAME = "rkv0"              # the namespace side of every veth pair
NET_LEN = 24
A_IP, B_IP, CLIENT_IP, VIP = "10.99.0.1", "10.99.0.2", "10.99.0.9", "10.99.0.100"
D_IP, S_IP = "10.99.0.3", "10.99.0.4"
# name -> (namespace, address) of every host the lab may put on its bridge:
# the data nodes a, b (and d), the client c, the sentinel-only host s.
HOSTS = {"a": (PREFIX + "a", A_IP), "b": (PREFIX + "b", B_IP), "c": (NS_CLIENT, CLIENT_IP),
         "d": (PREFIX + "d", D_IP), "s": (PREFIX + "s", S_IP)}
# The hosts of the pair lab.
PAIR_HOSTS = ("a", "b", "c")


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


def connect(ns, host, port, timeout=1.0, tls=None):
    """A RESP connection opened from inside namespace NS; TLS: None (plain
    TCP) or a rediskit.TlsClient."""
    with netns(ns):
        return Resp(host, port, timeout=timeout, tls=tls)


# --------------------------------------------------------------------------
# Which namespaces exist, and who is in them.

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
    """Every namespace named rklab-*, this run's or a stale run's."""
    res = run(["ip", "netns", "list"], check=False)
    names = []
    for line in res.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        if name.startswith(PREFIX):
            names.append(name)
    return names


def namespace_pids(ns):
    """The pids of the processes in NS, except this one."""
    res = run(["ip", "netns", "pids", ns], check=False)
    return [int(tok) for tok in res.stdout.split() if int(tok) != os.getpid()]


def probe():
    """None when `ip netns add` works here, else why not."""
    name = f"{PREFIX}probe{os.getpid()}"
    res = run(["ip", "netns", "add", name], check=False)
    if res.returncode != 0:
        return res.stderr.strip()
    run(["ip", "netns", "del", name], check=False)
    return None


# --------------------------------------------------------------------------
# Building and removing the network.

def build_network(hosts=PAIR_HOSTS):
    """The bridge and HOSTS (names of HOSTS) on it."""
    for ns in [NS_SWITCH] + [HOSTS[h][0] for h in hosts]:
        run(["ip", "netns", "add", ns])
        run(["ip", "-n", ns, "link", "set", "lo", "up"])
    run(["ip", "-n", NS_SWITCH, "link", "add", BRIDGE, "type", "bridge"])
    run(["ip", "-n", NS_SWITCH, "link", "set", BRIDGE, "up"])
    for name in hosts:
        ns, addr = HOSTS[name]
        port = f"{name}-port"
        # Created inside the namespaces: the host's interfaces are never touched.
        run(["ip", "-n", ns, "link", "add", IFNAME, "type", "veth",
             "peer", "name", port, "netns", NS_SWITCH])
        run(["ip", "-n", NS_SWITCH, "link", "set", port, "master", BRIDGE])
        run(["ip", "-n", NS_SWITCH, "link", "set", port, "up"])
        run(["ip", "-n", ns, "addr", "add", f"{addr}/{NET_LEN}", "dev", IFNAME])
        run(["ip", "-n", ns, "link", "set", IFNAME, "up"])
    names = " ".join(f"{'client' if h == 'c' else h}={HOSTS[h][1]}" for h in hosts)
    say(f"network: {names} VIP={VIP}/{NET_LEN} (bridge {BRIDGE} in {NS_SWITCH})")


def remove_network():
    """Delete this run's namespaces (a namespace lives on while a process is
    still in it: end those first)."""
    for ns in [ns for ns, _ in HOSTS.values()] + [NS_SWITCH]:
        if netns_inode(ns) is not None:
            run(["ip", "netns", "del", ns], check=False)


def remove_namespace(ns):
    run(["ip", "netns", "del", ns], check=False)


def has_address(ns, addr):
    res = run(["ip", "-n", ns, "-o", "-4", "addr", "show", "dev", IFNAME], check=False)
    return f" {addr}/" in res.stdout
