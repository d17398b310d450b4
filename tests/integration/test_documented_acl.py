"""The documented ACL is the one the features need. keepalived/redis-acl.conf
is the source: README.md, docs/operations.md and redis-keepalived.conf(5)
give its `user keepalived` line and what each permission is for, word for
word; and every tool reaches its success verdict against two servers that
have exactly that user (the default user off, replication through the
sample's replicator user): redis_check (plain, --witness, --fence-writes),
redis_backup, redis_master (a promotion with the paused comparison, a heal
that keeps a copy), redis_fault, redis_stop, redis_status (text and
--prometheus), redis_watch and redis_switchover."""
import os
import re
import threading
import time

import itkit
from itkit import KEEPALIVED_CONF, ToolTestCase, populate, setUpModule, wait_until  # noqa: F401
import samples

USER = "keepalived"
TOOLS_PASSWORD = "tools-pw-5e1c"
REPLICATION_PASSWORD = "repl-pw-93b0"
ADMIN = ("admin", "admin-pw-27d4")
TIMEOUT_MS = 500

README = os.path.join(samples.REPO, "README.md")
OPERATIONS = os.path.join(samples.REPO, "docs", "operations.md")
CONF_MAN_PAGE = os.path.join(samples.REPO, "man", "redis-keepalived.conf.5")


def read(path):
    with open(path) as f:
        return f.read()


def markdown_text(path):
    """The file's text with all whitespace collapsed to single spaces."""
    return " ".join(read(path).split())


def man_text(path):
    """A man page's words as a reader sees them, roughly: the arguments of
    .B/.BR/.I, other requests dropped, escapes resolved, whitespace
    collapsed."""
    words = []
    for line in read(path).splitlines():
        if line.startswith((".B ", ".BR ", ".I ", ".BI ")):
            line = line.split(" ", 1)[1].replace('"', "")
        elif line.startswith((".", "'")):
            continue
        words.append(re.sub(r"\\f[BIRP]", "", line).replace("\\-", "-").replace("\\&", ""))
    return " ".join(" ".join(words).split())


class DocumentedAclTest(ToolTestCase):

    # ---- the documents ---------------------------------------------------
    def test_the_docs_give_the_samples_user_line_and_its_reasons(self):
        line = samples.acl_user_line()
        permissions = " ".join(samples.acl_permissions())
        self.assertTrue(permissions, "no permission in keepalived/redis-acl.conf")
        explanations = samples.acl_explanations()
        # Every permission of the line is explained, and nothing else is.
        explained = " ".join(grants for grants, _ in explanations).split()
        self.assertEqual(sorted(explained), sorted(samples.acl_permissions()),
                         "redis-acl.conf explains other permissions than its user line grants")
        for path in (README, OPERATIONS):
            text = markdown_text(path)
            with self.subTest(os.path.basename(path)):
                self.assertTrue(line in read(path), f"{path} lacks the sample's user line {line!r}")
                for grants, why in explanations:
                    self.assertTrue(f"`{grants}`: {why}" in text,
                                    f"{path} does not explain {grants} as the sample does: {why!r}")
        text = man_text(CONF_MAN_PAGE)
        with self.subTest("redis-keepalived.conf(5)"):
            self.assertTrue(line in text, f"the man page lacks the sample's user line {line!r}")
            for grants, why in explanations:
                self.assertTrue(f"{grants} {why}" in text,
                                f"the man page does not explain {grants} as the sample does: "
                                f"{why!r}")
        # No other permission list is given as the tools' ACL.
        for path in (README, OPERATIONS):
            for listed in re.findall(r"user keepalived on >\S+ ([^`\n]*)", read(path)):
                self.assertEqual(listed.strip(), permissions, f"{path}: another user line")

    # ---- servers and tools -------------------------------------------------
    def acl_server(self):
        """A server whose only users are the sample's (the tools' and the
        replicator) and an administrator for the test itself."""
        config = ["user default off",
                  f"user {ADMIN[0]} on >{ADMIN[1]} ~* &* +@all",
                  *samples.acl_users(TOOLS_PASSWORD),
                  *samples.acl_replication(REPLICATION_PASSWORD)]
        return self.server(extra_config=config, auth=ADMIN)

    def setUp(self):
        super().setUp()
        self.password = self.password_file(TOOLS_PASSWORD)
        self.credentials = ["--user", USER, "--password-file", self.password]

    def node(self, name, local, peer, *extra):
        """The hooks' arguments for node NAME, authenticating as the sample's user."""
        return [*self.node_args(name, local, peer), *self.credentials, *extra]

    def tool(self, tool, *args, timeout=60):
        r = self.run_tool(tool, *args, common=False, timeout=timeout)
        self.assertNotIn("NOPERM", r.stdout + r.stderr + r.log, f"a permission is missing: {r!r}")
        return r

    def assert_verdict(self, result, verdict):
        self.assertRc(result, 0)
        self.assertIn(f"verdict={verdict} exit=0", result.stderr, f"{result!r}")

    def check(self, srv, *extra):
        # The witnesses here listen on loopback, which redis_check refuses
        # unless told it is a test set-up.
        if "--witness" in extra:
            extra += ("--witness-on-this-host",)
        log = os.path.join(self.tmp, "check.log")
        r = self.tool("redis_check", "--state-dir", self.state_dir, "--instance", self.instance,
                      "--log-file", log, "--host", "127.0.0.1", "--port", str(srv.port),
                      "--timeout", str(TIMEOUT_MS), *self.credentials, *extra, timeout=20)
        r.log = itkit.read_text(log)
        return r

    def min_replicas_to_write(self, srv):
        return srv.call("CONFIG", "GET", "min-replicas-to-write")[1]

    # ---- the tools ---------------------------------------------------------
    def test_redis_check_plain_with_witness_and_fence(self):
        a = self.acl_server()
        b = self.acl_server()
        self.replicate(b, a)  # through masteruser/masterauth
        self.assertRc(self.check(a), 0)
        self.assertRc(self.check(a, "--peer", f"127.0.0.1:{b.port}",
                                 "--witness", f"127.0.0.1:{b.port}"), 0)
        # Cut off (neither the peer nor the witness answers): fenced with
        # CONFIG SET, then lifted when they answer again.
        r = self.check(a, "--fence-writes", "--peer", f"127.0.0.1:{self.silent_port()}",
                       "--witness", f"127.0.0.1:{self.silent_port()}")
        self.assertRc(r, 1)
        self.assertIn("isolated", r.log)
        self.assertNotIn("fence not changed", r.log)
        self.assertEqual(self.min_replicas_to_write(a), "1")
        r = self.check(a, "--fence-writes", "--peer", f"127.0.0.1:{b.port}",
                       "--witness", f"127.0.0.1:{b.port}")
        self.assertRc(r, 0)
        self.assertIn("isolation fence lifted", r.log)
        self.assertNotIn("fence not changed", r.log)

    def test_backup_then_a_promotion_that_pauses_the_peer(self):
        a = self.acl_server()
        b = self.acl_server()
        populate(a, 1000)
        r = self.tool("redis_backup", *self.node("b", b, a, "--backup-grace", "0"))
        self.assert_verdict(r, "replicating")
        self.wait_link_up(b, a)
        self.assert_all_keys(b, 1000)
        # a is alive: b's promotion compares offsets while a's writes are
        # paused (CLIENT PAUSE WRITE), then repoints a; --fence-writes sets
        # the fence with CONFIG GET/SET.
        populate(a, 200, prefix="late")
        r = self.tool("redis_master", *self.node("b", b, a, "--fence-writes",
                                                 "--sync-timeout", "20"))
        self.assert_verdict(r, "promoted")
        self.assertRegex(r.stderr, r"caught up: .*peer paused \d+ ms")
        self.assertNotIn("fence not set", r.stderr)
        self.assert_role(b, "master")
        self.assert_all_keys(b, 200, prefix="late")
        self.assert_role(a, "slave", master_port=b.port)
        self.wait_link_up(a, b)

    def test_heals_keep_their_copies(self):
        # The losing side of a split keeps its writes before its resync
        # (redis_backup), and a node with an unrelated history keeps its
        # dataset before redis_master resyncs it: both fetch the copy with
        # REPLCONF and PSYNC.
        a = self.acl_server()
        b = self.acl_server()
        self.split(a, b, 40, old_master_keys=300)
        r = self.tool("redis_backup", *self.node("b", b, a, "--backup-grace", "0"))
        self.assert_verdict(r, "replicating")
        self.assertIn("kept a copy of the local Redis's dataset", r.stderr)
        self.wait_link_up(b, a)
        c = self.acl_server()
        d = self.acl_server()
        populate(c, 30, prefix="own")
        populate(d, 500)
        copy_dir = os.path.join(self.tmp, "copies-c")
        r = self.tool("redis_master", *self.node_args("c", c, d, copy_dir=copy_dir),
                      *self.credentials, "--sync-timeout", "20")
        self.assertRc(r, 0)
        self.assertIn("histories unrelated", r.stderr)
        self.assertNotIn("copy-failed", r.stderr)
        self.assertEqual(len([f for f in os.listdir(copy_dir) if f.endswith(".rdb")]), 1)

    def test_fault_stop_status_and_watch(self):
        a = self.acl_server()
        b = self.acl_server()
        self.replicate(b, a)
        self.assert_verdict(self.tool("redis_fault", *self.node("b", b, a)), "recorded")
        self.assert_verdict(self.tool("redis_stop", *self.node("b", b, a)), "recorded")
        status = ["--state-dir", os.path.join(self.tmp, "state-b"), "--instance", self.instance,
                  "--copy-dir", self.copy_dir, *self.hook_args(b.port, a.port), *self.credentials]
        r = self.tool("redis_status", *status)
        self.assertRc(r, 0)
        self.assertIn(f"local 127.0.0.1:{b.port}: replica of 127.0.0.1:{a.port}, link up",
                      r.stdout)
        r = self.tool("redis_status", *status, "--prometheus")
        self.assertRc(r, 0)
        self.assertRegex(r.stdout, r'redis_up\{[^}]*node="local"[^}]*\} 1')
        self.assertRegex(r.stdout, r'redis_up\{[^}]*node="peer"[^}]*\} 1')
        track = os.path.join(self.tmp, "redis.watch")
        watcher = self.start_tool("redis_watch", "--host", "127.0.0.1", "--port", str(a.port),
                                  "--track-file", track, "--interval-ms", "100",
                                  "--timeout", "300", *self.credentials, common=False)
        wait_until(lambda: itkit.read_text(track).strip() == "0", 5,
                   what="0 from the watcher authenticated as the sample's user")
        self.assertIsNone(watcher.poll(), "the watcher ended")

    def test_switchover(self):
        a = self.acl_server()
        b = self.acl_server()
        populate(a, 200)
        self.replicate(b, a)
        flag = os.path.join(self.tmp, "maintenance")
        conf = self.write_file("keepalived.conf", KEEPALIVED_CONF.format(path=flag))
        # a holds the VIP: its redis_master recorded MASTER.
        self.assert_verdict(self.tool("redis_master", *self.node("a", a, b)), "already-master")
        # keepalived, played by the test: when the flag turns 1, a goes FAULT.
        stop = threading.Event()
        self.addCleanup(stop.set)

        def play_keepalived():
            while not stop.is_set():
                if itkit.read_text(flag).strip() == "1":
                    self.run_tool("redis_fault", *self.node("a", a, b), common=False)
                    return
                time.sleep(0.005)
        threading.Thread(target=play_keepalived, daemon=True).start()
        r = self.tool("redis_switchover", *self.node("a", a, b, "--maintenance-file", flag,
                                                     "--keepalived-conf", conf,
                                                     "--switchover-timeout-ms", "3000"))
        self.assertRc(r, 0)
        self.assertIn("verdict=switched-over exit=0", r.stderr + r.log, f"{r!r}")
        self.assert_role(b, "master")
        self.assert_role(a, "slave", master_port=b.port)
        self.assert_all_keys(b, 200)


if __name__ == "__main__":
    itkit.main()
