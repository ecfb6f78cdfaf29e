"""Start-up time of ``twistd kandian`` on the embedded default (PRODUCT.md: < 5 s).

Spawns the real daemon (as ``make run`` does, with ports on tcp:0) and times
from spawn to the "kandian ready" log line, on a fresh data_dir (initdb
included) and on an existing one, and the time from SIGINT to exit with the
embedded PostgreSQL stopped.  Baseline in the same run: a bare
``twistd -n web`` to its "Site starting" line — the cost of Python, Twisted
and twistd alone.

    python bench/startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from _measure import die_with_parent  # bench/_measure.py, beside this script

BIN = os.path.dirname(sys.executable)
LISTENERS = ("device", "register", "mcu", "rtsp", "admin", "ftp")


def timed_start(args: list[str], marker: bytes, timeout: float = 60.0):
    start = time.monotonic()
    # SIGINT as usual even when this script runs with it ignored (a background job), so timed_stop stops it
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
    output = b""
    while marker not in output:
        if time.monotonic() - start > timeout or proc.poll() is not None:
            proc.kill()
            raise RuntimeError("no %r in output:\n%s" % (marker, output.decode(errors="replace")))
        ready, _, _ = select.select([proc.stdout], [], [], 0.5)
        if ready:
            output += os.read(proc.stdout.fileno(), 65536)
    return proc, time.monotonic() - start


def timed_stop(proc) -> float:
    # twistd logs its listening ports before the reactor runs and installs its SIGINT handler: a SIGINT
    # in between is lost (make bench once waited here for a minute), so let the reactor start first
    time.sleep(0.5)
    start = time.monotonic()
    proc.send_signal(signal.SIGINT)
    for _ in range(12):
        try:
            proc.communicate(timeout=5)
            return time.monotonic() - start
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGINT)
    proc.kill()
    proc.communicate()
    raise RuntimeError("%s did not stop within 60 s of SIGINT" % (proc.args[0],))


def kandian_config(directory: str) -> str:
    path = os.path.join(directory, "kandian.ini")
    with open(path, "w") as f:
        f.write("[platform]\ndata_dir = %s\n" % os.path.join(directory, "var"))
        for name in LISTENERS:
            f.write("[%s]\nlisten = tcp:0:interface=127.0.0.1\n" % name)
    return path


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    twistd = os.path.join(BIN, "twistd")
    directory = tempfile.mkdtemp(prefix="kandian-bench-startup-")
    os.chmod(directory, 0o755)
    results = {"baseline": [], "cold": [], "warm": [], "stop": []}
    try:
        for _ in range(args.runs):
            proc, seconds = timed_start([twistd, "-n", "--pidfile=", "web", "--listen", "tcp:0", "--path", directory],
                                        b"Site starting on")
            results["baseline"].append(seconds)
            timed_stop(proc)
            shutil.rmtree(os.path.join(directory, "var"), ignore_errors=True)
            config = kandian_config(directory)
            for kind in ("cold", "warm"):
                proc, seconds = timed_start([twistd, "-n", "--pidfile=", "kandian", "--config", config],
                                            b"kandian ready")
                results[kind].append(seconds)
                results["stop"].append(timed_stop(proc))
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    print("start-up, median of %d runs (min-max), seconds:" % args.runs)
    labels = {"baseline": "bare twistd web (baseline)", "cold": "kandian, fresh data_dir (initdb)",
              "warm": "kandian, existing data_dir", "stop": "kandian, SIGINT to exit"}
    for kind, values in results.items():
        print("  %-34s %.2f  (%.2f-%.2f)" % (labels[kind], statistics.median(values), min(values), max(values)))
    return results


if __name__ == "__main__":
    main()
