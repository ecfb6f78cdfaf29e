"""Live HLS on one node (issue 16, "Measure"): N concurrent streams of distinct cameras, time to first segment,
glass-to-glass latency, CPU and RSS per stream, many viewers of one stream — and ``ffmpeg`` run by hand on the same
source in the same run, for the per-stream CPU baseline.

Everything runs in this process's reactor except the children it measures:

* one GStreamer RTSP camera (``kandian/sim/gst_camera.py --clock``, one shared encoder, each frame's making time
  burnt into its top rows) behind ``--streams`` simulated devices (the shipped simulator's links and camera
  fronts, each checking its own tokens over its link, §7.5.5), so every stream is a distinct DevID pulled through
  the relay while the encoding is paid once;
* the platform (the real ``KandianService``; the embedded PostgreSQL under a temporary ``data_dir``, or
  ``--dsn``), whose live HLS packagers are the ffmpeg children measured;
* the HLS clients: Twisted ``Agent``s polling each playlist every second and fetching each new segment, as a
  player does (``--viewers`` of them on stream 0);
* the glass-to-glass readers (``_glass.py``), after the CPU window while all that goes on.

Figures: **time to first segment** (first playlist request → 200 with a segment, per stream; p50/p90/max);
**listing delay** (the playlist written by ffmpeg — its mtime, read by this process on the same machine, when
the body served is the file's — to the moment a client sees it: the newest segment's wait for the client's
poll) and **live-edge latency** (that plus the newest segment's duration: its first frame's age when a client
first sees it listed, taking the frame to have reached ffmpeg at once);
**player latency estimate** (listing delay + 2 × ``EXT-X-TARGETDURATION``, hls.js's hold-back);
**glass-to-glass latency**, measured: ``--latency-runs`` runs, each on a stream of its own, read by three
readers started together — ffmpeg through the live playlist decoding each segment as it comes (``asap``),
ffmpeg at native rate (``-re``, from where its HLS demuxer starts: 3 segments from the end), and headless
Chromium on the portal's camera page (its hls.js settings; each presented frame read in a
``requestVideoFrameCallback``); latency = the time a frame is decoded (ffmpeg) or presented (browser) − the
time burnt into it; p50/p90/max over ``--latency-seconds`` after ``--warmup``, the first frame's time, the
browser's stalls — for a **cold** join (the readers start the stream's packager) and then a **warm** one (new
readers join it running, its playlist full); each figure's median, min, max and spread over the runs;
**CPU per stream** (the packagers' user+system seconds over the measured window ÷ streams ÷ seconds) against
the same ``ffmpeg -c copy -f hls`` command run by hand on the camera's URL directly; **RSS per packager**;
the platform process's own CPU (relay, simulator fronts and clients included: an upper bound); the machine's
state (load average, other processes' CPU) before and after.

    python bench/media.py [--streams 20] [--seconds 20] [--viewers 100] [--max-starting N]
                          [--latency-runs 3] [--latency-seconds 20] [--warmup 5] [--join cold,warm] [--no-browser]
                          [--dsn DSN] [--json FILE]

A short check that it works: ``python bench/media.py --streams 2 --seconds 4 --viewers 5 --latency-runs 1
--latency-seconds 5 --warmup 3``.  Latency alone: ``--streams 1 --viewers 0 --seconds 3``.
The recording part of issue 16 is the rec slice's (a separate function in its own file).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import _glass  # noqa: E402

from _measure import (  # noqa: E402
    CLK_TCK,
    describe_spread,
    die_with_parent,
    git_commit,
    machine_busy,
    percentile,
    proc_stat,
    say,
    say_state,
    spread,
)

LISTENERS = ("device", "register", "mcu", "rtsp", "admin", "ftp", "portal")
CAMERA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "kandian", "sim",
                      "gst_camera.py")
OPERATOR, PASSWORD = "bench-ops", "bench-pass-1"
WIDTH = 640
_SEGMENT = re.compile(rb"#EXTINF:([0-9.]+),\s+(?:#EXT-X-PROGRAM-DATE-TIME:\S+\s+)?(seg\d+\.ts)")
_TARGET = re.compile(rb"#EXT-X-TARGETDURATION:(\d+)")


def cpu_seconds(pid) -> float:
    fields = proc_stat(pid)
    return (int(fields[11]) + int(fields[12])) / CLK_TCK if fields else 0.0


def rss_kib(pid) -> int:
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def written_at(path: str, body: bytes) -> float | None:
    """The mtime of the playlist *path* if it still holds *body* (not rewritten since it was served)."""
    try:
        with open(path, "rb") as f:
            before = os.fstat(f.fileno()).st_mtime
            same = f.read() == body
            return before if same and os.fstat(f.fileno()).st_mtime == before else None
    except OSError:
        return None


def start_camera(fps: int, bitrate: int) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(["/usr/bin/python3", "-I", CAMERA, "--port", "0", "--width", str(WIDTH), "--height", "360",
                             "--fps", str(fps), "--bitrate", str(bitrate), "--clock"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, preexec_fn=die_with_parent, text=True)
    line = proc.stdout.readline()
    if not line.startswith("READY "):
        raise RuntimeError("the GStreamer camera did not start: %r" % line)
    return proc, line.split()[1]


def rounded(x, digits=2):
    return None if x is None else round(x, digits)


def latency_figures(ordered: list[float]) -> dict:
    if not ordered:
        return {"samples": 0}
    return {"p50": round(percentile(ordered, 50), 2), "p90": round(percentile(ordered, 90), 2),
            "max": round(ordered[-1], 2), "min": round(ordered[0], 2), "samples": len(ordered)}


GLASS_READERS = ("ffmpeg_asap", "ffmpeg_native", "browser")


def summarise_glass(runs: list[dict]) -> dict:
    """Per join (cold, warm) and reader: median, min, max and spread over the runs of each run's p50, p90, max
    and first frame."""
    out: dict = {}
    for join in ("cold", "warm"):
        for reader in GLASS_READERS:
            rows = [r[join][reader] for r in runs if reader in r.get(join, {}) and r[join][reader].get("samples")]
            if rows:
                out.setdefault(join, {})[reader] = {
                    key: {k: round(v, 2) for k, v in spread([row[key] for row in rows]).items()}
                    for key in ("p50", "p90", "max", "first_frame_s") if all(row.get(key) is not None for row in rows)}
    firsts = [r["packager_first_segment_s"] for r in runs if r.get("packager_first_segment_s") is not None]
    if firsts:
        out["packager_first_segment_s"] = {k: round(v, 2) for k, v in spread(firsts).items()}
    out["runs"] = runs
    return out


def by_hand(url: str, seconds: float, directory: str) -> dict:
    """The packager's own command, run by hand on the camera's URL (no relay, no platform)."""
    out = os.path.join(directory, "by-hand")
    os.makedirs(out)
    command = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-rtsp_transport", "tcp",
               "-i", url, "-map", "0:v:0", "-c", "copy", "-an", "-f", "hls", "-hls_init_time", "0.5", "-hls_time", "1",
               "-hls_list_size", "6",
               "-hls_flags", "delete_segments+independent_segments+temp_file+omit_endlist+program_date_time",
               "-hls_segment_filename", os.path.join(out, "seg%d.ts"), os.path.join(out, "index.m3u8")]
    proc = subprocess.Popen(command, preexec_fn=die_with_parent, stderr=subprocess.DEVNULL)
    time.sleep(2)
    before = cpu_seconds(proc.pid)
    t0 = time.monotonic()
    time.sleep(seconds)
    used = cpu_seconds(proc.pid) - before
    elapsed = time.monotonic() - t0
    rss = rss_kib(proc.pid)
    proc.terminate()
    proc.wait(10)
    return {"cpu_percent": round(100 * used / elapsed, 2), "rss_kib": rss, "command": " ".join(command)}


def run(args) -> dict:
    from twisted.internet import defer, reactor, task, threads
    from twisted.logger import globalLogBeginner, textFileLogObserver
    from twisted.web.client import Agent, HTTPConnectionPool, readBody
    from twisted.web.http_headers import Headers

    from kandian import config
    from kandian.media.hls import Key
    from kandian.service import KandianService
    from kandian.sim.camera import camera_front
    from kandian.sim.link import connect_device
    from kandian.sim.state import Addresses, DeviceState

    Reader = _glass.make_reader(WIDTH)
    directory = tempfile.mkdtemp(prefix="kandian-bench-media-")
    log = open(os.path.join(directory, "kandian.log"), "w")  # noqa: SIM115 (open for the run)
    globalLogBeginner.beginLoggingTo([textFileLogObserver(log)], redirectStandardIO=False)
    camera, camera_url = start_camera(args.fps, args.bitrate)
    text = "[platform]\ndata_dir = %s\n[database]\ndsn = %s\n" % (os.path.join(directory, "var"), args.dsn)
    for name in LISTENERS:
        text += "[%s]\nlisten = tcp:0:interface=127.0.0.1\n" % name
        if name in ("portal", "rtsp"):
            text += "max_connections = 4096\nmax_connections_per_address = 0\n"
    text += "[media]\nmax_live_streams = %d\nidle_timeout = 60\n" % max(args.streams + args.latency_runs, 1)
    if args.max_starting:
        text += "max_starting = %d\n" % args.max_starting
    svc = KandianService(config.parse(text, "bench.ini", reactor), reactor, tune_gc=True)
    result: dict = {}
    links, fronts = [], []

    @defer.inlineCallbacks
    def main():
        svc.startService()
        yield svc.ready
        p = svc.platform
        port = {n: svc.listeners[n].port.getHost().port for n in ("device", "portal")}
        dev_ids = ["811%08d" % n for n in range(1, args.streams + 1)]
        glass_ids = ["812%08d" % n for n in range(1, args.latency_runs + 1)]  # a fresh stream for each run
        for dev_id in dev_ids + glass_ids:
            yield p.core.devices.store.devices.add(dev_id, "key")
            front = camera_front(reactor, None, camera_url)
            listening = reactor.listenTCP(0, front, interface="127.0.0.1")
            fronts.append(listening)
            state = DeviceState(dev_id, "key", addresses=Addresses(LocalIP="127.0.0.1",
                                                                   RtspLocalPort=listening.getHost().port))
            link = yield connect_device(reactor, ("127.0.0.1", port["device"]), state)
            yield link.logged_in()
            yield link.report_ability()
            front.authorizer.link = link
            links.append(link)
        yield p.core.operators.add(OPERATOR, PASSWORD, "viewer")
        login = yield p.core.api_auth.login(OPERATOR, PASSWORD, "127.0.0.1")
        headers = Headers({b"authorization": [b"Bearer " + login.token.encode()]})
        pool = HTTPConnectionPool(reactor)
        pool.maxPersistentPerHost = 1000
        agent = Agent(reactor, pool=pool)
        base = "http://127.0.0.1:%d/live/%%s/0/1/" % port["portal"]

        firsts, edges, delays, targets, seen_segments, errors = [], [], [], [], {}, []
        running = [True]

        @defer.inlineCallbacks
        def viewer(dev_id, first_wait: bool):
            url = base % dev_id
            t0 = time.time()
            got_first = False
            seen = seen_segments.setdefault(dev_id, set())
            while running[0]:
                try:
                    response = yield agent.request(b"GET", (url + "index.m3u8").encode(), headers)
                    body = yield readBody(response)
                except Exception as e:
                    errors.append(repr(e))
                    body, response = b"", None
                if response is not None and response.code == 200:
                    now = time.time()
                    if not got_first:
                        got_first = True
                        if first_wait:
                            firsts.append(now - t0)
                    listed = _SEGMENT.findall(body)
                    newest = listed[-1][1] if listed else None
                    if first_wait and seen and newest not in seen:  # (the first listing holds old segments)
                        packager = p.live.packagers.get(Key(dev_id, 0, 1))
                        written = packager and written_at(packager.playlist, body)
                        if written:
                            delays.append(now - written)
                            edges.append(now - written + float(listed[-1][0]))
                            targets.extend(int(t) for t in _TARGET.findall(body)[:1])
                    for _duration, name in listed:
                        if name not in seen:
                            seen.add(name)
                            segment = yield agent.request(b"GET", (url + name.decode()).encode(), headers)
                            yield readBody(segment)
                elif response is not None and response.code != 503:
                    errors.append("HTTP %d" % response.code)
                yield task.deferLater(reactor, 1.0, lambda: None)

        say("%d streams, %d viewers of the first one more; camera %d fps, %d kbit/s, key frame every second"
            % (args.streams, args.viewers, args.fps, args.bitrate))
        busy0 = machine_busy()
        viewers = [viewer(dev_id, True) for dev_id in dev_ids]
        viewers += [viewer(dev_ids[0], False) for _ in range(args.viewers if dev_ids else 0)]
        for _ in range(600):
            if len(firsts) >= len(dev_ids):
                break
            yield task.deferLater(reactor, 0.1, lambda: None)
        yield task.deferLater(reactor, 2.0, lambda: None)
        children = [pk.supervisor.pid for pk in p.live.packagers.values() if pk.supervisor.pid]
        cpu0 = {pid: cpu_seconds(pid) for pid in children}
        own0, cam0, t0 = cpu_seconds(os.getpid()), cpu_seconds(camera.pid), time.monotonic()
        edges.clear()
        delays.clear()
        yield task.deferLater(reactor, args.seconds, lambda: None)
        elapsed = time.monotonic() - t0
        used = sum(cpu_seconds(pid) - cpu0[pid] for pid in children)
        own = cpu_seconds(os.getpid()) - own0
        cam = cpu_seconds(camera.pid) - cam0
        rss = [rss_kib(pid) for pid in children]
        glass = []
        for dev_id in glass_ids:  # with the streams and their viewers still going
            outcome = {"dev_id": dev_id}
            if "cold" not in args.join:  # start the stream and let its playlist fill
                response = yield agent.request(b"GET", (base % dev_id + "index.m3u8").encode(), headers)
                yield readBody(response)
                yield task.deferLater(reactor, 8.0, lambda: None)
            for join in ("cold", "warm"):
                if join in args.join:
                    outcome[join] = yield glass_round(dev_id, login.token, base, port["portal"], p.live)
            packager = p.live.packagers.get(Key(dev_id, 0, 1))
            if packager and packager.ready_at:
                outcome["packager_first_segment_s"] = round(packager.ready_at - packager.started_at, 2)
            glass.append(outcome)
            say("glass-to-glass run %d: %s" % (len(glass), json.dumps(outcome)))
        running[0] = False
        yield defer.DeferredList(viewers)
        firsts.sort()
        edges.sort()
        delays.sort()
        target = max(targets) if targets else 1
        result.update({
            "streams": args.streams, "viewers_of_one_stream": args.viewers, "seconds": round(elapsed, 1),
            "packagers_started": p.live.stats.started, "packager_crashes": p.live.stats.process.crashes,
            "packagers_waited_for_a_start_slot": p.live.stats.start_waits,
            "first_segment_s": {"p50": round(percentile(firsts, 50), 2), "p90": round(percentile(firsts, 90), 2),
                                "max": round(firsts[-1], 2)} if firsts else None,
            "live_edge_latency_s": {"p50": round(percentile(edges, 50), 2), "p90": round(percentile(edges, 90), 2),
                                    "max": round(edges[-1], 2), "samples": len(edges)} if edges else None,
            "listing_delay_s": {"p50": round(percentile(delays, 50), 2), "p90": round(percentile(delays, 90), 2),
                                "max": round(delays[-1], 2)} if delays else None,
            "target_duration_s": target,
            "player_latency_estimate_s": round(statistics.median(delays) + 2 * target, 2) if delays else None,
            "packager_cpu_percent_per_stream": round(100 * used / elapsed / max(1, len(children)), 2),
            "packager_rss_kib_median": int(statistics.median(rss)) if rss else 0,
            "platform_process_cpu_percent": round(100 * own / elapsed, 1),
            "camera_process_cpu_percent": round(100 * cam / elapsed, 1),  # GStreamer: one encoder, N clients
            "machine_busy_cpu_seconds": round(machine_busy() - busy0, 1),
            "client_errors": len(errors),
        })
        if glass:
            result["glass_to_glass"] = summarise_glass(glass)

    @defer.inlineCallbacks
    def glass_round(dev_id, token, base, portal_port, live):
        """One stream read by ffmpeg (asap and -re) and the browser together, all starting at once: their first
        frame and latencies.  Cold: the stream was not running (they start its packager); warm: it was."""
        url = (base % dev_id) + "index.m3u8"
        readers = {}

        def start_ffmpeg():
            for mode in ("asap", "native"):
                reader = Reader()
                command = _glass.ffmpeg_command(shutil.which("ffmpeg"), url, token, mode == "native")
                reactor.spawnProcess(reader, command[0], command, env=dict(os.environ),
                                     childFDs={0: "w", 1: "r", 2: "r"})
                readers[mode] = reader

        t0 = time.time()
        browser = None
        if args.browser:
            def started():
                threads.blockingCallFromThread(reactor, start_ffmpeg)

            portal = "http://127.0.0.1:%d" % portal_port
            browser = threads.deferToThread(_glass.browser_round, portal, OPERATOR, PASSWORD, dev_id,
                                            args.warmup, args.latency_seconds, started)
            while not readers and not browser.called:
                yield task.deferLater(reactor, 0.05, lambda: None)
        else:
            start_ffmpeg()
        t0 = time.time()
        yield task.deferLater(reactor, args.warmup + args.latency_seconds, lambda: None)
        outcome = {}
        for mode, reader in readers.items():
            if reader.ended.called:
                outcome["ffmpeg_%s_exited" % mode] = reader.err.decode("utf-8", "replace")
            else:
                reader.transport.signalProcess("TERM")
            yield reader.ended
            window = sorted(lat for at, lat in reader.samples if at >= t0 + args.warmup)
            outcome["ffmpeg_" + mode] = dict(latency_figures(window), first_frame_s=rounded(reader.first),
                                             unread_frames=reader.unread)
        if browser is not None:
            try:
                seen = yield browser
            except Exception as e:
                outcome["browser"] = {"error": repr(e)}
            else:
                outcome["browser"] = dict(latency_figures(sorted(seen["latencies"])),
                                          first_frame_s=rounded(seen["first_frame_s"]),
                                          unread_frames=seen["unread"], stalls=seen["stalls"],
                                          dropped_frames=seen["dropped_frames"],
                                          display_minus_now_ms=seen["display_minus_now_ms"])
        return outcome

    def finish(outcome):
        for link in links:
            link.close()
        for listening in fronts:
            listening.stopListening()
        d = svc.stopService()
        d.addBoth(lambda _: reactor.stop())
        if not isinstance(outcome, dict) and outcome is not None and hasattr(outcome, "getTraceback"):
            result["error"] = outcome.getTraceback()

    reactor.callWhenRunning(lambda: main().addBoth(finish))
    reactor.run()
    if "error" not in result:
        result["by_hand"] = by_hand(camera_url, args.seconds, directory)
    camera.terminate()
    camera.wait(10)
    if not args.keep:
        shutil.rmtree(directory, ignore_errors=True)
    return result


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=20)
    parser.add_argument("--viewers", type=int, default=100, help="extra viewers of the first stream")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--bitrate", type=int, default=1000)
    parser.add_argument("--max-starting", type=int, default=0, help="[media] max_starting (default: the default)")
    parser.add_argument("--dsn", default="")
    parser.add_argument("--latency-runs", type=int, default=3,
                        help="glass-to-glass runs, each on a fresh stream, after the CPU window (default 3)")
    parser.add_argument("--latency-seconds", type=float, default=20.0, help="measured seconds of each run")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of each run before measuring")
    parser.add_argument("--join", default="cold,warm", type=lambda v: v.split(","),
                        help="cold: the readers start the stream; warm: they join it running (default: both, "
                             "one after the other on the same stream)")
    parser.add_argument("--no-browser", dest="browser", action="store_false",
                        help="glass-to-glass with ffmpeg only (no headless Chromium)")
    parser.add_argument("--json", help="write the figures here too")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data_dir and log")
    args = parser.parse_args(argv)
    if not shutil.which("ffmpeg"):
        sys.exit("ffmpeg is not installed: make system-deps")
    before = say_state("before")
    result = run(args)
    after = say_state("after")
    result["machine_state"] = {"before": before, "after": after}
    glass = result.get("glass_to_glass") or {}
    for join in ("cold", "warm"):
        for reader, figures in glass.get(join, {}).items():
            say("glass-to-glass, %s join, %s: %s" % (join, reader, "; ".join(
                "%s %s" % (key, describe_spread(figures[key], "%.2f", " s")) for key in figures)))
    result.update({"commit": git_commit(), "command": " ".join(["python", "bench/media.py", *(argv or sys.argv[1:])])})
    if "error" in result:
        say(result["error"])
        sys.exit(1)
    say(json.dumps(result, indent=1, ensure_ascii=False))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1, ensure_ascii=False)


if __name__ == "__main__":
    main()
