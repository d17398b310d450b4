"""redis_watch: one connection, a PING every --interval-ms, and 0/1 in the
track_file keepalived watches, written at start and at every change only.
A crash is seen when the socket closes, a hang when a PING misses its
deadline; LOADING and BUSY fail at once, MASTERDOWN is alive. SIGTERM
removes the file (keepalived reads a missing file as 0), and redis_status
shows the watcher and flags one that stopped."""
import json
import os
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

    def watch(self, port, interval_ms=INTERVAL_MS):
        return self.start_tool("redis_watch", "--host", "127.0.0.1", "--port", str(port),
                               "--track-file", self.track, "--interval-ms", str(interval_ms),
                               "--timeout", str(TIMEOUT_MS))

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
        # The heartbeat stops: redis_status says so once it is 4 s old.
        time.sleep(4.2)
        text = self.run_tool("redis_status", "--host", "127.0.0.1", "--port", str(srv.port))
        self.assertIn("watcher: STOPPED", text.stdout)

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
        for args in ([], ["--track-file", "relative/file"], ["--track-file", "/tmp/x",
                                                             "--interval-ms", "0"]):
            r = self.run_tool("redis_watch", *args, timeout=10)
            self.assertRc(r, 2)
            self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)


if __name__ == "__main__":
    itkit.main()
