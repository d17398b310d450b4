"""redis_status: the pair at a glance, for people and as JSON. Read-only."""
import json
import os
import time

import itkit
from itkit import ToolTestCase, setUpModule  # noqa: F401


class StatusTest(ToolTestCase):

    def pair(self):
        master = self.server()
        replica = self.server()
        for i in range(10):
            master.call("SET", f"k:{i}", i)
        self.replicate(replica, master)
        # The replica reports its link up slightly before the master lists
        # it as online; wait for both views to agree.
        itkit.wait_until(lambda: "state=online" in master.info("replication").get("slave0", ""),
                         10, what="master to list its replica as online")
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

    def test_names_each_nodes_server_and_version(self):
        master, replica = self.pair()
        name, version = self.server_identity(replica)
        peer_name, peer_version = self.server_identity(master)
        args = self.hook_args(replica.port, master.port)
        r = self.run_tool("redis_status", *args)
        self.assertRc(r, 0)
        lines = r.stdout.splitlines()
        local = [line for line in lines if line.startswith(f"local 127.0.0.1:{replica.port}:")]
        peer = [line for line in lines if line.startswith(f"peer  127.0.0.1:{master.port}:")]
        self.assertEqual(len(local), 1, r.stdout)
        self.assertEqual(len(peer), 1, r.stdout)
        self.assertTrue(local[0].endswith(f", server: {name} {version}"), local[0])
        self.assertTrue(peer[0].endswith(f", server: {peer_name} {peer_version}"), peer[0])
        r = self.run_tool("redis_status", "--json", *args)
        self.assertRc(r, 0)
        report = json.loads(r.stdout)
        self.assertEqual((report["local"]["server_name"], report["local"]["server_version"]),
                         (name, version))
        self.assertEqual((report["peer"]["server_name"], report["peer"]["server_version"]),
                         (peer_name, peer_version))

    def test_health_age_shows_whether_the_check_runs(self):
        master, replica = self.pair()
        r = self.run_tool("redis_status", "--json", *self.hook_args(replica.port, master.port))
        self.assertEqual(json.loads(r.stdout)["health_age_s"], -1)
        for _ in range(2):  # the second run changes nothing but the file's age
            self.assertRc(self.run_tool("redis_check", "127.0.0.1", replica.port), 0)
        health = self.state_path("health")
        os.utime(health, (time.time() - 120, time.time() - 120))
        r = self.run_tool("redis_status", *self.hook_args(replica.port, master.port))
        self.assertIn("redis_check has not run lately", r.stdout)
        self.assertRc(self.run_tool("redis_check", "127.0.0.1", replica.port), 0)
        r = self.run_tool("redis_status", "--json", *self.hook_args(replica.port, master.port))
        report = json.loads(r.stdout)
        self.assertEqual(report["health"], "healthy")
        self.assertLess(report["health_age_s"], 5)

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
