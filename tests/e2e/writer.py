#!/usr/bin/env python3
"""Continuous writer for the failover lab.

Writes SET k:<n> <n> through one address (the VIP) at a bounded rate, with
short socket timeouts, reconnecting after any error. Every acknowledged
write is appended to --out as "<n> <unix time> <node>", where <node> is the
run_id prefix of the Redis process that answered (read once per
connection with INFO server), so the lab can tell which node accepted it.
A write that got no +OK is not recorded: it may or may not have happened.

With --tls-ca, --tls-cert and --tls-key it speaks TLS: it presents that
client certificate, verifies the server against that CA and checks that the
server's certificate names the address it connected to.

Stops after --duration seconds or on SIGTERM/SIGINT, then prints one JSON
line with its counters.
"""
import argparse
import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "support"))
from rediskit import Resp, RedisReplyError  # noqa: E402

stop = False


def on_signal(signum, frame):
    global stop
    stop = True


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, default=6379)
    ap.add_argument("--out", required=True, help="file of acknowledged writes")
    ap.add_argument("--duration", type=float, default=60.0, help="seconds")
    ap.add_argument("--rate", type=float, default=200.0, help="writes per second at most")
    ap.add_argument("--timeout", type=float, default=0.2, help="socket timeout, seconds")
    ap.add_argument("--start", type=int, default=1, help="first key number")
    ap.add_argument("--tls-ca", help="TLS: CA file that verifies the server")
    ap.add_argument("--tls-cert", help="TLS: client certificate")
    ap.add_argument("--tls-key", help="TLS: its private key")
    args = ap.parse_args()
    tls = None
    if args.tls_ca or args.tls_cert or args.tls_key:
        if not (args.tls_ca and args.tls_cert and args.tls_key):
            ap.error("--tls-ca, --tls-cert and --tls-key go together")
        from rklab.tls import LabTls
        tls = LabTls(cert=args.tls_cert, key=args.tls_key, ca=args.tls_ca)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    period = 1.0 / args.rate
    counters = {"attempts": 0, "acked": 0, "connects": 0, "connect_errors": 0,
                "timeouts": 0, "closed": 0, "error_replies": {}}
    n = args.start
    conn = None
    tag = "?"
    t_end = time.monotonic() + args.duration
    next_slot = time.monotonic()
    with open(args.out, "a", buffering=1) as out:
        while not stop and time.monotonic() < t_end:
            now = time.monotonic()
            if now < next_slot:
                time.sleep(next_slot - now)
            next_slot = max(next_slot + period, time.monotonic())
            if conn is None:
                try:
                    conn = Resp(args.host, args.port, timeout=args.timeout, tls=tls)
                    tag = conn.info("server").get("run_id", "?")[:8]
                    counters["connects"] += 1
                except (OSError, ConnectionError, RedisReplyError):
                    counters["connect_errors"] += 1
                    if conn is not None:
                        conn.close()
                    conn = None
                    continue
            key = n
            n += 1
            counters["attempts"] += 1
            try:
                reply = conn.call("SET", f"k:{key}", key)
            except RedisReplyError as exc:
                word = str(exc).split(" ", 1)[0]
                counters["error_replies"][word] = counters["error_replies"].get(word, 0) + 1
                # READONLY (a demoted master), LOADING, MASTERDOWN...: go
                # back through the VIP, which may point elsewhere by now.
                conn.close()
                conn = None
                continue
            except (OSError, ConnectionError) as exc:
                if isinstance(exc, TimeoutError) or "timed out" in str(exc):
                    counters["timeouts"] += 1
                else:
                    counters["closed"] += 1
                # The reply may still arrive later: never reuse the socket.
                conn.close()
                conn = None
                continue
            if reply == "OK":
                counters["acked"] += 1
                out.write(f"{key} {time.time():.6f} {tag}\n")
    if conn is not None:
        conn.close()
    counters["next_key"] = n
    print(json.dumps(counters), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
