"""redis_switchover against real servers. keepalived is played by the test:
when the maintenance file turns 1 it runs redis_fault, as keepalived's
notify_fault would. The refusals change nothing (the master keeps taking
writes); the switchover loses no acknowledged write."""
import json
import os
import signal
import threading
import time

import itkit
from delayproxy import REPLICAOF_NO_ONE, DelayProxy
from itkit import KEEPALIVED_CONF, ToolTestCase, populate, setUpModule, wait_until  # noqa: F401


def fake_replica_info(replid, offset):
    """INFO (as a RESP bulk string) of a replica of history REPLID, link up,
    that has applied OFFSET."""
    text = ("# Server\r\nredis_version:7.0.15\r\nrun_id:" + "e" * 40 + "\r\n"
            "# Persistence\r\nloading:0\r\n"
            "# Replication\r\nrole:slave\r\nmaster_host:127.0.0.1\r\nmaster_port:1\r\n"
            "master_link_status:up\r\nmaster_sync_in_progress:0\r\n"
            "master_link_down_since_seconds:0\r\n"
            f"slave_read_repl_offset:{offset}\r\nslave_repl_offset:{offset}\r\n"
            f"master_replid:{replid}\r\n"
            "master_replid2:0000000000000000000000000000000000000000\r\n"
            f"master_repl_offset:{offset}\r\nsecond_repl_offset:-1\r\n"
            "# Keyspace\r\ndb0:keys=200,expires=0,avg_ttl=0\r\n").encode()
    return b"$%d\r\n%s\r\n" % (len(text), text)



class Writer(itkit.KeyWriter):
    """Writes w:N through `server` until stopped, reconnecting after errors;
    keeps the acknowledged N."""

    def __init__(self, server):
        self.server = server
        super().__init__()

    def connect(self):
        return self.server.client(timeout=0.5)


class SwitchoverTest(ToolTestCase):

    def setUp(self):
        super().setUp()
        self.flag = os.path.join(self.tmp, "maintenance")
        self.ka_conf = os.path.join(self.tmp, "keepalived.conf")
        with open(self.ka_conf, "w") as f:
            f.write(KEEPALIVED_CONF.format(path=self.flag))

    def pair(self, keys=200):
        """a (master, VIP holder as recorded by its redis_master) and b, its
        replica."""
        a = self.server()
        b = self.server()
        populate(a, keys)
        self.replicate(b, a)
        # The writes paused are measured against a pair in steady state.
        self.wait_streaming(b, a)
        r = self.run_tool("redis_master", *self.hook_args(a.port, b.port))
        self.assertIn("exit=0", r.log, f"setup: {r!r}")
        return a, b

    def switchover(self, a, b, *extra, timeout=30):
        return self.run_tool("redis_switchover", *self.hook_args(a.port, b.port),
                             "--maintenance-file", self.flag, "--keepalived-conf", self.ka_conf,
                             "--switchover-timeout-ms", "3000", *extra, timeout=timeout)

    def flag_value(self):
        try:
            with open(self.flag) as f:
                return f.read().strip()
        except FileNotFoundError:
            return None

    def play_keepalived(self, a, b):
        """When the flag turns 1, record FAULT as notify_fault does."""
        stop = threading.Event()

        def watch():
            while not stop.is_set():
                if self.flag_value() == "1":
                    self.run_tool("redis_fault", *self.hook_args(a.port, b.port))
                    return
                time.sleep(0.005)
        thread = threading.Thread(target=watch, daemon=True)
        thread.start()
        self.addCleanup(stop.set)
        return thread

    def assert_writable(self, srv):
        with srv.client(timeout=1.0) as c:
            self.assertEqual(c.call("SET", "probe", "1"), "OK")

    def test_switchover_moves_the_master_and_loses_nothing(self):
        a, b = self.pair()
        acked = []
        stop = threading.Event()

        def writer():
            n = 0
            while not stop.is_set():
                try:
                    with a.client(timeout=2) as c:
                        while not stop.is_set():
                            c.call("SET", f"w:{n}", f"v{n}")
                            acked.append(n)
                            n += 1
                except Exception:  # READONLY once a is a replica: stop writing there
                    return
        t = threading.Thread(target=writer, daemon=True)
        t.start()
        time.sleep(0.3)
        self.play_keepalived(a, b)
        r = self.switchover(a, b)
        stop.set()
        t.join(5)
        self.assertRc(r, 0)
        self.assertIn("verdict=switched-over exit=0", r.log)
        self.assert_role(b, "master")
        self.assert_role(a, "slave", master_port=b.port)
        self.assertEqual(self.flag_value(), "0")
        self.assertGreater(len(acked), 10)
        missing = [n for n, v in zip(acked, b.call("MGET", *[f"w:{n}" for n in acked]))
                   if v != f"v{n}"]
        self.assertEqual(missing, [], "acknowledged writes missing on the new master")
        self.assert_all_keys(b, 200)
        m = __import__("re").search(r"writes paused (\d+) ms", r.log)
        self.assertLess(int(m.group(1)), 500)
        # The peer's notify_master finds itself master with every write.
        p = self.run_tool("redis_master", *self.hook_args(b.port, a.port))
        self.assertIn("verdict=already-master exit=0", p.log)
        self.assertNotIn("CLIENT PAUSE", p.log)

    def missing_on(self, server, acked):
        values = server.call("MGET", *[f"w:{n}" for n in acked]) if acked else []
        return [n for n, v in zip(acked, values) if v != f"v{n}"]

    def test_a_late_reply_to_the_promotion_never_leaves_two_masters(self):
        # The peer promotes itself at once, but its +OK arrives after
        # --timeout (a latency spike): the switchover must learn the peer's
        # real role and finish, not unpause this node as a second master.
        a, b = self.pair()
        proxy = DelayProxy(b.port)
        self.addCleanup(proxy.close)
        proxy.delay_reply_after(REPLICAOF_NO_ONE, 1.5)
        writer = Writer(a)
        time.sleep(0.3)
        self.play_keepalived(a, proxy)
        r = self.run_tool("redis_switchover", *self.hook_args(a.port, proxy.port),
                          "--maintenance-file", self.flag, "--keepalived-conf", self.ka_conf,
                          "--switchover-timeout-ms", "3000", timeout=30)
        time.sleep(0.5)  # writes that a would still take as a second master
        acked = writer.stop()
        self.assertTrue(proxy.fired.is_set())
        self.assertRc(r, 0)
        self.assertIn("verdict=switched-over exit=0", r.log)
        self.assertNotIn("nothing changed", r.log)
        self.assertIn("no reply to REPLICAOF NO ONE", r.log)
        self.assert_role(b, "master")
        self.assertEqual(self.role(a), "slave")
        self.assertGreater(len(acked), 10)
        self.assertEqual(self.missing_on(b, acked), [],
                         "acknowledged writes exist only on a node that is not the master")

    def test_a_peer_reset_after_the_promotion_is_read_again(self):
        a, b = self.pair()
        proxy = DelayProxy(b.port)
        self.addCleanup(proxy.close)
        proxy.cut_after(REPLICAOF_NO_ONE)
        writer = Writer(a)
        time.sleep(0.3)
        self.play_keepalived(a, proxy)
        r = self.run_tool("redis_switchover", *self.hook_args(a.port, proxy.port),
                          "--maintenance-file", self.flag, "--keepalived-conf", self.ka_conf,
                          "--switchover-timeout-ms", "3000", timeout=30)
        time.sleep(0.5)
        acked = writer.stop()
        self.assertRc(r, 0)
        self.assert_role(b, "master")
        self.assertEqual(self.role(a), "slave")
        self.assertEqual(self.missing_on(b, acked), [])

    def test_an_unknown_promotion_demotes_this_node_rather_than_risk_two_masters(self):
        # The peer's reply is lost and the peer cannot be read again: it may
        # be master. This node must not go on taking writes as a master.
        a, b = self.pair()
        proxy = DelayProxy(b.port)
        self.addCleanup(proxy.close)
        proxy.delay_reply_after(REPLICAOF_NO_ONE, 30, then_refuse=True)
        writer = Writer(a)
        time.sleep(0.3)
        r = self.run_tool("redis_switchover", *self.hook_args(a.port, proxy.port),
                          "--maintenance-file", self.flag, "--keepalived-conf", self.ka_conf,
                          "--switchover-timeout-ms", "1000", timeout=30)
        time.sleep(0.5)
        acked = writer.stop()
        self.assertRc(r, 1)
        self.assertIn("verdict=switchover-unknown exit=1", r.log)
        self.assertEqual(self.role(a), "slave")
        self.assert_role(b, "master")
        self.assertEqual(self.missing_on(b, acked), [])
        self.assertIsNone(self.flag_value())

    def switchover_waiting_for_a_lagging_peer(self):
        """(a, the running switchover): a's writes paused while it waits, up
        to 10 minutes, for a peer that stays 10 bytes behind."""
        a, _ = self.pair()
        populate(a, 20, prefix="more")
        info = a.info("replication")
        fake = self.fake("map", replies={b"INFO": fake_replica_info(
            info["master_replid"], int(info["master_repl_offset"]) - 10)})
        p = self.start_tool("redis_switchover", *self.hook_args(a.port, fake.port),
                            "--maintenance-file", self.flag, "--keepalived-conf", self.ka_conf,
                            "--switchover-timeout-ms", "600000")
        wait_until(lambda: "waiting for the peer" in itkit.read_text(self.log_file), 10,
                   what="the switchover waiting for the peer")
        return a, p

    def test_sigint_while_waiting_leaves_no_pause_behind(self):
        a, p = self.switchover_waiting_for_a_lagging_peer()
        time.sleep(0.3)
        os.kill(p.pid, signal.SIGINT)
        self.assertTrue(p.wait_exit(5), "redis_switchover did not end after SIGINT")
        res = p.result()
        self.assertRc(res, 1)
        self.assertIn("verdict=switchover-interrupted exit=1", res.log)
        self.assert_writable(a)

    def test_a_killed_switchover_leaves_at_most_one_short_window(self):
        a, p = self.switchover_waiting_for_a_lagging_peer()
        time.sleep(1.0)
        p.kill()
        killed_at = time.monotonic()
        # The pause window is a few --timeout: writes come back within it.
        with a.client(timeout=10) as c:
            self.assertEqual(c.call("SET", "after-kill", "1"), "OK")
        self.assertLess(time.monotonic() - killed_at, 3.0)

    def test_stay_out_with_fence_writes_leaves_the_new_master_writable(self):
        # The peer carries a fence from an earlier role (persisted, say): once
        # the old node stops for maintenance, a fenced new master would refuse
        # every write while its check passes.
        a, b = self.pair()
        b.call("CONFIG", "SET", "min-replicas-max-lag", "1")
        b.call("CONFIG", "SET", "min-replicas-to-write", "1")
        a.call("CONFIG", "SET", "min-replicas-max-lag", "1")
        a.call("CONFIG", "SET", "min-replicas-to-write", "1")
        self.play_keepalived(a, b)
        r = self.switchover(a, b, "--stay-out", "--fence-writes")
        self.assertRc(r, 0)
        a.stop()
        time.sleep(2.5)  # past min-replicas-max-lag with no replica
        self.assert_writable(b)
        # The old node's redis.conf did not keep the master's fence.
        with open(a.conf) as f:
            self.assertNotRegex(f.read(), r"(?m)^min-replicas-to-write [1-9]")

    def test_fault_never_recorded_is_not_a_success(self):
        a, b = self.pair()
        # keepalived is not there to run redis_fault: the VIP never moves.
        r = self.run_tool("redis_switchover", *self.hook_args(a.port, b.port),
                          "--maintenance-file", self.flag, "--keepalived-conf", self.ka_conf,
                          "--switchover-timeout-ms", "500", timeout=30)
        self.assertRc(r, 1)
        self.assertIn("verdict=handover-unconfirmed exit=1", r.log)
        self.assertNotIn("switched-over exit=0", r.log)
        self.assert_role(b, "master")
        self.assertEqual(self.role(a), "slave")

    # ---- a step that fails once something changed says what changed ----

    def switchover_with_flag(self, a, b, flag, timeout_ms=3000):
        """The switchover with `flag` as its maintenance file (tracked in
        its own keepalived.conf)."""
        with open(self.ka_conf, "w") as f:
            f.write(KEEPALIVED_CONF.format(path=flag))
        return self.run_tool("redis_switchover", *self.hook_args(a.port, b.port),
                             "--maintenance-file", flag, "--keepalived-conf", self.ka_conf,
                             "--switchover-timeout-ms", str(timeout_ms), timeout=30)

    def assert_master_moved(self, r, a, b):
        self.assertNotIn("internal error", r.stderr)
        self.assertNotIn("nothing", r.log.splitlines()[-1])
        self.assert_role(b, "master")
        self.assert_role(a, "slave", master_port=b.port)

    def test_a_maintenance_file_that_cannot_be_written_after_the_promotion_is_reported(self):
        # A directory stands where the file should be (the start checks
        # pass: its directory exists and is trusted): the write of 1 fails
        # once the peer is master, and the VIP then moves only when
        # redis_check yields.
        a, b = self.pair()
        flag = os.path.join(self.tmp, "maintenance")
        os.mkdir(flag, 0o700)
        r = self.switchover_with_flag(a, b, flag, timeout_ms=1000)
        self.assertRc(r, 1)
        self.assertRegex(r.log, r"verdict=handover-unconfirmed exit=1 .*the peer is master with "
                         r"every write and this node its replica.*maintenance.*could not be "
                         r"written")
        self.assertIn(f"cannot write {flag}", r.log)
        self.assert_master_moved(r, a, b)

    def test_a_maintenance_file_in_a_missing_directory_is_refused_before_anything(self):
        # The 1 that hands the VIP over could never be written: refused at
        # the start, with both nodes as they were.
        a, b = self.pair()
        flag = os.path.join(self.tmp, "missing", "maintenance")
        r = self.switchover_with_flag(a, b, flag)
        self.assertRc(r, 2)
        self.assertIn("does not exist", r.stderr)
        self.assertIn("nothing was done", r.stderr)
        self.assert_role(a, "master")
        self.assert_role(b, "slave", master_port=a.port)

    def test_rejoin_that_cannot_write_the_file_ends_in_a_verdict(self):
        # --rejoin where a directory stands in the file's place: the 1 (or
        # nothing) stays, and the verdict says this node stays out.
        a, b = self.pair()
        flag = os.path.join(self.tmp, "maintenance")
        os.mkdir(flag, 0o700)
        r = self.run_tool("redis_switchover", *self.hook_args(a.port, b.port),
                          "--maintenance-file", flag, "--keepalived-conf", self.ka_conf,
                          "--rejoin", timeout=30)
        self.assertRc(r, 1)
        self.assertNotIn("internal error", r.stderr)
        self.assertRegex(r.log, r"verdict=rejoin-failed exit=1 .*cannot write 0 to .*stays out")

    def test_a_maintenance_file_that_cannot_be_reset_says_this_node_stays_out(self):
        # The flag's directory turns unsafe, then keepalived records FAULT:
        # writing 0 back is refused after the master role moved, which must
        # not read as a usage error ("nothing was done", exit 2).
        a, b = self.pair()
        flag_dir = os.path.join(self.tmp, "flag")
        os.mkdir(flag_dir, 0o700)
        flag = os.path.join(flag_dir, "maintenance")
        self.flag = flag

        def keepalived_then_unsafe_dir():
            wait_until(lambda: self.flag_value() == "1", 20, what="maintenance on")
            os.chmod(flag_dir, 0o777)
            self.run_tool("redis_fault", *self.hook_args(a.port, b.port))
        thread = threading.Thread(target=keepalived_then_unsafe_dir, daemon=True)
        thread.start()
        r = self.switchover_with_flag(a, b, flag)
        thread.join(20)
        self.assertRc(r, 1)
        self.assertRegex(r.log, r"verdict=rejoin-failed exit=1 .*switched over.*still 1.*"
                         r"redis_switchover --rejoin")
        self.assertEqual(self.flag_value(), "1")
        self.assert_master_moved(r, a, b)

    def test_a_state_dir_that_fails_while_waiting_for_fault_is_not_a_usage_error(self):
        # Instead of keepalived's FAULT, the record turns into a FIFO: every
        # read of the state dir is a StateError once the master role moved.
        a, b = self.pair()

        def break_the_record():
            wait_until(lambda: self.flag_value() == "1", 20, what="maintenance on")
            os.unlink(self.state_path())
            os.mkfifo(self.state_path(), 0o600)
        thread = threading.Thread(target=break_the_record, daemon=True)
        thread.start()
        r = self.switchover(a, b)
        thread.join(20)
        self.assertRc(r, 1)
        self.assertIn("cannot read the state dir while waiting for FAULT", r.log)
        self.assertIn("verdict=handover-unconfirmed exit=1", r.log)
        self.assert_master_moved(r, a, b)

    def test_a_local_redis_that_dies_before_the_promotion_ends_with_a_verdict(self):
        # The pause's next window cannot be opened on a dead server: nothing
        # was changed, and the verdict line says so.
        a, p = self.switchover_waiting_for_a_lagging_peer()
        a.kill()
        res = p.wait_exit(10)
        self.assertRc(res, 1)
        self.assertNotIn("internal error", res.stderr)
        self.assertRegex(res.log, r"verdict=switchover-refused exit=1 .*nothing changed")
        self.assertIsNone(self.flag_value())

    def test_stay_out_keeps_the_flag_and_rejoin_clears_it(self):
        a, b = self.pair()
        self.play_keepalived(a, b)
        r = self.switchover(a, b, "--stay-out")
        self.assertRc(r, 0)
        self.assertEqual(self.flag_value(), "1")
        s = self.switchover(a, b, "--status")
        self.assertRc(s, 0)
        self.assertIn(f"maintenance: ON: this node stays out of the election ({self.flag} = 1)",
                      s.stdout)
        st = self.run_tool("redis_status", *self.hook_args(a.port, b.port),
                           "--maintenance-file", self.flag, "--json")
        self.assertEqual(json.loads(st.stdout)["maintenance"], {"file": self.flag, "value": 1})
        # redis_status words the flag as --status does.
        st = self.run_tool("redis_status", *self.hook_args(a.port, b.port),
                           "--maintenance-file", self.flag)
        flag_line = [line for line in s.stdout.splitlines() if line.startswith("maintenance: ")]
        self.assertEqual(len(flag_line), 1, s.stdout)
        self.assertIn("  " + flag_line[0] + "\n", st.stdout)
        j = self.switchover(a, b, "--rejoin")
        self.assertRc(j, 0)
        self.assertEqual(self.flag_value(), "0")

    def test_not_the_vip_holder_changes_nothing(self):
        a, b = self.pair()
        self.run_tool("redis_fault", *self.hook_args(a.port, b.port))
        r = self.switchover(a, b)
        self.assertRc(r, 1)
        self.assertIn("does not hold the VIP", r.log)
        self.assert_role(a, "master")
        self.assert_writable(a)
        self.assertIsNone(self.flag_value())

    def test_unreachable_peer_or_not_a_replica_changes_nothing(self):
        a, b = self.pair()
        b.call("REPLICAOF", "NO", "ONE")
        r = self.switchover(a, b)
        self.assertRc(r, 1)
        self.assertIn("the peer is a master", r.log)
        b.kill()
        r = self.switchover(a, b)
        self.assertRc(r, 1)
        self.assertIn("the peer is gone", r.log)
        self.assert_role(a, "master")
        self.assert_writable(a)
        self.assertIsNone(self.flag_value())

    def test_a_peer_that_never_catches_up_is_rolled_back(self):
        a, b = self.pair()
        populate(a, 20, prefix="more")
        info = a.info("replication")
        # A replica of a's history that stays 10 bytes behind.
        fake = self.fake("map", replies={b"INFO": fake_replica_info(
            info["master_replid"], int(info["master_repl_offset"]) - 10)})
        r = self.run_tool("redis_switchover", *self.hook_args(a.port, fake.port),
                          "--maintenance-file", self.flag, "--keepalived-conf", self.ka_conf,
                          "--switchover-timeout-ms", "300", timeout=20)
        self.assertRc(r, 1)
        self.assertIn("did not catch up within 300 ms", r.log)
        self.assert_role(a, "master")
        self.assert_writable(a)  # unpaused
        self.assertIsNone(self.flag_value())

    def test_an_untracked_maintenance_file_is_a_usage_error(self):
        a, b = self.pair()
        with open(self.ka_conf, "w") as f:
            f.write(KEEPALIVED_CONF.format(path="/run/other"))
        r = self.switchover(a, b)
        self.assertRc(r, 2)
        self.assertIn("no track_file block declares", r.stderr)
        # The path in a notify line, or a track_file whose weight only moves
        # the priority: writing 1 would not put this node in FAULT.
        with open(self.ka_conf, "w") as f:
            f.write(f'vrrp_instance redis {{\n  notify_master "/usr/bin/x {self.flag}"\n}}\n')
        self.assertIn("no track_file block declares", self.switchover(a, b).stderr)
        with open(self.ka_conf, "w") as f:
            f.write(KEEPALIVED_CONF.format(path=self.flag).replace("weight 0", "weight 10"))
        r = self.switchover(a, b)
        self.assertRc(r, 2)
        self.assertIn("with weight 10", r.stderr)
        missing = self.run_tool("redis_switchover", *self.hook_args(a.port, b.port))
        self.assertRc(missing, 2)
        self.assertIn("--maintenance-file", missing.stderr)
        self.assert_role(a, "master")
        self.assertIsNone(self.flag_value())


if __name__ == "__main__":
    itkit.main()
