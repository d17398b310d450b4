"""Observing the lab: files followed as they grow, snapshots of the pair
(VIP holder, each keepalived state, each Redis role), the monitor thread
that takes one every 0.2 s, the writer's acknowledged writes, and the
Observer that waits for states of the pair and reads the hooks' logs."""
import re
import threading
import time

import toolkit_log

from .common import Failed, LabError, say


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
    def __init__(self, t, vip, redis, ka, sentinels=None):
        self.t = t
        self.vip = vip          # tuple of node names holding the VIP
        self.redis = redis      # name -> redis_state()
        self.ka = ka            # name -> keepalived state
        self.holder = vip[0] if len(vip) == 1 else None
        # Sentinel topologies: (the node a majority of the sentinels names
        # or None, {sentinel host: the node it names}), the latest 0.1 s
        # sample; None in the pair lab.
        self.sentinels = sentinels

    def converged(self):
        if self.holder is None:
            return False
        m = self.redis[self.holder]
        others = [n for n in self.redis if n != self.holder]
        if m["role"] != "master" or m.get("loading"):
            return False
        if self.sentinels is not None and self.sentinels[0] != self.holder:
            return False
        for o in others:
            r = self.redis[o]
            if not (r["role"] == "replica" and r["master"] == self.holder
                    and r["link"] == "up" and not r["sync"]):
                return False
        return True

    def key(self):
        return (self.vip, tuple(sorted(self.ka.items())),
                tuple((n, describe_redis(s)) for n, s in sorted(self.redis.items())),
                self.describe_sentinels())

    def describe_sentinels(self):
        if self.sentinels is None:
            return ""
        named, views = self.sentinels
        each = " ".join(f"{s}:{v or '-'}" for s, v in sorted(views.items()))
        return f"sentinels name {named or 'no one'} ({each})"

    def describe(self):
        vip = ",".join(self.vip) or "nobody"
        parts = [f"VIP on {vip}"]
        for n in sorted(self.redis):
            ka = f"keepalived {self.ka[n]}, " if self.ka[n] is not None else ""
            parts.append(f"{n}: {ka}redis {describe_redis(self.redis[n])}")
        if self.sentinels is not None:
            parts.append(self.describe_sentinels())
        return "; ".join(parts)


class Monitor(threading.Thread):
    """Samples the lab every 0.2 s: who holds the VIP, each keepalived state,
    each Redis role; follows the acknowledged writes and the hooks' logs."""

    def __init__(self, observer):
        super().__init__(daemon=True)
        self.observer = observer
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
                snap = self.observer.snapshot()
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
            self.observer.follow_logs()
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

    def written(self):
        """{key: value} of every acknowledged write (the writer's SET k:<n> <n>)."""
        return {f"k:{n}": str(n) for n, _, _ in self.rows}


class Observer:
    """What LAB's pair does: snapshots taken by the monitor thread, waiting
    for states of the pair, and the lines of the keepalived and hook logs as
    they come."""

    def __init__(self, lab):
        self.lab = lab
        self.monitor = None
        self.hook_lines = []      # (t, node, line) of the toolkit logs
        self.ka_lines = []        # (t, node, line) of keepalived state changes
        self.log_lock = threading.Lock()
        self.verbose_hooks = True

    def snapshot(self):
        # Stamped when sampling starts: nothing in it predates the stamp.
        t = time.time()
        vip, redis, ka = [], {}, {}
        keepalived = self.lab.keepalived_runs()
        for node in self.lab.nodes.values():
            if node.has_vip():
                vip.append(node.name)
            redis[node.name] = node.redis_state()
            ka[node.name] = (None if not keepalived else node.ka_state
                             if node.ka and node.ka.poll() is None else "stopped")
        return Snapshot(t, tuple(vip), redis, ka, self.sentinel_view())

    def sentinel_view(self):
        """The sentinels' latest sample (see Snapshot), None without them."""
        sentinels = self.lab.sentinels
        if sentinels is None:
            return None
        latest = sentinels.sampler.latest() if sentinels.sampler else None
        return (latest[2], latest[3]) if latest else (None, {})

    def follow_logs(self):
        for node in self.lab.nodes.values():
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
                elif node.ka_state == "starting" and re.search(r"VRRP_Script\(\S+\) failed", line):
                    # A check that fails from the start puts the instance in
                    # FAULT without an "Entering FAULT STATE" line (2.2.7).
                    node.ka_state = "FAULT"
            for line in node.tk_follow.lines():
                if not line.strip():
                    continue
                with self.log_lock:
                    self.hook_lines.append((time.time(), node.name, line.strip()))
                if "verdict=" in line and self.verbose_hooks:
                    say(f"hook on {node.name}: {toolkit_log.short_line(line)}")
        if self.lab.procs.acks:
            self.lab.procs.acks.update()

    def lines(self):
        """Copies of (keepalived state-change lines, hook lines) so far."""
        with self.log_lock:
            return list(self.ka_lines), list(self.hook_lines)

    def start_monitor(self, on_change=None):
        self.monitor = Monitor(self)
        self.monitor.on_change = on_change or (lambda s: say(s.describe()))
        self.monitor.start()

    def stop_monitor(self):
        if self.monitor:
            self.monitor.stop()

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
        return self.lab.nodes[snap.holder]

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

    def split_brain_logged(self, since=0.0, text="split-brain"):
        """Nodes whose toolkit log has a line with TEXT stamped at or after
        SINCE (the lines start with an ISO-8601 UTC time)."""
        nodes = set()
        _, lines = self.lines()
        for _, n, line in lines:
            if text not in line:
                continue
            t = toolkit_log.line_time(line)
            if t is not None and t < since - 0.5:
                continue
            nodes.add(n)
        return sorted(nodes)
