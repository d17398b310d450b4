"""Part check: CPU and wall time of one health check against redis-cli PING,
the classic bash check and /bin/true, passing and failing (closed port);
over TLS, redis_check --tls against redis-cli --tls PING on a TLS-only
server; instructions (callgrind); ldd."""
import contextlib
import os
import re
import secrets
import shutil
import subprocess

import rediskit
from rediskit import free_port
import samples

from .common import (CLASSIC, TOOLS, BenchError, client, fmt, log, median, ratio, redis_server,
                     run, stop)

try:
    import tlskit
except ImportError:  # tests/support without the TLS certificates helper
    tlskit = None

# Each group's reference row: "check" rows (a passing check) and "fail" rows
# (a closed port) are compared with redis-cli PING in the same state, "tls"
# and "tls-fail" rows with redis-cli --tls PING, "start" rows (no check at
# all) with /bin/true.
REFS = {"check": "redis-cli PING", "fail": "redis-cli PING, closed port",
        "tls": "redis-cli --tls PING", "tls-fail": "redis-cli --tls PING, closed port",
        "start": "/bin/true"}
TLS_CHECK = "redis_check --tls --cacert CA HOST PORT"
TLS_CHECK_CLOSED = "redis_check --tls, closed port"


def cpu_per_run(launcher, n, argv, env):
    res = run([launcher, str(n), *argv], env=env, timeout=900)
    m = re.search(r"cpu_us=([\d.]+) wall_us=([\d.]+) failures=(\d+)", res.stdout)
    if not m:
        raise BenchError(f"cpu_per_run: unexpected output {res.stdout!r}")
    return float(m.group(1)), float(m.group(2)), int(m.group(3))


def interleaved(ctx, part, commands, env, runs_of=None, around=None):
    """Runs every command (label, argv, ...) --runs times per round with
    cpu_per_run, for --rounds rounds, their order rotated each round and
    reversed every other: {label: {"cpu": [µs per round], "wall": [...],
    "failures": runs that did not exit 0}}. RUNS_OF(label), when given, is a
    command's own number of runs (None: --runs); AROUND(label), a context
    manager its runs happen inside (a server paused for them, say)."""
    rounds, default_runs = ctx["args"].rounds, ctx["args"].runs
    log(f"{part}: {rounds} rounds x {default_runs} runs of {len(commands)} commands, "
        "interleaved")
    per = {command[0]: {"cpu": [], "wall": [], "failures": 0} for command in commands}
    for r in range(rounds):
        order = commands[r % len(commands):] + commands[:r % len(commands)]
        if r % 2:
            order.reverse()
        for label, argv, *_ in order:
            n = (runs_of and runs_of(label)) or default_runs
            with around(label) if around else contextlib.nullcontext():
                cpu, wall, failures = cpu_per_run(ctx["launcher"], n, argv, env)
            per[label]["cpu"].append(cpu)
            per[label]["wall"].append(wall)
            per[label]["failures"] += failures
        log(f"{part}: round {r + 1}/{rounds} done")
    return per


def paired(per, label, ref, key):
    """The ratio of LABEL to REF in each round, then the median: a paired
    comparison, so a noisy stretch of the machine weighs on both sides alike."""
    return median([a / b for a, b in zip(per[label][key], per[ref][key]) if b > 0])


def callgrind_instructions(argv, env, workdir, after_exec=False, functions=()):
    """Instructions executed in user space by one run: in total, in the
    dynamic loader (_dl_start, before main) and in main (when the binary
    names it), and inclusive in each of FUNCTIONS (C names, 0 when never
    run). Deterministic, unlike times on a shared machine. With AFTER_EXEC,
    those of the program the command execs (callgrind counts nothing of what
    ran before an exec)."""
    out = os.path.join(workdir, "callgrind.out")
    res = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                          f"--trace-children={'yes' if after_exec else 'no'}", "--", *argv],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         text=True, env=env, timeout=300)
    m = re.search(r"Collected\s*:\s*(\d+)", res.stderr)
    if not m:
        return None
    counts = {"total": int(m.group(1)), "loader": 0, "main": None, **dict.fromkeys(functions, 0)}
    ann = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", out],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                         timeout=120).stdout
    for key, fn in (("loader", "_dl_start"), ("main", "main"), *((f, f) for f in functions)):
        hit = re.search(rf"^\s*([\d,]+)\s+\([^)]*\)\s+\S*:{fn} \[", ann, re.M)
        if hit:
            counts[key] = int(hit.group(1).replace(",", ""))
    os.unlink(out)
    return counts


def shared_objects(path):
    res = run(["ldd", path], check=False)
    text = (res.stdout + res.stderr).strip()
    if "not a dynamic executable" in text or "statically linked" in text:
        return "none (static)"
    libs = [ln.split()[0] for ln in text.splitlines()
            if ln.strip() and not ln.strip().startswith("linux-vdso")]
    return f"{len(libs)}: " + ", ".join(os.path.basename(x) for x in libs)


def tls_server(root):
    """A TLS-only server (port 0, tls-port P; no client certificate asked)
    with certificates from tests/support/tlskit.py: (server, CA file, None),
    or (None, None, why not)."""
    if tlskit is None:
        return None, None, "tests/support/tlskit.py is missing"
    if not hasattr(rediskit, "TlsClient"):
        return None, None, "tests/support/rediskit.py has no TLS support (TlsClient)"
    if not shutil.which(tlskit.OPENSSL):
        return None, None, "the openssl command-line tool is missing"
    certs = os.path.join(root, "certs")
    os.makedirs(certs, mode=0o700)
    try:
        ca = tlskit.make_ca(certs)
        cert = tlskit.make_server_cert(certs, ca)
    except (OSError, subprocess.SubprocessError, tlskit.OpenSSLError) as exc:
        return None, None, f"no certificates: {exc}"
    # RedisServer writes port 0 and tls-port itself (it picks the port).
    extra = [line for line in tlskit.server_config(0, cert, ca, auth_clients="no")
             if not line.startswith(("port ", "tls-port "))]
    try:
        srv = redis_server(root, "redis-tls", extra, tls=rediskit.TlsClient(ca=ca.cert))
    except BenchError as exc:
        return None, None, f"no TLS server: {exc}"
    return srv, ca.cert, None


def part_check(ctx):
    bindir, tmp = ctx["bindir"], ctx["tmp"]
    root = os.path.join(tmp, "check")
    os.makedirs(root, mode=0o700)
    password = secrets.token_hex(16)
    srv = redis_server(root, "redis", samples.acl_users(password))
    tls_srv = None
    try:
        tls_srv, tls_ca, tls_missing = tls_server(root)
        if tls_missing:
            log(f"check: no TLS rows: {tls_missing}")
        return check_runs(ctx, srv, root, password, bindir, (tls_srv, tls_ca, tls_missing))
    finally:
        stop(srv)
        if tls_srv:
            stop(tls_srv)


def tls_failure(stderr):
    """The cause a failed TLS check gives ("TLS handshake failed: ...",
    "verify failed: ..."), as " (cause)", or ""."""
    m = re.search(r"(TLS handshake failed|SSL_connect failed|verify failed)[^()\n]*", stderr)
    return f" ({m.group(0).strip()})" if m else ""


def tls_commands(rc, cli, tls_srv, ca, closed, state, env):
    """The TLS rows, or ([], why not) when a TLS check cannot run here (the
    tools or redis-cli without TLS)."""
    tport = str(tls_srv.port)
    commands = [
        (TLS_CHECK, [rc, "--tls", "--cacert", ca, "127.0.0.1", tport, "--state-dir", state],
         "tls"),
        ("redis-cli --tls PING",
         [cli, "--tls", "--cacert", ca, "-h", "127.0.0.1", "-p", tport, "PING"], "tls"),
        (TLS_CHECK_CLOSED,
         [rc, "--tls", "--cacert", ca, "127.0.0.1", closed, "--state-dir", state], "tls-fail"),
        ("redis-cli --tls PING, closed port",
         [cli, "--tls", "--cacert", ca, "-h", "127.0.0.1", "-p", closed, "PING"], "tls-fail"),
    ]
    for label, argv in ((TLS_CHECK, commands[0][1]), ("redis-cli --tls PING", commands[1][1])):
        res = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, timeout=30)
        if res.returncode != 0:
            name = " ".join(label.split()[:2])
            log(f"check: no TLS rows: {name} exits {res.returncode}: "
                f"{res.stderr.strip()[-400:]}")
            return [], f"{name} exits {res.returncode}" + tls_failure(res.stderr)
    return commands, None


def check_runs(ctx, srv, root, password, bindir, tls):
    args = ctx["args"]
    port = str(srv.port)
    rc = os.path.join(bindir, "redis_check")
    cli = client(args)
    state = os.path.join(root, "state")
    os.mkdir(state, 0o700)
    pwfile = os.path.join(root, "password")
    with open(pwfile, "w") as f:
        f.write(password + "\n")
    os.chmod(pwfile, 0o600)
    conf = os.path.join(root, "toolkit.conf")
    with open(conf, "w") as f:
        f.write(samples.toolkit_conf(os.path.join(root, "state-conf"),
                                     os.path.join(root, "toolkit.log"), pwfile,
                                     os.path.join(root, "copies"),
                                     os.path.join(root, "maintenance")))
    classic = os.path.join(CLASSIC, "redis_check.sh")
    env = dict(os.environ, CLASSIC_CHECK_LOG=os.path.join(root, "classic-check.log"),
               REDIS_CLI=cli)
    closed = str(free_port())  # nothing listens there: a failing check
    # (label, argv, group); REFS says what each group is compared with.
    commands = [
        ("redis_check HOST PORT", [rc, "127.0.0.1", port, "--state-dir", state], "check"),
        ("redis_check --config (ACL user, AUTH, log file)",
         [rc, "--config", conf, "127.0.0.1", port], "check"),
        ("redis-cli PING", [cli, "-h", "127.0.0.1", "-p", port, "PING"], "check"),
        ("classic redis_check.sh (bash, redis-cli, 3 log lines)",
         [classic, "127.0.0.1", port], "check"),
        ("/bin/true", ["/bin/true"], "check"),
        ("redis_check, closed port", [rc, "127.0.0.1", closed, "--state-dir", state], "fail"),
        ("redis-cli PING, closed port", [cli, "-h", "127.0.0.1", "-p", closed, "PING"],
         "fail"),
        ("classic redis_check.sh, closed port", [classic, "127.0.0.1", closed], "fail"),
        ("redis_check --version", [rc, "--version"], "start"),
        ("redis-cli --version", [cli, "--version"], "start"),
    ]
    tls_srv, tls_ca, tls_missing = tls
    if tls_srv is not None:
        more, tls_missing = tls_commands(rc, cli, tls_srv, tls_ca, closed, state, env)
        commands += more
    for label, argv, group in commands:
        res = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, timeout=30)
        # A failing row must fail as a check fails (1), not as a usage error (2).
        ok = res.returncode == 0 if "fail" not in group else res.returncode not in (0, 2)
        if not ok:
            raise BenchError(f"{label} exits {res.returncode} before the benchmark: "
                             f"{res.stderr.strip()[-400:]}")

    rounds, n = args.rounds, args.runs
    per = interleaved(ctx, "check", commands, env)
    rows = []
    for label, argv, group in commands:
        ref = REFS[group]
        rows.append({"command": label, "group": group, "argv": argv[:1],
                     "cpu_us": median(per[label]["cpu"]), "wall_us": median(per[label]["wall"]),
                     "cpu_ratio": paired(per, label, ref, "cpu"),
                     "wall_ratio": paired(per, label, ref, "wall"), "ref": ref,
                     "failures": per[label]["failures"], "rounds_cpu_us": per[label]["cpu"]})
    out = {"rounds": rounds, "runs": n, "rows": rows,
           "tls": {"available": tls_missing is None,
                   **({"server_port": tls_srv.port} if tls_srv else {}),
                   **({"why_not": tls_missing} if tls_missing else {})},
           # A failing check against a passing one, paired round by round.
           "fail_vs_pass": {"plain": paired(per, "redis_check, closed port",
                                            "redis_check HOST PORT", "cpu")}}
    if tls_missing is None:
        out["fail_vs_pass"]["tls"] = paired(per, TLS_CHECK_CLOSED, TLS_CHECK, "cpu")

    if shutil.which("valgrind") and not args.no_callgrind:
        log("check: counting instructions with callgrind")
        counts = {}
        for label, argv, group in commands:
            if label.startswith("classic"):
                continue  # a shell script: the count would cover bash alone
            counts[label] = callgrind_instructions(argv, env, root)
        out["instructions"] = counts
    out["ldd"] = {"redis_check": shared_objects(rc),
                  "redis_master (and the other hooks)": shared_objects(
                      os.path.join(bindir, "redis_master")),
                  "redis-cli": shared_objects(cli),
                  "/bin/true": shared_objects("/bin/true"),
                  "/bin/bash": shared_objects("/bin/bash")}
    out["sizes"] = {t: os.path.getsize(os.path.join(bindir, t)) for t in TOOLS}
    return out


def report_check(res):
    total = res["rounds"] * res["runs"]

    def table(group, title, ref_label):
        lines = [title, "", f"| command | CPU/run | wall/run | CPU vs {ref_label} "
                 f"| wall vs {ref_label} | unexpected exits |", "|---|---:|---:|---:|---:|---:|"]
        for r in res["rows"]:
            if r["group"] == group or (group == "start" and r["command"] == "/bin/true"):
                cr, wr = r["cpu_ratio"], r["wall_ratio"]
                if group == "start" and r["group"] != "start":
                    cr = wr = 1.0  # /bin/true itself
                bad = r["failures"] if "fail" not in r["group"] else total - r["failures"]
                lines.append(f"| {r['command']} | {fmt(r['cpu_us'], 0, ' µs')} | "
                             f"{fmt(r['wall_us'], 0, ' µs')} | {ratio(cr)} | {ratio(wr)} "
                             f"| {bad} |")
        return lines

    head = f"({res['rounds']} interleaved rounds x {res['runs']} runs; median of the rounds)"
    lines = table("check", f"### Check cost: a passing check {head}", "redis-cli PING")
    lines += [""] + table("fail", f"### Check cost: a failing check (closed port) {head}",
                          "redis-cli")
    tls = res.get("tls", {})
    if tls.get("available"):
        lines += [""] + table("tls", "### Check cost over TLS: a passing check, TLS-only server "
                              f"(port 0, tls-port; CA file only, no client certificate) {head}",
                              "redis-cli --tls PING")
        lines += [""] + table("tls-fail", f"### Check cost over TLS: a failing check (closed "
                              f"port) {head}", "redis-cli --tls")
    else:
        lines += ["", "### Check cost over TLS", "",
                  f"not available: {tls.get('why_not', 'not measured by this run')}"]
    fvp = res.get("fail_vs_pass", {})
    if fvp:
        lines += ["", "A failing redis_check against a passing one, CPU (paired by round): "
                  + "; ".join(f"{k} {ratio(v)}" for k, v in fvp.items())]
    lines += [""] + table("start", "### Start-up only (nothing connected)", "/bin/true")
    if res.get("instructions"):
        ref = (res["instructions"].get("redis-cli PING") or {}).get("total")
        lines += ["", "### Instructions executed in user space (callgrind, one run)", "",
                  "| command | total | in the dynamic loader | in main() | outside main() "
                  "| total vs redis-cli PING |", "|---|---:|---:|---:|---:|---:|"]
        for label, c in res["instructions"].items():
            if not c:
                lines.append(f"| {label} | n/a | | | | |")
                continue
            outside = c["total"] - c["main"] if c["main"] is not None else None
            lines.append(f"| {label} | {fmt(c['total'])} | {fmt(c['loader'])} | "
                         f"{fmt(c['main'])} | {fmt(outside)} | "
                         f"{ratio(c['total'] / ref if ref else None, 3)} |")
    lines += ["", "### Shared objects loaded at exec (ldd)", "", "| binary | shared objects |",
              "|---|---|"]
    for name, libs in res["ldd"].items():
        lines.append(f"| {name} | {libs} |")
    return "\n".join(lines)


def check_targets(res):
    """(target, measured, met) lines; met is None when not measured."""
    rows = {r["command"]: r for r in res["rows"]}
    v = rows["redis_check HOST PORT"]["cpu_ratio"]
    out = [("redis_check CPU <= 0.3x redis-cli PING", ratio(v), v is not None and v <= 0.3)]
    tls = res.get("tls", {})
    label = "TLS: redis_check --tls CPU <= 0.3x redis-cli --tls PING"
    if tls.get("available"):
        v = rows[TLS_CHECK]["cpu_ratio"]
        out.append((label, ratio(v), v is not None and v <= 0.3))
    else:
        out.append((label, f"not available: {tls.get('why_not', 'not measured')}", None))
    fvp = res.get("fail_vs_pass", {})
    for key, label in (("plain", "failing check CPU <= passing check CPU (redis_check, "
                                 "closed port vs passing)"),
                       ("tls", "TLS: failing check CPU <= passing check CPU")):
        if key in fvp:
            v = fvp[key]
            out.append((label, ratio(v), v is not None and v <= 1.0))
    return out

