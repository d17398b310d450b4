"""The end-to-end failover lab (tests/e2e/lab.py is its entry point).

  common     output, short commands, the lab's exceptions and exit codes
  network    network namespaces: entering one, the bridge and veth pairs
  procs      every process the lab starts, and ending them by pid
  configs    keepalived, toolkit and Redis configs rendered from the samples
  tls        --tls: the run's certificates, the TLS client of the lab
  observe    log followers, snapshots of the pair, the monitor thread
  lab        the lab: nodes, processes, waiting, verification, teardown
  scenarios  the scenarios and the demo, one named step a line
  cli        the command line
"""
import os
import sys

SUPPORT = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                       "support")
if SUPPORT not in sys.path:
    sys.path.insert(0, SUPPORT)
