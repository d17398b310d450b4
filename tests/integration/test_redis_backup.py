"""redis_backup: replicate the peer once it is a master that is not itself
waiting to sync from this node; never over an empty peer."""
import re

import itkit
from itkit import RoleMonitor, ToolTestCase, populate, setUpModule  # noqa: F401


def config_replicaof(path):
    with open(path) as f:
        return [ln.strip() for ln in f if re.match(r"\s*(replicaof|slaveof)\s", ln, re.I)]


class RedisBackupTest(ToolTestCase):

    def backup_args(self, local_port, peer_port, *extra):
        return [*self.hook_args(local_port, peer_port), "--backup-grace", "1", *extra]

    def test_replicates_master_peer(self):
        peer = self.server()
        local = self.server()
        populate(peer, 1000)
        r = self.run_tool("redis_backup", *self.backup_args(local.port, peer.port,
                                                           "--sync-timeout", "20"),
                          timeout=40)
        self.assertRc(r, 0)
        self.assertIn("replicating", r.log)
        self.assert_role(local, "slave", master_port=peer.port)
        self.wait_link_up(local, peer, timeout=20)
        self.assert_all_keys(local, 1000)
        lines = config_replicaof(local.conf)
        self.assertTrue(lines, "config not rewritten with replicaof")
        self.assertIn(str(peer.port), lines[-1])
        self.assert_role(peer, "master")

    def test_empty_peer_is_not_replicated(self):
        peer = self.server()
        local = self.server()
        populate(local, 300)
        mon = RoleMonitor(local, interval=0.01).start()
        r = self.run_tool("redis_backup", *self.backup_args(local.port, peer.port,
                                                           "--sync-timeout", "2"),
                          timeout=30)
        samples = mon.stop()
        self.assertRc(r, 1)
        self.assertLess(r.elapsed, 2 + 2.5, f"not bounded by --sync-timeout: {r!r}")
        self.assertIn("empty", r.log)
        self.assertEqual(mon.roles(), {"master"}, "local was made a replica of an empty peer")
        self.assertTrue(all(s[5] == 300 for s in samples),
                        f"local lost keys: {sorted({s[5] for s in samples})}")
        self.assert_all_keys(local, 300)
        self.assertEqual(config_replicaof(local.conf), [])

    def test_waits_while_peer_syncs_from_us(self):
        local = self.server()
        peer = self.server()
        populate(local, 300)
        self.replicate(peer, local)
        running = self.start_tool("redis_backup",
                                  *self.backup_args(local.port, peer.port,
                                                    "--sync-timeout", "20"))
        mon = RoleMonitor(local, interval=0.02).start()
        self.addCleanup(mon.stop)
        # The hook has seen the peer replicating us and decided to wait.
        itkit.wait_until(lambda: "decision wait: peer is a replica" in itkit.read_text(
            self.log_file) or running.poll() is not None, 10, what="the hook's wait decision")
        if running.poll() is not None:
            self.fail(f"redis_backup did not wait for the peer: {running.result()!r}")
        # Replicating our own replica would make a loop.
        mon.stop()
        self.assertEqual(mon.roles(), {"master"},
                         "local replicated the peer while the peer replicated local")
        peer.call("REPLICAOF", "NO", "ONE")  # the peer's promotion, done by hand
        r = running.wait_exit(40)
        self.assertRc(r, 0)
        self.assert_role(local, "slave", master_port=peer.port)
        self.wait_link_up(local, peer, timeout=20)
        self.assert_role(peer, "master")
        self.assert_all_keys(local, 300)

    def test_diverged_peer_replicated_after_grace(self):
        # Shared history, then both took writes (a healed partition), the
        # peer more of them (the larger tail wins): the backup waits
        # --backup-grace, then follows the peer and says so.
        peer = self.server()
        local = self.server()
        populate(peer, 100)
        self.replicate(local, peer)
        local.call("REPLICAOF", "NO", "ONE")
        populate(local, 50, "local-only")
        populate(peer, 100, "peer-only")
        r = self.run_tool("redis_backup", *self.hook_args(local.port, peer.port),
                          "--backup-grace", "2", "--sync-timeout", "20", timeout=40)
        self.assertRc(r, 0)
        self.assertGreaterEqual(r.elapsed, 2.0, f"did not wait --backup-grace: {r!r}")
        self.assertIn("split-brain", r.log)
        self.assertRegex(r.log, r"heal: the newest history wins: .* the larger tail wins "
                         r"\(the peer\)")
        self.assert_role(local, "slave", master_port=peer.port)
        self.wait_link_up(local, peer, timeout=20)
        self.assert_all_keys(local, 100)
        self.assert_all_keys(local, 100, "peer-only")

    def test_peer_hung_exits_1_within_bound(self):
        local = self.server()
        populate(local, 100)
        fake = self.fake("hang")
        r = self.run_tool("redis_backup", *self.backup_args(local.port, fake.port,
                                                           "--sync-timeout", "2"),
                          timeout=30)
        self.assertRc(r, 1)
        self.assertLess(r.elapsed, 2 + 2.0, f"not bounded by --sync-timeout: {r!r}")
        self.assert_role(local, "master")
        self.assert_all_keys(local, 100)

    def test_peer_unreachable_exits_1_within_bound(self):
        local = self.server()
        populate(local, 100)
        r = self.run_tool("redis_backup", *self.backup_args(local.port, itkit.free_port(),
                                                           "--sync-timeout", "2"),
                          timeout=30)
        self.assertRc(r, 1)
        self.assertLess(r.elapsed, 2 + 2.0, f"not bounded by --sync-timeout: {r!r}")
        self.assert_role(local, "master")
        self.assert_all_keys(local, 100)


if __name__ == "__main__":
    itkit.main()
