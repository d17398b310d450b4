"""keepalived's own config test (keepalived -t) accepts the sample
keepalived.conf of both nodes, with the scripts pointing at a freshly
installed bin dir.

keepalived -t resolves every script and disables (exit 5) the ones it cannot
find, so a pass also shows that the installed binaries are where the
samples' paths say, once /usr/bin is swapped for the temporary prefix. A
copy whose scripts are missing must fail, which shows the check looks.

Three changes to the copies, all outside what is being tested:
  - script_user root instead of keepalived_script: keepalived 2.2.7's config
    test kills itself (SIGTERM, exit 143) as soon as a script runs as another
    user, whatever the config (fixed in keepalived 2.2.8). The sample's other
    global_defs, enable_script_security included, stay.
  - The track_files' directories, which the package creates, are
    temporary ones: keepalived 2.3 rejects a track_file whose directory is
    missing.
  - The samples bind to eth0, which must exist and not be a loopback. The
    test runs keepalived in a private network namespace with a veth named
    eth0 when it can (root); otherwise on the host, with eth0 renamed to
    the host's first non-loopback interface.
"""
import os
import re
import shutil
import signal

import installkit
from installkit import run

NODES = ("keepalived-node-a.conf", "keepalived-node-b.conf")
# Sentinel mode's data node (one file for every node): only redis_watch's
# track_file, VRRPv3 with sub-second adverts.
SENTINEL_NODE = "keepalived-sentinel-node.conf"
# Where the samples' track_files are (redis_watch's and the maintenance flag).
TRACK_FILE_DIRS = ("/run/redis-keepalived", "/var/lib/redis-keepalived")
# The faster vrrp_script timings the samples offer in a comment, one
# directive a line, indented: "    #     interval 0.3".
COMMENTED_TIMING = re.compile(r"(?m)^[ \t]*#[ \t]{3,}(interval|timeout|fall|rise)[ \t]+([0-9.]+)[ \t]*$")


def keepalived():
    for candidate in (shutil.which("keepalived"), "/usr/sbin/keepalived"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    installkit.skip("keepalived is not installed (Debian: keepalived)")


def keepalived_version(binary):
    """(2, 2, 7) from "Keepalived v2.2.7 (01/16,2022)", which -v prints."""
    result = run([binary, "-v"])
    match = re.search(r"Keepalived v(\d+)\.(\d+)\.(\d+)", result.stdout + result.stderr)
    if not match:
        raise AssertionError(f"{binary} -v: no version in {result.stdout + result.stderr!r}")
    return tuple(int(part) for part in match.groups())


def host_interface():
    """A non-loopback interface of this host, eth0 preferred, or None."""
    try:
        names = sorted(os.listdir("/sys/class/net"))
    except OSError:
        return None
    if "eth0" in names:
        return "eth0"
    for name in names:
        try:
            with open(f"/sys/class/net/{name}/type", encoding="ascii") as kind:
                if kind.read().strip() == "772":  # ARPHRD_LOOPBACK
                    continue
        except OSError:
            continue
        return name
    return None


def can_use_netns():
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("ip"):
        return False
    probe = run(["unshare", "--net", "sh", "-c",
                 "ip link add eth0 type veth peer name rkpeer0"], timeout=30)
    return probe.returncode == 0


class KeepalivedConfigTest(installkit.TempDirTestCase):
    keepalived = None
    netns = False
    interface = None

    def setUp(self):
        super().setUp()
        # keepalived checks every directory on the path of a script run as
        # root: the prefix must be root-owned and not writable by others.
        os.chmod(self.tmp, 0o755)
        self.prefix = installkit.install_tree(os.path.join(self.tmp, "prefix"))

    def render(self, sample, bin_dir, timings=None, track_dirs=TRACK_FILE_DIRS):
        """A root copy of SAMPLE, its scripts in BIN_DIR; TIMINGS: vrrp_script
        directives ({"interval": "0.3"}) in place of the sample's."""
        with open(os.path.join(installkit.SAMPLES, sample), encoding="utf-8") as source:
            text = source.read()
        for key, value in (timings or {}).items():
            text, count = re.subn(rf"(?m)^([ \t]*){key}[ \t]+\S+$", rf"\g<1>{key} {value}", text)
            self.assertEqual(count, 1, f"{sample} sets {key} {count} times")
        self.assertIn("script_user keepalived_script", text)
        self.assertIn('"/usr/bin/redis_check ', text)
        text = text.replace("script_user keepalived_script", "script_user root")
        # A track_file whose directory is missing is dropped: keepalived 2.3
        # says so at the config test, 2.2.7 only when it starts. The package
        # makes both directories; here they are temporary ones.
        for directory in track_dirs:
            self.assertIn(f'file "{directory}/', text)
            local = os.path.join(self.tmp, directory.strip("/").replace("/", "-"))
            os.makedirs(local, exist_ok=True)
            text = text.replace(f'file "{directory}/', f'file "{local}/')
        text = text.replace('"/usr/bin/redis_', f'"{bin_dir}/redis_')
        if self.interface != "eth0":
            text = text.replace("eth0", self.interface)
        path = os.path.join(self.tmp, f"rendered-{sample}")
        with open(path, "w", encoding="utf-8") as rendered:
            rendered.write(text)
        return path

    def config_test(self, config):
        command = [self.keepalived, "--config-test", "--use-file", config]
        if self.netns:
            script = ('ip link add eth0 type veth peer name rkpeer0 && ip link set eth0 up && '
                      'exec "$@"')
            command = ["unshare", "--net", "sh", "-c", script, "sh"] + command
        result = run(command, timeout=60)
        self.assertNotEqual(result.returncode, 128 + signal.SIGTERM,
                            "keepalived -t killed itself: is a script still run as another user?")
        self.assertNotEqual(result.returncode, -signal.SIGTERM,
                            "keepalived -t killed itself: is a script still run as another user?")
        return result

    def test_samples_pass_the_config_test(self):
        bin_dir = os.path.join(self.prefix, "bin")
        for sample in NODES:
            with self.subTest(sample=sample):
                result = self.config_test(self.render(sample, bin_dir))
                output = result.stdout + result.stderr
                self.assertEqual(result.returncode, 0, f"keepalived -t rejects {sample}:\n{output}")
                for word in ("Disabling", "disabling", "WARNING", "SECURITY", "Unknown"):
                    self.assertNotIn(word, output, f"keepalived -t on {sample}:\n{output}")

    def test_sentinel_sample_passes_the_config_test(self):
        # keepalived 2.2.7 takes VRRPv3's centisecond advert_int (0.1) as
        # written; a rejected one would print a warning and fall back to 1 s.
        bin_dir = os.path.join(self.prefix, "bin")
        result = self.config_test(self.render(SENTINEL_NODE, bin_dir,
                                              track_dirs=("/run/redis-keepalived",)))
        output = result.stdout + result.stderr
        self.assertEqual(result.returncode, 0, f"keepalived -t rejects {SENTINEL_NODE}:\n{output}")
        for word in ("Disabling", "disabling", "WARNING", "SECURITY", "Unknown", "invalid"):
            self.assertNotIn(word, output, f"keepalived -t on {SENTINEL_NODE}:\n{output}")

    def test_commented_subsecond_timings(self):
        # The samples offer a fractional interval in a comment, since they
        # must load on keepalived 2.2.7, which reads "0.3" as an invalid
        # number (and then checks every second). keepalived 2.3.2 and later
        # take it as written; each side is what the comment says.
        version = keepalived_version(self.keepalived)
        fractions = version >= (2, 3, 2)
        bin_dir = os.path.join(self.prefix, "bin")
        for sample in NODES:
            with self.subTest(sample=sample):
                with open(os.path.join(installkit.SAMPLES, sample), encoding="utf-8") as source:
                    timings = dict(COMMENTED_TIMING.findall(source.read()))
                self.assertIn(".", timings.get("interval", ""), f"{sample}: no fractional interval")
                result = self.config_test(self.render(sample, bin_dir, timings))
                output = result.stdout + result.stderr
                invalid = f"invalid number '{timings['interval']}'"
                if fractions:
                    self.assertEqual(result.returncode, 0, f"keepalived -t on {sample}:\n{output}")
                    self.assertNotIn("WARNING", output)
                else:
                    self.assertNotEqual(result.returncode, 0, output)
                    self.assertIn(invalid, output)

    def test_missing_scripts_fail_the_config_test(self):
        missing = os.path.join(self.tmp, "no-such-dir")
        result = self.config_test(self.render(NODES[0], missing))
        self.assertNotEqual(result.returncode, 0, "keepalived -t accepted missing scripts")
        self.assertIn("Disabling track script chk_redis", result.stdout + result.stderr)


def prepare():
    """Skips (exit 77) where the test cannot run; else sets the class up."""
    if os.geteuid() != 0:
        installkit.skip("keepalived -t must run as root")
    KeepalivedConfigTest.keepalived = keepalived()
    KeepalivedConfigTest.netns = can_use_netns()
    KeepalivedConfigTest.interface = "eth0" if KeepalivedConfigTest.netns else host_interface()
    if KeepalivedConfigTest.interface is None:
        installkit.skip("no non-loopback network interface, and no network namespace")


if __name__ == "__main__":
    prepare()
    installkit.main()
