"""Overlapping hooks of one instance: the newest wins, the older exits 3 at
once, and two hooks never act on Redis at the same time."""
import os
import sys
import time

import itkit
from itkit import MARGIN, RoleMonitor, ToolTestCase, read_state, setUpModule  # noqa: F401

# Every hook here gets these on its command line; the bounds below are
# derived from them (MARGIN: process start-up and exit on a busy machine).
TIMEOUT_MS = 500  # --timeout: bound on each Redis call
POLL_MS = 20  # --poll-ms: a waiting hook looks for a newer record this often
# redis_fault and redis_stop wait at most this long for an older hook to let
# go of the action lock (run_transition: keepalived kills a STOP notify
# after about 1 s). Not an option, so it is restated here.
TRANSITION_LOCK_WAIT = 0.5
# How soon a superseded hook that is waiting (between calls to healthy
# servers, which answer in well under a millisecond) is gone after the
# newer one starts: one poll. The toolkit aims at ~100 ms.
SUPERSEDE_BOUND = POLL_MS / 1000 + MARGIN
# A hook blocked in a call to a peer that never answers; the call's --timeout
# is longer than TRANSITION_LOCK_WAIT, so a redis_stop that waited for the
# blocked hook would show.
BLOCKED_TIMEOUT_MS = 3000
SLOW_KEYS = 8000  # ~9 s of full sync: the older hook is still waiting


class OverlapTest(ToolTestCase):

    def hook(self, tool, local, peer_port, *extra, log_name, timeout_ms=TIMEOUT_MS):
        log = os.path.join(self.tmp, log_name)
        return self.start_tool(tool, *self.hook_args(local.port, peer_port, timeout_ms),
                               "--poll-ms", POLL_MS, *extra, log_file=log)

    def wait_monitor_past(self, mon, running):
        """Wait until `mon` has a sample taken after `running` exited, so that
        its samples cover everything the hook did."""
        itkit.wait_until(lambda: mon.samples and mon.t0 + mon.samples[-1][0] > running.exited_at,
                         10 * mon.interval + MARGIN, interval=mon.interval / 5,
                         what="a role sample after the hook's exit")

    def slow_master(self):
        peer = self.server()
        local = self.server()
        self.slow_sync(local, peer, SLOW_KEYS)
        mon = RoleMonitor(local).start()
        self.addCleanup(mon.stop)
        older = self.hook("redis_master", local, peer.port, "--sync-timeout", "60",
                          log_name="master.log")
        self.wait_hook_running(older)
        if older.poll() is not None:
            self.fail(f"setup: redis_master already exited: {older.result()!r}")
        return local, peer, mon, older

    def assert_superseded(self, older, newer_started, bound=SUPERSEDE_BOUND):
        r = older.wait_exit(10, interval=0.002)
        self.assertRc(r, 3)
        delay = older.exited_at - newer_started
        print(f"\n  superseded hook exited {delay * 1000:.0f} ms after the newer one started",
              file=sys.stderr)
        self.assertLess(delay, bound,
                        f"older hook exited {delay:.3f}s after the newer one started")
        self.assertIn("superseded", r.log)
        return r

    def check_newer_quick(self, tool, state_word):
        local, peer, mon, older = self.slow_master()
        newer = self.hook(tool, local, peer.port, log_name="newer.log")
        self.assert_superseded(older, newer.started)
        r = newer.wait_exit(10)
        self.assertRc(r, 0)
        self.assertLess(r.elapsed, TRANSITION_LOCK_WAIT + MARGIN, f"{tool} took too long: {r!r}")
        self.wait_monitor_past(mon, older)  # the superseded redis_master is gone
        samples = mon.stop()
        self.assertNotIn("master", mon.roles(),
                         f"local was promoted although {tool} superseded redis_master")
        self.assertTrue(samples)
        st = read_state(self.state_path())
        self.assertEqual(st.get("state"), state_word, f"state file: {st}")
        self.assertEqual(st.get("tool"), tool, f"state file: {st}")

    def test_master_superseded_by_fault(self):
        self.check_newer_quick("redis_fault", "FAULT")

    def test_master_superseded_by_stop(self):
        self.check_newer_quick("redis_stop", "STOP")

    def test_master_superseded_by_backup(self):
        local, peer, mon, older = self.slow_master()
        newer = self.hook("redis_backup", local, peer.port, "--sync-timeout", "40",
                          "--backup-grace", "1", log_name="newer.log")
        self.assert_superseded(older, newer.started)
        r = newer.wait_exit(60)
        self.assertRc(r, 0)
        self.wait_link_up(local, peer, timeout=30)
        mon.stop()
        self.assertNotIn("master", mon.roles(),
                         "local was promoted although redis_backup superseded redis_master")
        self.assert_role(local, "slave", master_port=peer.port)
        self.assert_role(peer, "master")
        self.assertEqual(read_state(self.state_path()).get("state"), "BACKUP")

    def test_backup_superseded_by_master(self):
        local = self.server()
        itkit.populate(local, 100)
        dead = itkit.free_port()
        older = self.hook("redis_backup", local, dead, "--sync-timeout", "30",
                          log_name="backup.log")
        self.wait_hook_running(older)
        self.assertIsNone(older.poll(), "setup: redis_backup already exited")
        newer = self.hook("redis_master", local, dead, log_name="master.log")
        self.assert_superseded(older, newer.started)
        r = newer.wait_exit(20)
        self.assertRc(r, 0)
        self.assert_role(local, "master")
        self.assert_all_keys(local, 100)
        st = read_state(self.state_path())
        self.assertEqual(st.get("state"), "MASTER", f"state file: {st}")

    def test_back_to_back_hooks_newest_wins(self):
        # keepalived forks hooks in the order of the transitions, possibly
        # within the same clock tick: the later fork must win every time.
        local = self.server()
        dead = itkit.free_port()
        for i in range(5):
            with self.subTest(round=i, order="backup then fault"):
                first = self.hook("redis_backup", local, dead, "--sync-timeout", "10",
                                  log_name=f"b{i}.log")
                second = self.hook("redis_fault", local, dead, log_name=f"f{i}.log")
                self.assertRc(first.wait_exit(5), 3)
                self.assertRc(second.wait_exit(5), 0)
                self.assertEqual(read_state(self.state_path()).get("state"), "FAULT")
            with self.subTest(round=i, order="fault then backup"):
                first = self.hook("redis_fault", local, dead, log_name=f"f2{i}.log")
                second = self.hook("redis_backup", local, dead, "--sync-timeout", "10",
                                   log_name=f"b2{i}.log")
                # 0 if it recorded FAULT before the backup hook started; 3
                # if the (newer) backup hook recorded first, which is right.
                self.assertRc(first.wait_exit(5), 0, 3)
                self.wait_hook_running(second)
                self.assertIsNone(second.poll(), "the newer redis_backup did not keep going")
                self.assertEqual(read_state(self.state_path()).get("state"), "BACKUP")
                second.kill()

    def test_hook_blocked_in_a_call_is_superseded_within_bound(self):
        # The older hook sits in calls to a peer that accepts and never
        # answers; each call is bounded by its --timeout.
        local = self.server()
        itkit.populate(local, 100)
        hung = self.fake("hang")
        older = self.hook("redis_backup", local, hung.port, "--sync-timeout", "20",
                          log_name="backup.log", timeout_ms=BLOCKED_TIMEOUT_MS)
        self.wait_hook_running(older)
        itkit.wait_until(lambda: hung.accepted > 0 or older.poll() is not None, 5,
                         what="the older hook to connect to the hung peer")
        self.assertIsNone(older.poll(), "setup: redis_backup already exited")
        newer = self.hook("redis_stop", local, hung.port, log_name="stop.log")
        r = newer.wait_exit(5)
        self.assertRc(r, 0)
        self.assertLess(r.elapsed, TRANSITION_LOCK_WAIT + MARGIN,
                        f"redis_stop waited for the blocked hook: {r!r}")
        self.assertIn("an older hook is still finishing a Redis call", r.log,
                      "setup: the older hook was not holding the lock in a blocked call")
        # It notices after its call times out and one poll.
        self.assert_superseded(older, newer.started,
                               (BLOCKED_TIMEOUT_MS + POLL_MS) / 1000 + MARGIN)

    def test_corrupt_state_file_does_not_block_hooks(self):
        local = self.server()
        os.makedirs(self.state_dir, mode=0o700, exist_ok=True)
        with open(self.state_path(), "w") as f:
            f.write("\x00garbage\ngeneration=not-a-generation\n")
        r = self.run_tool("redis_fault", *self.hook_args(local.port, itkit.free_port()),
                          timeout=10)
        self.assertRc(r, 0)
        self.assertEqual(read_state(self.state_path()).get("state"), "FAULT")

    def test_stale_generation_exits_3(self):
        local, peer, mon, older = self.slow_master()
        # A newer transition recorded without any hook of this instance
        # running: the generation of a hook started now, in another state dir.
        other = os.path.join(self.tmp, "other")
        r = self.run_tool("redis_fault", "--state-dir", other, "--instance", self.instance,
                          "--log-file", os.path.join(self.tmp, "other.log"),
                          *self.hook_args(local.port, peer.port), common=False, timeout=10)
        self.assertRc(r, 0)
        newer = itkit.read_text(os.path.join(other, f"{self.instance}.state"))
        self.assertIn("generation=", newer)
        path = self.state_path()
        with open(path + ".test", "w") as f:
            f.write(newer)
        recorded_at = time.monotonic()
        os.rename(path + ".test", path)
        r = older.wait_exit(SLOW_KEYS / 1000 + 10)
        self.assertRc(r, 3)
        self.assertLess(older.exited_at - recorded_at, SUPERSEDE_BOUND,
                        "the stale hook went on for long after a newer generation was recorded")
        self.wait_monitor_past(mon, older)
        mon.stop()
        self.assertNotIn("master", mon.roles(), "a stale redis_master promoted local")

    def test_state_records_each_transition(self):
        srv = self.server()
        gens = []
        for tool, word in (("redis_fault", "FAULT"), ("redis_stop", "STOP"),
                           ("redis_fault", "FAULT")):
            r = self.run_tool(tool, *self.hook_args(srv.port, itkit.free_port()), timeout=10)
            self.assertRc(r, 0)
            st = read_state(self.state_path())
            self.assertEqual(st.get("state"), word, f"state file: {st}")
            self.assertEqual(st.get("tool"), tool, f"state file: {st}")
            self.assertTrue(st.get("generation"), f"state file: {st}")
            gens.append(st["generation"])
            last = itkit.read_text(self.state_path("last"))
            self.assertRegex(last, r"verdict=\S+ exit=0")
        self.assertEqual(len(set(gens)), 3, f"generations not distinct: {gens}")

if __name__ == "__main__":
    itkit.main()
