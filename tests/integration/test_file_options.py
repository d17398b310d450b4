"""Every file option of every tool (--password-file, --config, --cacert,
--cacertdir, --cert, --key, redis_switchover's --keepalived-conf) refuses a
FIFO and a 50 MiB file at once: exit 2, one line naming the option, the file
and the problem, within the tool's deadline (redis_check: --timeout), and
nothing done to Redis. Opened with a blocking open(), a FIFO with no writer
hung the tools for good; a huge CA bundle ran redis_check far past
--timeout."""
import os

import itkit
from itkit import KEEPALIVED_CONF, MARGIN, ToolTestCase, setUpModule  # noqa: F401
from rediskit import RedisServer, TlsClient
import tlskit

CHECK_TIMEOUT_MS = 500
# The other tools have no single deadline: "at once" is this.
OTHER_BOUND_S = 3.0
BIG_BYTES = 50 * 1024 * 1024
# A name OpenSSL's CApath lookup reads (8 hex digits, a dot, a number).
HASHED_NAME = "0123abcd.0"


class FileOptionsTest(ToolTestCase):

    def setUp(self):
        super().setUp()
        cert_dir = tlskit.cert_dir(self.tmp)
        self.ca = tlskit.make_ca(cert_dir)
        self.client = tlskit.make_client_cert(cert_dir, self.ca)
        self.fifo = os.path.join(self.tmp, "fifo")
        os.mkfifo(self.fifo, 0o600)
        # Sparse: 50 MiB to stat() and read(), no disk used.
        self.big = os.path.join(self.tmp, "big")
        with open(self.big, "wb") as f:
            f.truncate(BIG_BYTES)
        os.chmod(self.big, 0o600)  # so the password file's mode rule is not the reason
        self.flag = os.path.join(self.tmp, "maintenance")
        self.ka_conf = self.write_file("keepalived.conf", KEEPALIVED_CONF.format(path=self.flag))
        # A replica and its master: redis_master would promote the replica,
        # redis_backup/fault/stop would act on it; none may.
        self.peer = self.server()
        self.local = self.server()
        self.replicate(self.local, self.peer)

    def tool_args(self, tool, keepalived_conf=None):
        """The arguments with which TOOL would run for real here."""
        local, peer = self.local.port, self.peer.port
        if tool == "redis_check":
            return ["--state-dir", self.state_dir, "--instance", self.instance,
                    "--log-file", self.log_file, "--host", "127.0.0.1", "--port", str(local),
                    "--timeout", str(CHECK_TIMEOUT_MS)]
        if tool == "redis_watch":
            return ["--state-dir", self.state_dir, "--instance", self.instance,
                    "--log-file", self.log_file, "--host", "127.0.0.1", "--port", str(local),
                    "--track-file", os.path.join(self.tmp, "redis.watch")]
        args = self.node_args("a", self.local, self.peer)
        if tool == "redis_switchover":
            args += ["--maintenance-file", self.flag,
                     "--keepalived-conf", keepalived_conf or self.ka_conf]
        return args

    def file_options(self, bad):
        """(option, path named in the error, arguments) giving BAD (a path)
        to each file option, with what that option needs beside it."""
        ca, client = self.ca.cert, self.client
        return [
            ("--password-file", bad, ["--password-file", bad]),
            ("--config", bad, ["--config", bad]),
            ("--cacert", bad, ["--tls", "--cacert", bad]),
            ("--cert", bad, ["--tls", "--cacert", ca, "--cert", bad, "--key", client.key]),
            ("--key", bad, ["--tls", "--cacert", ca, "--cert", client.cert, "--key", bad]),
        ]

    def ca_dir_holding(self, name, bad):
        """A --cacertdir with the good CA (rehashed) and BAD linked in under a
        hashed NAME, which OpenSSL's lookup would read. Returns (dir, path
        named in the error)."""
        directory = tlskit.make_ca_dir(os.path.join(self.tmp, f"cas-{name}"), self.ca)
        os.symlink(bad, os.path.join(directory, HASHED_NAME))
        return directory, os.path.join(directory, HASHED_NAME)

    def assert_refused(self, tool, args, option, path, problem):
        if option == "--keepalived-conf":
            tool_args, args = self.tool_args(tool, keepalived_conf=path), []
        else:
            tool_args = self.tool_args(tool)
        r = self.run_tool(tool, *tool_args, *args, common=False, timeout=20)
        bound = CHECK_TIMEOUT_MS / 1000 + MARGIN if tool == "redis_check" else OTHER_BOUND_S
        self.assertRc(r, 2)
        self.assertLess(r.elapsed, bound, f"not within the deadline: {r!r}")
        lines = r.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, f"not one line on stderr: {r!r}")
        self.assertIn(f"{tool}: error: {option} {path}: {problem}", lines[0], f"{r!r}")

    def test_fifo_and_huge_file_in_every_file_option_of_every_tool(self):
        too_large = f"too large ({BIG_BYTES} bytes; the bound is "
        fifo_dir, fifo_in_dir = self.ca_dir_holding("fifo", self.fifo)
        big_dir, big_in_dir = self.ca_dir_holding("big", self.big)
        for tool in itkit.TOOLS:
            cases = []
            for kind, bad, problem in (("FIFO", self.fifo, "not a regular file (a FIFO)"),
                                       ("50 MiB file", self.big, too_large)):
                for option, path, args in self.file_options(bad):
                    cases.append((f"{option} {kind}", args, option, path, problem))
            cases += [
                ("--cacertdir a FIFO", ["--tls", "--cacertdir", self.fifo], "--cacertdir",
                 self.fifo, "not a directory"),
                ("--cacertdir holding a FIFO", ["--tls", "--cacertdir", fifo_dir],
                 "--cacertdir", fifo_in_dir, "not a regular file (a FIFO)"),
                ("--cacertdir holding a 50 MiB file", ["--tls", "--cacertdir", big_dir],
                 "--cacertdir", big_in_dir, too_large),
            ]
            if tool == "redis_switchover":
                cases += [
                    ("--keepalived-conf FIFO", ["--keepalived-conf", self.fifo],
                     "--keepalived-conf", self.fifo, "not a regular file (a FIFO)"),
                    ("--keepalived-conf 50 MiB file", ["--keepalived-conf", self.big],
                     "--keepalived-conf", self.big, too_large),
                ]
            for name, args, option, path, problem in cases:
                with self.subTest(f"{tool} {name}"):
                    self.assert_refused(tool, args, option, path, problem)
        # Nothing was done: still a replica of its peer, the flag untouched.
        self.assert_role(self.local, "slave", master_port=self.peer.port)
        self.assert_role(self.peer, "master")
        self.assertFalse(os.path.exists(self.flag), "the maintenance flag was written")

    def test_the_same_files_when_regular_are_used(self):
        # The counterpart: the same options naming good files (symlinks
        # among them, as certificates often are) get the check through.
        port = itkit.free_port()
        server = tlskit.make_server_cert(os.path.join(self.tmp, "tls"), self.ca)
        harness = TlsClient(self.client.cert, self.client.key)
        srv = RedisServer(port=port, tls=harness, auth="s3cret",
                          extra_config=list(itkit.BASE_CONFIG)
                          + tlskit.server_config(port, server, self.ca, "yes")
                          + ["requirepass s3cret"])
        self.addCleanup(srv.cleanup)
        srv.start()
        password = self.password_file("s3cret")
        ca_dir = tlskit.make_ca_dir(os.path.join(self.tmp, "cas-good"), self.ca)
        conf = self.write_file("toolkit.conf", "tls = true\n")
        key_link = os.path.join(self.tmp, "client-key-link")
        os.symlink(self.client.key, key_link)
        r = self.run_tool("redis_check", "--state-dir", self.state_dir, "--instance",
                          self.instance, "--host", "127.0.0.1", "--port", str(port),
                          "--timeout", str(CHECK_TIMEOUT_MS), "--config", conf,
                          "--password-file", password, "--cacertdir", ca_dir,
                          "--cert", self.client.cert, "--key", key_link,
                          common=False, timeout=20)
        self.assertRc(r, 0)


if __name__ == "__main__":
    itkit.main()
