"""--witness: a master that reaches neither its peer nor any witness fails
its check ("isolated") and fences its Redis (min-replicas-to-write 1), so
that it stops taking writes the other side would discard at the heal; the
first check that reaches either again lifts the fence. Unreachable here is a
loopback port whose connects never complete (a host that drops SYNs); a
refused connection is an answer."""
import itkit
from itkit import MARGIN, RedisReplyError, ToolTestCase, setUpModule  # noqa: F401

TIMEOUT_MS = 500


class WitnessTest(ToolTestCase):

    def check(self, srv, peer_port, *witness_ports, extra=()):
        args = ["--timeout", str(TIMEOUT_MS), "--host", "127.0.0.1", "--port", str(srv.port),
                "--peer", f"127.0.0.1:{peer_port}", *extra]
        for port in witness_ports:
            args += ["--witness", f"127.0.0.1:{port}"]
        return self.run_tool("redis_check", *args, timeout=20)

    def min_replicas(self, srv):
        return srv.call("CONFIG", "GET", "min-replicas-to-write")[1]

    def assert_writes(self, srv, accepted):
        try:
            srv.call("SET", "probe", "1")
            took = True
        except RedisReplyError as error:
            self.assertIn("NOREPLICAS", str(error))
            took = False
        self.assertEqual(took, accepted, f"writes accepted on port {srv.port}")

    def test_a_cut_off_master_fails_and_fences_then_recovers(self):
        srv = self.server()
        r = self.check(srv, self.silent_port(), self.silent_port(), self.silent_port())
        self.assertRc(r, 1)
        self.assertLess(r.elapsed, TIMEOUT_MS / 1000 + MARGIN)
        self.assertRegex(r.log, r"healthy -> isolated|unknown -> isolated")
        self.assertIn("reaches neither its peer nor any of its 2 witness(es)", r.log)
        self.assertEqual(self.min_replicas(srv), "1")
        self.assert_writes(srv, False)
        # Still cut off: still failing, still fenced.
        r = self.check(srv, self.silent_port(), self.silent_port())
        self.assertRc(r, 1)
        self.assertEqual(self.min_replicas(srv), "1")
        # A witness answers again (a refused connection is an answer).
        r = self.check(srv, self.silent_port(), itkit.free_port())
        self.assertRc(r, 0)
        self.assertIn("isolation fence lifted", r.log)
        self.assertEqual(self.min_replicas(srv), "0")
        self.assert_writes(srv, True)

    def test_the_fence_sets_the_lag_and_the_lift_leaves_it(self):
        srv = self.server()
        r = self.check(srv, self.silent_port(), self.silent_port(), extra=["--fence-max-lag", "7"])
        self.assertRc(r, 1)
        self.assertEqual(self.min_replicas(srv), "1")
        self.assertEqual(srv.call("CONFIG", "GET", "min-replicas-max-lag")[1], "7")
        srv.call("CONFIG", "SET", "min-replicas-max-lag", "9")
        r = self.check(srv, self.silent_port(), itkit.free_port(), extra=["--fence-max-lag", "7"])
        self.assertRc(r, 0)
        self.assertIn("isolation fence lifted", r.log)
        self.assertEqual(self.min_replicas(srv), "0")
        self.assertEqual(srv.call("CONFIG", "GET", "min-replicas-max-lag")[1], "9")

    def test_a_reachable_peer_is_enough(self):
        srv = self.server()
        peer = self.server()
        r = self.check(srv, peer.port, self.silent_port())
        self.assertRc(r, 0)
        self.assertEqual(self.min_replicas(srv), "0")

    def test_a_reachable_witness_is_enough(self):
        srv = self.server()
        witness = self.server()
        r = self.check(srv, self.silent_port(), self.silent_port(), witness.port)
        self.assertRc(r, 0)
        self.assertEqual(self.min_replicas(srv), "0")

    def test_a_replica_is_never_fenced(self):
        master = self.server()
        replica = self.server()
        self.replicate(replica, master)
        r = self.check(replica, self.silent_port(), self.silent_port())
        self.assertRc(r, 0)
        self.assertEqual(self.min_replicas(replica), "0")

    def test_fence_writes_policy_is_restored_after_isolation(self):
        srv = self.server()
        r = self.check(srv, self.silent_port(), self.silent_port(), extra=["--fence-writes"])
        self.assertRc(r, 1)
        self.assertEqual(self.min_replicas(srv), "1")
        r = self.check(srv, itkit.free_port(), self.silent_port(), extra=["--fence-writes"])
        self.assertRc(r, 0)
        # No replica is attached: the --fence-writes policy is 0 as well.
        self.assertEqual(self.min_replicas(srv), "0")

    def test_a_refused_config_set_still_fails_the_check(self):
        acl = ["user default off",
               "user checker on >pw ~* &* +ping +info",
               "user admin on >ap ~* &* +@all"]
        srv = self.server(extra_config=acl, auth=("admin", "ap"))
        r = self.run_tool("redis_check", "--timeout", str(TIMEOUT_MS), "--host", "127.0.0.1",
                          "--port", str(srv.port), "--peer", f"127.0.0.1:{self.silent_port()}",
                          "--witness", f"127.0.0.1:{self.silent_port()}", "--user", "checker",
                          env={"REDISCLI_AUTH": "pw"}, timeout=20)
        self.assertRc(r, 1)
        self.assertIn("isolated", r.log)
        self.assertIn("fence not changed", r.log)
        self.assertIn("NOPERM", r.log)

    def test_malformed_witness_is_a_usage_error(self):
        srv = self.server()
        for bad in ("127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:70000", "[::1]",
                    "bad host:1", ""):
            r = self.run_tool("redis_check", "--host", "127.0.0.1", "--port", str(srv.port),
                              "--peer", "127.0.0.1:1", "--witness", bad, timeout=20)
            self.assertRc(r, 2)
            self.assertIn("--witness", r.stderr)
            self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        r = self.run_tool("redis_check", "--host", "127.0.0.1", "--port", str(srv.port),
                          "--witness", "127.0.0.1:1", timeout=20)
        self.assertRc(r, 2)
        self.assertIn("--witness needs --peer", r.stderr)
        self.assertEqual(self.min_replicas(srv), "0")

    def test_a_hook_whose_redis_refuses_config_is_a_usage_error(self):
        acl = ["user default off",
               "user hook on >pw ~* &* +ping +info +role +replicaof +config|rewrite "
               "+client|kill +client|pause +client|unpause",
               "user admin on >ap ~* &* +@all"]
        local = self.server(extra_config=acl, auth=("admin", "ap"))
        peer = self.server()
        r = self.run_tool("redis_master", *self.hook_args(local.port, peer.port), "--user", "hook",
                          "--witness", f"127.0.0.1:{peer.port}", env={"REDISCLI_AUTH": "pw"},
                          timeout=20)
        self.assertRc(r, 2)
        self.assertIn("--witness: the local Redis refuses CONFIG GET/SET", r.stderr)
        self.assert_role(local, "master")


if __name__ == "__main__":
    itkit.main()
