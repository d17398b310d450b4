"""cpack -G DEB into a temporary directory gives a .deb whose control data
(Depends from dpkg-shlibdeps with libc6, Recommends keepalived and
redis-server, section admin, maintainer scripts, conffiles) and contents
(the tools, man pages, examples, init script, systemd files, logrotate
file) are right, and lintian finds no error and no warning in it that is not
overridden with its reason (cmake/deb/lintian-overrides).

Skipped (77) without dpkg-deb, dpkg-shlibdeps (Debian: dpkg-dev) or file;
the lintian test alone is skipped without lintian.
"""
import glob
import os
import re
import shutil
import stat

import installkit
from installkit import TOOLS, VERSION, run


def control_fields(text):
    """The fields of a control file as a dict (continuation lines joined)."""
    fields, name = {}, None
    for line in text.splitlines():
        line = line.strip("\n")
        if line.startswith(" ") and name:
            fields[name] += "\n" + line.strip()
        elif ":" in line:
            name, value = line.split(":", 1)
            name = name.strip()
            fields[name] = value.strip()
    return fields


def package_names(relation):
    """The package names of a Depends-style field."""
    names = set()
    for alternatives in relation.split(","):
        for choice in alternatives.split("|"):
            choice = choice.strip()
            if choice:
                names.add(re.split(r"[\s(:]", choice, 1)[0])
    return names


class DebPackage(installkit.TempDirTestCase):
    deb = None
    tmpdir = None

    @classmethod
    def setUpClass(cls):
        import tempfile
        cls.tmpdir = tempfile.mkdtemp(prefix="rk-deb-")
        # Under umask 002, as on hosts that give each user a private group:
        # the package's modes must not depend on it (lintian checks them).
        run([os.environ["RK_CPACK"], "--config", os.path.join(installkit.BUILD_DIR, "CPackConfig.cmake"),
             "-G", "DEB", "-B", cls.tmpdir], check=True, timeout=300,
            preexec_fn=lambda: os.umask(0o002))
        debs = glob.glob(os.path.join(cls.tmpdir, "*.deb"))
        assert len(debs) == 1, f"cpack made {debs}"
        cls.deb = debs[0]

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmpdir, ignore_errors=True)

    def fields(self):
        return control_fields(run(["dpkg-deb", "--field", self.deb], check=True).stdout)

    def contents(self):
        """{path: (mode string, owner)} of the package's files."""
        listing = run(["dpkg-deb", "--contents", self.deb], check=True).stdout
        entries = {}
        for line in listing.splitlines():
            parts = line.split(None, 5)
            path = parts[5].split(" -> ")[0]
            entries[path.lstrip(".")] = (parts[0], parts[1])
        return entries

    def test_file_name(self):
        arch = run(["dpkg", "--print-architecture"], check=True).stdout.strip()
        self.assertEqual(os.path.basename(self.deb), f"redis-keepalived_{VERSION}-1_{arch}.deb")

    def test_control_fields(self):
        info = run(["dpkg-deb", "--info", self.deb], check=True).stdout
        self.assertRegex(info, r"(?m)^ Depends: .*\blibc6\b")
        self.assertRegex(info, r"(?m)^ Recommends: .*\bkeepalived\b")
        fields = self.fields()
        self.assertEqual(fields["Package"], "redis-keepalived")
        self.assertEqual(fields["Version"], f"{VERSION}-1")
        self.assertEqual(fields["Section"], "admin")
        self.assertRegex(fields["Maintainer"], r"^[^<>]+ <[^<>@\s]+@[^<>\s]+>$")
        depends = package_names(fields["Depends"])
        self.assertIn("libc6", depends)
        self.assertIn("adduser", depends, "the postinst runs adduser")
        self.assertRegex(fields["Depends"], r"libc6 \(>= [0-9.]+\)")
        # From rk-openssl.so, the one file linked against libssl (libssl3t64
        # since Debian 13).
        self.assertRegex(fields["Depends"], r"\blibssl3(t64)? \(>= [0-9.]+\)")
        self.assertEqual(package_names(fields["Recommends"]), {"keepalived", "redis-server"})
        summary, _, extended = fields["Description"].partition("\n")
        self.assertTrue(summary)
        self.assertIn("redis_master", extended)

    def test_contents(self):
        entries = self.contents()
        expected = {f"/usr/bin/{tool}": "-rwxr-xr-x" for tool in TOOLS}
        for name, mode in installkit.private_files().items():
            expected[f"/usr/{installkit.PRIVATE_DIR}/{name}"] = stat.filemode(0o100000 | mode)
        expected["/etc/init.d/redis-server-rk"] = "-rwxr-xr-x"
        expected["/etc/default/redis-server-rk"] = "-rw-r--r--"
        expected["/etc/logrotate.d/redis-keepalived"] = "-rw-r--r--"
        expected["/usr/lib/systemd/system/keepalived.service.d/redis-keepalived.conf"] = "-rw-r--r--"
        expected["/usr/lib/tmpfiles.d/redis-keepalived.conf"] = "-rw-r--r--"
        expected["/usr/lib/systemd/system/redis-watch.service"] = "-rw-r--r--"
        # The init script masked under systemd (a link to /dev/null).
        expected["/usr/lib/systemd/system/redis-server-rk.service"] = "lrwxrwxrwx"
        expected["/usr/share/doc/redis-keepalived/examples/redis-watch.init"] = "-rwxr-xr-x"
        for name in ("keepalived-node-a.conf", "keepalived-node-b.conf", "toolkit.conf",
                     "redis-acl.conf", "redis-keepalived-rules.yml",
                     "redis-keepalived-dashboard.json"):
            expected[f"/usr/share/doc/redis-keepalived/examples/{name}"] = "-rw-r--r--"
        for name in ("copyright", "changelog.Debian.gz", "README.md", "operations.md"):
            expected[f"/usr/share/doc/redis-keepalived/{name}"] = "-rw-r--r--"
        if installkit.manpages_enabled():
            for tool in TOOLS:
                expected[f"/usr/share/man/man1/{tool}.1.gz"] = "-rw-r--r--"
            expected["/usr/share/man/man5/redis-keepalived.conf.5.gz"] = "-rw-r--r--"
        for path, mode in sorted(expected.items()):
            with self.subTest(path=path):
                self.assertIn(path, entries, f"{path} is not in the package")
                self.assertEqual(entries[path][0], mode)
        for path, (mode, owner) in entries.items():
            with self.subTest(path=path):
                self.assertEqual(owner, "root/root")
                self.assertTrue(path.startswith(("/usr/", "/etc/")) or path in ("/", "/usr", "/etc"),
                                f"{path} is outside /usr and /etc")
                self.assertFalse(path.startswith("/usr/etc/"))
                self.assertFalse(path.startswith("/usr/local/"))

    def test_maintainer_scripts_and_conffiles(self):
        control = os.path.join(self.tmp, "control")
        run(["dpkg-deb", "--control", self.deb, control], check=True)
        for script in ("postinst", "postrm"):
            path = os.path.join(control, script)
            self.assertTrue(os.access(path, os.X_OK), f"{script} is not executable")
            run(["sh", "-n", path], check=True)
        with open(os.path.join(control, "postinst"), encoding="utf-8") as postinst:
            text = postinst.read()
        self.assertIn("keepalived_script", text)
        self.assertIn("/run/redis-keepalived", text)
        with open(os.path.join(control, "conffiles"), encoding="utf-8") as conffiles:
            listed = conffiles.read().split()
        self.assertEqual(sorted(listed), ["/etc/default/redis-server-rk", "/etc/init.d/redis-server-rk",
                                          "/etc/logrotate.d/redis-keepalived"])

    def test_postinst_creates_user_state_dir_and_log(self):
        # Run for real, but in a private mount namespace over copies of /etc,
        # /run and /var/log, so the host's users and files stay untouched.
        missing = [tool for tool in ("unshare", "mount", "adduser") if not shutil.which(tool)]
        if os.geteuid() != 0:
            self.skipTest("needs root")
        if missing:
            self.skipTest(f"needs {', '.join(missing)} (Debian: util-linux, mount, adduser)")
        control = os.path.join(self.tmp, "control")
        run(["dpkg-deb", "--control", self.deb, control], check=True)
        etc = os.path.join(self.tmp, "etc")
        log = os.path.join(self.tmp, "log")
        varlib = os.path.join(self.tmp, "varlib")
        run(["cp", "-a", "/etc", etc], check=True)
        os.mkdir(log)
        os.mkdir(varlib)
        for name in ("passwd", "shadow", "group", "gshadow"):
            path = os.path.join(etc, name)
            if os.path.exists(path):
                with open(path, encoding="utf-8") as table:
                    kept = [line for line in table if not line.startswith("keepalived_script:")]
                with open(path, "w", encoding="utf-8") as table:
                    table.writelines(kept)
        script = f"""
            set -e
            mount --bind {etc} /etc
            mount -t tmpfs tmpfs /run
            mount --bind {log} /var/log
            mount --bind {varlib} /var/lib
            sh {control}/postinst configure
            sh {control}/postinst configure
            getent passwd keepalived_script
            stat -c '%a %U %G' /run/redis-keepalived /var/log/redis-keepalived.log \
                /var/lib/redis-keepalived/copies
            sh {control}/postrm purge
            test ! -e /run/redis-keepalived && test ! -e /var/log/redis-keepalived.log
            test ! -e /var/lib/redis-keepalived
        """
        result = run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script])
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        lines = result.stdout.splitlines()
        user = lines[0].split(":")
        self.assertEqual(user[0], "keepalived_script")
        self.assertLess(int(user[2]), 1000, "not a system user")
        self.assertEqual(user[6], "/usr/sbin/nologin")
        self.assertEqual(lines[1:4], ["700 keepalived_script keepalived_script",
                                      "600 keepalived_script keepalived_script",
                                      "700 keepalived_script keepalived_script"])

    def test_lintian_finds_no_error_and_no_unexplained_warning(self):
        lintian = shutil.which("lintian")
        if not lintian:
            self.skipTest("lintian is not installed (Debian: lintian)")
        # --show-overrides prints each overridden hint as O: after its reason
        # (N:), --display-info the I: hints, unused overrides among them.
        # lintian would count the shown overrides towards --fail-on: the
        # hints are judged below instead, so a non-zero exit is its own failure.
        result = run([lintian, "--display-info", "--show-overrides", "--fail-on", "none",
                      self.deb], timeout=300)
        report = result.stdout
        self.assertEqual(result.returncode, 0, f"lintian exited {result.returncode}:\n"
                                               f"{report}{result.stderr}")
        hints = re.findall(r"(?m)^([EWIO]): redis-keepalived: (\S+)(.*)$", report)
        self.assertTrue(hints, f"lintian reported nothing, not even the overrides:\n{report}")
        # An error or a warning must be fixed, or overridden with a reason.
        self.assertEqual([h for h in hints if h[0] in "EW"], [], report)
        # An override that matches nothing any more (a renamed tag, a fixed
        # finding) is an excuse nobody reads: remove it.
        stale = [h for h in hints if h[1] in ("unused-override", "mismatched-override")]
        self.assertEqual(stale, [], report)
        used = {(tag, where.strip()) for severity, tag, where in hints if severity == "O"}
        for tag, where, reason in self.lintian_overrides():
            with self.subTest(override=tag):
                self.assertIn((tag, where), used)
                self.assertTrue(reason, f"no reason on the line above the override of {tag}")

    def lintian_overrides(self):
        """(tag, pointer, reason) of each override the package installs; the
        reason is the comment line right above it."""
        tree = os.path.join(self.tmp, "overrides")
        run(["dpkg-deb", "--extract", self.deb, tree], check=True)
        path = os.path.join(tree, "usr", "share", "lintian", "overrides", "redis-keepalived")
        with open(path, encoding="utf-8") as overrides:
            lines = overrides.read().splitlines()
        found, above = [], ""
        for line in lines:
            if line.startswith("redis-keepalived: "):
                tag, _, where = line[len("redis-keepalived: "):].partition(" ")
                found.append((tag, where.strip(), above.lstrip("#").strip()))
            above = line if line.startswith("#") else ""
        self.assertTrue(found, f"no override in {path}")
        return found

    def test_man_pages_render_from_the_package(self):
        if not installkit.manpages_enabled():
            self.skipTest("configured with RK_MANPAGES=OFF")
        tree = os.path.join(self.tmp, "tree")
        run(["dpkg-deb", "--extract", self.deb, tree], check=True)
        page = os.path.join(tree, "usr", "share", "man", "man1", "redis_master.1.gz")
        text, warnings = installkit.render_man(page)
        self.assertEqual(warnings, "")
        self.assertRegex(text, r"(?m)^EXIT STATUS$")


if __name__ == "__main__":
    for program, package in (("dpkg-deb", "dpkg"), ("dpkg-shlibdeps", "dpkg-dev"), ("file", "file")):
        if not shutil.which(program):
            installkit.skip(f"{program} is not installed (Debian: {package}): no .deb can be built")
    installkit.main()
