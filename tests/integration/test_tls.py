"""TLS (--tls, --cacert, --cacertdir, --cert, --key, --sni, --insecure, or
the same keys in --config): the tools verify the server's chain and name,
give a client certificate when asked, fail within --timeout with one log
line that says why, refuse inconsistent TLS options as usage errors (exit 2,
nothing sent), and drive replication between TLS-only servers."""
import os

import itkit
from itkit import MARGIN, ToolTestCase, populate, setUpModule  # noqa: F401
from rediskit import RedisServer, TlsClient
import tlskit

# Reason phrases (case-insensitive) of the one log line a failed check writes.
VERIFY_FAILED = r"certificate verify failed"
UNKNOWN_ISSUER = r"local issuer|self.signed"
EXPIRED = r"expired"
MISMATCH = r"mismatch"
NO_CLIENT_CERT = r"certificate required|handshake|alert"
PLAIN_TO_TLS = r"TLS port\?|closed"
TLS_TO_PLAIN = r"does not speak TLS"


class TlsTest(ToolTestCase):

    def setUp(self):
        super().setUp()
        cert_dir = tlskit.cert_dir(self.tmp)
        self.certs = tlskit.make_all(cert_dir)
        self.runs = 0

    # ---- servers -------------------------------------------------------
    def tls_server(self, cert=None, auth_clients="no", replication=False, extra=()):
        """A TLS-only server (port 0, tls-port) presenting CERT (default:
        the good server certificate); our own clients give the client
        certificate and verify nothing."""
        port = itkit.free_port()
        config = tlskit.server_config(port, cert or self.certs.server, self.certs.ca,
                                      auth_clients=auth_clients, replication=replication)
        harness = TlsClient(self.certs.client.cert, self.certs.client.key)
        srv = RedisServer(port=port, extra_config=list(itkit.BASE_CONFIG) + config
                          + list(extra), tls=harness)
        self.addCleanup(srv.cleanup)
        return srv.start()

    # ---- tool runs -----------------------------------------------------
    def tls_args(self, *extra, ca=True):
        return ["--tls", *(["--cacert", self.certs.ca.cert] if ca else []), *extra]

    def check(self, port, *args, timeout_ms=500):
        """One redis_check run with a state and log file of its own, so a
        failure always is a change of health and logs its one line."""
        self.runs += 1
        log = os.path.join(self.tmp, f"check-{self.runs}.log")
        argv = ["--state-dir", self.state_dir, "--instance", f"{self.instance}c{self.runs}",
                "--log-file", log, "--host", "127.0.0.1", "--port", str(port),
                "--timeout", str(timeout_ms), *args]
        r = self.run_tool("redis_check", *argv, common=False, timeout=20)
        r.log = itkit.read_text(log)
        return r

    def assert_fails_with(self, result, *reasons, timeout_ms=500):
        """Exit 1 within the deadline, and exactly one log line, matching
        every regular expression in REASONS (case-insensitive)."""
        self.assertRc(result, 1)
        self.assertLess(result.elapsed, timeout_ms / 1000 + MARGIN,
                        f"not within the deadline: {result!r}")
        lines = result.log.strip().splitlines()
        self.assertEqual(len(lines), 1, f"not exactly one log line: {result!r}")
        for reason in reasons:
            self.assertRegex(lines[0], f"(?i){reason}", f"reason not logged: {result!r}")

    # ---- verification of the server -------------------------------------
    def test_good_chain_passes(self):
        srv = self.tls_server()
        with self.subTest("--cacert"):
            self.assertRc(self.check(srv.port, *self.tls_args()), 0)
        with self.subTest("--cacertdir"):
            capath = tlskit.make_ca_dir(os.path.join(self.tmp, "cas"), self.certs.ca)
            self.assertRc(self.check(srv.port, "--tls", "--cacertdir", capath), 0)
        with self.subTest("--cacertdir without the CA"):
            other = tlskit.make_ca_dir(os.path.join(self.tmp, "other-cas"),
                                       self.certs.unknown_ca)
            self.assert_fails_with(self.check(srv.port, "--tls", "--cacertdir", other),
                                   VERIFY_FAILED, UNKNOWN_ISSUER)
        with self.subTest("system CA store (no --cacert)"):
            # The test CA is in no system store.
            self.assert_fails_with(self.check(srv.port, "--tls"),
                                   VERIFY_FAILED, UNKNOWN_ISSUER)

    def test_unknown_ca_fails(self):
        srv = self.tls_server(self.certs.unknown_server)
        r = self.check(srv.port, *self.tls_args())
        self.assert_fails_with(r, VERIFY_FAILED, UNKNOWN_ISSUER)

    def test_insecure_accepts_unknown_ca(self):
        srv = self.tls_server(self.certs.unknown_server)
        self.assertRc(self.check(srv.port, *self.tls_args("--insecure")), 0)
        self.assertRc(self.check(srv.port, "--tls", "--insecure"), 0)

    def test_expired_certificate_fails(self):
        self.assertTrue(tlskit.is_expired(self.certs.expired.cert), "setup: not expired")
        srv = self.tls_server(self.certs.expired)
        r = self.check(srv.port, *self.tls_args())
        self.assert_fails_with(r, VERIFY_FAILED, EXPIRED)

    def test_wrong_host_name(self):
        srv = self.tls_server(self.certs.wrong_host)  # names only DNS:wrong.example
        with self.subTest("connect to 127.0.0.1"):
            self.assert_fails_with(self.check(srv.port, *self.tls_args()), MISMATCH)
        with self.subTest("--sni wrong.example"):
            self.assertRc(self.check(srv.port, *self.tls_args("--sni", "wrong.example")), 0)
        with self.subTest("--sni other.example"):
            self.assert_fails_with(self.check(srv.port, *self.tls_args("--sni", "other.example")),
                                   MISMATCH)
        with self.subTest("a good certificate does not name other.example either"):
            good = self.tls_server()
            self.assert_fails_with(
                self.check(good.port, *self.tls_args("--sni", "other.example")), MISMATCH)

    # ---- client certificates -------------------------------------------
    def test_client_certificate_required(self):
        srv = self.tls_server(auth_clients="yes")
        with self.subTest("no client certificate"):
            r = self.check(srv.port, *self.tls_args())
            self.assert_fails_with(r, NO_CLIENT_CERT)
            # The server's own certificate is good: that is not the reason.
            self.assertNotRegex(r.log, f"(?i){VERIFY_FAILED}", f"{r!r}")
        with self.subTest("client certificate from the CA"):
            r = self.check(srv.port, *self.tls_args("--cert", self.certs.client.cert,
                                                    "--key", self.certs.client.key))
            self.assertRc(r, 0)
        with self.subTest("client certificate from an unknown CA"):
            r = self.check(srv.port, *self.tls_args("--cert", self.certs.unknown_server.cert,
                                                    "--key", self.certs.unknown_server.key))
            self.assert_fails_with(r)

    def test_chain_file_symlinks_and_encrypted_key(self):
        # The files reach OpenSSL from memory (read by the tools' bounded
        # reader): a chain file still sends its extra certificates, symlinks
        # to regular files still work, and a key needing a passphrase is a
        # usage error that says so (a hook has no one to type it).
        srv = self.tls_server(auth_clients="yes")  # trusts the root CA only
        d = os.path.join(self.tmp, "tls")
        inter = tlskit.make_intermediate_ca(d, self.certs.ca)
        leaf = tlskit.make_client_cert(d, inter, "chained-client")
        chain = tlskit.make_chain_file(os.path.join(d, "chain.crt"), leaf, inter)
        with self.subTest("leaf and intermediate in --cert"):
            self.assertRc(self.check(srv.port, *self.tls_args("--cert", chain, "--key", leaf.key)),
                          0)
        with self.subTest("the leaf alone: the server cannot build the chain"):
            self.assert_fails_with(
                self.check(srv.port, *self.tls_args("--cert", leaf.cert, "--key", leaf.key)))
        with self.subTest("symlinks to --cacert, --cert and --key"):
            links = {}
            for name, target in (("ca", self.certs.ca.cert), ("cert", self.certs.client.cert),
                                 ("key", self.certs.client.key)):
                links[name] = os.path.join(self.tmp, f"link-{name}.pem")
                os.symlink(target, links[name])
            r = self.check(srv.port, "--tls", "--cacert", links["ca"], "--cert", links["cert"],
                           "--key", links["key"])
            self.assertRc(r, 0)
        with self.subTest("a key encrypted with a passphrase"):
            locked = tlskit.encrypt_key(self.certs.client.key, os.path.join(d, "locked.key"))
            r = self.check(srv.port, *self.tls_args("--cert", self.certs.client.cert,
                                                    "--key", locked))
            self.assertRc(r, 2)
            self.assertRegex(r.stderr, rf"--key {locked}: encrypted with a passphrase")

    # ---- TLS and plain text mixed up -------------------------------------
    def test_plain_client_against_tls_port(self):
        srv = self.tls_server()
        self.assert_fails_with(self.check(srv.port), PLAIN_TO_TLS)

    def test_tls_client_against_plain_port(self):
        srv = self.server()
        self.assert_fails_with(self.check(srv.port, *self.tls_args()), TLS_TO_PLAIN)

    # ---- the config file -----------------------------------------------
    def test_options_from_config_file(self):
        srv = self.tls_server(self.certs.wrong_host, auth_clients="yes")
        c = self.certs
        base = f"tls = true\ncacert = {c.ca.cert}\ncert = {c.client.cert}\nkey = {c.client.key}\n"
        with self.subTest("tls, cacert, cert, key, sni"):
            conf = self.write_file("all.conf", base + "sni = wrong.example\n")
            self.assertRc(self.check(srv.port, "--config", conf), 0)
        with self.subTest("without sni: the name does not match"):
            conf = self.write_file("nosni.conf", base)
            self.assert_fails_with(self.check(srv.port, "--config", conf), MISMATCH)
        with self.subTest("without cert and key: no client certificate"):
            conf = self.write_file("nocert.conf", f"tls = true\ncacert = {c.ca.cert}\n"
                              "sni = wrong.example\n")
            r = self.check(srv.port, "--config", conf)
            self.assert_fails_with(r, NO_CLIENT_CERT)
            self.assertNotRegex(r.log, f"(?i){VERIFY_FAILED}", f"{r!r}")
        with self.subTest("insecure"):
            unknown = self.tls_server(c.unknown_server)
            conf = self.write_file("insecure.conf", f"tls = true\ncacert = {c.ca.cert}\n"
                              "insecure = true\n")
            self.assertRc(self.check(unknown.port, "--config", conf), 0)
            conf = self.write_file("secure.conf", f"tls = true\ncacert = {c.ca.cert}\n")
            self.assert_fails_with(self.check(unknown.port, "--config", conf),
                                   VERIFY_FAILED, UNKNOWN_ISSUER)

    # ---- usage errors ----------------------------------------------------
    def connections(self, server):
        return int(server.info("stats")["total_connections_received"])

    def assert_usage_error(self, tool, args, servers, stderr_pattern):
        """Exit 2 at once, a message on stderr, and no connection to SERVERS
        (each INFO of ours is one connection)."""
        before = [self.connections(s) for s in servers]
        r = self.run_tool(tool, *args, common=False, timeout=15)
        after = [self.connections(s) for s in servers]
        self.assertRc(r, 2)
        self.assertLess(r.elapsed, 0.5 + MARGIN, f"usage error not at once: {r!r}")
        self.assertTrue(r.stderr.strip(), f"no message on stderr: {r!r}")
        self.assertRegex(r.stderr, f"(?i){stderr_pattern}", f"stderr does not say why: {r!r}")
        self.assertEqual([a - b for a, b in zip(after, before)], [1] * len(servers),
                         f"{tool} connected to Redis: {r!r}")

    def test_usage_errors(self):
        local = self.tls_server()
        peer = self.tls_server()
        c = self.certs
        check = ["--state-dir", self.state_dir, "--instance", self.instance,
                 "--host", "127.0.0.1", "--port", str(local.port), "--timeout", "500"]
        missing = os.path.join(self.tmp, "no-such-ca.crt")
        cases = [
            ("--cacert without --tls", ["--cacert", c.ca.cert], r"--tls"),
            ("--cacertdir without --tls", ["--cacertdir", self.tmp], r"--tls"),
            ("--cert/--key without --tls", ["--cert", c.client.cert, "--key", c.client.key],
             r"--tls"),
            ("--sni without --tls", ["--sni", "localhost"], r"--tls"),
            ("--insecure without --tls", ["--insecure"], r"--tls"),
            ("--cert without --key", self.tls_args("--cert", c.client.cert), r"--key"),
            ("--key without --cert", self.tls_args("--key", c.client.key), r"--cert"),
            ("--cacert naming a missing file", ["--tls", "--cacert", missing],
             r"no-such-ca\.crt|cacert"),
            ("key does not match the certificate",
             self.tls_args("--cert", c.client.cert, "--key", c.server.key), r"key"),
            ("cacert in the config file without tls",
             ["--config", self.write_file("notls.conf", f"cacert = {c.ca.cert}\n")], r"tls"),
        ]
        for name, extra, pattern in cases:
            with self.subTest(name):
                self.assert_usage_error("redis_check", check + extra, [local], pattern)
        # Every tool refuses TLS options without --tls before doing anything.
        hook = ["--state-dir", self.state_dir, "--instance", self.instance,
                *self.hook_args(local.port, peer.port), "--copy-dir", self.copy_dir]
        per_tool = {
            "redis_status": hook,
            "redis_master": hook,
            "redis_backup": hook,
            "redis_fault": hook,
            "redis_stop": hook,
            "redis_switchover": hook,
            "redis_watch": check + ["--track-file", os.path.join(self.tmp, "track")],
        }
        for tool, args in per_tool.items():
            with self.subTest(f"{tool} --cacert without --tls"):
                self.assert_usage_error(tool, args + ["--cacert", c.ca.cert],
                                        [local, peer], r"--tls")
        self.assert_role(local, "master")
        self.assert_role(peer, "master")

    # ---- other tools -----------------------------------------------------
    def test_status_reads_tls_servers(self):
        master = self.tls_server(replication=True)
        replica = self.tls_server(replication=True)
        populate(master, 10)
        self.replicate(replica, master)
        r = self.run_tool("redis_status", *self.hook_args(replica.port, master.port),
                          *self.tls_args("--cert", self.certs.client.cert,
                                         "--key", self.certs.client.key), timeout=20)
        self.assertRc(r, 0)
        self.assertIn(f"local 127.0.0.1:{replica.port}: replica of 127.0.0.1:{master.port}, "
                      "link up", r.stdout)
        self.assertRegex(r.stdout, rf"peer +127\.0\.0\.1:{master.port}: master")
        with self.subTest("without --cacert the servers are not trusted"):
            r = self.run_tool("redis_status", *self.hook_args(replica.port, master.port),
                              "--tls", timeout=20)
            self.assertRegex(r.stdout + r.stderr, rf"local 127\.0\.0\.1:{replica.port}: "
                             "unreachable", f"{r!r}")

    def test_backup_then_master_over_tls(self):
        # Client certificates required everywhere: on the replication link
        # each server presents its own tls-cert-file as client certificate.
        peer = self.tls_server(auth_clients="yes", replication=True)
        local = self.tls_server(auth_clients="yes", replication=True)
        populate(peer, 1000)
        tls = self.tls_args("--cert", self.certs.client.cert, "--key", self.certs.client.key)
        r = self.run_tool("redis_backup", *self.hook_args(local.port, peer.port),
                          "--backup-grace", "1", "--sync-timeout", "20", *tls, timeout=40)
        self.assertRc(r, 0)
        self.assertLess(r.elapsed, 20 + 1 + MARGIN + 2, f"not bounded: {r!r}")
        self.assert_role(local, "slave", master_port=peer.port)
        self.wait_link_up(local, peer, timeout=20)
        self.assert_all_keys(local, 1000)

        populate(peer, 200, prefix="late")  # streamed over the TLS link
        r = self.run_tool("redis_master", *self.hook_args(local.port, peer.port),
                          "--sync-timeout", "20", *tls, timeout=60)
        self.assertRc(r, 0)
        self.assertIn("promoted", r.log)
        self.assert_role(local, "master")
        self.assert_all_keys(local, 1000)
        self.assert_all_keys(local, 200, prefix="late")
        self.assert_role(peer, "slave", master_port=local.port)
        self.wait_link_up(peer, local, timeout=20)
        self.assert_all_keys(peer, 1000)

    def test_kept_copy_is_fetched_over_tls(self):
        # The losing side of a split keeps its dataset (REPLCONF rdb-only,
        # PSYNC over the hooks' TLS connection) before its resync.
        a = self.tls_server(replication=True)
        b = self.tls_server(replication=True)
        self.split(a, b, 40, old_master_keys=300)
        r = self.run_tool("redis_backup", *self.node_args("b", b, a), "--backup-grace", "0",
                          *self.tls_args(), common=False, timeout=40)
        self.assertRc(r, 0)
        self.assertIn("kept a copy of the local Redis's dataset", r.stderr)
        [copy] = os.listdir(self.copy_dir)
        with open(os.path.join(self.copy_dir, copy), "rb") as f:
            self.assertEqual(f.read(5), b"REDIS")
        self.wait_link_up(b, a, timeout=20)

    def test_watch_over_tls(self):
        srv = self.tls_server()
        track = os.path.join(self.tmp, "redis.watch")
        self.start_tool("redis_watch", "--host", "127.0.0.1", "--port", str(srv.port),
                        "--track-file", track, "--interval-ms", "100", "--timeout", "300",
                        *self.tls_args())

        def value():
            return itkit.read_text(track).strip() if os.path.exists(track) else None
        itkit.wait_until(lambda: value() == "0", 5, what="0 from the watcher over TLS")
        srv.kill()
        srv.proc.wait()
        itkit.wait_until(lambda: value() == "1", 3, what="1 after the TLS server died")


if __name__ == "__main__":
    itkit.main()
