"""A peer that misbehaves while redis_backup keeps a copy of its dataset.

The local node is a real master that served the clients during a split (the
larger tail after the fork); the peer is a fake master, related to it with a
smaller tail, that answers INFO, CLIENT PAUSE and REPLCONF like Redis and then
misbehaves when asked for its dataset (PSYNC). The hook must end within
--copy-timeout plus its call deadlines, with verdict=copy-failed (exit 1), a
log line naming the problem, no file left in the copy dir, and the local node
unchanged."""
import os

from robkit import MARGIN, HostileTestCase, bulk, main, populate, setUpModule  # noqa: F401
from rediskit import server_binary, wait_until  # noqa: E402  (on the path robkit set)
from rediskit import ThenClose  # noqa: E402  (on the path robkit set)

TIMEOUT_MS = 300
COPY_TIMEOUT_S = 1
BOUND = COPY_TIMEOUT_S + 4 * TIMEOUT_MS / 1000 + MARGIN
FULLRESYNC = b"+FULLRESYNC " + b"a" * 40 + b" 4100\r\n"

# PSYNC behaviours, each with what the log must say.
PSYNC = {
    "refused": (b"-NOPERM this user has no permissions to run the 'psync' command\r\n",
                "map", r"PSYNC refused: NOPERM"),
    "not_fullresync": (b"+CONTINUE\r\n", "map", r"expected \+FULLRESYNC"),
    "no_length": (FULLRESYNC + b"hello\r\n", "map", r"expected the RDB's length"),
    "not_an_rdb": (FULLRESYNC + b"$12\r\nHTTP/1.1 400", "map", r"payload is not an RDB"),
    "silent_after_handshake": (FULLRESYNC, "map", r"before the copy timeout"),
    "huge_then_silent": (FULLRESYNC + b"$99999999999\r\nREDIS0009", "map",
                         r"before the copy timeout"),
    "closed_mid_rdb": (ThenClose(FULLRESYNC + b"$100000\r\nREDIS0009" + b"x" * 5000), "map",
                       r"connection closed by the server"),
}


class CopyCase(HostileTestCase):

    def split_local(self):
        """A real master promoted from a history (replid R, fork at F) that
        took 300 writes after the fork. Returns (server, R, F)."""
        old = self.server()
        local = self.server()
        populate(old, 50)
        self.replicate(local, old)
        info = old.info("replication")
        local.call("REPLICAOF", "NO", "ONE")
        populate(local, 300, prefix="split")
        fork = int(local.info("replication")["second_repl_offset"]) - 1
        return local, info["master_replid"], fork

    def fake_peer(self, replid, fork, psync, mode, version="7.0.15"):
        """A master of history REPLID with 100 bytes of writes after FORK."""
        peer_info = (f"# Server\r\nredis_version:{version}\r\nrun_id:" + "f" * 40 + "\r\n"
                     "# Persistence\r\nloading:0\r\n"
                     "# Replication\r\nrole:master\r\nconnected_slaves:0\r\n"
                     f"master_replid:{replid}\r\n"
                     "master_replid2:0000000000000000000000000000000000000000\r\n"
                     f"master_repl_offset:{fork + 100}\r\nsecond_repl_offset:-1\r\n"
                     "# Keyspace\r\ndb0:keys=50,expires=0,avg_ttl=0\r\n")
        return self.fake(mode, replies={b"PING": b"+PONG\r\n", b"INFO": bulk(peer_info),
                                        b"CLIENT": b"+OK\r\n", b"REPLCONF": b"+OK\r\n",
                                        b"PSYNC": psync})

    def run_case(self, kind):
        psync, mode, pattern = PSYNC[kind]
        local, replid, fork = self.split_local()
        peer = self.fake_peer(replid, fork, psync, mode)
        r = self.run_tool("redis_backup", *self.hook_args(local.port, peer.port, TIMEOUT_MS),
                          "--copy-timeout", str(COPY_TIMEOUT_S), "--sync-timeout", "5",
                          "--backup-grace", "0", timeout=BOUND + 10)
        self.assert_bounded(r, 1, BOUND, pattern, "copy-failed")
        self.assertIn("keeping a copy of the peer Redis's dataset", r.log)
        leftovers = os.listdir(self.copy_dir) if os.path.isdir(self.copy_dir) else []
        self.assertEqual(leftovers, [], "a partial copy was left behind")
        self.assert_role(local, "master")
        self.assertEqual(self.dbsize(local), 350)


class HostileCopyTest(CopyCase):
    """One test per PSYNC answer in PSYNC (added below)."""


class OldPeerTest(CopyCase):
    """A peer older than Redis 6.2 has no CLIENT PAUSE WRITE: the hook that
    would hold its writes refuses at once, before sending anything."""

    def test_redis_6_0_is_refused(self):
        local, replid, fork = self.split_local()
        peer = self.fake_peer(replid, fork, b"-ERR unused\r\n", "map", version="6.0.16")
        r = self.run_tool("redis_backup", *self.hook_args(local.port, peer.port, TIMEOUT_MS),
                          "--sync-timeout", "5", "--backup-grace", "0", timeout=BOUND + 10)
        self.assert_bounded(r, 1, 1 + MARGIN, r"Redis 6\.0\.16, older than 6\.2", "peer-too-old")
        self.assertNotIn("keeping a copy", r.log)
        self.assert_role(local, "master")
        self.assertEqual(self.dbsize(local), 350)


class OldPeerPromotionTest(CopyCase):
    """redis_master with a peer older than Redis 6.2: refused (peer-too-old,
    nothing changed) unless --promote-without-pause lets it compare without
    the pause. The peer is a fake 6.0.16 master that reports the history and
    offset of the real master the local replica has caught up with."""

    def caught_up_replica_and_old_peer(self):
        """A real replica, synced from a real master, then pointed at the
        fake 6.0.16 peer, which accepts its PSYNC (+CONTINUE) so that its
        link is up, and reports the same history and offset."""
        source = self.server()
        local = self.server()
        populate(source, 200)
        self.replicate(local, source)
        info = source.info("replication")
        offset = int(info["master_repl_offset"])
        wait_until(lambda: int(local.info("replication")["slave_repl_offset"]) >= offset, 10,
                   what="replica caught up")
        peer = self.fake_peer(info["master_replid"], offset - 100, b"+CONTINUE\r\n", "map",
                              version="6.0.16")
        # The handshake's REPLCONFs get +OK (listening-port and capa; Valkey
        # adds version); the REPLCONF ACKs that follow get no answer.
        handshake = 3 if "valkey" in os.path.basename(server_binary()) else 2
        peer.replies[b"REPLCONF"] = [b"+OK\r\n"] * handshake + [None]
        peer.replies[b"REPLICAOF"] = peer.replies[b"CONFIG"] = b"+OK\r\n"
        local.call("REPLICAOF", "127.0.0.1", str(peer.port))
        wait_until(lambda: local.info("replication")["master_link_status"] == "up", 10,
                   what="link to the fake peer up")
        return local, peer

    def test_refused_without_the_flag(self):
        local, peer = self.caught_up_replica_and_old_peer()
        r = self.run_tool("redis_master", *self.hook_args(local.port, peer.port, TIMEOUT_MS),
                          "--sync-timeout", "5", timeout=BOUND + 10)
        self.assert_bounded(r, 1, 1 + MARGIN, r"Redis 6\.0\.16, older than 6\.2",
                            "peer-too-old")
        self.assert_role(local, "slave")

    def test_promoted_with_the_flag(self):
        local, peer = self.caught_up_replica_and_old_peer()
        r = self.run_tool("redis_master", *self.hook_args(local.port, peer.port, TIMEOUT_MS),
                          "--sync-timeout", "5", "--promote-without-pause", timeout=BOUND + 10)
        self.assertRc(r, 0)
        self.assertRegex(r.log, r"promoting without pausing the peer's writes "
                                r"\(--promote-without-pause: it runs Redis 6\.0\.16")
        self.assertNotIn("peer paused", r.log)
        # Repointed without a pause too (the fake accepts REPLICAOF).
        self.assertIn("peer demoted", r.log)
        self.assert_role(local, "master")
        self.assertEqual(self.dbsize(local), 200)


for _kind in PSYNC:
    def _test(self, kind=_kind):
        self.run_case(kind)
    _test.__doc__ = f"a peer whose PSYNC answer is {_kind.replace('_', ' ')}"
    setattr(HostileCopyTest, f"test_{_kind}", _test)


if __name__ == "__main__":
    main()
