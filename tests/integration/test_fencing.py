"""--fence-writes: the master keeps min-replicas-to-write 1 while its
replica is attached, so a master cut off from its replica stops taking
writes that the other side would discard at the heal; a master promoted
without its peer runs unfenced until the replica is back; a server that
refuses the setting is a configuration error that changes nothing."""
import itkit
from itkit import ToolTestCase, populate, setUpModule  # noqa: F401

TIMEOUT_MS = 500
FENCE = ("--fence-writes", "--fence-max-lag", "3")


def min_replicas(server):
    reply = server.call("CONFIG", "GET", "min-replicas-to-write")
    return int(reply[1])


def fence_values(server):
    """(min-replicas-to-write, min-replicas-max-lag) as the server holds them."""
    reply = server.call("CONFIG", "GET", "min-replicas-*")
    values = dict(zip(reply[::2], reply[1::2]))
    return int(values["min-replicas-to-write"]), int(values["min-replicas-max-lag"])


def config_lines(server):
    """The min-replicas-* lines of the server's redis.conf."""
    with open(server.conf) as f:
        return sorted(line.strip() for line in f if line.startswith("min-replicas-"))


class FencingTest(ToolTestCase):

    def hook(self, tool, local, peer, *extra, env=None):
        return self.run_tool(tool, *self.hook_args(local.port, peer.port, TIMEOUT_MS), *FENCE,
                             "--backup-grace", "0", *extra, env=env)

    def test_promoted_without_its_peer_runs_unfenced(self):
        peer = self.server()
        local = self.server()
        populate(peer, 50)
        self.replicate(local, peer)
        # The toolkit's fence, left from before (--fence-max-lag 3).
        local.call("CONFIG", "SET", "min-replicas-max-lag", "3")
        local.call("CONFIG", "SET", "min-replicas-to-write", "1")
        peer.kill()
        r = self.hook("redis_master", local, peer)
        self.assertRc(r, 0)
        self.assertIn("local fence: min-replicas-to-write 0", r.log)
        self.assertEqual(min_replicas(local), 0)
        local.call("SET", "accepted", "1")  # not -NOREPLICAS

    def test_the_operators_own_values_are_what_unfenced_means(self):
        operator = ["min-replicas-to-write 2", "min-replicas-max-lag 7"]
        peer = self.server(extra_config=operator)
        local = self.server(extra_config=operator)
        # A master with min-replicas-to-write 2 and one replica takes no
        # write: the keys go in before.
        peer.call("CONFIG", "SET", "min-replicas-to-write", "0")
        populate(peer, 50)
        peer.call("CONFIG", "SET", "min-replicas-to-write", "2")
        self.replicate(local, peer)
        # A hook remembers the operator's values first (the replica comes
        # back: nothing to do but record), then the toolkit's fence is on
        # when the promotion starts.
        r = self.hook("redis_backup", local, peer)
        self.assertRc(r, 0)
        self.assertEqual(fence_values(peer), (2, 3))  # the toolkit's fence over theirs
        local.call("CONFIG", "SET", "min-replicas-max-lag", "3")
        peer.kill()
        r = self.hook("redis_master", local, peer)
        self.assertRc(r, 0)
        self.assertIn("local fence: min-replicas-to-write 2 (min-replicas-max-lag 7 s), the "
                      "operator's own", r.log)
        self.assertEqual(fence_values(local), (2, 7))
        self.assertEqual(config_lines(local),
                         ["min-replicas-max-lag 7", "min-replicas-to-write 2"])

    def test_a_demoted_fenced_master_keeps_the_operators_values_in_its_config(self):
        operator = ["min-replicas-max-lag 7"]
        peer = self.server(extra_config=operator)  # the master, to be demoted
        local = self.server(extra_config=operator)
        populate(peer, 50)
        r = self.hook("redis_backup", local, peer)
        self.assertRc(r, 0)
        self.assertEqual(fence_values(peer), (1, 3))  # fenced: its replica is attached
        # keepalived makes this node MASTER while the peer still serves: it
        # promotes itself and demotes the fenced peer, rewriting its config.
        r = self.hook("redis_master", local, peer)
        self.assertRc(r, 0)
        self.assert_role(peer, "slave", master_port=local.port)
        self.assertIn("peer config rewritten", r.log)
        # Neither the fence nor its lag reached the demoted node's redis.conf,
        # and its run-time values are the operator's again.
        self.assertEqual(config_lines(peer), ["min-replicas-max-lag 7"])
        self.assertEqual(fence_values(peer), (0, 7))
        self.assertEqual(config_lines(local), ["min-replicas-max-lag 7"])

    def test_the_replica_back_and_caught_up_fences_the_master(self):
        peer = self.server()  # the master
        local = self.server()
        populate(peer, 50)
        r = self.hook("redis_backup", local, peer)
        self.assertRc(r, 0)
        self.assertIn("verdict=replicating exit=0", r.log)
        self.assertIn("peer fence: min-replicas-to-write 1 (min-replicas-max-lag 3 s)", r.log)
        self.assertEqual(min_replicas(peer), 1)
        self.assertEqual(peer.call("CONFIG", "GET", "min-replicas-max-lag")[1], "3")
        peer.call("SET", "fenced-but-acked", "1")  # the replica ACKs: accepted
        # The replica goes away: after the lag the master refuses writes.
        local.kill()

        def refused():
            try:
                peer.call("SET", "after", "1")
            except itkit.RedisReplyError as exc:
                return "NOREPLICAS" in str(exc)
            return False
        itkit.wait_until(refused, 3 + 2 + itkit.MARGIN, interval=0.1,
                         what="the master to refuse writes without its replica")

    def test_a_refused_setting_is_exit_2_and_changes_nothing(self):
        user, password = "hook", "hook-pw"
        peer = self.server()
        local = self.server()
        populate(peer, 50)
        self.replicate(local, peer)
        local.call("ACL", "SETUSER", user, "on", f">{password}", "+@all", "-config|set")
        peer.call("ACL", "SETUSER", user, "on", f">{password}", "+@all")
        peer.kill()
        r = self.hook("redis_master", local, peer, "--user", user,
                      env={"REDISCLI_AUTH": password})
        self.assertRc(r, 2)
        self.assertIn("--fence-writes", r.stderr)
        self.assertIn("+config|set", r.stderr)
        self.assertIn("nothing done (exit 2)", r.log)
        self.assert_role(local, "slave", master_port=peer.port)


if __name__ == "__main__":
    itkit.main()
