#!/usr/bin/env python3
"""Regenerates the seed corpora in fuzz/corpus/ from real redis-server runs.

Starts throw-away servers on loopback ports (master with data, its replica,
a replica still in its first sync, a server loading its dataset, a master
after REPLICAOF NO ONE) and saves what INFO returned: the text for
corpus/parse_info/ and the raw RESP bytes for corpus/reply/. Then adds
truncated and garbled variants, and hand-written RESP replies (errors such as
LOADING and NOPERM, nil, arrays, protocol violations).

Usage: fuzz/make_seeds.py   (needs redis-server; rewrites the seed files)

With RK_SERVER=valkey-server it captures Valkey's INFO instead, into
corpus/parse_info/valkey-*.txt only, plus a replica that never synced and a
master with extended-redis-compatibility on; the unit tests of parse_info
read those (tests/unit/test_replication_info.cpp).
"""
import os
import socket
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "support"))

from rediskit import SERVER, RedisServer, populate, wait_until  # noqa: E402

INFO_DIR = os.path.join(HERE, "corpus", "parse_info")
REPLY_DIR = os.path.join(HERE, "corpus", "reply")
# Which server the seeds come from: Redis's keep the plain names.
VALKEY = "valkey" in os.path.basename(SERVER)
PREFIX = "valkey-" if VALKEY else ""


def raw_command(port, *args):
    """Send one command and return the raw reply bytes (one RESP reply)."""
    out = b"*%d\r\n" % len(args)
    for a in args:
        b = a.encode()
        out += b"$%d\r\n%s\r\n" % (len(b), b)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(out)
        data = b""
        while True:
            chunk = s.recv(65536)
            data += chunk
            if data[:1] != b"$":
                if data.endswith(b"\r\n"):
                    return data
                continue
            header, _, rest = data.partition(b"\r\n")
            if len(rest) >= int(header[1:]) + 2:
                return data


def bulk_text(raw):
    _, _, rest = raw.partition(b"\r\n")
    return rest[:-2]


def write(directory, name, data):
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data)


# The ports the seeds show instead of the random ones the servers ran on.
PORTS = {}


def scrub(text):
    """Replace what depends on the machine that ran this script (kernel,
    temp paths, random ports) with fixed values, so the seeds are stable."""
    lines = []
    for line in text.split(b"\r\n"):
        key = line.split(b":", 1)[0]
        if key == b"os":
            line = b"os:Linux 6.1.0-18-amd64 x86_64"
        elif key == b"config_file":
            line = b"config_file:/etc/valkey/valkey.conf" if VALKEY else \
                b"config_file:/etc/redis/redis.conf"
        elif key == b"executable":
            line = b"executable:/usr/bin/" + os.path.basename(SERVER).encode()
        lines.append(line)
    text = b"\r\n".join(lines)
    for real, fixed in PORTS.items():
        text = text.replace(str(real).encode(), str(fixed).encode())
    return text


def capture(name, port):
    name = PREFIX + name
    text = scrub(bulk_text(raw_command(port, "INFO")))
    if not VALKEY:
        write(REPLY_DIR, f"info-{name}.resp", b"$%d\r\n%s\r\n" % (len(text), text))
    write(INFO_DIR, f"{name}.txt", text)
    return text


def variants(name, text):
    """Broken versions of a real INFO text: cut short, garbled, fields lost."""
    name = PREFIX + name
    write(INFO_DIR, f"{name}-truncated-half.txt", text[:len(text) // 2])
    write(INFO_DIR, f"{name}-truncated-mid-line.txt", text[:text.find(b"master_repl_offset") + 12])
    lines = text.split(b"\r\n")
    write(INFO_DIR, f"{name}-no-role.txt",
          b"\r\n".join(line for line in lines if not line.startswith(b"role:")))
    write(INFO_DIR, f"{name}-lf-only.txt", text.replace(b"\r\n", b"\n"))
    garbled = []
    for line in lines:
        if line.startswith((b"master_repl_offset:", b"slave_repl_offset:", b"master_port:")):
            line = line.split(b":")[0] + b":-9223372036854775808"
        elif line.startswith(b"master_replid:"):
            line = b"master_replid:" + b"Z" * 40
        elif line.startswith(b"db0:"):
            line = b"db0:keys=abc,expires=0"
        garbled.append(line)
    write(INFO_DIR, f"{name}-garbled.txt", b"\r\n".join(garbled))


def capture_valkey_only(servers):
    """A replica whose master never answered (master_link_down_since_seconds
    -1), and a master with extended-redis-compatibility (redis_mode instead
    of server_mode)."""
    lonely = RedisServer(extra_config=["repl-diskless-sync-delay 0"]).start()
    servers.append(lonely)
    PORTS[lonely.port] = 6383
    # Port 9 (discard): nothing listens there on loopback.
    lonely.call("REPLICAOF", "127.0.0.1", "9")
    wait_until(lambda: lonely.info("replication").get("master_link_status") == "down", 10,
               what="replica link down")
    time.sleep(1.2)
    capture("replica-never-synced", lonely.port)
    compat = RedisServer(extra_config=["extended-redis-compatibility yes"]).start()
    servers.append(compat)
    PORTS[compat.port] = 6384
    populate(compat, 10)
    capture("master-redis-compat", compat.port)


def main():
    os.makedirs(INFO_DIR, exist_ok=True)
    os.makedirs(REPLY_DIR, exist_ok=True)
    servers = []
    try:
        master = RedisServer(extra_config=["repl-diskless-sync-delay 0"]).start()
        servers.append(master)
        PORTS[master.port] = 6379
        populate(master, 300)
        replica = RedisServer(extra_config=["repl-diskless-sync-delay 0"]).start()
        servers.append(replica)
        PORTS[replica.port] = 6380
        replica.call("REPLICAOF", "127.0.0.1", str(master.port))
        wait_until(lambda: replica.info("replication").get("master_link_status") == "up", 20,
                   what="replica link up")
        master.call("SET", "after-sync", "1")
        time.sleep(0.2)
        variants("master", capture("master", master.port))
        variants("replica", capture("replica", replica.port))

        # A second replica in the middle of a slow first sync.
        master.call("CONFIG", "SET", "rdb-key-save-delay", "20000")
        syncing = RedisServer(extra_config=["repl-diskless-sync-delay 0"]).start()
        servers.append(syncing)
        PORTS[syncing.port] = 6381
        syncing.call("REPLICAOF", "127.0.0.1", str(master.port))
        wait_until(lambda: syncing.info("replication").get("master_sync_in_progress") == "1", 10,
                   what="sync in progress")
        capture("replica-syncing", syncing.port)
        master.call("CONFIG", "SET", "rdb-key-save-delay", "0")

        # The replica promoted: replid2 and second_repl_offset are set.
        replica.call("REPLICAOF", "NO", "ONE")
        capture("promoted", replica.port)

        # A server loading its dataset (INFO works, PING gets -LOADING).
        loader = RedisServer(extra_config=["loading-process-events-interval-bytes 1024"]).start()
        servers.append(loader)
        PORTS[loader.port] = 6382
        populate(loader, 3000)
        loader.call("SAVE")
        loader.stop()
        with open(loader.conf, "a") as f:
            f.write("key-load-delay 2000\n")
        loader.start()
        capture("loading", loader.port)
        if VALKEY:
            # The reply seeds are the same for both servers: Redis's stay.
            capture_valkey_only(servers)
            return
        write(REPLY_DIR, "ping-loading.resp", raw_command(loader.port, "PING"))
        write(REPLY_DIR, "ping-pong.resp", raw_command(master.port, "PING"))
        write(REPLY_DIR, "role-master.resp", scrub(raw_command(master.port, "ROLE")))
        write(REPLY_DIR, "config-get.resp", raw_command(master.port, "CONFIG", "GET", "maxmemory*"))
    finally:
        for server in servers:
            server.cleanup()

    # Hand-written replies: errors the tools must classify, odd types,
    # several replies in one read, and protocol violations.
    handmade = {
        "ok.resp": b"+OK\r\n",
        "noperm.resp": b"-NOPERM this user has no permissions to run the 'replicaof' command\r\n",
        "wrongpass.resp": b"-WRONGPASS invalid username-password pair or user is disabled.\r\n",
        "masterdown.resp": b"-MASTERDOWN Link with MASTER is down and replica-serve-stale-data "
                           b"is set to 'no'.\r\n",
        "busy.resp": b"-BUSY Redis is busy running a script.\r\n",
        "integer.resp": b":9223372036854775807\r\n",
        "nil-bulk.resp": b"$-1\r\n",
        "nil-array.resp": b"*-1\r\n",
        "empty-bulk.resp": b"$0\r\n\r\n",
        "nested-array.resp": b"*2\r\n*2\r\n:1\r\n$3\r\nabc\r\n*1\r\n*1\r\n+deep\r\n",
        "pipeline.resp": b"+OK\r\n+PONG\r\n:3\r\n",
        "truncated-bulk.resp": b"$100\r\nrole:master\r\n",
        "truncated-status.resp": b"+PO",
        "bad-type-byte.resp": b"!oops\r\n",
        "bad-bulk-length.resp": b"$abc\r\nxyz\r\n",
        "negative-bulk-length.resp": b"$-5\r\n",
        "huge-bulk-length.resp": b"$9223372036854775807\r\n",
        "huge-array-count.resp": b"*4294967296\r\n",
        "bulk-without-crlf.resp": b"$3\r\nabcXY",
        "info-garbage.resp": b"$27\r\nrole:pirate\r\nloading:maybe\r\n",
        "http.resp": b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
    }
    for name, data in handmade.items():
        write(REPLY_DIR, name, data)


if __name__ == "__main__":
    main()
