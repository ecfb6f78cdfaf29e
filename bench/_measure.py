"""What every benchmark in bench/ measures the same way (imported as a sibling
module: each script runs as ``python bench/NAME.py``, its children too).

- :func:`proc_stat`: the fields of ``/proc/PID/stat`` after the command name;
  :data:`CLK_TCK` turns their CPU ticks into seconds.
- :func:`machine_busy`: CPU seconds the whole machine spent busy since boot,
  all cores (``/proc/stat``: everything but idle and iowait; steal — time the
  hypervisor gave other guests — included), to tell a quiet run from a
  disturbed one.
- :func:`percentile`: nearest-rank percentile of a sorted list, the one
  definition behind every p50/p90/p99 the scripts compute themselves (wrk
  reports its own).
- :func:`spawn`, :func:`reap`, :func:`reap_all`: child processes, each
  remembered until it is stopped.
- :func:`folded_stacks`: a py-spy raw profile, frames shortened.
- :func:`cpu_model`, :func:`memory_gib`, :func:`git_commit`: the machine and
  the checkout each script's report names.
- :func:`die_with_parent`: ``preexec_fn`` of every child process: SIGINT
  handled as usual even when the script itself was started with it ignored (a
  background job of a non-interactive shell; py-spy writes its profile on
  SIGINT), and SIGTERM (a clean stop) if the script dies without cleaning up
  (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import ctypes
import math
import os
import signal
import subprocess

CLK_TCK = os.sysconf("SC_CLK_TCK")
_PR_SET_PDEATHSIG = 1


def say(line: str = "") -> None:
    print(line, flush=True)


def die_with_parent() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


def proc_stat(pid) -> list[str] | None:
    """Fields 3… of /proc/PID/stat (state, ppid, …; utime is [11], stime [12]), or None if it is gone."""
    try:
        with open("/proc/%s/stat" % (pid,)) as f:
            return f.read().rpartition(")")[2].split()
    except OSError:
        return None


def machine_busy() -> float:
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:9]]
    return (sum(fields) - fields[3] - fields[4]) / CLK_TCK


def percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank: the smallest value with at least q % of the values at or below it."""
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100.0 * len(ordered)) - 1))]


# -- child processes -------------------------------------------------------------------------------

children: list[subprocess.Popen] = []  # every child still to stop


def spawn(args: list[str], **kw) -> subprocess.Popen:
    proc = subprocess.Popen(args, preexec_fn=die_with_parent, **kw)
    children.append(proc)
    return proc


def reap(proc: subprocess.Popen, sig: int, timeout: float) -> int | None:
    """Stop *proc* with *sig*, killing it after *timeout* seconds; its exit status."""
    if proc.poll() is None:
        try:
            proc.send_signal(sig)
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc in children:
        children.remove(proc)
    return proc.returncode


def reap_all(sig: int, timeout: float) -> None:
    for proc in list(children):
        reap(proc, sig, timeout)


# -- py-spy profiles -------------------------------------------------------------------------------

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + "/"


def short_frame(frame: str) -> str:
    """``name (path)`` with the path from site-packages, the stdlib or this repository on."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    for marker in ("site-packages/", "/lib/python3.11/", _REPO):
        if marker in where:
            where = where.split(marker, 1)[1]
    return "%s (%s)" % (name, where) if where else name


def folded_stacks(path: str):
    """(frames, samples) for each line of a py-spy ``--format raw`` file, outermost frame first."""
    with open(path) as f:
        for line in f:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if stack and count.isdigit():
                yield [short_frame(x) for x in stack.split(";")], int(count)


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo``; "?" when it says none."""
    try:
        with open("/proc/cpuinfo") as f:
            return next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "?")
    except OSError:
        return "?"


def memory_gib() -> float:
    return round(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30, 1)


def git_commit() -> str:
    """``git describe --always --dirty`` of the checkout the scripts are in; "?" without git."""
    try:
        return subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True,
                              cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip() or "?"
    except OSError:
        return "?"
