"""Static checks of the init script and the package's maintainer scripts:
they parse with sh, dash and bash (-n), and the init script has a complete
LSB header. shellcheck runs in test_shellcheck.py.
"""
import os
import re
import shutil
import unittest

import installkit
from installkit import INIT_SCRIPT, SOURCE_DIR, run

MAINTAINER_SCRIPTS = [os.path.join(SOURCE_DIR, "cmake", "deb", name) for name in ("postinst", "postrm")]


class InitScriptLint(unittest.TestCase):
    def test_parses_with_every_shell(self):
        for shell in ("sh", "dash", "bash"):
            if shutil.which(shell):
                for script in [INIT_SCRIPT] + MAINTAINER_SCRIPTS:
                    with self.subTest(shell=shell, script=script):
                        result = run([shell, "-n", script])
                        self.assertEqual(result.returncode, 0, result.stderr)

    def test_lsb_header(self):
        with open(INIT_SCRIPT, encoding="utf-8") as script:
            text = script.read()
        self.assertTrue(text.startswith("#!/bin/sh\n"))
        header = re.search(r"^### BEGIN INIT INFO\n(.*?)^### END INIT INFO$", text, re.S | re.M)
        self.assertIsNotNone(header, "no LSB header")
        fields = dict(re.findall(r"^# ([A-Za-z-]+):\s*(.*)$", header.group(1), re.M))
        for field in ("Provides", "Required-Start", "Required-Stop", "Default-Start",
                      "Default-Stop", "Short-Description"):
            self.assertIn(field, fields)
        self.assertEqual(fields["Provides"], "redis-server-rk")
        self.assertEqual(fields["Default-Start"].split(), ["2", "3", "4", "5"])
        self.assertEqual(fields["Default-Stop"].split(), ["0", "1", "6"])
        self.assertEqual(fields.get("X-Start-Before"), "keepalived")
        self.assertTrue(os.access(INIT_SCRIPT, os.X_OK), "init script is not executable in git")


if __name__ == "__main__":
    installkit.main()
