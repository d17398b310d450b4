"""--witness: a master that reaches neither its peer nor any witness fails
its check ("isolated") and fences its Redis (min-replicas-to-write 1), so
that it stops taking writes the other side would discard at the heal; the
first check that reaches either again lifts the fence. Unreachable here is a
loopback port whose connects never complete (a host that drops SYNs); a
refused connection is an answer."""
import os
import shutil
import signal
import subprocess
import threading
import time

import itkit
from itkit import MARGIN, RedisReplyError, Resp, ToolTestCase, setUpModule  # noqa: F401

TIMEOUT_MS = 500
# The tests' whole network is loopback, which redis_check otherwise refuses
# as a witness (exit 2): such a witness always answers.
LOCAL_OK = "--witness-on-this-host"


def fence_values(srv):
    """(min-replicas-to-write, min-replicas-max-lag) as the server holds them."""
    reply = srv.call("CONFIG", "GET", "min-replicas-*")
    values = dict(zip(reply[::2], reply[1::2]))
    return int(values["min-replicas-to-write"]), int(values["min-replicas-max-lag"])


class WitnessTest(ToolTestCase):

    def check_args(self, srv, peer_port, *witness_ports, extra=(), timeout_ms=TIMEOUT_MS):
        args = ["--timeout", str(timeout_ms), "--host", "127.0.0.1", "--port", str(srv.port),
                "--peer", f"127.0.0.1:{peer_port}", LOCAL_OK, *extra]
        for port in witness_ports:
            args += ["--witness", f"127.0.0.1:{port}"]
        return args

    def check(self, srv, peer_port, *witness_ports, extra=(), state_dir=None):
        args = self.check_args(srv, peer_port, *witness_ports, extra=extra)
        if state_dir is None:
            return self.run_tool("redis_check", *args, timeout=20)
        return self.run_tool("redis_check", "--state-dir", state_dir, "--instance", self.instance,
                             "--log-file", self.log_file, *args, common=False, timeout=20)

    def isolate(self, srv, extra=(), state_dir=None):
        """One check that finds `srv` cut off: it fails and fences."""
        r = self.check(srv, self.silent_port(), self.silent_port(), extra=extra,
                       state_dir=state_dir)
        self.assertRc(r, 1)
        self.assertIn("isolated", r.log + r.stderr)
        self.assertEqual(self.min_replicas(srv), "1")
        self.assert_writes(srv, False)
        return r

    def lift(self, srv, extra=(), state_dir=None):
        """One check that reaches a witness (a refused connect): it passes and
        lifts the fence."""
        r = self.check(srv, self.silent_port(), itkit.free_port(), extra=extra,
                       state_dir=state_dir)
        self.assertRc(r, 0)
        self.assertEqual(self.min_replicas(srv), "0", r)
        self.assert_writes(srv, True)
        return r

    def debug_sleep(self, srv, seconds):
        """DEBUG SLEEP on `srv` from a thread: the server answers nothing
        meanwhile. Returns the thread (join it to wait for the end)."""
        def sleep():
            with Resp("127.0.0.1", srv.port, timeout=seconds + 5) as c:
                c.call("DEBUG", "SLEEP", str(seconds))
        thread = threading.Thread(target=sleep, daemon=True)
        thread.start()
        time.sleep(0.1)  # the DEBUG SLEEP is running before the check's PING
        return thread

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

    def test_the_fence_lifts_after_a_check_that_recorded_unhealthy(self):
        srv = self.server(extra_config=["enable-debug-command yes"])
        self.isolate(srv)
        # A check that times out (the server is busy longer than --timeout)
        # records "unhealthy" in between.
        sleeping = self.debug_sleep(srv, 1.0)
        r = self.check(srv, self.silent_port(), itkit.free_port())
        self.assertRc(r, 1)
        sleeping.join(5)
        with open(self.state_path("health")) as f:
            self.assertEqual(f.read().strip(), "unhealthy")
        r = self.lift(srv)
        self.assertIn("isolation fence lifted", r.log)

    def test_the_fence_lifts_after_a_stopped_server(self):
        srv = self.server()
        self.isolate(srv)
        # SIGSTOP: the server answers nothing, the check times out and
        # records "unhealthy" in between.
        srv.proc.send_signal(signal.SIGSTOP)
        self.addCleanup(lambda: srv.proc.poll() is None and srv.proc.send_signal(signal.SIGCONT))
        r = self.check(srv, self.silent_port(), itkit.free_port())
        srv.proc.send_signal(signal.SIGCONT)
        self.assertRc(r, 1)
        with open(self.state_path("health")) as f:
            self.assertEqual(f.read().strip(), "unhealthy")
        self.lift(srv)

    def test_the_fence_lifts_without_a_state_dir(self):
        srv = self.server()
        missing = os.path.join(self.tmp, "no-such-dir")
        self.isolate(srv, state_dir=missing)
        self.lift(srv, state_dir=missing)
        self.assertFalse(os.path.exists(missing))

    def test_the_fence_lifts_when_the_state_dir_turned_unsafe(self):
        srv = self.server()
        self.isolate(srv)
        os.chmod(self.state_dir, 0o777)  # writable by others: not trusted any more
        self.addCleanup(os.chmod, self.state_dir, 0o700)
        r = self.lift(srv)
        self.assertIn("state dir not used", r.stderr)

    def test_the_fence_lifts_with_a_read_only_state_dir(self):
        if os.geteuid() != 0 or not shutil.which("unshare"):
            self.skipTest("needs root and unshare -m to mount a read-only tmpfs")
        srv = self.server()
        # Each check runs in a private mount namespace where the state dir is
        # an empty read-only tmpfs: nothing can be recorded, nothing is read.
        script = ('mount -t tmpfs -o size=64k,mode=0700 tmpfs "$1" && '
                  'mount -o remount,ro "$1" || exit 99; shift; exec "$@"')

        def check(*witness_ports):
            argv = ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh",
                    self.state_dir, itkit.tool_path("redis_check"),
                    "--state-dir", self.state_dir, "--instance", self.instance,
                    "--log-file", self.log_file,
                    *self.check_args(srv, self.silent_port(), *witness_ports)]
            return subprocess.run(argv, capture_output=True, timeout=20,
                                  stdin=subprocess.DEVNULL)
        cp = check(self.silent_port())
        self.assertEqual(cp.returncode, 1, cp)
        self.assertEqual(self.min_replicas(srv), "1")
        cp = check(itkit.free_port())
        self.assertEqual(cp.returncode, 0, cp)
        self.assertEqual(self.min_replicas(srv), "0")
        self.assert_writes(srv, True)

    def test_the_operators_own_values_come_back(self):
        srv = self.server(extra_config=["min-replicas-to-write 2", "min-replicas-max-lag 7"])
        r = self.check(srv, self.silent_port(), self.silent_port(), extra=["--fence-max-lag", "3"])
        self.assertRc(r, 1)
        # The toolkit's fence over the operator's: at least their 2 replicas,
        # the toolkit's lag.
        self.assertEqual(fence_values(srv), (2, 3))
        r = self.check(srv, self.silent_port(), itkit.free_port(), extra=["--fence-max-lag", "3"])
        self.assertRc(r, 0)
        self.assertIn("isolation fence lifted", r.log)
        self.assertEqual(fence_values(srv), (2, 7))
        # Their own fence is theirs: the next checks leave it.
        r = self.check(srv, self.silent_port(), itkit.free_port(), extra=["--fence-max-lag", "3"])
        self.assertRc(r, 0)
        self.assertEqual(fence_values(srv), (2, 7))

    def test_an_operators_fence_found_without_a_record_is_left_and_recorded(self):
        srv = self.server(extra_config=["min-replicas-to-write 2", "min-replicas-max-lag 7"])
        r = self.lift_check(srv)
        self.assertEqual(fence_values(srv), (2, 7))
        with open(self.state_path("fence")) as f:
            self.assertIn("base=2 7", f.read())
        # The toolkit's own values without a record: an isolation fence whose
        # record was lost (no state dir then), lifted to Redis's defaults.
        os.unlink(self.state_path("fence"))
        srv.call("CONFIG", "SET", "min-replicas-to-write", "1")
        srv.call("CONFIG", "SET", "min-replicas-max-lag", "1")
        self.lift_check(srv)
        self.assertEqual(fence_values(srv), (0, 10))

    def test_the_fence_writes_fence_is_not_lifted(self):
        srv = self.server()
        # The hooks' --fence-writes fence (1, --fence-max-lag), which holds
        # while the replica is away: not the check's to lift.
        srv.call("CONFIG", "SET", "min-replicas-max-lag", "1")
        srv.call("CONFIG", "SET", "min-replicas-to-write", "1")
        for _ in range(2):
            r = self.check(srv, self.silent_port(), itkit.free_port(), extra=["--fence-writes"])
            self.assertRc(r, 0)
            self.assertEqual(fence_values(srv), (1, 1))

    def lift_check(self, srv):
        r = self.check(srv, self.silent_port(), itkit.free_port())
        self.assertRc(r, 0)
        return r

    def test_a_slow_ping_does_not_fence(self):
        srv = self.server(extra_config=["enable-debug-command yes"])
        # --timeout 3000: the PING waits most of the DEBUG SLEEP of 2.8 s
        # (it began before the check started; a sanitizer build takes about
        # 0.3 s more to start), and the probes would get the 0.2 to 0.6 s
        # left, in which silent ports read as isolation. A quarter of
        # --timeout (0.75 s) is theirs: this run does not judge.
        sleeping = self.debug_sleep(srv, 2.8)
        r = self.run_tool("redis_check", *self.check_args(
            srv, self.silent_port(), self.silent_port(), timeout_ms=3000), timeout=20)
        sleeping.join(5)
        self.assertRc(r, 0)
        self.assertLess(r.elapsed, 3 + MARGIN)
        self.assertEqual(self.min_replicas(srv), "0")
        self.assertIn("isolation not judged: PING and INFO left the probes", r.log)
        # The same check with a prompt PING judges, and fences.
        self.isolate(srv)

    def test_a_witness_on_this_host_is_refused(self):
        srv = self.server()
        own = ["127.0.0.1:9", "127.1.2.3:9", "[::1]:9", "localhost:9", "LocalHost:9",
               "0.0.0.0:9", "[::ffff:127.0.0.1]:9"]
        for witness in own:
            r = self.run_tool("redis_check", "--host", "127.0.0.1", "--port", str(srv.port),
                              "--peer", "127.0.0.1:1", "--witness", witness, timeout=20)
            self.assertRc(r, 2)
            self.assertIn("--witness", r.stderr)
            self.assertIn("never be found isolated", r.stderr)
        # The --host the check connects to, as written.
        r = self.run_tool("redis_check", "--host", "redis.example", "--port", str(srv.port),
                          "--peer", "127.0.0.1:1", "--witness", "redis.example:9", timeout=20)
        self.assertRc(r, 2)
        self.assertIn("is the --host this check connects to", r.stderr)
        self.assertEqual(self.min_replicas(srv), "0")

    def test_a_witness_on_an_own_interface_address_is_refused(self):
        own = [a for a in self.interface_addresses() if not a.startswith("127.")]
        if not own:
            self.skipTest("no interface address other than loopback")
        srv = self.server()
        # Never connected to: refused before the check does anything.
        r = self.run_tool("redis_check", "--host", "127.0.0.1", "--port", str(srv.port),
                          "--peer", "127.0.0.1:1", "--witness", f"{own[0]}:9", timeout=20)
        self.assertRc(r, 2)
        self.assertIn("is an address of this host", r.stderr)

    @staticmethod
    def interface_addresses():
        out = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True,
                             text=True).stdout if shutil.which("ip") else ""
        return [line.split()[3].split("/")[0] for line in out.splitlines()
                if len(line.split()) > 3]

    def test_a_name_that_resolves_to_this_host_is_refused_by_the_probe(self):
        srv = self.server()
        # "localhost" is caught as written; a name that /etc/hosts maps to
        # loopback is caught when the probe resolves it.
        names = self.loopback_names()
        if not names:
            self.skipTest("/etc/hosts names no loopback address but localhost")
        r = self.run_tool("redis_check", "--timeout", str(TIMEOUT_MS), "--host", "127.0.0.1",
                          "--port", str(srv.port), "--peer", f"127.0.0.1:{self.silent_port()}",
                          "--witness", f"{names[0]}:9", timeout=20)
        self.assertRc(r, 2)
        self.assertIn("never be found isolated", r.stderr)
        self.assertEqual(self.min_replicas(srv), "0")

    @staticmethod
    def loopback_names():
        names = []
        with open("/etc/hosts") as f:
            for line in f:
                fields = line.split("#")[0].split()
                if len(fields) > 1 and (fields[0].startswith("127.") or fields[0] == "::1"):
                    names += [n for n in fields[1:] if not n.lower().startswith("localhost")
                              and not n.lower().endswith(".localhost")
                              and n.lower() not in ("ip6-localhost", "ip6-loopback")]
        return names

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
                          "--witness", f"127.0.0.1:{self.silent_port()}", LOCAL_OK,
                          "--user", "checker",
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
