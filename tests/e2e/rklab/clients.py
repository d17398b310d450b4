"""What applications see during a fault: for each writer through the VIP
(the lab's own and redis-py with each settings profile), within the window
of each fault, the exceptions by type, the longest stall of one call, the
longest write gap and the acknowledged writes lost."""
import time


def read_calls(path):
    """The calls file of a redis-py writer: [(unix start, seconds, outcome)]."""
    rows = []
    try:
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) == 3:
                    rows.append((float(parts[0]), float(parts[1]), parts[2]))
    except OSError:
        pass
    return rows


def longest_gap(times, t0, t1, t_stop):
    """The longest time without an acknowledged write that overlaps
    [T0, T1]: between two consecutive acknowledgements, or from the last one
    to T_STOP (the writer's end) when none followed. TIMES: sorted."""
    gap = 0.0
    prev = None
    for t in times + [t_stop]:
        if prev is not None and t > t0 and prev < t1:
            gap = max(gap, t - prev)
        prev = t
        if t > t1:
            break
    return gap


class Writer:
    """A writer the table follows, as procs.ClientWriter presents one: its
    name, its Acks, its calls file (None for the lab's own writer, whose
    socket timeouts bound its calls to 0.2 s and which records no
    exceptions)."""

    def __init__(self, name, acks, calls=None):
        self.name, self.acks, self.calls = name, acks, calls


class ClientTable:
    """The figures of the writers over the windows of successive faults:
    [{fault, writer, exceptions, stall_s, gap_s, lost}]."""

    def __init__(self, lab):
        self.lab = lab
        self.rows = []
        self.lost = {}            # writer name: the keys found missing so far

    def add_window(self, name, t0, t1, writers):
        """The fault NAME ran from T0 to T1, the pair has converged, and the
        WRITERS that were started for it have stopped (the lab's own writer
        runs on): count each one's acknowledged writes missing from the
        master or the replica that were not missing before, and its figures
        over the window."""
        t_stop = time.time()
        verifier = self.lab.verifier
        master = self.lab.observer.holder_node()
        replica = self.lab.other(master)
        verifier.wait_replica_caught_up(master, replica)
        for w in writers:
            w.acks.update()
            expected = w.acks.written()
            missing = set(verifier.missing_keys(master, expected))
            missing |= set(verifier.missing_keys(replica, expected))
            before = self.lost.setdefault(w.name, set())
            self.rows.append(self.figures(name, w, t0, t1, t_stop, len(missing - before)))
            before |= missing

    @staticmethod
    def figures(name, w, t0, t1, t_stop, lost):
        """Writer W's row for the fault NAME (window T0 to T1; W stopped at
        T_STOP at the latest, so a call still blocked then counts), LOST of
        its acknowledged writes newly missing."""
        times = [t for _, t, _ in w.acks.rows]
        row = {"fault": name, "writer": w.name,
               "gap_s": round(longest_gap(times, t0, t1, t_stop), 2),
               "lost": lost, "exceptions": None, "stall_s": None}
        if w.calls is not None:
            calls = read_calls(w.calls)
            errors = {}
            for start, _, outcome in calls:
                if t0 <= start <= t1 and outcome not in ("ok", "stopped"):
                    errors[outcome] = errors.get(outcome, 0) + 1
            row["exceptions"] = errors
            row["stall_s"] = round(max((d for s, d, _ in calls if s < t1 and s + d > t0),
                                       default=0.0), 2)
            # A call the writer's end interrupted: the stall is a lower bound.
            row["blocked_at_end"] = any(o == "stopped" and s < t1 and s + d > t0
                                        for s, d, o in calls)
        return row


def table_lines(rows):
    """The figures as a Markdown table, as the README quotes it."""
    lines = ["| fault | writer | exceptions seen | longest call | longest write gap "
             "| acked writes lost |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        if r["exceptions"] is None:
            exc, stall = "(not recorded)", "(0.2 s timeouts)"
        else:
            exc = ", ".join(f"{k} {v}" for k, v in sorted(r["exceptions"].items())) or "none"
            stall = f"{r['stall_s']} s"
            if r.get("blocked_at_end"):
                stall = f"> {r['stall_s']} s (still blocked at the end)"
        lines.append(f"| {r['fault']} | {r['writer']} | {exc} | {stall} | {r['gap_s']} s "
                     f"| {r['lost']} |")
    return lines
