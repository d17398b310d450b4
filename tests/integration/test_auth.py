"""The hooks as an ACL user with only the commands they need, with the
password from a 0600 file or from REDISCLI_AUTH; a wrong password changes
nothing and no password is ever logged."""
import os
import re

import itkit
from itkit import ToolTestCase, populate, setUpModule  # noqa: F401

HOOK_PW = "Hk-pw-5e1d0c"
REPL_PW = "Rp-pw-93a7f2"
ADMIN_PW = "Ad-pw-40b8e6"
WRONG_PW = "Wr-pw-77c1aa"

ACL_CONFIG = [
    "user default off",
    f"user admin on >{ADMIN_PW} ~* &* +@all",
    f"user hook on >{HOOK_PW} +ping +info +role +replicaof +config|rewrite "
    "+client|kill +client|pause +client|unpause",
    f"user repl on >{REPL_PW} +psync +replconf +ping",
    "masteruser repl",
    f"masterauth {REPL_PW}",
]

AUTH_WORDS = re.compile(r"(?i)auth|password|WRONGPASS|credential|denied")


class AuthTest(ToolTestCase):

    def acl_server(self):
        return self.server(ACL_CONFIG, auth=("admin", ADMIN_PW))

    def assert_no_secret(self, result):
        for pw in (HOOK_PW, WRONG_PW, REPL_PW):
            self.assertNotIn(pw, result.log, "a password is in the log file")
            self.assertNotIn(pw, result.stderr, "a password is on stderr")
            self.assertNotIn(pw, result.stdout, "a password is on stdout")

    def synced_pair(self, keys=200):
        peer = self.acl_server()
        local = self.acl_server()
        populate(peer, keys)
        self.replicate(local, peer)  # uses masteruser/masterauth
        return local, peer

    def test_check_as_acl_user(self):
        srv = self.acl_server()
        args = ["--host", "127.0.0.1", "--port", str(srv.port), "--user", "hook",
                "--timeout", "500"]
        good = self.password_file(HOOK_PW, name="good")
        bad = self.password_file(WRONG_PW, name="bad")
        cases = [
            ("password file", ["--password-file", good], None, 0),
            ("REDISCLI_AUTH", [], {"REDISCLI_AUTH": HOOK_PW}, 0),
            ("wrong password file", ["--password-file", bad], None, 1),
            ("wrong REDISCLI_AUTH", [], {"REDISCLI_AUTH": WRONG_PW}, 1),
            # A user without any password may also be refused as a
            # configuration error (2): either way the check fails.
            ("no password", [], None, (1, 2)),
        ]
        for name, extra, env, rc in cases:
            with self.subTest(name):
                r = self.run_tool("redis_check", *args, *extra, env=env, timeout=10)
                self.assertRc(r, *(rc if isinstance(rc, tuple) else (rc,)))
                self.assert_no_secret(r)

    def test_master_with_password_file(self):
        local, peer = self.synced_pair()
        pw = self.password_file(HOOK_PW)
        r = self.run_tool("redis_master", *self.hook_args(local.port, peer.port),
                          "--user", "hook", "--password-file", pw, timeout=60)
        self.assertRc(r, 0)
        self.assert_role(local, "master")
        self.assert_all_keys(local, 200)
        self.assert_role(peer, "slave", master_port=local.port)
        self.wait_link_up(peer, local, timeout=15)
        self.assert_no_secret(r)

    def test_log_file_is_private(self):
        srv = self.acl_server()
        r = self.run_tool("redis_check", "--host", "127.0.0.1", "--port", str(srv.port),
                          "--user", "hook", env={"REDISCLI_AUTH": HOOK_PW}, timeout=10)
        self.assertRc(r, 0)
        mode = os.stat(self.log_file).st_mode & 0o777
        self.assertEqual(mode, 0o600, f"log file mode {mode:o}")

    def test_backup_with_rediscli_auth(self):
        peer = self.acl_server()
        local = self.acl_server()
        populate(peer, 200)
        r = self.run_tool("redis_backup", *self.hook_args(local.port, peer.port),
                          "--user", "hook", "--sync-timeout", "20", "--backup-grace", "1",
                          env={"REDISCLI_AUTH": HOOK_PW}, timeout=40)
        self.assertRc(r, 0)
        self.assert_role(local, "slave", master_port=peer.port)
        self.wait_link_up(local, peer, timeout=20)
        self.assert_all_keys(local, 200)
        self.assert_no_secret(r)

    def test_wrong_password_changes_nothing(self):
        local, peer = self.synced_pair()
        bad = self.password_file(WRONG_PW)
        for tool in ("redis_master", "redis_backup"):
            with self.subTest(tool):
                for s in (local, peer):
                    s.call("CONFIG", "RESETSTAT")
                r = self.run_tool(tool, *self.hook_args(local.port, peer.port),
                                  "--user", "hook", "--password-file", bad,
                                  "--sync-timeout", "2", timeout=30)
                self.assertRc(r, 1)
                self.assertTrue([ln for ln in r.log.splitlines() if AUTH_WORDS.search(ln)],
                                f"no log line says authentication failed: {r!r}")
                self.assert_no_secret(r)
                for s in (local, peer):
                    stats = s.call("INFO", "commandstats")
                    acted = re.findall(r"cmdstat_(replicaof|config\|rewrite|client\|\w+)"
                                       r":calls=([1-9]\d*)", stats)
                    self.assertEqual(acted, [], f"port {s.port} was changed:\n{stats}")
                self.assert_role(local, "slave", master_port=peer.port)
                self.assert_role(peer, "master")
        self.assert_all_keys(local, 200)


if __name__ == "__main__":
    itkit.main()
