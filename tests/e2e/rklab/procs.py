"""Every process the lab starts is recorded (pid and start time) in
<root>/pids, so that this run, or a later one after a crash, ends exactly
those, by pid. Nothing is ever ended by name."""
import glob
import os
import shutil
import signal

from . import network
from .common import say

ROOT_PREFIX = "/run/rklab."


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
