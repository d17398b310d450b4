#!/usr/bin/env python3
"""Runs one scenario of the failover lab (tests/e2e/lab.py) with other
vrrp_script timings than the sample keepalived configs, and reports when
keepalived noticed the fault.

The lab renders keepalived/keepalived-node-{a,b}.conf by text substitution.
This wrapper loads the lab as a module, without changing it, and rewrites the
`vrrp_script chk_redis` block of each rendered config: every directive given
with --set is replaced (or added), every one given with --unset is removed,
so the keepalived default applies. It also records the moment the lab kills
a Redis and keeps the keepalived state changes the lab followed, so the
detection time (kill -> FAULT on the killed node) can be reported next to the
longest write gap.

usage: lab_timings.py [--set KEY=VALUE ...] [--unset KEY ...]
                      [--priority NODE=N ...] [--kill-leftovers] -- LAB ARGS...

--priority a=254: the vrrp_instance priority of node a (b likewise). A
master in FAULT advertises priority 0 and the backup takes over after its
skew time, (256 - priority) / 256 s: 0.61 s at the samples' 100.

--kill-leftovers: at teardown, after keepalived and Redis are stopped, end
every process still running in the two nodes' namespaces. The lab ends the
hooks whose executable lies under its root; shell-script hooks run as
/bin/bash (and their sleep and redis-cli children), so they would outlive it.

Prints the lab's own output, then one line "BENCH {json}" with:
  timings      the directives of the rendered vrrp_script block
  kill_t       unix time of the first kill of a Redis by the scenario
  killed       the node whose Redis was killed
  fault_s      kill -> the killed node's keepalived entered FAULT (as the lab
               saw it in keepalived's log, read every 0.2 s)
  master_s     kill -> the other node's keepalived entered MASTER (same)
  promoted_s   kill -> the other node's redis_master logged its verdict line
               (as the lab saw it)
  fault_log_s  kill -> the killed node's redis_fault logged the transition,
               from the timestamp in the line (ms resolution): keepalived
               runs notify_fault as it enters FAULT, so this is the
               detection time (only with redis-keepalived's hooks)
  promoted_log_s  kill -> the other node's redis_master logged "promoted",
               from the timestamp in the line
  write_gap_s  longest gap between acknowledged writes over the whole run
  acked        acknowledged writes (both also when the scenario fails)
Exit status: the lab's.
"""
import datetime
import importlib.util
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
LAB = os.path.join(REPO, "tests", "e2e", "lab.py")
KEYS = ("interval", "timeout", "fall", "rise", "weight")


def load_lab():
    spec = importlib.util.spec_from_file_location("rk_lab", LAB)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["rk_lab"] = mod
    spec.loader.exec_module(mod)
    for name in ("render", "kill_redis", "teardown"):
        if not hasattr(mod.Lab, name):
            raise SystemExit(f"lab_timings: {LAB} has no Lab.{name}; this wrapper needs updating")
    return mod


def script_block(text):
    """(start, end) of the body of the first vrrp_script block."""
    m = re.search(r"^\s*vrrp_script\s+\S+\s*\{", text, re.M)
    if not m:
        raise ValueError("no vrrp_script block in the rendered config")
    end = text.find("\n}", m.end())
    if end < 0:
        raise ValueError("unterminated vrrp_script block")
    return m.end(), end


def set_timings(text, values, unset):
    start, end = script_block(text)
    body = text[start:end]
    for key in unset:
        body = re.sub(rf"(?m)^[ \t]*{key}[ \t]+\S+[^\n]*\n?", "", body)
    for key, value in values.items():
        pattern = rf"(?m)^([ \t]*){key}[ \t]+\S+[^\n]*$"
        if re.search(pattern, body):
            body = re.sub(pattern, lambda m: f"{m.group(1)}{key} {value}", body)
        else:
            body = body.rstrip("\n") + f"\n    {key} {value}\n"
    return text[:start] + body + text[end:]


def block_directives(text):
    start, end = script_block(text)
    found = {}
    for line in text[start:end].splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] in KEYS:
            found[parts[0]] = parts[1]
    return found


LOG_TS = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z ")


def line_time(line):
    """Unix time of a toolkit log line ("2026-11-25T12:00:00.123Z tool[pid] ...")."""
    m = LOG_TS.match(line)
    if not m:
        return None
    dt = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f")
    return dt.replace(tzinfo=datetime.timezone.utc).timestamp()


def main(argv):
    if "--" not in argv:
        print(__doc__, file=sys.stderr)
        return 2
    cut = argv.index("--")
    own, lab_args = argv[:cut], argv[cut + 1:]
    values, unset, kill_leftovers, priorities = {}, [], False, {}
    it = iter(own)
    for arg in it:
        if arg == "--set":
            key, _, value = next(it).partition("=")
            if key not in KEYS or not value:
                print(f"lab_timings: bad --set {key}={value}", file=sys.stderr)
                return 2
            values[key] = value
        elif arg == "--unset":
            key = next(it)
            if key not in KEYS:
                print(f"lab_timings: bad --unset {key}", file=sys.stderr)
                return 2
            unset.append(key)
        elif arg == "--priority":
            node, _, value = next(it).partition("=")
            if node not in ("a", "b") or not value.isdigit() or not 1 <= int(value) <= 254:
                print(f"lab_timings: bad --priority {node}={value}", file=sys.stderr)
                return 2
            priorities[node] = value
        elif arg == "--kill-leftovers":
            kill_leftovers = True
        else:
            print(f"lab_timings: unknown argument {arg}", file=sys.stderr)
            return 2

    lab = load_lab()
    seen = {"timings": None, "kills": [], "ka_lines": [], "hook_lines": [], "gap": None,
            "acked": None}

    original_render = lab.Lab.render

    def render(sample, pairs):
        text = original_render(sample, pairs)
        if sample.startswith("keepalived-node-"):
            text = set_timings(text, values, unset)
            seen["timings"] = block_directives(text)
            node = sample[len("keepalived-node-"):].split(".")[0]
            if node in priorities:
                text, n = re.subn(r"(?m)^([ \t]*)priority[ \t]+\d+",
                                  lambda m: f"{m.group(1)}priority {priorities[node]}", text)
                if n != 1:
                    raise SystemExit(f"lab_timings: {sample}: {n} priority lines, expected 1")
        return text

    lab.Lab.render = staticmethod(render)

    original_kill = lab.Lab.kill_redis

    def kill_redis(self, node, *a, **kw):
        if not getattr(self, "_bench_tearing_down", False):
            seen["kills"].append((lab.time.time(), node.name))
        return original_kill(self, node, *a, **kw)

    lab.Lab.kill_redis = kill_redis

    original_teardown = lab.Lab.teardown

    def teardown(self):
        self._bench_tearing_down = True
        try:
            self.follow_logs()
        except Exception:
            pass
        with self.log_lock:
            seen["ka_lines"] = list(self.ka_lines)
            seen["hook_lines"] = list(self.hook_lines)
        if self.acks:
            self.acks.update()
            seen["gap"] = round(self.acks.max_gap, 2)
            seen["acked"] = len(self.acks.rows)
        return original_teardown(self)

    lab.Lab.teardown = teardown

    if kill_leftovers:
        original_kill_hooks = lab.kill_hooks_in
        node_namespaces = {lab.PREFIX + "a", lab.PREFIX + "b"}

        def kill_hooks_in(ns, root):
            ended = original_kill_hooks(ns, root)
            if ns not in node_namespaces:
                return ended
            res = lab.run(["ip", "netns", "pids", ns], check=False)
            for tok in res.stdout.split():
                pid = int(tok)
                if pid != os.getpid():
                    ended += lab.kill_pid(pid)
            return ended

        lab.kill_hooks_in = kill_hooks_in

    rc = lab.main(lab_args)

    out = {"timings": seen["timings"], "kill_t": None, "killed": None,
           "fault_s": None, "master_s": None, "promoted_s": None,
           "fault_log_s": None, "promoted_log_s": None,
           "write_gap_s": seen["gap"], "acked": seen["acked"]}
    if seen["kills"]:
        t_kill, killed = seen["kills"][0]
        out["kill_t"], out["killed"] = t_kill, killed
        for t, node, line in seen["ka_lines"]:
            if t < t_kill:
                continue
            if node == killed and "Entering FAULT STATE" in line and out["fault_s"] is None:
                out["fault_s"] = round(t - t_kill, 2)
            if node != killed and "Entering MASTER STATE" in line and out["master_s"] is None:
                out["master_s"] = round(t - t_kill, 2)
        for t, node, line in seen["hook_lines"]:
            if t < t_kill:
                continue
            lt = line_time(line)
            if node != killed and "redis_master[" in line and "verdict=" in line:
                if out["promoted_s"] is None:
                    out["promoted_s"] = round(t - t_kill, 2)
            if (node != killed and "redis_master[" in line and re.search(r": promoted\b", line)
                    and lt and lt >= t_kill and out["promoted_log_s"] is None):
                out["promoted_log_s"] = round(lt - t_kill, 3)
            if (node == killed and "redis_fault[" in line and lt and lt >= t_kill
                    and out["fault_log_s"] is None):
                out["fault_log_s"] = round(lt - t_kill, 3)
    print("BENCH " + json.dumps(out, sort_keys=True), flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
