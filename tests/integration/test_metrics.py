"""redis_status --prometheus and --textfile, read back with a real parser
(Debian's python3-prometheus-client, importable from /usr/bin/python3 only),
checked against a scripted sequence of transitions: the hooks' counters
survive the tools' restarts (they live in the state dir) and count every run
when hooks overlap."""
import json
import os
import subprocess
import threading

import itkit
from itkit import ToolTestCase, populate, setUpModule  # noqa: F401

DEBIAN_PYTHON = "/usr/bin/python3"
PARSE = r"""
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = {}
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        key = s.name + "{" + ",".join(f"{k}={v}" for k, v in sorted(s.labels.items())) + "}"
        out[key] = [family.type, s.value]
print(json.dumps(out))
"""


def parser_missing():
    if not os.access(DEBIAN_PYTHON, os.X_OK):
        return f"{DEBIAN_PYTHON} not found"
    cp = subprocess.run([DEBIAN_PYTHON, "-c", "import prometheus_client"], capture_output=True)
    return None if cp.returncode == 0 else "python3-prometheus-client is not installed"


class MetricsTest(ToolTestCase):

    def setUp(self):
        super().setUp()
        missing = parser_missing()
        if missing:
            self.fail(f"{missing} (Debian: apt-get install python3-prometheus-client; "
                      "scripts/test installs it)")

    def parse(self, text):
        cp = subprocess.run([DEBIAN_PYTHON, "-c", PARSE], input=text, capture_output=True,
                            text=True, timeout=30)
        self.assertEqual(cp.returncode, 0, f"the Prometheus parser refused the output:\n"
                                           f"{cp.stderr}\n{text}")
        return json.loads(cp.stdout)

    def metrics(self, local, peer):
        r = self.run_tool("redis_status", *self.hook_args(local.port, peer.port), "--prometheus")
        self.assertRc(r, 0)
        return self.parse(r.stdout)

    def value(self, metrics, key):
        self.assertIn(key, metrics, f"{key} missing; have {sorted(metrics)}")
        return metrics[key][1]

    def test_values_follow_a_scripted_sequence(self):
        a = self.server()
        b = self.server()
        populate(a, 100)
        self.replicate(b, a)
        r = self.run_tool("redis_master", *self.hook_args(b.port, a.port))
        self.assertIn("verdict=promoted exit=0", r.log)
        m = self.metrics(b, a)
        self.assertEqual(m["redis_keepalived_transitions_total{transition=MASTER}"][0], "counter")
        self.assertEqual(self.value(m, "redis_keepalived_transitions_total{transition=MASTER}"), 1)
        self.assertEqual(self.value(
            m, "redis_keepalived_hook_runs_total{hook=redis_master,verdict=promoted}"), 1)
        self.assertEqual(self.value(m, "redis_keepalived_last_hook_exit_code{hook=redis_master}"),
                         0)
        self.assertGreater(self.value(m, "redis_keepalived_sync_wait_seconds{}"), 0)
        self.assertEqual(self.value(m, "redis_keepalived_holds_vip{}"), 1)
        self.assertEqual(self.value(m, "redis_keepalived_split_brain_detected{}"), 0)
        # redis_exporter's names for the replication figures.
        self.assertEqual(self.value(
            m, f"redis_up{{addr=127.0.0.1:{b.port},node=local}}"), 1)
        self.assertEqual(self.value(
            m, f"redis_connected_slaves{{addr=127.0.0.1:{a.port},node=peer}}"), 0)
        self.assertEqual(self.value(
            m, f"redis_master_link_up{{addr=127.0.0.1:{a.port},node=peer}}"), 1)
        self.assertEqual(self.value(m, "redis_keepalived_kept_copies{}"), 0)
        # Which server each node runs, as its own INFO names it.
        for node, server in (("local", b), ("peer", a)):
            name, version = self.server_identity(server)
            key = (f"redis_keepalived_server_info{{addr=127.0.0.1:{server.port},node={node},"
                   f"server={name},version={version}}}")
            self.assertEqual(self.value(m, key), 1)
            self.assertEqual(m[key][0], "gauge")

        # Counters survive the tools: a second run adds to them.
        self.run_tool("redis_fault", *self.hook_args(b.port, a.port))
        self.run_tool("redis_master", *self.hook_args(b.port, a.port))
        m = self.metrics(b, a)
        self.assertEqual(self.value(m, "redis_keepalived_transitions_total{transition=MASTER}"), 2)
        self.assertEqual(self.value(m, "redis_keepalived_transitions_total{transition=FAULT}"), 1)
        self.assertEqual(self.value(
            m, "redis_keepalived_hook_runs_total{hook=redis_master,verdict=already-master}"), 1)
        self.assertEqual(self.value(
            m, "redis_keepalived_hook_runs_total{hook=redis_fault,verdict=recorded}"), 1)

        # The check's age appears once redis_check has run.
        self.run_tool("redis_check", "--host", "127.0.0.1", "--port", str(b.port))
        m = self.metrics(b, a)
        self.assertGreaterEqual(self.value(m, "redis_keepalived_check_age_seconds{}"), 0)
        self.assertEqual(self.value(m, "redis_keepalived_watcher_up{}"), 0)

    def test_split_brain_and_kept_copy_are_counted(self):
        a = self.server()
        b = self.server()
        self.split(a, b, 40, old_master_keys=300)
        r = self.run_tool("redis_backup", *self.node_args("b", b, a), "--backup-grace", "0",
                          common=False)
        self.assertIn("verdict=replicating exit=0", r.stderr)
        state = os.path.join(self.tmp, "state-b")
        s = self.run_tool("redis_status", "--state-dir", state, "--instance", self.instance,
                          *self.hook_args(b.port, a.port), "--prometheus", common=False)
        m = self.parse(s.stdout)
        self.assertEqual(self.value(m, "redis_keepalived_split_brain_detected{}"), 1)
        self.assertEqual(self.value(m, "redis_keepalived_split_brain_detected_total{}"), 1)
        self.assertEqual(self.value(m, "redis_keepalived_kept_copies{}"), 1)
        size = sum(os.path.getsize(os.path.join(self.copy_dir, f))
                   for f in os.listdir(self.copy_dir))
        self.assertEqual(self.value(m, "redis_keepalived_kept_copies_bytes{}"), size)

    def test_overlapping_hooks_all_count(self):
        a = self.server()
        b = self.server()
        runs = 6
        threads = [threading.Thread(target=self.run_tool,
                                    args=("redis_stop", *self.hook_args(a.port, b.port)))
                   for _ in range(runs)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        m = self.metrics(a, b)
        counted = sum(v for k, (_, v) in m.items()
                      if k.startswith("redis_keepalived_hook_runs_total{hook=redis_stop,"))
        self.assertEqual(counted, runs, f"hook runs lost: {m}")

    def test_textfile_is_written_whole(self):
        a = self.server()
        b = self.server()
        out = os.path.join(self.tmp, "textfile")
        os.mkdir(out)
        r = self.run_tool("redis_status", *self.hook_args(a.port, b.port), "--textfile", out)
        self.assertRc(r, 0)
        self.assertEqual(os.listdir(out), ["redis_keepalived.prom"])
        with open(os.path.join(out, "redis_keepalived.prom")) as f:
            m = self.parse(f.read())
        self.assertEqual(self.value(m, "redis_keepalived_holds_vip{}"), 0)
        bad = self.run_tool("redis_status", *self.hook_args(a.port, b.port), "--textfile",
                            "relative")
        self.assertRc(bad, 2)

    def test_watcher_refreshes_the_textfile(self):
        a = self.server()
        out = os.path.join(self.tmp, "textfile")
        os.mkdir(out)
        self.start_tool("redis_watch", "--host", "127.0.0.1", "--port", str(a.port),
                        "--track-file", os.path.join(self.tmp, "track"), "--textfile", out)
        path = os.path.join(out, "redis_keepalived.prom")
        itkit.wait_until(lambda: os.path.exists(path), 5, what="the watcher's textfile")
        with open(path) as f:
            m = self.parse(f.read())
        self.assertEqual(self.value(m, "redis_keepalived_watcher_up{}"), 1)


if __name__ == "__main__":
    itkit.main()
