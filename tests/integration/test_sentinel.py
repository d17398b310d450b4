"""Sentinel mode (issue #18) against real sentinels on loopback.

redis_check passes only on the local master that a strict majority of the
configured sentinels names by --announce-host:--port, a sentinel in TILT not
counting; it queries them in parallel under its one --timeout; a local master
the majority does not name is fenced (min-replicas-to-write out of reach)
until it is named again or has become a replica. Bad Sentinel options are
exit 2 with nothing sent; a sentinel that refuses the credentials, knows no
such master or is in TILT is a bounded exit 1 that names the cause. The
sentinels' credentials are their own. The hooks never promote or repoint:
redis_master only verifies, redis_backup and redis_fault fence a master the
majority does not name and keep a copy of its dataset (redis_stop only
fences: keepalived kills a STOP notify after about 1 s).

The sentinels run with down-after 1 s; the classes share their sentinel sets
(setUpClass, or the module's one master/replica/three-sentinel set), and each
test that fences a shared master lifts the fence again at its cleanup, with
its own state dir (which remembers the operator's values). Under Valkey
(RK_SERVER=valkey-server) only the check's tests run: the hooks' Sentinel
mode does not depend on the server.
"""
import contextlib
import errno
import json
import os
import re
import signal
import socket
import time
import unittest

import itkit
from itkit import (MARGIN, RedisReplyError, SentinelTopology, ToolTestCase, fence_values,
                   populate, read_text, setUpModule, wait_until)  # noqa: F401
from rediskit import SERVER
from sentinelkit import TILT_TRIGGER, Sentinel, acl_log

NAME = SentinelTopology.MASTER_NAME
# The shared master's own min-replicas-* values: one replica required (its
# replica is attached, so it takes writes), lag 10 s. Lifting the fence must
# bring back exactly these, not Redis's defaults.
OPERATOR = (1, 10)
OPERATOR_CONFIG = ("min-replicas-to-write 1", "min-replicas-max-lag 10")
DEFAULTS = (0, 10)
TIMEOUT_MS = 500
# The data nodes' password, the sentinels' default user's, and that of the
# sentinels' restricted user (the documented client ACL).
DATA_PW, ADMIN_PW, CLIENT_USER, CLIENT_PW = "data-pw", "admin-pw", "rk", "client-pw"
# Redis's documented client ACL for sentinels, and +info: TILT shows only in
# INFO sentinel.
CLIENT_ACL = (f"user {CLIENT_USER} on >{CLIENT_PW} -@all +auth +client|getname +client|id "
              "+client|setname +command +hello +ping +role +sentinel|get-master-addr-by-name "
              "+sentinel|master +sentinel|myid +sentinel|replicas +sentinel|sentinels +info")
VALKEY = "valkey" in os.path.basename(SERVER)
# Sentinel's own default port, which --sentinel HOST without a port means.
# Every suite that binds it takes this lock first (ctest runs suites side by
# side, and other checkouts' suites may run on the same host): an abstract
# Unix socket name, which, like the port, belongs to the network namespace,
# so a chroot that shares the host's network (scripts/trixie) shares the
# lock too, and it goes when its holder does. A port held by anything else
# skips the one test that needs it.
DEFAULT_PORT = 26379
DEFAULT_PORT_LOCK = f"\0redis-keepalived-tests-port-{DEFAULT_PORT}"
DEFAULT_PORT_WAIT = 120

_shared = {}


def shared_pair():
    """The module's master (OPERATOR's values), replica and three sentinels,
    started on first use and stopped after the module's last test."""
    if "pair" not in _shared:
        _shared["pair"] = SentinelTopology(replicas=1, master_config=OPERATOR_CONFIG).start()
        unittest.addModuleCleanup(_shared["pair"].cleanup)
    return _shared["pair"]


def write_refused(server):
    """The error a write gets from SERVER, None when it is taken."""
    try:
        server.call("SET", "rk-it-probe", "1")
    except RedisReplyError as exc:
        return str(exc)
    return None


def replicaof_calls(server):
    """REPLICAOF/SLAVEOF calls in SERVER's INFO commandstats."""
    stats = server.call("INFO", "commandstats")
    return re.findall(r"^cmdstat_(?:replicaof|slaveof):calls=(\d+)", stats, re.M)


class SentinelCase(ToolTestCase):
    """Runs the tools against one node, each node with its own state dir."""

    def node_state(self, node, instance=None):
        state = os.path.join(self.tmp, f"state-{node.port}")
        os.makedirs(state, 0o700, exist_ok=True)
        return ["--state-dir", state, "--instance", instance or self.instance,
                "--log-file", self.log_file]

    def node_argv(self, node, args, timeout_ms, instance):
        return [*self.node_state(node, instance), "--host", "127.0.0.1", "--port", node.port,
                "--timeout", timeout_ms, *args]

    def run_node(self, tool, node, *args, timeout_ms=TIMEOUT_MS, env=None, instance=None):
        """TOOL for NODE (with INSTANCE's records, default the test's); the
        Result's `text` is its stderr and the lines it added to the log."""
        before = len(read_text(self.log_file))
        r = self.run_tool(tool, *self.node_argv(node, args, timeout_ms, instance),
                          common=False, env=env, timeout=30)
        r.log = read_text(self.log_file)
        r.text = r.stderr + r.log[before:]
        return r

    def check(self, node, *args, **kw):
        return self.run_node("redis_check", node, *args, **kw)

    def assert_fenced(self, node):
        self.assertGreater(fence_values(node)[0], 1000, f"port {node.port} not fenced")
        self.assertRegex(write_refused(node) or "", "^NOREPLICAS",
                         f"a write to the fenced port {node.port}")

    def lift_at_cleanup(self, node, operator, *args):
        """At cleanup, a check with ARGS must pass on NODE again and give it
        back OPERATOR's min-replicas-* values, for the tests after this one."""
        def lift():
            self.assertRc(self.check(node, *args), 0)
            self.assertEqual(fence_values(node), operator)
        self.addCleanup(lift)


class SharedPairCase(SentinelCase):
    """Tests on the module's shared set: master A, replica B, sentinels s."""

    @classmethod
    def setUpClass(cls):
        cls.t = shared_pair()

    def setUp(self):
        super().setUp()
        self.a, self.b = self.t.master, self.t.replicas[0]
        self.s = self.t.sentinels
        # What an earlier test changed is back: every sentinel names A and
        # A carries the operator's values.
        self.assertEqual(self.s.views(), [("127.0.0.1", self.a.port)] * 3)
        self.assertEqual(fence_values(self.a), OPERATOR)


class CheckTest(SharedPairCase):
    """The check."""

    def test_the_named_master_passes_and_its_replica_fails(self):
        self.assertRc(self.check(self.a, *self.t.args()), 0)
        r = self.check(self.b, *self.t.args())
        self.assertRc(r, 1)
        self.assertEqual(fence_values(self.b), DEFAULTS)  # a replica is never fenced

    def test_this_node_is_the_announced_host_and_port_only(self):
        # A second master on 127.0.0.1: same host, another port.
        other = self.server(extra_config=itkit.DATA_NODE_CONFIG)
        r = self.check(other, *self.t.args())
        self.assertRc(r, 1)
        self.assert_fenced(other)
        self.assertRc(self.check(self.a, *self.t.args()), 0)
        # A is reachable at 127.0.0.2 too (a local address, as a VIP is on
        # its holder), but the sentinels name 127.0.0.1:A.
        self.lift_at_cleanup(self.a, OPERATOR, *self.t.args())
        r = self.check(self.a, *self.t.args(announce="127.0.0.2"))
        self.assertRc(r, 1)
        self.assert_fenced(self.a)

    def test_one_answering_sentinel_of_three_is_no_majority(self):
        with self.s.paused(self.s[1]):
            self.assertRc(self.check(self.a, *self.t.args()), 0)  # two of three
        self.lift_at_cleanup(self.a, OPERATOR, *self.t.args())
        with self.s.paused(self.s[1], self.s[2]):
            self.assertEqual(self.s[0].master_addr(NAME), ("127.0.0.1", self.a.port))
            r = self.check(self.a, *self.t.args())
        self.assertRc(r, 1)
        # Two that are gone (nothing listens) rather than stopped: the same.
        gone = [f"127.0.0.1:{itkit.free_port()}" for _ in range(2)]
        r = self.check(self.a, *self.t.args([self.s[0]]), "--sentinel", gone[0],
                       "--sentinel", gone[1])
        self.assertRc(r, 1)

    def test_a_minority_view_fences_the_master_and_a_majority_lifts_it(self):
        self.assertIsNone(write_refused(self.a), "A takes writes before the test")
        self.lift_at_cleanup(self.a, OPERATOR, *self.t.args())
        with self.s.paused(self.s[1], self.s[2]):
            r = self.check(self.a, *self.t.args())
        self.assertRc(r, 1)
        self.assert_fenced(self.a)
        # Named again by the majority: the next check lifts it.
        r = self.check(self.a, *self.t.args())
        self.assertRc(r, 0)
        self.assertEqual(fence_values(self.a), OPERATOR)
        self.assertIsNone(write_refused(self.a))

    def test_the_sentinels_are_queried_in_parallel_under_one_deadline(self):
        timeout_ms = 800
        # Any one never answers: the other two are asked all the same,
        # whatever the order in which a check would ask them.
        for paused in self.s:
            with self.s.paused(paused):
                r = self.check(self.a, *self.t.args(), timeout_ms=timeout_ms)
            self.assertRc(r, 0)
            self.assertLess(r.elapsed, timeout_ms / 1000 + MARGIN, f"{r!r}")
        # Two never answer: one deadline, not one per sentinel.
        self.lift_at_cleanup(self.a, OPERATOR, *self.t.args())
        with self.s.paused(self.s[0], self.s[1]):
            r = self.check(self.a, *self.t.args(), timeout_ms=timeout_ms)
        self.assertRc(r, 1)
        self.assertLess(r.elapsed, timeout_ms / 1000 + MARGIN, f"{r!r}")

    def test_an_unknown_master_name_is_a_bounded_failure_that_names_it(self):
        self.lift_at_cleanup(self.a, OPERATOR, *self.t.args())
        r = self.check(self.a, *self.t.args(name="nosuchmaster"))
        self.assertRc(r, 1)
        self.assertLess(r.elapsed, TIMEOUT_MS / 1000 + MARGIN, f"{r!r}")
        # Each sentinel with the name asked for: a typo in --master-name
        # shows in the log line. Once a majority has said so the check
        # stops waiting (no majority can name a master any more), so a
        # sentinel may be listed as not waited for instead.
        answered = [a for a in self.s.addresses()
                    if f"{a}: monitors no master named nosuchmaster" in r.text]
        self.assertGreaterEqual(len(answered), 2, f"{r!r}")
        for address in set(self.s.addresses()) - set(answered):
            self.assertIn(f"{address}: not waited for", r.text)

    def test_one_or_two_sentinels_are_accepted_only_as_a_weak_quorum(self):
        one, two = [self.s[0]], [self.s[0], self.s[1]]
        for sentinels in (one, two):
            r = self.check(self.a, *self.t.args(sentinels))
            self.assertRc(r, 2)
            self.assertIn("--weak-sentinel-quorum", r.stderr)
            r = self.check(self.a, *self.t.args(sentinels), "--weak-sentinel-quorum")
            self.assertRc(r, 0)
        # Two configured: both must name it (one of two is no majority).
        self.lift_at_cleanup(self.a, OPERATOR, *self.t.args())
        with self.s.paused(self.s[1]):
            r = self.check(self.a, *self.t.args(two), "--weak-sentinel-quorum")
        self.assertRc(r, 1)

    def test_a_sentinel_listed_twice_is_refused(self):
        # Counted twice, one sentinel would make a majority of three.
        args = self.t.args([self.s[0], self.s[0], self.s[1]])
        r = self.check(self.a, *args)
        self.assertRc(r, 2)

    def test_config_file_keys(self):
        lines = [f"sentinel = {address}" for address in self.s.addresses()]
        conf = self.write_file("toolkit.conf", "\n".join(
            lines + [f"master-name = {NAME}", "announce-host = 127.0.0.1", ""]))
        self.assertRc(self.check(self.a, "--config", conf), 0)
        self.assertRc(self.check(self.b, "--config", conf), 1)


class InvocationTest(SentinelCase):
    """Bad Sentinel options: exit 2, one line on stderr, and not a byte sent
    to the local Redis or to any sentinel (recording listeners)."""

    def test_bad_sentinel_options_exit_2_and_send_nothing(self):
        local = self.fake("map")
        fakes = [self.fake("map") for _ in range(4)]
        sent = [f"127.0.0.1:{f.port}" for f in fakes]
        pw644 = self.password_file("secret", mode=0o644, name="pw644")

        def with_sentinels(*addresses):
            return [a for address in addresses for a in ("--sentinel", address)]
        three = with_sentinels(*sent[:3])
        named = ["--master-name", NAME, "--announce-host", "127.0.0.1"]
        cases = [
            ("--sentinel without --master-name", three + ["--announce-host", "127.0.0.1"]),
            ("an empty --master-name", three + ["--master-name", "", "--announce-host",
                                                "127.0.0.1"]),
            ("Sentinel mode without --announce-host", three + ["--master-name", NAME]),
            ("one sentinel", with_sentinels(sent[0]) + named),
            ("two sentinels", with_sentinels(*sent[:2]) + named),
            ("four sentinels", with_sentinels(*sent) + named),
            ("a port that is no number", with_sentinels(*sent[:2], "127.0.0.1:port") + named),
            ("port 0", with_sentinels(*sent[:2], "127.0.0.1:0") + named),
            ("port 65536", with_sentinels(*sent[:2], "127.0.0.1:65536") + named),
            ("no host", with_sentinels(*sent[:2], ":26379") + named),
            ("an empty address", with_sentinels(*sent[:2], "") + named),
            ("a bad IPv4 address", with_sentinels(*sent[:2], "300.1.1.1:26379") + named),
            ("an unclosed IPv6 bracket", with_sentinels(*sent[:2], "[::1:26379") + named),
            ("a sentinel password file readable by others",
             three + named + ["--sentinel-password-file", pw644]),
        ]
        for what, args in cases:
            with self.subTest(what):
                r = self.check(local, *args)
                self.assertRc(r, 2)
                self.assertEqual(len(r.stderr.strip().splitlines()), 1, f"{r!r}")
        time.sleep(0.2)  # a connect made would be accepted by now
        self.assertEqual([local.accepted] + [f.accepted for f in fakes], [0] * 5)


class TiltTest(SentinelCase):
    """A sentinel in TILT does not count, even when it names this node."""

    @classmethod
    def setUpClass(cls):
        cls.t = SentinelTopology(replicas=0).start()
        cls.addClassCleanup(cls.t.cleanup)

    def test_sentinels_in_tilt_do_not_count(self):
        a, s = self.t.master, self.t.sentinels
        self.assertRc(self.check(a, *self.t.args()), 0)
        # Two sentinels stopped past the TILT trigger are resumed while a
        # check waits for their answers: they answer, in TILT already (the
        # timer that finds the gap runs in the same event-loop turn as the
        # accept of the check's connection, before its commands are read),
        # and do not count.
        for sentinel in (s[1], s[2]):
            sentinel.pause()
        try:
            time.sleep(TILT_TRIGGER + 0.3)
            running = self.start_tool("redis_check", *self.node_argv(
                a, self.t.args(), 1500, None), common=False)
            time.sleep(0.3)  # its queries wait in the stopped sentinels' sockets
        finally:
            for sentinel in (s[1], s[2]):
                sentinel.resume()
        r = running.wait_exit(1.5 + MARGIN)
        s.wait_tilt([s[1], s[2]])
        self.assertRc(r, 1)
        self.assertRegex(read_text(self.log_file), "(?i)tilt")
        # In TILT, they still name A: they do not count all the same.
        self.assertEqual(s.views(), [("127.0.0.1", a.port)] * 3)
        self.assertRc(self.check(a, *self.t.args()), 1)
        self.assert_fenced(a)
        # All of them in TILT: a bounded failure that says so (in the log
        # of an instance that has not failed yet: the check logs changes).
        s.put_in_tilt(s[0])
        r = self.check(a, *self.t.args(), instance=self.instance + "b")
        self.assertRc(r, 1)
        self.assertLess(r.elapsed, TIMEOUT_MS / 1000 + MARGIN, f"{r!r}")
        self.assertRegex(r.text, "(?i)tilt")


class FailoverTest(SentinelCase):
    """Sentinel fails over to B: the old master A, still a master until
    Sentinel converts it (after it has reported master for 8 s), fails the
    check and is fenced; once it is B's replica the next check lifts it."""

    @classmethod
    def setUpClass(cls):
        cls.t = SentinelTopology(replicas=1, master_config=["min-replicas-max-lag 7"]).start()
        cls.addClassCleanup(cls.t.cleanup)

    def test_the_old_master_is_fenced_until_sentinel_makes_it_a_replica(self):
        a, b, s = self.t.master, self.t.replicas[0], self.t.sentinels
        self.assertRc(self.check(a, *self.t.args()), 0)
        s.failover()
        s.wait_named(b.port, timeout=15)
        self.assert_role(a, "master")
        r = self.check(a, *self.t.args())
        self.assertRc(r, 1)
        self.assertIn(f"127.0.0.1:{b.port}", r.text)
        self.assert_fenced(a)
        self.assertRc(self.check(b, *self.t.args()), 0)
        wait_until(lambda: a.info("replication").get("master_port") == str(b.port), 30,
                   interval=0.1, what="Sentinel to make A a replica of B")
        r = self.check(a, *self.t.args())
        self.assertRc(r, 1)
        self.assertEqual(fence_values(a), (0, 7))
        # Sentinel rewrote A's config (CONFIG REWRITE) while A was fenced:
        # the fence must not stay there for A's next start.
        with open(a.conf) as f:
            kept = [line.strip() for line in f if line.startswith("min-replicas-to-write")]
        self.assertIn(kept, ([], ["min-replicas-to-write 0"]))


def log_time(line):
    """Seconds of the day of a log line's "2026-12-07T14:10:32.761Z" stamp."""
    clock = line.split(" ", 1)[0].split("T", 1)[1].rstrip("Z")
    hours, minutes, seconds = clock.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


class WatchTest(SentinelCase):
    """redis_watch in Sentinel mode: 0 on the named master, 1 on its
    replica; a switch flips both files within about a second of the
    sentinels naming the new master (it subscribes to +switch-master), and
    redis_check --defer-to-watch leaves the verdict to a running watcher."""

    @classmethod
    def setUpClass(cls):
        cls.t = SentinelTopology(replicas=1).start()
        cls.addClassCleanup(cls.t.cleanup)

    def watch(self, node, track):
        argv = [*self.node_argv(node, self.t.args(), TIMEOUT_MS, None), "--track-file", track]
        return self.start_tool("redis_watch", *argv, common=False)

    def file_value(self, track):
        try:
            with open(track) as f:
                return f.read().strip()
        except FileNotFoundError:
            return None

    def test_the_files_follow_a_switch_and_the_check_defers(self):
        a, b, s = self.t.master, self.t.replicas[0], self.t.sentinels
        tracks = {}
        for node in (a, b):
            directory = os.path.join(self.tmp, f"track-{node.port}")
            os.makedirs(directory, 0o700, exist_ok=True)
            tracks[node.port] = os.path.join(directory, "redis.watch")
        watchers = {node.port: self.watch(node, tracks[node.port]) for node in (a, b)}
        wait_until(lambda: self.file_value(tracks[a.port]) == "0" and
                   self.file_value(tracks[b.port]) == "1", 10, interval=0.05,
                   what="the watchers' first verdicts")
        # The replica's check passes while its watcher runs (the file, 1,
        # holds it in FAULT), and fails as a replica without --defer-to-watch.
        r = self.check(b, *self.t.args(), "--defer-to-watch")
        self.assertRc(r, 0)
        self.assertIn("decides through", r.text)
        self.assertRc(self.check(b, *self.t.args()), 1)
        s.failover()
        s.wait_named(b.port, timeout=15)
        named_at = time.monotonic()
        wait_until(lambda: self.file_value(tracks[b.port]) == "0" and
                   self.file_value(tracks[a.port]) == "1", 5, interval=0.01,
                   what="both files to follow the switch")
        self.assertLess(time.monotonic() - named_at, 1.5)
        # B's watcher turned healthy on a +switch-master message, not on its
        # one-second poll: within a few milliseconds of the first one.
        b_lines = [line for line in read_text(self.log_file).splitlines()
                   if f"redis_watch[{watchers[b.port].pid}]" in line]
        announced = [log_time(line) for line in b_lines if "+switch-master" in line]
        healthy = [log_time(line) for line in b_lines if "-> healthy" in line]
        self.assertTrue(announced, b_lines)
        self.assertTrue(healthy, b_lines)
        self.assertLess(healthy[-1] - announced[0], 0.25, b_lines)
        # A stopped watcher removes its file; the deferring check then asks
        # the sentinels itself: A, a replica or an unnamed master, fails.
        os.kill(watchers[a.port].pid, signal.SIGTERM)
        self.assertEqual(watchers[a.port].wait_exit(5).rc, 0)
        wait_until(lambda: self.file_value(tracks[a.port]) is None, 5, interval=0.05,
                   what="the stopped watcher's file to go")
        self.assertRc(self.check(a, *self.t.args(), "--defer-to-watch"), 1)


class AuthTest(SentinelCase):
    """Data node password DATA_PW; sentinels with requirepass ADMIN_PW and a
    restricted user CLIENT_USER (the documented client ACL)."""

    @classmethod
    def setUpClass(cls):
        cls.t = SentinelTopology(
            replicas=0, data_auth=DATA_PW, sentinel_auth=ADMIN_PW,
            sentinel_config=[f"requirepass {ADMIN_PW}", f"sentinel sentinel-pass {ADMIN_PW}",
                             CLIENT_ACL]).start()
        cls.addClassCleanup(cls.t.cleanup)

    def setUp(self):
        super().setUp()
        self.a = self.t.master
        for s in self.t.sentinels:
            s.call("ACL", "LOG", "RESET")
        self.data_pw = self.password_file(DATA_PW, name="data-pw")
        self.client = ["--sentinel-user", CLIENT_USER, "--sentinel-password-file",
                       self.password_file(CLIENT_PW, name="client-pw")]

    def failed_auths(self):
        return [e for s in self.t.sentinels for e in acl_log(s) if e.get("reason") == "auth"]

    def test_the_sentinels_credentials_are_their_own(self):
        r = self.check(self.a, "--password-file", self.data_pw, *self.client, *self.t.args())
        self.assertRc(r, 0)
        self.assertEqual(self.failed_auths(), [])
        # The sentinels' requirepass (their default user) works as well.
        admin = self.password_file(ADMIN_PW, name="admin-pw")
        r = self.check(self.a, "--password-file", self.data_pw,
                       "--sentinel-password-file", admin, *self.t.args())
        self.assertRc(r, 0)

    def test_the_data_password_never_reaches_a_sentinel(self):
        self.lift_at_cleanup(self.a, DEFAULTS, "--password-file", self.data_pw, *self.client,
                             *self.t.args())
        r = self.check(self.a, "--password-file", self.data_pw, *self.t.args())
        self.assertRc(r, 1)
        self.assertEqual(self.failed_auths(), [])

    def test_a_refused_sentinel_password_is_a_bounded_failure_that_says_so(self):
        self.lift_at_cleanup(self.a, DEFAULTS, "--password-file", self.data_pw, *self.client,
                             *self.t.args())
        wrong = self.password_file("wrong-pw", name="wrong-pw")
        r = self.check(self.a, "--password-file", self.data_pw, "--sentinel-user", CLIENT_USER,
                       "--sentinel-password-file", wrong, *self.t.args())
        self.assertRc(r, 1)
        self.assertLess(r.elapsed, TIMEOUT_MS / 1000 + MARGIN, f"{r!r}")
        self.assertRegex(r.text, "(?i)WRONGPASS|auth")
        self.assertEqual(len(self.failed_auths()), 3)


@contextlib.contextmanager
def default_port_held(case):
    """DEFAULT_PORT_LOCK held for the block, once DEFAULT_PORT is free on
    127.0.0.1; skips CASE when the lock stays taken for DEFAULT_PORT_WAIT
    seconds or when something else listens there."""
    lock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        deadline = time.monotonic() + DEFAULT_PORT_WAIT
        while True:
            try:
                lock.bind(DEFAULT_PORT_LOCK)
                break
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise
                if time.monotonic() > deadline:
                    case.skipTest(f"the lock on port {DEFAULT_PORT} was held for "
                                  f"{DEFAULT_PORT_WAIT} s by another suite")
                time.sleep(0.2)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", DEFAULT_PORT))
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise
                case.skipTest(f"127.0.0.1:{DEFAULT_PORT} is in use on this host: the default "
                              "port is left to its unit test (test_options.cpp)")
        yield
    finally:
        lock.close()  # releases the lock


class DefaultPortTest(SentinelCase):
    """--sentinel HOST without a port is HOST:26379, Sentinel's default."""

    def test_a_sentinel_given_without_a_port_is_asked_on_26379(self):
        with default_port_held(self):
            a = self.server(extra_config=itkit.DATA_NODE_CONFIG)
            sentinel = Sentinel(NAME, a.port, 1, port=DEFAULT_PORT)
            self.addCleanup(sentinel.cleanup)
            sentinel.start()
            # Ours, not another process that took the port meanwhile.
            self.assertEqual(sentinel.master_addr(NAME), ("127.0.0.1", a.port))
            args = ["--sentinel", "127.0.0.1", "--weak-sentinel-quorum", "--master-name", NAME,
                    "--announce-host", "127.0.0.1"]
            self.assertRc(self.check(a, *args), 0)
            r = self.run_node("redis_status", a, "--json", *args)
            self.assertRc(r, 0)
            [entry] = json.loads(r.stdout)["sentinels"]["list"]
            self.assertEqual((entry["address"], entry["answered"], entry["names_this_node"]),
                             (f"127.0.0.1:{DEFAULT_PORT}", True, True), entry)
            sentinel.cleanup()  # before the lock goes


@unittest.skipIf(VALKEY, "the hooks' Sentinel mode does not depend on the server")
class HookTest(SharedPairCase):
    """The hooks stand aside: no REPLICAOF from any of them; redis_master
    verifies, redis_backup and redis_fault fence an unnamed master and keep
    a copy of its dataset; redis_stop fences it (keepalived kills a STOP
    notify after about 1 s, too soon for a copy)."""

    def setUp(self):
        super().setUp()
        for server in (self.a, self.b):
            server.call("CONFIG", "RESETSTAT")

    def hook(self, tool, node, peer, copy_dir=None):
        return self.run_node(tool, node, "--peer", f"127.0.0.1:{peer.port}",
                             "--copy-dir", copy_dir or self.copy_dir, *self.t.args())

    def assert_untouched(self):
        """A still master, B still its replica, no REPLICAOF on either, and
        every sentinel still names A."""
        self.assert_role(self.a, "master")
        self.assert_role(self.b, "slave", master_port=self.a.port)
        self.assertEqual(replicaof_calls(self.a) + replicaof_calls(self.b), [])
        self.assertEqual(self.t.sentinels.views(), [("127.0.0.1", self.a.port)] * 3)
        self.assertEqual(fence_values(self.a), OPERATOR)

    def test_redis_master_on_the_named_master_only_verifies(self):
        r = self.hook("redis_master", self.a, self.b)
        self.assertRc(r, 0)
        self.assert_untouched()

    def test_redis_master_on_a_replica_fails_naming_the_majoritys_master(self):
        r = self.hook("redis_master", self.b, self.a)
        self.assertRc(r, 1)
        self.assertIn(f"127.0.0.1:{self.a.port}", r.text)
        self.assert_untouched()

    def test_redis_backup_on_a_replica_keeps_its_master(self):
        # In pair mode redis_backup would repoint it to this --peer.
        other = self.server(extra_config=itkit.DATA_NODE_CONFIG)
        r = self.hook("redis_backup", self.b, other)
        self.assertRc(r, 0)
        self.assert_untouched()
        self.assert_role(other, "master")

    def fences_and_keeps_a_copy(self, tool, copies_expected=1):
        """TOOL on a master on 127.0.0.1 that the sentinels do not name."""
        node = self.server(extra_config=itkit.DATA_NODE_CONFIG)
        populate(node, 100)
        copy_dir = os.path.join(self.tmp, f"copies-{tool}")
        r = self.hook(tool, node, self.a, copy_dir)
        self.assertRc(r, 0)
        self.assert_fenced(node)
        self.assert_role(node, "master")
        copies = os.listdir(copy_dir) if os.path.isdir(copy_dir) else []
        self.assertEqual(len(copies), copies_expected, f"{copies} {r!r}")
        if copies_expected:
            self.assertIn(os.path.join(copy_dir, copies[0]), r.text)
        else:
            self.assertIn("no copy (keepalived ends this hook)", r.text)
        self.assert_untouched()

    def test_redis_backup_fences_an_unnamed_master_and_keeps_a_copy(self):
        self.fences_and_keeps_a_copy("redis_backup")

    def test_redis_fault_fences_an_unnamed_master_and_keeps_a_copy(self):
        self.fences_and_keeps_a_copy("redis_fault")

    def test_redis_stop_fences_an_unnamed_master(self):
        self.fences_and_keeps_a_copy("redis_stop", copies_expected=0)

if __name__ == "__main__":
    itkit.main()
