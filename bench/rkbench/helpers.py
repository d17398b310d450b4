"""Helper processes of the sync and memory parts, run as
`bench/run --helper KIND PORT`:
  writer PORT   SET on PORT as fast as ~2,000/s until an error
  poller PORT   SET on PORT every ~1 ms until +OK; prints the time
"""
import sys
import time

from rediskit import RedisReplyError, Resp

from .common import RUN


def helper_cmd(*argv):
    return [sys.executable, RUN, "--helper", *argv]


def helper(argv):
    kind, port = argv[0], int(argv[1])
    if kind == "writer":
        n = 0
        try:
            with Resp("127.0.0.1", port, timeout=5) as c:
                while True:
                    c.call("SET", f"w:{n % 10000}", n)
                    n += 1
                    if n % 2 == 0:
                        time.sleep(0.001)
        except (OSError, ConnectionError, RedisReplyError):
            return 0
    if kind == "poller":
        c = Resp("127.0.0.1", port, timeout=5)
        print("ready", flush=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                c.call("SET", "bench:probe", "1")
                print(f"{time.time():.6f}", flush=True)
                return 0
            except RedisReplyError:
                pass
            except (OSError, ConnectionError):
                c.close()
                try:
                    c = Resp("127.0.0.1", port, timeout=5)
                except OSError:
                    pass
            time.sleep(0.001)
        return 1
    return 2

