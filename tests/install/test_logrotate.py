"""/etc/logrotate.d/redis-keepalived as cmake --install puts it: logrotate
reads it without an error (logrotate -d), and a forced rotation, run for
real in a private mount namespace over a temporary /var/log and /run,
creates the new log 0600 for keepalived_script and makes a running
redis_watch (found through the sample init script's pid file) reopen its log
there; with no watcher at all the rotation still succeeds. The postrotate
script passes sh -n and shellcheck.

Skipped (77) without logrotate (Debian: logrotate); the rotation needs root,
unshare and start-stop-daemon.
"""
import os
import re
import shutil
import stat

import installkit
from installkit import free_port, run

LOG = "/var/log/redis-keepalived.log"


class Logrotate(installkit.TempDirTestCase):
    def setUp(self):
        super().setUp()
        self.prefix = installkit.install_tree(os.path.join(self.tmp, "prefix"))
        self.conf = os.path.join(self.prefix, "etc", "logrotate.d", "redis-keepalived")

    def test_installed_with_the_other_configuration(self):
        self.assertTrue(os.path.isfile(self.conf), f"{self.conf} is not installed")
        self.assertEqual(stat.S_IMODE(os.stat(self.conf).st_mode), 0o644)
        with open(self.conf, encoding="utf-8") as conf:
            text = conf.read()
        self.assertIn(LOG + " {", text)
        self.assertRegex(text, r"(?m)^\s+create 0600 keepalived_script keepalived_script$")

    def test_postrotate_is_plain_sh(self):
        with open(self.conf, encoding="utf-8") as conf:
            match = re.search(r"(?ms)^\s*postrotate\n(.*?)^\s*endscript", conf.read())
        self.assertIsNotNone(match, "no postrotate script")
        script = os.path.join(self.tmp, "postrotate.sh")
        with open(script, "w", encoding="utf-8") as out:
            out.write("#!/bin/sh\n" + match.group(1))
        run(["sh", "-n", script], check=True)
        if shutil.which("shellcheck"):
            result = run(["shellcheck", "--shell", "sh", "--severity", "style", script])
            self.assertEqual(result.returncode, 0, result.stdout + result.stderr)

    def namespace_script(self, body):
        """Runs BODY (sh) as root in a private mount namespace where /run is
        an empty tmpfs, /var/log an empty directory, and keepalived_script
        exists (added to copies of /etc/passwd and /etc/group when the host
        lacks it). Returns the CompletedProcess."""
        if os.geteuid() != 0 or not shutil.which("unshare"):
            self.skipTest("needs root and unshare")
        if not shutil.which("start-stop-daemon"):
            self.skipTest("needs start-stop-daemon (Debian: dpkg)")
        log_dir = os.path.join(self.tmp, "log")
        os.mkdir(log_dir, 0o755)
        mounts = [f"mount -t tmpfs tmpfs /run", f"mount --bind {log_dir} /var/log"]
        if run(["getent", "passwd", "keepalived_script"]).returncode != 0:
            for name, line in (("passwd", "keepalived_script:x:64999:64999::/nonexistent:"
                                          "/usr/sbin/nologin\n"),
                               ("group", "keepalived_script:x:64999:\n")):
                copy = os.path.join(self.tmp, name)
                shutil.copy(f"/etc/{name}", copy)
                with open(copy, "a", encoding="utf-8") as table:
                    table.write(line)
                mounts.append(f"mount --bind {copy} /etc/{name}")
        script = "set -e\n" + "\n".join(mounts) + "\n" + body
        return run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                   timeout=60)

    def test_logrotate_reads_it_without_error(self):
        result = self.namespace_script(
            f"logrotate -d -s {self.tmp}/state {self.conf}\n")
        output = result.stdout + result.stderr
        self.assertEqual(result.returncode, 0, output)
        self.assertNotRegex(output, r"(?im)^error", output)
        self.assertIn(LOG, output)

    def test_rotation_without_a_watcher_succeeds(self):
        result = self.namespace_script(f"""
            install -m 0600 -o keepalived_script -g keepalived_script /dev/null {LOG}
            echo "a line" >> {LOG}
            logrotate -f -s {self.tmp}/state {self.conf}
            stat -c '%a %U %G' {LOG}
            cat {LOG}.1
        """)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertEqual(result.stdout.splitlines(),
                         ["600 keepalived_script keepalived_script", "a line"])

    def test_rotation_makes_the_watcher_reopen_its_log(self):
        watch = os.path.join(self.prefix, "bin", "redis_watch")
        state = os.path.join(self.tmp, "state-dir")
        os.mkdir(state, 0o700)
        # No Redis at that port: the watcher runs all the same (its track
        # file says 1), and logs SIGHUP like any watcher.
        result = self.namespace_script(f"""
            install -m 0600 -o keepalived_script -g keepalived_script /dev/null {LOG}
            {watch} --port {free_port()} --track-file {self.tmp}/track --state-dir {state} \
                --log-file {LOG} --interval-ms 1000 2>/dev/null &
            pid=$!
            trap 'kill $pid 2>/dev/null || true' EXIT
            echo $pid > /run/redis-watch.pid
            waited=0
            until grep -q "watching" {LOG}; do
                waited=$((waited + 1)); [ $waited -lt 200 ] || exit 3; sleep 0.05
            done
            logrotate -f -s {self.tmp}/state {self.conf}
            waited=0
            until grep -q "SIGHUP: log reopened" {LOG}; do
                waited=$((waited + 1)); [ $waited -lt 200 ] || exit 4; sleep 0.05
            done
            stat -c '%a %U %G' {LOG}
            grep -c "watching" {LOG}.1
            kill -0 $pid
        """)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertEqual(result.stdout.splitlines(),
                         ["600 keepalived_script keepalived_script", "1"])


if __name__ == "__main__":
    if not shutil.which("logrotate"):
        installkit.skip("logrotate is not installed (Debian: logrotate)")
    installkit.main()
