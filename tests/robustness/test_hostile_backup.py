"""redis_backup against hostile servers, as the local Redis and as the peer:
it never replicates what it cannot read, gives up at --sync-timeout with
exit 1, and logs what was wrong with the server."""
from hooks_common import HostileHookTestCase, add_hostile_tests
from robkit import main, setUpModule  # noqa: F401


class HostileBackupTest(HostileHookTestCase):
    TOOL = "redis_backup"


# Either way there is nothing safe to do: wait, then give up.
add_hostile_tests(HostileBackupTest, local_expect=(1, "timeout"), peer_expect=(1, "timeout"))


if __name__ == "__main__":
    main()
