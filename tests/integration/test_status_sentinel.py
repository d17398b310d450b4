"""redis_status in Sentinel mode, against real sentinels (`RK_SERVER CONF
--sentinel`, Valkey's the same) on loopback: each sentinel's view, their
verdict and this node's place, in the JSON and the Prometheus text; a
stopped sentinel shows as not answering within --timeout; redis_check's
query stays the two commands it needs, and nothing sends SENTINEL
IS-MASTER-DOWN-BY-ADDR (which would cast a leader vote)."""
import json
import os
import re
import signal
import subprocess
import sys
import time

import itkit
from itkit import MARGIN, RedisServer, ToolTestCase, setUpModule, wait_until  # noqa: F401

sys.path.insert(0, os.path.join(itkit.HERE, "..", "alerts"))
import alertkit  # noqa: E402

MASTER_NAME = "mymaster"
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")

# A sentinel ACL user that may ask only what redis_check asks (AUTH, then
# GET-MASTER-ADDR-BY-NAME and INFO sentinel): every other command it sends
# is refused and lands in the sentinel's ACL LOG.
CHECK_USER = "rkcheck"
CHECK_PASSWORD = "check-secret"
CHECK_ACL = (f"user {CHECK_USER} on >{CHECK_PASSWORD} -@all +auth +info "
             "+sentinel|get-master-addr-by-name")


class Sentinel(RedisServer):
    """A real sentinel monitoring MASTER_NAME at 127.0.0.1:master_port, in
    its own temp dir: Sentinel rewrites its config file through a temporary
    file, so the file and its dir must be writable. Started and stopped by
    PID (RedisServer.stop), resumed first when a test stopped it."""

    def __init__(self, master_port, extra_config=()):
        super().__init__(extra_config=[
            f"sentinel monitor {MASTER_NAME} 127.0.0.1 {master_port} 2",
            f"sentinel down-after-milliseconds {MASTER_NAME} 5000",
            *extra_config])

    def start(self, wait=True):
        self.write_config()
        self.proc = subprocess.Popen([self.binary, self.conf, "--sentinel"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if wait:
            wait_until(self._pong, 10, what=f"sentinel on port {self.port}")
        return self

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
        super().stop()

    def acl_log(self):
        """The commands refused to anyone, as (user, command) pairs."""
        entries = self.call("ACL", "LOG")
        pairs = []
        for entry in entries:
            fields = dict(zip(entry[0::2], entry[1::2]))
            pairs.append((fields["username"], fields["object"]))
        return pairs


def parse_exposition(text):
    """{(name, labels text): value}, after checking that every family has
    its HELP and TYPE lines before its first sample."""
    samples, described = {}, set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            described.add(line.split()[2])
            continue
        if not line or line.startswith("#"):
            continue
        match = SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        name, labels, value = match.groups()
        assert name in described, f"{name} has no TYPE line before its samples"
        samples[(name, labels or "")] = float(value)
    assert text.count("# HELP ") == text.count("# TYPE "), "a family without HELP or TYPE"
    return samples


class StatusSentinelTest(ToolTestCase):

    def sentinels(self, master, count=3, extra_config=()):
        """COUNT sentinels monitoring `master`, each stopped at cleanup."""
        started = []
        for _ in range(count):
            sentinel = Sentinel(master.port, extra_config)
            self.addCleanup(sentinel.cleanup)
            started.append(sentinel.start())
        return started

    def wait_discovered(self, sentinels):
        """Until every sentinel knows the others (their hello messages go
        through the master every 2 s): CKQUORUM counts only those."""
        def others(sentinel):
            reply = sentinel.call("SENTINEL", "MASTER", MASTER_NAME)
            return int(dict(zip(reply[0::2], reply[1::2]))["num-other-sentinels"])
        wait_until(lambda: all(others(s) == len(sentinels) - 1 for s in sentinels), 20,
                   interval=0.2, what="the sentinels to discover each other")

    def sentinel_args(self, node, sentinels):
        """Sentinel mode's options for the node whose Redis is `node`."""
        args = ["--host", "127.0.0.1", "--port", node.port, "--announce-host", "127.0.0.1",
                "--master-name", MASTER_NAME, "--timeout", 500]
        for sentinel in sentinels:
            args += ["--sentinel", sentinel.address]
        return args

    def status_json(self, node, sentinels):
        """The "sentinels" object of redis_status --json, and the run."""
        r = self.run_tool("redis_status", "--json", *self.sentinel_args(node, sentinels))
        self.assertRc(r, 0)
        return json.loads(r.stdout)["sentinels"], r

    def test_each_sentinel_the_verdict_and_the_place_with_one_stopped(self):
        master, replica = self.server(), self.server()
        self.replicate(replica, master)
        sentinels = self.sentinels(master)
        self.wait_discovered(sentinels)
        stopped = sentinels[2]
        self.frozen(stopped)

        report, r = self.status_json(master, sentinels)
        # The stopped sentinel accepts the connection (the kernel does) and
        # never answers: it costs the one --timeout, not one each.
        self.assertLess(r.elapsed, 0.5 + MARGIN, r)
        self.assertEqual((report["master_name"], report["configured"], report["needed"]),
                         (MASTER_NAME, 3, 2))
        self.assertEqual([s["address"] for s in report["list"]], [s.address for s in sentinels])
        for entry in report["list"][:2]:
            self.assertTrue(entry["answered"], entry)
            self.assertEqual(entry["master"], f"127.0.0.1:{master.port}")
            self.assertTrue(entry["names_this_node"])
            self.assertFalse(entry["tilt"])
            self.assertEqual(entry["monitor"]["address"], f"127.0.0.1:{master.port}")
            self.assertIn("master", entry["monitor"]["flags"])
            self.assertNotIn("o_down", entry["monitor"]["flags"])
            self.assertEqual(entry["monitor"]["config_epoch"], 0)
            self.assertEqual(entry["monitor"]["num_other_sentinels"], 2)
            self.assertEqual(entry["monitor"]["quorum"], 2)
            self.assertTrue(entry["quorum_reachable"], entry)
            self.assertIn("usable Sentinels", entry["ckquorum"])
            self.assertIsNone(entry["details_problem"])
        down = report["list"][2]
        self.assertFalse(down["answered"])
        self.assertIn("no reply within 500 ms", down["problem"])
        self.assertIsNone(down["monitor"])
        self.assertEqual((report["verdict"]["agree"], report["verdict"]["master"],
                          report["verdict"]["votes"]),
                         (True, f"127.0.0.1:{master.port}", 2))
        self.assertEqual(report["this_node"]["place"], "named-master")
        self.assertEqual(report["this_node"]["text"], "the sentinels' master")

        # The replica's node: the same sentinels, its own place.
        report, _ = self.status_json(replica, sentinels)
        self.assertEqual(report["this_node"]["place"], "replica")
        self.assertEqual(report["this_node"]["text"], f"a replica of 127.0.0.1:{master.port}")
        self.assertFalse(any(entry["names_this_node"] for entry in report["list"]))

        r = self.run_tool("redis_status", *self.sentinel_args(master, sentinels))
        self.assertRc(r, 0)
        self.assertIn(f"  sentinel {stopped.address}: NO ANSWER: no reply within 500 ms\n",
                      r.stdout)
        self.assertIn(f"  verdict: the majority names 127.0.0.1:{master.port} (2 of 3 "
                      "configured, 2 needed)\n", r.stdout)

    def test_prometheus_families_with_one_sentinel_stopped(self):
        master = self.server()
        sentinels = self.sentinels(master)
        self.wait_discovered(sentinels)
        self.frozen(sentinels[2])
        r = self.run_tool("redis_status", "--prometheus", *self.sentinel_args(master, sentinels))
        self.assertRc(r, 0)
        self.assertLess(r.elapsed, 0.5 + MARGIN, r)
        m = parse_exposition(r.stdout)
        written = {name for name, _ in m if name.startswith("redis_keepalived_sentinel_")}
        self.assertEqual(written, set(alertkit.SENTINEL_NAMES),
                         "alertkit.SENTINEL_NAMES differs from what redis_status writes")
        up = {s.address: m[("redis_keepalived_sentinel_up", f'sentinel="{s.address}"')]
              for s in sentinels}
        self.assertEqual(list(up.values()), [1, 1, 0], up)
        for sentinel in sentinels[:2]:
            label = f'sentinel="{sentinel.address}"'
            self.assertEqual(m[("redis_keepalived_sentinel_tilt", label)], 0)
            self.assertEqual(m[("redis_keepalived_sentinel_names_this_node", label)], 1)
            self.assertEqual(m[("redis_keepalived_sentinel_config_epoch", label)], 0)
            self.assertEqual(m[("redis_keepalived_sentinel_quorum", label)], 2)
            self.assertEqual(m[("redis_keepalived_sentinel_other_sentinels", label)], 2)
            self.assertEqual(m[("redis_keepalived_sentinel_quorum_reachable", label)], 1)
            self.assertEqual(m[("redis_keepalived_sentinel_master_flag",
                                f'{label},flag="o_down"')], 0)
        # Nothing but `up` for the sentinel that did not answer.
        self.assertEqual([key for key in m if sentinels[2].address in key[1]],
                         [("redis_keepalived_sentinel_up", f'sentinel="{sentinels[2].address}"')])
        for name, value in (("configured", 3), ("agree", 1), ("majority_names_this_node", 1),
                            ("unnamed_master", 0), ("unfenced_master", 0)):
            self.assertEqual(m[(f"redis_keepalived_sentinel_{name}", "")], value, name)

        # The textfile (redis_watch --textfile writes the same) holds them.
        out = os.path.join(self.tmp, "textfile")
        os.mkdir(out)
        r = self.run_tool("redis_status", "--textfile", out,
                          *self.sentinel_args(master, sentinels))
        self.assertRc(r, 0)
        with open(os.path.join(out, "redis_keepalived.prom")) as f:
            self.assertIn(f'redis_keepalived_sentinel_up{{sentinel="{sentinels[2].address}"}} 0',
                          f.read())

    def test_a_master_the_sentinels_do_not_name_fenced_or_not(self):
        master, stray = self.server(), self.server()
        sentinels = self.sentinels(master)
        report, _ = self.status_json(stray, sentinels)
        self.assertEqual(report["this_node"]["place"], "unnamed-master")
        self.assertFalse(report["this_node"]["fenced"])
        self.assertEqual(report["this_node"]["text"],
                         "a master the majority does not name (fenced: no); the majority names "
                         f"127.0.0.1:{master.port}")
        r = self.run_tool("redis_status", "--prometheus", *self.sentinel_args(stray, sentinels))
        m = parse_exposition(r.stdout)
        self.assertEqual(m[("redis_keepalived_sentinel_unfenced_master", "")], 1)
        self.assertEqual(m[("redis_keepalived_sentinel_majority_names_this_node", "")], 0)

        stray.call("CONFIG", "SET", "min-replicas-to-write", "1")
        stray.call("CONFIG", "SET", "min-replicas-max-lag", "10")
        report, _ = self.status_json(stray, sentinels)
        self.assertTrue(report["this_node"]["fenced"])
        self.assertIn("(fenced: yes)", report["this_node"]["text"])
        r = self.run_tool("redis_status", "--prometheus", *self.sentinel_args(stray, sentinels))
        m = parse_exposition(r.stdout)
        self.assertEqual(m[("redis_keepalived_sentinel_unfenced_master", "")], 0)
        self.assertEqual(m[("redis_keepalived_sentinel_unnamed_master", "")], 1)

    def test_a_sentinel_woken_from_a_long_stop_is_in_tilt_and_does_not_count(self):
        master = self.server()
        sentinels = self.sentinels(master)
        # Sentinel enters TILT when its timer finds a gap over 2 s.
        sentinels[1].proc.send_signal(signal.SIGSTOP)
        time.sleep(2.5)
        sentinels[1].proc.send_signal(signal.SIGCONT)
        wait_until(lambda: "sentinel_tilt:1" in sentinels[1].call("INFO", "sentinel"), 5,
                   what="the woken sentinel in TILT")
        self.frozen(sentinels[2])
        report, _ = self.status_json(master, sentinels)
        self.assertTrue(report["list"][1]["tilt"], report["list"][1])
        self.assertTrue(report["list"][1]["answered"])
        self.assertEqual((report["verdict"]["agree"], report["verdict"]["tilted"]), (False, 1))
        self.assertEqual(report["this_node"]["place"], "unnamed-master")
        r = self.run_tool("redis_status", *self.sentinel_args(master, sentinels))
        self.assertIn(f"  sentinel {sentinels[1].address}: TILT (its view does not count), names",
                      r.stdout)
        self.assertIn("  verdict: NO MAJORITY: ", r.stdout)

    def test_the_check_asks_only_its_two_commands_and_status_no_vote(self):
        master = self.server()
        sentinels = self.sentinels(master, extra_config=[CHECK_ACL])
        password = self.password_file(CHECK_PASSWORD)
        args = [*self.sentinel_args(master, sentinels), "--sentinel-user", CHECK_USER,
                "--sentinel-password-file", password]
        r = self.run_tool("redis_check", *args)
        self.assertRc(r, 0)
        for sentinel in sentinels:
            self.assertEqual(sentinel.acl_log(), [], f"redis_check sent more to {sentinel.port}")

        # redis_status asks SENTINEL MASTER and CKQUORUM too: refused here,
        # shown as the details' problem; the view itself stands.
        r = self.run_tool("redis_status", "--json", *args)
        self.assertRc(r, 0)
        report = json.loads(r.stdout)["sentinels"]
        for entry in report["list"]:
            self.assertTrue(entry["answered"])
            self.assertTrue(entry["names_this_node"])
            self.assertIn("NOPERM", entry["details_problem"])
            self.assertIsNone(entry["monitor"])
            self.assertIsNone(entry["quorum_reachable"])
        self.assertEqual(report["this_node"]["place"], "named-master")
        for sentinel in sentinels:
            refused = sorted(set(sentinel.acl_log()))
            self.assertEqual(refused, [(CHECK_USER, "sentinel|ckquorum"),
                                       (CHECK_USER, "sentinel|master")], sentinel.port)


if __name__ == "__main__":
    itkit.main()
