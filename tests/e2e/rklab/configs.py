"""The configs of a lab node, rendered from the samples in keepalived/ by
plain text substitution (see tests/support/samples.py), with the options the
lab was given: other vrrp_script timings, other priorities."""
import os
import re

import samples
from samples import SCRIPT_USER

from .common import LabError
from . import network
from .network import A_IP, B_IP, IFNAME, VIP

REDIS_PORT = 6379
# The vrrp_script directives --vrrp-script may set (or reset to keepalived's
# default).
VRRP_SCRIPT_KEYS = ("interval", "timeout", "fall", "rise", "weight")
# keepalived 2.3.2 and later read these two in seconds with up to three
# decimals (millisecond resolution); fall, rise and weight stay counts.
# 2.2.7 reads "0.3" as an invalid number and runs the check every second.
FRACTIONAL_KEYS = ("interval", "timeout")
DEFAULT = "default"
# The Sentinel-mode samples, and the placeholder of the toolkit.conf path in
# the keepalived one.
SENTINEL_KEEPALIVED_SAMPLE = "keepalived-sentinel-node.conf"
SENTINEL_TOOLKIT_SAMPLE = "toolkit-sentinel.conf"
SAMPLE_SENTINEL_TOOLKIT_CONF = "/etc/redis-keepalived/toolkit-sentinel.conf"
SAMPLE_SENTINEL_PASSWORD_FILE = "/etc/redis-keepalived/sentinel-password"
DEFER_TO_WATCH = "--defer-to-watch"


def _sample(fn, *args):
    """FN(*ARGS) of tests/support/samples.py; a sample it cannot render is a
    lab error."""
    try:
        return fn(*args)
    except samples.SampleError as exc:
        raise LabError(str(exc))


# --------------------------------------------------------------------------
# Options

def parse_vrrp_script(items):
    """["fall=3", "rise=default"] -> {"fall": "3", "rise": None}: None removes
    the directive, so keepalived's default applies. Raises ValueError."""
    out = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or key not in VRRP_SCRIPT_KEYS:
            raise ValueError(f"--vrrp-script {item!r}: give KEY=VALUE, KEY one of "
                             f"{', '.join(VRRP_SCRIPT_KEYS)}")
        if value == DEFAULT:
            out[key] = None
        elif re.fullmatch(r"-?\d+", value):
            out[key] = value
        elif key in FRACTIONAL_KEYS and re.fullmatch(r"\d+\.\d{1,3}", value):
            out[key] = value
        else:
            kind = ("seconds, with up to three decimals (keepalived 2.3.2+)"
                    if key in FRACTIONAL_KEYS else "a whole number")
            raise ValueError(f"--vrrp-script {item!r}: VALUE is {kind}, or {DEFAULT!r}")
    return out


def fractional_vrrp_script(values):
    """The directives of VALUES given with decimals ({"interval": "0.3"})."""
    return {k: v for k, v in values.items() if v is not None and "." in v}


def keepalived_version(log_text):
    """"2.3.3" from keepalived's "Starting Keepalived v2.3.3" log line, or None."""
    m = re.search(r"Starting Keepalived v(\d+(?:\.\d+)+)", log_text)
    return m.group(1) if m else None


def config_complaints(log_text):
    """The lines where keepalived reports a config line it could not read as
    written ("(FILE: Line 7) WARNING - invalid number '0.3'")."""
    return [line.strip() for line in log_text.splitlines()
            if re.search(r"\([^()]+: Line \d+\)", line)]


def parse_vrrp_timing(version, advert_int):
    """--vrrp-version and --advert-int -> (version or None, advert_int text
    or None): None leaves the samples' line (VRRPv2, advert_int 1). VRRPv2
    carries the interval in whole seconds (1-255); VRRPv3 in centiseconds
    (0.01-40.95). keepalived 2.2.7 reads the value with that resolution and,
    for VRRPv2, rounds a fraction to whole seconds with a complaint
    (vrrp.c, vrrp_complete_instance), so the lab refuses it here. Raises
    ValueError."""
    if advert_int is None:
        return version, None
    m = re.fullmatch(r"(\d+)(?:\.(\d{1,2}))?", advert_int)
    if not m:
        raise ValueError(f"--advert-int {advert_int!r}: seconds, with up to two decimals "
                         "(VRRPv3 counts centiseconds)")
    centis = int(m.group(1)) * 100 + int((m.group(2) or "0").ljust(2, "0"))
    if version == 3:
        if not 1 <= centis <= 4095:
            raise ValueError(f"--advert-int {advert_int}: VRRPv3 takes 0.01 to 40.95 s")
    elif centis % 100 or not 1 <= centis // 100 <= 255:
        raise ValueError(f"--advert-int {advert_int}: VRRPv2 takes whole seconds, 1 to 255 "
                         "(fractions need --vrrp-version 3)")
    return version, advert_int


def parse_priorities(text):
    """"254,253" -> {"a": 254, "b": 253}. Raises ValueError."""
    parts = text.split(",")
    if len(parts) != 2 or not all(p.strip().isdigit() and 1 <= int(p) <= 254 for p in parts):
        raise ValueError(f"--priority {text!r}: give A,B, each 1 to 254")
    return {"a": int(parts[0]), "b": int(parts[1])}


# --------------------------------------------------------------------------
# keepalived.conf

def _script_block(text):
    """(start, end) of the body of the first vrrp_script block."""
    m = re.search(r"^\s*vrrp_script\s+\S+\s*\{", text, re.M)
    if not m:
        raise LabError("no vrrp_script block in the keepalived sample")
    end = text.find("\n}", m.end())
    if end < 0:
        raise LabError("unterminated vrrp_script block in the keepalived sample")
    return m.end(), end


def set_vrrp_script(text, values):
    """TEXT with each directive of VALUES replaced or added in its
    vrrp_script block, or removed where the value is None."""
    start, end = _script_block(text)
    body = text[start:end]
    for key, value in values.items():
        pattern = rf"(?m)^([ \t]*){key}[ \t]+\S+[^\n]*$"
        if value is None:
            body = re.sub(rf"(?m)^[ \t]*{key}[ \t]+\S+[^\n]*\n?", "", body)
        elif re.search(pattern, body):
            body = re.sub(pattern, lambda m: f"{m.group(1)}{key} {value}", body)
        else:
            body = body.rstrip("\n") + f"\n    {key} {value}\n"
    return text[:start] + body + text[end:]


def vrrp_script_directives(text):
    """The timing directives of the vrrp_script block: {"interval": "1", ...}."""
    start, end = _script_block(text)
    found = {}
    for line in text[start:end].splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] in VRRP_SCRIPT_KEYS:
            found[parts[0]] = parts[1]
    return found


_PRIORITY = re.compile(r"(?m)^([ \t]*)priority[ \t]+(\d+)")


def set_unicast_peers(text, peers):
    """TEXT with its unicast_peer block listing PEERS."""
    m = re.search(r"(unicast_peer\s*\{)[^}]*(\})", text)
    if not m:
        raise LabError("no unicast_peer block in the keepalived sample")
    body = "".join(f"\n        {p}" for p in peers) + "\n    "
    return text[:m.end(1)] + body + text[m.start(2):]


_ADVERT_INT = re.compile(r"(?m)^([ \t]*)advert_int[ \t]+(\S+)")


def set_vrrp_timing(text, version=None, advert_int=None, down_timer_adverts=None):
    """TEXT with the vrrp_instance's advert_int replaced by ADVERT_INT and,
    for VERSION, a `version` line after it (keepalived 2.2.7 takes it per
    instance; the global default is VRRPv2); DOWN_TIMER_ADVERTS: the
    adverts missed before the master-down timer fires (keepalived's
    default 3, as the RFCs say; 2.2.7 takes 1 to 100)."""
    m = _ADVERT_INT.search(text)
    if m is None or len(_ADVERT_INT.findall(text)) != 1:
        raise LabError("the keepalived sample has no single advert_int line")
    indent, value = m.group(1), advert_int or m.group(2)
    # A sample that sets them already (the Sentinel sample's `version 3`)
    # gets each once, the lab's value in place of its own.
    if version is not None:
        text = _drop_instance_line(text, "version")
    if down_timer_adverts is not None:
        text = _drop_instance_line(text, "down_timer_adverts")
    m = _ADVERT_INT.search(text)
    line = f"{indent}advert_int {value}"
    if version is not None:
        line += f"\n{indent}version {version}"
    if down_timer_adverts is not None:
        line += f"\n{indent}down_timer_adverts {down_timer_adverts}"
    return text[:m.start()] + line + text[m.end():]


def _drop_instance_line(text, key):
    """TEXT without its `KEY N` lines (comments stay)."""
    return re.sub(rf"(?m)^[ \t]*{key}[ \t]+\d+[ \t]*\n", "", text)


def vrrp_timing_of(text):
    """{"version": "3", "advert_int": "0.1", "down_timer_adverts": "3"} as
    TEXT says (keepalived's defaults where it sets none: version 2 for
    IPv4, 3 adverts)."""
    m = _ADVERT_INT.search(text)
    v = re.search(r"(?m)^[ \t]*version[ \t]+(\d)", text)
    d = re.search(r"(?m)^[ \t]*down_timer_adverts[ \t]+(\d+)", text)
    return {"version": v.group(1) if v else "2", "advert_int": m.group(2) if m else None,
            "down_timer_adverts": d.group(1) if d else "3"}


def set_check_argument(text, argument, present):
    """TEXT with ARGUMENT on the vrrp_script's command line if PRESENT, else
    without it."""
    start, end = _script_block(text)
    m = re.search(r'(?m)^([ \t]*script[ \t]+")([^"]*)"', text[start:end])
    if m is None:
        raise LabError("no quoted script line in the sample's vrrp_script block")
    words = [w for w in m.group(2).split() if w != argument]
    if present:
        words.append(argument)
    return (text[:start + m.start(2)] + " ".join(words) + text[start + m.end(2):])


def set_priority(text, priority):
    text, n = _PRIORITY.subn(lambda m: f"{m.group(1)}priority {priority}", text)
    if n != 1:
        raise LabError(f"the keepalived sample has {n} priority lines, expected 1")
    return text


def priority_of(text):
    m = _PRIORITY.search(text)
    return int(m.group(2)) if m else None


def keepalived_conf(node, bindir, script_user_note=None, vrrp_script=None, priority=None,
                    timing=()):
    """keepalived/keepalived-node-<name>.conf for NODE of the pair, the
    hooks under BINDIR; the other arguments as for with_lab_options."""
    text = _sample(samples.render, f"keepalived-node-{node.name}.conf", [
        (samples.SAMPLE_BIN, os.path.join(bindir, "redis_")),
        (samples.SAMPLE_TOOLKIT_CONF, node.toolkit_conf),
        (samples.SAMPLE_TRACK_FILE, node.track_file),
        (samples.SAMPLE_MAINTENANCE_FILE, node.maintenance_file),
        (samples.SAMPLE_VIP, VIP),
        (samples.SAMPLE_A_IP, A_IP),
        (samples.SAMPLE_B_IP, B_IP),
        (samples.SAMPLE_IFACE, IFNAME)])
    return with_lab_options(text, script_user_note, vrrp_script, priority, timing)


def keepalived_sentinel_conf(node, bindir, peers, defer_to_watch, script_user_note=None,
                             vrrp_script=None, priority=None, timing=()):
    """keepalived/keepalived-sentinel-node.conf for NODE of a Sentinel
    topology, as an operator installs it on every data node: its own
    address as unicast_src_ip and router_id, PEERS (the other data nodes)
    in unicast_peer, the hooks under BINDIR. DEFER_TO_WATCH: whether
    redis_check keeps the sample's --defer-to-watch (not without the
    watcher, nor with a build that lacks it). The other arguments as for
    with_lab_options."""
    text = _sample(samples.render, SENTINEL_KEEPALIVED_SAMPLE, [
        (samples.SAMPLE_BIN, os.path.join(bindir, "redis_")),
        (SAMPLE_SENTINEL_TOOLKIT_CONF, node.toolkit_conf),
        (samples.SAMPLE_TRACK_FILE, node.track_file),
        (f"unicast_src_ip {samples.SAMPLE_A_IP}", f"unicast_src_ip {node.ip}"),
        ("router_id redis-sentinel-node-a", f"router_id redis-sentinel-node-{node.name}"),
        (samples.SAMPLE_VIP, VIP),
        (samples.SAMPLE_IFACE, IFNAME)])
    text = set_unicast_peers(text, peers)
    text = set_check_argument(text, DEFER_TO_WATCH, defer_to_watch)
    return with_lab_options(text, script_user_note, vrrp_script, priority, timing)


def with_lab_options(text, script_user_note, vrrp_script, priority, timing):
    """TEXT, a rendered sample, with the lab's options: SCRIPT_USER_NOTE:
    why the hooks run as root instead; VRRP_SCRIPT: directives of the
    vrrp_script block (set_vrrp_script); PRIORITY: the vrrp_instance's, None
    for the sample's; TIMING: (VRRP version, advert_int,
    down_timer_adverts), None for the sample's (see set_vrrp_timing)."""
    if script_user_note:
        old = f"script_user {SCRIPT_USER}"
        if old not in text:
            raise LabError(f"sample lacks {old!r}")
        text = text.replace(old, f"# lab: {script_user_note}\n    script_user root")
    if vrrp_script:
        text = set_vrrp_script(text, vrrp_script)
    if priority is not None:
        text = set_priority(text, priority)
    if any(x is not None for x in timing):
        text = set_vrrp_timing(text, *timing)
    return text


def sentinel_sample_timing():
    """(VRRP version, advert_int) of the Sentinel sample's vrrp_instance:
    what keepalived runs with in the Sentinel topologies unless the command
    line says otherwise."""
    timing = vrrp_timing_of(_sample(samples.render, SENTINEL_KEEPALIVED_SAMPLE, []))
    if timing["advert_int"] is None:
        raise LabError(f"keepalived/{SENTINEL_KEEPALIVED_SAMPLE} has no advert_int")
    return int(timing["version"]), timing["advert_int"]


# --------------------------------------------------------------------------
# toolkit.conf and redis.conf

def parse_toolkit_options(items):
    """["sync-timeout=5"] -> {"sync-timeout": "5"}. Raises ValueError."""
    out = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not re.fullmatch(r"[a-z][a-z-]*", key) or not value or "\n" in value:
            raise ValueError(f"--toolkit {item!r}: give KEY=VALUE, KEY a long option name "
                             "without dashes")
        out[key] = value
    return out


def toolkit_conf(node, options=None, drop_keys=()):
    """The sample toolkit.conf for NODE, with OPTIONS (key -> value) set: a
    key the sample has is replaced, any other appended; DROP_KEYS left out."""
    lines = _sample(samples.toolkit_conf, node.state_dir, node.toolkit_log,
                    node.password_file, node.copy_dir, node.maintenance_file).splitlines()
    options = dict(options or {})
    # redis_check needs the peer to tell a cut-off master (--witness); the
    # hooks get it from keepalived.conf's arguments, which win over this.
    if "witness" in options and "peer" not in options:
        other = "b" if node.name == "a" else "a"
        options["peer"] = f"{network.HOSTS[other][1]}:{REDIS_PORT}"
    return set_toolkit_options(lines, options, drop_keys)


def set_toolkit_options(lines, options, drop_keys=()):
    """The toolkit.conf of LINES with each key of OPTIONS replaced or
    appended and DROP_KEYS left out."""
    lines = [ln for ln in lines
             if ln.split("=")[0].strip() not in options and ln.split("=")[0].strip() not in drop_keys]
    lines += [f"{key} = {value}" for key, value in options.items()]
    return "\n".join(lines) + "\n"


def sentinel_toolkit_conf(node, sentinels, sentinel_password_file, options=None,
                          drop_keys=()):
    """keepalived/toolkit-sentinel.conf for NODE, as an operator installs it
    on every data node: SENTINELS ("HOST:PORT" each) in place of the
    sample's list, NODE's address as announce-host, the sentinels'
    password in SENTINEL_PASSWORD_FILE, NODE's paths; OPTIONS (key ->
    value) set and DROP_KEYS left out as for toolkit_conf."""
    text = _sample(samples.render, SENTINEL_TOOLKIT_SAMPLE, [
        (f"announce-host = {samples.SAMPLE_A_IP}", f"announce-host = {node.ip}"),
        (samples.SAMPLE_TRACK_FILE, node.track_file),
        (samples.SAMPLE_STATE_DIR, node.state_dir),
        (samples.SAMPLE_COPY_DIR, node.copy_dir),
        (samples.SAMPLE_LOG_FILE, node.toolkit_log),
        (SAMPLE_SENTINEL_PASSWORD_FILE, sentinel_password_file),
        (f"password-file = {samples.SAMPLE_PASSWORD_FILE}",
         f"password-file = {node.password_file}")])
    listed = re.compile(r"(?m)^sentinel[ \t]*=.*\n")
    first = listed.search(text)
    if first is None:
        raise LabError(f"keepalived/{SENTINEL_TOOLKIT_SAMPLE} lists no sentinel")
    ours = "".join(f"sentinel = {s}\n" for s in sentinels)
    text = text[:first.start()] + ours + listed.sub("", text[first.start():])
    return set_toolkit_options(text.splitlines(), dict(options or {}), drop_keys)


def sentinel_acl_users(password):
    """The `user` lines of keepalived/redis-sentinel-acl.conf (the toolkit's
    user on every sentinel, as shipped), with PASSWORD."""
    return _sample(samples.sentinel_acl_users, password)


def redis_conf(node, password, tls_lines=None, extra=()):
    """TLS_LINES: the TLS settings of a TLS-only node (port 0, tls-port ...)
    instead of the plain port. EXTRA: more lines (the Sentinel topologies'
    replica-announce-ip and replicaof)."""
    acl = _sample(samples.acl_users, password)
    return "\n".join([
        f"# redis.conf of lab node {node.name}; CONFIG REWRITE may change it",
        ] + (list(tls_lines) if tls_lines else [f"port {REDIS_PORT}"]) + [
        "bind 0.0.0.0",
        # Reachable only inside the lab's namespaces; the hooks use
        # the ACL user from keepalived/redis-acl.conf.
        "protected-mode no",
        "daemonize no",
        f"dir {node.data}",
        f"logfile {node.redis_log}",
        "appendonly yes",
        "appendfsync everysec",
        # AOF only: no background RDB saves competing with the syncs.
        'save ""',
        ] + acl + list(extra)) + "\n"
