"""The shipped Grafana dashboard (docs/monitoring/redis-keepalived-dashboard.json):
valid JSON with the panels an operator looks for, laid out without
overlaps, every query valid PromQL (promtool parses each one, as a
recording rule) that names only metric families the toolkit, redis_exporter
or node_exporter emit."""
import json
import os
import re
import sys
import tempfile
import unittest

import alertkit

# Grafana's variables, as a query sees them once Grafana has filled them in.
GRAFANA_VALUES = {"$__rate_interval": "1m", "$__range": "6h", "$__interval": "30s",
                  "$redis_pair": ".*", "$instance": ".*"}

# Each panel an operator expects (the title says what it shows).
REQUIRED_PANELS = ("Role per node", "VIP holder", "Replication offset", "Replication lag",
                   "Hook runs by verdict", "Sync-wait and hook durations", "Kept copies",
                   "Write fence", "Watcher",
                   "Stale history, maintenance, copy dir, split brain")


def load():
    with open(alertkit.DASHBOARD) as f:
        return json.load(f)


def queries(dashboard):
    """(where, PromQL) for every panel target and query variable."""
    found = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            found.append((f"panel {panel['title']!r} {target['refId']}", target["expr"]))
    for var in dashboard["templating"]["list"]:
        if var["type"] != "query":
            continue
        # label_values(SELECTOR, LABEL): the selector is PromQL.
        match = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", var["definition"])
        assert match, f"variable {var['name']}: {var['definition']}"
        found.append((f"variable {var['name']}", match.group(1)))
    return found


class DashboardTest(unittest.TestCase):

    def setUp(self):
        self.dashboard = load()

    def test_is_a_dashboard_with_the_expected_panels(self):
        self.assertEqual(self.dashboard["uid"], "redis-keepalived")
        self.assertIsInstance(self.dashboard["schemaVersion"], int)
        titles = [p["title"] for p in self.dashboard["panels"]]
        for title in REQUIRED_PANELS:
            self.assertIn(title, titles)
        ids = [p["id"] for p in self.dashboard["panels"]]
        self.assertEqual(len(ids), len(set(ids)), f"panel ids repeat: {ids}")

    def test_every_panel_reads_the_chosen_prometheus(self):
        variables = {v["name"]: v for v in self.dashboard["templating"]["list"]}
        self.assertEqual(variables["datasource"]["type"], "datasource")
        self.assertEqual(variables["datasource"]["query"], "prometheus")
        source = {"type": "prometheus", "uid": "${datasource}"}
        for panel in self.dashboard["panels"]:
            with self.subTest(panel=panel["title"]):
                self.assertEqual(panel["datasource"], source)
                self.assertTrue(panel["description"])
                refs = [t["refId"] for t in panel["targets"]]
                self.assertTrue(refs)
                self.assertEqual(len(refs), len(set(refs)))
                for target in panel["targets"]:
                    self.assertEqual(target["datasource"], source)
                    self.assertTrue(target["legendFormat"])

    def test_panels_fit_the_grid_without_overlapping(self):
        taken = {}
        for panel in self.dashboard["panels"]:
            pos = panel["gridPos"]
            self.assertLessEqual(pos["x"] + pos["w"], 24, panel["title"])
            for x in range(pos["x"], pos["x"] + pos["w"]):
                for y in range(pos["y"], pos["y"] + pos["h"]):
                    self.assertNotIn((x, y), taken,
                                     f"{panel['title']!r} overlaps {taken.get((x, y))!r}")
                    taken[(x, y)] = panel["title"]

    def test_queries_name_only_emitted_families(self):
        # The dashboard works without the rules loaded: raw series only.
        for where, expr in queries(self.dashboard):
            with self.subTest(query=where):
                names = alertkit.metric_names(expr)
                self.assertTrue(names, f"no metric name in {expr!r}")
                self.assertEqual(names - alertkit.EMITTED, set(),
                                 "names neither the toolkit, redis_exporter nor node_exporter emit")

    def test_queries_are_valid_promql(self):
        # promtool parses every expression of a rules file: each query
        # becomes a recording rule, Grafana's variables filled in.
        rules = []
        for i, (where, expr) in enumerate(queries(self.dashboard)):
            for variable, value in GRAFANA_VALUES.items():
                expr = expr.replace(variable, value)
            self.assertNotIn("$", expr, f"{where}: a Grafana variable this test does not know")
            rules.append({"record": f"dashboard:query_{i}:check", "expr": expr})
        with tempfile.TemporaryDirectory(prefix="rk-dashboard-") as tmp:
            path = os.path.join(tmp, "queries.yml")
            with open(path, "w") as f:
                # JSON is YAML: promtool reads it as a rules file.
                json.dump({"groups": [{"name": "dashboard", "rules": rules}]}, f, indent=1)
            result = alertkit.run_promtool("check", "rules", path)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn(f"SUCCESS: {len(rules)} rules found", result.stdout + result.stderr)


if __name__ == "__main__":
    alertkit.promtool()  # fail at once, with the reason, when there is none
    program = unittest.main(exit=False, verbosity=2)
    result = program.result
    sys.exit(0 if result.wasSuccessful() and result.testsRun > 0 else 1)
