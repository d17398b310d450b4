"""redis_master against hostile servers, as the local Redis and as the peer.

A hostile local Redis cannot be promoted: the hook gives up at --sync-timeout
with exit 1. A hostile peer counts as an unreachable one, which is the case
notify_master exists for: a local master that holds its data stays master
and the hook exits 0. Either way it ends in bounded time, leaves the real
server as it was, and logs what was wrong with the hostile one.
"""
from hooks_common import HostileHookTestCase, add_hostile_tests
from robkit import main, setUpModule  # noqa: F401


class HostileMasterTest(HostileHookTestCase):
    TOOL = "redis_master"


add_hostile_tests(HostileMasterTest, local_expect=(1, "local-unreachable"),
                  peer_expect=(0, "already-master"))


if __name__ == "__main__":
    main()
