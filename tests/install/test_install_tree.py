"""cmake --install into a temporary prefix: every file lands where the
packaging and the docs say, the installed tools run, and each man page
renders with the sections of a real tool's page, lists the tool's own exit
codes and every option its tool's --help lists, and neither the page nor
--help shows what CLI11 prints for itself.
"""
import os
import re
import stat

import installkit
from installkit import TOOLS, VERSION, run

DOCDIR = os.path.join("share", "doc", "redis-keepalived")
EXAMPLES = ("keepalived-node-a.conf", "keepalived-node-b.conf", "toolkit.conf", "redis-acl.conf",
            "redis-keepalived-rules.yml", "redis-keepalived-dashboard.json")


# The exit codes each tool can return (lib/rk/exit_code.hpp): only the
# notify hooks can be superseded by a newer hook (3).
EXIT_CODES = {tool: {0, 1, 2} for tool in TOOLS}
EXIT_CODES.update({hook: {0, 1, 2, 3} for hook in
                   ("redis_master", "redis_backup", "redis_fault", "redis_stop")})

# What CLI11's own help formatter prints (types, ranges, defaults, its
# positional and flag texts): none of it may reach --help or a page.
CLI11_WORDS = (r"\b(?:TEXT|INT|UINT|FLOAT|BOOLEAN|ENUM)\b", r"INT:INT", r"Positionals",
               r"\bargs\b", r"Print this help message", r"Display program version",
               r"in \[-?\d+ - \d+\]", r":\{", r"\[Option Group", r"\bREQUIRED\b", r"Excludes:",
               r"Needs:", r"\(\dx\)")

# A section 1 page's top-level sections, in this order (keepalived's, git's
# and redis-cli's pages); others (TLS, KEPT COPIES, ...) may come between.
PAGE_SECTIONS = ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXIT STATUS", "FILES", "EXAMPLES",
                 "SEE ALSO")


def long_options(help_text):
    """The long options a --help text lists, without their dashes."""
    names = set(re.findall(r"^\s+(?:-\w,\s*)?--([a-z][a-z0-9-]*)", help_text, re.MULTILINE))
    return names - {"help", "version"}


def sections(page_text):
    """{heading: body} of a rendered man page's top-level sections, and
    their headings in order."""
    found, order, heading = {}, [], None
    for line in page_text.splitlines():
        if re.match(r"^[A-Z][A-Z ]+$", line):
            heading = line.strip()
            order.append(heading)
            found[heading] = []
        elif heading:
            found[heading].append(line)
    return {name: "\n".join(body) for name, body in found.items()}, order


def listed_exit_codes(text):
    """The exit codes a list of "  N  meaning" entries names."""
    return {int(code) for code in re.findall(r"(?m)^\s+(\d)(?:\s+\S|$)", text)}


def help_exit_codes(help_text):
    """The exit codes the "Exit status:" block of --help lists."""
    match = re.search(r"(?ms)^Exit (?:status|codes):\n(.*?)(?:\n\n|\Z)", help_text)
    assert match, f"no 'Exit status:' block in --help:\n{help_text}"
    return listed_exit_codes(match.group(1))


def interface_options():
    """Every long option the tables of docs/interface.md name, without dashes."""
    path = os.path.join(installkit.SOURCE_DIR, "docs", "interface.md")
    names = set()
    with open(path, encoding="utf-8") as doc:
        for line in doc:
            if line.startswith("|"):
                names.update(re.findall(r"`--([a-z][a-z0-9-]*)", line))
    return names


class InstallTree(installkit.TempDirTestCase):
    def setUp(self):
        super().setUp()
        self.prefix = installkit.install_tree(os.path.join(self.tmp, "prefix"))

    def path(self, *parts):
        return os.path.join(self.prefix, *parts)

    def assert_file(self, *parts, mode=None):
        path = self.path(*parts)
        self.assertTrue(os.path.isfile(path), f"{path} is not installed")
        if mode is not None:
            self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), mode,
                             f"{path} has mode {oct(os.stat(path).st_mode)}, want {oct(mode)}")
        return path

    def test_tools_are_installed_and_run(self):
        for tool in TOOLS:
            with self.subTest(tool=tool):
                path = self.assert_file("bin", tool, mode=0o755)
                result = run([path, "--version"], check=True)
                self.assertEqual(result.stdout.strip(), f"{tool} {VERSION}")

    def test_tls_support_is_found_in_the_tree(self):
        # rk-openssl.so (and a static redis_check's twin) beside bin/, as the
        # tools look for them: a TLS run to a closed port fails as a check
        # fails (1), not as a missing TLS support does (2).
        for name, mode in installkit.private_files().items():
            self.assert_file(installkit.PRIVATE_DIR, name, mode=mode)
        port = str(installkit.free_port())
        state = os.path.join(self.tmp, "state")
        os.mkdir(state, 0o700)
        for tool, args in (("redis_check", ["--state-dir", state]),
                           ("redis_status", ["--peer", "127.0.0.1:1"])):
            with self.subTest(tool=tool):
                result = run([self.path("bin", tool), "--tls", "--insecure", "--host", "127.0.0.1",
                              "--port", port, "--timeout", "300", *args])
                self.assertNotIn("TLS support", result.stderr)
                self.assertEqual(result.returncode, 1, result.stderr)

    def test_docs_and_examples(self):
        for name in ("README.md", "LICENSE", "operations.md"):
            self.assert_file(DOCDIR, name, mode=0o644)
        for name in EXAMPLES:
            self.assert_file(DOCDIR, "examples", name, mode=0o644)

    def test_init_script_and_defaults(self):
        self.assert_file("etc", "init.d", "redis-server-rk", mode=0o755)
        self.assert_file("etc", "default", "redis-server-rk", mode=0o644)

    def test_systemd_files(self):
        dropin = self.assert_file("lib", "systemd", "system", "keepalived.service.d",
                                  "redis-keepalived.conf")
        with open(dropin, encoding="utf-8") as unit:
            text = unit.read()
        self.assertRegex(text, r"(?m)^\[Unit\]$")
        self.assertRegex(text, r"(?m)^After=redis-server\.service$")
        self.assertRegex(text, r"(?m)^Wants=redis-server\.service$")
        tmpfiles = self.assert_file("lib", "tmpfiles.d", "redis-keepalived.conf")
        with open(tmpfiles, encoding="utf-8") as entries:
            lines = [line.split() for line in entries if line.strip() and not line.startswith("#")]
        self.assertIn(["d", "/run/redis-keepalived", "0700", "keepalived_script",
                       "keepalived_script", "-"], lines)
        self.assertIn(["d", "/var/lib/redis-keepalived/copies", "0700", "keepalived_script",
                       "keepalived_script", "-"], lines)
        watch = self.assert_file("lib", "systemd", "system", "redis-watch.service", mode=0o644)
        with open(watch, encoding="utf-8") as unit:
            text = unit.read()
        self.assertRegex(text, r"(?m)^Before=keepalived\.service$")
        self.assertRegex(text, r"(?m)^Restart=always$")
        self.assertRegex(text, r"(?m)^ExecStart=/usr/bin/redis_watch .*--track-file "
                               r"/run/redis-keepalived/redis_watch\.track$")
        self.assert_file(DOCDIR, "examples", "redis-watch.init", mode=0o755)
        # The init script is masked under systemd: redis-server.service runs
        # that server there, and systemd-sysv-generator skips a masked name.
        mask = self.path("lib", "systemd", "system", "redis-server-rk.service")
        self.assertEqual(os.readlink(mask), "/dev/null")

    def help_text(self, tool):
        return run([self.path("bin", tool), "--help"], check=True).stdout

    def page_text(self, tool):
        page = self.assert_file("share", "man", "man1", f"{tool}.1", mode=0o644)
        text, warnings = installkit.render_man(page)
        self.assertEqual(warnings, "", f"groff warnings in {tool}.1")
        return text

    def test_section1_pages_render_and_match_help(self):
        if not installkit.manpages_enabled():
            self.skipTest("configured with RK_MANPAGES=OFF")
        for tool in TOOLS:
            with self.subTest(tool=tool):
                text = self.page_text(tool)
                self.assertRegex(text, rf"(?m)^NAME\s+{tool} - ")
                self.assertIn(f"redis-keepalived {VERSION}", text)
                found, order = sections(text)
                self.assertEqual([name for name in order if name in PAGE_SECTIONS],
                                 list(PAGE_SECTIONS), f"{tool}.1's sections")
                # One source: the page's options are exactly those of --help.
                help_text = self.help_text(tool)
                self.assertEqual(long_options(found["OPTIONS"]), long_options(help_text),
                                 f"{tool}.1's OPTIONS against {tool} --help")
                for option in sorted(long_options(help_text)):
                    self.assertIn(f"--{option}", text, f"{tool}.1 lacks --{option}")

    def test_each_tool_lists_its_own_exit_codes(self):
        for tool in TOOLS:
            with self.subTest(tool=tool):
                self.assertEqual(help_exit_codes(self.help_text(tool)), EXIT_CODES[tool],
                                 f"{tool} --help")
                if installkit.manpages_enabled():
                    found, _ = sections(self.page_text(tool))
                    self.assertIn("EXIT STATUS", found, f"{tool}.1")
                    self.assertEqual(listed_exit_codes(found["EXIT STATUS"]), EXIT_CODES[tool],
                                     f"{tool}.1's EXIT STATUS")

    def test_no_cli11_words_in_help_or_pages(self):
        for tool in TOOLS:
            texts = {f"{tool} --help": self.help_text(tool)}
            if installkit.manpages_enabled():
                texts[f"{tool}.1"] = self.page_text(tool)
            for name, text in texts.items():
                for word in CLI11_WORDS:
                    with self.subTest(text=name, word=word):
                        found = re.search(word, text)
                        self.assertIsNone(found, f"{name} shows CLI11's {found and found[0]!r}")

    def test_section5_page_lists_every_option(self):
        if not installkit.manpages_enabled():
            self.skipTest("configured with RK_MANPAGES=OFF")
        page = self.assert_file("share", "man", "man5", "redis-keepalived.conf.5", mode=0o644)
        text, warnings = installkit.render_man(page)
        self.assertEqual(warnings, "", "groff warnings in redis-keepalived.conf.5")
        self.assertRegex(text, r"(?m)^NAME\s+redis-keepalived.conf - ")
        documented = interface_options() - {"config", "help", "version"}
        self.assertGreater(len(documented), 10, "could not read the options of docs/interface.md")
        for option in sorted(documented):
            self.assertRegex(text, rf"(?m)^\s+{re.escape(option)} = ",
                             f"redis-keepalived.conf.5 lacks the key {option}")
        # And every option the tools take in a file.
        for tool in TOOLS:
            for option in sorted(long_options(self.help_text(tool)) - {"config"}):
                self.assertIn(option, text, f"redis-keepalived.conf.5 lacks {option} ({tool})")
        self.assertIn("exit 2", text)


if __name__ == "__main__":
    installkit.main()
