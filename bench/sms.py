"""SMS through the durable outbox (issue 13; targets: >= 1,000 messages/s drained
to the gateway with a window of 16; alarm -> SMS submitted p99 < 200 ms at 200
alarms/s).

Three processes:

* the platform, in this process: the real ``KandianService`` as ``twistd
  kandian`` builds it (``tune_gc=True``), real PostgreSQL (the embedded default
  under a temporary ``data_dir``, or ``--dsn``), every listener on
  ``tcp:0:interface=127.0.0.1``, ``[sms] gateway`` the fake ISMG,
  ``window = --window``, ``rate = --rate`` (default: no limit worth the
  name, so the window is what paces the link), everything else the
  defaults (``alarm_sms_interval = 300``: the production path, where each
  alarm SMS takes the device's lock and checks the interval);
* the gateway: the shipped fake ISMG (``python -m kandian.sim.smgp``), window
  ``--window``, status reports ``--report-delay`` seconds after each Submit;
* the cameras (this script as ``--cameras-child``): ``--devices`` simulated
  devices (:mod:`kandian.sim`; default ``--alarm-rate`` x ``--alarm-seconds``),
  logged in, each owned by its own user, then ALARM_NOTIFY_REQ at
  ``--alarm-rate`` a second for ``--alarm-seconds``, round robin over the
  devices (then their channels and alarm types), so that every alarm is
  stored (§7.5.34's 60 s de-duplication) and sends an SMS
  (``alarm_sms_interval``).

1. Drain: ``--messages`` messages committed to ``sms_outbox`` by one INSERT
   (as ``kandianctl`` or another node would), the sender woken; timed from
   the commit until the database shows every one ``submitted`` (and again
   until every status report is stored: ``delivered``).  Messages/s, and the
   platform's CPU seconds per message (this process: the outbox, the sender,
   the SMGP client) and PostgreSQL's.
2. Alarms: the cameras' alarms; the latency of each alarm SMS is the
   database's ``sms_outbox.submitted_at`` (the Submit_Resp recorded) minus its
   ``alarm.alarm_time`` (the alarm stored): p50, p90, p99, max.

    python bench/sms.py [--messages 20000] [--window 16] [--rate 1000000] [--report-delay 1]
        [--alarm-rate 200] [--alarm-seconds 20] [--devices N] [--channels 1] [--dsn DSN]
        [--pool-size 4] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from _measure import CLK_TCK, cpu_model, git_commit, memory_gib, percentile, proc_stat, reap_all, say, spawn

ACCOUNT, SECRET = "sp0001", "bench-secret"
FIRST_DEVID = 81300000000
FIRST_MOBILE = 13900000000
LISTENERS = ("device", "register", "mcu", "rtsp", "admin", "ftp", "portal")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def process_cpu(pid: int) -> float:
    fields = proc_stat(pid)
    return (int(fields[11]) + int(fields[12])) / CLK_TCK if fields else 0.0


def postgres_cpu(postmaster: int | None) -> float:
    if postmaster is None:
        return 0.0
    total = 0.0
    for name in os.listdir("/proc"):
        if name.isdigit():
            fields = proc_stat(name)
            if fields is not None and (int(name) == postmaster or int(fields[1]) == postmaster):
                total += process_cpu(int(name))
    return total


def sleep(reactor, seconds: float):
    from twisted.internet import task
    return task.deferLater(reactor, seconds, lambda: None)


# -- the cameras (a child process) ---------------------------------------------------------------


def run_cameras(args) -> None:
    from twisted.internet import defer, task

    from kandian.sim.link import connect_device
    from kandian.sim.state import DeviceState

    @defer.inlineCallbacks
    def main(reactor):
        links = []
        for n in range(args.devices):
            dev_id = str(FIRST_DEVID + n)
            link = yield connect_device(reactor, ("127.0.0.1", args.port), DeviceState(
                dev_id, "key-" + dev_id, channel_num=args.channels))
            links.append(link)
            if len(links) % 50 == 0:
                yield defer.gatherResults([lk.logged_in() for lk in links[-50:]])
        yield defer.gatherResults([lk.logged_in() for lk in links])
        print("ready", flush=True)
        sys.stdin.readline()  # "go"
        total = int(args.alarm_rate * args.alarm_seconds)
        pairs = [(link, channel, alarm_type) for alarm_type in (1, 2) for channel in range(args.channels)
                 for link in links]
        answers = []
        start = reactor.seconds()
        sent = 0
        sent_at = []  # [DevID, channel, alarm type, wall-clock second it was sent]
        while sent < total:
            due = min(total, int((reactor.seconds() - start) * args.alarm_rate) + 1)
            while sent < due:
                link, channel, alarm_type = pairs[sent % len(pairs)]
                sent_at.append([link.state.dev_id, channel, alarm_type, time.time()])
                answers.append(link.send_alarm(channel, alarm_type))
                sent += 1
            yield task.deferLater(reactor, 0.005, lambda: None)
        took = reactor.seconds() - start
        results = yield defer.gatherResults(answers)
        print(json.dumps({"sent": sent, "seconds": round(took, 2),
                          "acknowledged": sum(1 for r in results if r.Result == 0), "sent_at": sent_at}),
              flush=True)
        for link in links:
            link.close()

    task.react(main)


# -- the platform (this process) -------------------------------------------------------------------


def provision_sql(devices: int, channels: int) -> str:
    """One device, its channels, one user owning it, per camera of the child."""
    d, m, c, last = FIRST_DEVID, FIRST_MOBILE, channels, devices - 1
    return (
        f"INSERT INTO device (dev_id, dev_key, channel_num) SELECT ({d} + i)::text, 'key-' || ({d} + i), {c}"
        f" FROM generate_series(0, {last}) i;"
        f" INSERT INTO channel (dev_id, channel_no) SELECT ({d} + i)::text, n FROM generate_series(0, {last}) i,"
        f" generate_series(0, {c} - 1) n;"
        f" INSERT INTO app_user (mobile, password_hash) SELECT ({m} + i)::text, 'scrypt$bench'"
        f" FROM generate_series(0, {last}) i;"
        f" INSERT INTO user_device (user_id, dev_id) SELECT u.user_id, ({d} + i)::text"
        f" FROM generate_series(0, {last}) i JOIN app_user u ON u.mobile = ({m} + i)::text"
    )


def config_text(directory: str, args, ismg_port: int) -> str:
    text = "[platform]\ndata_dir = %s\n[database]\ndsn = %s\npool_size = %d\n" % (
        os.path.join(directory, "var"), args.dsn, args.pool_size)
    for name in LISTENERS:
        text += "[%s]\nlisten = tcp:0:interface=127.0.0.1\n" % name
        if name == "device":
            text += "max_connections_per_address = 0\n"
    text += ("[sms]\ngateway = tcp:127.0.0.1:%d\naccount = %s\npassword = %s\nsp_number = 106590001\n"
             "service_id = KANDIAN\nwindow = %d\nrate = %d\nvalidity = 86400\n"
             % (ismg_port, ACCOUNT, SECRET, args.window, args.rate))
    return text


def main(reactor, args, directory: str):
    from twisted.internet import defer

    @defer.inlineCallbacks
    def run():
        from kandian import config
        from kandian.service import KandianService
        from kandian.store.embedded import read_postmaster_pid

        ismg_port = free_port()
        spawn([sys.executable, "-m", "kandian.sim.smgp", "--listen", "tcp:%d:interface=127.0.0.1" % ismg_port,
               "--account", "%s:%s" % (ACCOUNT, SECRET), "--window", str(args.window),
               "--report-delay", str(args.report_delay)], stdout=subprocess.DEVNULL)
        text = config_text(directory, args, ismg_port)
        path = os.path.join(directory, "kandian.ini")
        with open(path, "w") as f:
            f.write(text)
        svc = KandianService(config.parse(text, path, reactor), reactor, tune_gc=True)
        svc.startService()
        reactor.addSystemEventTrigger("before", "shutdown", lambda: svc.stopService() if svc.running else None)
        result: dict = {"machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "memory_gib": memory_gib()},
                        "commit": git_commit(), "args": vars(args)}
        try:
            yield svc.ready
            platform = svc.platform
            db = platform.db
            sender = platform.sms_sender
            for _ in range(500):
                if sender.client.connected:
                    break
                yield sleep(reactor, 0.02)
            postmaster = read_postmaster_pid(svc.store.embedded.pgdata)[0] if svc.store.embedded else None
            say("platform ready (%s), logged in to the fake ISMG: %s"
                % ("embedded PostgreSQL" if postmaster else "dsn", sender.client.connected))
            result["drain"] = yield drain(reactor, db, sender, args, postmaster)
            result["alarms"] = yield alarms(reactor, svc, args, postmaster)
        finally:
            if svc.running:
                yield svc.stopService()
            reap_all(signal.SIGTERM, 5.0)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(result, f, indent=2)
        return result

    return run()


def _count(db, statuses):
    return db.runQuery("SELECT count(*) FROM sms_outbox WHERE kind = 'message' AND status = ANY(%s)",
                       (list(statuses),)).addCallback(lambda rows: rows[0][0])


def drain(reactor, db, sender, args, postmaster):
    from twisted.internet import defer

    @defer.inlineCallbacks
    def run():
        n = args.messages
        say("\n1. drain: %d messages queued at once, window %d" % (n, args.window))
        cpu0, pg0 = self_cpu(), postgres_cpu(postmaster)
        t0 = time.monotonic()
        yield db.runOperation(
            "INSERT INTO sms_outbox (mobile, body, kind, next_attempt_at, valid_until, created_at, updated_at)"
            " SELECT (%s + i %% 1000)::text, 'bench message ' || i, 'message', now(), now() + interval '1 day',"
            " now(), now() FROM generate_series(1, %s) i", (FIRST_MOBILE, n))
        committed = time.monotonic()
        sender.wake()  # as when this node queues them; another process's are found within a second
        submitted_at = delivered_at = None
        while delivered_at is None:
            yield sleep(reactor, 0.1)
            if submitted_at is None:
                done = yield _count(db, ("submitted", "delivered"))
                if done >= n:
                    submitted_at = time.monotonic()
                    cpu1, pg1 = self_cpu(), postgres_cpu(postmaster)
            else:
                done = yield _count(db, ("delivered",))
                if done >= n:
                    delivered_at = time.monotonic()
        seconds = submitted_at - committed
        out = {"messages": n, "insert_seconds": round(committed - t0, 2), "submitted_seconds": round(seconds, 2),
               "messages_per_second": round(n / seconds), "delivered_seconds": round(delivered_at - committed, 2),
               "platform_cpu_ms_per_message": round((cpu1 - cpu0) * 1000 / n, 3),
               "postgres_cpu_ms_per_message": round((pg1 - pg0) * 1000 / n, 3) if postmaster else None,
               "sender": {"submitted": sender.stats.submitted,
                          "refused": {"%s/%s" % k: v for k, v in sender.stats.outcomes.items()}}}
        say("   all %d submitted %.2f s after the commit: %d messages/s (target >= 1,000);"
            " all delivered after %.2f s" % (n, seconds, out["messages_per_second"], out["delivered_seconds"]))
        say("   CPU per message: platform %.3f ms, PostgreSQL %s ms; refusals %s"
            % (out["platform_cpu_ms_per_message"], out["postgres_cpu_ms_per_message"],
               out["sender"]["refused"] or "none"))
        return out

    return run()


def alarms(reactor, svc, args, postmaster):
    from twisted.internet import defer, threads

    @defer.inlineCallbacks
    def run():
        db = svc.platform.db
        say("\n2. alarms: %d devices x %d channels, %d alarms/s for %g s"
            % (args.devices, args.channels, args.alarm_rate, args.alarm_seconds))
        yield db.runOperation(provision_sql(args.devices, args.channels))
        port = svc.listeners["device"].port.getHost().port
        cameras = spawn([sys.executable, os.path.abspath(__file__), "--cameras-child", "--port", str(port),
                         "--devices", str(args.devices), "--channels", str(args.channels),
                         "--alarm-rate", str(args.alarm_rate), "--alarm-seconds", str(args.alarm_seconds)],
                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = yield threads.deferToThread(cameras.stdout.readline)
        if line.strip() != "ready":
            raise RuntimeError("the cameras did not log in: %r" % (line,))
        cpu0 = self_cpu()
        cameras.stdin.write("go\n")
        cameras.stdin.flush()
        line = yield threads.deferToThread(cameras.stdout.readline)
        sent = json.loads(line)
        cpu1 = self_cpu()
        expected = sent["acknowledged"]
        for _ in range(3000):
            rows = yield db.runQuery("SELECT count(*) FROM sms_outbox WHERE kind = 'alarm'"
                                     " AND status IN ('submitted', 'delivered')")
            if rows[0][0] >= expected:
                break
            yield sleep(reactor, 0.1)
        rows = yield db.runQuery(
            "SELECT extract(epoch FROM o.submitted_at - a.alarm_time) * 1000,"
            " extract(epoch FROM o.created_at - a.alarm_time) * 1000, extract(epoch FROM a.alarm_time),"
            " a.dev_id, a.channel_no, a.alarm_type, extract(epoch FROM o.submitted_at) FROM sms_outbox o"
            " JOIN alarm a USING (alarm_id) WHERE o.kind = 'alarm' AND o.submitted_at IS NOT NULL ORDER BY 1")
        latencies = [float(r[0]) for r in rows]
        # from the camera's send (the platform's intake backlog included): each alarm's (device, channel,
        # type) is sent once in the run
        sent_at = {(d, c, t): at for d, c, t, at in sent.pop("sent_at", [])}
        from_camera = sorted(1000 * (float(r[6]) - sent_at[r[3], r[4], r[5]]) for r in rows
                             if (r[3], r[4], r[5]) in sent_at)
        span = max((float(r[2]) for r in rows), default=0.0) - min((float(r[2]) for r in rows), default=0.0)
        # the worst latency of each second of alarms: a stall (every alarm of a moment late) or a spread tail
        first = min((float(r[2]) for r in rows), default=0.0)
        by_second: dict[int, float] = {}
        for r in rows:
            second = int(float(r[2]) - first)
            by_second[second] = max(by_second.get(second, 0.0), float(r[0]))
        queued = sorted(float(r[1]) for r in rows)
        out = {"alarms_sent": sent["sent"], "alarms_acknowledged": expected, "send_seconds": sent["seconds"],
               "alarm_rate": round(sent["sent"] / sent["seconds"], 1), "sms_submitted": len(latencies),
               "platform_cpu_seconds": round(cpu1 - cpu0, 2),
               "latency_ms": {"p%d" % q: round(percentile(latencies, q), 1) for q in (50, 90, 99)}
               | {"max": round(latencies[-1], 1) if latencies else None},
               "queued_ms": {"p%d" % q: round(percentile(queued, q), 1) for q in (50, 90, 99)},
               "worst_ms_by_second": [round(by_second[k]) for k in sorted(by_second)],
               "sent_to_submitted_ms": {"p%d" % q: round(percentile(from_camera, q), 1) for q in (50, 90, 99)},
               "alarms_stored_over_seconds": round(span, 1)}
        say("   %d alarms at %.0f/s, %d acknowledged; %d alarm SMS submitted"
            % (out["alarms_sent"], out["alarm_rate"], expected, len(latencies)))
        say("   alarm stored -> SMS submitted: p50 %(p50)s ms, p90 %(p90)s ms, p99 %(p99)s ms, max %(max)s ms"
            " (target p99 < 200 ms)" % out["latency_ms"])
        say("   of which alarm stored -> SMS queued: p50 %(p50)s ms, p90 %(p90)s ms, p99 %(p99)s ms"
            % out["queued_ms"])
        say("   the worst of each second of alarms, ms: %s" % " ".join(map(str, out["worst_ms_by_second"])))
        say("   alarm sent by the camera -> SMS submitted: p50 %(p50)s ms, p90 %(p90)s ms, p99 %(p99)s ms"
            % out["sent_to_submitted_ms"])
        say("   the platform stored the alarms over %.1f s (sent over %.1f s)" % (span, sent["seconds"]))
        return out

    return run()


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--window", type=int, default=16)
    parser.add_argument("--rate", type=int, default=1_000_000)
    parser.add_argument("--report-delay", type=float, default=1.0)
    parser.add_argument("--alarm-rate", type=float, default=200)
    parser.add_argument("--alarm-seconds", type=float, default=20)
    parser.add_argument("--devices", type=int, default=0, help="default: alarm rate x alarm seconds")
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--dsn", default="")
    parser.add_argument("--pool-size", type=int, default=4)
    parser.add_argument("--json", default=None)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--cameras-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not args.devices:
        args.devices = max(1, int(args.alarm_rate * args.alarm_seconds))
    return args


def run_main(args) -> None:
    from twisted.internet import task

    say("bench/sms.py on %s (%d cores), commit %s" % (cpu_model(), os.cpu_count(), git_commit()))
    directory = tempfile.mkdtemp(prefix="kandian-bench-sms-")
    try:
        task.react(lambda reactor: main(reactor, args, directory))
    finally:
        reap_all(signal.SIGTERM, 5.0)
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.cameras_child:
        run_cameras(arguments)
    else:
        run_main(arguments)
