"""After a split heals, the newer history wins, not VRRP's choice: the node
that served the clients during the split (its notify_backup runs, since the
old master wins the VRRP election) makes the old master its replica, and the
old master's check then gives the VIP up."""
import os

import itkit
from delayproxy import DelayProxy
from itkit import ToolTestCase, setUpModule  # noqa: F401

CLIENT_KILL = b"$6\r\nCLIENT\r\n$4\r\nKILL\r\n"
REPLICAOF = b"$9\r\nREPLICAOF\r\n$9\r\n127.0.0.1\r\n"


class HealTest(ToolTestCase):

    def test_the_node_that_served_the_split_keeps_its_writes_and_demotes_the_peer(self):
        a = self.server()  # the old master, preferred by VRRP: VIP holder after the heal
        b = self.server()  # promoted during the split, took the clients' writes
        # a recorded MASTER before the split (its notify_master long done).
        r = self.run_tool("redis_master", *self.node_args("a", a, b), common=False)
        self.assertIn("exit=0", r.stderr, f"setup: {r!r}")
        self.split(a, b, 300)
        r = self.run_tool("redis_backup", *self.node_args("b", b, a), "--backup-grace", "5",
                          common=False)
        self.assertRc(r, 0)
        self.assertIn("verdict=peer-demoted exit=0", r.stderr)
        self.assertRegex(r.stderr, r"heal: the newest history wins: histories fork at offset \d+: "
                         r"this node took \d+ bytes")
        # No grace was waited: the old master holds the VIP and takes writes.
        self.assertLess(r.elapsed, 3.0)
        self.assert_role(b, "master")
        self.assert_role(a, "slave", master_port=b.port)
        self.wait_link_up(a, b)
        # A partial resync (the old master took nothing after the fork) may
        # still be applying the stream when the link is up.
        itkit.wait_until(lambda: self.dbsize(a) == 500, 10, what="the old master to catch up")
        self.assert_all_keys(a, 300, prefix="split")
        self.assert_all_keys(a, 200)
        # The old master, still keepalived's MASTER, gives the VIP up.
        c = self.run_tool("redis_check", "--host", "127.0.0.1", "--port", str(a.port),
                          "--state-dir", os.path.join(self.tmp, "state-a"), "--instance",
                          self.instance, "--log-file", self.log_file, common=False)
        self.assertRc(c, 1)
        self.assertIn("-> yielding", c.stderr)

    def demote_through(self, cue):
        """The heal of test 1, with the hook reaching the old master through a
        proxy that fires `cue`; returns (a, b, the hook's result)."""
        a = self.server()
        b = self.server()
        r = self.run_tool("redis_master", *self.node_args("a", a, b), common=False)
        self.assertIn("exit=0", r.stderr, f"setup: {r!r}")
        self.split(a, b, 300)
        proxy = DelayProxy(a.port)
        self.addCleanup(proxy.close)
        cue(proxy)
        r = self.run_tool("redis_backup", *self.hook_args(b.port, proxy.port),
                          "--backup-grace", "5")
        self.assertTrue(proxy.fired.is_set())
        return a, b, r

    def test_a_reset_on_client_kill_after_the_demotion_keeps_the_verdict(self):
        a, b, r = self.demote_through(lambda p: p.cut_after(CLIENT_KILL))
        self.assertRc(r, 0)
        self.assertIn("verdict=peer-demoted exit=0", r.log)
        self.assertIn("CLIENT KILL on the peer failed", r.log)
        self.assert_role(a, "slave", master_port=b.port)

    def test_a_late_reply_to_the_demotion_is_read_again(self):
        a, b, r = self.demote_through(lambda p: p.delay_reply_after(REPLICAOF, 1.5))
        self.assertRc(r, 0)
        self.assertIn("no reply to REPLICAOF from the peer", r.log)
        self.assertIn("verdict=peer-demoted exit=0", r.log)
        self.assert_role(a, "slave", master_port=b.port)
        self.assert_role(b, "master")

    def test_the_old_master_with_the_larger_tail_keeps_the_vrrp_choice(self):
        a = self.server()
        b = self.server()
        self.split(a, b, 5, old_master_keys=300)
        r = self.run_tool("redis_backup", *self.node_args("b", b, a), "--backup-grace", "0",
                          common=False)
        self.assertRc(r, 0)
        self.assertIn("verdict=replicating exit=0", r.stderr)
        self.assertNotIn("peer-demoted", r.stderr)
        self.assertIn("split-brain", r.stderr)
        self.assert_role(a, "master")
        self.assert_all_keys(b, 300, prefix="late")


if __name__ == "__main__":
    itkit.main()
