"""Part openssl: the system's OpenSSL, loaded only for TLS (rk-openssl.so),
against a baseline build with OpenSSL linked in statically
(--baseline-bin), in one run, the six commands interleaved round by round:
a plain redis_check of each build and redis-cli PING; redis_check --tls
--cacert CA of each build and redis-cli --tls --cacert CA PING, against a
TLS-only server. Also: instructions (callgrind, one run each), the shared
objects each build loads (ldd), the OpenSSL each runs, and the installed
size of the eight tools (stripped, as the .deb ships them) with what is
installed beside them (the shim, the static redis_check's dynamic twin).

The tools find rk-openssl.so relative to their own binary, so --bin-dir
must be a build's bin/ or an install's (not a copy of the tools alone).

On another system, for example a Debian 13 root (OpenSSL 3.5), with that
system's server and client and the tools built there; the baseline can be
the static build's bin/ from elsewhere (a static binary runs anywhere):

    RK_SERVER=/usr/bin/redis-server bench/run --only openssl \\
        --bin-dir BUILD/bin --baseline-bin STATIC/bin --redis-cli /usr/bin/redis-cli
"""
import glob
import os
import re
import shutil
import subprocess

from .check import (callgrind_instructions, interleaved, paired, shared_objects, tls_failure,
                    tls_server)
from .common import TOOLS, BenchError, client, fmt, log, median, ratio, redis_server, run, stop

ALL_TOOLS = TOOLS + ("redis_watch", "redis_switchover")
BUILDS = (("this", "this build"), ("static", "static baseline"))
PLAIN_REF = "redis-cli PING"
TLS_REF = "redis-cli --tls --cacert CA PING"


def shim_of(bindir):
    """The rk-openssl.so a build's tools load, or None (a static build)."""
    found = glob.glob(os.path.join(bindir, os.pardir, "lib*", "**", "redis-keepalived",
                                   "rk-openssl.so"), recursive=True)
    return os.path.realpath(found[0]) if found else None


def openssl_version(path):
    """The OpenSSL version compiled into PATH: libcrypto's full text, or
    the bare version string a static binary keeps ("3.0.19")."""
    with open(path, "rb") as f:
        data = f.read()
    m = re.search(rb"OpenSSL \d+\.\d+\.\d+[^\0\n]*", data) or re.search(
        rb"\0(3\.\d+\.\d+)\0", data)
    return m.group(m.lastindex or 0).decode(errors="replace") if m else "?"


def system_libcrypto(shim):
    res = run(["ldd", shim], check=False)
    m = re.search(r"libcrypto\.so\.\S+ => (\S+)", res.stdout)
    return m.group(1) if m else None


def stripped_size(path, tmp):
    """PATH's size once stripped, as cpack strips what it packs."""
    out = os.path.join(tmp, "stripped")
    run(["strip", "-o", out, path])
    size = os.path.getsize(out)
    os.unlink(out)
    return size


def commands_for(builds, cli, port, tls_port, ca, state):
    """(label, argv, reference label) of the six commands."""
    commands = []
    for key, name in BUILDS:
        rc = os.path.join(builds[key], "redis_check")
        commands.append((f"redis_check HOST PORT ({name})",
                         [rc, "127.0.0.1", port, "--state-dir", state], PLAIN_REF))
    commands.append((PLAIN_REF, [cli, "-h", "127.0.0.1", "-p", port, "PING"], PLAIN_REF))
    for key, name in BUILDS:
        rc = os.path.join(builds[key], "redis_check")
        commands.append((f"redis_check --tls --cacert CA HOST PORT ({name})",
                         [rc, "--tls", "--cacert", ca, "127.0.0.1", tls_port,
                          "--state-dir", state], TLS_REF))
    commands.append((TLS_REF, [cli, "--tls", "--cacert", ca, "-h", "127.0.0.1", "-p", tls_port,
                               "PING"], TLS_REF))
    return commands


def sizes(builds, tmp):
    out = {}
    for key, _ in BUILDS:
        files = {t: os.path.join(builds[key], t) for t in ALL_TOOLS
                 if os.path.exists(os.path.join(builds[key], t))}
        shim = shim_of(builds[key])
        if shim:  # the shim and what else is installed beside it (a static check's twin)
            private = os.path.dirname(shim)
            files.update({f"{os.path.basename(private)}/{name}": os.path.join(private, name)
                          for name in sorted(os.listdir(private))})
        out[key] = {name: stripped_size(path, tmp) for name, path in files.items()}
    return out


def part_openssl(ctx):
    args = ctx["args"]
    if not args.baseline_bin:
        raise BenchError("give --baseline-bin DIR: the static build's binaries to compare with")
    builds = {"this": ctx["bindir"], "static": os.path.abspath(args.baseline_bin)}
    if not shim_of(builds["this"]):
        raise BenchError(f"no rk-openssl.so beside {builds['this']}: give a build's bin/ "
                         "or an install's")
    cli = client(args)
    root = os.path.join(ctx["tmp"], "openssl")
    os.makedirs(root, mode=0o700)
    state = os.path.join(root, "state")
    os.mkdir(state, 0o700)
    srv = redis_server(root, "redis")
    tls_srv = None
    try:
        tls_srv, ca, why_not = tls_server(root)
        if why_not:
            raise BenchError(f"no TLS server: {why_not}")
        commands = commands_for(builds, cli, str(srv.port), str(tls_srv.port), ca, state)
        for label, argv, _ in commands:
            res = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True, timeout=30)
            if res.returncode != 0:
                raise BenchError(f"{label} exits {res.returncode} before the benchmark"
                                 f"{tls_failure(res.stderr)}: {res.stderr.strip()[-400:]}")
        per = interleaved(ctx, "openssl", commands, dict(os.environ))
        rows = [{"command": label, "ref": ref, "cpu_us": median(per[label]["cpu"]),
                 "wall_us": median(per[label]["wall"]),
                 "cpu_ratio": paired(per, label, ref, "cpu"),
                 "wall_ratio": paired(per, label, ref, "wall"),
                 "failures": per[label]["failures"], "rounds_cpu_us": per[label]["cpu"]}
                for label, _, ref in commands]
        # This build against the static one, paired round by round.
        this_vs_static = {kind: paired(per, commands[i][0], commands[i + 1][0], "cpu")
                          for kind, i in (("plain", 0), ("tls", 3))}
        counts = {}
        if shutil.which("valgrind") and not args.no_callgrind:
            log("openssl: counting instructions with callgrind")
            # A static redis_check execs its twin for TLS: count the twin.
            counts = {label: callgrind_instructions(argv, dict(os.environ), root,
                                                    after_exec="--tls" in argv)
                      for label, argv, _ in commands}
    finally:
        stop(srv)
        if tls_srv:
            stop(tls_srv)
    shim = shim_of(builds["this"])
    crypto = system_libcrypto(shim)
    return {"rounds": args.rounds, "runs": args.runs, "rows": rows,
            "this_vs_static": this_vs_static, "instructions": counts,
            "bin_dirs": builds,
            "openssl": {"this": f"{openssl_version(crypto)} ({crypto})" if crypto else "?",
                        "static": openssl_version(os.path.join(builds["static"],
                                                               "redis_check"))},
            "ldd": {"redis_check (this build)": shared_objects(
                        os.path.join(builds["this"], "redis_check")),
                    "rk-openssl.so (this build, with --tls)": shared_objects(shim),
                    "redis_check (static baseline)": shared_objects(
                        os.path.join(builds["static"], "redis_check"))},
            "sizes": sizes(builds, root)}


def report_openssl(res):
    head = (f"({res['rounds']} interleaved rounds x {res['runs']} runs; median of the rounds; "
            "ratios paired by round)")
    lines = [f"### The system's OpenSSL, loaded for TLS only, against the static build {head}",
             "", f"OpenSSL: this build {res['openssl']['this']}; static baseline "
             f"{res['openssl']['static']} (`{res['bin_dirs']['static']}`).", "",
             "| command | CPU/run | wall/run | CPU vs redis-cli | wall vs redis-cli "
             "| unexpected exits |", "|---|---:|---:|---:|---:|---:|"]
    for r in res["rows"]:
        lines.append(f"| {r['command']} | {fmt(r['cpu_us'], 0, ' µs')} | "
                     f"{fmt(r['wall_us'], 0, ' µs')} | {ratio(r['cpu_ratio'])} | "
                     f"{ratio(r['wall_ratio'])} | {r['failures']} |")
    tvs = res["this_vs_static"]
    lines += ["", f"This build against the static one, CPU: plain {ratio(tvs['plain'])}, "
              f"TLS {ratio(tvs['tls'])}."]
    if res["instructions"]:
        lines += ["", "| command (callgrind, one run; after the exec of a static "
                  "redis_check's twin, for TLS) | instructions | in the dynamic loader |",
                  "|---|---:|---:|"]
        for label, c in res["instructions"].items():
            lines.append(f"| {label} | {fmt(c['total']) if c else 'n/a'} | "
                         f"{fmt(c['loader']) if c else 'n/a'} |")
    lines += ["", "| binary | shared objects (ldd) |", "|---|---|"]
    lines += [f"| {name} | {libs} |" for name, libs in res["ldd"].items()]
    lines += ["", "| installed, stripped | static baseline | this build |", "|---|---:|---:|"]
    names = list(dict.fromkeys([*res["sizes"]["static"], *res["sizes"]["this"]]))
    for name in names + ["total"]:
        cells = [sum(res["sizes"][b].values()) if name == "total" else res["sizes"][b].get(name)
                 for b in ("static", "this")]
        lines.append(f"| {name} | {fmt(cells[0], 0, ' B')} | {fmt(cells[1], 0, ' B')} |")
    return "\n".join(lines)


def openssl_targets(res):
    rows = {r["command"]: r for r in res["rows"]}
    v = rows["redis_check HOST PORT (this build)"]["cpu_ratio"]
    return [("plain redis_check, OpenSSL loaded for TLS only: CPU <= 0.3x redis-cli PING",
             ratio(v), v is not None and v <= 0.3)]
