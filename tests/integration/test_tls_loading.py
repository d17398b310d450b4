"""The system's OpenSSL, loaded only for TLS: the tools link no libssl; with
a TLS option they load rk-openssl.so (linked against the system's
libssl.so.3 and libcrypto.so.3, so an OpenSSL update reaches them without a
rebuild) from <libdir>/redis-keepalived beside their own bin/, and without
one they never map it (loading OpenSSL costs about a whole plain check).
A static redis_check hands a TLS check to its dynamic twin in that
directory. A tool whose shim (or twin) is missing says so and exits 2 when
asked for TLS, and still runs plain checks."""
import os
import re
import shutil
import struct
import subprocess

import itkit
from itkit import ToolTestCase, setUpModule, wait_until  # noqa: F401
from rediskit import RedisServer, TlsClient
import tlskit

OPENSSL_OBJECTS = re.compile(r"libssl|libcrypto|rk-openssl")


def mapped_files(pid):
    """The files mapped into process PID (/proc/PID/maps)."""
    with open(f"/proc/{pid}/maps") as maps:
        return {line.split(None, 5)[5].strip() for line in maps
                if len(line.split(None, 5)) == 6 and line.split(None, 5)[5].startswith("/")}


def is_static(path):
    """True when the ELF file PATH has no program interpreter (PT_INTERP)."""
    with open(path, "rb") as f:
        elf = f.read(64)
        phoff, = struct.unpack_from("<Q", elf, 32)
        phentsize, phnum = struct.unpack_from("<HH", elf, 54)
        f.seek(phoff)
        headers = f.read(phentsize * phnum)
    return all(struct.unpack_from("<I", headers, i * phentsize)[0] != 3 for i in range(phnum))


def ldd_paths(path):
    """{soname: path} as the system's loader resolves PATH's libraries."""
    out = subprocess.run(["ldd", path], capture_output=True, text=True, check=True).stdout
    return dict(re.findall(r"^\s*(\S+) => (/\S+)", out, re.M))


class TlsLoadingTest(ToolTestCase):

    def setUp(self):
        super().setUp()
        cert_dir = tlskit.cert_dir(self.tmp)
        self.certs = tlskit.make_all(cert_dir)
        self.track = os.path.join(self.tmp, "redis.watch")

    def tls_server(self):
        port = itkit.free_port()
        config = tlskit.server_config(port, self.certs.server, self.certs.ca, auth_clients="no")
        srv = RedisServer(port=port, extra_config=list(itkit.BASE_CONFIG) + config,
                          tls=TlsClient(self.certs.client.cert, self.certs.client.key))
        self.addCleanup(srv.cleanup)
        return srv.start()

    def watching(self, port, *tls):
        """redis_watch running against PORT, once its track file says 0."""
        running = self.start_tool("redis_watch", "--host", "127.0.0.1", "--port", str(port),
                                  "--track-file", self.track, "--interval-ms", "100",
                                  "--timeout", "300", *tls)
        wait_until(lambda: itkit.read_text(self.track).strip() == "0"
                   if os.path.exists(self.track) else False, 5,
                   what=f"0 from redis_watch {' '.join(tls)}")
        return running

    def loader_trace(self, tool, *args):
        """A run of TOOL with LD_DEBUG=files: (Result, the loader's trace)."""
        trace = os.path.join(self.tmp, f"ld-{tool}")
        r = self.run_tool(tool, *args, common=False, timeout=20,
                          env={"LD_DEBUG": "files", "LD_DEBUG_OUTPUT": trace})
        text = "".join(itkit.read_text(os.path.join(self.tmp, name))
                       for name in os.listdir(self.tmp) if name.startswith(f"ld-{tool}."))
        return r, text

    def test_plain_runs_never_map_openssl(self):
        srv = self.server()
        watch = self.watching(srv.port)
        self.assertEqual({f for f in mapped_files(watch.pid) if OPENSSL_OBJECTS.search(f)},
                         set(), "a plain redis_watch mapped OpenSSL")
        r, trace = self.loader_trace("redis_check", "--state-dir", self.state_dir,
                                     "--host", "127.0.0.1", "--port", str(srv.port))
        self.assertRc(r, 0)
        if is_static(itkit.tool_path("redis_check")):
            # No loader at all: nothing was loaded, and the twin never ran.
            self.assertEqual(trace, "", "a plain static redis_check ran a dynamic binary")
        else:
            self.assertIn("libc.so.6", trace, "LD_DEBUG traced nothing")
            self.assertNotRegex(trace, OPENSSL_OBJECTS, "a plain redis_check loaded OpenSSL")

    def test_tls_runs_map_the_systems_libssl(self):
        srv = self.tls_server()
        watch = self.watching(srv.port, "--tls", "--cacert", self.certs.ca.cert)
        mapped = mapped_files(watch.pid)
        [shim] = [f for f in mapped if f.endswith("/rk-openssl.so")]
        # The tool's own tree's copy: bin/ and lib/.../redis-keepalived/ share a parent.
        tree = os.path.dirname(os.path.dirname(os.path.realpath(itkit.tool_path("redis_watch"))))
        self.assertTrue(shim.startswith(tree + "/"), f"{shim} is not under {tree}")
        system = ldd_paths(shim)
        for soname in ("libssl.so.3", "libcrypto.so.3"):
            with self.subTest(soname):
                self.assertIn(soname, system, f"ldd {shim} does not list {soname}")
                [path] = [f for f in mapped if os.path.basename(f) == soname]
                self.assertEqual(os.path.realpath(path), os.path.realpath(system[soname]))
                self.assertRegex(path, r"^(/usr)?/lib/", "not the system's copy")
        r, trace = self.loader_trace("redis_check", "--state-dir", self.state_dir,
                                     "--host", "127.0.0.1", "--port", str(srv.port),
                                     "--tls", "--cacert", self.certs.ca.cert)
        self.assertRc(r, 0)
        self.assertRegex(trace, r"file=\S*/rk-openssl\.so \[0\];\s+dynamically loaded by")
        self.assertRegex(trace, r"file=libssl\.so\.3 \[0\];\s+needed by \S*/rk-openssl\.so")

    def test_missing_shim_is_a_usage_error(self):
        srv = self.server()
        # The tools alone, without the lib dir the shim is installed in.
        bindir = os.path.join(self.tmp, "prefix", "bin")
        os.makedirs(bindir)
        for tool in ("redis_check", "redis_status"):
            shutil.copy(itkit.tool_path(tool), bindir)
        check = [os.path.join(bindir, "redis_check"), "--state-dir", self.state_dir,
                 "--host", "127.0.0.1", "--port", str(srv.port), "--timeout", "500"]
        # A dynamic tool names the shim; the static redis_check its twin.
        missing = (rf"TLS support is not installed: cannot (load|run) "
                   rf"{re.escape(os.path.join(self.tmp, 'prefix'))}/\S*(rk-openssl\.so|redis_check) "
                   rf"\(.*No such file or directory\)")
        with self.subTest("a plain check needs no shim"):
            r = subprocess.run(check, capture_output=True, text=True, timeout=20)
            self.assertEqual(r.returncode, 0, r.stderr)
        for argv in (check + ["--tls"],
                     [os.path.join(bindir, "redis_status"), "--host", "127.0.0.1",
                      "--port", str(srv.port), "--tls", "--insecure"]):
            with self.subTest(os.path.basename(argv[0])):
                r = subprocess.run(argv, capture_output=True, text=True, timeout=20)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertRegex(r.stderr, missing)


if __name__ == "__main__":
    itkit.main()
