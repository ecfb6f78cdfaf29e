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
- Reproducibility (docs/benchmarks.md, issue 19): :func:`machine_state` (load
  average, the CPU other processes used over a sample, the top ones, and
  :func:`cpu_speed`: how long a fixed loop of pure Python took) printed
  by :func:`say_state` before and after the runs; :func:`spread` (median,
  min, max, spread as a share of the median) of repeated runs; and
  :func:`headline`, which prints a headline figure only from an undisturbed
  set of runs and says "disturbed" otherwise.  :data:`QUIET_CORES` is the
  line between quiet and disturbed, the same for every script.
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
import statistics
import subprocess
import time

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
    """``git describe --always --dirty`` of the checkout the scripts are in, as it was when the script started
    (a commit made during a long run is not the code that ran); "?" without git."""
    return _STARTED_AT


def _describe() -> str:
    try:
        return subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True,
                              cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip() or "?"
    except OSError:
        return "?"


_STARTED_AT = _describe()


# -- reproducibility: the machine's state, spreads, headlines --------------------------------------------

QUIET_CORES = 0.15  # other processes using less CPU than this (in cores) is a quiet machine


def loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def process_cpu() -> dict[int, tuple[str, float]]:
    """Every process's (command name, CPU seconds: utime + stime) from /proc."""
    out = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open("/proc/%s/stat" % name) as f:
                    text = f.read()
            except OSError:
                continue
            comm = text[text.find("(") + 1: text.rfind(")")]
            fields = text.rpartition(")")[2].split()
            out[int(name)] = (comm, (int(fields[11]) + int(fields[12])) / CLK_TCK)
    return out


def family(root: int | None = None) -> set[int]:
    """*root* (this process by default) and all its descendants."""
    root = os.getpid() if root is None else root
    parents: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            fields = proc_stat(name)
            if fields is not None:
                parents.setdefault(int(fields[1]), []).append(int(name))
    out, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid not in out:
            out.add(pid)
            todo.extend(parents.get(pid, ()))
    return out


def machine_state(sample: float = 2.0, ours: set[int] | None = None) -> dict:
    """The load average, and the cores processes other than *ours* (this script's family by default)
    used over *sample* seconds, with the top five."""
    before, busy0, t0 = process_cpu(), machine_busy(), time.monotonic()
    time.sleep(sample)
    after, busy1, t1 = process_cpu(), machine_busy(), time.monotonic()
    mine = family() if ours is None else ours
    wall = t1 - t0
    used = sum(after[p][1] - before[p][1] for p in mine if p in before and p in after)
    top = sorted(((after[p][0], (after[p][1] - before[p][1]) / wall) for p in after
                  if p in before and p not in mine), key=lambda x: -x[1])[:5]
    return {"loadavg": loadavg(), "others": max(0.0, (busy1 - busy0 - used) / wall),
            "top": [(name, round(cores, 2)) for name, cores in top if cores >= 0.01],
            "cores": os.cpu_count(), "speed_ms": cpu_speed()}


def cpu_speed(repeat: int = 5) -> float:
    """Milliseconds of thread CPU time a fixed piece of pure Python takes (median of *repeat*): this VM's
    speed moves by some 15 % from minute to minute with nothing else running here, and every absolute
    figure (a p99, CPU per request) moves with it; ratios to a baseline in the same run mostly do not."""
    times = []
    for _ in range(repeat):
        t0 = time.thread_time()
        d: dict = {}
        for i in range(200_000):
            d[i & 1023] = i * 3 + len(d)
        times.append((time.thread_time() - t0) * 1000)
    return round(statistics.median(times), 1)


def describe_state(state: dict) -> str:
    top = ", ".join("%s %.2f" % t for t in state["top"])
    return "load average %s; other processes used %.2f cores%s; a fixed Python loop took %.1f ms -> %s" % (
        state["loadavg"], state["others"], " (%s)" % top if top else "", state.get("speed_ms", float("nan")),
        "quiet" if state["others"] < QUIET_CORES else "DISTURBED")


def say_state(when: str, sample: float = 2.0, ours: set[int] | None = None) -> dict:
    state = machine_state(sample, ours)
    say("machine state %s: %s" % (when, describe_state(state)))
    return state


def spread(values: list[float]) -> dict:
    """Median, min, max and (max - min) / median of repeated runs."""
    values = [float(v) for v in values]
    if not values:
        return {"n": 0, "median": float("nan"), "min": float("nan"), "max": float("nan"), "spread": float("nan")}
    median = statistics.median(values)
    return {"n": len(values), "median": median, "min": min(values), "max": max(values),
            "spread": (max(values) - min(values)) / median if median else float("nan")}


def describe_spread(s: dict, fmt: str = "%.1f", unit: str = "") -> str:
    return ("median %s%s (%d runs, %s-%s, spread %.0f %%)" % (
        fmt % s["median"], unit, s["n"], fmt % s["min"], fmt % s["max"], 100 * s["spread"]))


def headline(label: str, text: str, disturbed: list[str]) -> str:
    """*label*: *text* -- or, when anything in *disturbed* says why the runs were not quiet, no figure:
    "disturbed" and why.  A headline figure comes only from a quiet machine."""
    if disturbed:
        line = "%s: disturbed (%s): no headline figure from this run" % (label, "; ".join(disturbed))
    else:
        line = "%s: %s" % (label, text)
    say("HEADLINE " + line)
    return line
