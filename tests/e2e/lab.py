#!/usr/bin/env python3
"""End-to-end failover lab for the redis-keepalived toolkit.

The lab builds a small network out of Linux network namespaces:

    rklab-a  10.99.0.1  redis-server + keepalived (priority 254) --+
    rklab-b  10.99.0.2  redis-server + keepalived (priority 253) --+-- bridge
    rklab-c  10.99.0.9  the writer                                 --+   in rklab-sw
                        VIP 10.99.0.100/24

Nothing is routed: the namespaces only see the connected test subnet. Each
node runs keepalived with keepalived/keepalived-node-{a,b}.conf rendered by
plain text substitution (addresses, interface, binary dir, config path) and
the hooks' options from keepalived/toolkit.conf, with the toolkit installed
under the lab root. A writer in rklab-c writes through the VIP while the lab
injects a fault; at the end every acknowledged write must be on the final
master and on its replica, and the pair must have converged: exactly one
node holds the VIP, its Redis is master, and the other Redis replicates it
with the link up.

Usage:
    lab.py --scenario NAME [--build-dir DIR | --bin-dir DIR] [--keep] [--json]
           [--vrrp-script KEY=VALUE ...] [--priority A,B] [--kill-leftovers] [--tls]
    lab.py --demo [--build-dir DIR | --bin-dir DIR] [--keep]
    lab.py --teardown

Scenarios: startup, crash, maintenance, empty-resync, partition, switchover, clients
(redis-py through the VIP, default and recommended settings; see the README); on
the Sentinel topologies (--topology sentinel|sentinel3, --vip-mover
toolkit|reconfig-script): sentinel-kill, sentinel-stop, sentinel-partition,
sentinel-isolate, sentinel-minority, sentinel-switchover.
Exit status: 0 pass, 1 fail, 77 skipped (a prerequisite is missing).

The code is in rklab/ (see rklab/__init__.py for its modules).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rklab.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(prog=__file__))
