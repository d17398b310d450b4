"""Command lines: bad invocations exit 2 with one line on stderr and touch no
Redis; --version, --help and --config work."""
import os
import pwd
import re
import shutil
import subprocess
import tempfile

import itkit
from itkit import ToolTestCase, populate, setUpModule  # noqa: F401

HOOKS = ("redis_master", "redis_backup", "redis_fault", "redis_stop")


class InvocationTest(ToolTestCase):

    def setUp(self):
        super().setUp()
        # Two masters with data: a hook that wrongly went ahead would send
        # them commands (and redis_master would demote one of them).
        self.local = self.server()
        self.peer = self.server()
        self.conns = []
        self.addCleanup(self.close_conns)
        self.restore()
        self.subs = {"L": self.local.port, "P": self.peer.port, "S": self.state_dir,
                     "T": self.tmp, "I": self.instance}

    # Argument lists with one item replaced (None drops the option).
    def hook(self, **over):
        opts = {"host": "127.0.0.1", "port": "{L}", "peer": "127.0.0.1:{P}",
                "state-dir": "{S}", "instance": "{I}", "timeout": "500",
                "sync-timeout": "2"}
        return self._opts(opts, over)

    def check(self, **over):
        opts = {"host": "127.0.0.1", "port": "{L}", "state-dir": "{S}",
                "instance": "{I}", "timeout": "500"}
        return self._opts(opts, over)

    @staticmethod
    def _opts(opts, over):
        for k, v in over.items():
            opts[k.replace("_", "-")] = v
        out = []
        for k, v in opts.items():
            if v is not None:
                out += [f"--{k}", v]
        return out

    def cases(self):
        pw644 = self.write_file("pw644", "secret\n", 0o644)
        self.write_file("afile", "not a directory\n")
        bad_syntax = self.write_file("syntax.conf", "this line has no equals sign\n")
        bad_key = self.write_file("key.conf", "no_such_option = 1\n")
        bad_port = self.write_file("port.conf", "port = abc\n")
        cases = []
        for tool in HOOKS:
            cases.append((f"{tool} unknown option", tool, self.hook() + ["--no-such-option"]))
        cases += [
            ("check unknown option", "redis_check", self.check() + ["--no-such-option"]),
            ("status unknown option", "redis_status", self.check() + ["--no-such-option"]),
            ("master extra positional", "redis_master",
             self.hook(host=None, port=None, peer=None) + ["127.0.0.1", "127.0.0.1", "{L}", "x"]),
            ("backup extra positional", "redis_backup",
             self.hook(host=None, port=None, peer=None) + ["127.0.0.1", "127.0.0.1", "{L}", "x"]),
            ("check extra positional", "redis_check",
             self.check(host=None, port=None) + ["127.0.0.1", "{L}", "x"]),
            ("check positional port abc", "redis_check",
             self.check(host=None, port=None) + ["127.0.0.1", "abc"]),
            ("master positional bad host", "redis_master",
             self.hook(host=None, port=None, peer=None) + ["300.1.1.1", "127.0.0.1", "{L}"]),
            # The classic form is all three positionals or none.
            ("master classic form without PORT", "redis_master",
             self.hook(host=None, port=None, peer=None) + ["127.0.0.1", "127.0.0.2"]),
            ("backup classic form with LOCAL_HOST only", "redis_backup",
             self.hook(host=None, port=None, peer=None) + ["127.0.0.1"]),
            ("status classic form without PORT", "redis_status",
             self.check(host=None, port=None) + ["127.0.0.1", "127.0.0.2"]),
            ("master peer is the local Redis", "redis_master",
             self.hook(host=None, port=None, peer=None) + ["127.0.0.1", "127.0.0.1", "{L}"]),
        ]
        for port in ("0", "70000", "abc", "-1", ""):
            cases.append((f"master port {port!r}", "redis_master", self.hook(port=port)))
            cases.append((f"check port {port!r}", "redis_check", self.check(port=port)))
        for peer in ("127.0.0.1:0", "127.0.0.1:70000", "127.0.0.1:abc", "300.1.1.1:{P}", ""):
            cases.append((f"master peer {peer!r}", "redis_master", self.hook(peer=peer)))
        for host in ("300.1.1.1", "::zz", ""):
            cases.append((f"master host {host!r}", "redis_master", self.hook(host=host)))
            cases.append((f"check host {host!r}", "redis_check", self.check(host=host)))
        missing = os.path.join(self.tmp, "missing")
        for tool, base, no_port in (("redis_master", self.hook(), self.hook(port=None)),
                                    ("redis_check", self.check(), self.check(port=None))):
            cases += [
                (f"{tool} password file 0644", tool, base + ["--password-file", pw644]),
                (f"{tool} password file missing", tool, base + ["--password-file", missing]),
                (f"{tool} config missing", tool, base + ["--config", missing]),
                (f"{tool} config without '='", tool, base + ["--config", bad_syntax]),
                (f"{tool} config unknown key", tool, base + ["--config", bad_key]),
                # The port comes from the file only, so its value is used.
                (f"{tool} config port abc", tool, no_port + ["--config", bad_port]),
            ]
        cases += [
            ("master state dir under a file", "redis_master",
             self.hook(state_dir="{T}/afile/state")),
            ("stop port abc", "redis_stop", self.hook(port="abc")),
            ("fault host 300.1.1.1", "redis_fault", self.hook(host="300.1.1.1")),
            ("stop state dir under a file", "redis_stop", self.hook(state_dir="{T}/afile/state")),
            ("master --on-sync-timeout bogus", "redis_master",
             self.hook() + ["--on-sync-timeout", "bogus"]),
            ("master --timeout abc", "redis_master", self.hook(timeout="abc")),
            ("master --sync-timeout abc", "redis_master", self.hook(sync_timeout="abc")),
            ("backup --pause-ms abc", "redis_backup", self.hook() + ["--pause-ms", "abc"]),
        ]
        return cases

    def close_conns(self):
        for c in self.conns:
            c.close()
        self.conns = []

    def restore(self):
        """Both servers masters with their own 10 keys, whatever a previous
        (wrongly accepted) invocation did to them."""
        for srv, prefix in ((self.local, "local"), (self.peer, "peer")):
            srv.call("REPLICAOF", "NO", "ONE")
            srv.call("FLUSHALL")
            populate(srv, 10, prefix)

    def reset_stats(self):
        """Zero the command counters, on connections kept for commands_seen()
        (fresh ones: a hook that went ahead may have killed the old ones)."""
        self.close_conns()
        self.conns = [s.client() for s in (self.local, self.peer)]
        for c in self.conns:
            c.call("CONFIG", "RESETSTAT")

    # Looking is not doing: a probe before the tool notices its bad
    # configuration changes nothing, so only other commands count.
    READ_ONLY = {"config|resetstat", "ping", "auth", "info", "role", "hello", "command"}

    def commands_seen(self):
        """Commands run on either server since reset_stats(), except our own
        and read-only probes."""
        seen = {}
        for srv, c in zip((self.local, self.peer), self.conns):
            try:
                stats = c.call("INFO", "commandstats")
            except (ConnectionError, OSError):
                seen[f"{srv.port}:our connection"] = "closed by the server"
                stats = srv.call("INFO", "commandstats")
            for line in stats.splitlines():
                m = re.match(r"cmdstat_([^:]+):calls=(\d+),.*rejected_calls=(\d+)"
                             r",failed_calls=(\d+)", line)
                if m and m.group(1) not in self.READ_ONLY:
                    seen[f"{srv.port}:{m.group(1)}"] = line
        return seen

    def test_bad_invocations_exit_2(self):
        for name, tool, args in self.cases():
            argv = [a.format(**self.subs) for a in args]
            with self.subTest(name):
                self.reset_stats()
                r = self.run_tool(tool, *argv, common=False, timeout=15)
                seen = self.commands_seen()
                roles = (self.role(self.local), self.role(self.peer))
                try:
                    self.assertRc(r, 2)
                    lines = r.stderr.strip().splitlines()
                    self.assertEqual(len(lines), 1, f"stderr is not one line: {r!r}")
                    self.assertEqual(seen, {},
                                     f"Redis got commands from a bad invocation: {r!r}")
                    self.assertEqual(roles, ("master", "master"),
                                     f"a bad invocation changed roles: {r!r}")
                    self.assert_all_keys(self.local, 10, "local")
                    self.assert_all_keys(self.peer, 10, "peer")
                finally:
                    if roles != ("master", "master") or seen or r.rc != 2:
                        self.restore()

    def test_runs_like_keepalived_runs_it(self):
        # keepalived runs scripts with umask 0177, cwd /, stdio on /dev/null,
        # no supplementary groups, often as an unprivileged script user.
        base = tempfile.mkdtemp(prefix="rk-ka-")
        self.addCleanup(shutil.rmtree, base, True)
        os.chmod(base, 0o755)
        bin_dir = os.path.join(base, "bin")
        os.mkdir(bin_dir)
        for tool in itkit.TOOLS:  # a copy every user can reach
            shutil.copy(itkit.tool_path(tool), bin_dir)
        os.chmod(bin_dir, 0o755)
        work = os.path.join(base, "work")
        os.mkdir(work, 0o700)
        uid = gid = None
        if os.geteuid() == 0:
            try:
                pw = pwd.getpwnam("nobody")
                uid, gid = pw.pw_uid, pw.pw_gid
            except KeyError:
                uid = gid = 65534
            os.chown(work, uid, gid)
        state = os.path.join(work, "state")
        log = os.path.join(work, "hook.log")

        def as_keepalived():
            os.umask(0o177)
            os.chdir("/")
            if uid is not None:
                os.setgroups([])
                os.setgid(gid)
                os.setuid(uid)

        def run(tool, *args):
            argv = [os.path.join(bin_dir, tool), "--state-dir", state, "--instance",
                    self.instance, "--log-file", log, *args]
            return subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, preexec_fn=as_keepalived,
                                  timeout=20).returncode

        def state_mode():
            try:
                return oct(os.stat(state).st_mode & 0o7777)
            except OSError as exc:
                return repr(exc)

        check = ["--host", "127.0.0.1", "--port", str(self.local.port), "--timeout", "500"]
        hook = ["--host", "127.0.0.1", "--port", str(self.local.port),
                "--peer", f"127.0.0.1:{itkit.free_port()}"]
        # keepalived runs notify_backup first at start-up; the hooks create
        # the state dir (redis_check never does: see redis_check(1)).
        self.assertEqual(run("redis_fault", *hook), 0,
                         f"redis_fault under umask 0177 as uid {uid}; "
                         f"the state dir it created has mode {state_mode()}")
        self.assertEqual(state_mode(), "0o700")
        self.assertEqual(itkit.read_state(os.path.join(state, f"{self.instance}.state"))
                         .get("state"), "FAULT")
        for attempt in (1, 2):
            self.assertEqual(run("redis_check", *check), 0,
                             f"redis_check run {attempt} under umask 0177 as uid {uid}")
        self.assertEqual(itkit.read_text(os.path.join(state, f"{self.instance}.health")).strip(),
                         "healthy")
        self.assertEqual(run("redis_master", *hook), 0)
        self.assert_role(self.local, "master")
        self.assertEqual(itkit.read_state(os.path.join(state, f"{self.instance}.state"))
                         .get("state"), "MASTER")
        self.assertIn("verdict=", itkit.read_text(log))

    def test_every_built_tool_is_tested(self):
        # --version, --help and the keepalived-like run go over itkit.TOOLS:
        # a tool missing there would be built and installed untested.
        bin_dir = os.environ["RK_BIN_DIR"]
        built = {name for name in os.listdir(bin_dir) if name.startswith("redis_")
                 and os.access(os.path.join(bin_dir, name), os.X_OK)}
        self.assertEqual(built - set(itkit.TOOLS), set(),
                         f"tools in {bin_dir} that itkit.TOOLS does not list")

    def test_version(self):
        for tool in itkit.TOOLS:
            with self.subTest(tool):
                r = self.run_tool(tool, "--version", common=False, timeout=10)
                self.assertRc(r, 0)
                self.assertRegex(r.stdout + r.stderr, r"\d+\.\d+")

    def test_help_lists_exit_codes(self):
        for tool in itkit.TOOLS:
            with self.subTest(tool):
                r = self.run_tool(tool, "--help", common=False, timeout=10)
                self.assertRc(r, 0)
                block = re.search(r"(?ms)^Exit status:\n(.*?)(?:\n\n|\Z)", r.stdout)
                self.assertIsNotNone(block, f"no 'Exit status:' block in {tool} --help")
                listed = {int(code) for code in re.findall(r"(?m)^  (\d)  \S", block[1])}
                # Only the notify hooks can be superseded (exit 3).
                self.assertEqual(listed, {0, 1, 2, 3} if tool in HOOKS else {0, 1, 2})
                if tool in HOOKS:
                    self.assertRegex(block[1], r"(?i)supersed")

    def test_config_file_options_apply(self):
        # Keys without inner dashes, so the test does not depend on how
        # "state-dir" is spelled in a file; that one stays on the command line.
        state = ["--state-dir", self.state_dir]
        good = self.write_file("good.conf", f"host = 127.0.0.1\nport = {self.local.port}\n"
                          f"timeout = 500\ninstance = {self.instance}\n")
        r = self.run_tool("redis_check", *state, "--config", good, common=False, timeout=10)
        self.assertRc(r, 0)
        dead = self.write_file("dead.conf", f"host = 127.0.0.1\nport = {itkit.free_port()}\n"
                          f"timeout = 500\ninstance = {self.instance}\n")
        r = self.run_tool("redis_check", *state, "--config", dead, common=False, timeout=10)
        self.assertRc(r, 1)


if __name__ == "__main__":
    itkit.main()
