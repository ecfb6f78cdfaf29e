"""Recording at load (issue 16 "Measure": recording 50 channels at once, CPU and disk MB/s).

What one recorded channel costs the node, in two parts, each timed with the
children's own CPU (``getrusage(RUSAGE_CHILDREN)`` around them):

* **record**: N ffmpeg processes with exactly the recorder's arguments
  (``kandian.media.recorder``: RTSP over TCP, ``-c:v copy``, audio to AAC,
  the segment muxer into MPEG-TS pieces, the segment list on stdout) pull
  one GStreamer test camera (``kandian/sim/gst_camera.py``, 1280x720, 25 fps,
  ``--bitrate`` kbit/s) for ``--seconds``, cut into ``--segment``-second
  pieces.  Reported: CPU seconds per stream per second (a share of one
  core), the bytes written per second (MB/s, 10^6), pieces written.
* **close**: what the platform does to each finished piece
  (``kandian.media.tools``): ffprobe's packet list, the key frames moved back
  over their tables (:func:`kandian.media.vod.table_start`), the byte
  ranges, and the JPEG snapshot.  Reported: CPU seconds per piece and per
  recorded hour of one channel.

The relay in between (the recorder pulls through this node's relay) is the
relay benchmark's (bench/relay.py); the bookkeeping rows are a handful of
statements per piece.  The camera is shared by all N pulls (gst-rtsp-server
shares one pipeline), so N is bounded by what the machine's one encoder
feeds, not by the recorder.

    python bench/media_rec.py [--streams 50] [--seconds 60] [--segment 10] [--bitrate 2000] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from kandian.media import vod  # noqa: E402
from kandian.media.tools import _with_tables  # noqa: E402


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def start_camera(bitrate: int):
    camera = subprocess.Popen(["/usr/bin/python3", "-I", os.path.join(ROOT, "kandian", "sim", "gst_camera.py"),
                               "--address", "127.0.0.1", "--port", "0", "--width", "1280", "--height", "720",
                               "--fps", "25", "--bitrate", str(bitrate)], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = camera.stdout.readline()
        found = re.search(r"READY (rtsp://\S+)", line or "")
        if found:
            return camera, found.group(1)
    camera.kill()
    raise SystemExit("the camera did not get ready")


def record(url: str, streams: int, seconds: int, segment: int, folder: str):
    ffmpeg = shutil.which("ffmpeg")
    before = children_cpu()
    started = time.monotonic()
    procs = []
    for n in range(streams):
        os.makedirs(os.path.join(folder, str(n)))
        procs.append(subprocess.Popen(
            [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "warning", "-rtsp_transport", "tcp", "-timeout",
             "10000000", "-i", url, "-t", str(seconds), "-map", "0:v:0", "-map", "0:a:0?", "-c:v", "copy", "-c:a",
             "aac", "-b:a", "64k", "-f", "segment", "-segment_time", str(segment), "-segment_format", "mpegts",
             "-segment_list", "pipe:1", "-segment_list_type", "csv", "-reset_timestamps", "0",
             os.path.join(folder, str(n), "r_%04d.ts")], stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    outputs = [p.communicate() for p in procs]
    wall = time.monotonic() - started
    cpu = children_cpu() - before
    failed = [err.decode()[-300:] for p, (_, err) in zip(procs, outputs) if p.returncode != 0]
    pieces = [os.path.join(folder, str(n), line.split(",")[0]) for n, (out, _) in enumerate(outputs)
              for line in out.decode().splitlines() if line]
    written = sum(os.path.getsize(p) for p in pieces)
    return dict(streams=streams, seconds=seconds, wall=round(wall, 2), cpu=round(cpu, 2),
                cpu_share_per_stream=round(cpu / wall / streams, 4), mb_per_s=round(written / wall / 1e6, 2),
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
                        "-q:v", "5", "-f", "mjpeg", path[:-3] + ".jpg"], check=True)
        seconds += duration or 0.0
    cpu = children_cpu() - before + (time.process_time() - started)
    return dict(pieces=len(pieces), cpu=round(cpu, 2), cpu_per_piece=round(cpu / max(1, len(pieces)), 3),
                cpu_per_recorded_hour=round(cpu / max(seconds, 1e-9) * 3600, 2), recorded_seconds=round(seconds, 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--segment", type=int, default=10)
    parser.add_argument("--bitrate", type=int, default=2000)
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="kandian-bench-rec-")
    camera, url = start_camera(args.bitrate)
    try:
        recorded, pieces = record(url, args.streams, args.seconds, args.segment, folder)
        closed = close(pieces)
    finally:
        camera.terminate()
        camera.wait(10)
        shutil.rmtree(folder, ignore_errors=True)
    result = {"record": recorded, "close": closed, "load": os.getloadavg()}
    print(json.dumps(result, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
