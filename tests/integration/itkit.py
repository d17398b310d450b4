"""Shared plumbing for the integration tests: where the binaries are, how to
run them, and a TestCase base that starts real redis-servers and cleans up.

Every test file calls itkit.main(), which
  - exits 77 (skip) when the server (RK_SERVER, default redis-server) is not
    installed,
  - fails with a clear message when RK_BIN_DIR is unset or lacks a binary,
  - runs the tests and exits non-zero when one of them fails.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "support"))

from rediskit import (FakeServer, RedisReplyError, RedisServer, Resp,  # noqa: E402,F401
                      SilentPort, TlsClient, free_port, missing_keys, missing_server, populate,
                      wait_until)
from sentinelkit import DATA_NODE_CONFIG, SentinelSet  # noqa: E402
import tlskit  # noqa: E402

TOOLS = ("redis_check", "redis_master", "redis_backup", "redis_fault", "redis_stop",
         "redis_status", "redis_watch", "redis_switchover")
SKIP_EXIT = 77

# Slack on top of a deadline for process start-up and exit on a busy machine.
# Time bounds in the tests are the waits the tools were given on their command
# lines (--timeout, --poll-ms, --sync-timeout, ...) plus MARGIN.
MARGIN = 0.6

# Every test server gets these: no 5 s wait before a diskless full sync, so
# the tests spend their time on the behaviour under test.
BASE_CONFIG = ("repl-diskless-sync-delay 0",)


# A keepalived.conf that tracks a maintenance file the way redis_switchover
# requires (a track_file block, tracked with weight 0); format with path=.
KEEPALIVED_CONF = """
vrrp_script chk_redis {{
    script "/usr/bin/redis_check"
}}
track_file maintenance {{
    file "{path}"
    weight 0
}}
vrrp_instance redis {{
    track_file {{
        maintenance
    }}
}}
"""


def fence_values(server):
    """(min-replicas-to-write, min-replicas-max-lag) as SERVER holds them."""
    reply = server.call("CONFIG", "GET", "min-replicas-*")
    values = dict(zip(reply[::2], reply[1::2]))
    return int(values["min-replicas-to-write"]), int(values["min-replicas-max-lag"])


class SentinelTopology:
    """A master on 127.0.0.1 with REPLICAS replicas (replica-announce-ip
    127.0.0.1) and SENTINELS sentinels monitoring it as MASTER_NAME with a
    quorum of a majority and down-after 1 s. start() brings up all of it and
    waits until every sentinel names the master, sees each replica and knows
    the other sentinels; anything started is stopped by PID, and its
    directories removed, when a step fails and at cleanup().

    data_auth: the data nodes' requirepass (and masterauth, and the
    sentinels' auth-pass), or a (user, password) pair for data nodes whose
    default user is off: the tests' clients and the sentinels (auth-user,
    auth-pass) use it; data_config: more lines for every data node;
    sentinel_config: more lines for each sentinel's config; sentinel_auth:
    what the sentinels' own clients in the tests send; tls (a tlskit.Certs):
    every server and sentinel TLS-only, presenting tls.server, requiring a
    client certificate from tls.ca, and speaking TLS on its own links
    (replication, sentinels to data nodes and to each other); the tests'
    clients give tls.client.
    Tests share one (setUpClass) so that start-up and discovery, a few
    seconds, are paid once."""

    MASTER_NAME = "mymaster"

    def __init__(self, replicas=1, sentinels=3, master_config=(), data_auth=None,
                 sentinel_config=(), sentinel_auth=None, data_config=(), tls=None):
        data = list(BASE_CONFIG) + list(DATA_NODE_CONFIG) + list(data_config)
        if isinstance(data_auth, tuple):
            user, password = data_auth
            sentinel_config = [f"sentinel auth-user {self.MASTER_NAME} {user}",
                               f"sentinel auth-pass {self.MASTER_NAME} {password}",
                               *sentinel_config]
        elif data_auth:
            data += [f"requirepass {data_auth}", f"masterauth {data_auth}"]
            sentinel_config = [f"sentinel auth-pass {self.MASTER_NAME} {data_auth}",
                               *sentinel_config]
        harness = None
        if tls:
            tls_lines = tlskit.tls_config(tls.server, tls.ca, auth_clients="yes",
                                          replication=True)
            data += tls_lines
            sentinel_config = [*tls_lines, *sentinel_config]
            harness = TlsClient(tls.client.cert, tls.client.key)
        self.master = RedisServer(extra_config=data + list(master_config), auth=data_auth,
                                  tls=harness)
        self.replicas = [RedisServer(extra_config=data, auth=data_auth, tls=harness)
                         for _ in range(replicas)]
        self.sentinels = SentinelSet(self.master.port, sentinels, self.MASTER_NAME,
                                     extra_config=sentinel_config, auth=sentinel_auth,
                                     tls=harness)

    def start(self):
        try:
            self.master.start()
            for replica in self.replicas:
                replica.start()
                replica.call("REPLICAOF", "127.0.0.1", self.master.port)
            # Replicas that are already up when the sentinels start are
            # found in the master's first INFO, not 10 s later.
            wait_until(lambda: all(r.info("replication").get("master_link_status") == "up"
                                   for r in self.replicas), 30, 0.05, what="replicas' links up")
            self.sentinels.start()
            self.sentinels.wait_named(self.master.port)
            for replica in self.replicas:
                self.sentinels.wait_replica(replica.port)
            self.sentinels.wait_known()
        except BaseException:
            self.cleanup()
            raise
        return self

    def cleanup(self):
        self.sentinels.cleanup()
        for server in [self.master, *self.replicas]:
            server.cleanup()

    def args(self, sentinels=None, name=MASTER_NAME, announce="127.0.0.1"):
        """The Sentinel-mode options naming SENTINELS (default: all)."""
        args = []
        for address in self.sentinels.addresses(sentinels):
            args += ["--sentinel", address]
        return args + ["--master-name", name, "--announce-host", announce]


def environment_problem():
    """(exit_code, message) when the suite cannot run here, else None."""
    missing = missing_server()
    if missing:
        return SKIP_EXIT, f"{missing}: tests skipped"
    bin_dir = os.environ.get("RK_BIN_DIR")
    if not bin_dir:
        return 1, ("RK_BIN_DIR is not set: set it to the directory holding "
                   "redis_check, redis_master, ... (the build's bin/ directory)")
    missing = [t for t in TOOLS if not os.access(os.path.join(bin_dir, t), os.X_OK)]
    if missing:
        return 1, f"RK_BIN_DIR={bin_dir} lacks executable(s): {', '.join(missing)}"
    return None


def tool_path(name):
    return os.path.join(os.environ["RK_BIN_DIR"], name)


def main():
    problem = environment_problem()
    if problem:
        code, message = problem
        print(message, file=sys.stderr)
        sys.exit(code)
    prog = unittest.main(module="__main__", exit=False, verbosity=2)
    result = prog.result
    sys.exit(0 if result.wasSuccessful() and result.testsRun > 0 else 1)


def setUpModule():  # noqa: N802  (used by `python3 -m unittest` runs)
    problem = environment_problem()
    if problem:
        code, message = problem
        if code == SKIP_EXIT:
            raise unittest.SkipTest(message)
        raise RuntimeError(message)


class Result:
    """What one tool run did: exit code, output, wall time, log file text."""

    def __init__(self, argv, rc, stdout, stderr, elapsed, log_text):
        self.argv, self.rc, self.stdout, self.stderr = argv, rc, stdout, stderr
        self.elapsed, self.log = elapsed, log_text

    def __repr__(self):
        return (f"<{' '.join(self.argv)}: rc={self.rc} elapsed={self.elapsed:.2f}s\n"
                f"stdout: {self.stdout.strip()}\nstderr: {self.stderr.strip()}\n"
                f"log: {self.log.strip()}>")


class Running:
    """A tool started in the background (subprocess.Popen) by a test."""

    def __init__(self, case, argv, env, log_file):
        self.case, self.argv, self.log_file = case, argv, log_file
        self.out = tempfile.TemporaryFile()
        self.err = tempfile.TemporaryFile()
        self.started = time.monotonic()
        self.proc = subprocess.Popen(argv, stdout=self.out, stderr=self.err,
                                     stdin=subprocess.DEVNULL, env=env,
                                     start_new_session=True)
        self.exited_at = None
        case.addCleanup(self.close)

    @property
    def pid(self):
        return self.proc.pid

    def poll(self):
        rc = self.proc.poll()
        if rc is not None and self.exited_at is None:
            self.exited_at = time.monotonic()
        return rc

    def wait_exit(self, timeout, interval=0.005):
        """Wait (bounded) for the exit; record its time to within `interval`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.poll() is not None:
                return self.result()
            time.sleep(interval)
        self.kill()
        raise AssertionError(f"{' '.join(self.argv)} still running after {timeout}s; "
                             f"killed it. {self.result()!r}")

    def result(self):
        self.proc.wait(timeout=10)
        if self.exited_at is None:
            self.exited_at = time.monotonic()
        self.out.seek(0)
        self.err.seek(0)
        return Result(self.argv, self.proc.returncode,
                      self.out.read().decode(errors="replace"),
                      self.err.read().decode(errors="replace"),
                      self.exited_at - self.started, read_text(self.log_file))

    def close(self):
        self.kill()
        self.out.close()
        self.err.close()

    def kill(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=10)


def read_text(path):
    if not path:
        return ""
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def read_state(path):
    """key=value lines of a state file as a dict ({} when absent)."""
    fields = {}
    for line in read_text(path).splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            fields[k.strip()] = v.strip()
    return fields


class KeyWriter:
    """Writes w:N (value vN) from a thread of its own until stopped, one SET
    per N; an N whose SET fails is skipped, so each N is written at most
    once. A subclass says where to write (connect(): a context-managed
    client), what to keep of an acknowledged write (record(n)), and what to
    do after an error besides pausing 10 ms (after_error(): look for the
    master again). It sets its own fields before calling this __init__,
    which starts the thread."""

    join_seconds = 5

    def __init__(self):
        self.acked = []
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def connect(self):
        raise NotImplementedError

    def record(self, n):
        return n

    def after_error(self):
        pass

    def _run(self):
        n = 0
        while not self.stop_event.is_set():
            try:
                with self.connect() as c:
                    while not self.stop_event.is_set():
                        c.call("SET", f"w:{n}", f"v{n}")
                        self.acked.append(self.record(n))
                        n += 1
            except Exception:  # READONLY, paused, reset: the next N
                n += 1
                time.sleep(0.01)
                self.after_error()

    def stop(self):
        self.stop_event.set()
        self.thread.join(self.join_seconds)
        return self.acked


class RoleMonitor:
    """Samples a server's INFO every `interval` s in a thread, to check what
    a hook did while it ran (e.g. never master while the data was missing).

    Each sample: (t, role, loading, sync_in_progress, link_status, keys, master_port)
    with t in seconds since start(); unreachable/errored polls are skipped.
    """

    def __init__(self, server, interval=0.05):
        self.server, self.interval = server, interval
        self.samples = []
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.t0 = None

    def start(self):
        self.t0 = time.monotonic()
        self.thread.start()
        return self

    def _run(self):
        client = None
        while not self.stop_event.is_set():
            try:
                if client is None:
                    client = self.server.client(timeout=1.0)
                info = client.info()
                keys = 0
                m = re.match(r"keys=(\d+)", info.get("db0", ""))
                if m:
                    keys = int(m.group(1))
                self.samples.append((time.monotonic() - self.t0, info.get("role"),
                                     info.get("loading"), info.get("master_sync_in_progress"),
                                     info.get("master_link_status"), keys,
                                     info.get("master_port")))
            except (OSError, ConnectionError, RedisReplyError, ValueError):
                if client is not None:
                    client.close()
                client = None
            self.stop_event.wait(self.interval)
        if client is not None:
            client.close()

    def stop(self):
        self.stop_event.set()
        self.thread.join(timeout=5)
        return self.samples

    def roles(self):
        return {s[1] for s in self.samples}


class ToolTestCase(unittest.TestCase):
    """Per test: a temp dir (state dir, log file), servers stopped at cleanup."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="rk-it-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.state_dir = os.path.join(self.tmp, "state")
        # As the package's tmpfiles.d and init script do: the hooks create a
        # missing dir, redis_check never does.
        os.mkdir(self.state_dir, 0o700)
        self.instance = "it" + uuid.uuid4().hex[:8]
        self.log_file = os.path.join(self.tmp, "hook.log")
        self.copy_dir = os.path.join(self.tmp, "copies")

    # ---- servers -------------------------------------------------------
    def server(self, extra_config=(), auth=None, start=True):
        srv = RedisServer(extra_config=list(BASE_CONFIG) + list(extra_config), auth=auth)
        self.addCleanup(srv.cleanup)
        if start:
            srv.start()
        return srv

    def silent_port(self):
        """A port whose connects never complete (closed at cleanup)."""
        sp = SilentPort()
        self.addCleanup(sp.close)
        return sp.port

    def frozen(self, server):
        """SIGSTOP a server (as if hung) until cleanup, which resumes it
        before it is stopped."""
        server.proc.send_signal(signal.SIGSTOP)
        self.addCleanup(lambda: server.proc.poll() is None
                        and server.proc.send_signal(signal.SIGCONT))

    def fake(self, mode="hang", **kw):
        srv = FakeServer(mode, **kw)
        self.addCleanup(srv.close)
        return srv

    def role(self, server):
        return server.info("replication")["role"]

    def server_identity(self, server):
        """(name, version) as the server's own INFO server section gives them:
        Valkey names itself (server_name) and its version (valkey_version;
        its redis_version is the Redis release it is compatible with)."""
        i = server.info("server")
        if "valkey_version" in i:
            return i.get("server_name", "valkey"), i["valkey_version"]
        return i.get("server_name", "redis"), i["redis_version"]

    def dbsize(self, server):
        return int(server.call("DBSIZE"))

    def wait_link_up(self, replica, master, timeout=30):
        """Wait until `replica` replicates `master` with the link up."""
        def ok():
            i = replica.info("replication")
            return (i.get("role") == "slave" and i.get("master_port") == str(master.port)
                    and i.get("master_link_status") == "up")
        wait_until(ok, timeout, interval=0.05,
                   what=f"replica {replica.port} link up to {master.port}")

    def replicate(self, replica, master, timeout=30):
        replica.call("REPLICAOF", "127.0.0.1", master.port)
        self.wait_link_up(replica, master, timeout)

    def wait_streaming(self, replica, master, timeout=10):
        """Wait until `master`'s replication stream reaches `replica`: a link
        that is up is not yet enough. After a diskless full sync the master
        streams only once the replica's REPLCONF ACK finds the transfer
        finished on its side; Valkey 8.1.1's replica sends its first ACK
        before that (its "sync: Finished with success" is logged some 50 ms
        before the master's "Streamed RDB transfer ... succeeded"), so the
        stream starts with the next ACK, up to a second later. A PUBLISH
        moves the master's offset (it is propagated to replicas) and leaves
        the dataset alone."""
        master.call("PUBLISH", "rk-it-stream", "probe")
        target = int(master.info("replication")["master_repl_offset"])
        wait_until(lambda: int(replica.info("replication").get("slave_repl_offset", -1)) >= target,
                   timeout, interval=0.01,
                   what=f"replica {replica.port} streaming from {master.port} (offset {target})")

    def assert_all_keys(self, server, count, prefix="k"):
        missing = missing_keys(server, count, prefix)
        self.assertEqual(missing[:20], [],
                         f"{len(missing)} of {count} keys {prefix}:* missing or wrong "
                         f"on port {server.port}")

    def assert_role(self, server, role, master_port=None):
        i = server.info("replication")
        self.assertEqual(i.get("role"), role, f"role of port {server.port}: {i}")
        if master_port is not None:
            self.assertEqual(i.get("master_port"), str(master_port),
                             f"master of port {server.port}: {i}")

    def split(self, old_master, promoted, split_keys, old_master_keys=0):
        """A split brain: `promoted` replicated `old_master` (200 keys k:*),
        then was promoted too, and both took writes: SPLIT_KEYS split:* on it,
        OLD_MASTER_KEYS late:* on the old master."""
        populate(old_master, 200)
        self.replicate(promoted, old_master)
        # A replica whose link was already up may still be applying the
        # stream: the split starts once it holds everything.
        wait_until(lambda: promoted.info("replication").get("slave_repl_offset")
                   == old_master.info("replication").get("master_repl_offset"), 10,
                   what="the replica to catch up before the split")
        promoted.call("REPLICAOF", "NO", "ONE")
        populate(promoted, split_keys, prefix="split")
        if old_master_keys:
            populate(old_master, old_master_keys, prefix="late")

    # ---- tools ---------------------------------------------------------
    def node_args(self, name, local, peer, timeout_ms=500, copy_dir=None):
        """The common options of the hooks of node NAME (its own state dir)."""
        state = os.path.join(self.tmp, f"state-{name}")
        os.makedirs(state, 0o700, exist_ok=True)
        return ["--state-dir", state, "--instance", self.instance, "--log-file", self.log_file,
                "--copy-dir", copy_dir or self.copy_dir,
                *self.hook_args(local.port, peer.port, timeout_ms)]

    def common_args(self, log_file=None, state=True):
        args = []
        if state:
            args += ["--state-dir", self.state_dir, "--instance", self.instance]
        args += ["--log-file", log_file or self.log_file]
        return args

    @staticmethod
    def hook_args(local_port, peer_port, timeout_ms=500):
        return ["--host", "127.0.0.1", "--port", str(local_port),
                "--peer", f"127.0.0.1:{peer_port}", "--timeout", str(timeout_ms)]

    def _argv(self, tool, args, common, log_file):
        argv = [tool_path(tool)]
        if common:
            argv += self.common_args(log_file)
        args = [str(a) for a in args]
        # The hooks keep copies of discarded datasets (default under
        # /var/lib): in a test they go to its own temp dir.
        if tool in ("redis_master", "redis_backup", "redis_status") and not any(
                a.startswith("--copy-dir") or a.startswith("--config") for a in args):
            argv += ["--copy-dir", self.copy_dir]
        return argv + args

    def _env(self, env):
        e = dict(os.environ)
        e.pop("REDISCLI_AUTH", None)
        if env:
            e.update(env)
        return e

    def run_tool(self, tool, *args, common=True, timeout=60, env=None, log_file=None):
        """Run a tool to completion (bounded by `timeout`) and return a Result."""
        argv = self._argv(tool, args, common, log_file)
        log_path = (log_file or self.log_file) if common else None
        t0 = time.monotonic()
        try:
            cp = subprocess.run(argv, capture_output=True, timeout=timeout,
                                stdin=subprocess.DEVNULL, env=self._env(env))
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(f"{' '.join(argv)} did not exit within {timeout}s; "
                                 f"stderr so far: {exc.stderr!r}")
        return Result(argv, cp.returncode, cp.stdout.decode(errors="replace"),
                      cp.stderr.decode(errors="replace"), time.monotonic() - t0,
                      read_text(log_path))

    def start_tool(self, tool, *args, common=True, env=None, log_file=None):
        """Start a tool in the background; killed at cleanup if still running."""
        argv = self._argv(tool, args, common, log_file)
        return Running(self, argv, self._env(env),
                       (log_file or self.log_file) if common else None)

    def state_path(self, suffix="state"):
        return os.path.join(self.state_dir, f"{self.instance}.{suffix}")

    def lock_holders(self):
        """Pids holding a flock on the instance's action lock (NAME.lock), as
        /proc/locks lists them; empty when the file does not exist yet."""
        try:
            inode = os.stat(self.state_path("lock")).st_ino
        except FileNotFoundError:
            return set()
        pids = set()
        with open("/proc/locks") as f:
            for line in f:
                # "1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF"; a waiter
                # has "->" after the number (the hooks never wait in flock).
                fields = line.split()
                if (len(fields) >= 6 and fields[1] == "FLOCK"
                        and fields[5].rsplit(":", 1)[-1] == str(inode)):
                    pids.add(int(fields[4]))
        return pids

    def wait_hook_running(self, running, timeout=5):
        """Wait until the hook has recorded its transition (its pid in the
        state file) and holds the action lock (NAME.lock): it is then the
        hook acting on the instance. Returns as soon as the hook exits (the
        caller's assertions decide); fails when neither happens in time."""
        pid = running.pid

        def acting():
            if running.poll() is not None:
                return True
            return (read_state(self.state_path()).get("pid") == str(pid)
                    and pid in self.lock_holders())
        wait_until(acting, timeout, interval=0.005,
                   what=f"hook {pid} recorded in the state file and holding the lock")

    def write_file(self, name, text, mode=0o600):
        """TEXT in the test's temp dir as NAME, created 0600 and then given
        MODE; returns its path."""
        path = os.path.join(self.tmp, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def password_file(self, password, mode=0o600, name="pw"):
        return self.write_file(name, password + "\n", mode)

    def assertRc(self, result, *codes):  # noqa: N802
        self.assertIn(result.rc, codes, f"unexpected exit code: {result!r}")

    def slow_sync(self, local, peer, keys, delay_us=1000, prefix="k"):
        """Give peer `keys` keys and a slow RDB child (rdb-key-save-delay), then
        make local replicate it: the full sync takes about keys*delay_us."""
        populate(peer, keys, prefix)
        peer.call("CONFIG", "SET", "rdb-key-save-delay", str(delay_us))
        local.call("REPLICAOF", "127.0.0.1", peer.port)
        wait_until(lambda: local.info("replication").get("master_sync_in_progress") == "1",
                   10, what="full sync to start")
