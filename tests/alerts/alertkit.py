"""Shared plumbing for the tests of the shipped alert rules and dashboard
(docs/monitoring/): where they are, promtool, the metric names a PromQL
expression reads, and the names each exporter emits.

promtool comes from Debian's promtool package (bookworm: prometheus;
scripts/deps.sh installs it); RK_PROMTOOL names another binary. A missing promtool fails the test:
the rules would otherwise ship untested.
"""
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.normpath(os.path.join(HERE, "..", ".."))
MONITORING = os.path.join(SOURCE_DIR, "docs", "monitoring")
RULES = os.path.join(MONITORING, "redis-keepalived-rules.yml")
DASHBOARD = os.path.join(MONITORING, "redis-keepalived-dashboard.json")
RULES_TEST = os.path.join(HERE, "rules_test.yml")

# The replication figures the toolkit writes under redis_exporter's names
# (node="local"/"peer"), which redis_exporter (github.com/oliver006/
# redis_exporter, v1.88.0) emits too, with its default namespace "redis"
# (main.go, -namespace): exporter/exporter.go, metricMapGauges
# "connected_slaves", "master_repl_offset"; metricDescriptions
# "connected_slave_lag_seconds", "connected_slave_offset_bytes",
# "master_link_up", "master_sync_in_progress", "slave_repl_offset", "up";
# exporter/info.go, "instance_info" (labels role, redis_version, ...).
MIRRORED_NAMES = frozenset({
    "redis_up",
    "redis_instance_info",
    "redis_connected_slaves",
    "redis_master_repl_offset",
    "redis_slave_repl_offset",
    "redis_master_link_up",
    "redis_master_sync_in_progress",
    "redis_connected_slave_lag_seconds",
    "redis_connected_slave_offset_bytes",
})

# The toolkit's families: what redis_status --prometheus (lib/programs/rk/
# metrics.cpp) and the hooks' counters (hook_run.cpp, through the state
# dir's NAME.metrics) write. test_real_series.py runs the real tools against
# real servers through states that produce every one of them and checks that
# the output holds exactly these families.
TOOLKIT_NAMES = MIRRORED_NAMES | {
    # the hooks' counters and gauges
    "redis_keepalived_transitions_total",
    "redis_keepalived_hook_runs_total",
    "redis_keepalived_last_hook_exit_code",
    "redis_keepalived_last_hook_duration_seconds",
    "redis_keepalived_sync_wait_seconds",
    "redis_keepalived_split_brain_detected",
    "redis_keepalived_split_brain_detected_total",
    # read at each call
    "redis_keepalived_holds_vip",
    "redis_keepalived_check_age_seconds",
    "redis_keepalived_watcher_up",
    "redis_keepalived_maintenance",
    "redis_keepalived_stale_history",
    "redis_keepalived_copy_dir_usable",
    "redis_keepalived_kept_copies",
    "redis_keepalived_kept_copies_bytes",
    "redis_keepalived_server_info",
}

# Sentinel mode's families (metrics.cpp, sentinel_*_samples), written only
# with --sentinel; the integration test of redis_status in Sentinel mode
# (tests/integration/test_status_sentinel.py) checks that a run against real
# sentinels writes exactly these.
SENTINEL_NAMES = frozenset({
    "redis_keepalived_sentinel_configured",
    "redis_keepalived_sentinel_agree",
    "redis_keepalived_sentinel_majority_names_this_node",
    "redis_keepalived_sentinel_unnamed_master",
    "redis_keepalived_sentinel_unfenced_master",
    "redis_keepalived_sentinel_up",
    "redis_keepalived_sentinel_tilt",
    "redis_keepalived_sentinel_names_this_node",
    "redis_keepalived_sentinel_config_epoch",
    "redis_keepalived_sentinel_other_sentinels",
    "redis_keepalived_sentinel_quorum",
    "redis_keepalived_sentinel_master_flag",
    "redis_keepalived_sentinel_quorum_reachable",
})

# What the rules read from redis_exporter alone, for the write fence
# (exporter/exporter.go, metricDescriptions): "errors_total" (INFO
# errorstats, label err) and "config_value" (with -include-config-metrics,
# label key).
REDIS_EXPORTER_NAMES = MIRRORED_NAMES | {"redis_errors_total", "redis_config_value"}

# node_exporter's textfile collector (github.com/prometheus/node_exporter,
# collector/textfile.go): the mtime of each file it read, label file.
NODE_EXPORTER_NAMES = frozenset({"node_textfile_mtime_seconds"})

EMITTED = TOOLKIT_NAMES | SENTINEL_NAMES | REDIS_EXPORTER_NAMES | NODE_EXPORTER_NAMES

# PromQL words that look like metric names.
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
             "group_left", "group_right", "inf", "nan", "atan2"}


def metric_names(expr):
    """The metric names a PromQL expression reads (or, in rules, the
    recording rules it reads): every identifier that is not a function,
    keyword, label or duration. Grafana's $variables count as nothing."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"' + r"|'(?:[^'\\]|\\.)*'", " ", expr)
    text = re.sub(r"\$\{[^}]*\}|\$\w+", " ", text)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\boffset\s+-?\w+", " ", text)
    names = set()
    for m in re.finditer(r"(?<![\w:.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?", text):
        name, call = m.group(1), m.group(2)
        if call or name in _KEYWORDS:
            continue
        names.add(name)
    return names


def promtool():
    """The promtool binary; exits 1 with a clear message when there is none."""
    path = os.environ.get("RK_PROMTOOL") or shutil.which("promtool")
    if not path or not os.access(path, os.X_OK):
        print("FAILED: promtool not found (Debian: apt-get install promtool, on bookworm "
              "prometheus, as scripts/test does; or set RK_PROMTOOL). The alert rules are "
              "not tested without it.", file=sys.stderr)
        sys.exit(1)
    return path


def run_promtool(*args, cwd=None):
    """Runs promtool ARGS; returns the CompletedProcess (output captured)."""
    return subprocess.run([promtool(), *args], capture_output=True, text=True, timeout=300,
                          cwd=cwd)


def load_yaml(path):
    """The YAML file at path, parsed (python3-yaml, scripts/deps.sh)."""
    try:
        import yaml
    except ImportError:
        print("FAILED: the Python module yaml is missing (Debian: python3-yaml)",
              file=sys.stderr)
        sys.exit(1)
    with open(path) as f:
        return yaml.safe_load(f)


def rules():
    """Every rule of the shipped rules file, in order."""
    return [rule for group in load_yaml(RULES)["groups"] for rule in group["rules"]]


def alerts():
    return [rule for rule in rules() if "alert" in rule]


def recorded_names():
    return {rule["record"] for rule in rules() if "record" in rule}
