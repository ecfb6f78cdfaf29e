"""A firmware campaign at scale (issue 12 "Benchmark", campaign part): 2,000
simulated cameras download a 4 MB image over the platform's FTP server in
batches of 200, verify it, reboot and log in with the new DevVer.

The platform is the real ``KandianService`` in this process, built as
``twistd kandian`` builds it (``tune_gc=True``; real PostgreSQL: the embedded
default under a temporary data_dir, or ``--dsn``; every listener on
``tcp:0:interface=127.0.0.1``; ``[firmware] poll_interval = 1``).  The
devices are provisioned by one SQL statement, the image catalogued through
the core (``core.firmware.add``, as ``kandianctl firmware add`` does), the
cameras are the shipped simulator in a child process (``python -m
kandian.sim --link … --ftp --firmware-digest V=SHA256``), and the campaign
is started through the core as ``kandianctl upgrade start`` writes it.

Measured, from the campaign's start to its ``finished`` state:
wall time; the devices done and failed; the image bytes the FTP server sent
(N x image) and their rate; the platform process's CPU seconds (user +
system, ``getrusage``) and its share of the wall time; its RSS before the
campaign, its peak during it (sampled every 0.25 s) and after; the
simulator's CPU seconds (the machine's cores are shared).

    python bench/ftp_campaign.py [--devices 2000] [--batch 200] [--image-mb 4] [--dsn DSN]

A quick check that it runs: ``--devices 40 --batch 10 --image-mb 1``.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from twisted.internet import defer, task
from twisted.logger import (
    FilteringLogObserver,
    LogLevel,
    LogLevelFilterPredicate,
    globalLogBeginner,
    textFileLogObserver,
)

# bench/_measure.py, beside this script
from _measure import CLK_TCK, cpu_model, git_commit, memory_gib, proc_stat, reap_all, say, spawn

LISTENERS = ("device", "register", "mcu", "rtsp", "admin", "ftp", "portal")
FIRST_DEVID = 81190000000
OLD, NEW = "V1.5_20131210", "V1.6_20240101"
MODEL = "BENCH-C1"


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--image-mb", type=float, default=4.0)
    parser.add_argument("--connect-rate", type=float, default=1000.0)
    parser.add_argument("--dsn", default="", help="PostgreSQL to use (default: an embedded one, thrown away)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="give up after this many seconds")
    return parser.parse_args(argv)


def rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child_cpu(pid: int) -> float:
    fields = proc_stat(pid)
    return 0.0 if fields is None else (int(fields[11]) + int(fields[12])) / CLK_TCK


def provision_sql(n: int) -> str:
    return (
        "INSERT INTO device (dev_id, dev_key, dev_type, manufacturer_no, model)"
        f" SELECT ({FIRST_DEVID} + i)::text, 'key-' || ({FIRST_DEVID} + i)::text, 1, '811', '{MODEL}'"
        f" FROM generate_series(0, {n - 1}) i"
        " ON CONFLICT (dev_id) DO UPDATE SET dev_key = EXCLUDED.dev_key, model = EXCLUDED.model, dev_ver = NULL;"
        " INSERT INTO channel (dev_id, channel_no)"
        f" SELECT ({FIRST_DEVID} + i)::text, 0 FROM generate_series(0, {n - 1}) i ON CONFLICT DO NOTHING")


def sleep(reactor, seconds):
    return task.deferLater(reactor, seconds, lambda: None)


@defer.inlineCallbacks
def run(reactor, args):
    from kandian import config
    from kandian.service import KandianService

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    directory = tempfile.mkdtemp(prefix="kandian-bench-campaign-")
    log = open(os.path.join(directory, "kandian.log"), "w")
    globalLogBeginner.beginLoggingTo([FilteringLogObserver(textFileLogObserver(log),
                                                           [LogLevelFilterPredicate(LogLevel.warn)])],
                                     redirectStandardIO=False)
    text = "[platform]\ndata_dir = %s\n[database]\ndsn = %s\n" % (os.path.join(directory, "var"), args.dsn)
    for name in LISTENERS:
        text += "[%s]\nlisten = tcp:0:interface=127.0.0.1\n" % (name,)
        text += "max_connections_per_address = 0\n" if name in ("device", "ftp") else ""
        text += "max_connections = %d\n" % (args.batch * 2 + 64) if name == "ftp" else ""
    text += "[files]\nroot = %s\n[firmware]\npoll_interval = 1\n" % (os.path.join(directory, "files"),)
    path = os.path.join(directory, "kandian.ini")
    with open(path, "w") as f:
        f.write(text)
    svc = KandianService(config.parse(text, path, reactor), reactor, tune_gc=True)
    svc.startService()
    reactor.addSystemEventTrigger("before", "shutdown", lambda: svc.stopService() if svc.running else None)
    try:
        yield svc.ready
        core, db = svc.platform.core, svc.platform.db
        yield db.runOperation(provision_sql(args.devices))
        image = os.path.join(directory, "bench-c1.bin")
        size = int(args.image_mb * (1 << 20))
        with open(image, "wb") as f:
            f.write(os.urandom(size))
        firmware = yield core.firmware.add(image, "811", MODEL, NEW)
        say("platform ready: %d devices, firmware %d (%d bytes, sha256 %s)"
            % (args.devices, firmware.firmware_id, size, firmware.sha256))

        sim_log = open(os.path.join(directory, "sim.log"), "w")
        fleet = spawn([sys.executable, "-m", "kandian.sim", "--link", "127.0.0.1:%d" % svc.listeners[
            "device"].port.getHost().port, "--count", str(args.devices), "--first-devid", str(FIRST_DEVID),
            "--key-pattern", "key-{devid}", "--model", MODEL, "--dev-ver", OLD, "--ftp",
            "--firmware-digest", "%s=%s" % (NEW, firmware.sha256), "--connect-rate", str(args.connect_rate),
            "--reconnect-delay", "1", "--status-every", "3600"], stdout=sim_log, stderr=subprocess.STDOUT)
        t = time.monotonic()
        while len(svc.platform.links) < args.devices:
            if fleet.poll() is not None:
                raise SystemExit("the simulator exited (%s)" % fleet.returncode)
            yield sleep(reactor, 0.2)
        say("fleet: %d cameras online in %.1f s" % (args.devices, time.monotonic() - t))
        yield sleep(reactor, 2.0)  # their login writes done

        rss_before, cpu_before, sim_before = rss_kib(), self_cpu(), child_cpu(fleet.pid)
        t0 = time.monotonic()
        started = yield core.upgrades.start(firmware.firmware_id, batch=args.batch, max_failures=args.devices)
        peak = rss_before
        campaign = None
        while time.monotonic() - t0 < args.timeout:
            peak = max(peak, rss_kib())
            campaign = yield svc.platform.store.upgrades.campaign(started.campaign_id)
            if campaign.state == "finished":
                break
            yield sleep(reactor, 0.25)
        wall = time.monotonic() - t0
        cpu, sim_cpu = self_cpu() - cpu_before, child_cpu(fleet.pid) - sim_before
        tally = yield svc.platform.store.upgrades.tally(started.campaign_id)
        yield sleep(reactor, 1.0)
        rss_after = rss_kib()

        say("")
        say("== firmware campaign: %d cameras, %.1f MB image, batches of %d" % (args.devices, size / 2**20,
                                                                               args.batch))
        say("machine: %s, %d cores, %.1f GiB; commit %s" % (cpu_model(), os.cpu_count(), memory_gib(), git_commit()))
        say("campaign %s after %.1f s: done %d, failed %d, still pending %d / in flight %d"
            % (campaign.state if campaign else "?", wall, tally.done, tally.failed, tally.pending, tally.in_flight))
        say("image bytes served: %.1f MB, %.1f MB/s, %.1f upgrades/s"
            % (tally.done * size / 1e6, tally.done * size / 1e6 / wall, tally.done / wall))
        say("platform CPU: %.1f s (%.0f %% of one core over the campaign); simulator CPU: %.1f s"
            % (cpu, 100 * cpu / wall, sim_cpu))
        say("platform RSS: %.0f MiB before, %.0f MiB peak, %.0f MiB after"
            % (rss_before / 1024, peak / 1024, rss_after / 1024))
        say("logs: %s" % (directory,))
    finally:
        reap_all(signal.SIGTERM, 5.0)
        if svc.running:
            yield svc.stopService()
    for name in ("files", "var"):  # the logs stay
        shutil.rmtree(os.path.join(directory, name), ignore_errors=True)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    task.react(lambda reactor: run(reactor, args))


if __name__ == "__main__":
    main()
