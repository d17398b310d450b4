"""The hostile-server cases shared by the redis_master and redis_backup
suites: a hostile local server with a real peer, and a real local server
with a hostile peer."""
from robkit import HOSTILE, MARGIN, HostileTestCase, populate

TIMEOUT_MS = 300
SYNC_TIMEOUT_S = 1
KEYS = 20
# The last observation may start just before --sync-timeout runs out and
# take a connect plus one command, each bounded by --timeout.
BOUND = SYNC_TIMEOUT_S + 2 * TIMEOUT_MS / 1000 + MARGIN


class HostileHookTestCase(HostileTestCase):
    TOOL = None

    def hook(self, local_port, peer_port):
        return self.run_tool(self.TOOL, *self.hook_args(local_port, peer_port, TIMEOUT_MS),
                             "--sync-timeout", str(SYNC_TIMEOUT_S), "--backup-grace", "0",
                             timeout=BOUND + 10)

    def real_master(self):
        srv = self.server()
        populate(srv, KEYS)
        return srv

    def assert_untouched(self, srv):
        """Still a master with its keys, and writable (not left paused)."""
        self.assert_role(srv, "master")
        self.assertEqual(self.dbsize(srv), KEYS)
        with srv.client(timeout=1.0) as c:
            self.assertEqual(c.call("SET", "probe", "1"), "OK")
            c.call("DEL", "probe")


def add_hostile_tests(cls, local_expect, peer_expect):
    """Adds test_<kind>_local and test_<kind>_peer for every hostile kind.
    *_expect: (exit code, verdict) the tool must end with."""
    for kind in HOSTILE:
        setattr(cls, f"test_{kind}_local", _local_case(kind, *local_expect))
        setattr(cls, f"test_{kind}_peer", _peer_case(kind, *peer_expect))


def _local_case(kind, rc, verdict):
    def test(self):
        fake, pattern = self.hostile(kind)
        peer = self.real_master()
        r = self.hook(fake.port, peer.port)
        self.assert_bounded(r, rc, BOUND, pattern, verdict)
        self.assertIn(f"local Redis 127.0.0.1:{fake.port} not readable", r.log)
        self.assert_untouched(peer)
    test.__doc__ = f"hostile local server ({kind}), real peer"
    return test


def _peer_case(kind, rc, verdict):
    def test(self):
        fake, pattern = self.hostile(kind)
        local = self.real_master()
        r = self.hook(local.port, fake.port)
        self.assert_bounded(r, rc, BOUND, pattern, verdict)
        self.assertIn(f"peer Redis 127.0.0.1:{fake.port} not readable", r.log)
        self.assert_untouched(local)
    test.__doc__ = f"real local server, hostile peer ({kind})"
    return test
