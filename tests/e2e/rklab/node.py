"""A node of the lab: its namespace, its files, and what its Redis and its
logs say."""
import os
import re
import time

from rediskit import RedisReplyError, parse_info
import toolkit_log

from . import network
from .configs import REDIS_PORT
from .network import VIP, connect


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
    """Node NAME of LAB (a, b, or d): its namespace, address and files, the
    processes running in it, and what its Redis and its logs say."""

    def __init__(self, lab, name, ip, priority):
        self.lab = lab
        self.name = name
        self.ns = network.PREFIX + name
        self.ip = ip
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
        # unless a scenario starts one: a missing file reads as 0), named as
        # the samples name it; not <state dir>/redis.watch, the watcher's
        # own record of instance "redis", which redis_check and redis_status
        # read.
        self.track_file = os.path.join(self.state_dir, "redis_watch.track")
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
