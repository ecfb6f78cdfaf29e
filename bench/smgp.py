"""SMGP client throughput: messages/s from ``kandian.sms.client.SmgpClient`` to
the shipped fake ISMG (issue 13: window 16).

The fake ISMG runs in a child process (``python -m kandian.sim.smgp`` on
loopback, answering every Submit at once and sending each status report
``--report-delay`` seconds later); the client runs in this process on the
real reactor with ``[sms] window`` = ``--window`` and ``rate`` = ``--rate``
(default: no practical limit, so the window and the machine set the pace).
``--inflight`` submits are kept outstanding (each completion submits the next
message), so the client's queue stays short and every message's latency
(``submit()`` to its MsgIDs) means something.  One run measures:

1. messages/s from the first submit to the last Submit_Resp;
2. CPU seconds of this process (the client) and of the fake per message;
3. submit → MsgIDs latency p50/p99;
4. status reports received and acknowledged before the end.

    python bench/smgp.py [--messages 20000] [--window 16] [--rate 0] [--inflight 64]
        [--text-units 60] [--report-delay 1]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import _measure  # noqa: E402
from _measure import say  # noqa: E402

ACCOUNT, SECRET = "bench001", "bench-secret"


def cpu_seconds(pid) -> float:
    fields = _measure.proc_stat(pid)
    return (int(fields[11]) + int(fields[12])) / _measure.CLK_TCK if fields else float("nan")


def start_ismg(args) -> tuple[subprocess.Popen, int]:
    proc = _measure.spawn([sys.executable, "-m", "kandian.sim.smgp", "--listen", "tcp:0:interface=127.0.0.1",
                           "--account", "%s:%s" % (ACCOUNT, SECRET), "--window", str(args.window),
                           "--report-delay", str(args.report_delay)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:
        match = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        if match:
            return proc, int(match.group(1))
    raise SystemExit("the fake ISMG did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--window", type=int, default=16)
    parser.add_argument("--rate", type=float, default=0, help="Submits/s (0: no practical limit)")
    parser.add_argument("--inflight", type=int, default=64, help="messages submitted and not yet answered")
    parser.add_argument("--text-units", type=int, default=60, help="UCS2 units per message (70: one SMS)")
    parser.add_argument("--report-delay", type=float, default=1.0)
    args = parser.parse_args()

    from twisted.internet import defer, reactor, task

    from kandian.sms.client import SmgpClient

    say("machine: %s, %d cores, %.1f GiB; commit %s" % (_measure.cpu_model(), os.cpu_count(),
                                                         _measure.memory_gib(), _measure.git_commit()))
    ismg, port = start_ismg(args)
    text = ("摄像头告警" * args.text_units)[: args.text_units]
    reports: list[str] = []
    client = SmgpClient(reactor, reactor, "tcp:127.0.0.1:%d" % port, account=ACCOUNT, password=SECRET,
                        sp_number="106590001", service_id="BENCH", window=args.window,
                        rate=args.rate or 10**9, on_report=lambda msg_id, stat, err: reports.append(stat))

    @defer.inlineCallbacks
    def run(reactor):
        client.startService()
        while not client.connected:
            yield task.deferLater(reactor, 0.01, lambda: None)
        latencies: list[float] = []
        failures: list[str] = []
        done = defer.Deferred()
        state = {"next": 0, "finished": 0}

        def one() -> None:
            i = state["next"]
            state["next"] += 1
            started = time.perf_counter()
            d = client.submit("1380000%04d" % (i % 10000), text)
            d.addCallbacks(lambda ids: latencies.append(time.perf_counter() - started),
                           lambda f: failures.append(f.getErrorMessage()))
            d.addBoth(finished)

        def finished(_) -> None:
            state["finished"] += 1
            if state["next"] < args.messages:
                one()
            elif state["finished"] == args.messages:
                done.callback(None)

        cpu0, ismg0, t0 = cpu_seconds("self"), cpu_seconds(ismg.pid), time.perf_counter()
        for _ in range(min(args.inflight, args.messages)):
            one()
        yield done
        elapsed = time.perf_counter() - t0
        cpu, ismg_cpu = cpu_seconds("self") - cpu0, cpu_seconds(ismg.pid) - ismg0
        latencies.sort()
        n = len(latencies)
        say("messages: %d sent, %d failed%s" % (n, len(failures), (": " + failures[0]) if failures else ""))
        say("window %d, rate %s, %d in flight, %d UCS2 units a message"
            % (args.window, args.rate or "unlimited", args.inflight, args.text_units))
        say("throughput: %.0f messages/s (%.2f s)" % (n / elapsed, elapsed))
        say("client CPU: %.1f µs/message (%.2f s); fake ISMG CPU: %.1f µs/message"
            % (cpu / max(n, 1) * 1e6, cpu, ismg_cpu / max(n, 1) * 1e6))
        say("submit -> MsgIDs latency: p50 %.1f ms, p99 %.1f ms"
            % (_measure.percentile(latencies, 50) * 1e3, _measure.percentile(latencies, 99) * 1e3))
        deadline = time.monotonic() + args.report_delay + 10
        while len(reports) < n and time.monotonic() < deadline:
            yield task.deferLater(reactor, 0.05, lambda: None)
        say("status reports: %d received (%s)" % (len(reports), dict(client.stats.reports)))
        yield client.stopService()

    try:
        task.react(run)
    finally:
        _measure.reap_all(15, 5)


if __name__ == "__main__":
    main()
