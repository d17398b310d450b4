"""The state dir (--state-dir) is a trust boundary, and neither it nor the
log file ever moves the VIP:

  - a full, read-only or unreadable state dir never fails redis_check nor
    stops a promotion; redis_fault/redis_stop say they could not record;
  - a state dir that others may write (1777) or that belongs to another user
    makes every hook refuse (exit 2, one line naming the fix) before it
    touches Redis, and redis_check ignores it;
  - symlinks, FIFOs and forged records planted in it neither redirect a
    write by root, nor hang a hook, nor supersede a real hook;
  - redis_status says why it cannot read the dir, and its JSON stays JSON;
  - the log file is 0600, never written through a symlink, and a missing
    one never fails a tool.

Mounts (a full or read-only tmpfs) happen only inside a private mount
namespace (unshare -m) that the tool itself runs in.
"""
import json
import os
import shutil
import stat
import subprocess
import tempfile
import time
import unittest

import itkit
from itkit import MARGIN, ToolTestCase, populate, setUpModule  # noqa: F401

TIMEOUT_MS = 500
TIMEOUT_S = TIMEOUT_MS / 1000
SYNC_TIMEOUT_S = 5
# redis_check ends within its --timeout (its own SIGALRM backstop at +100 ms).
CHECK_BOUND_S = TIMEOUT_S + 0.1 + MARGIN
# A hook's waits are bounded by --sync-timeout plus a few Redis calls of
# --timeout each (PING, INFO, REPLICAOF, CONFIG REWRITE ...).
HOOK_BOUND_S = SYNC_TIMEOUT_S + 4 * TIMEOUT_S + MARGIN
# keepalived kills a STOP notify after about 1 s.
STOP_BUDGET_S = 1.0
NOBODY = 65534
HOOKS = ("redis_master", "redis_backup", "redis_fault", "redis_stop")
STATUS_KEYS = ("instance", "state_dir", "transition", "transition_time", "transition_tool",
               "holds_vip", "last_verdict", "health", "health_age_s", "state_error", "local",
               "peer", "watcher", "maintenance", "kept_copies")

IS_ROOT = os.geteuid() == 0

# Run inside `unshare -m --propagation private sh -c SCRIPT sh DIR TOOL ARGS...`:
# mount a 64 KiB tmpfs (mode 0700, so the dir itself is trusted) on DIR,
# break it, prove it is broken, then exec the tool in that namespace.
# 99: the mount failed; 98: the dir is not broken as intended.
FULL_TMPFS = (
    'mount -t tmpfs -o size=64k,mode=0700 tmpfs "$1" || exit 99; '
    'dd if=/dev/zero of="$1/fill" bs=4k count=100 2>/dev/null; '
    'if dd if=/dev/zero of="$1/probe" bs=1 count=1 2>/dev/null; then '
    'echo "setup: $1 is not full" >&2; exit 98; fi; '
    'rm -f "$1/probe"; shift; exec "$@"')
READ_ONLY_TMPFS = (
    'mount -t tmpfs -o size=64k,mode=0700 tmpfs "$1" && mount -o remount,ro "$1" || exit 99; '
    'if touch "$1/probe" 2>/dev/null; then echo "setup: $1 is writable" >&2; exit 98; fi; '
    'shift; exec "$@"')


def _private_mounts_work():
    """True when this process may mount a tmpfs in a private mount namespace."""
    if not IS_ROOT or not shutil.which("unshare"):
        return False
    probe = tempfile.mkdtemp(prefix="rk-ns-probe-")
    try:
        cp = subprocess.run(
            ["unshare", "-m", "--propagation", "private", "sh", "-c",
             'mount -t tmpfs -o size=64k tmpfs "$1" && mount -o remount,ro "$1"', "sh", probe],
            stdin=subprocess.DEVNULL, capture_output=True, timeout=10)
        return cp.returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False
    finally:
        shutil.rmtree(probe, True)


PRIVATE_MOUNTS = _private_mounts_work()
NEEDS_MOUNTS = ("needs root and `unshare -m` (a private mount namespace in which a tmpfs "
                "can be mounted and remounted read-only)")
NEEDS_ROOT = "needs root (to run the tools as uid 65534, or to own a dir as root)"


def as_nobody():
    """preexec_fn: drop to uid/gid 65534 without supplementary groups, as
    keepalived runs scripts as an unprivileged script user."""
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


class StateDirCase(ToolTestCase):

    # ---- running tools -------------------------------------------------
    def run_argv(self, argv, timeout, log_file=None, preexec_fn=None):
        """Run argv (str or bytes items) to completion within `timeout` s."""
        t0 = time.monotonic()
        try:
            cp = subprocess.run(argv, capture_output=True, timeout=timeout,
                                stdin=subprocess.DEVNULL, env=self._env(None),
                                preexec_fn=preexec_fn)
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(f"{argv!r} did not exit within {timeout}s "
                                 f"(killed it); stderr so far: {exc.stderr!r}")
        return itkit.Result([os.fsdecode(a) for a in argv], cp.returncode,
                            cp.stdout.decode(errors="replace"),
                            cp.stderr.decode(errors="replace"),
                            time.monotonic() - t0, itkit.read_text(log_file))

    def tool_argv(self, tool, state_dir, log_file, *args, bin_dir=None):
        binary = os.path.join(bin_dir, tool) if bin_dir else itkit.tool_path(tool)
        return [binary, "--state-dir", state_dir, "--instance", self.instance,
                "--log-file", log_file, *[str(a) for a in args]]

    def check(self, local, state_dir=None, log_file=None, wrap=(), bin_dir=None,
              preexec_fn=None, extra=()):
        log_file = log_file or self.log_file
        argv = list(wrap) + self.tool_argv(
            "redis_check", state_dir or self.state_dir, log_file, "--host", "127.0.0.1",
            "--port", local.port, "--timeout", TIMEOUT_MS, *extra, bin_dir=bin_dir)
        return self.run_argv(argv, CHECK_BOUND_S, log_file, preexec_fn)

    def hook(self, tool, local, peer_port, state_dir=None, log_file=None, wrap=(),
             bin_dir=None, preexec_fn=None, extra=(), timeout=HOOK_BOUND_S):
        log_file = log_file or self.log_file
        argv = list(wrap) + self.tool_argv(
            tool, state_dir or self.state_dir, log_file,
            *self.hook_args(local.port, peer_port, TIMEOUT_MS),
            "--sync-timeout", SYNC_TIMEOUT_S, *extra, bin_dir=bin_dir)
        return self.run_argv(argv, timeout, log_file, preexec_fn)

    # ---- set-ups -------------------------------------------------------
    def replica_of_dead_peer(self, keys=100):
        """(local, peer_port): local replicates a peer that is then killed,
        so redis_master promotes it at once."""
        peer = self.server()
        local = self.server()
        populate(peer, keys)
        self.replicate(local, peer)
        peer.kill()  # nothing listens on the peer port any more
        return local, peer.port

    def in_namespace(self, script, mount_point):
        """Prefix for a tool argv: run it in a private mount namespace in
        which `script` has mounted a broken tmpfs on mount_point."""
        return ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh",
                mount_point]

    def mount_point(self):
        path = os.path.join(self.tmp, "mnt")
        os.mkdir(path, 0o700)
        return path

    def nobody_base(self, tools):
        """A 0755 dir holding copies of `tools` that uid 65534 can run, and a
        log file that uid 65534 owns. Returns (base, bin_dir, log_file)."""
        base = tempfile.mkdtemp(prefix="rk-nobody-")
        self.addCleanup(shutil.rmtree, base, True)
        os.chmod(base, 0o755)
        bin_dir = os.path.join(base, "bin")
        os.mkdir(bin_dir)
        os.chmod(bin_dir, 0o755)
        for tool in tools:
            shutil.copy(itkit.tool_path(tool), bin_dir)
            os.chmod(os.path.join(bin_dir, tool), 0o755)
        log_file = os.path.join(base, "hook.log")
        fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        os.chown(log_file, NOBODY, NOBODY)
        return base, bin_dir, log_file

    # ---- assertions ----------------------------------------------------
    def assert_line(self, text, *parts, where="log", result=None):
        """Some line of `text` holds every one of `parts`."""
        for line in text.splitlines():
            if all(p in line for p in parts):
                return line
        self.fail(f"no {where} line holds {parts!r}: {result!r}")

    def assert_not_recorded(self, result):
        self.assertEqual(result.rc, 1, f"redis_fault must report not-recorded: {result!r}")
        self.assert_line(result.log, "verdict=not-recorded exit=1", result=result)
        self.assert_line(result.log, "state dir unusable", result=result)


@unittest.skipUnless(PRIVATE_MOUNTS, NEEDS_MOUNTS)
class BrokenMountTest(StateDirCase):
    """F4: a full or read-only state dir neither fails the check nor hides or
    stops a promotion; redis_fault says it could not record."""

    def broken_dir_case(self, script, errno_text):
        mnt = self.mount_point()
        wrap = self.in_namespace(script, mnt)
        healthy = self.server()
        r = self.check(healthy, state_dir=mnt, wrap=wrap)
        self.assertEqual(r.rc, 0, f"redis_check against a healthy Redis: {r!r}")
        self.assert_line(r.stderr, "state dir not used", errno_text, where="stderr", result=r)

        local, peer_port = self.replica_of_dead_peer()
        log = os.path.join(self.tmp, "master.log")
        r = self.hook("redis_master", local, peer_port, state_dir=mnt, log_file=log, wrap=wrap)
        self.assertEqual(r.rc, 0, f"redis_master must promote: {r!r}")
        self.assert_line(r.log, "verdict=promoted exit=0", result=r)
        self.assert_line(r.log, "state dir unusable", errno_text, result=r)
        self.assert_role(local, "master")

        log = os.path.join(self.tmp, "fault.log")
        r = self.hook("redis_fault", healthy, peer_port, state_dir=mnt, log_file=log, wrap=wrap)
        self.assert_not_recorded(r)
        self.assert_line(r.log, "state dir unusable", errno_text, result=r)
        # Nothing of this reached the host's view of the mount point.
        self.assertEqual(os.listdir(mnt), [])

    def test_full_state_dir(self):
        self.broken_dir_case(FULL_TMPFS, "No space left on device")

    def test_read_only_state_dir(self):
        self.broken_dir_case(READ_ONLY_TMPFS, "Read-only file system")


@unittest.skipUnless(IS_ROOT, NEEDS_ROOT)
class UnprivilegedTest(StateDirCase):
    """F4/F8: a 0700 state dir made by root, the tools run as uid 65534."""

    def root_dir_for_nobody(self, tools):
        base, bin_dir, log_file = self.nobody_base(tools)
        state = os.path.join(base, "state")
        os.mkdir(state, 0o700)  # root's, as a manual run as root leaves it
        self.assertEqual(os.stat(state).st_uid, 0)
        return state, bin_dir, log_file

    def test_check_passes_and_master_promotes(self):
        state, bin_dir, log_file = self.root_dir_for_nobody(("redis_check", "redis_master"))
        healthy = self.server()
        r = self.check(healthy, state_dir=state, log_file=log_file, bin_dir=bin_dir,
                       preexec_fn=as_nobody)
        self.assertEqual(r.rc, 0, f"redis_check as uid {NOBODY}: {r!r}")
        self.assert_line(r.stderr, "state dir not used", "Permission denied", where="stderr",
                         result=r)

        local, peer_port = self.replica_of_dead_peer()
        r = self.hook("redis_master", local, peer_port, state_dir=state, log_file=log_file,
                      bin_dir=bin_dir, preexec_fn=as_nobody)
        self.assertEqual(r.rc, 0, f"redis_master as uid {NOBODY} must promote: {r!r}")
        self.assert_line(r.log, "state dir unusable", "Permission denied", result=r)
        self.assert_line(r.log, "verdict=promoted exit=0", result=r)
        self.assert_role(local, "master")
        self.assertEqual(os.listdir(state), [])

    def test_status_says_why_it_cannot_read(self):
        state, bin_dir, log_file = self.root_dir_for_nobody(("redis_status",))
        local = self.server()
        argv = self.tool_argv("redis_status", state, log_file, "--host", "127.0.0.1",
                              "--port", local.port, "--timeout", TIMEOUT_MS, bin_dir=bin_dir)
        r = self.run_argv(argv, 2 * TIMEOUT_S + MARGIN, preexec_fn=as_nobody)
        # A dir it may not read is a StateError, not a usage error: the
        # command line was right (exit 1, as for an unreachable Redis).
        self.assertEqual(r.rc, 1, f"redis_status on an unreadable dir: {r!r}")
        self.assert_line(r.stdout, "UNREADABLE", "Permission denied", where="stdout", result=r)
        self.assertNotIn("no transition recorded yet", r.stdout)
        self.assert_line(r.stderr, "cannot read the state dir", "Permission denied",
                         where="stderr", result=r)


@unittest.skipUnless(IS_ROOT, NEEDS_ROOT)
class UnsafeDirTest(StateDirCase):
    """F5: a dir that others may write, or that another user owns, is not
    trusted: every hook refuses before touching Redis; the check ignores it."""

    def unsafe_dirs(self):
        open_dir = os.path.join(self.tmp, "open")
        os.mkdir(open_dir)
        os.chmod(open_dir, 0o1777)
        foreign = os.path.join(self.tmp, "foreign")
        os.mkdir(foreign, 0o700)
        os.chown(foreign, NOBODY, NOBODY)
        return ((open_dir, "chmod 700"), (foreign, f"owned by uid {NOBODY}"))

    def replication(self, server):
        i = server.info("replication")
        return i.get("role"), i.get("master_host"), i.get("master_port")

    def test_every_hook_refuses_and_changes_nothing(self):
        peer = self.server()
        populate(peer, 100)
        replica = self.server()   # redis_master would promote it
        self.replicate(replica, peer)
        master = self.server()    # redis_backup would make it replicate peer
        targets = {"redis_master": replica, "redis_backup": master, "redis_fault": master,
                   "redis_stop": master}
        for state_dir, fix in self.unsafe_dirs():
            for tool in HOOKS:
                with self.subTest(dir=os.path.basename(state_dir), tool=tool):
                    local = targets[tool]
                    before = self.replication(local)
                    log = os.path.join(self.tmp, f"{tool}.{os.path.basename(state_dir)}.log")
                    r = self.hook(tool, local, peer.port, state_dir=state_dir, log_file=log)
                    self.assertEqual(r.rc, 2, f"{tool} on an unsafe state dir: {r!r}")
                    lines = r.stderr.strip().splitlines()
                    self.assertEqual(len(lines), 1, f"one stderr line expected: {r!r}")
                    self.assertIn(fix, lines[0])
                    self.assertIn(state_dir, lines[0])
                    self.assert_line(r.log, fix, "nothing done (exit 2)", result=r)
                    self.assertEqual(self.replication(local), before,
                                     f"{tool} changed the local Redis: {r!r}")
                    self.assertEqual(os.listdir(state_dir), [], f"{tool} wrote in the dir")

    def test_check_ignores_an_unsafe_dir(self):
        healthy = self.server()
        for state_dir, fix in self.unsafe_dirs():
            with self.subTest(dir=os.path.basename(state_dir)):
                r = self.check(healthy, state_dir=state_dir)
                self.assertEqual(r.rc, 0, f"redis_check against a healthy Redis: {r!r}")
                self.assert_line(r.stderr, "state dir not used", fix, where="stderr", result=r)
                self.assertEqual(os.listdir(state_dir), [])

    def test_status_refuses_an_unsafe_dir(self):
        # Unlike a dir it cannot read (exit 1), an unsafe one is the
        # operator's to fix: exit 2, as for every hook.
        local = self.server()
        for state_dir, fix in self.unsafe_dirs():
            with self.subTest(dir=os.path.basename(state_dir)):
                argv = self.tool_argv("redis_status", state_dir, self.log_file, "--host",
                                      "127.0.0.1", "--port", local.port, "--timeout", TIMEOUT_MS)
                r = self.run_argv(argv, 2 * TIMEOUT_S + MARGIN)
                self.assertEqual(r.rc, 2, f"redis_status on an unsafe state dir: {r!r}")
                self.assert_line(r.stderr, "cannot read the state dir", fix, where="stderr",
                                 result=r)

    def test_symlink_at_last_is_replaced_not_followed(self):
        outside = os.path.join(self.tmp, "precious")
        with open(outside, "w") as f:
            f.write("precious content\n")
        last = self.state_path("last")
        os.symlink(outside, last)
        local = self.server()
        r = self.hook("redis_fault", local, itkit.free_port())
        self.assertEqual(r.rc, 0, f"redis_fault: {r!r}")
        self.assert_line(r.log, "verdict=recorded exit=0", result=r)
        self.assertEqual(itkit.read_text(outside), "precious content\n",
                         "redis_fault wrote through the symlink at NAME.last")
        self.assertTrue(stat.S_ISREG(os.lstat(last).st_mode),
                        f"NAME.last is not a regular file: {os.lstat(last)}")
        self.assertIn("verdict=recorded", itkit.read_text(last))

    def test_forged_future_record_does_not_supersede_master(self):
        with open("/proc/sys/kernel/random/boot_id") as f:
            boot_id = f.read().strip()
        forged = (f"generation={boot_id}/{10 ** 18}/1\nstate=FAULT\ntool=redis_fault\n"
                  f"pid=1\ntime=2099-01-01T00:00:00Z\n")
        fd = os.open(self.state_path(), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(forged)
        local, peer_port = self.replica_of_dead_peer()
        r = self.hook("redis_master", local, peer_port)
        self.assertNotEqual(r.rc, 3, f"a forged record superseded redis_master: {r!r}")
        self.assertEqual(r.rc, 0, f"redis_master must promote: {r!r}")
        self.assert_line(r.log, "verdict=promoted exit=0", result=r)
        self.assert_role(local, "master")
        record = itkit.read_state(self.state_path())
        self.assertEqual(record.get("state"), "MASTER", f"record after the hook: {record}")
        self.assertNotEqual(record.get("pid"), "1")


class FifoTest(StateDirCase):
    """F7: a FIFO where a regular file belongs never hangs a tool."""

    def test_fifo_as_state_file(self):
        os.mkfifo(self.state_path(), 0o600)
        local = self.server()
        # Bounded by keepalived's STOP budget plus slack: a hang is caught.
        r = self.hook("redis_stop", local, itkit.free_port(), timeout=STOP_BUDGET_S + MARGIN)
        self.assertLess(r.elapsed, STOP_BUDGET_S, f"redis_stop too slow for STOP: {r!r}")
        self.assertEqual(r.rc, 1, f"redis_stop with a FIFO as NAME.state: {r!r}")
        self.assert_line(r.log, "verdict=not-recorded exit=1", result=r)
        self.assert_line(r.log, "state dir unusable", "not a regular file", result=r)

        argv = self.tool_argv("redis_status", self.state_dir, self.log_file, "--host",
                              "127.0.0.1", "--port", local.port, "--timeout", TIMEOUT_MS)
        r = self.run_argv(argv, 2 * TIMEOUT_S + MARGIN)
        self.assertEqual(r.rc, 1, f"redis_status with a FIFO as NAME.state: {r!r}")
        self.assert_line(r.stderr, "cannot read the state dir", "not a regular file",
                         where="stderr", result=r)
        self.assert_line(r.stdout, "UNREADABLE", "not a regular file", where="stdout", result=r)
        self.assertTrue(stat.S_ISFIFO(os.lstat(self.state_path()).st_mode))

    def test_fifo_as_password_file(self):
        fifo = os.path.join(self.tmp, "pw.fifo")
        os.mkfifo(fifo, 0o600)
        peer = self.server()
        local = self.server()
        self.replicate(local, peer)  # redis_master would promote it
        # Bounded by --timeout plus slack: a hang on the FIFO is caught.
        r = self.check(local, extra=("--password-file", fifo))
        self.assertEqual(r.rc, 2, f"redis_check with a FIFO as password file: {r!r}")
        self.assert_line(r.stderr, fifo, "not a regular file", where="stderr", result=r)

        r = self.hook("redis_master", local, peer.port, extra=("--password-file", fifo),
                      timeout=TIMEOUT_S + MARGIN)
        self.assertEqual(r.rc, 2, f"redis_master with a FIFO as password file: {r!r}")
        self.assert_line(r.stderr, fifo, "not a regular file", where="stderr", result=r)
        self.assert_role(local, "slave", master_port=peer.port)


class StatusJsonTest(StateDirCase):
    """F8: redis_status --json is strict UTF-8 JSON, whatever the path."""

    def status_json(self, state_dir, local, peer):
        argv = [os.fsencode(itkit.tool_path("redis_status")), b"--json",
                b"--state-dir", os.fsencode(state_dir), b"--instance", self.instance.encode(),
                b"--host", b"127.0.0.1", b"--port", str(local.port).encode(),
                b"--peer", f"127.0.0.1:{peer.port}".encode(),
                b"--timeout", str(TIMEOUT_MS).encode()]
        t0 = time.monotonic()
        try:
            cp = subprocess.run(argv, capture_output=True, stdin=subprocess.DEVNULL,
                                env=self._env(None), timeout=2 * TIMEOUT_S + MARGIN)
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(f"redis_status did not exit in time: {exc.stderr!r}")
        elapsed = time.monotonic() - t0
        self.assertEqual(cp.returncode, 0,
                         f"redis_status --json rc={cp.returncode} after {elapsed:.2f}s: "
                         f"stdout={cp.stdout!r} stderr={cp.stderr!r}")
        try:
            text = cp.stdout.decode("utf-8", errors="strict")
        except UnicodeDecodeError as exc:
            self.fail(f"redis_status --json printed bytes that are not UTF-8 ({exc}): "
                      f"{cp.stdout!r}")
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            self.fail(f"redis_status --json is not JSON ({exc}): {text!r}")

    def test_non_utf8_state_dir_path(self):
        state_dir = os.fsencode(self.tmp) + b"/state-\xff\xfe"
        os.mkdir(state_dir, 0o700)
        local = self.server()
        peer = self.server()
        doc = self.status_json(state_dir, local, peer)
        self.assertIn("\ufffd", doc["state_dir"], f"state_dir: {doc['state_dir']!r}")
        self.assertTrue(doc["state_dir"].startswith(self.tmp), doc["state_dir"])
        self.assertIsNone(doc["state_error"], doc)

    def test_every_key_present(self):
        local = self.server()
        peer = self.server()
        r = self.hook("redis_fault", local, peer.port)
        self.assertEqual(r.rc, 0, f"setup: redis_fault: {r!r}")
        doc = self.status_json(self.state_dir, local, peer)
        self.assertIsInstance(doc, dict)
        missing = [k for k in STATUS_KEYS if k not in doc]
        self.assertEqual(missing, [], f"keys missing from the JSON: {doc}")
        self.assertEqual(doc["instance"], self.instance)
        self.assertEqual(doc["state_dir"], self.state_dir)
        self.assertEqual(doc["transition"], "FAULT")
        self.assertEqual(doc["transition_tool"], "redis_fault")
        self.assertIs(doc["holds_vip"], False)
        self.assertIn("verdict=recorded", doc["last_verdict"])
        self.assertIsNone(doc["state_error"])
        self.assertIs(doc["local"]["reachable"], True)
        self.assertIs(doc["peer"]["reachable"], True)


class LogFileTest(StateDirCase):
    """F9: the log file is 0600, never written through a symlink, and one
    that cannot be opened never fails a tool."""

    def test_existing_log_file_becomes_0600(self):
        with open(self.log_file, "w") as f:
            f.write("an older line\n")
        os.chmod(self.log_file, 0o644)
        local = self.server()
        r = self.hook("redis_fault", local, itkit.free_port())
        self.assertEqual(r.rc, 0, f"redis_fault: {r!r}")
        info = os.stat(self.log_file)
        self.assertEqual(stat.S_IMODE(info.st_mode), 0o600,
                         f"log file mode {oct(stat.S_IMODE(info.st_mode))} after a hook run")
        self.assertTrue(r.log.startswith("an older line\n"), r.log)
        self.assert_line(r.log, "verdict=recorded exit=0", result=r)

    def test_symlink_log_file_is_refused(self):
        target = os.path.join(self.tmp, "target.log")
        with open(target, "w") as f:
            f.write("untouched\n")
        link = os.path.join(self.tmp, "link.log")
        os.symlink(target, link)
        healthy = self.server()
        r = self.check(healthy, log_file=link)
        self.assertEqual(r.rc, 0, f"redis_check with a symlink as --log-file: {r!r}")
        self.assert_line(r.stderr, link, "is a symlink (refused)", where="stderr", result=r)
        self.assertEqual(itkit.read_text(target), "untouched\n",
                         "redis_check wrote through the symlinked log file")
        self.assertTrue(os.path.islink(link))

    def test_log_file_in_missing_dir(self):
        log = os.path.join(self.tmp, "missing", "hook.log")
        healthy = self.server()
        r = self.check(healthy, log_file=log)
        self.assertEqual(r.rc, 0, f"redis_check with a log file in a missing dir: {r!r}")
        self.assert_line(r.stderr, log, "No such file or directory", where="stderr", result=r)
        self.assertFalse(os.path.exists(os.path.dirname(log)))


if __name__ == "__main__":
    itkit.main()
