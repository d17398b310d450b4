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
    line = f"{indent}advert_int {value}"
    if version is not None:
        line += f"\n{indent}version {version}"
    if down_timer_adverts is not None:
        line += f"\n{indent}down_timer_adverts {down_timer_adverts}"
    return text[:m.start()] + line + text[m.end():]


def vrrp_timing_of(text):
    """{"version": "3", "advert_int": "0.1", "down_timer_adverts": "3"} as
    TEXT says (keepalived's defaults where it sets none: version 2 for
    IPv4, 3 adverts)."""
    m = _ADVERT_INT.search(text)
    v = re.search(r"(?m)^[ \t]*version[ \t]+(\d)", text)
    d = re.search(r"(?m)^[ \t]*down_timer_adverts[ \t]+(\d+)", text)
    return {"version": v.group(1) if v else "2", "advert_int": m.group(2) if m else None,
            "down_timer_adverts": d.group(1) if d else "3"}


def add_check_arguments(text, arguments):
    """TEXT with ARGUMENTS appended to the vrrp_script's command line."""
    start, end = _script_block(text)
    body, n = re.subn(r'(?m)^([ \t]*script[ \t]+"[^"]*)"',
                      lambda m: f'{m.group(1)} {" ".join(arguments)}"', text[start:end], count=1)
    if n != 1:
        raise LabError("no quoted script line in the sample's vrrp_script block")
    return text[:start] + body + text[end:]


def set_priority(text, priority):
    text, n = _PRIORITY.subn(lambda m: f"{m.group(1)}priority {priority}", text)
    if n != 1:
        raise LabError(f"the keepalived sample has {n} priority lines, expected 1")
    return text


def priority_of(text):
    m = _PRIORITY.search(text)
    return int(m.group(2)) if m else None


def keepalived_conf(node, bindir, script_user_note=None, vrrp_script=None, priority=None,
                    peers=None, timing=(), check_args=()):
    """keepalived/keepalived-node-<name>.conf for NODE, the hooks under
    BINDIR; SCRIPT_USER_NOTE: why the hooks run as root instead. PEERS: the
    addresses of every other node (more than one data node beside it, in
    the Sentinel topologies); a node other than a or b is rendered from
    node b's sample with its own address. TIMING: (VRRP version,
    advert_int, down_timer_adverts), None for the samples' (see
    set_vrrp_timing); CHECK_ARGS: more arguments for redis_check."""
    own_b = node.ip if node.name != "a" else B_IP
    sample = f"keepalived-node-{node.name if node.name in ('a', 'b') else 'b'}.conf"
    text = _sample(samples.render, sample, [
        (samples.SAMPLE_BIN, os.path.join(bindir, "redis_")),
        (samples.SAMPLE_TOOLKIT_CONF, node.toolkit_conf),
        (samples.SAMPLE_TRACK_FILE, node.track_file),
        (samples.SAMPLE_MAINTENANCE_FILE, node.maintenance_file),
        (samples.SAMPLE_VIP, VIP),
        (samples.SAMPLE_A_IP, A_IP),
        (samples.SAMPLE_B_IP, own_b),
        (samples.SAMPLE_IFACE, IFNAME)])
    if peers:
        text = set_unicast_peers(text, peers)
        text = text.replace("router_id redis-node-b", f"router_id redis-node-{node.name}")
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
    if check_args:
        text = add_check_arguments(text, check_args)
    return text


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


def toolkit_conf(node, options=None, drop_keys=(), extra_lines=()):
    """The sample toolkit.conf for NODE, with OPTIONS (key -> value) set: a
    key the sample has is replaced, any other appended; DROP_KEYS left out;
    EXTRA_LINES appended (keys given more than once, as `sentinel`)."""
    lines = _sample(samples.toolkit_conf, node.state_dir, node.toolkit_log,
                    node.password_file, node.copy_dir, node.maintenance_file).splitlines()
    options = dict(options or {})
    # redis_check needs the peer to tell a cut-off master (--witness); the
    # hooks get it from keepalived.conf's arguments, which win over this.
    if "witness" in options and "peer" not in options:
        other = "b" if node.name == "a" else "a"
        options["peer"] = f"{network.HOSTS[other][1]}:{REDIS_PORT}"
    lines = [ln for ln in lines
             if ln.split("=")[0].strip() not in options and ln.split("=")[0].strip() not in drop_keys]
    lines += [f"{key} = {value}" for key, value in options.items()]
    lines += list(extra_lines)
    return "\n".join(lines) + "\n"


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
