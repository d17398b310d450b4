"""Test support shared by the integration and end-to-end suites.

A minimal RESP client (so the tests need nothing beyond the Python standard
library) and a RedisServer fixture that starts a real redis-server on a
loopback port with its own data dir, and stops it by PID. Both speak TLS when
given a TlsClient (see tlskit.py for certificates and server settings).

The server is the one named by the environment variable RK_SERVER
(redis-server by default; RK_SERVER=valkey-server runs every suite against
Valkey), a name on PATH or a path.
"""
import os
import select
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time


# The server binary every suite runs: a name on PATH or a path.
SERVER = os.environ.get("RK_SERVER") or "redis-server"


def server_binary():
    """The path of RK_SERVER's binary, or None when it is not installed."""
    found = shutil.which(SERVER)
    if found:
        return found
    for directory in ("/usr/bin", "/usr/sbin"):
        path = os.path.join(directory, SERVER)
        if "/" not in SERVER and os.access(path, os.X_OK):
            return path
    return None


def python_with(module):
    """A Python interpreter that can import MODULE: this one, or Debian's
    /usr/bin/python3 (where python3-<module> installs it, when this one is
    another Python); None when neither can."""
    for python in dict.fromkeys([sys.executable, "/usr/bin/python3"]):
        if os.access(python, os.X_OK) and subprocess.run(
                [python, "-c", f"import {module}"], stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL).returncode == 0:
            return python
    return None


def missing_server():
    """Why the suites cannot run here (RK_SERVER is not installed), or None."""
    if server_binary() is not None:
        return None
    hint = ("Debian bookworm: scripts/deps.sh installs it from bookworm-backports"
            if "valkey" in SERVER else "Debian: apt-get install redis-server")
    return f"RK_SERVER={SERVER} is not installed ({hint})"


class RedisReplyError(Exception):
    """An error reply (-ERR, -LOADING, ...) from the server."""


def parse_info(text):
    """INFO text as a dict of its key:value lines."""
    fields = {}
    for line in text.splitlines():
        if ":" in line and not line.startswith("#"):
            k, v = line.split(":", 1)
            fields[k] = v
    return fields


class TlsClient:
    """How a test client speaks TLS: its certificate and key (cert, key:
    paths, both or neither) and the CA file that verifies the server (ca;
    None verifies nothing). The server's host name is never checked: these
    clients drive test servers, whatever their certificates name."""

    def __init__(self, cert=None, key=None, ca=None):
        if (cert is None) != (key is None):
            raise ValueError("TlsClient: cert and key go together")
        self.cert, self.key, self.ca = cert, key, ca

    def context(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        if self.ca:
            ctx.load_verify_locations(cafile=self.ca)
        else:
            ctx.verify_mode = ssl.CERT_NONE
        if self.cert:
            ctx.load_cert_chain(self.cert, self.key)
        return ctx

    def __repr__(self):
        return f"TlsClient(cert={self.cert!r}, key={self.key!r}, ca={self.ca!r})"


class Resp:
    """A blocking RESP2 client over one TCP (or TLS) connection."""

    def __init__(self, host="127.0.0.1", port=6379, timeout=2.0, auth=None, tls=None):
        """auth: None, a password, or a (user, password) pair sent with AUTH.
        tls: None (plain TCP) or a TlsClient."""
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""
        if tls is not None:
            try:
                self.sock = tls.context().wrap_socket(self.sock, server_hostname=host)
            except BaseException:
                self.sock.close()
                raise
        if auth is not None:
            try:
                if isinstance(auth, (tuple, list)):
                    self.call("AUTH", *auth)
                else:
                    self.call("AUTH", auth)
            except BaseException:
                self.close()
                raise

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed by server")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed by server")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def _reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return RedisReplyError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n).decode(errors="replace")
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise ConnectionError(f"bad RESP type byte {kind!r}")

    def send(self, *args):
        out = [f"*{len(args)}\r\n".encode()]
        for a in args:
            b = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(b), b))
        self.sock.sendall(b"".join(out))

    def call(self, *args):
        """Send one command and return its reply; raise on an error reply."""
        self.send(*args)
        reply = self._reply()
        if isinstance(reply, RedisReplyError):
            raise reply
        return reply

    def info(self, section=None):
        return parse_info(self.call("INFO", section) if section else self.call("INFO"))


def free_port():
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout, interval=0.02, what="condition"):
    """Poll predicate() until it returns a truthy value or timeout elapses."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except (OSError, ConnectionError, RedisReplyError) as exc:
            last_exc = exc
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}"
                       + (f" (last error: {last_exc})" if last_exc else ""))


def stop_process(proc, timeout=10):
    """SIGTERM a process we started, SIGKILL it if it outlives `timeout`."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


class RedisServer:
    """A real redis-server (RK_SERVER) on 127.0.0.1:<port>, with its own dir
    and config file.

    The config file lives in the data dir, so CONFIG REWRITE works. Stopped by
    PID (SIGTERM, then SIGKILL) in stop(); use as a context manager so it is
    stopped even when a test fails.

    With tls (a TlsClient), `port` is a TLS-only port (port 0, tls-port
    PORT) and every connection of this class (readiness probe, client(),
    info(), call()) speaks TLS as that TlsClient says; the certificate
    settings go in extra_config (tlskit.server_config()).
    """

    def __init__(self, port=None, extra_config=(), data_dir=None, binary=None,
                 auth=None, tls=None):
        """auth: credentials client() uses (a password or a (user, password)
        pair), for servers whose default user is disabled or has requirepass.
        tls: None (plain TCP) or the TlsClient its own clients use."""
        self.auth = auth
        self.tls = tls
        self.port = port or free_port()
        self.own_dir = data_dir is None
        self.dir = data_dir or tempfile.mkdtemp(prefix=f"redis-{self.port}-")
        self.binary = binary or server_binary() or SERVER
        self.extra_config = list(extra_config)
        self.proc = None
        self.conf = os.path.join(self.dir, "redis.conf")
        # Arguments after the config file (["--sentinel"] runs a sentinel).
        self.args = []

    def write_config(self):
        ports = ["port 0", f"tls-port {self.port}"] if self.tls else [f"port {self.port}"]
        lines = ports + [
            "bind 127.0.0.1",
            f"dir {self.dir}",
            "daemonize no",
            "save \"\"",
            "appendonly no",
            f"logfile {os.path.join(self.dir, 'redis.log')}",
            "protected-mode no",
        ] + self.extra_config
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")

    def start(self, wait=True):
        if not os.path.exists(self.conf):
            self.write_config()
        self.proc = subprocess.Popen([self.binary, self.conf, *self.args],
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        if wait:
            wait_until(self._pong, 10, what=f"{self.name} on port {self.port}")
        return self

    @property
    def name(self):
        return os.path.basename(self.binary)

    def _pong(self):
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} on port {self.port} exited "
                               f"with {self.proc.returncode}; see {self.dir}/redis.log")
        try:
            with Resp("127.0.0.1", self.port, timeout=0.5, auth=self.auth,
                      tls=self.tls) as c:
                return c.call("PING") == "PONG"
        except RedisReplyError as exc:
            # LOADING/MASTERDOWN still mean the process is up and serving INFO.
            return "LOADING" in str(exc) or "MASTERDOWN" in str(exc)

    def client(self, timeout=2.0):
        return Resp("127.0.0.1", self.port, timeout=timeout, auth=self.auth, tls=self.tls)

    def info(self, section=None):
        with self.client() as c:
            return c.info(section)

    def call(self, *args):
        with self.client() as c:
            return c.call(*args)

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=10)

    def stop(self):
        stop_process(self.proc)

    def cleanup(self):
        self.stop()
        if self.own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()


def populate(server, count, prefix="k", batch=500):
    """Write keys PREFIX:0..count-1 with values v0..v(count-1) (pipelined MSET)."""
    with server.client(timeout=30) as c:
        for start in range(0, count, batch):
            end = min(count, start + batch)
            args = []
            for i in range(start, end):
                args += [f"{prefix}:{i}", f"v{i}"]
            c.call("MSET", *args)


def missing_keys(server, count, prefix="k", batch=1000):
    """Indexes i in 0..count-1 whose key PREFIX:i is absent or has the wrong value."""
    missing = []
    with server.client(timeout=30) as c:
        for start in range(0, count, batch):
            idx = list(range(start, min(count, start + batch)))
            values = c.call("MGET", *[f"{prefix}:{i}" for i in idx])
            missing += [i for i, v in zip(idx, values) if v != f"v{i}"]
    return missing


class ThenClose(bytes):
    """A scripted FakeServer reply after which it closes the connection."""


class FakeServer:
    """A TCP server on 127.0.0.1 that misbehaves like a sick Redis.

    mode:
      "hang"  accept connections and never answer (nor read);
      "half"  read a command, answer with a truncated "+PO" and hang;
      "slow"  answer every command (+OK to AUTH/HELLO-less commands, +PONG to
              PING, -ERR otherwise) after `delay` seconds;
      "reply" answer every command at once with the fixed `reply` bytes.
    Modes that answer with `replies[NAME]` (raw RESP bytes keyed by the upper
    case command name, e.g. b"INFO"; or a list of them, one per call, the
    last repeating, where None means no answer), or else as "slow" does:
      "map"        the whole reply at once;
      "stall-half" the first half of the reply, then nothing (connection open);
      "drip"       the reply one byte every `interval` seconds;
      "close-half" the first half of the reply, then close the connection.
    A scripted reply wrapped in ThenClose(...) is sent whole, then the
    connection is closed, whatever the mode.
    Runs in daemon threads; close() stops it, closes every connection and
    joins the threads.
    """

    def __init__(self, mode="hang", delay=0.0, reply=b"", replies=None, interval=0.2):
        self.mode, self.delay, self.reply = mode, delay, reply
        self.replies = dict(replies or {})
        self.interval = interval
        self.threads = []
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.closed = threading.Event()
        self.conns = []
        self.lock = threading.Lock()
        self.accepted = 0
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.thread.start()

    def _accept_loop(self):
        while not self.closed.is_set():
            r, _, _ = select.select([self.lsock], [], [], 0.05)
            if not r:
                continue
            try:
                conn, _ = self.lsock.accept()
            except OSError:
                return
            with self.lock:
                self.conns.append(conn)
                self.accepted += 1
            if self.mode != "hang":
                thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
                with self.lock:
                    self.threads.append(thread)
                thread.start()

    def _read_command(self, conn, buf):
        """Read one RESP array (or inline) command; return (args, rest) or None."""
        while True:
            cmd = _parse_command(buf)
            if cmd is not None:
                return cmd
            r, _, _ = select.select([conn], [], [], 0.05)
            if self.closed.is_set():
                return None
            if not r:
                continue
            try:
                chunk = conn.recv(65536)
            except OSError:
                return None
            if not chunk:
                return None
            buf += chunk

    def _serve(self, conn):
        buf = b""
        while not self.closed.is_set():
            got = self._read_command(conn, buf)
            if got is None:
                return
            args, buf = got
            name = args[0].upper() if args else b""
            if self.mode == "half":
                out = b"+PO"
            elif self.mode == "reply":
                out = self.reply
            elif name in self.replies:
                out = self._next_reply(name)
                if out is None:  # scripted silence: never answer again
                    self.closed.wait()
                    return
            elif name == b"PING":
                out = b"+PONG\r\n"
            elif name in (b"AUTH", b"SELECT", b"CLIENT"):
                out = b"+OK\r\n"
            else:
                out = b"-ERR unknown command\r\n"
            if self.delay and self.closed.wait(self.delay):
                return
            if self.mode in ("stall-half", "close-half"):
                out = out[:max(1, len(out) // 2)]
            close_after = isinstance(out, ThenClose)
            try:
                if self.mode == "drip":
                    for i in range(len(out)):
                        conn.sendall(out[i:i + 1])
                        if self.closed.wait(self.interval):
                            return
                else:
                    conn.sendall(out)
            except OSError:
                return
            if self.mode in ("half", "stall-half"):
                self.closed.wait()
                return
            if self.mode == "close-half" or close_after:
                try:
                    conn.close()
                except OSError:
                    pass
                return

    def _next_reply(self, name):
        """replies[name] as bytes, or the next of a list of them (its last
        entry repeats); None stands for no answer at all."""
        with self.lock:
            scripted = self.replies[name]
            if isinstance(scripted, list):
                return scripted.pop(0) if len(scripted) > 1 else scripted[0]
            return scripted

    def close(self):
        self.closed.set()
        try:
            self.lsock.close()
        except OSError:
            pass
        with self.lock:
            for c in self.conns:
                try:
                    c.close()
                except OSError:
                    pass
            threads = list(self.threads)
        self.thread.join(timeout=2)
        for thread in threads:
            thread.join(timeout=2)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _parse_command(buf):
    """Parse one RESP multibulk (or inline) command from buf: (args, rest) or None."""
    if not buf:
        return None
    if buf[:1] != b"*":
        if b"\r\n" not in buf:
            return None
        line, rest = buf.split(b"\r\n", 1)
        return line.split(), rest
    if b"\r\n" not in buf:
        return None
    head, rest = buf.split(b"\r\n", 1)
    n = int(head[1:])
    args = []
    for _ in range(n):
        if b"\r\n" not in rest:
            return None
        blen, after = rest.split(b"\r\n", 1)
        size = int(blen[1:])
        if len(after) < size + 2:
            return None
        args.append(after[:size])
        rest = after[size + 2:]
    return args, rest


class SilentPort:
    """A loopback port where TCP connects never complete, like a host that
    drops SYNs: a listener with a full accept queue that never accepts."""

    def __init__(self):
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(0)
        self.port = self.lsock.getsockname()[1]
        self.fillers = []
        # Fill the accept queue until a connect no longer completes.
        for _ in range(16):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(0.2)
            try:
                s.connect(("127.0.0.1", self.port))
            except OSError:
                s.close()
                break
            self.fillers.append(s)
        else:
            self.close()
            raise RuntimeError("could not fill the accept queue")

    def close(self):
        for s in self.fillers + [self.lsock]:
            try:
                s.close()
            except OSError:
                pass
        self.fillers = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
