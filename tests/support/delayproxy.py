"""A TCP proxy on loopback that delays or cuts a server's replies on cue, to
make a reply arrive after a tool's deadline the way a latency spike or a TCP
retransmission does, while the command itself reaches the real server at
once (so the server acts on it).

    with DelayProxy(server.port) as proxy:
        proxy.delay_reply_after(REPLICAOF_NO_ONE, seconds=2.0)
        ... point the tool at proxy.port ...

Every connection through the proxy is forwarded to 127.0.0.1:target_port.
A cue is armed once: the first client->server chunk that contains its bytes
fires it, on that connection only; later connections are forwarded as they
are, so a tool's fresh connection reads the server's true state.
"""
import socket
import threading
import time

# How the tools send REPLICAOF NO ONE (RESP, upper case).
REPLICAOF_NO_ONE = b"$9\r\nREPLICAOF\r\n$2\r\nNO\r\n$3\r\nONE\r\n"


class DelayProxy:
    def __init__(self, target_port, host="127.0.0.1"):
        self.target = (host, target_port)
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((host, 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.cue = None  # (bytes, "delay"|"cut", seconds)
        self.fired = threading.Event()
        self.refusing = False  # new connections are closed at once
        self.refuse_on_cue = False
        self.closed = False
        self.sockets = []
        threading.Thread(target=self._accept_loop, daemon=True).start()

    def delay_reply_after(self, pattern, seconds, then_refuse=False):
        """The server's replies on the connection that sends PATTERN are held
        for SECONDS from that moment, then delivered. THEN_REFUSE: from that
        moment on, new connections are refused too (the server looks gone)."""
        with self.lock:
            self.cue = (pattern, "delay", seconds)
            self.refuse_on_cue = then_refuse
            self.fired.clear()

    def cut_after(self, pattern):
        """The connection that sends PATTERN is forwarded, then closed (the
        client sees a reset) before any reply reaches it."""
        with self.lock:
            self.cue = (pattern, "cut", 0.0)
            self.fired.clear()

    def refuse_new(self, refusing=True):
        """New connections are closed as soon as they are accepted."""
        self.refusing = refusing

    def _accept_loop(self):
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.refusing:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.sockets += [client, upstream]
            link = {"release_at": 0.0, "cut": False}
            threading.Thread(target=self._pump_up, args=(client, upstream, link),
                             daemon=True).start()
            threading.Thread(target=self._pump_down, args=(upstream, client, link),
                             daemon=True).start()

    def _pump_up(self, client, upstream, link):
        while True:
            try:
                data = client.recv(65536)
            except OSError:
                data = b""
            if not data:
                self._close(client, upstream)
                return
            with self.lock:
                cue = self.cue
                if cue and cue[0] in data:
                    self.cue = None
                    if cue[1] == "delay":
                        link["release_at"] = time.monotonic() + cue[2]
                        self.refusing = self.refuse_on_cue
                    else:
                        link["cut"] = True
                    self.fired.set()
            try:
                upstream.sendall(data)
            except OSError:
                self._close(client, upstream)
                return
            if link["cut"]:
                # Let the command reach the server, then reset the client.
                time.sleep(0.05)
                try:
                    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                      b"\x01\x00\x00\x00\x00\x00\x00\x00")
                except OSError:
                    pass
                self._close(client, upstream)
                return

    def _pump_down(self, upstream, client, link):
        while True:
            try:
                data = upstream.recv(65536)
            except OSError:
                data = b""
            if not data:
                self._close(client, upstream)
                return
            wait = link["release_at"] - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            if link["cut"]:
                return
            try:
                client.sendall(data)
            except OSError:
                self._close(client, upstream)
                return

    @staticmethod
    def _close(*socks):
        for s in socks:
            try:
                s.close()
            except OSError:
                pass

    def close(self):
        self.closed = True
        self._close(self.listener)
        with self.lock:
            self._close(*self.sockets)
            self.sockets = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
