"""Test certificates for TLS, made with the `openssl` command-line tool.

Every function writes its files into a directory the caller gives (a test's
temp dir) and returns their paths; nothing here starts servers or depends on
the other test modules. Keys are EC P-256 (fast to make) in files of mode
0600; certificates are PEM.

    ca = make_ca(d)                          # CertKey(cert, key)
    srv = make_server_cert(d, ca)            # names IP:127.0.0.1, DNS:localhost
    old = make_server_cert(d, ca, "old", expired=True)
    cli = make_client_cert(d, ca)
    lines = server_config(port, srv, ca, auth_clients="yes")
    lines = tls_config(srv, ca, replication=True)   # the same, without ports
    capath = make_ca_dir(os.path.join(d, "cas"), ca)
    inter = make_intermediate_ca(d, ca)      # signs leaves sent with a chain
    chain = make_chain_file(path, leaf, inter)
    locked = encrypt_key(cli.key, path)      # needs a passphrase

make_all(d) makes the whole set the TLS tests use (see Certs).

Server certificates carry extendedKeyUsage serverAuth and clientAuth, so a
Redis server can also present its tls-cert-file as its client certificate
on the replication link (Redis does so unless tls-client-cert-file is set).
"""
import collections
import os
import shutil
import subprocess

OPENSSL = "openssl"

# A certificate and its private key (paths).
CertKey = collections.namedtuple("CertKey", "cert key")

# Everything make_all() makes (each a CertKey).
Certs = collections.namedtuple(
    "Certs", "ca unknown_ca server expired wrong_host unknown_server client")

# The validity of certificates that are not meant to have expired, in days.
VALID_DAYS = 30

# The validity window of an expired certificate: long past.
EXPIRED_START = "20200101000000Z"
EXPIRED_END = "20200102000000Z"


class OpenSSLError(RuntimeError):
    """An openssl command failed (its stderr is in the message)."""


def run_openssl(*args, cwd=None):
    """Run `openssl ARGS...`; return its stdout, raise OpenSSLError on failure."""
    cp = subprocess.run([OPENSSL, *args], cwd=cwd, capture_output=True, text=True,
                        stdin=subprocess.DEVNULL, timeout=60)
    if cp.returncode != 0:
        raise OpenSSLError(f"openssl {' '.join(args)} exited {cp.returncode}: "
                           f"{cp.stderr.strip()}")
    return cp.stdout


def _path(directory, name, suffix):
    return os.path.join(directory, f"{name}.{suffix}")


def make_key(path):
    """A new EC P-256 private key in PATH, mode 0600 (from its creation on)."""
    # openssl truncates and rewrites an existing file, which keeps its mode.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)
    run_openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-out", path)
    os.chmod(path, 0o600)
    return path


def _write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def make_ca(directory, name="ca", common_name=None):
    """A self-signed CA certificate and key: DIRECTORY/NAME.crt, NAME.key."""
    key = make_key(_path(directory, name, "key"))
    cert = _path(directory, name, "crt")
    ext = _write(_path(directory, name, "ext"),
                 "[v3]\n"
                 "basicConstraints = critical, CA:TRUE\n"
                 "keyUsage = critical, keyCertSign, cRLSign\n"
                 "subjectKeyIdentifier = hash\n")
    run_openssl("req", "-new", "-x509", "-key", key, "-out", cert, "-sha256",
                "-days", str(VALID_DAYS), "-subj", f"/CN={common_name or 'tlskit ' + name}",
                "-config", ext, "-extensions", "v3")
    return CertKey(cert, key)


def make_unknown_ca(directory, name="unknown-ca"):
    """A second CA, unrelated to make_ca()'s (its own key and name)."""
    return make_ca(directory, name, common_name="tlskit unrelated CA")


def _leaf_extensions(sans, usages):
    lines = ["[v3]",
             "basicConstraints = critical, CA:FALSE",
             "keyUsage = critical, digitalSignature",
             f"extendedKeyUsage = {', '.join(usages)}",
             "subjectKeyIdentifier = hash",
             "authorityKeyIdentifier = keyid"]
    if sans:
        lines.append(f"subjectAltName = {', '.join(sans)}")
    return "\n".join(lines) + "\n"


def _sign_expired(directory, name, ca, csr, ext, cert):
    """Sign CSR with `openssl ca`, which (unlike `x509` in OpenSSL 3.0) takes
    an explicit -startdate/-enddate: a validity window in the past."""
    db = os.path.join(directory, f"{name}.cadb")
    os.makedirs(db, exist_ok=True)
    _write(os.path.join(db, "index.txt"), "")
    _write(os.path.join(db, "serial"), "1000\n")
    conf = _write(os.path.join(db, "ca.cnf"),
                  "[ca]\n"
                  "default_ca = tlskit\n"
                  "[tlskit]\n"
                  f"database = {os.path.join(db, 'index.txt')}\n"
                  f"new_certs_dir = {db}\n"
                  f"serial = {os.path.join(db, 'serial')}\n"
                  "default_md = sha256\n"
                  "policy = anything\n"
                  "unique_subject = no\n"
                  "[anything]\n"
                  "commonName = supplied\n")
    run_openssl("ca", "-batch", "-notext", "-config", conf, "-cert", ca.cert,
                "-keyfile", ca.key, "-in", csr, "-out", cert,
                "-startdate", EXPIRED_START, "-enddate", EXPIRED_END,
                "-extfile", ext, "-extensions", "v3")


def make_cert(directory, name, ca, sans=(), usages=("serverAuth",), expired=False,
              common_name=None):
    """A certificate signed by CA (a CertKey) for a new key:
    DIRECTORY/NAME.crt and NAME.key.

    sans: subjectAltName entries such as "IP:127.0.0.1", "DNS:localhost".
    usages: extendedKeyUsage values.
    expired: valid only for one day in 2020, so expired now.
    """
    key = make_key(_path(directory, name, "key"))
    cert = _path(directory, name, "crt")
    csr = _path(directory, name, "csr")
    ext = _write(_path(directory, name, "ext"), _leaf_extensions(sans, usages))
    run_openssl("req", "-new", "-key", key, "-out", csr,
                "-subj", f"/CN={common_name or 'tlskit ' + name}")
    if expired:
        _sign_expired(directory, name, ca, csr, ext, cert)
    else:
        run_openssl("x509", "-req", "-in", csr, "-out", cert, "-sha256",
                    "-CA", ca.cert, "-CAkey", ca.key, "-CAcreateserial",
                    "-CAserial", _path(directory, name, "srl"),
                    "-days", str(VALID_DAYS), "-extfile", ext, "-extensions", "v3")
    return CertKey(cert, key)


SERVER_SANS = ("IP:127.0.0.1", "DNS:localhost")
SERVER_USAGES = ("serverAuth", "clientAuth")


def make_intermediate_ca(directory, ca, name="intermediate"):
    """A CA certificate signed by CA (a CertKey), for a new key:
    DIRECTORY/NAME.crt and NAME.key. Certificates it signs verify against CA
    only when their holder also sends this one (a chain file)."""
    key = make_key(_path(directory, name, "key"))
    cert = _path(directory, name, "crt")
    csr = _path(directory, name, "csr")
    ext = _write(_path(directory, name, "ext"),
                 "[v3]\n"
                 "basicConstraints = critical, CA:TRUE, pathlen:0\n"
                 "keyUsage = critical, keyCertSign, cRLSign\n"
                 "subjectKeyIdentifier = hash\n"
                 "authorityKeyIdentifier = keyid\n")
    run_openssl("req", "-new", "-key", key, "-out", csr, "-subj", f"/CN=tlskit {name}")
    run_openssl("x509", "-req", "-in", csr, "-out", cert, "-sha256",
                "-CA", ca.cert, "-CAkey", ca.key, "-CAcreateserial",
                "-CAserial", _path(directory, name, "srl"),
                "-days", str(VALID_DAYS), "-extfile", ext, "-extensions", "v3")
    return CertKey(cert, key)


def make_chain_file(path, *certs):
    """PATH holding CERTS (CertKeys or paths) one after the other, leaf
    first, as a certificate chain file is written. Returns PATH."""
    text = ""
    for cert in certs:
        with open(cert.cert if isinstance(cert, CertKey) else cert) as f:
            text += f.read()
    return _write(path, text)


def encrypt_key(key, path, passphrase="tlskit"):
    """A copy of the private key KEY (a path) in PATH, encrypted with
    PASSPHRASE (AES-256, PKCS#8), mode 0600. Returns PATH."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.close(fd)
    run_openssl("pkcs8", "-topk8", "-in", key, "-out", path, "-v2", "aes-256-cbc",
                "-passout", f"pass:{passphrase}")
    return path


def make_server_cert(directory, ca, name="server", sans=SERVER_SANS, expired=False):
    """A server certificate signed by CA naming SANS (by default
    IP:127.0.0.1 and DNS:localhost); usable as a client certificate too."""
    return make_cert(directory, name, ca, sans=sans, usages=SERVER_USAGES, expired=expired)


def make_client_cert(directory, ca, name="client"):
    """A client certificate (extendedKeyUsage clientAuth) signed by CA."""
    return make_cert(directory, name, ca, usages=("clientAuth",))


def is_expired(cert):
    """True when CERT's validity has ended (`openssl x509 -checkend 0`)."""
    cp = subprocess.run([OPENSSL, "x509", "-checkend", "0", "-noout", "-in", cert],
                        capture_output=True, text=True, stdin=subprocess.DEVNULL,
                        timeout=60)
    return cp.returncode != 0


def make_ca_dir(directory, *cas):
    """DIRECTORY holding copies of the CA certificates CAS (CertKeys or
    paths) under their hash names (`openssl rehash`), as OpenSSL's
    CApath / redis-cli's --cacertdir expect. Returns DIRECTORY."""
    os.makedirs(directory, exist_ok=True)
    for ca in cas:
        src = ca.cert if isinstance(ca, CertKey) else ca
        shutil.copyfile(src, os.path.join(directory, os.path.basename(src)))
    run_openssl("rehash", directory)
    return directory


def cert_dir(parent):
    """PARENT/tls, made 0700 (as a key's directory should be): where a test
    keeps the certificates it makes."""
    directory = os.path.join(parent, "tls")
    os.mkdir(directory, 0o700)
    return directory


def make_all(directory):
    """The whole set, in DIRECTORY:
      ca              the CA the tests trust;
      unknown_ca      an unrelated CA;
      server          signed by ca, names IP:127.0.0.1 and DNS:localhost;
      expired         the same, but its validity ended in 2020;
      wrong_host      signed by ca, names only DNS:wrong.example;
      unknown_server  signed by unknown_ca, names IP:127.0.0.1 and DNS:localhost;
      client          a client certificate signed by ca.
    """
    ca = make_ca(directory)
    unknown_ca = make_unknown_ca(directory)
    certs = Certs(
        ca=ca,
        unknown_ca=unknown_ca,
        server=make_server_cert(directory, ca),
        expired=make_server_cert(directory, ca, "expired", expired=True),
        wrong_host=make_server_cert(directory, ca, "wrong-host", sans=("DNS:wrong.example",)),
        unknown_server=make_server_cert(directory, unknown_ca, "unknown-server"),
        client=make_client_cert(directory, ca))
    if not is_expired(certs.expired.cert):
        raise OpenSSLError(f"{certs.expired.cert} was made to be expired but is not")
    return certs


def server_config(port, server, ca, auth_clients="no", replication=False):
    """redis.conf lines for a TLS-only server on PORT (no plain-text port).

    server: its CertKey (tls-cert-file, tls-key-file); ca: the CA file, or a
    CertKey whose cert is used (tls-ca-cert-file: it verifies client
    certificates, and the master's on a replication link); auth_clients:
    "yes", "no" or "optional" (tls-auth-clients); replication: also TLS on
    the replication link (tls-replication yes).
    """
    return ["port 0", f"tls-port {port}",
            *tls_config(server, ca, auth_clients=auth_clients, replication=replication)]


def tls_config(server, ca, auth_clients="no", replication=False):
    """server_config()'s lines without the ports, for a server whose ports
    are written elsewhere (rediskit.RedisServer with a TlsClient writes
    "port 0" and "tls-port PORT" itself). A sentinel takes the same lines:
    with tls-replication yes it reaches the data nodes and the other
    sentinels over TLS, and announces its tls-port to them."""
    if auth_clients not in ("yes", "no", "optional"):
        raise ValueError(f"auth_clients {auth_clients!r}: not yes, no or optional")
    ca_file = ca.cert if isinstance(ca, CertKey) else ca
    lines = [
        f"tls-cert-file {server.cert}",
        f"tls-key-file {server.key}",
        f"tls-ca-cert-file {ca_file}",
        f"tls-auth-clients {auth_clients}",
    ]
    if replication:
        lines.append("tls-replication yes")
    return lines
