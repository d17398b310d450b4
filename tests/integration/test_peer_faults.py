"""redis_master against a peer that stalls, dies, refuses us or is us: an
incomplete node is never promoted because its peer went quiet, a refusal is
named and ends the hook at once, and a peer address that leads back to the
local Redis changes nothing."""
import signal
import threading
import time

import itkit
from itkit import Resp, RoleMonitor, ToolTestCase, populate, setUpModule  # noqa: F401

KEYS = 1000
TIMEOUT_MS = 300
# Redis waits this long before it starts a full sync to a new replica: the
# window in which the hook has asked for the sync and has no data yet.
SYNC_DELAY_S = 5
SLOW_SYNC = (f"repl-diskless-sync-delay {SYNC_DELAY_S}", "enable-debug-command yes")


class PeerFaultTest(ToolTestCase):

    def start_master_hook(self, local, peer, *extra, env=None):
        return self.start_tool("redis_master", *self.hook_args(local.port, peer.port, TIMEOUT_MS),
                               *extra, env=env)

    def wait_log(self, running, text, timeout=10):
        itkit.wait_until(lambda: text in itkit.read_text(self.log_file) or
                         running.poll() is not None, timeout, what=f"'{text}' in the hook's log")
        if text not in itkit.read_text(self.log_file):
            self.fail(f"setup: the hook never logged '{text}': {running.result()!r}")

    def never_master_while_incomplete(self, samples):
        # A fresh node starts as an empty master; from the hook's REPLICAOF
        # on, it may be master again only with all the data.
        first_replica = next((i for i, s in enumerate(samples) if s[1] == "slave"), None)
        self.assertIsNotNone(first_replica, "setup: the node never became a replica")
        early = [s for s in samples[first_replica:] if s[1] == "master" and s[5] < KEYS]
        self.assertEqual(early[:5], [], "local was master before it held the peer's "
                         "data (t, role, loading, sync, link, keys, master_port)")

    def stalled_peer_case(self, stall):
        """A fresh node asks the peer for its data; the peer then stalls for
        longer than the hook's --timeout. The old hook took the first
        time-out for a dead peer and promoted the empty node."""
        peer = self.server(SLOW_SYNC)
        local = self.server()
        populate(peer, KEYS)
        mon = RoleMonitor(local).start()
        running = self.start_master_hook(local, peer, "--sync-timeout", "40")
        self.wait_log(running, "replicating peer")
        stall(peer)
        r = running.wait_exit(60)
        samples = mon.stop()
        # The stall was seen, and did not end the sync-wait.
        self.assertRegex(r.log, r"decision wait-for-peer: peer is silent .*incomplete",
                         f"the stall was not observed as a silent peer: {r!r}")
        self.assertNotIn("promote: peer", r.log)
        self.never_master_while_incomplete(samples)
        self.assertRc(r, 0)
        self.assertIn("verdict=promoted exit=0", r.log)
        self.assert_role(local, "master")
        self.assert_all_keys(local, KEYS)

    def test_peer_in_debug_sleep_does_not_get_an_empty_node_promoted(self):
        def debug_sleep(peer):
            def sleep():
                with Resp("127.0.0.1", peer.port, timeout=10) as c:
                    c.call("DEBUG", "SLEEP", "1.2")
            threading.Thread(target=sleep, daemon=True).start()
        self.stalled_peer_case(debug_sleep)

    def test_peer_in_client_pause_all_does_not_get_an_empty_node_promoted(self):
        # CLIENT PAUSE ALL holds every client's commands, INFO included.
        self.stalled_peer_case(lambda peer: peer.call("CLIENT", "PAUSE", "1500", "ALL"))

    def test_peer_stopped_for_a_moment_does_not_get_an_empty_node_promoted(self):
        def sigstop(peer):
            peer.proc.send_signal(signal.SIGSTOP)
            self.addCleanup(lambda: peer.proc.poll() is None
                            and peer.proc.send_signal(signal.SIGCONT))
            resume = threading.Timer(1.5, lambda: peer.proc.send_signal(signal.SIGCONT))
            resume.start()
            self.addCleanup(resume.cancel)
        self.stalled_peer_case(sigstop)

    def test_peer_killed_mid_sync_leaves_the_node_a_replica(self):
        # The peer dies for real before this node got its data: nothing may
        # be promoted that lacks it; the wait ends at --sync-timeout.
        sync_timeout = 3
        peer = self.server(SLOW_SYNC)
        local = self.server()
        populate(peer, KEYS)
        running = self.start_master_hook(local, peer, "--sync-timeout", str(sync_timeout))
        self.wait_log(running, "replicating peer")
        peer.kill()
        r = running.wait_exit(sync_timeout + 5)
        self.assertRc(r, 1)
        self.assertIn("verdict=sync-timeout exit=1", r.log)
        self.assertRegex(r.log, r"decision wait-for-peer: peer is gone .*incomplete: .*"
                         r"(no sync .* has completed|last seen at offset)")
        self.assertIn("staying a replica", r.log)
        self.assert_role(local, "slave", master_port=peer.port)
        # ~150 refused connects in 3 s, logged once per distinct error (and
        # once more per 10 s with a count).
        self.assertLessEqual(r.log.count("not readable"), 3, f"the log floods: {r!r}")

    def test_wrong_password_on_the_peer_is_named_and_changes_nothing(self):
        # The local node is mid-sync from a peer with another password; the
        # hook is given the local password only. The old hook took WRONGPASS
        # for "unreachable" and promoted the empty node at once.
        peer = self.server(["requirepass peer-pw", "repl-diskless-sync-delay 5"],
                           auth="peer-pw")
        local = self.server(["requirepass local-pw", "masterauth peer-pw"], auth="local-pw")
        populate(peer, KEYS)
        local.call("REPLICAOF", "127.0.0.1", peer.port)
        r = self.run_tool("redis_master", *self.hook_args(local.port, peer.port, TIMEOUT_MS),
                          "--sync-timeout", "30", env={"REDISCLI_AUTH": "local-pw"})
        self.assertRc(r, 1)
        self.assertIn("verdict=peer-denied exit=1", r.log)
        self.assertIn("WRONGPASS", r.log)
        self.assertLess(r.elapsed, 3.0, f"a refusal was waited on: {r!r}")
        self.assert_role(local, "slave", master_port=peer.port)

    def test_noperm_on_the_peers_info_is_named_and_changes_nothing(self):
        user, password = "hook", "hook-pw"
        peer = self.server()
        local = self.server()
        populate(peer, KEYS)
        self.replicate(local, peer)
        local.call("ACL", "SETUSER", user, "on", f">{password}", "+@all")
        peer.call("ACL", "SETUSER", user, "on", f">{password}", "+@all", "-info")
        r = self.run_tool("redis_master", *self.hook_args(local.port, peer.port, TIMEOUT_MS),
                          "--user", user, "--sync-timeout", "30",
                          env={"REDISCLI_AUTH": password})
        self.assertRc(r, 1)
        self.assertIn("verdict=peer-denied exit=1", r.log)
        self.assertRegex(r.log, r"INFO refused: NOPERM")
        self.assertLess(r.elapsed, 3.0, f"a refusal was waited on: {r!r}")
        self.assert_role(local, "slave", master_port=peer.port)

    def test_killed_peer_of_a_complete_node_still_fails_over_at_once(self):
        peer = self.server()
        local = self.server()
        populate(peer, KEYS)
        self.replicate(local, peer)
        peer.kill()
        r = self.run_tool("redis_master", *self.hook_args(local.port, peer.port, TIMEOUT_MS))
        self.assertRc(r, 0)
        self.assertIn("verdict=promoted exit=0", r.log)
        self.assertIn("peer is gone", r.log)
        # No grace is waited for a peer that refuses connections.
        self.assertLess(r.elapsed, 1.5, f"a dead peer was waited for: {r!r}")
        self.assert_all_keys(local, KEYS)


class PeerIsLocalTest(ToolTestCase):

    def test_classic_form_naming_the_local_redis_twice_is_a_usage_error(self):
        local = self.server()
        r = self.run_tool("redis_master", "127.0.0.1", "127.0.0.1", str(local.port))
        self.assertRc(r, 2)
        self.assertIn("is the local Redis itself", r.stderr)
        self.assert_role(local, "master")

    def test_another_spelling_of_the_local_redis_is_caught_by_run_id(self):
        local = self.server()
        populate(local, 10)
        client = local.client()
        self.addCleanup(client.close)
        for tool in ("redis_master", "redis_backup"):
            r = self.run_tool(tool, "--host", "127.0.0.1", "--port", str(local.port),
                              "--peer", f"localhost:{local.port}", "--sync-timeout", "10")
            self.assertRc(r, 1)
            self.assertIn("verdict=peer-is-local exit=1", r.log)
            self.assertIn("same run_id", r.log)
            self.assertLess(r.elapsed, 3.0)
        # Nothing changed: still a master, and its clients were not killed.
        self.assert_role(local, "master")
        self.assertEqual(client.call("PING"), "PONG")
        self.assertEqual(self.dbsize(local), 10)


if __name__ == "__main__":
    itkit.main()
