"""init.d/redis-server-rk against a real redis-server: a temporary
redis.conf on a free loopback port, the script's settings in a temporary
defaults file (REDIS_RK_DEFAULTS), and the LSB exit codes checked at every
step: status 3 -> start 0 -> status 0 -> stop 0 (no process left) ->
status 3, plus the cases the classic script got wrong (a failed start, a
stale pid file, waiting on stop).

Servers are stopped by pid only, in the cleanup, if a step left one.
"""
import os
import pwd
import shutil
import signal
import socket
import stat
import time

import installkit
from installkit import INIT_SCRIPT, free_port, run

# LSB: status exit codes.
RUNNING, DEAD_WITH_PIDFILE, NOT_RUNNING = 0, 1, 3


def redis_server():
    for candidate in (shutil.which("redis-server"), "/usr/bin/redis-server"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    installkit.skip("redis-server is not installed (Debian: redis-server)")


def redis_cli():
    for candidate in (shutil.which("redis-cli"), "/usr/bin/redis-cli"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    installkit.skip("redis-cli is not installed (Debian: redis-tools)")


def process_state(pid):
    """The kernel's state letter of pid, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat_file:
            return stat_file.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def alive(pid):
    # A zombie has exited; it only waits for its parent to reap it.
    return process_state(pid) not in (None, "Z", "X")


def ping(port):
    """Sends PING over RESP; returns the reply line, or None."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
            conn.sendall(b"*1\r\n$4\r\nPING\r\n")
            return conn.recv(64).decode("ascii", "replace").strip()
    except OSError:
        return None


class InitScriptTest(installkit.TempDirTestCase):
    def setUp(self):
        super().setUp()
        self.server = redis_server()
        self.cli = redis_cli()
        self.port = free_port()
        self.pids = set()
        self.addCleanup(self.kill_leftovers)
        # As root the script starts Redis as the redis user when it exists,
        # as on a real host; that user must reach the files.
        self.user = ""
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("redis")
                self.user = "redis"
            except KeyError:
                pass
        os.chmod(self.tmp, 0o755)
        data = os.path.join(self.tmp, "data")
        os.mkdir(data)
        if self.user:
            shutil.chown(data, self.user, self.user)
        self.pidfile = os.path.join(self.tmp, "run", "redis.pid")
        self.state_dir = os.path.join(self.tmp, "run-rk")
        self.conf = self.write("redis.conf", f"""\
bind 127.0.0.1
port {self.port}
dir {data}
logfile {data}/redis.log
save ""
appendonly no
daemonize no
""")
        self.defaults = self.write("defaults", f"""\
REDIS_SERVER={self.server}
REDIS_CLI={self.cli}
REDIS_CONF={self.conf}
REDIS_PIDFILE={self.pidfile}
REDIS_PORT={self.port}
REDIS_USER={self.user}
START_TIMEOUT=10
STOP_TIMEOUT=20
RK_STATE_DIR={self.state_dir}
RK_STATE_USER={pwd.getpwuid(os.geteuid()).pw_name}
""")

    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(path, 0o644)
        return path

    def script(self, action, **overrides):
        environ = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                   "REDIS_RK_DEFAULTS": self.defaults}
        environ.update(overrides)
        result = run(["sh", INIT_SCRIPT, action], env=environ, timeout=60)
        pid = self.pid()
        if pid:
            self.pids.add(pid)
        return result

    def assert_exit(self, action, code, **overrides):
        result = self.script(action, **overrides)
        self.assertEqual(result.returncode, code,
                         f"{action}: exit {result.returncode}, want {code}\n"
                         f"stdout: {result.stdout}\nstderr: {result.stderr}")
        return result

    def pid(self):
        try:
            with open(self.pidfile, encoding="ascii") as pidfile:
                return int(pidfile.read().strip())
        except (OSError, ValueError):
            return None

    def servers_in_tmp(self):
        """Pids of processes working in this test's directory: a server the
        script started but lost track of (no pid file) is among them."""
        found = set()
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    cwd = os.readlink(f"/proc/{entry}/cwd")
                except OSError:
                    continue
                if cwd == self.tmp or cwd.startswith(self.tmp + os.sep):
                    found.add(int(entry))
        return found

    def kill_leftovers(self):
        leftovers = self.servers_in_tmp()
        for pid in self.pids | leftovers:
            if alive(pid):
                os.kill(pid, signal.SIGTERM)
                deadline = time.monotonic() + 10
                while alive(pid) and time.monotonic() < deadline:
                    time.sleep(0.05)
                if alive(pid):
                    os.kill(pid, signal.SIGKILL)

    def assert_running(self):
        pid = self.pid()
        self.assertIsNotNone(pid, "no pid file after start")
        self.assertTrue(alive(pid), f"pid {pid} from the pid file is not running")
        with open(f"/proc/{pid}/comm", encoding="ascii") as comm:
            self.assertEqual(comm.read().strip(), "redis-server")
        self.assertEqual(ping(self.port), "+PONG")
        return pid

    def test_start_status_stop_status(self):
        self.assert_exit("status", NOT_RUNNING)
        self.assert_exit("start", 0)
        pid = self.assert_running()
        if self.user:
            self.assertEqual(pwd.getpwuid(os.stat(f"/proc/{pid}").st_uid).pw_name, self.user)
        self.assert_exit("status", RUNNING)
        # The hooks' state dir is made for the script user, 0700.
        self.assertEqual(stat.S_IMODE(os.stat(self.state_dir).st_mode), 0o700)
        # start on a running server is a success and starts nothing new.
        self.assert_exit("start", 0)
        self.assertEqual(self.pid(), pid)

        self.assert_exit("stop", 0)
        # stop returned only once the process had gone.
        self.assertFalse(alive(pid), f"pid {pid} still runs after stop returned")
        self.assertFalse(os.path.exists(self.pidfile), "stop left the pid file")
        self.assertIsNone(ping(self.port))
        self.assert_exit("status", NOT_RUNNING)
        # stop on a stopped server is a success.
        self.assert_exit("stop", 0)

    def test_restart_gives_a_new_process(self):
        self.assert_exit("start", 0)
        first = self.assert_running()
        self.assert_exit("restart", 0)
        second = self.assert_running()
        self.assertNotEqual(first, second)
        self.assertFalse(alive(first))
        self.assert_exit("force-reload", 0)
        third = self.assert_running()
        self.assertNotEqual(second, third)
        self.assert_exit("stop", 0)
        self.assertFalse(alive(third))

    def tearDown(self):
        leftovers = {pid for pid in self.servers_in_tmp() if alive(pid)}
        self.assertEqual(leftovers, set(), "the script left a server running")

    def test_stale_pid_file(self):
        # The pid of a process that has exited (and been reaped).
        os.makedirs(os.path.dirname(self.pidfile), exist_ok=True)
        if self.user:
            shutil.chown(os.path.dirname(self.pidfile), self.user, self.user)
        gone = run(["sh", "-c", "echo $$"], check=True).stdout.strip()
        with open(self.pidfile, "w", encoding="ascii") as pidfile:
            pidfile.write(gone + "\n")
        self.assert_exit("status", DEAD_WITH_PIDFILE)
        # The classic script refused to start forever here.
        self.assert_exit("start", 0)
        pid = self.assert_running()
        self.assertNotEqual(str(pid), gone)
        self.assert_exit("stop", 0)
        self.assertFalse(alive(pid))

    def test_failed_start_is_reported(self):
        # The port is taken: redis-server cannot listen and exits.
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
            squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            squatter.bind(("127.0.0.1", self.port))
            squatter.listen(1)
            result = self.assert_exit("start", 1, START_TIMEOUT="3")
        self.assertNotIn("running (pid", result.stdout)
        pid = self.pid()
        self.assertTrue(pid is None or not alive(pid), "a failed start left a server running")
        self.assertNotEqual(self.script("status").returncode, RUNNING)

    def test_pid_dir_the_server_cannot_write(self):
        # Redis would run on without its pid file, out of the script's reach.
        if not self.user:
            self.skipTest("needs root and a redis user")
        os.makedirs(os.path.dirname(self.pidfile), mode=0o755)
        result = self.assert_exit("start", 6)
        self.assertIn("cannot write the pid file's directory", result.stderr)
        self.assertIsNone(ping(self.port))

    def test_bad_config_and_usage(self):
        missing = os.path.join(self.tmp, "missing.conf")
        self.assert_exit("start", 6, REDIS_CONF=missing, REDIS_RK_DEFAULTS="/dev/null",
                         REDIS_PIDFILE=self.pidfile, RK_STATE_DIR="")
        bad = self.write("bad.conf", "port not-a-number\n")
        self.assert_exit("start", 1, REDIS_CONF=bad, REDIS_RK_DEFAULTS="/dev/null",
                         REDIS_PIDFILE=self.pidfile, REDIS_USER="", RK_STATE_DIR="")
        self.assertIsNone(self.pid())
        self.assert_exit("no-such-action", 2)
        self.assert_exit("", 2)


if __name__ == "__main__":
    installkit.main()
