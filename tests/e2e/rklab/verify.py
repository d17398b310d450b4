"""Verification: every acknowledged write on the pair, the writes lost and
which node acknowledged them, the kept copies read back, and who the hooks
ran as."""
import glob
import os
import pwd
import shutil
import tempfile
import time

from rediskit import RedisReplyError, RedisServer, free_port


class Verifier:
    """Reads LAB's nodes (and the copies their hooks kept) for the writes
    its writers had acknowledged."""

    def __init__(self, lab):
        self.lab = lab
        self.last_lost = []       # keys the last verify() found missing
        self.last_expected = {}   # {key: value} the last verify() looked for

    @staticmethod
    def wait_replica_caught_up(master, replica, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                m = master.info("replication")
                r = replica.info("replication")
                if (r.get("master_link_status") == "up"
                        and int(r.get("slave_repl_offset", -1)) >= int(m["master_repl_offset"])):
                    return True
            except (OSError, ConnectionError, RedisReplyError, KeyError, ValueError):
                pass
            time.sleep(0.1)
        return False

    @staticmethod
    def missing_keys(node, expected):
        """EXPECTED: {key: value}. Return the keys absent or different on NODE."""
        missing = []
        keys = list(expected)
        with node.client(timeout=5) as c:
            for i in range(0, len(keys), 1000):
                chunk = keys[i:i + 1000]
                values = c.call("MGET", *chunk)
                for k, v in zip(chunk, values):
                    if v != expected[k]:
                        missing.append(k)
        return missing

    def verify(self, expected_extra=None):
        """Every acknowledged write on the VIP holder and on its replicas
        (one in the pair, two or one in the Sentinel topologies)."""
        lab = self.lab
        snap = lab.observer.latest()
        master = lab.nodes[snap.holder]
        replicas = lab.others(master)
        caught_up = all([self.wait_replica_caught_up(master, r) for r in replicas])
        acks = lab.procs.acks
        expected = acks.written()
        tag_of = {f"k:{n}": tag for n, _, tag in acks.rows}
        lost_m = self.missing_keys(master, expected)
        lost_r = sorted({k for r in replicas for k in self.missing_keys(r, expected)})
        lost = sorted(set(lost_m) | set(lost_r), key=lambda k: int(k[2:]))
        by_node = {}
        for k in lost:
            by_node[self.node_of_tag(tag_of[k])] = by_node.get(self.node_of_tag(tag_of[k]), 0) + 1
        self.last_lost, self.last_expected = lost, expected
        res = {"acked": len(expected), "lost": len(lost), "lost_on_master": len(lost_m),
               "lost_on_replica": len(lost_r), "lost_by_node": by_node,
               "replica_caught_up": caught_up, "lost_sample": lost[:10]}
        if expected_extra:
            em = self.missing_keys(master, expected_extra)
            er = {k for r in replicas for k in self.missing_keys(r, expected_extra)}
            res["bulk_keys"] = len(expected_extra)
            res["bulk_missing_on_master"] = len(em)
            res["bulk_missing_on_replica"] = len(er)
        return res

    def node_of_tag(self, tag):
        """The node whose Redis had the run_id TAG (the writer's tag of an
        acknowledged write)."""
        for node in self.lab.nodes.values():
            if tag in node.run_ids:
                return node.name
        return "?"

    def keys_in_kept_copies(self, wanted):
        """Reads back every copy the hooks kept (a redis-server on loopback
        started on it, as the man page tells operators). WANTED: {key:
        value}. Returns (the keys of WANTED some copy holds, one row per
        copy)."""
        found, copies = set(), []
        for node in self.lab.nodes.values():
            for name in sorted(os.listdir(node.copy_dir)):
                if not name.endswith(".rdb"):
                    continue
                path = os.path.join(node.copy_dir, name)
                data = tempfile.mkdtemp(prefix="rklab-copy-")
                srv = self.copy_server(node, data)
                try:
                    shutil.copy(path, os.path.join(data, "dump.rdb"))
                    srv.start()
                    held = set(wanted) - set(self.missing_keys(srv, wanted)) if wanted else set()
                finally:
                    srv.cleanup()
                    shutil.rmtree(data, True)
                found |= held
                copies.append({"node": node.name, "file": name, "bytes": os.path.getsize(path),
                               "wanted_keys_in_it": len(held)})
        return found, copies

    def copy_server(self, node, data):
        """The loopback server that reads a kept copy back: with --tls,
        TLS only (NODE's server certificate, which names 127.0.0.1) and
        read with the lab's client certificate."""
        extra = ["dbfilename dump.rdb"]
        certs = self.lab.certs
        if not certs:
            return RedisServer(data_dir=data, extra_config=extra)
        port = free_port()
        # RedisServer writes port 0 and tls-port itself.
        tls_lines = [ln for ln in certs.redis_lines(node.name, port)
                     if not ln.startswith(("port ", "tls-port "))]
        return RedisServer(port=port, data_dir=data, extra_config=extra + tls_lines,
                           tls=self.lab.tls)

    def check_kept_copies(self):
        """The acknowledged writes missing from the pair (the last verify())
        that a kept copy holds."""
        lost = self.last_lost
        found, copies = self.keys_in_kept_copies({k: self.last_expected[k] for k in lost})
        return {"kept_copies": copies, "lost_in_copies": len(found),
                "lost_not_in_copies": len(lost) - len(found)}

    def hooks_user(self):
        """Owners of the files the hooks wrote in the state dirs."""
        users = set()
        for node in self.lab.nodes.values():
            for p in glob.glob(os.path.join(node.state_dir, "*")):
                try:
                    users.add(pwd.getpwuid(os.stat(p).st_uid).pw_name)
                except (OSError, KeyError):
                    pass
        return sorted(users)
