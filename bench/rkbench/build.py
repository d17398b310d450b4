"""Building the project (Release) and describing the machine."""
import os
import platform
import re
import shutil

from rediskit import SERVER

from .common import BENCH, REPO, TOOLS, BenchError, first_line, log, run, server


def build(args, tmp):
    """Returns the bin dir, the cpu_per_run launcher and the build type. With
    --bin-dir, the tools come from that dir and the launcher is compiled into
    TMP."""
    bdir = args.build_dir
    if not args.no_build:
        if not os.path.exists(os.path.join(bdir, "CMakeCache.txt")):
            log(f"configuring {bdir} (Release)")
            run(["cmake", "-S", REPO, "-B", bdir, "-DCMAKE_BUILD_TYPE=Release"])
        log(f"building {bdir}")
        run(["cmake", "--build", bdir, "-j", str(os.cpu_count() or 2)], timeout=1800)
    bindir = args.bin_dir or os.path.join(bdir, "bin")
    for tool in TOOLS:
        if not os.access(os.path.join(bindir, tool), os.X_OK):
            raise BenchError(f"{bindir}/{tool} missing: build first or drop --no-build")
    launcher = os.path.join(tmp if args.bin_dir else bdir, "bench", "cpu_per_run")
    src = os.path.join(BENCH, "cpu_per_run.c")
    if not os.path.exists(launcher) or os.path.getmtime(launcher) < os.path.getmtime(src):
        os.makedirs(os.path.dirname(launcher), exist_ok=True)
        cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or "cc"
        run([cc, "-O2", "-Wall", "-o", launcher, src])
    build_type = "?"
    try:
        m = re.search(r"^CMAKE_BUILD_TYPE:\w+=(.*)$",
                      open(os.path.join(bdir, "CMakeCache.txt")).read(), re.M)
        build_type = m.group(1) if m else "?"
    except OSError:
        pass
    return bindir, launcher, build_type


def git_output(*args):
    """git's answer about the source tree, or "" without git (a Debian 13
    root made for the tests has none)."""
    if not shutil.which("git"):
        return ""
    return run(["git", "-C", REPO, *args], check=False).stdout.strip()


def machine(build_type, cli, bin_dir=None):
    model = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    commit = git_output("rev-parse", "--short", "HEAD")
    dirty = git_output("status", "--porcelain", "--untracked-files=no")
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "kernel": f"{platform.system()} {platform.release()}",
        # The server every part started (RK_SERVER, as in the tests).
        "server": f"{SERVER} ({'RK_SERVER' if os.environ.get('RK_SERVER') else 'default'}): "
                  f"{first_line([server(), '--version'])}",
        "server_path": server(),
        "client": first_line([cli, "--version"]),
        "keepalived": first_line([shutil.which("keepalived") or "/usr/sbin/keepalived",
                                  "--version"]),
        "compiler": first_line(["c++", "--version"]),
        "build": f"{build_type}, commit {commit or '?'}"
                 + (" with uncommitted changes" if dirty else "")
                 + (" (the tools from --bin-dir)" if bin_dir else ""),
        "loadavg_start": open("/proc/loadavg").read().split()[:3],
    }

