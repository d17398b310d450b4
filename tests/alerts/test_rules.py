"""The shipped Prometheus rules (docs/monitoring/redis-keepalived-rules.yml):
promtool accepts them and passes their unit tests (rules_test.yml), every
alert has a case where it fires and one where it stays quiet, carries a
severity and the annotations an operator needs, and reads only metric names
that the toolkit, redis_exporter or node_exporter emit (alertkit)."""
import collections
import sys
import unittest

import alertkit


class RulesTest(unittest.TestCase):

    def test_promtool_accepts_the_rules(self):
        result = alertkit.run_promtool("check", "rules", alertkit.RULES)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)

    def test_promtool_unit_tests_pass(self):
        # rule_files in rules_test.yml are relative to the test file.
        result = alertkit.run_promtool("test", "rules", alertkit.RULES_TEST, cwd=alertkit.HERE)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn("SUCCESS", result.stdout + result.stderr)

    def test_the_unit_tests_load_the_shipped_rules(self):
        test = alertkit.load_yaml(alertkit.RULES_TEST)
        self.assertEqual(test["rule_files"], ["../../docs/monitoring/redis-keepalived-rules.yml"])

    def test_every_alert_fires_once_and_stays_quiet_once(self):
        cases = collections.defaultdict(lambda: {"firing": 0, "quiet": 0})
        for group in alertkit.load_yaml(alertkit.RULES_TEST)["tests"]:
            for case in group.get("alert_rule_test", []):
                kind = "firing" if case.get("exp_alerts") else "quiet"
                cases[case["alertname"]][kind] += 1
        names = [alert["alert"] for alert in alertkit.alerts()]
        self.assertEqual(len(names), len(set(names)), f"alert names repeat: {names}")
        for name in names:
            with self.subTest(alert=name):
                self.assertGreater(cases[name]["firing"], 0, f"{name} never fires in a test")
                self.assertGreater(cases[name]["quiet"], 0, f"{name} is never tested quiet")
        self.assertEqual(set(cases) - set(names), set(), "tests of alerts that do not exist")

    def test_every_alert_says_how_bad_and_what_to_do(self):
        for alert in alertkit.alerts():
            with self.subTest(alert=alert["alert"]):
                self.assertIn(alert.get("labels", {}).get("severity"), ("critical", "warning"))
                annotations = alert.get("annotations", {})
                self.assertEqual(set(annotations), {"summary", "description", "runbook"})
                # The runbook points at the documentation that explains it.
                self.assertRegex(annotations["runbook"],
                                 r'README "|docs/operations\.md "|redis_status')

    def test_rules_read_only_names_something_emits(self):
        recorded = alertkit.recorded_names()
        for rule in alertkit.rules():
            name = rule.get("alert") or rule.get("record")
            with self.subTest(rule=name):
                names = alertkit.metric_names(rule["expr"])
                self.assertTrue(names, f"no metric name found in {rule['expr']!r}")
                unknown = names - alertkit.EMITTED - recorded
                self.assertEqual(unknown, set(),
                                 "names neither the toolkit, redis_exporter nor node_exporter "
                                 "emit, nor a recording rule defines")

    def test_recording_rules_follow_the_naming_convention(self):
        # level:metric:operations (prometheus.io, "Recording rules").
        for name in alertkit.recorded_names():
            self.assertRegex(name, r"^[a-z_]+:[a-z_]+:[a-z0-9_]+$")

    def test_the_name_finder_reads_promql(self):
        expr = ('count by (redis_pair) (redis_instance_info{node="local", role="master"} '
                'and on(job, instance) redis_up offset 15m) > 1 or '
                'increase(redis_keepalived_hook_runs_total{verdict=~"a|b"}[15m]) '
                '- on(job) group_right() x:y:z or sum(rate(foo_total[$__rate_interval]))')
        self.assertEqual(alertkit.metric_names(expr),
                         {"redis_instance_info", "redis_up", "redis_keepalived_hook_runs_total",
                          "x:y:z", "foo_total"})


if __name__ == "__main__":
    alertkit.promtool()  # fail at once, with the reason, when there is none
    program = unittest.main(exit=False, verbosity=2)
    result = program.result
    sys.exit(0 if result.wasSuccessful() and result.testsRun > 0 else 1)
