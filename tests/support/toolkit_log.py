"""Lines of the toolkit's log file.

Every line starts with an ISO-8601 UTC time with milliseconds, the tool and
its pid: "2026-11-25T12:00:00.123Z redis_master[1234] redis: promoted ...".
"""
import calendar
import re
import time

_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z")
_LINE = re.compile(r"^\S+ (\w+)\[\d+\] \S+: (.*)")


def line_time(line):
    """Unix time of a toolkit log line, or None when it has no time stamp."""
    m = _TIME.match(line.strip())
    if not m:
        return None
    return calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")) \
        + float(m.group(2) or 0)


def line_tool(line):
    """The tool that wrote a toolkit log line ("redis_master"), or None."""
    m = _LINE.match(line.strip())
    return m.group(1) if m else None


def short_line(line):
    """"<time> redis_master[1234] redis: <message>" as "redis_master: <message>"."""
    m = _LINE.match(line.strip())
    return f"{m.group(1)}: {m.group(2)}" if m else line.strip()
