"""Recording at load (issue 16 "Measure": recording 50 channels at once, CPU and disk MB/s).

One GStreamer test camera (``kandian/sim/gst_camera.py``, 1280x720, 25 fps,
``--bitrate`` kbit/s) feeds every part of one run:

* **platform**: the real thing.  A platform child process (the real
  ``KandianService``, real PostgreSQL: the embedded default under a
  temporary ``data_dir``, or ``--dsn``) with ``--streams`` devices
  provisioned; a devices child process runs that many simulated devices
  (the shipped simulator's link, §7.5.5 token checks over it) each with its
  own RTSP front (``kandian.sim.camera``) on the one camera.  Once all are
  online the platform child sets a recording window in progress on each
  device's channel 0, and the recorder (``kandian.media.recorder``) starts
  one ffmpeg per channel pulling through the platform's own RTSP relay
  (one-time tokens) and cutting ``--segment``-second MPEG-TS pieces, each
  closed (indexed, snapshot) as it ends.  After ``--warmup`` s with all N
  recording, a ``--seconds`` window measures, from ``/proc``: the platform
  process's CPU (relay, recorder bookkeeping, the store's client) and its
  recorder ffmpegs' CPU, as a share of one core per stream; the bytes the
  pieces grew by (MB/s, 10^6); the devices child's and the camera's CPU
  (the load generator, not the platform's cost).  Then the recorder is
  stopped (each ffmpeg finishes its piece, which is closed) and the pieces
  counted; time from the windows being set to all N recording is reported.
* **direct**: the baseline of the same run, ``ffmpeg`` by hand: N ffmpeg
  processes with exactly the recorder's arguments pull the camera itself
  (no relay, no device) for ``--seconds``; CPU per stream, MB/s.
* **close**: what the platform does to each finished piece
  (``kandian.media.tools``): ffprobe's packet list, the key frames moved back
  over their tables (:func:`kandian.media.vod.table_start`), the byte
  ranges, and the JPEG snapshot, run here on the direct part's pieces (or
  the platform's, with ``--only platform``).  Reported: CPU seconds per
  piece and per recorded hour of one channel.

The camera is shared by all pulls (gst-rtsp-server shares one pipeline).
The machine's other load is reported beside each window (CPU seconds the
whole machine was busy, all cores, against what this run's processes used)
so a disturbed run shows as one.

    python bench/media_rec.py [--streams 50] [--seconds 60] [--warmup 5] [--segment 10] [--bitrate 2000]
        [--only platform|direct] [--dsn DSN] [--json PATH] [--keep]

A short check that it all works:
``python bench/media_rec.py --streams 2 --seconds 6 --segment 2 --warmup 2 --bitrate 500``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from kandian.media import vod  # noqa: E402
from kandian.media.tools import _with_tables  # noqa: E402

from _measure import CLK_TCK, die_with_parent, git_commit, machine_busy, proc_stat, say  # noqa: E402

FIRST_DEVID = 81100000000
MIN_FREE = "100M"  # [media] min_free of the platform child


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def cpu_of(pid) -> float | None:
    """utime + stime of *pid* in seconds, None when it is gone."""
    fields = proc_stat(pid)
    return (int(fields[11]) + int(fields[12])) / CLK_TCK if fields else None


def start_camera(bitrate: int):
    camera = subprocess.Popen(["/usr/bin/python3", "-I", os.path.join(ROOT, "kandian", "sim", "gst_camera.py"),
                               "--address", "127.0.0.1", "--port", "0", "--width", "1280", "--height", "720",
                               "--fps", "25", "--bitrate", str(bitrate)], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, preexec_fn=die_with_parent)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = camera.stdout.readline()
        found = re.search(r"READY (rtsp://\S+)", line or "")
        if found:
            return camera, found.group(1)
    camera.kill()
    raise SystemExit("the camera did not get ready")


def _write_json(path: str, data) -> None:
    with open(path + ".tmp", "w") as f:
        json.dump(data, f)
    os.replace(path + ".tmp", path)


def _wait_for(path: str, procs: list[subprocess.Popen], timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path):
            with open(path) as f:
                return json.load(f)
        for proc in procs:
            if proc.poll() is not None:
                raise SystemExit("a child process died (exit %s); see the logs in %s"
                                 % (proc.returncode, os.path.dirname(path)))
        time.sleep(0.05)
    raise SystemExit("%s did not appear within %d s; see the logs in %s" % (os.path.basename(path), timeout,
                                                                          os.path.dirname(path)))


def folder_bytes(folder: str) -> int:
    """Bytes of the MPEG-TS pieces under *folder* (snapshots not counted)."""
    total = 0
    for where, _, files in os.walk(folder):
        for name in files:
            if not name.endswith(".ts"):
                continue
            try:
                total += os.path.getsize(os.path.join(where, name))
            except OSError:
                pass  # a file renamed or deleted meanwhile
    return total


# -- the platform part: its two child processes ---------------------------------------------------------------


def ffmpeg_children(pid: int) -> dict[int, float]:
    """CPU seconds of each ffmpeg below *pid* (setpriv execs ffmpeg in its own process)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = proc_stat(entry)
            if fields:
                parents.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = {}, [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            todo.append(child)
            try:
                with open("/proc/%d/cmdline" % child, "rb") as f:
                    argv0 = f.read().split(b"\0")[0]
            except OSError:
                continue
            if os.path.basename(argv0) == b"ffmpeg":
                cpu = cpu_of(child)
                if cpu is not None:
                    found[child] = cpu
    return found


def run_platform(reactor, args):
    """The platform child: KandianService, N devices provisioned, windows set once they are online, then measured."""
    import datetime

    from twisted.internet import defer, task
    from twisted.logger import globalLogBeginner, textFileLogObserver

    from kandian import config
    from kandian.service import KandianService

    directory = args.platform_child
    log = open(os.path.join(directory, "kandian.log"), "w")  # noqa: SIM115 (open for the process's life)
    globalLogBeginner.beginLoggingTo([textFileLogObserver(log)], redirectStandardIO=False)
    root = os.path.join(directory, "files")
    text = ("[platform]\ndata_dir = %s\n[database]\ndsn = %s\n[files]\nroot = %s\n"
            "[media]\nsegment_seconds = %d\nmin_free = %s\n"
            % (os.path.join(directory, "var"), args.dsn, root, args.segment, MIN_FREE))
    for name in ("device", "register", "mcu", "rtsp", "admin", "ftp", "portal"):
        text += "[%s]\nlisten = tcp:0:interface=127.0.0.1\n" % name  # no fixed port another process may hold
    svc = KandianService(config.parse(text, "bench.ini", reactor), reactor, tune_gc=True)
    reactor.addSystemEventTrigger("before", "shutdown", lambda: svc.stopService() if svc.running else None)

    def sleep(seconds):
        return task.deferLater(reactor, seconds, lambda: None)

    @defer.inlineCallbacks
    def until(check, what, timeout):
        deadline = reactor.seconds() + timeout
        while True:
            value = yield defer.maybeDeferred(check)
            if value:
                return value
            if reactor.seconds() > deadline:
                raise SystemExit("the platform child: %s did not happen within %d s" % (what, timeout))
            yield sleep(0.1)

    @defer.inlineCallbacks
    def main():
        svc.startService()
        yield svc.ready
        p = svc.platform
        n = args.streams
        yield p.db.runOperation(
            "INSERT INTO device (dev_id, dev_key, model, manufacturer_no, channel_num)"
            " SELECT n::text, 'key-' || n, 'DS-2CD2', '811', 1 FROM generate_series(%s, %s) n",
            (FIRST_DEVID, FIRST_DEVID + n - 1))
        yield p.db.runOperation("INSERT INTO channel (dev_id, channel_no) SELECT dev_id, 0 FROM device")
        _write_json(os.path.join(directory, "platform.json"),
                    {"pid": os.getpid(), "device_port": svc.listeners["device"].port.getHost().port})

        def online():
            return p.db.runQuery("SELECT count(*) FROM device WHERE online").addCallback(lambda r: r[0][0] == n)
        yield until(online, "all devices online", 300)

        # a window in progress on every channel, long enough for the warm-up, the measure and the stop
        now = reactor.seconds()
        local = datetime.datetime.fromtimestamp(now, p.config.platform.timezone)
        second = local.hour * 3600 + local.minute * 60 + local.second
        start, end = max(0, second - 60), second + args.warmup + args.seconds + 180
        if end > 86399:
            raise SystemExit("too close to midnight for a recording window (no window across midnight): run later")
        windows_set = time.monotonic()
        for k in range(n):
            yield p.store.recordings.add_schedule(str(FIRST_DEVID + k), 0, (local.weekday() + 1) % 7, start,
                                                  end - start, now)
        yield p.recorder.plan()
        recorder = p.recorder
        yield until(lambda: recorder.active == n and len(ffmpeg_children(os.getpid())) == n, "all recording", 120)
        all_recording = time.monotonic() - windows_set
        yield sleep(args.warmup)

        def sample():
            usage = resource.getrusage(resource.RUSAGE_SELF)
            return dict(t=time.monotonic(), own=usage.ru_utime + usage.ru_stime,
                        ffmpeg=ffmpeg_children(os.getpid()), bytes=folder_bytes(root), busy=machine_busy())
        first = sample()
        crashes = recorder.stats.process.crashes
        _write_json(os.path.join(directory, "window.json"), {"start": first["t"]})
        yield sleep(args.seconds)
        last = sample()
        _write_json(os.path.join(directory, "window-end.json"), {"end": last["t"]})
        wall = last["t"] - first["t"]
        kept = [pid for pid in first["ffmpeg"] if pid in last["ffmpeg"]]
        ffmpeg_cpu = sum(last["ffmpeg"][pid] - first["ffmpeg"][pid] for pid in kept)
        own_cpu = last["own"] - first["own"]
        stopping = time.monotonic()
        yield recorder.stop()
        stop_seconds = time.monotonic() - stopping
        rows = yield p.db.runQuery("SELECT count(*), count(*) FILTER (WHERE complete), coalesce(sum(size), 0),"
                                   " coalesce(sum(duration), 0) FROM recording")
        pieces, complete, size, recorded = int(rows[0][0]), int(rows[0][1]), int(rows[0][2]), float(rows[0][3])
        _write_json(os.path.join(directory, "result.json"), dict(
            streams=n, seconds=round(wall, 2), time_to_all_recording=round(all_recording, 2),
            ffmpeg_streams_measured=len(kept), crashes_in_window=recorder.stats.process.crashes - crashes,
            platform_cpu=round(own_cpu, 3), ffmpeg_cpu=round(ffmpeg_cpu, 3),
            platform_cpu_share_per_stream=round(own_cpu / wall / n, 4),
            ffmpeg_cpu_share_per_stream=round(ffmpeg_cpu / wall / max(1, len(kept)), 4),
            cpu_share_per_stream=round((own_cpu + ffmpeg_cpu) / wall / n, 4),
            mb_per_s=round((last["bytes"] - first["bytes"]) / wall / 1e6, 2),
            machine_busy_cores=round((last["busy"] - first["busy"]) / wall, 2),
            recorder_stop_seconds=round(stop_seconds, 2), pieces=pieces, pieces_complete=complete,
            recorded_seconds=round(recorded, 1), recorded_mb=round(size / 1e6, 1), files=root))

    return main()


def run_devices(reactor, args):
    """The devices child: N simulated devices, each with its RTSP front on the one camera."""
    from twisted.internet import defer
    from twisted.internet.endpoints import TCP4ServerEndpoint
    from twisted.logger import globalLogBeginner, textFileLogObserver

    from kandian.sim.camera import camera_front
    from kandian.sim.link import connect_device
    from kandian.sim.state import Addresses, DeviceState

    directory = args.devices_child
    log = open(os.path.join(directory, "devices.log"), "w")  # noqa: SIM115 (open for the process's life)
    globalLogBeginner.beginLoggingTo([textFileLogObserver(log)], redirectStandardIO=False)
    with open(os.path.join(directory, "platform.json")) as f:
        device_port = json.load(f)["device_port"]
    links = []
    reactor.addSystemEventTrigger("before", "shutdown", lambda: [link.close() for link in links])

    @defer.inlineCallbacks
    def one(k):
        dev_id = str(FIRST_DEVID + k)
        front = camera_front(reactor, None, args.camera)
        port = yield TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(front)
        state = DeviceState(dev_id, "key-" + dev_id, addresses=Addresses(LocalIP="127.0.0.1",
                                                                        RtspLocalPort=port.getHost().port))
        link = yield connect_device(reactor, ("127.0.0.1", device_port), state)
        links.append(link)
        front.authorizer.link = link
        yield link.logged_in()
        yield link.report_ability()

    @defer.inlineCallbacks
    def main():
        yield defer.gatherResults([one(k) for k in range(args.streams)], consumeErrors=True)
        _write_json(os.path.join(directory, "devices.json"), {"pid": os.getpid()})
        yield defer.Deferred()

    return main()


def spawn_child(*child) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, os.path.abspath(__file__), *child], preexec_fn=die_with_parent,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def through_platform(url: str, camera_pid: int, args, directory: str) -> dict:
    common = ["--streams", str(args.streams), "--seconds", str(args.seconds), "--warmup", str(args.warmup),
              "--segment", str(args.segment)]
    platform = spawn_child("--platform-child", directory, *common, *(["--dsn", args.dsn] if args.dsn else []))
    procs = [platform]
    try:
        _wait_for(os.path.join(directory, "platform.json"), procs, 300)
        devices = spawn_child("--devices-child", directory, "--camera", url, *common)
        procs.append(devices)
        started = _wait_for(os.path.join(directory, "devices.json"), procs, 300)
        _wait_for(os.path.join(directory, "window.json"), procs, 300)
        side = {"devices": cpu_of(started["pid"]), "camera": cpu_of(camera_pid)}
        _wait_for(os.path.join(directory, "window-end.json"), procs, args.seconds + 60)
        side = {k: cpu_of(pid) - side[k] for k, pid in (("devices", started["pid"]), ("camera", camera_pid))}
        result = _wait_for(os.path.join(directory, "result.json"), procs, 300)
        result["load_generator_cpu"] = {k: round(v, 3) for k, v in side.items()}
        return result
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(60)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


# -- the direct part and the per-piece close ------------------------------------------------------------------


def record(url: str, streams: int, seconds: int, segment: int, folder: str):
    ffmpeg = shutil.which("ffmpeg")
    before, busy = children_cpu(), machine_busy()
    started = time.monotonic()
    procs = []
    for n in range(streams):
        os.makedirs(os.path.join(folder, str(n)))
        procs.append(subprocess.Popen(
            [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "warning", "-rtsp_transport", "tcp", "-timeout",
             "10000000", "-i", url, "-t", str(seconds), "-map", "0:v:0", "-map", "0:a:0?", "-c:v", "copy", "-c:a",
             "aac", "-b:a", "64k", "-f", "segment", "-segment_time", str(segment), "-segment_format", "mpegts",
             "-segment_list", "pipe:1", "-segment_list_type", "csv", "-reset_timestamps", "0",
             os.path.join(folder, str(n), "r_%04d.ts")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            preexec_fn=die_with_parent))
    outputs = [p.communicate() for p in procs]
    wall = time.monotonic() - started
    cpu = children_cpu() - before
    failed = [err.decode()[-300:] for p, (_, err) in zip(procs, outputs) if p.returncode != 0]
    pieces = [os.path.join(folder, str(n), line.split(",")[0]) for n, (out, _) in enumerate(outputs)
              for line in out.decode().splitlines() if line]
    written = sum(os.path.getsize(p) for p in pieces)
    return dict(streams=streams, seconds=seconds, wall=round(wall, 2), cpu=round(cpu, 2),
                cpu_share_per_stream=round(cpu / wall / streams, 4), mb_per_s=round(written / wall / 1e6, 2),
                machine_busy_cores=round((machine_busy() - busy) / wall, 2),
                pieces=len(pieces), failed=len(failed), errors=failed[:3]), pieces


def close(pieces: list[str]):
    ffprobe, ffmpeg = shutil.which("ffprobe"), shutil.which("ffmpeg")
    before = children_cpu()
    started = time.process_time()
    seconds = 0.0
    for path in pieces:
        out = subprocess.run([ffprobe, "-v", "error", "-select_streams", "v:0", "-show_entries",
                              "packet=pts_time,pos,flags:format=duration", "-of", "compact", path],
                             capture_output=True, check=True).stdout.decode()
        keys, duration = vod.parse_packets(out)
        keys, size = _with_tables(path, keys)
        vod.segments(keys, size, duration)
        subprocess.run([ffmpeg, "-nostdin", "-v", "error", "-y", "-i", path, "-map", "0:v:0", "-frames:v", "1",
                        "-q:v", "5", "-f", "mjpeg", path[:-3] + ".bench.jpg"], check=True)
        seconds += duration or 0.0
    cpu = children_cpu() - before + (time.process_time() - started)
    return dict(pieces=len(pieces), cpu=round(cpu, 2), cpu_per_piece=round(cpu / max(1, len(pieces)), 3),
                cpu_per_recorded_hour=round(cpu / max(seconds, 1e-9) * 3600, 2), recorded_seconds=round(seconds, 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--segment", type=int, default=10)
    parser.add_argument("--bitrate", type=int, default=2000)
    parser.add_argument("--only", choices=("platform", "direct"))
    parser.add_argument("--dsn", default="")
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, pieces)")
    parser.add_argument("--platform-child", metavar="DIR", help=argparse.SUPPRESS)
    parser.add_argument("--devices-child", metavar="DIR", help=argparse.SUPPRESS)
    parser.add_argument("--camera", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.platform_child or args.devices_child:
        from twisted.internet import task
        run = run_platform if args.platform_child else run_devices
        return task.react(lambda reactor: run(reactor, args))

    folder = tempfile.mkdtemp(prefix="kandian-bench-rec-")
    camera, url = start_camera(args.bitrate)
    result: dict = {"commit": git_commit(), "streams": args.streams, "seconds": args.seconds,
                    "segment": args.segment, "bitrate_kbit": args.bitrate}
    try:
        pieces: list[str] = []
        if args.only != "direct":
            os.makedirs(os.path.join(folder, "platform"))
            result["platform"] = through_platform(url, camera.pid, args, os.path.join(folder, "platform"))
            pieces = sorted(os.path.join(where, name) for where, _, names in os.walk(result["platform"]["files"])
                            for name in names if name.endswith(".ts"))
        if args.only != "platform":
            result["direct"], pieces = record(url, args.streams, args.seconds, args.segment,
                                              os.path.join(folder, "direct"))
        result["close"] = close(pieces)
    finally:
        camera.terminate()
        camera.wait(10)
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    result["load"] = os.getloadavg()
    say(json.dumps(result, indent=1))
    p, d = result.get("platform"), result.get("direct")
    if p:
        say("platform: %d streams through the relay, %.3f of a core per stream (platform %.3f + ffmpeg %.3f),"
            " %.2f MB/s, all recording %.1f s after the windows were set; machine busy %.2f cores;"
            " %d recorder ffmpegs ran the whole window, %d exited during it%s"
            % (p["streams"], p["cpu_share_per_stream"], p["platform_cpu_share_per_stream"],
               p["ffmpeg_cpu_share_per_stream"], p["mb_per_s"], p["time_to_all_recording"], p["machine_busy_cores"],
               p["ffmpeg_streams_measured"], p["crashes_in_window"],
               "" if not p["crashes_in_window"] else " (NOT every channel recorded throughout: see kandian.log)"))
    if d:
        say("direct:   %d ffmpeg by hand, %.3f of a core per stream, %.2f MB/s; machine busy %.2f cores"
            % (d["streams"], d["cpu_share_per_stream"], d["mb_per_s"], d["machine_busy_cores"]))
    if args.keep:
        say("kept: %s" % folder)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
