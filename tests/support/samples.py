"""The sample configs in keepalived/, rendered for a test or a benchmark.

The samples are rendered by replacing exactly their placeholders (the
documentation addresses, paths and password below); a sample that lacks one
raises SampleError, so the samples stay usable as they are shipped.
"""
import os

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SAMPLES = os.path.join(REPO, "keepalived")

# The placeholders of the samples.
SAMPLE_A_IP, SAMPLE_B_IP, SAMPLE_VIP = "192.0.2.11", "192.0.2.12", "192.0.2.100"
SAMPLE_IFACE = "eth0"
SAMPLE_BIN = "/usr/bin/redis_"
SAMPLE_TOOLKIT_CONF = "/etc/redis-keepalived/toolkit.conf"
SAMPLE_STATE_DIR = "/run/redis-keepalived"
SAMPLE_COPY_DIR = "/var/lib/redis-keepalived/copies"
SAMPLE_TRACK_FILE = "/run/redis-keepalived/redis_watch.track"
SAMPLE_MAINTENANCE_FILE = "/var/lib/redis-keepalived/maintenance"
SAMPLE_LOG_FILE = "/var/log/redis-keepalived.log"
SAMPLE_PASSWORD_FILE = "/etc/redis-keepalived/password"
SAMPLE_PASSWORD = "CHANGE-ME"
SCRIPT_USER = "keepalived_script"


class SampleError(ValueError):
    """A sample lacks a placeholder it is rendered with."""


def render(sample, pairs):
    """keepalived/SAMPLE with every (old, new) of PAIRS replaced."""
    path = os.path.join(SAMPLES, sample)
    with open(path) as f:
        text = f.read()
    for old, new in pairs:
        if old not in text:
            raise SampleError(f"{path}: placeholder {old!r} not found")
        text = text.replace(old, new)
    return text


def toolkit_conf(state_dir, log_file, password_file, copy_dir, maintenance_file):
    """keepalived/toolkit.conf with its state dir, log file, password file,
    copy dir and maintenance file."""
    return render("toolkit.conf", [(SAMPLE_STATE_DIR, state_dir),
                                   (SAMPLE_LOG_FILE, log_file),
                                   (SAMPLE_PASSWORD_FILE, password_file),
                                   (f"copy-dir = {SAMPLE_COPY_DIR}", f"copy-dir = {copy_dir}"),
                                   (f"maintenance-file = {SAMPLE_MAINTENANCE_FILE}",
                                    f"maintenance-file = {maintenance_file}")])


def acl_users(password):
    """The `user` lines of keepalived/redis-acl.conf, with PASSWORD."""
    return [line for line in render("redis-acl.conf", [(SAMPLE_PASSWORD, password)]).splitlines()
            if line.startswith("user ")]


def sentinel_acl_users(password):
    """The `user` lines of keepalived/redis-sentinel-acl.conf (the toolkit's
    user on every sentinel, as shipped), with PASSWORD."""
    text = render("redis-sentinel-acl.conf", [(SAMPLE_PASSWORD, password)])
    users = [line for line in text.splitlines() if line.startswith("user ")]
    if not users:
        raise SampleError("keepalived/redis-sentinel-acl.conf has no user line")
    return users


def acl_user_line():
    """The `user keepalived ...` line of keepalived/redis-acl.conf, as shipped."""
    [line] = [line for line in render("redis-acl.conf", []).splitlines()
              if line.startswith("user keepalived ")]
    return line


def acl_permissions():
    """The permissions ("+ping", ...) of the sample's `user keepalived` line."""
    return [word for word in acl_user_line().split() if word.startswith("+")]


def acl_explanations():
    """What each permission of keepalived/redis-acl.conf is for, as its
    comment says: [(permissions, explanation)], e.g. ("+ping", "redis_check
    and redis_watch: the health check itself"), whitespace collapsed."""
    entries = []
    for line in render("redis-acl.conf", []).splitlines():
        if not line.startswith("#   "):
            continue
        text = line[1:].strip()
        if text.startswith("+"):
            words = text.split()
            grants = [w for w in words if w.startswith("+")]
            entries.append([" ".join(grants), " ".join(words[len(grants):])])
        elif entries and line.startswith("#" + " " * 20):
            entries[-1][1] = (entries[-1][1] + " " + text).strip()
    return [tuple(entry) for entry in entries]


def acl_replication(password):
    """The replication user's lines the sample's closing comment gives (its
    `user replicator ...`, `masteruser`, `masterauth`), with PASSWORD."""
    text = render("redis-acl.conf", [("CHANGE-ME-TOO", password)])
    return [line[1:].strip() for line in text.splitlines()
            if line.startswith("#   ") and line[1:].strip().split()[0] in
            ("user", "masteruser", "masterauth")]
