#!/usr/bin/env python3
"""The lab's redis-py writer keeps its accounts right (a few seconds, no
root): against a redis-server on loopback that is frozen (SIGSTOP) for a
second under load, with the recommended settings, every write it says was
acknowledged is on the server, its counters match its files, and the frozen
second shows up as one long call and nowhere as a lost write.

Exit 77 (skipped) without python3-redis or the server."""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "support"))
from rediskit import RedisServer, missing_server, python_with, stop_process  # noqa: E402

WRITER = os.path.join(HERE, "redispy_writer.py")


def run_writer(python, server, tmp):
    acks, calls = os.path.join(tmp, "acks"), os.path.join(tmp, "calls")
    proc = subprocess.Popen([python, WRITER, "--host", "127.0.0.1",
                             "--port", str(server.port), "--profile", "recommended",
                             "--out", acks, "--calls", calls, "--rate", "100",
                             "--start", "1000"], stdout=subprocess.PIPE)
    try:
        time.sleep(1.0)
        server.proc.send_signal(signal.SIGSTOP)
        time.sleep(1.0)
        server.proc.send_signal(signal.SIGCONT)
        time.sleep(1.0)
    finally:
        server.proc.send_signal(signal.SIGCONT)
        stop_process(proc)
    counters = json.loads(proc.stdout.read().decode().strip().splitlines()[-1])
    with open(acks) as f:
        acked = [line.split() for line in f]
    with open(calls) as f:
        slow = [line.split() for line in f]
    return counters, acked, slow


def main():
    python = python_with("redis")
    if python is None:
        print("SKIP: python3-redis missing (Debian: apt-get install python3-redis)")
        return 77
    why = missing_server()
    if why:
        print(f"SKIP: {why}")
        return 77
    with RedisServer() as server, tempfile.TemporaryDirectory() as tmp:
        counters, acked, slow = run_writer(python, server, tmp)
        keys = [f"k:{row[0]}" for row in acked]
        with server.client() as c:
            values = c.call("MGET", *keys)
    problems = []
    if counters["acked"] != len(acked) or counters["acked"] < 100:
        problems.append(f"counters say {counters['acked']} acked, the file has {len(acked)}")
    missing = [k for k, v in zip(keys, values) if v != k[2:]]
    if missing:
        problems.append(f"{len(missing)} acknowledged writes not on the server: {missing[:5]}")
    longest = max((float(row[1]) for row in slow), default=0.0)
    if not 0.8 <= longest <= 2.0:
        problems.append(f"the longest call took {longest:.2f} s; the server was frozen 1 s")
    print(json.dumps({"counters": counters, "longest_call_s": round(longest, 2),
                      "slow_or_failed_calls": len(slow)}))
    for p in problems:
        print(f"FAIL: {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
