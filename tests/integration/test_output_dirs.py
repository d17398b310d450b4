"""The files keepalived and node_exporter act on are written only in
directories that pass the state dir's trust rules: a real directory (not a
symlink), owned by the running user or root, writable by nobody else.
keepalived reads a track_file as root, so whoever may write in its directory
decides when the node goes FAULT. redis_watch (--track-file, --textfile),
redis_switchover (--maintenance-file, here with --rejoin) and redis_status
(--textfile) refuse any other directory with exit 2, one line that says how
to fix it, and nothing written. The file itself is replaced by a rename, so
a symlink planted at its path is replaced, never followed."""
import os

import itkit
from itkit import KEEPALIVED_CONF, ToolTestCase, setUpModule  # noqa: F401

NOBODY = 65534



class OutputDirTest(ToolTestCase):

    def bad_dirs(self):
        """(name, directory, words the refusal must hold) for every
        directory the rules refuse; the one owned by another user only
        when the test runs as root (it must chown)."""
        cases = []
        for name, mode in (("world-writable", 0o777), ("group-writable", 0o770),
                           ("sticky", 0o1777)):
            path = os.path.join(self.tmp, name)
            os.mkdir(path)
            os.chmod(path, mode)
            cases.append((name, path, "writable by group or others"))
        good = os.path.join(self.tmp, "good")
        os.mkdir(good, 0o700)
        link = os.path.join(self.tmp, "link")
        os.symlink(good, link)
        cases.append(("a symlink", link, "is a symlink"))
        if os.geteuid() == 0:
            foreign = os.path.join(self.tmp, "foreign")
            os.mkdir(foreign, 0o700)
            os.chown(foreign, NOBODY, NOBODY)
            cases.append(("owned by another user", foreign, f"owned by uid {NOBODY}"))
        return cases

    def assert_refused(self, r, option, words, directory):
        self.assertRc(r, 2)
        lines = r.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertIn(f"{option}: directory {directory} ", lines[0])
        self.assertIn(words, lines[0])
        self.assertIn("may write", lines[0])
        self.assertEqual(os.listdir(os.path.realpath(directory)), [], "written all the same")

    def test_redis_watch_track_file(self):
        srv = self.server()
        for name, directory, words in self.bad_dirs():
            with self.subTest(name):
                r = self.run_tool("redis_watch", "--port", str(srv.port), "--track-file",
                                  os.path.join(directory, "redis.watch"), timeout=10)
                self.assert_refused(r, "--track-file", words, directory)
                self.assertIn("keepalived acts on the file as root", r.stderr)

    def test_redis_watch_track_file_among_the_records(self):
        # The state dir holds NAME.watch, the watcher's own record: a track
        # file of that name would be overwritten by it. The common run's
        # state dir and instance are itkit's.
        srv = self.server()
        for suffix in ("watch", "fence"):
            with self.subTest(suffix):
                track = os.path.join(self.state_dir, f"{self.instance}.{suffix}")
                r = self.run_tool("redis_watch", "--port", str(srv.port), "--track-file", track,
                                  timeout=10)
                self.assertRc(r, 2)
                self.assertIn("the state dir keeps instance", r.stderr)
                self.assertFalse(os.path.exists(track), "the watcher wrote it")

    def test_redis_watch_textfile(self):
        srv = self.server()
        track = os.path.join(self.tmp, "redis.watch")
        for name, directory, words in self.bad_dirs():
            with self.subTest(name):
                r = self.run_tool("redis_watch", "--port", str(srv.port), "--track-file", track,
                                  "--textfile", directory, timeout=10)
                self.assert_refused(r, "--textfile", words, directory)
                self.assertIn("node_exporter", r.stderr)
                self.assertFalse(os.path.exists(track), "the watcher ran")

    def test_redis_status_textfile(self):
        srv = self.server()
        for name, directory, words in self.bad_dirs():
            with self.subTest(name):
                r = self.run_tool("redis_status", "--port", str(srv.port), "--textfile",
                                  directory, timeout=10)
                self.assert_refused(r, "--textfile", words, directory)
                self.assertEqual(r.stdout, "")

    def rejoin(self, flag):
        conf = os.path.join(self.tmp, "keepalived.conf")
        with open(conf, "w") as f:
            f.write(KEEPALIVED_CONF.format(path=flag))
        return self.run_tool("redis_switchover", "--rejoin", "--maintenance-file", flag,
                             "--keepalived-conf", conf, timeout=10)

    def test_redis_switchover_maintenance_file(self):
        for name, directory, words in self.bad_dirs():
            with self.subTest(name):
                r = self.rejoin(os.path.join(directory, "maintenance"))
                self.assert_refused(r, "--maintenance-file", words, directory)
                self.assertIn("keepalived acts on the file as root", r.stderr)
        # --status only reads the flag: no directory rule.
        r = self.run_tool("redis_switchover", "--status", "--maintenance-file",
                          os.path.join(self.tmp, "world-writable", "maintenance"), timeout=10)
        self.assertRc(r, 0)

    def test_a_symlink_at_the_file_is_replaced_not_followed(self):
        victim = os.path.join(self.tmp, "victim")
        with open(victim, "w") as f:
            f.write("precious\n")
        flag = os.path.join(self.tmp, "maintenance")
        os.symlink(victim, flag)
        r = self.rejoin(flag)
        self.assertRc(r, 0)
        with open(victim) as f:
            self.assertEqual(f.read(), "precious\n")
        self.assertFalse(os.path.islink(flag))
        with open(flag) as f:
            self.assertEqual(f.read(), "0\n")


if __name__ == "__main__":
    itkit.main()
