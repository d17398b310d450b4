"""redis_watch: one connection, a PING every --interval-ms, and 0/1 in the
track_file keepalived watches, written at start and at every change only.
A crash is seen when the socket closes, a hang when a PING misses its
deadline; LOADING and BUSY fail at once, MASTERDOWN is alive. --fall and
--rise count PINGs in a row before the value changes. SIGTERM and a fatal
error remove the file (keepalived reads a missing file as 0), and
redis_status shows the watcher and flags one that stopped. A watcher killed
while its file says 1 leaves it behind: the next passing redis_check clears
it, and leaves a running watcher's 1 alone."""
import json
import os
import resource
import signal
import time

import itkit
from itkit import MARGIN, ToolTestCase, setUpModule, wait_until  # noqa: F401
from rediskit import RedisServer

INTERVAL_MS = 100
TIMEOUT_MS = 300


class WatchTest(ToolTestCase):

    def setUp(self):
        super().setUp()
        self.track = os.path.join(self.tmp, "redis.watch")

    def watch(self, port, *extra, interval_ms=INTERVAL_MS):
        return self.start_tool("redis_watch", "--host", "127.0.0.1", "--port", str(port),
                               "--track-file", self.track, "--interval-ms", str(interval_ms),
                               "--timeout", str(TIMEOUT_MS), *extra)

    def check(self, port):
        return self.run_tool("redis_check", "--host", "127.0.0.1", "--port", str(port),
                             "--timeout", "500")

    def values_for(self, seconds):
        """The values the track file held, sampled every 5 ms for SECONDS."""
        seen, t0 = set(), time.monotonic()
        while time.monotonic() - t0 < seconds:
            seen.add(self.value())
            time.sleep(0.005)
        return seen

    def stall(self, srv):
        """SIGSTOP the server (resumed at cleanup at the latest)."""
        srv.proc.send_signal(signal.SIGSTOP)
        self.addCleanup(lambda: srv.proc.poll() is None and srv.proc.send_signal(signal.SIGCONT))

    def value(self):
        try:
            with open(self.track) as f:
                return f.read().strip()
        except FileNotFoundError:
            return None

    def wait_value(self, want, within, what):
        t0 = time.monotonic()
        wait_until(lambda: self.value() == want, within, interval=0.002, what=what)
        return time.monotonic() - t0

    def test_crash_and_restart(self):
        srv = self.server()
        # A long interval: the crash must be seen when the socket closes, not
        # at the next tick.
        w = self.watch(srv.port, interval_ms=3000)
        self.wait_value("0", 5, "the first verdict")
        time.sleep(0.2)
        os.kill(srv.proc.pid, signal.SIGKILL)
        srv.proc.wait()
        took = self.wait_value("1", 3, "1 after kill -9")
        self.assertLess(took, 0.3, "not woken by the closed socket")
        # Refused reconnects stay 1; a restarted server is 0 again.
        time.sleep(0.3)
        self.assertEqual(self.value(), "1")
        again = RedisServer(port=srv.port, extra_config=itkit.BASE_CONFIG)
        self.addCleanup(again.cleanup)
        again.start()
        self.wait_value("0", 5, "0 after the restart")
        self.assertIsNone(w.poll())
        self.assertIn("healthy -> unhealthy", itkit.read_text(self.log_file))

    def test_hang_fails_within_the_ping_deadline(self):
        srv = self.server()
        self.watch(srv.port)
        self.wait_value("0", 5, "the first verdict")
        srv.proc.send_signal(signal.SIGSTOP)
        self.addCleanup(lambda: srv.proc.poll() is None and srv.proc.send_signal(signal.SIGCONT))
        took = self.wait_value("1", (INTERVAL_MS + TIMEOUT_MS) / 1000 + MARGIN, "1 on a hang")
        self.assertLess(took, (INTERVAL_MS + TIMEOUT_MS) / 1000 + MARGIN)
        srv.proc.send_signal(signal.SIGCONT)
        self.wait_value("0", 2, "0 once it answers again")

    def test_fall_absorbs_a_short_stall_but_not_a_long_one(self):
        srv = self.server()
        self.watch(srv.port, "--fall", "3")
        self.wait_value("0", 5, "the first verdict")
        inode = os.stat(self.track).st_ino
        # 0.6 s: one PING misses its deadline (0.3 s), maybe two, never three.
        self.stall(srv)
        seen = self.values_for(0.6)
        srv.proc.send_signal(signal.SIGCONT)
        seen |= self.values_for(0.5)
        self.assertEqual(seen, {"0"}, "a short stall moved the value")
        self.assertEqual(os.stat(self.track).st_ino, inode, "rewritten for a short stall")
        self.assertRegex(itkit.read_text(self.log_file), r"PING failed \(.*\): 1 of 3 in a row")
        # A long one: three failed PINGs in a row, then 1.
        self.stall(srv)
        took = self.wait_value("1", 3 * (INTERVAL_MS + TIMEOUT_MS) / 1000 + MARGIN, "1 on a hang")
        self.assertGreater(took, 2 * TIMEOUT_MS / 1000, "1 before three failed PINGs")
        self.assertIn("healthy -> unhealthy", itkit.read_text(self.log_file))
        self.assertIn(", 3 in a row); ", itkit.read_text(self.log_file))

    def test_rise_waits_for_good_pings_in_a_row(self):
        srv = self.server()
        interval = 300
        self.watch(srv.port, "--rise", "3", interval_ms=interval)
        self.wait_value("0", 5, "the first verdict")
        self.stall(srv)
        self.wait_value("1", (interval + TIMEOUT_MS) / 1000 + MARGIN, "1 on a hang (fall 1)")
        srv.proc.send_signal(signal.SIGCONT)
        took = self.wait_value("0", 3 * interval / 1000 + 2 * MARGIN, "0 after three good PINGs")
        # The first good PING comes at once or at the next tick, the second
        # and the third an interval apart each.
        self.assertGreater(took, 1.6 * interval / 1000, "0 before three good PINGs")
        log = itkit.read_text(self.log_file)
        self.assertRegex(log, r"PING answered \(.*\): 1 of 3 in a row")
        self.assertIn(", 3 in a row); ", log)

    def test_loading_and_busy_fail_masterdown_is_alive(self):
        for reply, want in ((b"-LOADING Redis is loading the dataset in memory\r\n", "1"),
                            (b"-BUSY Redis is busy running a script\r\n", "1"),
                            (b"-MASTERDOWN Link with MASTER is down\r\n", "0")):
            fake = self.fake("map", replies={b"PING": reply})
            w = self.watch(fake.port)
            self.wait_value(want, 3, f"{want} for {reply[:12]!r}")
            w.kill()
            os.unlink(self.track)

    def test_writes_only_changes(self):
        srv = self.server()
        self.watch(srv.port)
        self.wait_value("0", 5, "the first verdict")
        inode, mtime = os.stat(self.track).st_ino, os.stat(self.track).st_mtime_ns
        time.sleep(10 * INTERVAL_MS / 1000)
        st = os.stat(self.track)
        self.assertEqual((st.st_ino, st.st_mtime_ns), (inode, mtime), "rewritten without a change")

    def test_one_ping_per_interval(self):
        srv = self.server()
        self.watch(srv.port)
        self.wait_value("0", 5, "the first verdict")

        def pings():
            stat = srv.info("commandstats").get("cmdstat_ping", "calls=0")
            return int(stat.split(",")[0].split("=")[1])
        before, t0 = pings(), time.monotonic()
        time.sleep(2.0)
        count = pings() - before
        expected = (time.monotonic() - t0) / (INTERVAL_MS / 1000)
        self.assertLess(count, expected * 1.5 + 2, f"{count} PINGs in 2 s at {INTERVAL_MS} ms")
        self.assertGreater(count, expected * 0.5, f"{count} PINGs in 2 s at {INTERVAL_MS} ms")

    def test_sigterm_removes_the_file_and_status_flags_a_stopped_watcher(self):
        srv = self.server()
        w = self.watch(srv.port)
        self.wait_value("0", 5, "the first verdict")
        status = self.run_tool("redis_status", "--host", "127.0.0.1", "--port", str(srv.port),
                               "--json")
        watcher = json.loads(status.stdout)["watcher"]
        self.assertTrue(watcher["running"])
        self.assertEqual(watcher["health"], "healthy")
        self.assertEqual(watcher["track_file"], self.track)
        self.assertEqual(int(watcher["pid"]), w.pid)
        w.proc.send_signal(signal.SIGTERM)
        r = w.wait_exit(5)
        self.assertRc(r, 0)
        self.assertIsNone(self.value(), "the track file is still there after SIGTERM")
        self.assertIn("redis_check alone decides the health now", r.log)
        self.assertEqual(itkit.read_state(self.state_path("watch"))["health"], "stopped")
        text = self.run_tool("redis_status", "--host", "127.0.0.1", "--port", str(srv.port))
        self.assertIn("watcher: STOPPED", text.stdout)
        # The heartbeat stops: redis_status says so once it is 4 s old.
        time.sleep(4.2)
        text = self.run_tool("redis_status", "--host", "127.0.0.1", "--port", str(srv.port))
        self.assertIn("watcher: STOPPED", text.stdout)

    def test_a_failed_poll_removes_the_file_and_exits_1(self):
        if "ASAN_OPTIONS" in os.environ:
            # A descriptor limit of 1 breaks the sanitizer runtime itself (it
            # reports a bogus vptr error); the plain build runs this test.
            self.skipTest("RLIMIT_NOFILE 1 is not workable under ASan/UBSan")
        srv = self.server()
        w = self.watch(srv.port)
        self.wait_value("0", 5, "the first verdict")
        # poll() fails with EINVAL when it is given more descriptors than
        # RLIMIT_NOFILE allows: the watcher polls two.
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        resource.prlimit(w.pid, resource.RLIMIT_NOFILE, (1, hard))
        r = w.wait_exit(5)
        self.assertRc(r, 1)
        self.assertIsNone(self.value(), "a watcher that gave up left its 0 behind")
        self.assertIn("stopping poll: Invalid argument", r.log)
        self.assertIn("redis_check alone decides the health now", r.log)

    def test_check_clears_the_1_a_killed_watcher_left(self):
        srv = self.server()
        w = self.watch(srv.port)
        self.wait_value("0", 5, "the first verdict")
        os.kill(srv.proc.pid, signal.SIGKILL)
        srv.proc.wait()
        self.wait_value("1", 3, "1 after kill -9 of Redis")
        w.kill()  # SIGKILL: no chance to remove its file
        again = RedisServer(port=srv.port, extra_config=itkit.BASE_CONFIG)
        self.addCleanup(again.cleanup)
        again.start()
        # Nothing else clears it: keepalived would keep the node in FAULT.
        time.sleep(0.3)
        self.assertEqual(self.value(), "1")
        r = self.check(srv.port)
        self.assertRc(r, 0)
        self.assertEqual(self.value(), "0")
        self.assertIn(f"redis_watch (pid {w.pid}) is not running and left 1 in {self.track}",
                      r.log)
        self.assertEqual(itkit.read_state(self.state_path("watch"))["health"], "stopped")
        # Later checks read the record and stop there.
        r = self.check(srv.port)
        self.assertRc(r, 0)
        self.assertEqual(r.log.count("is not running and left 1"), 1, r.log)
        text = self.run_tool("redis_status", "--host", "127.0.0.1", "--port", str(srv.port))
        self.assertIn("watcher: STOPPED", text.stdout)

    def test_check_clears_the_1_of_a_frozen_watcher(self):
        srv = self.server()
        w = self.watch(srv.port)
        self.wait_value("0", 5, "the first verdict")
        self.stall(srv)
        self.wait_value("1", (INTERVAL_MS + TIMEOUT_MS) / 1000 + MARGIN, "1 on a hang")
        self.frozen(w)  # its process is there, its heartbeat stops
        srv.proc.send_signal(signal.SIGCONT)
        bound = int(itkit.read_state(self.state_path("watch"))["heartbeat_bound_s"])
        r = self.check(srv.port)
        self.assertRc(r, 0)
        self.assertEqual(self.value(), "1", "cleared while the heartbeat was fresh")
        # The record's age is counted in whole seconds: past the bound, the
        # watcher no longer decides.
        time.sleep(bound + 1.5)
        r = self.check(srv.port)
        self.assertRc(r, 0)
        self.assertEqual(self.value(), "0")
        self.assertIn(f"redis_watch (pid {w.pid}) is not running and left 1", r.log)

    def test_check_leaves_a_running_watchers_1_alone(self):
        srv = self.server()
        # --rise 100: the watcher holds its 1 for 10 s after Redis answers.
        w = self.watch(srv.port, "--rise", "100")
        self.wait_value("0", 5, "the first verdict")
        self.stall(srv)
        self.wait_value("1", (INTERVAL_MS + TIMEOUT_MS) / 1000 + MARGIN, "1 on a hang")
        srv.proc.send_signal(signal.SIGCONT)
        wait_until(lambda: "PING answered" in itkit.read_text(self.log_file), 3,
                   what="the watcher to see Redis answer")
        r = self.check(srv.port)
        self.assertRc(r, 0)
        self.assertEqual(self.value(), "1", "redis_check overrode a running watcher")
        self.assertNotIn("is not running", r.log)
        self.assertIsNone(w.poll())

    def test_sighup_reopens_the_log(self):
        srv = self.server()
        w = self.watch(srv.port)
        self.wait_value("0", 5, "the first verdict")
        os.rename(self.log_file, self.log_file + ".1")
        w.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "SIGHUP" in itkit.read_text(self.log_file), 3,
                   what="a log line in the new file")
        self.assertEqual(self.value(), "0")
        self.assertIsNone(w.poll())

    def test_usage_errors(self):
        for args in ([], ["--track-file", "relative/file"],
                     ["--track-file", "/tmp/x", "--interval-ms", "0"],
                     ["--track-file", "/tmp/x", "--fall", "0"],
                     ["--track-file", "/tmp/x", "--rise", "101"]):
            r = self.run_tool("redis_watch", *args, timeout=10)
            self.assertRc(r, 2)
            self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)


if __name__ == "__main__":
    itkit.main()
