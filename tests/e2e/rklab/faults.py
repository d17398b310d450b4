"""Faults: what the scenarios do to a node (kill or freeze its Redis, kill
its watcher, cut it off the network, split the pair), and the record of
when each Redis kill was noticed."""
import re
import signal
import time

import toolkit_log

from .common import run
from .network import NS_SWITCH


class Faults:
    """Injects faults into LAB's nodes; records each Redis kill (and
    freeze, and watcher kill) with its time."""

    def __init__(self, lab):
        self.lab = lab
        self.kills = []           # (t, node, signal name) of the Redis kills

    def kill_redis(self, node, sig=signal.SIGKILL):
        """End NODE's Redis with SIG; the record says when."""
        if node.redis and node.redis.poll() is None:
            self.kills.append((time.time(), node.name, signal.Signals(sig).name))
        self.lab.procs.end_redis(node, sig)

    def freeze_redis(self, node, frozen=True):
        """SIGSTOP NODE's Redis (alive, its sockets open, silent), or
        SIGCONT it again."""
        if node.redis and node.redis.poll() is None:
            if frozen:
                self.kills.append((time.time(), node.name, "SIGSTOP"))
            node.redis.send_signal(signal.SIGSTOP if frozen else signal.SIGCONT)

    def kill_watcher(self, node):
        """kill -9 NODE's watcher (its last value stays in the file)."""
        if node.watch and node.watch.poll() is None:
            self.kills.append((time.time(), node.name, "watcher SIGKILL"))
            node.watch.kill()
            node.watch.wait(timeout=10)

    @staticmethod
    def isolate(on):
        """Bridge port isolation: the nodes can no longer reach each other,
        and both still reach the client (on), or reach each other again."""
        for port in ("a-port", "b-port"):
            run(["bridge", "-n", NS_SWITCH, "link", "set", "dev", port,
                 "isolated", "on" if on else "off"])

    @staticmethod
    def cut_off(node, on):
        """NODE's switch port stops forwarding (on) or forwards again: it
        reaches nobody, not the other node and not the client. The link stays
        up (bridge port state 0, disabled, rather than link down), so
        keepalived sees no interface fault: the node stays MASTER on its own,
        as a node behind a failed switch does."""
        run(["bridge", "-n", NS_SWITCH, "link", "set", "dev", f"{node.name}-port",
             "state", "0" if on else "3"])

    @staticmethod
    def cut_between(node, hosts, on):
        """NODE and each of HOSTS ((namespace, address) pairs) stop reaching
        each other (on) or reach each other again, while every other host on
        the bridge still reaches both: a blackhole route for the other's
        address on either side, so their packets are dropped before they
        leave (bridge port isolation cannot keep a node's client while it
        loses two other hosts that still reach each other)."""
        verb = "add" if on else "del"
        for ns, ip in hosts:
            run(["ip", "-n", node.ns, "route", verb, "blackhole", f"{ip}/32"])
            run(["ip", "-n", ns, "route", verb, "blackhole", f"{node.ip}/32"])

    def record(self):
        """For each Redis killed (or frozen, or watcher killed), when that
        was noticed. Unix times; None where it did not happen:
          fault_t            the killed node's keepalived entered FAULT (seen
                             in its log, read every 0.2 s)
          fault_logged_t     the killed node's redis_fault wrote its first
                             line (the line's own time, 1 ms resolution)
          master_t           the other node's keepalived entered MASTER (seen)
          promoted_seen_t    the other node's redis_master logged its verdict
                             (seen)
          promoted_logged_t  the other node's redis_master logged "promoted"
                             (the line's own time)"""
        ka_lines, hook_lines = self.lab.observer.lines()

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
            other = self.lab.other(self.lab.nodes[name]).name
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
        return kills
