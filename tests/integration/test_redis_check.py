"""redis_check against real and fake servers: exit 0 only when the local Redis
answers PING within --timeout (connect + AUTH + PING), and log only changes."""
import re
import threading

import itkit
from itkit import MARGIN, ToolTestCase, populate, setUpModule, wait_until  # noqa: F401


class RedisCheckTest(ToolTestCase):

    def check(self, *args, timeout_ms=500, env=None, port=None):
        extra = ["--timeout", str(timeout_ms)]
        if port is not None:
            extra += ["--host", "127.0.0.1", "--port", str(port)]
        return self.run_tool("redis_check", *extra, *args, env=env, timeout=20)

    def assert_fails_within(self, result, timeout_ms):
        self.assertRc(result, 1)
        self.assertLess(result.elapsed, timeout_ms / 1000 + MARGIN,
                        f"not within the deadline: {result!r}")

    def test_healthy_server_passes(self):
        srv = self.server()
        r = self.check(port=srv.port)
        self.assertRc(r, 0)

    def test_positional_host_port(self):
        srv = self.server()
        r = self.run_tool("redis_check", "--timeout", "500", "127.0.0.1", str(srv.port))
        self.assertRc(r, 0)
        # The positional port is really the one used: a dead port fails.
        dead = itkit.free_port()
        r = self.run_tool("redis_check", "--timeout", "500", "127.0.0.1", str(dead))
        self.assertRc(r, 1)

    def test_refused_connection_fails_fast(self):
        r = self.check(port=itkit.free_port(), timeout_ms=500)
        self.assert_fails_within(r, 500)

    def test_accept_and_hang_fails_within_deadline(self):
        fake = self.fake("hang")
        r = self.check(port=fake.port, timeout_ms=300)
        self.assert_fails_within(r, 300)
        self.assertGreaterEqual(fake.accepted, 1, "redis_check never connected")

    def test_connect_never_completing_fails_within_deadline(self):
        r = self.check(port=self.silent_port(), timeout_ms=300)
        self.assert_fails_within(r, 300)

    def test_frozen_server_fails_within_deadline(self):
        srv = self.server()
        self.frozen(srv)
        r = self.check(port=srv.port, timeout_ms=300)
        self.assert_fails_within(r, 300)

    def test_concurrent_runs(self):
        # keepalived 2.2.7 may start a check while the previous one still runs.
        srv = self.server()
        procs = [self.start_tool("redis_check", "--timeout", "2000", "--host", "127.0.0.1",
                                 "--port", str(srv.port)) for _ in range(8)]
        results = [p.wait_exit(15) for p in procs]
        self.assertEqual([r.rc for r in results], [0] * 8, f"{results!r}")
        self.assertEqual(itkit.read_text(self.state_path("health")).strip(), "healthy")

    def test_half_reply_fails_within_deadline(self):
        fake = self.fake("half")
        r = self.check(port=fake.port, timeout_ms=300)
        self.assert_fails_within(r, 300)

    def test_slow_reply_fails_within_deadline(self):
        fake = self.fake("slow", delay=0.8)
        r = self.check(port=fake.port, timeout_ms=400)
        self.assert_fails_within(r, 400)

    def test_deadline_covers_auth_and_ping_together(self):
        # Each reply comes 0.3 s late: AUTH then PING take 0.6 s in total,
        # over the 0.5 s budget although each call alone is within it.
        fake = self.fake("slow", delay=0.3)
        r = self.check(port=fake.port, timeout_ms=500, env={"REDISCLI_AUTH": "pw"})
        self.assert_fails_within(r, 500)
        # Sanity check of the fake: with a budget that fits both, it passes.
        r = self.check(port=fake.port, timeout_ms=2000, env={"REDISCLI_AUTH": "pw"})
        self.assertRc(r, 0)

    def test_loading_fails_within_deadline(self):
        srv = self.server(["loading-process-events-interval-bytes 1024"])
        populate(srv, 4000)
        srv.call("SAVE")
        srv.stop()
        with open(srv.conf, "a") as f:
            f.write("key-load-delay 1000\n")  # ~4 s of loading
        srv.start()
        self.assertEqual(srv.info("persistence").get("loading"), "1",
                         "setup: the server is not loading")
        r = self.check(port=srv.port, timeout_ms=500)
        self.assertEqual(srv.info("persistence").get("loading"), "1",
                         "setup: loading ended before the check did")
        self.assert_fails_within(r, 500)

    def test_busy_script_fails_within_deadline(self):
        srv = self.server(["busy-reply-threshold 100"])
        errors = []

        def run_script():
            try:
                with srv.client(timeout=60) as c:
                    c.call("EVAL", "while true do end", "0")
            except Exception as exc:  # killed by SCRIPT KILL below
                errors.append(exc)

        t = threading.Thread(target=run_script, daemon=True)
        t.start()

        def kill_script():
            try:
                srv.call("SCRIPT", "KILL")
            except Exception:
                pass
            t.join(timeout=10)
        self.addCleanup(kill_script)

        def busy():
            try:
                srv.call("PING")
                return False
            except itkit.RedisReplyError as exc:
                if "BUSY" in str(exc):
                    return True
                raise
        wait_until(busy, 10, what="server BUSY with a script")
        r = self.check(port=srv.port, timeout_ms=500)
        self.assert_fails_within(r, 500)
        kill_script()
        self.assertRc(self.check(port=srv.port), 0)

    def test_auth(self):
        srv = self.server(["requirepass s3cr3t-check-pw"], auth="s3cr3t-check-pw")
        with self.subTest("no password"):
            self.assert_fails_within(self.check(port=srv.port), 500)
        with self.subTest("wrong password file"):
            pw = self.password_file("not-the-password", name="wrong")
            self.assert_fails_within(self.check("--password-file", pw, port=srv.port), 500)
        with self.subTest("wrong REDISCLI_AUTH"):
            r = self.check(port=srv.port, env={"REDISCLI_AUTH": "nope"})
            self.assert_fails_within(r, 500)
        with self.subTest("right password file"):
            pw = self.password_file("s3cr3t-check-pw", name="right")
            self.assertRc(self.check("--password-file", pw, port=srv.port), 0)
        with self.subTest("right REDISCLI_AUTH"):
            r = self.check(port=srv.port, env={"REDISCLI_AUTH": "s3cr3t-check-pw"})
            self.assertRc(r, 0)
        self.assertNotIn("s3cr3t-check-pw", itkit.read_text(self.log_file))

    def test_masterdown_counts_as_alive(self):
        master = self.server()
        srv = self.server(["replica-serve-stale-data no"])
        self.replicate(srv, master)
        master.kill()  # the replica's master is gone: PING now gets -MASTERDOWN

        def masterdown():
            try:
                srv.call("PING")
            except itkit.RedisReplyError as exc:
                return "MASTERDOWN" in str(exc)
            return False
        wait_until(masterdown, 10, what="PING to answer -MASTERDOWN")
        r = self.check(port=srv.port)
        self.assertRc(r, 0)

    def test_logs_only_changes_of_health(self):
        srv = self.server()

        def health_lines():
            text = itkit.read_text(self.log_file)
            return [ln for ln in text.splitlines() if re.search(r"health", ln, re.I)]

        for _ in range(3):
            self.assertRc(self.check(port=srv.port), 0)
        self.assertLessEqual(len(health_lines()), 1,
                             f"healthy x3 logged more than once: {health_lines()}")
        before = len(health_lines())
        lines_before = len(itkit.read_text(self.log_file).splitlines())

        srv.stop()
        for _ in range(2):
            self.assertRc(self.check(port=srv.port), 1)
        after_down = health_lines()
        self.assertEqual(len(after_down), before + 1,
                         f"expected exactly one line for healthy->unhealthy: {after_down}")
        self.assertRegex(after_down[-1], r"(?i)unhealthy")

        srv.start()
        for _ in range(2):
            self.assertRc(self.check(port=srv.port), 0)
        after_up = health_lines()
        self.assertEqual(len(after_up), before + 2,
                         f"expected exactly one line for unhealthy->healthy: {after_up}")
        total = len(itkit.read_text(self.log_file).splitlines())
        self.assertLessEqual(total - lines_before, 2,
                             "redis_check logged lines that are not changes of health:\n"
                             + itkit.read_text(self.log_file))


if __name__ == "__main__":
    itkit.main()
