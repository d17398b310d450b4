"""Shared plumbing for the robustness tests: hostile fake servers and the
assertions every run must meet (bounded time, the expected exit code, no
signal or sanitizer report, a log line that names the problem).

Builds on the integration suite's itkit (RK_BIN_DIR, running the tools,
starting real redis-servers with cleanup) and rediskit's FakeServer.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import itkit  # noqa: E402
from itkit import MARGIN, ToolTestCase, populate, setUpModule  # noqa: E402,F401

main = itkit.main

REPLID = "6b2f0a4c1d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a"


def bulk(text):
    data = text.encode() if isinstance(text, str) else text
    return b"$%d\r\n%s\r\n" % (len(data), data)


# INFO of a healthy master holding 5 keys: what the fakes send, whole or in
# part, when the point is how the reply arrives rather than what it says.
VALID_INFO = ("# Server\r\nredis_version:7.0.15\r\n"
              "# Persistence\r\nloading:0\r\n"
              "# Replication\r\nrole:master\r\nconnected_slaves:0\r\n"
              f"master_replid:{REPLID}\r\n"
              "master_replid2:0000000000000000000000000000000000000000\r\n"
              "master_repl_offset:1000\r\nsecond_repl_offset:-1\r\n"
              "# Keyspace\r\ndb0:keys=5,expires=0,avg_ttl=0\r\n")

WELL_FORMED = {b"PING": b"+PONG\r\n", b"INFO": bulk(VALID_INFO)}

# Each hostile server: (FakeServer mode, replies, what the log must say).
# The timeouts are what hiredis and Connection report: "no reply within N ms"
# from the whole-command deadline, "timed out" from the socket backstop.
TIMEOUT = r"no reply within \d+ ms|timed out"
HOSTILE = {
    # (a) accepts the connection and never answers.
    "silent": ("hang", {}, TIMEOUT),
    # (b) answers half a reply and stalls.
    "half_reply": ("stall-half", WELL_FORMED, TIMEOUT),
    # (c) drips a well-formed reply, one byte every 200 ms.
    "drip": ("drip", WELL_FORMED, TIMEOUT),
    # (d) INFO lacking the fields the decisions need, or with garbage in them.
    "info_missing_fields": ("map", {b"PING": b"+PONG\r\n",
                                    b"INFO": bulk("# Server\r\nredis_version:7.0.15\r\n")},
                            r"INFO lacks \w+"),
    "info_garbage_fields": ("map", {b"PING": b"+PONG\r\n",
                                    b"INFO": bulk(VALID_INFO.replace("role:master", "role:pirate")
                                                  .replace("loading:0", "loading:maybe")
                                                  .replace("master_repl_offset:1000",
                                                           "master_repl_offset:-77"))},
                            r"INFO (role is neither|field \w+ is)"),
    # (e) a protocol violation: not RESP at all.
    "protocol_violation": ("map", {b"PING": b"!PONG\r\n", b"INFO": b"HTTP/1.1 400 Bad\r\n"},
                           r"protocol error"),
    # (f) closes the connection in the middle of the reply.
    "close_mid_reply": ("close-half", WELL_FORMED,
                        r"connection closed by the server|Connection reset|Broken pipe"),
}

# What redis_check sees instead of (d): it sends only PING, so the garbage
# goes into the PING reply.
CHECK_GARBAGE = {
    "ping_wrong_status": ("map", {b"PING": b"+PANG\r\n"}, r"reply to PING is not PONG: 'PANG'"),
    "ping_wrong_type": ("map", {b"PING": b":1\r\n"}, r"reply to PING is not PONG"),
}


class HostileTestCase(ToolTestCase):
    """ToolTestCase plus hostile fakes and the bounded-failure assertion."""

    def hostile(self, kind, table=HOSTILE):
        mode, replies, pattern = table[kind]
        fake = self.fake(mode, replies=replies, interval=0.2)
        return fake, pattern

    def assert_bounded(self, result, rc, bound, pattern, verdict=None):
        """`result` ended by itself within `bound` seconds with exit `rc`, was
        not killed by a signal, had no sanitizer report, and logged a line
        matching `pattern` (and the summary line with `verdict`)."""
        self.assertGreaterEqual(result.rc, 0, f"killed by signal {-result.rc}: {result!r}")
        for marker in ("Sanitizer", "runtime error:", "internal error"):
            self.assertNotIn(marker, result.stderr, f"{marker} in stderr: {result!r}")
        self.assertEqual(result.rc, rc, f"unexpected exit code: {result!r}")
        self.assertLess(result.elapsed, bound, f"not within {bound:.2f} s: {result!r}")
        self.assertRegex(result.log, pattern, f"no log line naming the problem: {result!r}")
        if verdict is not None:
            self.assertIn(f"verdict={verdict} exit={rc}", result.log,
                          f"no summary line: {result!r}")
