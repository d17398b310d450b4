"""The end-to-end failover lab (tests/e2e/lab.py is its entry point).

  common     output, short commands, the lab's exceptions and exit codes
  network    network namespaces: entering one, the bridge and veth pairs
  configs    keepalived, toolkit and Redis configs rendered from the samples
  tls        --tls: the run's certificates, the TLS client of the lab
  node       a node: its namespace, its files, what its Redis and logs say
  procs      starting and stopping Redis, keepalived, the watcher and the
             writers; every process the lab starts, and ending them by pid
  observe    log followers, snapshots of the pair, the monitor thread,
             waiting for states of the pair
  verify     the acknowledged writes on the pair and in the kept copies
  faults     what the scenarios do to the nodes, and when it was noticed
  clients    what the writers saw in each fault's window (the clients
             scenario's table)
  lab        the lab: set-up, bring-up, teardown; owns the four parts above
  scenarios  the scenarios and the demo, one named step a line
  sentinel   the Sentinel topologies: the sentinels, the reconfig script,
             the VIP sampled against the sentinels' majority
  sentinel_scenarios  the sentinel-* scenarios
  cli        the command line
"""
import os
import sys

SUPPORT = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                       "support")
if SUPPORT not in sys.path:
    sys.path.insert(0, SUPPORT)
