"""A node that knows it holds an older history than its peer stays out.

When a hook learns that this node lacks writes its peer holds (a lost heal
whose copy cannot be made, a sync-wait that runs out), it records the proof
in the state dir (NAME.stale: both replids and offsets). While the record
stands, redis_check fails the node (health "stale") and redis_master does
not promote it without its peer: it waits until --sync-timeout and ends
stale-history (exit 1), saying what the operator must do. The record goes
when the node has resynced, or by the operator's explicit, logged override
(redis_master --accept-data-loss, redis_status --clear-stale).

A problem with the copy dir (unsafe, missing) fails only the step that needs
a copy, never a promotion that needs none, and redis_status shows it. A copy
in progress gives way to a newer hook within one poll: partial file removed,
writes unpaused, nothing sent afterwards."""
import json
import os
import sys
import time

import itkit
from itkit import MARGIN, RoleMonitor, populate, read_state, setUpModule  # noqa: F401
from test_kept_copies import KeptCopyCase
from test_redis_master import writes_paused

POLL_MS = 20
# A superseded hook is gone, and the newer one acting, within one poll of the
# newer one's start (MARGIN: process start-up and exit on a busy machine).
SUPERSEDE_BOUND = POLL_MS / 1000 + MARGIN


class StaleCase(KeptCopyCase):

    def state_of(self, name):
        return os.path.join(self.tmp, f"state-{name}")

    def stale_path(self, name="b"):
        return os.path.join(self.state_of(name), f"{self.instance}.stale")

    def check(self, name, server):
        return self.run_tool("redis_check", "--state-dir", self.state_of(name), "--instance",
                             self.instance, "--log-file", self.log_file, "--host", "127.0.0.1",
                             "--port", server.port, common=False)

    def status(self, name, local, peer, *extra, copy_dir=None):
        return self.run_tool("redis_status", "--state-dir", self.state_of(name), "--instance",
                             self.instance, "--log-file", self.log_file, "--copy-dir",
                             copy_dir or self.copy_dir, *self.hook_args(local.port, peer.port),
                             *extra, common=False)

    def lose_heal_without_copy(self):
        """b lost the heal to a (a split brain, the larger tail on a), and its
        copy dir cannot be created: redis_backup ends copy-failed."""
        a = self.server()
        b = self.server()
        self.split(a, b, 40, old_master_keys=300)
        a_offset = int(a.info("replication")["master_repl_offset"])
        missing = os.path.join(self.tmp, "no-such-parent", "copies")
        r = self.run_tool("redis_backup", *self.node_args("b", b, a, copy_dir=missing),
                          "--backup-grace", "0", common=False)
        self.assertRc(r, 1)
        self.assertIn("verdict=copy-failed exit=1", r.stderr)
        self.assertIn("copy dir unusable now", r.stderr)
        self.assert_role(b, "master")
        return a, b, a_offset, r


class StaleHistoryTest(StaleCase):

    def test_a_lost_heal_without_a_copy_keeps_the_node_out_until_the_operator_accepts(self):
        a, b, a_offset, r = self.lose_heal_without_copy()
        a_info, b_info = a.info("replication"), b.info("replication")
        # The record names the proof: the peer's history and this node's.
        rec = read_state(self.stale_path())
        self.assertEqual(rec.get("hook"), "redis_backup", rec)
        self.assertEqual(rec.get("peer_replid"), a_info["master_replid"], rec)
        self.assertGreaterEqual(int(rec["peer_offset"]), a_offset, rec)
        self.assertEqual(rec.get("local_replid"), b_info["master_replid"], rec)
        self.assertEqual(int(rec["local_offset"]), int(b_info["master_repl_offset"]), rec)
        self.assertIn("split-brain", rec.get("reason", ""))
        self.assertIn("stale history: this node holds an older history than its peer", r.stderr)

        # redis_check fails it, with one log line for the change.
        c = self.check("b", b)
        self.assertRc(c, 1)
        self.assertEqual(itkit.read_text(os.path.join(self.state_of("b"),
                                                      f"{self.instance}.health")).strip(),
                         "stale")
        self.assertRc(self.check("b", b), 1)
        self.assertEqual(itkit.read_text(self.log_file).count("-> stale"), 1,
                         itkit.read_text(self.log_file))

        # redis_status: text, JSON and the metric.
        text = self.status("b", b, a)
        self.assertRc(text, 0)
        self.assertIn("stale history: STALE", text.stdout)
        self.assertIn(f"offset {rec['peer_offset']} of replid {a_info['master_replid'][:8]}",
                      text.stdout)
        js = json.loads(self.status("b", b, a, "--json").stdout)
        self.assertTrue(js["stale_history"]["stale"])
        self.assertEqual(js["stale_history"]["peer_replid"], a_info["master_replid"])
        prom = self.status("b", b, a, "--prometheus").stdout
        self.assertIn("\nredis_keepalived_stale_history 1\n", prom)

        # The peer, which holds the writes b lacks, dies: redis_master waits
        # for it until --sync-timeout and says what to do, where it used to
        # keep b as master (already-master, exit 0).
        a.kill()
        m = self.run_tool("redis_master", *self.node_args("b", b, a), "--sync-timeout", "2",
                          common=False)
        self.assertRc(m, 1)
        self.assertIn("verdict=stale-history exit=1", m.stderr)
        self.assertRegex(m.stderr, r"decision wait-for-peer: peer is gone .*older history")
        self.assertIn("redis_master --accept-data-loss", m.stderr)
        self.assertIn("redis_status --clear-stale", m.stderr)
        self.assertGreater(m.elapsed, 2 - 0.1, f"did not wait for the peer: {m!r}")
        self.assertTrue(os.path.exists(self.stale_path()))
        self.assertRc(self.check("b", b), 1)

        # The operator accepts the loss: promoted (b already is master),
        # logged with the recorded offsets, the record cleared.
        m = self.run_tool("redis_master", *self.node_args("b", b, a), "--sync-timeout", "2",
                          "--accept-data-loss", common=False)
        self.assertRc(m, 0)
        self.assertIn("verdict=already-master exit=0", m.stderr)
        self.assertIn("WARNING: --accept-data-loss: the stale-history record is overridden",
                      m.stderr)
        self.assertIn(f"the peer held offset {rec['peer_offset']}", m.stderr)
        self.assertIn("stale-history record cleared (the operator accepted the loss", m.stderr)
        self.assertLess(m.elapsed, 2, f"waited although the operator accepted the loss: {m!r}")
        self.assertFalse(os.path.exists(self.stale_path()))
        c = self.check("b", b)
        self.assertRc(c, 0)
        self.assertIn("health changed: stale -> healthy", c.log + itkit.read_text(self.log_file))
        self.assert_all_keys(b, 40, prefix="split")

    def test_redis_status_clear_stale_clears_the_record_and_logs_it(self):
        a, b, _, _ = self.lose_heal_without_copy()
        self.assertTrue(os.path.exists(self.stale_path()))
        self.assertRc(self.check("b", b), 1)
        s = self.status("b", b, a, "--clear-stale")
        self.assertRc(s, 0)
        self.assertIn("stale-history record cleared; it said: recorded", s.stdout)
        self.assertIn("stale history: none", s.stdout)
        self.assertIn("stale-history record cleared by the operator (redis_status --clear-stale)",
                      itkit.read_text(self.log_file))
        self.assertFalse(os.path.exists(self.stale_path()))
        self.assertRc(self.check("b", b), 0)
        s = self.status("b", b, a, "--clear-stale")
        self.assertRc(s, 0)
        self.assertIn("no stale-history record to clear", s.stdout)

    def test_a_resync_clears_the_record(self):
        a, b, _, _ = self.lose_heal_without_copy()
        self.assertTrue(os.path.exists(self.stale_path()))
        # The copy dir is fixed: the next redis_backup keeps the copy,
        # resyncs, and the record goes once the link is up on a's replid.
        r = self.run_tool("redis_backup", *self.node_args("b", b, a), "--backup-grace", "0",
                          common=False)
        self.assertRc(r, 0)
        self.assertIn("verdict=replicating exit=0", r.stderr)
        self.assertIn("stale-history record cleared (resynced: replicating", r.stderr)
        self.assertFalse(os.path.exists(self.stale_path()))
        self.assertRc(self.check("b", b), 0)
        self.assertEqual(len(self.copies()), 1)

    def test_a_sync_wait_that_runs_out_records_the_node_until_it_has_synced(self):
        peer = self.server()
        local = self.server()
        self.slow_sync(local, peer, 5000)  # ~5 s of full sync
        m = self.run_tool("redis_master", *self.node_args("b", local, peer), "--sync-timeout",
                          "1", common=False)
        self.assertRc(m, 1)
        self.assertIn("verdict=sync-timeout exit=1", m.stderr)
        self.assertIn("staying a replica, not promoted", m.stderr)
        rec = read_state(self.stale_path())
        self.assertEqual(rec.get("hook"), "redis_master", rec)
        self.assertEqual(rec.get("peer_replid"),
                         peer.info("replication")["master_replid"], rec)
        # keepalived's FAULT after the VIP holder yields (test_vip_follows_master).
        self.assertRc(self.run_tool("redis_fault", *self.node_args("b", local, peer),
                                    common=False), 0)
        # While the sync runs the node fails its check; once it holds the
        # recorded history it passes again, without anyone clearing it.
        self.assertRc(self.check("b", local), 1)
        self.wait_link_up(local, peer, timeout=30)
        itkit.wait_until(lambda: int(local.info("replication")["slave_repl_offset"])
                         >= int(rec["peer_offset"]), 10, what="the replica past the record")
        self.assertRc(self.check("b", local), 0)
        text = self.status("b", local, peer)
        self.assertIn("this node holds that history now", text.stdout)
        self.assertIn("\nredis_keepalived_stale_history 0\n",
                      self.status("b", local, peer, "--prometheus").stdout)
        # redis_backup (keepalived's BACKUP after the check passes) clears it.
        r = self.run_tool("redis_backup", *self.node_args("b", local, peer), common=False)
        self.assertRc(r, 0)
        self.assertFalse(os.path.exists(self.stale_path()))


    def test_a_replica_whose_sync_wait_ran_out_is_not_promoted_when_the_peer_dies(self):
        peer = self.server()
        local = self.server()
        populate(local, 50, prefix="own")  # its own old data: not an empty replica
        self.slow_sync(local, peer, 5000)
        m = self.run_tool("redis_master", *self.node_args("b", local, peer), "--sync-timeout",
                          "1", common=False)
        self.assertIn("verdict=sync-timeout exit=1", m.stderr)
        self.assertTrue(os.path.exists(self.stale_path()))
        # The peer dies before the sync completed: the next redis_master
        # knows nothing from this run but the record, and waits.
        peer.kill()
        m = self.run_tool("redis_master", *self.node_args("b", local, peer), "--sync-timeout",
                          "2", common=False)
        self.assertRc(m, 1)
        self.assertIn("verdict=stale-history exit=1", m.stderr)
        self.assertIn("redis_master --accept-data-loss", m.stderr)
        self.assert_role(local, "slave")


class CopyDirTest(StaleCase):

    def failover_needing_no_copy(self, copy_dir):
        """local replicates the peer, the peer dies: promoting local needs no
        copy. Returns redis_master's result."""
        peer = self.server()
        local = self.server()
        populate(peer, 100)
        self.replicate(local, peer)
        peer.kill()
        r = self.run_tool("redis_master", *self.node_args("l", local, peer, copy_dir=copy_dir),
                          "--sync-timeout", "5", common=False)
        self.assertRc(r, 0)
        self.assertIn("verdict=promoted exit=0", r.stderr)
        self.assertIn("copy dir unusable now", r.stderr)
        self.assert_role(local, "master")
        self.assert_all_keys(local, 100)
        status = self.status("l", local, peer, copy_dir=copy_dir)
        self.assertIn("copy dir: UNUSABLE", status.stdout)
        js = json.loads(self.status("l", local, peer, "--json", copy_dir=copy_dir).stdout)
        self.assertFalse(js["kept_copies"]["usable"])
        self.assertIn("copy dir", js["kept_copies"]["problem"])
        self.assertIn("\nredis_keepalived_copy_dir_usable 0\n",
                      self.status("l", local, peer, "--prometheus", copy_dir=copy_dir).stdout)
        return r

    def test_a_symlinked_copy_dir_never_blocks_a_promotion_that_needs_no_copy(self):
        real = os.path.join(self.tmp, "bigdisk")
        os.mkdir(real, 0o700)
        link = os.path.join(self.tmp, "copies-link")
        os.symlink(real, link)
        r = self.failover_needing_no_copy(link)
        self.assertIn("symlink", r.stderr)

    def test_a_group_writable_copy_dir_never_blocks_a_promotion_that_needs_no_copy(self):
        loose = os.path.join(self.tmp, "loose")
        os.mkdir(loose)
        os.chmod(loose, 0o770)
        r = self.failover_needing_no_copy(loose)
        self.assertIn("writable by group or others", r.stderr)

    def test_a_usable_copy_dir_shows_as_usable(self):
        os.mkdir(self.copy_dir, 0o700)
        a = self.server()
        b = self.server()
        js = json.loads(self.status("b", b, a, "--json").stdout)
        self.assertTrue(js["kept_copies"]["usable"])
        self.assertIsNone(js["kept_copies"]["problem"])
        self.assertIn("\nredis_keepalived_copy_dir_usable 1\n",
                      self.status("b", b, a, "--prometheus").stdout)


class CopyGivesWayTest(StaleCase):

    def test_a_newer_redis_master_does_not_wait_for_an_older_hooks_copy(self):
        a = self.server()
        b = self.server()
        populate(a, 3000, prefix="big")  # shared history: b gets them before the split
        self.split(a, b, 40, old_master_keys=300)
        # b lost the heal; the copy of its 3240 keys is slowed to ~10 s.
        b.call("CONFIG", "SET", "rdb-key-save-delay", "3000")
        older = self.start_tool("redis_backup", *self.node_args("b", b, a), "--backup-grace",
                                "0", "--poll-ms", POLL_MS, common=False)
        itkit.wait_until(lambda: "keeping a copy of the local Redis's dataset"
                         in itkit.read_text(self.log_file) or older.poll() is not None, 10,
                         what="redis_backup to start its copy")
        itkit.wait_until(lambda: b.info("persistence").get("rdb_bgsave_in_progress") == "1"
                         or older.poll() is not None, 10, what="b's BGSAVE for the copy")
        if older.poll() is not None:
            self.fail(f"setup: the copy ended early: {older.result()!r}")
        self.assertTrue(writes_paused(b, 0.3), "setup: b's writes are not paused for the copy")
        # b is recorded as stale from the lost heal on, but its check passes
        # while the hook copies and resyncs it: a failed check would move the
        # node to FAULT, whose notify_fault stops the resync.
        self.assertTrue(os.path.exists(self.stale_path()))
        self.assertRc(self.check("b", b), 0)
        mon = RoleMonitor(b, interval=0.02).start()
        self.addCleanup(mon.stop)
        # The peer dies; keepalived makes b MASTER.
        a.kill()
        newer_log = os.path.join(self.tmp, "master.log")
        args = self.node_args("b", b, a)
        args[args.index("--log-file") + 1] = newer_log
        newer = self.start_tool("redis_master", *args, "--poll-ms", POLL_MS, "--sync-timeout",
                                "3", common=False)
        r = older.wait_exit(10, interval=0.002)
        delay = older.exited_at - newer.started
        print(f"\n  the copying hook gave way {delay * 1000:.0f} ms after redis_master started",
              file=sys.stderr)
        self.assertRc(r, 3)
        self.assertLess(delay, SUPERSEDE_BOUND, f"the copy did not give way at once: {r!r}")
        self.assertIn("verdict=superseded exit=3", r.stderr)
        self.assertIn("copy of the local Redis's dataset aborted: a newer transition took over",
                      r.stderr)
        # b's writes are unpaused at once.
        self.assertFalse(writes_paused(b, 0.5), "b's writes are still paused")
        # The newer hook acts within one poll of the older one's exit: its
        # first decision is logged by then.
        itkit.wait_until(lambda: "decision " in itkit.read_text(newer_log), SUPERSEDE_BOUND,
                         interval=0.005, what="redis_master's first decision")
        decided = time.monotonic() - newer.started
        self.assertLess(decided, 2 * SUPERSEDE_BOUND, f"redis_master acted after {decided:.2f}s")
        # It waits for the peer (b lost the heal: stale) and says so.
        m = newer.wait_exit(10)
        self.assertRc(m, 1)
        self.assertIn("verdict=stale-history exit=1", m.stderr)
        # No partial copy is left, and the older hook sent nothing after it
        # gave way: b never became a replica of the dead peer.
        time.sleep(0.3)
        mon.stop()
        self.assertEqual(mon.roles(), {"master"}, "b was sent REPLICAOF after the copy aborted")
        self.assertEqual(self.copies(), [])
        self.assertEqual([f for f in os.listdir(self.copy_dir) if f.startswith(".incoming")], [])
        self.assertTrue(os.path.exists(self.stale_path()))


if __name__ == "__main__":
    itkit.main()
