"""Sentinel mode over TLS (issue #18: "with --tls the sentinels are reached
over TLS with the same files"), against real sentinels on loopback.

A master, its replica and three sentinels, all TLS-only (port 0, tls-port)
and requiring a client certificate; the sentinels reach the data nodes and
each other over TLS (tls-replication yes, which also makes each announce
its tls-port in its hello messages). redis_check --tls passes on the master
the sentinels name and fails on its replica; redis_status shows each
sentinel's view, read over TLS; a sentinel reached without TLS, or whose
certificate the given CA does not verify, is a bounded exit 1 whose log line
names the cause; redis_watch --tls hears +switch-master over TLS. Valkey's
sentinel (RK_SERVER=valkey-server) the same.
"""
import json
import os
import shutil
import tempfile
import time

import itkit
from itkit import (MARGIN, RedisServer, SentinelTopology, TlsClient, ToolTestCase, fence_values,
                   read_text, setUpModule, wait_until)  # noqa: F401
import tlskit

TIMEOUT_MS = 500
# What the client library says of a TLS port spoken to in plain text, and of
# a certificate the CA does not verify (test_tls.py's phrases).
PLAIN_TO_TLS = r"TLS port\?|closed"
VERIFY_FAILED = r"certificate verify failed"
UNKNOWN_ISSUER = r"local issuer|self.signed"


class TlsTopologyCase(ToolTestCase):
    """One set of certificates and one TLS-only topology (master A, replica
    B, sentinels s) for the class: discovery over TLS takes a few seconds."""

    @classmethod
    def setUpClass(cls):
        cls.cert_parent = tempfile.mkdtemp(prefix="rk-it-stls-")
        cls.addClassCleanup(shutil.rmtree, cls.cert_parent, True)
        cls.certs = tlskit.make_all(tlskit.cert_dir(cls.cert_parent))
        cls.t = SentinelTopology(replicas=1, tls=cls.certs).start()
        cls.addClassCleanup(cls.t.cleanup)

    def setUp(self):
        super().setUp()
        self.a, self.b = self.t.master, self.t.replicas[0]
        self.s = self.t.sentinels
        self.runs = 0

    def tls(self, ca=None):
        """--tls with the client certificate every server asks for, and CA
        (default: the one that signed the servers' certificates)."""
        c = self.certs
        return ["--tls", "--cacert", ca or c.ca.cert, "--cert", c.client.cert,
                "--key", c.client.key]

    def node_args(self, port):
        """A state dir, instance and log file of this run's own (so that a
        failing check always logs its one line), for the node whose Redis
        listens on PORT; and that log file."""
        self.runs += 1
        state = os.path.join(self.tmp, f"state-{self.runs}")
        os.mkdir(state, 0o700)
        log = os.path.join(self.tmp, f"run-{self.runs}.log")
        return ["--state-dir", state, "--instance", f"{self.instance}r{self.runs}",
                "--log-file", log, "--host", "127.0.0.1", "--port", port,
                "--timeout", TIMEOUT_MS], log


class SentinelTlsTest(TlsTopologyCase):

    def run_node(self, tool, port, *args):
        """TOOL for the node whose Redis listens on PORT; the Result's `log`
        is its own log file."""
        argv, log = self.node_args(port)
        r = self.run_tool(tool, *argv, *args, common=False, timeout=30)
        r.log = read_text(log)
        return r

    def assert_bounded_failure(self, r, *reasons):
        """Exit 1 within --timeout, and one log line that gives every
        sentinel's address with REASONS (regular expressions)."""
        self.assertRc(r, 1)
        self.assertLess(r.elapsed, TIMEOUT_MS / 1000 + MARGIN, f"{r!r}")
        lines = r.log.strip().splitlines()
        self.assertEqual(len(lines), 1, f"{r!r}")
        for address in self.s.addresses():
            self.assertIn(address, lines[0])
        for reason in reasons:
            self.assertRegex(lines[0], f"(?i){reason}", f"{r!r}")

    def throwaway_master(self, tls=None, config=()):
        """A master the sentinels do not monitor, for the cases in which the
        local Redis must answer and only the sentinels fail: the check asks
        them only after the local Redis has answered. The check fences it."""
        port = itkit.free_port()
        server = RedisServer(port=port, extra_config=list(itkit.BASE_CONFIG) + list(config),
                             tls=tls)
        self.addCleanup(server.cleanup)
        return server.start()

    def test_the_check_over_tls_passes_on_the_named_master_only(self):
        r = self.run_node("redis_check", self.a.port, *self.tls(), *self.t.args())
        self.assertRc(r, 0)
        r = self.run_node("redis_check", self.b.port, *self.tls(), *self.t.args())
        self.assertRc(r, 1)
        # Two or three answers, as they come: two that agree settle it.
        self.assertRegex(r.log, rf"a replica of 127\.0\.0\.1:{self.a.port} \(([23]) of 3 "
                         rf"sentinels: \1 name 127\.0\.0\.1:{self.a.port}[) ]")
        self.assertEqual(fence_values(self.b), (0, 10))  # a replica is never fenced

    def test_status_shows_each_sentinels_view_read_over_tls(self):
        r = self.run_node("redis_status", self.a.port, "--json", *self.tls(), *self.t.args())
        self.assertRc(r, 0)
        report = json.loads(r.stdout)["sentinels"]
        self.assertEqual([s["address"] for s in report["list"]], self.s.addresses())
        for entry in report["list"]:
            self.assertTrue(entry["answered"], entry)
            self.assertEqual(entry["master"], f"127.0.0.1:{self.a.port}")
            self.assertTrue(entry["names_this_node"], entry)
            # They found each other through the master over TLS, at the
            # tls-port each announces: CKQUORUM counts them.
            self.assertEqual(entry["monitor"]["num_other_sentinels"], 2, entry)
            self.assertTrue(entry["quorum_reachable"], entry)
            self.assertIsNone(entry["details_problem"], entry)
        self.assertEqual((report["verdict"]["agree"], report["verdict"]["votes"]), (True, 3))
        self.assertEqual(report["this_node"]["place"], "named-master")
        r = self.run_node("redis_status", self.b.port, *self.tls(), *self.t.args())
        self.assertRc(r, 0)
        self.assertIn(f"  verdict: the majority names 127.0.0.1:{self.a.port} (3 of 3 "
                      "configured, 2 needed)\n", r.stdout)
        self.assertIn(f"  sentinel {self.s[0].address}: names 127.0.0.1:{self.a.port}",
                      r.stdout)

    def test_sentinels_reached_without_tls_are_a_bounded_failure_that_says_so(self):
        plain = self.throwaway_master()
        r = self.run_node("redis_check", plain.port, *self.t.args())
        self.assert_bounded_failure(r, PLAIN_TO_TLS)
        # Each sentinel is named with the cause, none counts.
        self.assertIn("0 of 3 sentinels", r.log)

    def test_sentinels_the_ca_does_not_verify_are_a_bounded_failure_that_says_so(self):
        # The local Redis presents a certificate from the other CA, which
        # the check is given: it answers, and the sentinels' certificates
        # (from the servers' CA) fail verification.
        c = self.certs
        other = self.throwaway_master(
            tls=TlsClient(c.client.cert, c.client.key),
            config=tlskit.tls_config(c.unknown_server, c.ca, auth_clients="yes"))
        r = self.run_node("redis_check", other.port, *self.tls(ca=c.unknown_ca.cert),
                          *self.t.args())
        self.assert_bounded_failure(r, VERIFY_FAILED, UNKNOWN_ISSUER)
        self.assertIn("0 of 3 sentinels", r.log)


class WatchTlsTest(TlsTopologyCase):
    """redis_watch --tls in Sentinel mode subscribes to +switch-master on
    every sentinel over TLS: a failover flips both track files on the
    sentinels' message, not at the watchers' next poll."""

    def watch(self, node):
        """A watcher of NODE: its track file and its log file."""
        argv, log = self.node_args(node.port)
        directory = os.path.join(self.tmp, f"track-{node.port}")
        os.mkdir(directory, 0o700)
        track = os.path.join(directory, "redis.watch")
        self.start_tool("redis_watch", *argv, "--track-file", track, *self.tls(),
                        *self.t.args(), common=False)
        return track, log

    def test_a_switch_announced_over_tls_flips_both_files(self):
        def value(track):
            return read_text(track).strip() if os.path.exists(track) else None
        (track_a, _), (track_b, log_b) = self.watch(self.a), self.watch(self.b)
        wait_until(lambda: (value(track_a), value(track_b)) == ("0", "1"), 10, interval=0.05,
                   what="the watchers' first verdicts over TLS")
        self.s.failover()
        self.s.wait_named(self.b.port, timeout=15)
        named_at = time.monotonic()
        wait_until(lambda: (value(track_a), value(track_b)) == ("1", "0"), 5, interval=0.01,
                   what="both files to follow the switch")
        self.assertLess(time.monotonic() - named_at, 1.5)
        log = read_text(log_b)
        self.assertIn(f"+switch-master 127.0.0.1:{self.a.port} -> 127.0.0.1:{self.b.port}", log)
        # No sentinel refused the subscription (the watcher's warning for
        # a link it could not open reads "+switch-master: ADDRESS: why").
        self.assertNotIn("+switch-master: ", log)


if __name__ == "__main__":
    itkit.main()
