"""Shared plumbing for the install tests: where the build and the sources
are, running commands, installing the build tree into a temporary prefix,
and rendering man pages.

ctest passes RK_BUILD_DIR, RK_SOURCE_DIR, RK_CMAKE, RK_CPACK, RK_TOOLS
(comma-separated), RK_VERSION and RK_PRIVATE_DIR (where rk-openssl.so goes,
relative to the prefix; tests/install/CMakeLists.txt). Exit 77
means skipped: the whole suite, or every one of its tests. A suite where
only some tests were skipped exits 0 and its last lines count and name the
skipped ones.
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import unittest

SKIP_EXIT = 77


def env(name):
    value = os.environ.get(name)
    if not value:
        sys.exit(f"{name} is not set: run this test through ctest (tests/install/CMakeLists.txt)")
    return value


BUILD_DIR = env("RK_BUILD_DIR")
SOURCE_DIR = env("RK_SOURCE_DIR")
TOOLS = tuple(t for t in env("RK_TOOLS").split(",") if t)
VERSION = env("RK_VERSION")
PRIVATE_DIR = env("RK_PRIVATE_DIR")
INIT_SCRIPT = os.path.join(SOURCE_DIR, "init.d", "redis-server-rk")
SAMPLES = os.path.join(SOURCE_DIR, "keepalived")


def skip(message):
    print(f"SKIPPED: {message}")
    sys.exit(SKIP_EXIT)


def run(argv, timeout=120, check=False, **kwargs):
    """Runs argv and returns the CompletedProcess (text output captured)."""
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(f"{argv} exited {result.returncode}\n"
                             f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}")
    return result


def free_port():
    """A loopback port nothing listens on (at the time of the call)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def cmake_cache(name):
    """The value of a CMakeCache.txt entry of the build, or None."""
    with open(os.path.join(BUILD_DIR, "CMakeCache.txt"), encoding="utf-8") as cache:
        for line in cache:
            match = re.match(rf"{re.escape(name)}:[A-Z]+=(.*)$", line.rstrip("\n"))
            if match:
                return match.group(1)
    return None


def private_files():
    """{name: mode} of what goes into PRIVATE_DIR: the shim, and the dynamic
    twin of redis_check when the build made one (a static redis_check)."""
    files = {"rk-openssl.so": 0o644}
    if os.path.exists(os.path.join(BUILD_DIR, PRIVATE_DIR, "redis_check")):
        files["redis_check"] = 0o755
    return files


def manpages_enabled():
    return (cmake_cache("RK_MANPAGES") or "ON").upper() not in ("OFF", "0", "FALSE", "NO")


def install_tree(prefix):
    """cmake --install of the build into prefix; returns the prefix."""
    run([env("RK_CMAKE"), "--install", BUILD_DIR, "--prefix", prefix], check=True)
    return prefix


class TempDirTestCase(unittest.TestCase):
    """A TestCase with self.tmp, removed afterwards."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="rk-install-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)


def plain_text(text):
    """Rendered man text without overstrike and with ASCII hyphens."""
    text = re.sub(r".\x08", "", text)
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    for dash in ("\u2010", "\u2011", "\u2012", "\u2013", "\u2212"):
        text = text.replace(dash, "-")
    return text


def render_man(page):
    """(rendered text, groff warnings) of a man page file, .gz or not.

    man -l renders it as a reader sees it; groff -ww -z reports every
    warning (unknown macros, bad escapes) without output."""
    environ = dict(os.environ, MANWIDTH="100", MAN_DISABLE_SECCOMP="1", LC_ALL="C.UTF-8")
    if shutil.which("man"):
        result = run(["man", "--nh", "--nj", "-l", page], env=environ)
        if result.returncode != 0:
            raise AssertionError(f"man -l {page} exited {result.returncode}: {result.stderr}")
        text = result.stdout
    else:
        text = None
    source = page
    if page.endswith(".gz"):
        import gzip
        with gzip.open(page, "rt", encoding="utf-8") as compressed:
            source_text = compressed.read()
    else:
        with open(page, encoding="utf-8") as plain:
            source_text = plain.read()
    groff = shutil.which("groff")
    if not groff:
        if text is None:
            skip("neither man nor groff is installed (Debian: man-db, groff-base)")
        return plain_text(text), ""
    check = run([groff, "-man", "-Tutf8", "-ww", "-z"], input=source_text, env=environ)
    if check.returncode != 0:
        raise AssertionError(f"groff on {source} exited {check.returncode}: {check.stderr}")
    if text is None:
        result = run([groff, "-man", "-Tutf8", "-P-c", "-P-b", "-P-u", "-P-o"],
                     input=source_text, env=environ)
        text = result.stdout
    return plain_text(text), check.stderr.strip()


def _test_of(test):
    """The test method a result entry belongs to (a subTest's own test)."""
    return getattr(test, "test_case", test)


def report(result, name=None):
    """(exit code, summary lines) of a unittest result, never counting a
    skipped test as passed: 1 when a test failed or errored, or when no test
    ran; 77 (ctest's SKIP code) when every test was skipped; else 0. The
    lines count passed, skipped and failed tests and name each skip."""
    name = name or os.path.basename(sys.argv[0])
    failed = {_test_of(t).id() for t, _ in result.failures + result.errors}
    failed |= {_test_of(t).id() for t in result.unexpectedSuccesses}
    skipped = {}  # test id -> reason, for tests skipped as a whole
    partly = {}  # test id -> its skipped subtests, for tests that ran
    for test, reason in result.skipped:
        if _test_of(test) is test:
            skipped[test.id()] = reason
        else:
            partly.setdefault(_test_of(test).id(), []).append(f"{test.id()}: {reason}")
    expected = {_test_of(t).id() for t, _ in result.expectedFailures}
    partly = {k: v for k, v in partly.items() if k not in failed and k not in skipped}
    ran = result.testsRun
    passed = max(0, ran - len(failed | set(skipped) | expected))
    summary = f"{name}: {ran} tests: {passed} passed, {len(skipped)} SKIPPED, {len(failed)} failed"
    if partly:
        summary += f" ({len(partly)} of the passed with SKIPPED subtests)"
    if expected:
        summary += f", {len(expected)} failed as expected"
    lines = [f"SKIPPED: {test}: {reason}" for test, reason in sorted(skipped.items())]
    for reasons in partly.values():
        lines += [f"SKIPPED subtest: {reason}" for reason in reasons]
    lines.append(summary)
    if failed or not result.wasSuccessful():
        return 1, lines
    if ran == 0:
        return 1, lines + [f"{name}: no test ran"]
    if len(skipped) == ran:
        return SKIP_EXIT, lines + [f"{name}: every test was skipped: reported to ctest as skipped"]
    return 0, lines


def main():
    """Runs the tests of __main__, prints report()'s lines (whatever the
    outcome) and exits with its code."""
    program = unittest.main(verbosity=2, exit=False)
    code, lines = report(program.result)
    sys.stderr.flush()
    for line in lines:
        print(line)
    sys.stdout.flush()
    sys.exit(code)
