"""The benchmarks behind bench/run (its entry point).

  common    paths, errors, progress, the processes and servers a run starts,
            formatting of figures
  build     building the project and describing the machine
  check     part check: the cost of one health check
  sentinel  part sentinel: a Sentinel-mode check against a pair-mode one
  openssl   part openssl: the system's OpenSSL loaded for TLS only, against
            a static build
  helpers   the writer and poller processes of the sync and memory parts
  sync      part sync: the sync-wait overhead of redis_master
  memory    part memory: peak RSS
  failover  part failover: the namespace lab (tests/e2e/lab.py) after kill -9
  sentinel_lab  part sentinel-lab: the lab's Sentinel topology, plain Sentinel's
            reconfig script against the toolkit's VRRP variants
  cli       the command line
"""
import os
import sys

SUPPORT = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                       "tests", "support")
if SUPPORT not in sys.path:
    sys.path.insert(0, SUPPORT)
