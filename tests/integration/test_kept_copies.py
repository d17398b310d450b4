"""Kept copies: before a resync discards writes only one node holds, the
hooks keep that node's dataset as an RDB file in --copy-dir, named with the
time, the replid and the offsets, and read back here by starting a
redis-server on it, as the man page tells operators to. A copy that cannot
be made stops the resync (exit 1, nothing changed) unless
--resync-without-copy."""
import json
import os
import re
import shutil
import subprocess
import tempfile

import itkit
from itkit import RedisServer, ToolTestCase, populate, read_state, setUpModule  # noqa: F401
from test_state_dir import FULL_TMPFS, NEEDS_MOUNTS, PRIVATE_MOUNTS

COPY_NAME = re.compile(r"^(\d{8}T\d{6}\.\d{3}Z)_(local|peer)_([0-9a-f]{40})_(\d+)-(\d+)\.rdb$")


class KeptCopyCase(ToolTestCase):

    def copies(self, copy_dir=None):
        d = copy_dir or self.copy_dir
        return sorted(f for f in os.listdir(d) if COPY_NAME.match(f)) if os.path.isdir(d) else []

    def read_back(self, copy_file):
        """A redis-server started on the kept copy, as the man page says."""
        data = tempfile.mkdtemp(prefix="rk-copy-read-")
        self.addCleanup(shutil.rmtree, data, True)
        shutil.copy(copy_file, os.path.join(data, "dump.rdb"))
        srv = RedisServer(data_dir=data, extra_config=["dbfilename dump.rdb"])
        self.addCleanup(srv.cleanup)
        return srv.start()


class KeptCopyTest(KeptCopyCase):

    def test_the_losing_side_keeps_its_split_writes_before_its_resync(self):
        a = self.server()  # old master: took 300 writes after the fork, wins
        b = self.server()  # promoted during the split, took 40: its tail is discarded
        self.split(a, b, 40, old_master_keys=300)
        b_info = b.info("replication")
        r = self.run_tool("redis_backup", *self.node_args("b", b, a), "--backup-grace", "0",
                          common=False)
        self.assertRc(r, 0)
        self.assertIn("verdict=replicating exit=0", r.stderr)
        self.assertIn("keeping a copy of the local Redis's dataset before its resync: split-brain",
                      r.stderr)
        [copy] = self.copies()
        m = COPY_NAME.match(copy)
        self.assertEqual(m.group(2), "local")
        self.assertEqual(m.group(3), b_info["master_replid"])
        fork = int(b_info["second_repl_offset"]) - 1
        self.assertEqual(int(m.group(4)), fork)
        self.assertEqual(int(m.group(5)), int(b_info["master_repl_offset"]))
        self.assertIn(f"kept a copy of the local Redis's dataset: {self.copy_dir}/{copy}", r.stderr)
        self.assertEqual(os.stat(os.path.join(self.copy_dir, copy)).st_mode & 0o777, 0o600)
        # The resync went on: b now holds a's history, without its own tail.
        self.wait_link_up(b, a)
        self.assertEqual(itkit.missing_keys(b, 40, "split"), list(range(40)))
        # Every write b acknowledged during the split is in the copy.
        back = self.read_back(os.path.join(self.copy_dir, copy))
        self.assert_all_keys(back, 40, prefix="split")
        self.assert_all_keys(back, 200)

    def test_the_winner_keeps_the_demoted_peers_tail(self):
        a = self.server()  # old master, VIP holder after the heal, took 25 late writes
        b = self.server()  # served the clients during the split: the larger tail
        r = self.run_tool("redis_master", *self.node_args("a", a, b), common=False)
        self.assertIn("exit=0", r.stderr, f"setup: {r!r}")
        self.split(a, b, 300, old_master_keys=25)
        a_info = a.info("replication")
        r = self.run_tool("redis_backup", *self.node_args("b", b, a), "--backup-grace", "5",
                          common=False)
        self.assertRc(r, 0)
        self.assertIn("verdict=peer-demoted exit=0", r.stderr)
        [copy] = self.copies()
        m = COPY_NAME.match(copy)
        self.assertEqual(m.group(2), "peer")
        self.assertEqual(m.group(3), a_info["master_replid"])
        self.assertGreaterEqual(int(m.group(5)), int(a_info["master_repl_offset"]))
        self.assert_role(a, "slave", master_port=b.port)
        back = self.read_back(os.path.join(self.copy_dir, copy))
        self.assert_all_keys(back, 25, prefix="late")

    def test_unrelated_histories_are_copied_before_redis_master_resyncs(self):
        # a restarted from its own files: a new replid, unrelated to b's.
        a = self.server()
        b = self.server()
        populate(a, 30, prefix="own")
        populate(b, 500)
        r = self.run_tool("redis_master", *self.node_args("a", a, b), "--sync-timeout", "20",
                          common=False)
        self.assertRc(r, 0)
        self.assertIn("histories unrelated", r.stderr)
        [copy] = self.copies()
        self.assertEqual(COPY_NAME.match(copy).group(4), "0")
        back = self.read_back(os.path.join(self.copy_dir, copy))
        self.assert_all_keys(back, 30, prefix="own")

    def test_redis_status_lists_the_kept_copies(self):
        a = self.server()
        b = self.server()
        self.split(a, b, 40, old_master_keys=300)
        r = self.run_tool("redis_backup", *self.node_args("b", b, a), "--backup-grace", "0",
                          common=False)
        self.assertRc(r, 0)
        [copy] = self.copies()
        size = os.stat(os.path.join(self.copy_dir, copy)).st_size
        state = os.path.join(self.tmp, "state-b")
        args = ["--state-dir", state, "--instance", self.instance, "--copy-dir", self.copy_dir,
                *self.hook_args(b.port, a.port)]
        text = self.run_tool("redis_status", *args, common=False)
        self.assertRc(text, 0)
        self.assertIn(copy, text.stdout)
        self.assertIn(f"{size} bytes", text.stdout)
        js = self.run_tool("redis_status", *args, "--json", common=False)
        self.assertRc(js, 0)
        kept = json.loads(js.stdout)["kept_copies"]
        self.assertEqual(kept["dir"], self.copy_dir)
        [entry] = kept["copies"]
        m = COPY_NAME.match(copy)
        self.assertEqual(entry["file"], copy)
        self.assertEqual(entry["bytes"], size)
        self.assertEqual(entry["source"], "local")
        self.assertEqual(entry["replid"], m.group(3))
        self.assertEqual(entry["from_offset"], int(m.group(4)))
        self.assertEqual(entry["to_offset"], int(m.group(5)))

    def test_retention_keeps_the_newest_by_count_and_by_bytes(self):
        os.makedirs(self.copy_dir, 0o700)
        old = [f"2026010{i}T000000.000Z_local_{'a' * 40}_0-{i}.rdb" for i in range(1, 5)]
        for name in old:
            with open(os.path.join(self.copy_dir, name), "wb") as f:
                f.write(b"REDIS0009" + b"x" * 4096)
        keep = os.path.join(self.copy_dir, "notes.txt")  # not a copy: never touched
        with open(keep, "w") as f:
            f.write("operator's notes\n")
        a = self.server()
        b = self.server()
        self.split(a, b, 40, old_master_keys=300)
        r = self.run_tool("redis_backup", *self.node_args("b", b, a), "--backup-grace", "0",
                          "--copy-keep-count", "3", common=False)
        self.assertRc(r, 0)
        copies = self.copies()
        self.assertEqual(len(copies), 3)
        self.assertEqual(copies[:2], old[2:])  # the two oldest went
        self.assertIn(f"retention removed the older copy {self.copy_dir}/{old[0]}", r.stderr)
        self.assertTrue(os.path.exists(keep))
        # A byte bound below one copy: only the newest stays.
        c = self.server()
        d = self.server()
        self.split(c, d, 40, old_master_keys=300)
        r = self.run_tool("redis_backup", *self.node_args("d", d, c), "--backup-grace", "0",
                          "--copy-keep-mb", "0", "--copy-keep-count", "1", common=False)
        self.assertRc(r, 0)
        self.assertEqual(len(self.copies()), 1)
        self.assertTrue(os.path.exists(keep))


class CopyRefusedTest(KeptCopyCase):

    def assert_unchanged(self, r, b, a):
        self.assertRc(r, 1)
        self.assertIn("verdict=copy-failed exit=1", r.stderr)
        self.assertIn("--resync-without-copy allows it", r.stderr)
        self.assert_role(b, "master")
        self.assert_all_keys(b, 40, prefix="split")
        self.assert_role(a, "master")
        # b lost the heal and keeps its older history: recorded as stale
        # (test_stale_history covers what that record does).
        stale = read_state(os.path.join(self.tmp, "state-b", f"{self.instance}.stale"))
        self.assertEqual(stale.get("peer_replid"), a.info("replication")["master_replid"], stale)

    def test_a_server_that_refuses_psync_leaves_the_node_as_it_is(self):
        acl = ["user default off",
               "user hook on >pw ~* &* +ping +info +role +replicaof +config|rewrite "
               "+client|kill +client|pause +client|unpause",
               "user repl on >rp +psync +replconf +ping",
               "user admin on >ap ~* &* +@all",
               "masteruser repl", "masterauth rp"]
        a = self.server(extra_config=acl, auth=("admin", "ap"))
        b = self.server(extra_config=acl, auth=("admin", "ap"))
        self.split(a, b, 40, old_master_keys=300)
        pw = os.path.join(self.tmp, "pw")
        with open(pw, "w") as f:
            f.write("pw\n")
        os.chmod(pw, 0o600)
        r = self.run_tool("redis_backup", *self.node_args("b", b, a), "--backup-grace", "0",
                          "--user", "hook", "--password-file", pw, common=False)
        self.assert_unchanged(r, b, a)
        self.assertIn("NOPERM", r.stderr)
        self.assertEqual(self.copies(), [])
        # The operator allows the resync without a copy.
        r = self.run_tool("redis_backup", *self.node_args("b", b, a), "--backup-grace", "0",
                          "--user", "hook", "--password-file", pw, "--resync-without-copy",
                          common=False)
        self.assertRc(r, 0)
        self.assertIn("resyncing anyway (--resync-without-copy)", r.stderr)
        self.assert_role(b, "slave", master_port=a.port)

    def test_a_full_copy_dir_leaves_the_node_as_it_is(self):
        if not PRIVATE_MOUNTS:
            self.skipTest(NEEDS_MOUNTS)
        a = self.server()
        b = self.server()
        self.split(a, b, 40, old_master_keys=300)
        populate(b, 3000, prefix="big")  # more than the 64 KiB tmpfs holds
        mnt = os.path.join(self.tmp, "mnt")
        os.mkdir(mnt, 0o700)
        argv = ["unshare", "-m", "--propagation", "private", "sh", "-c", FULL_TMPFS, "sh", mnt,
                itkit.tool_path("redis_backup"), *self.node_args("b", b, a, copy_dir=mnt),
                "--backup-grace", "0"]
        cp = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        self.assertEqual(cp.returncode, 1, cp.stderr)
        self.assertIn("verdict=copy-failed exit=1", cp.stderr)
        self.assertIn("No space left on device", cp.stderr)
        self.assert_role(b, "master")
        self.assert_all_keys(b, 40, prefix="split")

    def test_an_unsafe_copy_dir_fails_only_the_copy(self):
        # Not a configuration error that stops the hook before it acts (a
        # promotion needing no copy goes on: test_stale_history): only the
        # resync that needs the copy is refused.
        a = self.server()
        b = self.server()
        self.split(a, b, 40, old_master_keys=300)
        unsafe = os.path.join(self.tmp, "shared")
        os.mkdir(unsafe)
        os.chmod(unsafe, 0o777)
        r = self.run_tool("redis_backup", *self.node_args("b", b, a, copy_dir=unsafe),
                          "--backup-grace", "0", common=False)
        self.assert_unchanged(r, b, a)
        self.assertIn("copy dir unusable now", r.stderr)
        self.assertIn("writable by group or others", r.stderr)
        self.assertEqual(os.listdir(unsafe), [])


if __name__ == "__main__":
    itkit.main()
