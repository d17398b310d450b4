"""The hooks against real redis-servers configured in ways operators use:
an ACL user that lacks one of the permissions the hooks need (the hook must
fail with exit 1 and a log line naming NOPERM, and change nothing), and
commands renamed in redis.conf (they work with --rename-command)."""
import os

from robkit import MARGIN, HostileTestCase, main, populate, setUpModule  # noqa: F401
import samples

USER, PASSWORD = "hook", "hook-pw-7f3a"
# The permissions of the `user keepalived` line of keepalived/redis-acl.conf.
PERMISSIONS = tuple(samples.acl_permissions())
TIMEOUT_MS = 500
SYNC_TIMEOUT_S = 2
KEYS = 50


def grant(server, without=None):
    """Creates the hooks' ACL user on `server`, with every permission but `without`."""
    permissions = [p for p in PERMISSIONS if p != without]
    server.call("ACL", "SETUSER", USER, "reset", "on", f">{PASSWORD}", *permissions)


def read_config(server):
    with open(server.conf) as f:
        return f.read()


class AclTest(HostileTestCase):
    """Each hook run authenticates as an ACL user lacking one permission."""

    def run_as_user(self, tool, *args):
        return self.run_tool(tool, "--user", USER, "--timeout", str(TIMEOUT_MS), *args,
                             env={"REDISCLI_AUTH": PASSWORD}, timeout=60)

    def hook(self, tool, local, peer, sync_timeout=SYNC_TIMEOUT_S):
        return self.run_as_user(tool, "--host", "127.0.0.1", "--port", str(local.port),
                                "--peer", f"127.0.0.1:{peer.port}",
                                "--sync-timeout", str(sync_timeout), "--backup-grace", "0")

    def test_check_without_ping(self):
        srv = self.server()
        grant(srv, without="+ping")
        r = self.run_as_user("redis_check", "--host", "127.0.0.1", "--port", str(srv.port))
        self.assert_bounded(r, 1, TIMEOUT_MS / 1000 + MARGIN, r"unhealthy .*NOPERM")

    def test_backup_without_replicaof_changes_nothing(self):
        local, peer = self.server(), self.server()
        populate(peer, KEYS)
        grant(local, without="+replicaof")
        grant(peer)
        config_before = read_config(local)
        r = self.hook("redis_backup", local, peer)
        self.assert_bounded(r, 1, SYNC_TIMEOUT_S + 2, r"REPLICAOF refused: NOPERM", "error")
        self.assert_role(local, "master")
        self.assertEqual(self.dbsize(local), 0)
        self.assertEqual(read_config(local), config_before, "local redis.conf was rewritten")
        self.assert_role(peer, "master")
        self.assertEqual(self.dbsize(peer), KEYS)

    def test_backup_without_info_changes_nothing(self):
        local, peer = self.server(), self.server()
        populate(peer, KEYS)
        grant(local, without="+info")
        grant(peer)
        r = self.hook("redis_backup", local, peer)
        self.assert_bounded(r, 1, SYNC_TIMEOUT_S + 2, r"INFO refused: NOPERM", "timeout")
        self.assert_role(local, "master")
        self.assertEqual(self.dbsize(local), 0)

    def test_master_without_client_pause_on_peer_stays_replica(self):
        # The final comparison needs CLIENT PAUSE on the peer; without it the
        # hook must not promote on an unverified offset. Waiting cannot cure
        # a missing permission: the hook names it once and exits 1 at once,
        # long before --sync-timeout, instead of ~50 identical warnings a
        # second blamed on "sync not complete".
        local, peer = self.server(), self.server()
        populate(peer, KEYS)
        self.replicate(local, peer)
        grant(local)
        grant(peer, without="+client|pause")
        r = self.hook("redis_master", local, peer, sync_timeout=30)
        self.assert_bounded(r, 1, 5.0,
                            r"refuses CLIENT PAUSE \(.*CLIENT PAUSE refused: NOPERM.*"
                            r"grant the hooks' user \+client\|pause", "peer-denied")
        self.assertEqual(r.log.count("WARNING"), 1, f"the refusal is not said once: {r!r}")
        self.assertNotIn("sync not complete", r.log)
        self.assert_role(local, "slave", master_port=peer.port)
        self.assert_role(peer, "master")
        self.assertEqual(self.dbsize(peer), KEYS)

    def test_master_without_replicaof_stays_replica(self):
        local, peer = self.server(), self.server()
        populate(peer, KEYS)
        self.replicate(local, peer)
        grant(local, without="+replicaof")
        peer.stop()  # unreachable peer: the hook tries to promote at once
        r = self.hook("redis_master", local, peer)
        self.assert_bounded(r, 1, SYNC_TIMEOUT_S + 2, r"REPLICAOF refused: NOPERM", "error")
        self.assert_role(local, "slave", master_port=peer.port)
        self.assertEqual(self.dbsize(local), KEYS)


class RenamedCommandsTest(HostileTestCase):
    """rename-command in redis.conf, and the hooks told with --rename-command."""

    RENAMES = ["rename-command CONFIG rk-config-9d2", "rename-command REPLICAOF rk-replicaof-9d2"]
    OPTIONS = ["--rename-command", "CONFIG=rk-config-9d2",
               "--rename-command", "replicaof=rk-replicaof-9d2"]

    def hook(self, tool, local, peer, *extra):
        return self.run_tool(tool, *self.hook_args(local.port, peer.port, TIMEOUT_MS),
                             "--sync-timeout", str(SYNC_TIMEOUT_S), "--backup-grace", "0",
                             *extra, timeout=60)

    def test_backup_replicates_and_rewrites_through_renamed_commands(self):
        local, peer = self.server(self.RENAMES), self.server(self.RENAMES)
        populate(peer, KEYS)
        r = self.hook("redis_backup", local, peer, *self.OPTIONS)
        self.assertRc(r, 0)
        self.assertIn("verdict=replicating exit=0", r.log)
        self.assertIn("local config rewritten", r.log)
        self.assertNotIn("CONFIG REWRITE failed", r.log)
        self.assert_role(local, "slave", master_port=peer.port)
        self.assertRegex(read_config(local), rf"(?m)^replicaof 127\.0\.0\.1 {peer.port}$")

    def test_without_the_option_the_renamed_command_is_refused_and_logged(self):
        local, peer = self.server(self.RENAMES), self.server(self.RENAMES)
        populate(peer, KEYS)
        r = self.hook("redis_backup", local, peer)
        self.assert_bounded(r, 1, SYNC_TIMEOUT_S + 2, r"REPLICAOF refused: ERR unknown command",
                            "error")
        self.assert_role(local, "master")

    def test_master_promotes_and_repoints_through_renamed_commands(self):
        local, peer = self.server(self.RENAMES), self.server(self.RENAMES)
        populate(peer, KEYS)
        local.call("rk-replicaof-9d2", "127.0.0.1", str(peer.port))
        self.wait_link_up(local, peer)
        r = self.hook("redis_master", local, peer, *self.OPTIONS)
        self.assertRc(r, 0)
        self.assertIn("verdict=promoted exit=0", r.log)
        self.assertNotIn("CONFIG REWRITE failed", r.log)
        self.assert_role(local, "master")
        self.assert_role(peer, "slave", master_port=local.port)
        self.assertNotRegex(read_config(local), r"(?m)^replicaof ")
        self.assertRegex(read_config(peer), rf"(?m)^replicaof 127\.0\.0\.1 {local.port}$")
        self.assertEqual(self.dbsize(local), KEYS)


if __name__ == "__main__":
    main()
