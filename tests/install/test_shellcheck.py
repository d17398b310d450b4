"""shellcheck on the shell scripts this project installs: the init script,
its defaults file and the package's maintainer scripts. Skipped (77) when
shellcheck is missing (Debian: shellcheck).
"""
import os
import shutil
import unittest

import installkit
from installkit import INIT_SCRIPT, SOURCE_DIR, run

SCRIPTS = [
    INIT_SCRIPT,
    os.path.join(SOURCE_DIR, "init.d", "redis-server-rk.default"),
    os.path.join(SOURCE_DIR, "init.d", "redis-watch"),
    os.path.join(SOURCE_DIR, "cmake", "deb", "postinst"),
    os.path.join(SOURCE_DIR, "cmake", "deb", "postrm"),
]


class ShellCheck(unittest.TestCase):
    def test_scripts_are_clean(self):
        for script in SCRIPTS:
            with self.subTest(script=script):
                result = run(["shellcheck", "--shell", "sh", "--severity", "style", script])
                self.assertEqual(result.returncode, 0, result.stdout + result.stderr)


if __name__ == "__main__":
    if not shutil.which("shellcheck"):
        installkit.skip("shellcheck is not installed (Debian: shellcheck)")
    installkit.main()
