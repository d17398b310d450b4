"""redis_check against hostile servers: whatever the server does, the check
ends by itself within --timeout plus a margin, exits 1 (never 0, never a
signal), and logs a line that says what was wrong."""
from robkit import CHECK_GARBAGE, HOSTILE, MARGIN, HostileTestCase, main, setUpModule  # noqa: F401

TIMEOUT_MS = 500
BOUND = TIMEOUT_MS / 1000 + MARGIN

# redis_check sends only PING (after AUTH, when configured): INFO garbage
# does not reach it, so the PING-reply garbage stands in for (d).
CHECK_KINDS = {kind: entry for kind, entry in HOSTILE.items() if not kind.startswith("info_")}
CHECK_KINDS.update(CHECK_GARBAGE)


class HostileCheckTest(HostileTestCase):

    def check(self, port, timeout_ms=TIMEOUT_MS, env=None):
        return self.run_tool("redis_check", "--host", "127.0.0.1", "--port", str(port),
                             "--timeout", str(timeout_ms), env=env, timeout=BOUND + 10)

    def test_drip_is_cut_by_the_whole_command_deadline(self):
        # Each byte comes well within any per-read timeout; only a deadline on
        # the whole command stops a 7-byte reply spread over 1.4 s.
        fake, pattern = self.hostile("drip", CHECK_KINDS)
        r = self.check(fake.port)
        self.assert_bounded(r, 1, BOUND, pattern)
        self.assertGreater(r.elapsed, TIMEOUT_MS / 1000 * 0.8, f"failed before the deadline: {r!r}")

    def test_drip_within_a_longer_deadline_passes(self):
        # The same fake is healthy when the budget covers the whole drip: the
        # failures above come from the deadline, not from a malformed reply.
        fake, _ = self.hostile("drip", CHECK_KINDS)
        r = self.check(fake.port, timeout_ms=4000)
        self.assertRc(r, 0)

    def test_deadline_covers_auth_on_a_dripping_server(self):
        fake, pattern = self.hostile("drip", CHECK_KINDS)
        r = self.check(fake.port, env={"REDISCLI_AUTH": "pw"})
        self.assert_bounded(r, 1, BOUND, pattern)


def _hostile_local(kind):
    def test(self):
        fake, pattern = self.hostile(kind, CHECK_KINDS)
        r = self.check(fake.port)
        self.assert_bounded(r, 1, BOUND, pattern)
        self.assertIn("-> unhealthy", r.log)
        self.assertGreaterEqual(fake.accepted, 1, "redis_check never connected")
    test.__doc__ = f"redis_check, local server: {kind}"
    return test


for _kind in CHECK_KINDS:
    setattr(HostileCheckTest, f"test_{_kind}", _hostile_local(_kind))


if __name__ == "__main__":
    main()
