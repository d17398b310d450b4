"""--tls: certificates made for the run (tests/support/tlskit.py), the Redis
and toolkit settings that use them, and the client side of the lab's own
connections.

    <root>/tls/ca.crt, ca.key         the run's CA (its key root's, 0600)
    <root>/tls/redis-a.crt, .key      node a's server certificate: subjectAltName
                                      IP:<a's address>, IP:127.0.0.1, IP:<VIP>;
                                      clientAuth as well, since a replica
                                      presents it to its master
    <root>/tls/redis-b.crt, .key      the same for node b
    <root>/tls/client.crt, .key       the client certificate of the hooks and of
                                      the lab (the key belongs to the hooks' user)

The lab's clients (probes, INFO, the writer, kept copies read back) verify
the server against the CA and check that its certificate names the address
they connected to, as the hooks do.
"""
import os
import pwd

import tlskit
from rediskit import TlsClient

from .common import LabError

# The keys of toolkit.conf the lab sets with --tls (redis-cli's option names).
TOOLKIT_KEYS = ("tls", "cacert", "cert", "key")


class LabTls(TlsClient):
    """A TlsClient that also checks the server's name (its subjectAltName
    must name the address connected to), with one context for every
    connection."""

    _ctx = None

    def context(self):
        if self._ctx is None:
            ctx = super().context()
            ctx.check_hostname = True
            self._ctx = ctx
        return self._ctx

    def args(self):
        """The writer's command-line options for this client."""
        return ["--tls-ca", self.ca, "--tls-cert", self.cert, "--tls-key", self.key]


def server_sans(*ips):
    return tuple(f"IP:{ip}" for ip in ips)


class LabCerts:
    """Every certificate of one run, in DIRECTORY (made by make())."""

    def __init__(self, directory):
        self.dir = directory
        self.ca = None
        self.servers = {}     # node name -> CertKey
        self.client = None

    def make(self, nodes, vip, client_user):
        """NODES: {name: address}. The client key is made readable by
        CLIENT_USER only (the hooks run as it)."""
        os.mkdir(self.dir, 0o755)
        os.chmod(self.dir, 0o755)
        try:
            self.ca = tlskit.make_ca(self.dir, common_name="rklab CA")
            for name, ip in sorted(nodes.items()):
                self.servers[name] = tlskit.make_server_cert(
                    self.dir, self.ca, f"redis-{name}",
                    sans=server_sans(ip, "127.0.0.1", vip))
            self.client = tlskit.make_client_cert(self.dir, self.ca)
        except (tlskit.OpenSSLError, OSError) as exc:
            raise LabError(f"making the lab's TLS certificates: {exc}")
        pw = pwd.getpwnam(client_user)
        os.chown(self.client.key, pw.pw_uid, pw.pw_gid)
        os.chmod(self.client.key, 0o600)
        for cert in [self.ca.cert, self.client.cert] + [s.cert for s in self.servers.values()]:
            os.chmod(cert, 0o644)
        return self

    def client_tls(self):
        """The lab's own client: the client certificate, verifying with the CA."""
        return LabTls(cert=self.client.cert, key=self.client.key, ca=self.ca.cert)

    def redis_lines(self, node_name, port):
        """redis.conf lines of a TLS-only node: tls-port PORT, clients must
        present a certificate from the CA, replication over TLS."""
        return tlskit.server_config(port, self.servers[node_name], self.ca,
                                    auth_clients="yes", replication=True)

    def toolkit_options(self):
        return {"tls": "true", "cacert": self.ca.cert, "cert": self.client.cert,
                "key": self.client.key}

    def cli_args(self):
        """redis-cli's options for the lab's own client certificate."""
        return (f"--tls --cacert {self.ca.cert} --cert {self.client.cert} "
                f"--key {self.client.key}")
