"""The shipped rules against what the real tools write. Two real
redis-servers and the real hooks go through a scripted history: a healthy
pair with its watchers, a split (both masters, both holding the VIP), the
heal that keeps a copy of the losing side's writes, and a REPLICAOF by hand
that leaves the VIP on a replica. After each step `redis_status
--prometheus` is read on both nodes. Those outputs, each held for a stretch
of a synthetic timeline and labelled as node_exporter's textfile collector
would scrape them (job, instance, redis_pair), become the input series of a
promtool unit test that says which alerts fire when.

The same outputs pin alertkit.TOOLKIT_NAMES, the families the other tests
check the rules' and the dashboard's names against: the scripted history
produces every family the toolkit writes, and nothing else.

Exit 77 when the server is not installed (itkit); a missing promtool fails.
"""
import json
import os
import re
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import alertkit  # noqa: E402
import itkit  # noqa: E402
from itkit import ToolTestCase, free_port, populate, setUpModule, wait_until  # noqa: E402,F401

PAIR = "lab"
INSTANCES = {"a": "node-a:9100", "b": "node-b:9100"}

# The synthetic timeline, in minutes: each step's outputs hold until the
# next step. The healthy stretch is long enough for the rules that look an
# hour back (a counter's first sample counts only on a node that was
# already reporting then).
STEPS = (("healthy", 0), ("split", 90), ("healed", 120), ("vip-on-replica", 130))
END = 210

# What fires at each evaluation: alert -> the nodes it names (None: the
# pair). Every other alert of the rules file must stay quiet then.
EXPECTED = {
    85: {},
    115: {"RedisKeepalivedTwoMasters": [None], "RedisKeepalivedTwoVipHolders": [None],
          "RedisKeepalivedMasterWithoutReplica": ["a", "b"]},
    125: {"RedisKeepalivedSplitBrainDetected": ["b"], "RedisKeepalivedKeptCopyNew": ["b"]},
    136: {"RedisKeepalivedVipOnNonMaster": ["a"], "RedisKeepalivedSplitBrainDetected": ["b"],
          "RedisKeepalivedKeptCopyNew": ["b"]},
    200: {"RedisKeepalivedVipOnNonMaster": ["a"]},
}

SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")


def parse_exposition(text):
    """{(name, labels text): value} from the Prometheus text format."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        name, labels, value = match.groups()
        samples[(name, labels or "")] = value
    return samples


def input_series(timeline):
    """promtool input_series from [(start minute, {node: samples})]: one
    value per minute; where a step's output lacks a series, a staleness
    marker first (Prometheus writes one when a scrape no longer has a
    series, so it vanishes at once rather than 5 minutes later), then
    nothing."""
    keys = sorted({(node, key) for _, outputs in timeline
                   for node, samples in outputs.items() for key in samples})
    series = []
    for node, (name, labels) in keys:
        values = []
        for i, (start, outputs) in enumerate(timeline):
            stop = timeline[i + 1][0] if i + 1 < len(timeline) else END + 1
            value = outputs[node].get((name, labels))
            if value is not None:
                values += [value] * (stop - start)
                continue
            gone = "stale" if values and values[-1] not in ("_", "stale") else "_"
            values += [gone] + ["_"] * (stop - start - 1)
        target = f'job="node", instance="{INSTANCES[node]}", redis_pair="{PAIR}"'
        selector = f"{name}{{{target}{', ' + labels if labels else ''}}}"
        series.append({"series": selector, "values": " ".join(values)})
    return series


def alert_tests(alerts):
    """One alert_rule_test per alert and evaluation time (EXPECTED)."""
    tests = []
    for minute, firing in sorted(EXPECTED.items()):
        for alert in alerts:
            name = alert["alert"]
            expected = []
            for node in firing.get(name, []):
                labels = {"severity": alert["labels"]["severity"], "redis_pair": PAIR}
                if node:
                    labels.update(job="node", instance=INSTANCES[node])
                expected.append({"exp_labels": labels})
            tests.append({"eval_time": f"{minute}m", "alertname": name, "exp_alerts": expected})
    return tests


class RealSeriesTest(ToolTestCase):

    def node(self, name, local, peer):
        """Node NAME's own state dir, copy dir and maintenance file."""
        copy_dir = os.path.join(self.tmp, f"copies-{name}")
        os.makedirs(copy_dir, 0o700, exist_ok=True)
        maintenance = os.path.join(self.tmp, f"maintenance-{name}")
        with open(maintenance, "w") as f:
            f.write("0\n")
        args = self.node_args(name, local, peer, copy_dir=copy_dir)
        return {"args": args, "copy_dir": copy_dir, "maintenance": maintenance,
                "state": os.path.join(self.tmp, f"state-{name}"), "local": local}

    def hook(self, tool, node, *extra):
        return self.run_tool(tool, *node["args"], *extra, common=False)

    def check(self, node):
        r = self.run_tool("redis_check", "--state-dir", node["state"], "--instance",
                          self.instance, "--log-file", self.log_file, "--host", "127.0.0.1",
                          "--port", node["local"].port, common=False)
        self.assertRc(r, 0)

    def watch(self, name, node):
        self.start_tool("redis_watch", "--state-dir", node["state"], "--instance", self.instance,
                        "--log-file", self.log_file, "--host", "127.0.0.1", "--port",
                        node["local"].port, "--track-file",
                        os.path.join(self.tmp, f"watch-{name}"), common=False)

    def status(self, node):
        r = self.run_tool("redis_status", *node["args"], "--maintenance-file",
                          node["maintenance"], "--prometheus", common=False)
        self.assertRc(r, 0)
        return parse_exposition(r.stdout)

    def snapshot(self, nodes):
        return {name: self.status(node) for name, node in nodes.items()}

    def wait_replicas(self, master, count):
        wait_until(lambda: int(master.info("replication")["connected_slaves"]) == count, 10,
                   what=f"{count} replica(s) connected to {master.port}")

    def history(self):
        """[(start minute, {node: samples})] along STEPS, from real runs."""
        a, b = self.server(), self.server()
        populate(a, 100)
        self.replicate(b, a)
        nodes = {"a": self.node("a", a, b), "b": self.node("b", b, a)}
        outputs = []

        # healthy: a holds the VIP on the master, b replicates it, both
        # checks run and both watchers watch.
        self.assertIn("exit=0", self.hook("redis_master", nodes["a"]).stderr)
        self.assertIn("verdict=replicating exit=0", self.hook("redis_backup", nodes["b"]).stderr)
        for name, node in nodes.items():
            self.check(node)
            self.watch(name, node)
        wait_until(lambda: all(s.get(("redis_keepalived_watcher_up", "")) == "1"
                               for s in self.snapshot(nodes).values()), 10,
                   what="both watchers' heartbeats")
        self.wait_replicas(a, 1)
        outputs.append(self.snapshot(nodes))

        # split: b loses its peer and promotes itself (the peer it is given
        # refuses connections: gone); both take writes, a more of them.
        b.call("REPLICAOF", "NO", "ONE")
        peer = f"127.0.0.1:{a.port}"
        gone = [f"127.0.0.1:{free_port()}" if arg == peer else arg for arg in nodes["b"]["args"]]
        r = self.run_tool("redis_master", *gone, common=False)
        self.assertRc(r, 0)
        populate(b, 40, prefix="split")
        populate(a, 300, prefix="late")
        self.wait_replicas(a, 0)
        outputs.append(self.snapshot(nodes))

        # healed: b's notify_backup finds the split, keeps a copy of its own
        # writes and resyncs from a, whose history is newer.
        r = self.hook("redis_backup", nodes["b"], "--backup-grace", "0")
        self.assertIn("verdict=replicating exit=0", r.stderr)
        self.wait_link_up(b, a)
        self.wait_replicas(a, 1)
        self.assertEqual(len(os.listdir(nodes["b"]["copy_dir"])), 1)
        outputs.append(self.snapshot(nodes))

        # vip-on-replica: a REPLICAOF by hand; a's last transition is still
        # MASTER.
        b.call("REPLICAOF", "NO", "ONE")
        self.replicate(a, b)
        self.wait_replicas(b, 1)
        outputs.append(self.snapshot(nodes))
        return [(start, output) for (_, start), output in zip(STEPS, outputs)]

    def test_the_rules_fire_on_what_the_tools_write(self):
        alertkit.promtool()
        timeline = self.history()

        names = {name for _, outputs in timeline for samples in outputs.values()
                 for name, _ in samples}
        self.assertEqual(names, set(alertkit.TOOLKIT_NAMES),
                         "alertkit.TOOLKIT_NAMES differs from what redis_status writes")

        # The rules without their annotations: rules_test.yml checks those;
        # here the question is which alerts fire.
        rules = alertkit.load_yaml(alertkit.RULES)
        for group in rules["groups"]:
            for rule in group["rules"]:
                rule.pop("annotations", None)
        test = {"rule_files": ["rules.yml"], "evaluation_interval": "1m",
                "tests": [{"interval": "1m", "input_series": input_series(timeline),
                           "alert_rule_test": alert_tests(alertkit.alerts())}]}
        with tempfile.TemporaryDirectory(prefix="rk-alerts-") as tmp:
            # JSON is YAML: promtool reads both files.
            with open(os.path.join(tmp, "rules.yml"), "w") as f:
                json.dump(rules, f, indent=1)
            with open(os.path.join(tmp, "test.yml"), "w") as f:
                json.dump(test, f, indent=1)
            result = alertkit.run_promtool("test", "rules", "test.yml", cwd=tmp)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)


if __name__ == "__main__":
    itkit.main()
