"""Output, short commands, the lab's exceptions and exit codes."""
import subprocess
import sys
import time

EXIT_PASS, EXIT_FAIL, EXIT_SKIP = 0, 1, 77


class Skip(Exception):
    """A prerequisite is missing: the lab cannot run here."""


class LabError(Exception):
    """The lab could not be built or driven (a lab problem, not a verdict)."""


class Failed(Exception):
    """The scenario ran and its pass criteria do not hold. FIGURES: what it
    measured before it failed, still reported (a baseline build is measured
    against criteria it may not meet)."""

    def __init__(self, message, figures=None):
        super().__init__(message)
        self.figures = figures or {}


class Interrupted(BaseException):
    """SIGINT/SIGTERM/SIGHUP or the hard timeout: tear down and leave."""


T0 = time.time()


def rel(t=None):
    return (t if t is not None else time.time()) - T0


def emit(text, stream=None):
    """Print, but never let a closed stdout/stderr (a pipe into `head`, a
    terminal gone away) stop the lab before it has torn itself down."""
    stream = stream or sys.stdout
    try:
        print(text, file=stream)
    except (OSError, ValueError):
        pass


def say(msg):
    emit(f"[{rel():7.2f}s] {msg}", sys.stderr)


def run(cmd, check=True, timeout=30, **kw):
    """Run a short command; raise LabError with its stderr when it fails."""
    try:
        res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, timeout=timeout, **kw)
    except subprocess.TimeoutExpired:
        raise LabError(f"timed out: {' '.join(cmd)}")
    if check and res.returncode != 0:
        raise LabError(f"{' '.join(cmd)} failed ({res.returncode}): {res.stderr.strip()}")
    return res
