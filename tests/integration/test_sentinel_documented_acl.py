"""Sentinel mode works with exactly the shipped ACL users: on the data nodes
the `keepalived` user of keepalived/redis-acl.conf (the default user off,
replication through the sample's replicator user), on the sentinels the
`rk-sentinel` user of keepalived/redis-sentinel-acl.conf (a `user` line in
sentinel.conf, which Sentinel reads since Redis 6.2). redis_check (a pass on
the named master, a fence set and lifted on a master the majority does not
name), redis_status, redis_watch and redis_switchover --sentinel reach their
answers, and no server's ACL LOG holds an entry for either user: no NOPERM,
no refused channel, no failed AUTH.

The sentinels reach the data nodes as an administrator (sentinel auth-user):
what Sentinel itself needs is the operator's, not the toolkit's."""
import os

import itkit
from itkit import (RedisServer, SentinelTopology, ToolTestCase, fence_values, populate,
                   setUpModule, wait_until)  # noqa: F401
import samples
from sentinelkit import acl_log

NAME = SentinelTopology.MASTER_NAME
USER, SENTINEL_USER = "keepalived", "rk-sentinel"
TOOLS_PASSWORD, SENTINEL_PASSWORD = "tools-pw-61d2", "sentinel-pw-0c4e"
REPLICATION_PASSWORD = "repl-pw-7a13"
ADMIN = ("admin", "admin-pw-d95b")
TIMEOUT_MS = 500
# Every data node: only the sample's users and the administrator, so a
# command the tools send outside the sample's grants is refused (NOPERM).
DATA_CONFIG = ("user default off", f"user {ADMIN[0]} on >{ADMIN[1]} ~* &* +@all",
               *samples.acl_users(TOOLS_PASSWORD),
               *samples.acl_replication(REPLICATION_PASSWORD))


class SentinelDocumentedAclTest(ToolTestCase):

    def setUp(self):
        super().setUp()
        self.t = SentinelTopology(replicas=1, data_auth=ADMIN, data_config=DATA_CONFIG,
                                  sentinel_config=samples.sentinel_acl_users(SENTINEL_PASSWORD))
        self.addCleanup(self.t.cleanup)
        self.t.start()
        self.credentials = [
            "--user", USER,
            "--password-file", self.password_file(TOOLS_PASSWORD, name="data-pw"),
            "--sentinel-user", SENTINEL_USER,
            "--sentinel-password-file", self.password_file(SENTINEL_PASSWORD, name="sentinel-pw")]
        # Checked at cleanup, after every tool has run.
        self.addCleanup(self.assert_no_acl_log_entries)

    def servers(self):
        return [self.t.master, *self.t.replicas, *self.t.sentinels]

    def assert_no_acl_log_entries(self):
        """No server logged a refusal for the toolkit's users: a NOPERM the
        tools might have taken in their stride shows here too."""
        entries = [(s.port, e) for s in self.servers() for e in acl_log(s)
                   if e.get("username") in (USER, SENTINEL_USER)]
        self.assertEqual(entries, [], "ACL LOG entries for the shipped users")

    def tool_argv(self, node, state="state"):
        state_dir = os.path.join(self.tmp, f"{state}-{node.port}")
        os.makedirs(state_dir, 0o700, exist_ok=True)
        return ["--state-dir", state_dir, "--instance", self.instance, "--log-file",
                self.log_file, "--host", "127.0.0.1", "--port", node.port, "--timeout",
                TIMEOUT_MS, *self.t.args(), *self.credentials]

    def tool(self, tool, node, *extra, timeout=60):
        """TOOL for NODE as the shipped users; its stderr and log never say
        NOPERM."""
        before = len(itkit.read_text(self.log_file))
        r = self.run_tool(tool, *self.tool_argv(node), *extra, common=False, timeout=timeout)
        r.text = r.stdout + r.stderr + itkit.read_text(self.log_file)[before:]
        self.assertNotIn("NOPERM", r.text, f"a permission is missing: {r!r}")
        return r

    def test_check_status_and_a_fence_set_and_lifted(self):
        a, b = self.t.master, self.t.replicas[0]
        self.assertRc(self.tool("redis_check", a), 0)
        r = self.tool("redis_check", b)
        self.assertRc(r, 1)
        r = self.tool("redis_status", a)
        self.assertRc(r, 0)
        self.assertIn(f"the majority names 127.0.0.1:{a.port} (3 of 3", r.stdout)
        r = self.tool("redis_status", a, "--prometheus")
        self.assertRc(r, 0)
        self.assertRegex(r.stdout, r'redis_keepalived_sentinel_up\{[^}]*\} 1')
        # A master the majority does not name (a stray one, with the shipped
        # users too): fenced with CONFIG GET/SET after SENTINEL REPLICAS ...
        stray = RedisServer(extra_config=list(itkit.BASE_CONFIG) + list(DATA_CONFIG), auth=ADMIN)
        self.addCleanup(stray.cleanup)
        stray.start()
        r = self.tool("redis_check", stray)
        self.assertRc(r, 1)
        self.assertNotIn("fence not changed", r.text)
        self.assertGreater(fence_values(stray)[0], 1000, r.text)
        # ... and lifted once it has become a replica.
        stray.call("REPLICAOF", "127.0.0.1", a.port)
        self.wait_link_up(stray, a)
        r = self.tool("redis_check", stray)
        self.assertRc(r, 1)
        self.assertNotIn("fence not changed", r.text)
        self.assertEqual(fence_values(stray)[0], 0, r.text)

    def test_switchover_and_the_watchers_follow_it(self):
        a, b = self.t.master, self.t.replicas[0]
        populate(a, 200)
        tracks = {n.port: os.path.join(self.tmp, f"watch-{n.port}.track") for n in (a, b)}
        for node in (a, b):
            self.start_tool("redis_watch", *self.tool_argv(node, state="watch"),
                            "--track-file", tracks[node.port], common=False)
        wait_until(lambda: [itkit.read_text(tracks[n.port]).strip() for n in (a, b)] == ["0", "1"],
                   10, interval=0.05, what="the watchers' first verdicts (a 0, b 1)")
        r = self.tool("redis_switchover", a, "--switchover-timeout-ms", "3000")
        self.assertRc(r, 0)
        self.assertIn("verdict=switched-over exit=0", r.text)
        self.assert_role(b, "master")
        self.assert_role(a, "slave", master_port=b.port)
        self.t.sentinels.wait_named(b.port, timeout=15)
        wait_until(lambda: [itkit.read_text(tracks[n.port]).strip() for n in (a, b)] == ["1", "0"],
                   10, interval=0.05, what="the watchers to follow the switch (a 1, b 0)")
        self.assertRc(self.tool("redis_check", b), 0)
        self.assertRc(self.tool("redis_check", a), 1)
        self.wait_link_up(a, b)
        self.assert_all_keys(b, 200)
        # The watchers log into the same file, between the tools' runs.
        self.assertNotIn("NOPERM", itkit.read_text(self.log_file))


if __name__ == "__main__":
    itkit.main()
