"""Redis Sentinel for the tests: sentinels on loopback ports that monitor a
data node on 127.0.0.1, and the waits a test needs around them.

A Sentinel is a RedisServer started as `SERVER CONF --sentinel` (the same
binary runs both roles, redis-server and valkey-server alike), with its own
writable config file and directory: Sentinel rewrites its config through a
temporary file in that directory (facts: "Config needs"). Stopped by PID like
every RedisServer; a paused (SIGSTOPped) one is resumed first, since a
stopped process does not act on SIGTERM.
"""
import contextlib
import signal
import time

from rediskit import RedisReplyError, RedisServer, parse_info, wait_until

# Data nodes report this address to their master (REPLCONF ip-address), so
# that the sentinels list each replica under the address they are told of,
# never a VIP (redis/redis#6536).
DATA_NODE_CONFIG = ("replica-announce-ip 127.0.0.1",)

# A timer gap over 2 s puts a sentinel in TILT (sentinelCheckTiltCondition:
# SENTINEL_TILT_TRIGGER 2000 ms); a pause meant to leave it out of TILT stays
# well under that.
TILT_TRIGGER = 2.0
SAFE_PAUSE = 1.6


class Sentinel(RedisServer):
    """One sentinel on 127.0.0.1:<port> monitoring NAME at HOST:PORT.

    down_after_ms is small so that failovers in a test are quick; auth is what
    this class's own clients send (a password or a (user, password) pair), for
    a sentinel with requirepass or without a usable default user; tls (a
    rediskit.TlsClient) makes <port> its TLS-only port, the certificates in
    extra_config (tlskit.tls_config()); port: a given one instead of a free
    one."""

    def __init__(self, name, master_port, quorum, down_after_ms=1000, failover_timeout_ms=10000,
                 master_host="127.0.0.1", extra_config=(), auth=None, tls=None, port=None):
        monitor = [f"sentinel monitor {name} {master_host} {master_port} {quorum}",
                   f"sentinel down-after-milliseconds {name} {down_after_ms}",
                   f"sentinel failover-timeout {name} {failover_timeout_ms}"]
        super().__init__(port=port, extra_config=monitor + list(extra_config), auth=auth,
                         tls=tls)
        self.args = ["--sentinel"]
        self.paused = False

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def master_addr(self, name):
        """SENTINEL GET-MASTER-ADDR-BY-NAME as (host, port), None when it
        knows no such master."""
        reply = self.call("SENTINEL", "GET-MASTER-ADDR-BY-NAME", name)
        return None if reply is None else (reply[0], int(reply[1]))

    def master(self, name):
        """SENTINEL MASTER's fields as a dict."""
        reply = self.call("SENTINEL", "MASTER", name)
        return dict(zip(reply[::2], reply[1::2]))

    def replicas(self, name):
        return [dict(zip(r[::2], r[1::2])) for r in self.call("SENTINEL", "REPLICAS", name)]

    def in_tilt(self):
        return parse_info(self.call("INFO", "sentinel")).get("sentinel_tilt") == "1"

    def pause(self):
        self.proc.send_signal(signal.SIGSTOP)
        self.paused = True

    def resume(self):
        if self.paused and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
        self.paused = False

    def stop(self):
        self.resume()
        super().stop()


class SentinelSet:
    """COUNT sentinels monitoring NAME at 127.0.0.1:MASTER_PORT with a quorum
    of a majority (TLS-only with tls, as Sentinel says). start() starts them all or none (what it started is
    stopped when one fails to come up); cleanup() stops them by PID and
    removes their directories."""

    def __init__(self, master_port, count=3, name="mymaster", down_after_ms=1000,
                 extra_config=(), auth=None, tls=None):
        self.name = name
        quorum = count // 2 + 1
        self.sentinels = [Sentinel(name, master_port, quorum, down_after_ms,
                                   extra_config=extra_config, auth=auth, tls=tls)
                          for _ in range(count)]

    def __iter__(self):
        return iter(self.sentinels)

    def __getitem__(self, index):
        return self.sentinels[index]

    def __len__(self):
        return len(self.sentinels)

    def start(self):
        try:
            for s in self.sentinels:
                s.start()
        except BaseException:
            self.cleanup()
            raise
        return self

    def cleanup(self):
        for s in self.sentinels:
            s.cleanup()

    def addresses(self, sentinels=None):
        return [s.address for s in (self.sentinels if sentinels is None else sentinels)]

    def views(self):
        """Each sentinel's GET-MASTER-ADDR-BY-NAME, in order."""
        return [s.master_addr(self.name) for s in self.sentinels]

    def wait_named(self, port, timeout=30, host="127.0.0.1"):
        """Wait until every sentinel names HOST:PORT as the master."""
        wait_until(lambda: all(v == (host, port) for v in self.views()), timeout, 0.05,
                   what=f"every sentinel to name {host}:{port} as {self.name}")

    def wait_known(self, timeout=30):
        """Wait until each sentinel knows all the others (their hello
        messages, every 2 s), as a failover's election needs."""
        others = str(len(self.sentinels) - 1)
        wait_until(lambda: all(s.master(self.name).get("num-other-sentinels") == others
                               for s in self.sentinels), timeout, 0.1,
                   what=f"the {len(self.sentinels)} sentinels to know each other")

    def wait_replica(self, port, timeout=30, host="127.0.0.1"):
        """Wait until every sentinel lists HOST:PORT as a replica of the
        master with its link up, so that it may be chosen in a failover."""
        def seen(s):
            return any(r.get("ip") == host and r.get("port") == str(port)
                       and "s_down" not in r.get("flags", "")
                       and r.get("master-link-status") == "ok" for r in s.replicas(self.name))
        wait_until(lambda: all(seen(s) for s in self.sentinels), timeout, 0.1,
                   what=f"every sentinel to see the replica {host}:{port}")

    def wait_tilt(self, sentinels, on=True, timeout=5):
        wait_until(lambda: all(s.in_tilt() == on for s in sentinels), timeout, 0.05,
                   what=f"sentinel_tilt:{int(on)} on {[s.port for s in sentinels]}")

    def failover(self):
        """SENTINEL FAILOVER through the first sentinel (no agreement asked,
        facts: it skips the election)."""
        self.sentinels[0].call("SENTINEL", "FAILOVER", self.name)

    @contextlib.contextmanager
    def paused(self, *sentinels):
        """SIGSTOP SENTINELS for the block, and resume them on every path.
        Raises after the block when they were stopped long enough to enter
        TILT, which would spoil the tests that come after."""
        t0 = time.monotonic()
        for s in sentinels:
            s.pause()
        try:
            yield
        finally:
            for s in sentinels:
                s.resume()
        stopped = time.monotonic() - t0
        if stopped >= SAFE_PAUSE:
            raise AssertionError(f"sentinels {[s.port for s in sentinels]} were stopped "
                                 f"{stopped:.2f} s, near the {TILT_TRIGGER} s TILT trigger")

    def put_in_tilt(self, *sentinels):
        """Stop SENTINELS together for longer than the TILT trigger, resume
        them, and wait until INFO sentinel shows each in TILT (for 30 s)."""
        for s in sentinels:
            s.pause()
        try:
            time.sleep(TILT_TRIGGER + 0.5)
        finally:
            for s in sentinels:
                s.resume()
        self.wait_tilt(sentinels)


def acl_log(server):
    """ACL LOG entries of SERVER as dicts (failed AUTHs among them)."""
    try:
        return [dict(zip(e[::2], e[1::2])) for e in server.call("ACL", "LOG")]
    except RedisReplyError as exc:
        raise AssertionError(f"ACL LOG on port {server.port}: {exc}") from exc
