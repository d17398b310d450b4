"""redis_status: the pair at a glance, for people and as JSON. Read-only."""
import json

import itkit
from itkit import ToolTestCase, setUpModule  # noqa: F401


class StatusTest(ToolTestCase):

    def pair(self):
        master = self.server()
        replica = self.server()
        for i in range(10):
            master.call("SET", f"k:{i}", i)
        self.replicate(replica, master)
        return master, replica

    def commands_processed(self, server):
        return int(server.info("stats")["total_commands_processed"])

    def test_text_after_promotion_shows_vip_roles_and_last_hook(self):
        master, replica = self.pair()
        r = self.run_tool("redis_master", *self.hook_args(replica.port, master.port))
        self.assertRc(r, 0)
        r = self.run_tool("redis_status", *self.hook_args(replica.port, master.port))
        self.assertRc(r, 0)
        self.assertIn("holds the VIP", r.stdout)
        self.assertIn(f"local 127.0.0.1:{replica.port}: master", r.stdout)
        self.assertIn(f"replica of 127.0.0.1:{replica.port}", r.stdout)
        self.assertIn("verdict=promoted", r.stdout)

    def test_json_is_parseable_and_complete(self):
        master, replica = self.pair()
        r = self.run_tool("redis_status", "--json", *self.hook_args(replica.port, master.port))
        self.assertRc(r, 0)
        report = json.loads(r.stdout)
        self.assertFalse(report["holds_vip"])
        self.assertEqual(report["local"]["role"], "replica")
        self.assertEqual(report["local"]["follows"], f"127.0.0.1:{master.port}")
        self.assertEqual(report["local"]["link"], "up")
        self.assertEqual(report["local"]["keys"], 10)
        self.assertEqual(report["peer"]["role"], "master")
        self.assertEqual(len(report["peer"]["replicas"]), 1)
        self.assertEqual(report["peer"]["replicas"][0]["state"], "online")

    def test_unreachable_local_exits_1_and_says_so(self):
        port = itkit.free_port()
        r = self.run_tool("redis_status", "--json", "--port", str(port))
        self.assertRc(r, 1)
        report = json.loads(r.stdout)
        self.assertFalse(report["local"]["reachable"])
        self.assertIsNone(report["peer"])

    def test_is_read_only(self):
        master, replica = self.pair()
        before = master.info("replication")
        r = self.run_tool("redis_status", *self.hook_args(replica.port, master.port))
        self.assertRc(r, 0)
        after = master.info("replication")
        self.assertEqual(before["role"], after["role"])
        self.assertEqual(self.role(replica), "slave")
        stats = master.call("INFO", "commandstats")
        self.assertNotIn("cmdstat_replicaof", stats)
        self.assertNotIn("cmdstat_config", stats)


if __name__ == "__main__":
    itkit.main()
