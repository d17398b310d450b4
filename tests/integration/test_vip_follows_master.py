"""redis_check on the VIP holder: the VIP never stays on a replica of a master
it reaches (after a sync timeout, or a REPLICAOF by hand), never moves while
redis_master is still in its sync-wait, and comes back once the node is no
longer the VIP holder."""
import itkit
from itkit import ToolTestCase, populate, setUpModule  # noqa: F401

TIMEOUT_MS = 500


class VipFollowsMasterTest(ToolTestCase):

    def check(self, server):
        return self.run_tool("redis_check", "--host", "127.0.0.1", "--port", str(server.port),
                             "--timeout", str(TIMEOUT_MS))

    def hook(self, tool, local, peer, *extra):
        return self.run_tool(tool, *self.hook_args(local.port, peer.port, TIMEOUT_MS), *extra)

    def test_after_a_sync_timeout_the_vip_holder_fails_its_check(self):
        peer = self.server()
        local = self.server()
        self.slow_sync(local, peer, 6000)  # ~6 s of full sync
        r = self.hook("redis_master", local, peer, "--sync-timeout", "1")
        self.assertIn("verdict=sync-timeout exit=1", r.log, f"setup: {r!r}")
        c = self.check(local)
        self.assertRc(c, 1)
        self.assertRegex(c.log, r"health changed: \S+ -> yielding .*replica of 127\.0\.0\.1:"
                         rf"{peer.port} \(full sync running\)")
        self.assertEqual(itkit.read_text(self.state_path("health")).strip(), "yielding")
        # keepalived's FAULT transition (notify_fault): no longer the VIP
        # holder. The sync-wait ran out before this node held the peer's
        # writes, so it is recorded as stale (test_stale_history) and stays
        # out until the sync has completed; then it is eligible again.
        self.assertRc(self.hook("redis_fault", local, peer), 0)
        c = self.check(local)
        self.assertRc(c, 1)
        self.assertIn("health changed: yielding -> stale", c.log)
        self.wait_link_up(local, peer)
        itkit.wait_until(lambda: self.check(local).rc == 0, 10, interval=0.2,
                         what="the check to pass once the sync has completed")
        self.assertIn("health changed: stale -> healthy", itkit.read_text(self.log_file))

    def test_never_while_redis_master_is_in_its_sync_wait(self):
        peer = self.server()
        local = self.server()
        self.slow_sync(local, peer, 6000)
        running = self.start_tool("redis_master", *self.hook_args(local.port, peer.port,
                                                                  TIMEOUT_MS),
                                  "--sync-timeout", "30")
        self.wait_hook_running(running)
        for _ in range(3):
            c = self.check(local)
            self.assertRc(c, 0)
        self.assertIsNone(running.poll(), "setup: the hook ended before the checks ran")
        self.assertNotIn("yielding", itkit.read_text(self.log_file))

    def test_after_replicaof_by_hand_and_not_for_an_orphan_replica(self):
        peer = self.server()
        local = self.server()
        populate(local, 20)
        r = self.hook("redis_master", local, peer)  # the peer empty: it is made our replica
        self.assertIn("verdict=already-master exit=0", r.log, f"setup: {r!r}")
        self.assertRc(self.check(local), 0)
        # Someone makes the VIP holder a replica by hand, of the other node.
        peer.call("REPLICAOF", "NO", "ONE")
        populate(peer, 30, prefix="p")
        self.replicate(local, peer)
        c = self.check(local)
        self.assertRc(c, 1)
        self.assertIn("link up", c.log)
        # Its master dies: no node holds the data but this one; it keeps the VIP.
        peer.kill()
        itkit.wait_until(lambda: local.info("replication").get("master_link_status") == "down",
                         10, what="the replica's link to go down")
        self.assertRc(self.check(local), 0)

    def test_a_backup_replica_is_healthy(self):
        peer = self.server()
        local = self.server()
        populate(peer, 20)
        r = self.hook("redis_backup", local, peer, "--backup-grace", "0")
        self.assertIn("verdict=replicating exit=0", r.log, f"setup: {r!r}")
        self.assertRc(self.check(local), 0)


if __name__ == "__main__":
    itkit.main()
