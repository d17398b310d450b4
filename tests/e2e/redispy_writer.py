#!/usr/bin/env python3
"""An application's writer for the failover lab: redis-py (Debian's
python3-redis), writing SET k:<n> <n> through one address (the VIP) at a
bounded rate, the way an application calls it: one Redis object, one call
per write, the exception caught and the next write tried.

--profile default builds redis.Redis(host, port) and nothing else;
--profile recommended uses RECOMMENDED below (the README's "Clients" section
quotes it).

Every acknowledged write is appended to --out as "<n> <unix time> ?" (the
format of the lab's own writer, so the lab reads and verifies it the same
way; redis-py does not say which server answered). Every call that raised,
or took longer than SLOW seconds, is appended to --calls as
"<unix start> <seconds> <outcome>", the outcome being the exception's type
or "ok". A call still blocked when SIGTERM comes is ended and recorded as
"stopped".

Stops after --duration seconds or on SIGTERM/SIGINT, then prints one JSON
line with its counters.
"""
import argparse
import json
import signal
import socket
import sys
import time

try:
    import redis
    from redis.backoff import ExponentialBackoff
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import ReadOnlyError
    from redis.exceptions import TimeoutError as RedisTimeoutError
    from redis.retry import Retry
except ImportError:
    sys.exit("redispy_writer.py: redis-py is missing (Debian: apt-get install python3-redis)")

SLOW = 0.05   # seconds: calls slower than this are recorded even when they succeed


def recommended():
    """The settings the README recommends (see its "Clients" section)."""
    return {
        # A SYN to the old VIP holder is dropped, not refused: without a
        # connect timeout the attempt waits for the kernel's SYN retries.
        "socket_connect_timeout": 0.25,
        # A frozen or cut-off master never answers: without a read timeout a
        # call waits for it for ever.
        "socket_timeout": 0.5,
        # Reconnect through the VIP at once, then every 25 to 100 ms, for
        # about 3 s: longer than a failover, so the call rides it out.
        "retry": Retry(ExponentialBackoff(cap=0.1, base=0.025), 30),
        # READONLY: the connection lands on a demoted master; drop it and go
        # back through the VIP. SET k v is idempotent, so a retry after a
        # timeout is safe. OSError: redis-py 4.3.4 retries a connect only on
        # the errors listed here, and a refused connect (the VIP holder's
        # Redis is dead) comes as ConnectionRefusedError, an OSError.
        "retry_on_error": [RedisConnectionError, RedisTimeoutError, ReadOnlyError, OSError],
        # A pooled connection idle for 1 s is checked (PING) before use.
        "health_check_interval": 1,
        # A peer that vanished without a RST is noticed in about 5 s even on
        # an idle connection.
        "socket_keepalive": True,
        "socket_keepalive_options": {socket.TCP_KEEPIDLE: 2, socket.TCP_KEEPINTVL: 1,
                                     socket.TCP_KEEPCNT: 3},
    }


class Stopped(BaseException):
    """Raised by the signal handler, so that a call blocked in recv() ends."""


def on_signal(signum, frame):
    raise Stopped()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, default=6379)
    ap.add_argument("--profile", choices=("default", "recommended"), required=True)
    ap.add_argument("--out", required=True, help="file of acknowledged writes")
    ap.add_argument("--calls", required=True, help="file of failed or slow calls")
    ap.add_argument("--duration", type=float, default=60.0, help="seconds")
    ap.add_argument("--rate", type=float, default=200.0, help="writes per second at most")
    ap.add_argument("--start", type=int, default=1, help="first key number")
    args = ap.parse_args()
    settings = recommended() if args.profile == "recommended" else {}
    client = redis.Redis(host=args.host, port=args.port, **settings)
    counters = {"profile": args.profile, "redis_py": redis.__version__, "attempts": 0,
                "acked": 0, "errors": {}, "error_sample": {}}
    period = 1.0 / args.rate
    n = args.start
    t_end = time.monotonic() + args.duration
    next_slot = time.monotonic()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with open(args.out, "a", buffering=1) as out, open(args.calls, "a", buffering=1) as calls:
        try:
            while time.monotonic() < t_end:
                now = time.monotonic()
                if now < next_slot:
                    time.sleep(next_slot - now)
                next_slot = max(next_slot + period, time.monotonic())
                key, n = n, n + 1
                counters["attempts"] += 1
                started, outcome = time.time(), "ok"
                try:
                    client.set(f"k:{key}", key)
                    out.write(f"{key} {time.time():.6f} ?\n")
                    counters["acked"] += 1
                except Stopped:
                    outcome = "stopped"
                    raise
                except redis.RedisError as exc:
                    outcome = type(exc).__name__
                    counters["errors"][outcome] = counters["errors"].get(outcome, 0) + 1
                    counters["error_sample"].setdefault(outcome, str(exc)[:120])
                finally:
                    took = time.time() - started
                    if outcome != "ok" or took > SLOW:
                        calls.write(f"{started:.6f} {took:.6f} {outcome}\n")
        except Stopped:
            pass
    counters["next_key"] = n
    print(json.dumps(counters), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
