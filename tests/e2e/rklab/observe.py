"""Observing the lab: files followed as they grow, snapshots of the pair
(VIP holder, each keepalived state, each Redis role), the monitor thread
that takes one every 0.2 s, and the writer's acknowledged writes."""
import threading
import time


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

