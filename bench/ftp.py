"""FTP uploads at load (issue 12: 500 cameras each uploading a 200 KB picture at
once; throughput MB/s and uploads/s >= 80 % of a bare ``twisted.protocols.ftp``
server's, measured with the same client in the same run).

Two servers, each a child process of this script on the epoll reactor:

* **kandian**: the real ``KandianService`` (as ``twistd kandian`` builds it,
  ``tune_gc=True``; PostgreSQL the embedded default under a temporary
  ``data_dir``, or ``--dsn``), every listener on loopback, ``[ftp]``
  uncapped (``max_connections`` above N, no per-address cap), ``--uploads``
  devices provisioned by one SQL statement; each upload is a picture named
  by the §7.5.27 pattern, checked, written to ``[files] root``'s ``tmp/``,
  fsync'ed (in the thread pool; ``--no-fsync``: ``[files] fsync = false``), renamed, its directory
  fsync'ed and recorded (``device_file`` and
  ``picture`` rows, the alarm link query) before its 226;
* **twisted**: ``twisted.protocols.ftp.FTPFactory`` over ``FTPRealm`` (each
  device a user with its home directory and a ``pictures/`` in it) and a
  dict of passwords (Twisted's ``InMemoryUsernamePasswordDatabaseDontUse``
  keys on bytes while its FTP server sends str, so it never matches): no
  checks, no database, no fsync.  With ``--baseline durable`` the same
  server gives its 226 only once the file is durable, as kandian's does:
  the file ``fsync``'ed and closed, then its directory ``fsync``'ed, in
  Twisted's thread pool (one call per upload) — still no checks, no hash,
  no temporary file and rename, no database.

The cameras are curl: ``--curls`` K processes (default 25), each one ``curl
--parallel`` (``--parallel-max`` N/K, ``--parallel-immediate``) with its
share of the N transfers, each its own device's account and one 200 KB JPEG
(``-T``), so every camera's session (login, EPSV, TYPE, STOR, QUIT) starts
at once; ``--disable-epsv`` makes them PASV.  Several processes because
cameras are independent and libcurl is not: it reads an upload's 226 (and
a QUIT's 221) with a blocking call (``ftp_done`` → ``getftpresponse``,
listed among libcurl's blocking waits in curl pull request 23006), so one
process's other transfers stand still meanwhile, and with ``--curls 1``
uploads/s is one over the time from an upload's last byte to its 226 —
for a server that makes each upload durable before its 226, the disk's
flush latency (docs/benchmarks.md, "FTP uploads").  Passive
ports: whatever the system gives (``--passive-ports LOW-HIGH`` sets a range
for both servers).

Each run starts both servers afresh (in rotating order), waits for them,
then times the curl process from start to exit and reads the server's CPU
(utime + stime from /proc) around it; every transfer must end well (curl's
per-transfer exit code 0) and every file must be on disk with its size.  Reported: per server the
median wall time, uploads/s and MB/s (10^6 bytes) over ``--runs``, the
server's CPU seconds, and kandian / twisted against the 80 % target.

    python bench/ftp.py [--uploads 500] [--size 200000] [--runs 3] [--pasv]
        [--passive-ports LOW-HIGH] [--dsn DSN] [--no-fsync] [--baseline bare|durable] [--json PATH]
        [--profile PATH] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

# bench/_measure.py, beside this script
from _measure import (
    CLK_TCK,
    cpu_model,
    folded_stacks,
    git_commit,
    machine_busy,
    memory_gib,
    proc_stat,
    reap,
    reap_all,
    say,
    spawn,
)

HERE = os.path.abspath(__file__)
TARGET_RATIO = 0.80
NOW = 1_795_000_000  # the pictures' timestamp (2026-11-18 19:06:40 in Asia/Shanghai)


def dev_ids(n: int) -> list[str]:
    return ["811%08d" % i for i in range(1, n + 1)]


def picture_name(dev_id: str) -> str:
    return "%s_0_20261118190640.jpg" % dev_id


def jpeg(size: int) -> bytes:
    """*size* bytes that begin and end as a JPEG does (the server checks both)."""
    return b"\xff\xd8\xff" + os.urandom(size - 5).replace(b"\xff", b"\x00") + b"\xff\xd9"


# -- the servers (children) -----------------------------------------------------------------------------


def ready(port: int, credentials: dict, path: str) -> None:
    with open(path, "w") as f:
        json.dump(credentials, f)
    print("READY %d" % port, flush=True)


def serve_kandian(args) -> None:
    from twisted.internet import epollreactor

    epollreactor.install()
    from twisted.internet import defer, reactor

    from kandian import config as kconfig
    from kandian.service import KandianService

    sections = {name: "listen = tcp:0:interface=127.0.0.1\n" for name in
                ("device", "register", "mcu", "rtsp", "admin", "portal")}
    sections["ftp"] = ("listen = tcp:0:interface=127.0.0.1:backlog=4096\npassive_ports = %s\n"
                       "max_connections = %d\nmax_connections_per_address = 0\ndevice_quota = 0\n"
                       % (args.passive_ports, args.uploads + 64))
    text = "[platform]\ndata_dir = %s\n[database]\ndsn = %s\n[files]\nroot = %s\nfsync = %s\n" % (
        args.data_dir, args.dsn, args.root, "false" if args.no_fsync else "true")
    text += "".join("[%s]\n%s" % item for item in sections.items())
    svc = KandianService(kconfig.parse(text, "bench-ftp.ini", reactor), reactor, tune_gc=True)

    @defer.inlineCallbacks
    def provision(_):
        ids = dev_ids(args.uploads)
        for d in ids:  # as the baseline's home directories: a device's first picture makes its own
            os.makedirs(os.path.join(args.root, "pictures", d), exist_ok=True)
        yield svc.platform.db.runOperation(
            "INSERT INTO device (dev_id, dev_key) SELECT unnest(%s::text[]), 'key' ON CONFLICT DO NOTHING", (ids,))
        keys = svc.platform.core.keys
        ready(svc.listeners["ftp"].port.getHost().port, {d: keys.ftp_password(d) for d in ids}, args.credentials)

    def failed(f):
        print("FAILED %s" % f.getErrorMessage(), flush=True)
        reactor.stop()

    def stop():
        if svc.platform is not None:
            files, realm = svc.platform.core.files, svc.platform.factories["ftp"].realm
            batches = lambda of, name: getattr(getattr(of, name, None), "batches", -1)  # noqa: E731 (-1: none)
            print("STATS %s" % json.dumps({"transactions": batches(files, "records"),
                                           "lookups": batches(files, "lookups"),
                                           "landings": batches(realm, "landings"),
                                           "ports": getattr(svc.platform.factories["ftp"].ports, "opened", -1)}),
                  flush=True)
        return svc.stopService()  # the embedded PostgreSQL too

    # SIGTERM: the reactor's own handler stops it, and the service with it
    reactor.addSystemEventTrigger("before", "shutdown", stop)
    reactor.callWhenRunning(lambda: (svc.startService(), svc.ready.addCallback(provision).addErrback(failed)))
    reactor.run()


def serve_twisted(args) -> None:
    from twisted.internet import epollreactor

    epollreactor.install()
    from twisted.cred import checkers, credentials, error, portal
    from twisted.internet import defer, reactor
    from twisted.protocols import ftp
    from zope.interface import implementer

    ids = dev_ids(args.uploads)
    passwords = {d: "pw-" + d for d in ids}
    for d in ids:
        os.makedirs(os.path.join(args.root, d, "pictures"), exist_ok=True)

    @implementer(checkers.ICredentialsChecker)
    class Passwords:
        credentialInterfaces = (credentials.IUsernamePassword,)

        def requestAvatarId(self, c):
            if passwords.get(c.username) == c.password:
                return defer.succeed(c.username)
            return defer.fail(error.UnauthorizedLogin())

    realm = ftp.FTPRealm(args.root, userHome=args.root)
    if args.baseline == "durable":
        from twisted.internet import threads

        def durable_close(f, directory):
            try:
                f.flush()
                os.fsync(f.fileno())
            finally:
                f.close()
            fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

        class DurableWriter:  # IWriteFile: the consumer leaves the file open, close() makes it durable
            def __init__(self, f, directory):
                self.f, self.directory = f, directory

            def receive(self):
                consumer = ftp.FileConsumer(self.f)
                consumer.unregisterProducer = lambda: None
                return defer.succeed(consumer)

            def close(self):
                return threads.deferToThread(durable_close, self.f, self.directory)

        class DurableShell(ftp.FTPShell):
            def openForWriting(self, path):
                directory = self.filesystemRoot.descendant(path).parent().path
                return super().openForWriting(path).addCallback(lambda w: DurableWriter(w.fObj, directory))

        class DurableRealm(ftp.FTPRealm):
            def requestAvatar(self, avatarId, mind, *interfaces):
                shell = DurableShell(self.getHomeDirectory(avatarId))
                return ftp.IFTPShell, shell, lambda: None

        realm = DurableRealm(args.root, userHome=args.root)
    factory = ftp.FTPFactory(portal.Portal(realm, [Passwords()]))
    factory.allowAnonymous = False
    if args.passive_ports:
        low, high = (int(x) for x in args.passive_ports.split("-"))
        factory.passivePortRange = range(low, high + 1)
    port = reactor.listenTCP(0, factory, backlog=4096, interface="127.0.0.1")
    signal.signal(signal.SIGTERM, lambda *_: reactor.callFromThread(reactor.stop))
    reactor.callWhenRunning(ready, port.getHost().port, passwords, args.credentials)
    reactor.run()


# -- one run --------------------------------------------------------------------------------------------


def start_server(kind: str, args, work: str):
    root = os.path.join(work, "files")
    credentials = os.path.join(work, "credentials.json")
    command = [sys.executable, HERE, "--serve", kind, "--uploads", str(args.uploads), "--root", root,
               "--credentials", credentials, "--data-dir", args.data_dir, "--dsn", args.dsn,
               "--passive-ports", args.passive_ports, "--baseline", args.baseline] + (
                   ["--no-fsync"] if args.no_fsync else [])
    proc = spawn(command, stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    for line in proc.stdout:
        if line.startswith("READY "):
            with open(credentials) as f:
                return proc, int(line.split()[1]), json.load(f), root
        if line.startswith("FAILED ") or time.monotonic() > deadline:
            break
    reap(proc, signal.SIGKILL, 5)
    raise SystemExit("the %s server did not start: %s" % (kind, line.strip() if line else "no output"))


def curl_config(path: str, port: int, credentials: dict, picture: str) -> None:
    with open(path, "w") as f:
        for dev_id, password in credentials.items():
            f.write('upload-file = "%s"\nurl = "ftp://%s:%s@127.0.0.1:%d/pictures/%s"\n'
                    % (picture, dev_id, password, port, picture_name(dev_id)))


def cpu(pid: int) -> float:
    fields = proc_stat(pid)
    return (int(fields[11]) + int(fields[12])) / CLK_TCK if fields else float("nan")


def main_thread(pid: int) -> tuple[float, float, int, int]:
    """The process's main (reactor) thread's user and system CPU seconds, the voluntary and
    involuntary context switches of all its threads, and the process's minor page faults (its other
    threads' CPU is the process's less the main thread's: summed thread by thread, each truncated to
    a clock tick, it would lose up to 20 ms a thread)."""
    fields, whole = proc_stat("%d/task/%d" % (pid, pid)), proc_stat(pid)
    if not fields or not whole:
        return float("nan"), float("nan"), 0, 0
    switches = 0
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        tids = []
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
                switches += sum(int(line.split()[1]) for line in f if "ctxt_switches:" in line)
        except OSError:
            pass
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK, switches, int(whole[7])


def postgres_pids(data_dir: str) -> list[int]:
    """The embedded PostgreSQL's processes: the postmaster (by its command line) and its children."""
    postmasters, parents = set(), {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/cmdline" % entry, "rb") as f:
                    args = f.read().split(b"\0")
            except OSError:
                continue
            if args and args[0].endswith(b"postgres") and data_dir.encode() in b" ".join(args):
                postmasters.add(int(entry))
            fields = proc_stat(entry)
            if fields:
                parents[int(entry)] = int(fields[1])
    return [pid for pid, parent in parents.items() if pid in postmasters or parent in postmasters]


def postgres_cpu(data_dir: str) -> dict[int, float]:
    return {pid: cpu(pid) for pid in postgres_pids(data_dir)}


def one_run(kind: str, args, picture: str, size: int) -> dict:
    work = tempfile.mkdtemp(prefix="ftp-%s-" % kind, dir=args.work)
    proc, port, credentials, root = start_server(kind, args, work)
    try:
        # the cameras split among --curls processes, round robin
        accounts = list(credentials.items())
        commands = []
        for n in range(args.curls):
            config = os.path.join(work, "curl-%d.conf" % n)
            mine = dict(accounts[n::args.curls])
            curl_config(config, port, mine, picture)
            commands.append(["curl", "-sS", "--no-progress-meter", "--parallel", "--parallel-immediate",
                             "--parallel-max", str(len(mine)), "--max-time", "300", "-w", "%{exitcode}\\n",
                             "-K", config] + (["--disable-epsv"] if args.pasv else []))
        spy = None
        if args.profile:
            spy = spawn([os.path.join(os.path.dirname(sys.executable), "py-spy"), "record", "--format", "raw",
                         "--rate", "250", "--threads", "-o", "%s.%s" % (args.profile, kind), "--pid", str(proc.pid)],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1)
        pg0 = postgres_cpu(args.data_dir) if kind == "kandian" and not args.dsn else {}
        main0 = main_thread(proc.pid)
        cpu0, busy0, t0 = cpu(proc.pid), machine_busy(), time.perf_counter()
        curls = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for c in commands]
        outputs = [c.communicate() for c in curls]
        wall = time.perf_counter() - t0
        cpu1, busy1 = cpu(proc.pid), machine_busy()
        main1 = main_thread(proc.pid)
        pg1 = postgres_cpu(args.data_dir) if pg0 else {}
        pg = sum(pg1[p] - pg0.get(p, 0.0) for p in pg1)
        if spy is not None:
            reap(spy, signal.SIGINT, 30)
        codes = [code for out, _ in outputs for code in out.split()]
        errors = [line for _, err in outputs for line in err.strip().splitlines()]
        stored = 0
        for dev_id in credentials:
            where = (os.path.join(root, "pictures", dev_id, picture_name(dev_id)) if kind == "kandian"
                     else os.path.join(root, dev_id, "pictures", picture_name(dev_id)))
            stored += os.path.exists(where) and os.path.getsize(where) == size
        r = {"server": kind, "wall": wall, "uploads_per_s": args.uploads / wall,
                "mb_per_s": args.uploads * size / wall / 1e6, "server_cpu": cpu1 - cpu0, "postgres_cpu": pg,
                "machine_cpu": busy1 - busy0, "ok": codes.count("0"), "stored": stored,
                "curl_exit": max(c.returncode for c in curls), "curl_errors": errors[:3],
                "codes": sorted(set(codes)), "reactor_user": main1[0] - main0[0],
                "reactor_sys": main1[1] - main0[1], "switches": main1[2] - main0[2],
                "page_faults": main1[3] - main0[3]}
        return r
    finally:
        reap(proc, signal.SIGTERM, 30)
        stats = [json.loads(line[6:]) for line in proc.stdout if line.startswith("STATS ")]
        if stats and "r" in locals():
            r.update(stats[0])
        if not args.keep:
            shutil.rmtree(os.path.join(work, "files"), ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uploads", type=int, default=500, help="cameras uploading at once (default 500)")
    parser.add_argument("--size", type=int, default=200_000, help="bytes per picture (default 200,000)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pasv", action="store_true", help="PASV instead of curl's default EPSV")
    parser.add_argument("--curls", type=int, default=25,
                        help="curl processes the cameras are split among (default 25; with 1, libcurl waits for"
                             " each upload's 226 blocking all of its other transfers, so one process measures the"
                             " servers' 226 latency more than their throughput)")
    parser.add_argument("--passive-ports", default="", help="LOW-HIGH for both servers (default: any port)")
    parser.add_argument("--dsn", default="", help="kandian's PostgreSQL (default: the embedded one)")
    parser.add_argument("--no-fsync", action="store_true", help="kandian with [files] fsync = false")
    parser.add_argument("--baseline", choices=("bare", "durable"), default="bare",
                        help="the Twisted server as it comes (default), or giving its 226 only once the file and"
                             " its directory are fsync'ed, as kandian's does")
    parser.add_argument("--json", help="write the figures here too")
    parser.add_argument("--profile", help="py-spy raw profiles of the servers' runs (slows them) to PATH.kind")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    # the children
    parser.add_argument("--serve", choices=("kandian", "twisted"), help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    parser.add_argument("--credentials", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve == "kandian":
        return serve_kandian(args)
    if args.serve == "twisted":
        return serve_twisted(args)

    args.work = tempfile.mkdtemp(prefix="bench-ftp-")
    args.data_dir = os.path.join(args.work, "var")  # one embedded PostgreSQL for every kandian run
    picture = os.path.join(args.work, "picture.jpg")
    with open(picture, "wb") as f:
        f.write(jpeg(args.size))
    say("bench/ftp.py: %d uploads of %d bytes at once by %d curl process(es), %s, %d runs, %s baseline;"
        " %s, %d cores, %.1f GiB; commit %s; load average %s"
        % (args.uploads, args.size, args.curls, "PASV" if args.pasv else "EPSV", args.runs, args.baseline, cpu_model(),
           os.cpu_count(), memory_gib(), git_commit(), " ".join("%.2f" % x for x in os.getloadavg())))
    results: dict[str, list[dict]] = {"kandian": [], "twisted": []}
    try:
        for n in range(args.runs):
            for kind in (("kandian", "twisted") if n % 2 == 0 else ("twisted", "kandian")):
                r = one_run(kind, args, picture, args.size)
                results[kind].append(r)
                say("run %d %-8s %6.2f s  %7.1f uploads/s  %6.1f MB/s  server CPU %5.2f s  PostgreSQL %4.2f s"
                    "  machine %5.2f s  curl ok: %d/%d  on disk: %d%s%s"
                    % (n + 1, kind, r["wall"], r["uploads_per_s"], r["mb_per_s"], r["server_cpu"],
                       r["postgres_cpu"], r["machine_cpu"], r["ok"], args.uploads, r["stored"],
                       "  (%d login lookups, landings handed back in %d calls, recorded in %d transactions,"
                       " %d passive ports opened)"
                       % (r["lookups"], r["landings"], r["transactions"], r.get("ports", -1)) if "transactions" in r
                       else "",
                       "  curl: %s %s" % (r["codes"], r["curl_errors"]) if r["ok"] != args.uploads else ""))
                per = args.uploads
                say("      per upload: reactor thread %.2f ms user + %.2f ms system, other threads %.2f ms;"
                    " %.1f context switches, %.1f minor page faults"
                    % (1e3 * r["reactor_user"] / per, 1e3 * r["reactor_sys"] / per,
                       1e3 * (r["server_cpu"] - r["reactor_user"] - r["reactor_sys"]) / per, r["switches"] / per,
                       r["page_faults"] / per))
    finally:
        reap_all(signal.SIGTERM, 30)
        if not args.keep:
            shutil.rmtree(args.work, ignore_errors=True)
    summary = {}
    for kind, rows in results.items():
        summary[kind] = {key: statistics.median(r[key] for r in rows)
                         for key in ("wall", "uploads_per_s", "mb_per_s", "server_cpu", "postgres_cpu")}
        summary[kind]["all_ok"] = all(r["ok"] == r["stored"] == args.uploads for r in rows)
    ratio = summary["kandian"]["uploads_per_s"] / summary["twisted"]["uploads_per_s"]
    say()
    say("| server | wall s | uploads/s | MB/s | server CPU s | CPU ms per upload (server + PostgreSQL) |"
        " all uploaded and on disk |")
    say("|---|---|---|---|---|---|---|")
    for kind, s in summary.items():
        say("| %s | %.2f | %.1f | %.1f | %.2f | %.2f + %.2f | %s |"
            % (kind if kind == "kandian" else "twisted (%s)" % args.baseline, s["wall"], s["uploads_per_s"],
               s["mb_per_s"], s["server_cpu"], 1e3 * s["server_cpu"] / args.uploads,
               1e3 * s["postgres_cpu"] / args.uploads, "yes" if s["all_ok"] else "NO"))
    say()
    say("kandian / twisted (%s): %.0f %% of the uploads/s (target >= %.0f %%): %s; per run: %s"
        % (args.baseline, 100 * ratio, 100 * TARGET_RATIO, "met" if ratio >= TARGET_RATIO else "NOT met",
           ", ".join("%.0f %%" % (100 * k["uploads_per_s"] / t["uploads_per_s"])
                     for k, t in zip(results["kandian"], results["twisted"]))))
    for kind in results:
        path = "%s.%s" % (args.profile, kind)
        if not args.profile or not os.path.exists(path):
            continue
        own: dict[str, int] = {}
        total = 0
        for frames, count in folded_stacks(path):
            if any(f.startswith("ReactorBase.run ") for f in frames):  # the reactor's thread
                total += count
                own[frames[-1]] = own.get(frames[-1], 0) + count
        say()
        say("profile of the %s server's reactor thread (%s; %d samples), top functions by own samples:"
            % (kind, path, total))
        for name, count in sorted(own.items(), key=lambda kv: -kv[1])[:15]:
            say("  %5.1f %%  %s" % (100.0 * count / total, name))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"runs": results, "summary": summary, "ratio": ratio}, f, indent=1)


if __name__ == "__main__":
    main()
