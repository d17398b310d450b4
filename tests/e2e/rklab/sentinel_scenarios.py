"""The scenarios of the Sentinel topologies (--topology sentinel|sentinel3),
one named step a line, under the writer's load like the pair's. Each returns
its figures: the longest write gap, the acknowledged writes lost and how many
of them a kept copy holds, the longest time the VIP sat on a node the
majority of the sentinels did not name (sampled every 0.1 s), and the time
to converge.

With the toolkit moving the VIP a scenario fails when an acknowledged write
is lost (the minority scenario: when a lost write is in no kept copy); with
plain Sentinel's reconfig script the same figures are the baseline, reported
and never a failure."""
import re
import signal
import time

from .common import Failed, LabError, rel, say
from .scenarios import IDLE_S, finish, require_calm, watch_idle
from .sentinel import SAMPLE_PERIOD, SWITCHOVER_TOOL

CUT_S = 15.0


def start_under_load(lab):
    """The topology up, the writer 3 s under way; returns (the master's
    node, the time the writer started)."""
    lab.bring_up()
    t_load = time.time()
    lab.procs.start_writer()
    time.sleep(3)
    return lab.observer.holder_node(), t_load


def wait_switch(lab, old, since, timeout=45):
    """Until a node other than OLD holds the VIP alone, its Redis is master
    and the majority of the sentinels names it."""
    return lab.observer.wait_for(
        lambda s: (s.holder not in (None, old.name) and s.redis[s.holder]["role"] == "master"
                   and s.sentinels[0] == s.holder),
        timeout, f"the VIP on a master other than node {old.name}, named by the sentinels",
        since=since)


def until(t):
    time.sleep(max(0.0, t - time.time()))


def finish_sentinel(lab, res, t_fault, t_load, must_keep_all=True):
    """The pair's end (converged, every acknowledged write read back), the
    kept copies, the VIP against the sentinels' majority since T_LOAD; with
    the toolkit, MUST_KEEP_ALL: no acknowledged write lost, else none lost
    outside a kept copy."""
    res = finish(lab, res, t_fault, allow_loss=True)
    # A writer that got nothing through from some point on to its end has
    # a gap no two acknowledged writes show.
    acks = lab.procs.acks
    if acks.rows and lab.procs.writer_stopped_t - acks.last_t() > res["write_gap_s"]:
        res["write_gap_s"] = round(lab.procs.writer_stopped_t - acks.last_t(), 2)
        res["write_gap_at_s"] = round(rel(acks.last_t()), 2)
    res.update(lab.verifier.check_kept_copies())
    sampler = lab.sentinels.sampler
    res["vip_on_unnamed_max_s"], res["vip_on_unnamed_node"], began = sampler.unnamed_holders(
        t_load)
    res["vip_on_unnamed_from_s"] = None if began is None else round(rel(began), 2)
    res["vip_samples"] = len([s for s in sampler.samples if s[0] >= t_load])
    if res.get("new_master"):
        # Sentinel's own failover time, and what the VIP mover adds to it.
        res["named_after_fault_s"], res["vip_after_named_s"] = sampler.named_to_vip(
            t_fault, res["new_master"])
    if lab.mover == "reconfig-script":
        res["reconfig_script_runs"] = [f"{t - t_fault:.2f}s {host}: {args}"
                                       for t, host, args in lab.sentinels.reconfig_lines()]
        return res
    if must_keep_all and res["lost"]:
        raise Failed(f"{res['lost']} acknowledged writes lost (by node that acked: "
                     f"{res['lost_by_node']}; in kept copies {res['lost_in_copies']})", res)
    if res["lost_not_in_copies"]:
        raise Failed(f"{res['lost_not_in_copies']} of {res['lost']} acknowledged writes lost are "
                     f"in no kept copy (copies: {res['kept_copies']})", res)
    require_vip_on_named(lab, res)
    return res


def require_vip_on_named(lab, res):
    """Issue #18: the VIP sits on no node the majority of the sentinels does
    not name for longer than one check interval (the vrrp_script interval
    keepalived runs with), to the sampler's period. With weight 0 a failing
    check puts the node in FAULT at once, so that is how long a node the
    majority stopped naming can keep the VIP (redis_watch, subscribed to
    +switch-master, drops it sooner)."""
    interval = lab.vrrp_script_seconds("interval")
    bound = interval + SAMPLE_PERIOD
    if res["vip_on_unnamed_max_s"] > bound:
        raise Failed(f"the VIP was on node {res['vip_on_unnamed_node']}, which the majority of "
                     f"the sentinels did not name, for {res['vip_on_unnamed_max_s']}s from "
                     f"{res['vip_on_unnamed_from_s']}s (> {bound:.2f}s: vrrp_script interval "
                     f"{interval:g}s + sampling {SAMPLE_PERIOD:g}s)", res)


def sc_sentinel_kill(lab):
    """kill -9 of the master's Redis; Sentinel promotes a replica, the VIP
    follows; the Redis restarts 15 s after the kill and Sentinel makes it a
    replica."""
    res = {}
    m, t_load = start_under_load(lab)
    lab.phase(f"kill -9 the master's Redis (node {m.name}) under load")
    t = time.time()
    lab.faults.kill_redis(m, signal.SIGKILL)
    snap = wait_switch(lab, m, since=t)
    res["failover_s"], res["new_master"] = round(snap.t - t, 2), snap.holder
    say(f"VIP on {snap.holder}, master and named, {res['failover_s']}s after the kill")
    until(t + CUT_S)
    lab.phase(f"restart node {m.name}'s Redis from its persistence files")
    t_restart = time.time()
    lab.procs.start_redis(m)
    since = lab.observer.wait_converged(timeout=60, holder=snap.holder, since=t_restart)
    res["rejoin_s"] = round(since.t - t_restart, 2)
    return finish_sentinel(lab, res, t, t_load)


def sc_sentinel_stop(lab):
    """SIGSTOP of the master's Redis for 15 s, then SIGCONT."""
    res = {}
    m, t_load = start_under_load(lab)
    lab.phase(f"SIGSTOP the master's Redis (node {m.name}) for {CUT_S:.0f} s")
    t = time.time()
    lab.faults.freeze_redis(m)
    try:
        snap = wait_switch(lab, m, since=t, timeout=CUT_S)
        res["failover_s"], res["new_master"] = round(snap.t - t, 2), snap.holder
        until(t + CUT_S)
    finally:
        lab.phase(f"SIGCONT node {m.name}'s Redis")
        lab.faults.freeze_redis(m, frozen=False)
    t_cont = time.time()
    since = lab.observer.wait_converged(timeout=60, since=t_cont)
    res["rejoin_s"] = round(since.t - t_cont, 2)
    return finish_sentinel(lab, res, t, t_load)


def sc_sentinel_partition(lab):
    """The data nodes lose each other for 15 s (bridge port isolation);
    both still reach the client and the third sentinel, which sees the
    master: no majority for a failover."""
    res = {}
    m, t_load = start_under_load(lab)
    lab.phase(f"partition: the data nodes lose each other for {CUT_S:.0f} s "
              "(both still reach the client and the sentinel on s)")
    t = time.time()
    lab.faults.isolate(True)
    try:
        until(t + CUT_S)
    finally:
        lab.phase("heal the partition")
        lab.faults.isolate(False)
    t_heal = time.time()
    since = lab.observer.wait_converged(timeout=60, since=t_heal)
    res["heal_converge_s"] = round(since.t - t_heal, 2)
    res["master_during_cut"] = sorted({s.holder for s in lab.observer.new_samples(
        lab.observer.sample_index(t)) if s.t < t_heal and s.holder})
    return finish_sentinel(lab, res, t, t_load)


def sc_sentinel_isolate(lab):
    """The master's node loses the network entirely for 15 s (its switch
    port stops forwarding); the others elect a new master."""
    res = {}
    m, t_load = start_under_load(lab)
    lab.phase(f"node {m.name}, the master, loses the network for {CUT_S:.0f} s")
    t = time.time()
    lab.faults.cut_off(m, True)
    try:
        snap = lab.observer.wait_for(
            lambda s: (any(n != m.name and s.redis[n]["role"] == "master" for n in s.vip)
                       and s.sentinels[0] in s.vip),
            CUT_S + 10, "a new master named by the sentinels to hold the VIP", since=t)
        res["failover_s"] = round(snap.t - t, 2)
        res["new_master"] = next(n for n in snap.vip if n != m.name)
        until(t + CUT_S)
    finally:
        lab.phase(f"node {m.name} is back on the network")
        lab.faults.cut_off(m, False)
    t_heal = time.time()
    since = lab.observer.wait_converged(timeout=60, since=t_heal)
    res["heal_converge_s"] = round(since.t - t_heal, 2)
    return finish_sentinel(lab, res, t, t_load)


def sc_sentinel_minority(lab):
    """The master keeps its client but loses every other data node and
    every other sentinel for 15 s: the majority elects a new master. How
    long the old one still acknowledges writes, and whether every
    acknowledged write missing from the final master is in a kept copy."""
    res = {}
    m, t_load = start_under_load(lab)
    hosts = sorted({(s.ns, s.ip) for s in lab.sentinels.all if s.ip != m.ip}
                   | {(n.ns, n.ip) for n in lab.others(m)})
    lab.phase(f"node {m.name}, the master, keeps its client but loses "
              f"{', '.join(ip for _, ip in hosts)} for {CUT_S:.0f} s")
    t = time.time()
    lab.faults.cut_between(m, hosts, True)
    try:
        snap = lab.observer.wait_for(
            lambda s: any(n != m.name and s.redis[n]["role"] == "master"
                          and s.sentinels[0] == n for n in s.redis),
            CUT_S + 10, "the majority's sentinels to name a new master", since=t)
        res["new_master_named_s"] = round(snap.t - t, 2)
        until(t + CUT_S)
    finally:
        lab.phase(f"node {m.name} reaches the others again")
        lab.faults.cut_between(m, hosts, False)
    t_heal = time.time()
    acks = lab.procs.acks
    acks.update()
    on_m = [at for _, at, tag in acks.rows if tag in m.run_ids and t <= at < t_heal]
    res["minority_acked_after_cut"] = len(on_m)
    res["minority_acked_until_s"] = round(max(on_m) - t, 2) if on_m else 0.0
    say(f"node {m.name} acknowledged {len(on_m)} writes after the cut, the last "
        f"{res['minority_acked_until_s']}s after it")
    since = lab.observer.wait_converged(timeout=60, since=t_heal)
    res["heal_converge_s"] = round(since.t - t_heal, 2)
    return finish_sentinel(lab, res, t, t_load, must_keep_all=False)


def sc_sentinel_switchover(lab):
    """A planned switchover under load, by what the lab was told
    (--switchover-by): redis_switchover --sentinel on the master's node, as
    an operator runs it with the node's toolkit.conf, which must lose no
    acknowledged write and leave the old master no write after the new
    one's promotion; or plain SENTINEL FAILOVER (sent to a sentinel off the
    master's node), which neither pauses nor waits: the writes the old
    master acknowledges until Sentinel converts it are rolled back
    (redis/redis#6062); how many."""
    res = {"switchover_by": lab.switchover_by}
    m, t_load = start_under_load(lab)
    old_replid = m.info("replication")["master_replid"]
    t = time.time()
    if lab.switchover_by == SWITCHOVER_TOOL:
        lab.phase(f"redis_switchover --sentinel on node {m.name}, the master")
        run_switchover_tool(lab, m, res)
    else:
        via = next(s for s in lab.sentinels.all if s.ip != m.ip)
        lab.phase(f"SENTINEL FAILOVER {via.name}'s sentinel, node {m.name} the master")
        res["failover_reply"] = lab.sentinels.failover(via)
    snap = wait_switch(lab, m, since=t)
    res["switchover_s"], res["new_master"] = round(snap.t - t, 2), snap.holder
    since = lab.observer.wait_converged(timeout=60, holder=snap.holder, since=t)
    res["converged_s"] = round(since.t - t, 2)
    res.update(old_master_after_promotion(lab, m, lab.nodes[snap.holder], old_replid, t))
    if lab.switchover_by != SWITCHOVER_TOOL:
        # SENTINEL FAILOVER itself loses writes; with the toolkit they must
        # be in the copy the old master's hooks kept when they fenced it.
        return finish_sentinel(lab, res, t, t_load, must_keep_all=False)
    res = finish_sentinel(lab, res, t, t_load)
    require_clean_handover(res)
    return res


def run_switchover_tool(lab, node, res):
    """redis_switchover on NODE; a refusal or an unconfirmed handover fails
    the scenario."""
    out = lab.procs.run_sentinel_switchover(node)
    res["switchover_exit"] = out.returncode
    res["switchover_verdict"] = next(
        (ln.split("verdict=", 1)[1] for ln in reversed(out.stderr.splitlines())
         if "verdict=" in ln), None)
    paused = re.search(r"writes paused (\d+) ms", out.stderr)
    res["switchover_paused_ms"] = int(paused.group(1)) if paused else None
    if out.returncode != 0:
        raise Failed(f"redis_switchover exited {out.returncode}: {out.stderr.strip()[-600:]}",
                     res)


def old_master_after_promotion(lab, old, new, old_replid, since):
    """What the lab sees of OLD, the old master, once NEW's log says it was
    promoted (MASTER MODE enabled): the writes the writer got +OK for from
    OLD's Redis (tagged with its run_id) after that instant, stamped when the
    +OK arrived, so a late stamp counts against OLD; and whether OLD rejoined
    at exactly the fork of NEW's history: a partial resync continues only at
    NEW's second_repl_offset, so an old master with any write of its own
    past the promotion would need a full one (INFO's replid2 and
    second_repl_offset then differ)."""
    promoted = new.log_times(["MASTER MODE enabled"], since)["MASTER MODE enabled"]
    if promoted is None:
        raise LabError(f"node {new.name}'s Redis log shows no promotion after the switchover")
    acks = lab.procs.acks
    acks.update()
    on_old = [at for _, at, tag in acks.rows if tag in old.run_ids]
    o, n = old.info("replication"), new.info("replication")
    forked = (o.get("master_replid2") == n.get("master_replid2") == old_replid
              and o.get("second_repl_offset") == n.get("second_repl_offset"))
    return {"promoted_after_s": round(promoted - since, 2),
            "old_master_acked_after_promotion": sum(at > promoted for at in on_old),
            # Negative: the old master's last +OK came before the promotion.
            "old_master_last_ack_after_promotion_s":
                round(max(on_old) - promoted, 3) if on_old else None,
            "old_master_rejoined_at_fork": forked}


def require_clean_handover(res):
    """The old master took no write after the promotion."""
    if res["old_master_acked_after_promotion"] or not res["old_master_rejoined_at_fork"]:
        raise Failed(f"the old master acknowledged {res['old_master_acked_after_promotion']} "
                     f"writes after the new master's promotion (rejoined at the fork: "
                     f"{res['old_master_rejoined_at_fork']})", res)


def sc_sentinel_idle(lab):
    """Nothing happens for IDLE_S under load: keepalived must not change
    state and the VIP must not move."""
    m, t_load = start_under_load(lab)
    lab.phase(f"idle for {IDLE_S:.0f} s, node {m.name} the master")
    t, res = watch_idle(lab, IDLE_S)
    return require_calm(finish_sentinel(lab, res, t, t_load))


SENTINEL_SCENARIOS = {"sentinel-kill": sc_sentinel_kill, "sentinel-stop": sc_sentinel_stop,
                      "sentinel-partition": sc_sentinel_partition,
                      "sentinel-isolate": sc_sentinel_isolate,
                      "sentinel-minority": sc_sentinel_minority,
                      "sentinel-switchover": sc_sentinel_switchover,
                      "sentinel-idle": sc_sentinel_idle}
# The scenarios the three-data-node topology runs (the partition is between
# two data nodes and a sentinel-only host).
SENTINEL3_SCENARIOS = ("sentinel-kill", "sentinel-stop", "sentinel-isolate",
                       "sentinel-minority", "sentinel-switchover", "sentinel-idle")
SENTINEL_HARD_TIMEOUT = {name: 180 for name in SENTINEL_SCENARIOS}
