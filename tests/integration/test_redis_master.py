"""redis_master: wait for the sync from the peer, then promote, without losing
data that the peer had or acknowledged."""
import re
import socket
import threading
import time

import itkit
from delayproxy import REPLICAOF_NO_ONE, DelayProxy
from itkit import (RedisReplyError, Resp, RoleMonitor, ToolTestCase, populate,  # noqa: F401
                   setUpModule)

SUMMARY = re.compile(r"verdict=\S+ exit=(\d+) elapsed_ms=\d+")


def writes_paused(server, within):
    """True when `server` holds a PUBLISH for `within` s: CLIENT PAUSE WRITE
    blocks it on a master and on a replica alike (a SET would be refused at
    once by a replica with READONLY, paused or not)."""
    with server.client(timeout=within) as c:
        try:
            c.call("PUBLISH", "rk-pause-probe", "1")
        except socket.timeout:
            return True
    return False


def config_has_replicaof(path):
    with open(path) as f:
        return [ln for ln in f if re.match(r"\s*(replicaof|slaveof)\s", ln, re.I)]


class Writer:
    """Writes w:<i>=<i> to a server as fast as it can, one key per attempt,
    and remembers the writes that were acknowledged (+OK)."""

    def __init__(self, server):
        self.server = server
        self.acked = []
        self.errors = []
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def _run(self):
        i = 0
        conn = None
        while not self.stop_event.is_set():
            try:
                if conn is None:
                    conn = Resp("127.0.0.1", self.server.port, timeout=5)
                i += 1
                if conn.call("SET", f"w:{i}", str(i)) == "OK":
                    self.acked.append(i)
            except RedisReplyError as exc:  # e.g. READONLY once demoted
                self.errors.append(str(exc))
                self.stop_event.wait(0.01)
            except (OSError, ConnectionError) as exc:  # killed, timed out
                self.errors.append(repr(exc))
                if conn is not None:
                    conn.close()
                conn = None
                self.stop_event.wait(0.01)
        if conn is not None:
            conn.close()

    def stop(self):
        self.stop_event.set()
        self.thread.join(timeout=15)


class RedisMasterTest(ToolTestCase):

    def master(self, local_port, peer_port, *extra, timeout=60):
        return self.run_tool("redis_master", *self.hook_args(local_port, peer_port), *extra,
                             timeout=timeout)

    def assert_summary(self, result):
        m = SUMMARY.search(result.log)
        self.assertIsNotNone(m, f"no summary line in the log: {result!r}")
        self.assertEqual(int(SUMMARY.findall(result.log)[-1]), result.rc)

    def test_peer_unreachable_promotes_at_once(self):
        peer = self.server()
        local = self.server()
        populate(peer, 200)
        self.replicate(local, peer)
        peer.kill()  # nothing listens on the peer port any more
        r = self.master(local.port, peer.port)
        self.assertRc(r, 0)
        self.assertLess(r.elapsed, 3.0, f"did not promote at once: {r!r}")
        self.assert_role(local, "master")
        self.assert_all_keys(local, 200)
        self.assert_summary(r)

    def promote_through_proxy(self, *cue):
        """A replica of a dead peer, promoted by redis_master through a proxy
        that holds the reply to REPLICAOF NO ONE (DelayProxy.delay_reply_after
        with `cue`); returns (the local server, the hook's result)."""
        peer = self.server()
        local = self.server()
        populate(peer, 200)
        self.replicate(local, peer)
        peer.kill()
        proxy = DelayProxy(local.port)
        self.addCleanup(proxy.close)
        proxy.delay_reply_after(REPLICAOF_NO_ONE, *cue)
        r = self.master(proxy.port, peer.port)
        self.assertTrue(proxy.fired.is_set())
        return local, r

    def test_a_late_reply_to_replicaof_no_one_is_read_again(self):
        # The local Redis promotes itself at once, but its +OK arrives after
        # --timeout: the hook must read the role again, not report an error.
        local, r = self.promote_through_proxy(1.5)
        self.assertRc(r, 0)
        self.assertIn("no reply to REPLICAOF NO ONE from the local Redis", r.log)
        self.assertIn("verdict=promoted exit=0", r.log)
        self.assert_role(local, "master")
        self.assert_all_keys(local, 200)

    def test_an_unknown_promotion_is_not_reported_as_nothing_promoted(self):
        # The local Redis promotes itself, but no reply comes and it cannot
        # be read again: its role is unknown (it is in fact master), which
        # the verdict must say rather than a plain error.
        local, r = self.promote_through_proxy(30, True)
        self.assertRc(r, 1)
        self.assertRegex(r.log, r"verdict=promotion-unknown exit=1 .*may or may not be master")
        self.assert_summary(r)
        self.assert_role(local, "master")

    def test_peer_host_down_promotes(self):
        # The peer's machine is gone: connects to it never complete.
        peer = self.server()
        local = self.server()
        populate(peer, 200)
        self.replicate(local, peer)
        silent = self.silent_port()
        local.call("REPLICAOF", "127.0.0.1", silent)
        r = self.master(local.port, silent)
        self.assertRc(r, 0)
        self.assertLess(r.elapsed, 5.0, f"did not promote promptly: {r!r}")
        self.assert_role(local, "master")
        self.assert_all_keys(local, 200)

    def test_peer_frozen_promotes(self):
        # The peer's Redis hangs (SIGSTOP): it accepts nothing, answers nothing.
        peer = self.server()
        local = self.server()
        populate(peer, 200)
        self.replicate(local, peer)
        self.frozen(peer)
        r = self.master(local.port, peer.port)
        self.assertRc(r, 0)
        self.assertLess(r.elapsed, 5.0, f"did not promote promptly: {r!r}")
        self.assert_role(local, "master")
        self.assert_all_keys(local, 200)

    def test_peer_is_replica_promotes_at_once(self):
        peer = self.server()
        local = self.server()
        populate(peer, 200)
        self.replicate(local, peer)
        # The peer was demoted (it replicates a node that is gone): local
        # chains from a replica and has nothing to wait for.
        peer.call("REPLICAOF", "127.0.0.1", itkit.free_port())
        r = self.master(local.port, peer.port)
        self.assertRc(r, 0)
        self.assertLess(r.elapsed, 3.0, f"did not promote at once: {r!r}")
        self.assert_role(local, "master")
        self.assert_all_keys(local, 200)

    def test_in_sync_replica_promotes_and_demotes_peer(self):
        peer = self.server()
        populate(peer, 500)
        local = self.server([f"replicaof 127.0.0.1 {peer.port}"])
        self.wait_link_up(local, peer)
        self.assertTrue(config_has_replicaof(local.conf), "setup: no replicaof in local conf")
        bystander = peer.client()  # a normal client of the peer, opened before the hook
        self.assertEqual(bystander.call("PING"), "PONG")
        self.addCleanup(bystander.close)

        r = self.master(local.port, peer.port)
        self.assertRc(r, 0)
        self.assert_summary(r)
        self.assertIn("promoted", r.log)
        self.assert_role(local, "master")
        self.assert_all_keys(local, 500)
        pi = peer.info("replication")
        self.assertEqual(pi.get("role"), "slave", f"peer not demoted: {pi}")
        self.assertEqual(pi.get("master_port"), str(local.port))
        self.assertEqual(pi.get("master_host"), "127.0.0.1")
        self.wait_link_up(peer, local, timeout=15)
        with self.subTest("CONFIG REWRITE"):
            self.assertEqual(config_has_replicaof(local.conf), [],
                             "local (now master) config still has replicaof")
            lines = config_has_replicaof(peer.conf)
            self.assertTrue(lines, "demoted peer's config has no replicaof")
            self.assertIn(str(local.port), lines[-1])
        with self.subTest("normal clients of the demoted peer are disconnected"):
            with self.assertRaises((ConnectionError, OSError)):
                bystander.call("PING")

    def test_empty_local_replicates_peer_then_promotes(self):
        peer = self.server()
        local = self.server()
        populate(peer, 1000)
        r = self.master(local.port, peer.port)
        self.assertRc(r, 0)
        self.assert_role(local, "master")
        self.assert_all_keys(local, 1000)
        self.assert_role(peer, "slave", master_port=local.port)
        self.wait_link_up(peer, local, timeout=15)
        self.assert_all_keys(peer, 1000)

    def test_slow_sync_over_10s_waits_for_all_data(self):
        peer = self.server()
        local = self.server()
        keys = 12000
        t0 = time.monotonic()
        self.slow_sync(local, peer, keys)  # ~13 s of RDB generation
        mon = RoleMonitor(local).start()
        r = self.master(local.port, peer.port, timeout=90)
        time.sleep(0.2)  # one more sample after the exit
        samples = mon.stop()
        self.assertRc(r, 0)
        early = [s for s in samples if s[1] == "master" and (s[5] < keys or s[2] == "1")]
        self.assertEqual(early[:5], [], "local was master before all the data was loaded "
                         "(t, role, loading, sync, link, keys, master_port)")
        self.assert_role(local, "master")
        self.assert_all_keys(local, keys)
        # The setup really made a sync of more than 10 s: it was still in
        # progress more than 10 s after REPLICAOF.
        syncing = [s[0] for s in samples if s[3] == "1"]
        self.assertTrue(syncing, "setup: the monitor never saw the sync in progress")
        took = max(syncing) + (mon.t0 - t0)
        self.assertGreater(took, 10.0, f"setup: the sync took only {took:.1f}s")
        self.assert_role(peer, "slave", master_port=local.port)

    def test_sync_timeout_stays_replica(self):
        peer = self.server()
        local = self.server()
        keys = 6000
        self.slow_sync(local, peer, keys)  # ~6.5 s
        r = self.master(local.port, peer.port, "--sync-timeout", "3")
        self.assertRc(r, 1)
        self.assertLess(r.elapsed, 3 + 2.5, f"sync-timeout not honoured: {r!r}")
        self.assertGreater(r.elapsed, 2.5, f"gave up before --sync-timeout: {r!r}")
        self.assert_role(local, "slave", master_port=peer.port)
        self.assert_role(peer, "master")
        self.assertEqual(self.dbsize(peer), keys)

    def test_peer_not_left_paused_when_local_cannot_catch_up(self):
        # local replicates the peer with the link up and the peer's replid,
        # but cannot apply the peer's last write: its own CLIENT PAUSE WRITE
        # holds the stream from its master while INFO still answers. The
        # hook pauses the peer for the final comparison, gives up after 3/4
        # of --pause-ms and must unpause the peer before it exits at
        # --sync-timeout. Left paused, the peer would stay so for the last
        # quarter of the window after the exit, far longer than the probe's
        # MARGIN.
        pause_ms, sync_timeout = 6000, 1
        self.assertGreater(pause_ms / 4 / 1000, 2 * itkit.MARGIN, "setup: window too short")
        peer = self.server()
        local = self.server()
        populate(peer, 100)
        self.replicate(local, peer)
        local.call("CLIENT", "PAUSE", str(2 * pause_ms), "WRITE")
        # Unpaused before the servers stop: a master waits at shutdown for a
        # lagging replica.
        self.addCleanup(lambda: local.proc.poll() is None and local.call("CLIENT", "UNPAUSE"))
        peer.call("SET", "beyond-local", "1")
        running = self.start_tool("redis_master", *self.hook_args(local.port, peer.port),
                                  "--sync-timeout", sync_timeout, "--pause-ms", pause_ms)
        # The probe sees the hook's pause (else the test proves nothing).
        itkit.wait_until(lambda: running.poll() is None and writes_paused(peer, itkit.MARGIN)
                         or running.poll() is not None, pause_ms / 1000, interval=0.01,
                         what="the hook to pause the peer")
        self.assertIsNone(running.poll(), f"setup: the hook exited before it paused the "
                          f"peer: {running.result()!r}")
        r = running.wait_exit(pause_ms / 1000 + sync_timeout + itkit.MARGIN)
        self.assertFalse(writes_paused(peer, itkit.MARGIN),
                         f"the peer's writes were left paused after the hook exited: {r!r}")
        self.assertRc(r, 1)
        self.assertIn("not caught up within the pause window", r.log)
        self.assertIn("verdict=sync-timeout", r.log)
        self.assert_role(local, "slave", master_port=peer.port)
        self.assert_role(peer, "master")

    def test_sync_timeout_promote(self):
        peer = self.server()
        local = self.server()
        self.slow_sync(local, peer, 6000)
        r = self.master(local.port, peer.port, "--sync-timeout", "3",
                        "--on-sync-timeout", "promote")
        # Promoted without all the data: the hook did not reach its goal.
        self.assertRc(r, 1)
        self.assertIn("verdict=promoted-incomplete", r.log)
        self.assertLess(r.elapsed, 3 + 2.5, f"sync-timeout not honoured: {r!r}")
        self.assertGreater(r.elapsed, 2.5, f"promoted before --sync-timeout: {r!r}")
        self.assert_role(local, "master")
        # Local is incomplete: the peer must not be made to replicate it,
        # which would wipe the only complete copy. (The hook has exited:
        # nothing else could repoint the peer afterwards.)
        self.assert_role(peer, "master")
        self.assertEqual(self.dbsize(peer), 6000)

    def test_local_unreachable_exits_1_within_bound(self):
        peer = self.server()
        populate(peer, 10)
        r = self.master(itkit.free_port(), peer.port, "--sync-timeout", "2")
        self.assertRc(r, 1)
        self.assertLess(r.elapsed, 2 + 2.0, f"not bounded by --sync-timeout: {r!r}")
        self.assert_role(peer, "master")

    def test_empty_peer_is_never_synced_from(self):
        peer = self.server()
        local = self.server()
        populate(local, 300)
        mon = RoleMonitor(local, interval=0.01).start()
        r = self.master(local.port, peer.port)
        samples = mon.stop()
        self.assertRc(r, 0)
        self.assertEqual(mon.roles(), {"master"},
                         "local was made a replica of an empty peer")
        self.assertTrue(all(s[5] == 300 for s in samples),
                        f"local lost keys: {sorted({s[5] for s in samples})}")
        self.assert_role(local, "master")
        self.assert_all_keys(local, 300)

    def failed_over_pair(self):
        """local was the master, the peer replicated it and was promoted (a
        failover while local was away): local's history is the peer's past."""
        local = self.server()
        peer = self.server()
        populate(local, 300)
        self.replicate(peer, local)
        peer.call("REPLICAOF", "NO", "ONE")
        return local, peer

    def test_failback_without_new_writes_keeps_local_data(self):
        local, peer = self.failed_over_pair()
        mon = RoleMonitor(local, interval=0.01).start()
        r = self.master(local.port, peer.port)
        mon.stop()
        self.assertRc(r, 0)
        self.assertEqual(mon.roles(), {"master"},
                         "local resynced from a peer that holds nothing new")
        self.assert_all_keys(local, 300)
        self.assert_role(peer, "slave", master_port=local.port)
        self.wait_link_up(peer, local, timeout=15)

    def test_failback_fetches_the_peers_new_writes(self):
        local, peer = self.failed_over_pair()
        populate(peer, 100, "while-away")  # acknowledged by the peer as master
        r = self.master(local.port, peer.port)
        self.assertRc(r, 0)
        self.assert_role(local, "master")
        self.assert_all_keys(local, 300)
        self.assert_all_keys(local, 100, "while-away")
        self.assert_role(peer, "slave", master_port=local.port)

    def test_split_brain_is_logged_and_leaves_one_master(self):
        # Shared history, then a partition: local promoted itself and both
        # took writes.
        peer = self.server()
        local = self.server()
        populate(peer, 100)
        self.replicate(local, peer)
        local.call("REPLICAOF", "NO", "ONE")
        populate(local, 50, "local-only")
        populate(peer, 50, "peer-only")
        r = self.master(local.port, peer.port)
        self.assertRc(r, 0)
        self.assertIn("split-brain", r.log)
        self.assert_role(local, "master")
        self.assert_all_keys(local, 100)
        self.assert_role(peer, "slave", master_port=local.port)

    def test_never_replicaof_no_one_while_loading(self):
        dead = itkit.free_port()
        local = self.server(["loading-process-events-interval-bytes 1024"])
        populate(local, 3000)
        local.call("SAVE")
        local.stop()
        with open(local.conf, "a") as f:
            # A replica of a peer that is gone, restarting with ~3 s of loading.
            f.write(f"replicaof 127.0.0.1 {dead}\nkey-load-delay 1000\n")
        local.start()
        self.assertEqual(local.info("persistence").get("loading"), "1",
                         "setup: the server is not loading")
        local.call("CONFIG", "RESETSTAT")
        r = self.master(local.port, dead)
        stats = local.call("INFO", "commandstats")
        m = re.search(r"cmdstat_replicaof:\S*rejected_calls=(\d+)", stats)
        self.assertEqual(int(m.group(1)) if m else 0, 0,
                         f"REPLICAOF was sent while loading:\n{stats}")
        self.assertRc(r, 0)
        self.assertEqual(local.info("persistence").get("loading"), "0")
        self.assert_role(local, "master")
        self.assert_all_keys(local, 3000)

    def test_acknowledged_writes_on_peer_are_not_lost(self):
        peer = self.server()
        local = self.server()
        self.slow_sync(local, peer, 2500)  # ~3 s of sync-wait with writes flowing
        writer = Writer(peer).start()
        self.addCleanup(writer.stop)
        running = self.start_tool("redis_master", *self.hook_args(local.port, peer.port))
        r = running.wait_exit(60)
        time.sleep(0.5)  # the writer keeps trying the demoted peer
        writer.stop()
        self.assertRc(r, 0)
        self.assert_role(local, "master")
        self.assert_all_keys(local, 2500)
        self.assertGreater(len(writer.acked), 50, "setup: the writer wrote almost nothing")
        self.assertTrue(writer.errors, "setup: the writer never hit the demoted peer")
        lost = []
        with local.client() as c:
            acked = writer.acked
            for start in range(0, len(acked), 1000):
                chunk = acked[start:start + 1000]
                values = c.call("MGET", *[f"w:{i}" for i in chunk])
                lost += [i for i, v in zip(chunk, values) if v != str(i)]
        self.assertEqual(lost[:20], [], f"{len(lost)} of {len(writer.acked)} acknowledged "
                         f"writes lost (last errors: {writer.errors[-3:]})")


if __name__ == "__main__":
    itkit.main()
