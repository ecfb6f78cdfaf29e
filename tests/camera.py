"""Real RTSP peers for trial tests: a GStreamer camera and ffmpeg/ffprobe players.

The camera is ``kandian/sim/gst_camera.py`` run by Debian's system Python
(``/usr/bin/python3``, which has ``gi``; the virtualenv's does not). The
players are Debian's ``ffprobe`` and ``ffmpeg``, always over RTP interleaved
in the RTSP TCP connection (``-rtsp_transport tcp``), as the relay carries it.
``make test`` installs all of them (``make system-deps``); a missing one is a
test failure that names that target, never a skip.

Everything here is asynchronous (``reactor.spawnProcess``) and bounded in
time: a camera that never gets ready, or a player that hangs, is killed and
fails the test instead of hanging the suite::

    camera = yield start_camera(self)          # stopped by a cleanup
    probe = yield ffprobe(camera.url)           # PlayerResult(code, info, stderr)
    pull = yield ffmpeg_pull(camera.realplay_url("dev1", "tok"), frames=25)
"""

from __future__ import annotations

import json
import os
import re
import shutil
from typing import Any, NamedTuple
from urllib.parse import urlencode

from twisted.internet import defer, error, protocol, reactor, task
from twisted.python import failure

from tests import procs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CAMERA_SCRIPT = os.path.join(ROOT, "kandian", "sim", "gst_camera.py")
SYSTEM_PYTHON = "/usr/bin/python3"
INSTALL_HINT = "`make test` installs it (`make system-deps`, as root)"

_READY = re.compile(rb"READY (rtsp://\S+)\n")


def require(path_or_name: str) -> str:
    """The full path of a needed program, or a test failure naming the fix."""
    found = shutil.which(path_or_name)
    if found is None:
        raise AssertionError("%s is not installed: %s" % (path_or_name, INSTALL_HINT))
    return found


def descendants(pid: int) -> list[int]:
    """Live (non-zombie) processes below *pid*, read from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry, "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != b"Z":
            parents.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        children = parents.get(todo.pop(), [])
        found.extend(children)
        todo.extend(children)
    return found


def alive(pid: int) -> bool:
    """Whether *pid* is a live process (a zombie counts as gone)."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


class Camera:
    """A running ``gst_camera.py``; ``url`` is its stream, ``stop()`` ends it."""

    def __init__(self, child: procs.Child, url: str):
        self.child = child
        self.url = url
        self.pid: int = child.transport.pid
        match = re.match(r"rtsp://(\[[^]]+\]|[^:/]+):(\d+)(/.*)", url)
        assert match, url
        self.host = match.group(1)
        self.port = int(match.group(2))
        self.path = match.group(3)
        self.base = "rtsp://%s:%d" % (self.host, self.port)

    def realplay_url(self, devid: str, hashtoken: str, **params: Any) -> str:
        """The spec's device URL (§10): ``/realplay?devid=…&…&hashtoken=…``."""
        query = {"devid": devid, **params, "hashtoken": hashtoken}
        return "%s/realplay?%s" % (self.base, urlencode(query))

    @property
    def output(self) -> str:
        """What the camera printed so far (stdout and stderr)."""
        return self.child.output.decode("utf-8", "replace")

    @defer.inlineCallbacks
    def stop(self, timeout: float = 10):
        """SIGTERM, then wait; fires with the exit code. SIGKILL and fail on a hang."""
        if not self.child.ended.called:
            try:
                self.child.transport.signalProcess("TERM")
            except error.ProcessExitedAlready:
                pass
        try:
            code = yield _within(self.child.ended, timeout)
        except defer.TimeoutError as e:
            procs.kill(self.child)
            yield self.child.ended
            raise AssertionError("the camera did not stop within %s s of SIGTERM:\n%s"
                                 % (timeout, self.output)) from e
        return code


@defer.inlineCallbacks
def start_camera(testcase=None, *, width: int = 640, height: int = 360, fps: int = 25,
                 bitrate: int = 2000, path: str = "/stream", address: str = "127.0.0.1",
                 port: int = 0, timeout: float = 15, env: dict | None = None, recording: str | None = None,
                 clock: bool = False):
    """Start a camera and fire with a :class:`Camera` once it listens.

    With *testcase*, a cleanup stops it (and the test fails if it does not
    exit 0 on SIGTERM).  *recording*: an MP4 served, seekable, at ``/record``.
    *clock*: ``--clock``, each frame's making time burnt into its top rows
    (``kandian/sim/stamp.py``).
    """
    python = require(SYSTEM_PYTHON)
    args = [python, "-I", CAMERA_SCRIPT, "--address", address, "--port", str(port),
            "--path", path, "--width", str(width), "--height", str(height),
            "--fps", str(fps), "--bitrate", str(bitrate)]
    if recording is not None:
        args += ["--recording", recording]
    if clock:
        args.append("--clock")
    child = procs.spawn(args, env=env)
    child.transport.closeStdin()
    try:
        yield child.wait_for(b"READY ", timeout)
        line = _READY.search(child.output)
        for _ in range(100):  # the line comes in one write(); this is belt and braces
            if line is not None:
                break
            yield task.deferLater(reactor, 0.01, lambda: None)
            line = _READY.search(child.output)
        else:
            raise AssertionError("no whole READY line")
    except Exception as problem:
        procs.kill(child)
        yield child.ended
        text = child.output.decode("utf-8", "replace")
        if "No module named 'gi'" in text or "Namespace GstRtspServer not available" in text:
            raise AssertionError("GStreamer's RTSP server for Python is not installed: %s\n%s"
                                 % (INSTALL_HINT, text)) from problem
        raise AssertionError("the camera did not get ready (%r):\n%s" % (problem, text)) from problem
    camera = Camera(child, line.group(1).decode())
    if testcase is not None:
        testcase.addCleanup(_stop_cleanly, testcase, camera)
    return camera


@defer.inlineCallbacks
def _stop_cleanly(testcase, camera: Camera):
    code = yield camera.stop()
    testcase.assertEqual(code, 0, "camera exit status on SIGTERM (killed by signal %s):\n%s"
                         % (camera.child.signal, camera.output))


class PlayerResult(NamedTuple):
    """What a player run gave: exit code (None if killed), parsed info, stderr."""

    code: int | None
    info: Any
    stderr: str


class PlayerTimeout(AssertionError):
    """A player was still running at its deadline and was killed."""


class _Collect(protocol.ProcessProtocol):
    def __init__(self):
        self.out, self.err = [], []
        self.ended: defer.Deferred = defer.Deferred()

    def outReceived(self, data):
        self.out.append(data)

    def errReceived(self, data):
        self.err.append(data)

    def processEnded(self, reason):
        self.ended.callback(getattr(reason.value, "exitCode", None))


def _within(d: defer.Deferred, timeout: float) -> defer.Deferred:
    """A new Deferred with *d*'s outcome, or ``defer.TimeoutError`` after
    *timeout* s. *d* is not cancelled and keeps its result for later callers."""
    result: defer.Deferred = defer.Deferred()
    call = reactor.callLater(timeout, lambda: result.errback(defer.TimeoutError(timeout)))

    def done(outcome):
        if call.active():
            call.cancel()
            if isinstance(outcome, failure.Failure):
                result.errback(outcome)
                return None  # handed on: not an unhandled error of *d*
            result.callback(outcome)
        return outcome

    d.addBoth(done)
    return result


@defer.inlineCallbacks
def run_player(args: list[str], timeout: float):
    """Run *args* to completion; fires with (exit code, stdout bytes, stderr text).

    Past *timeout* seconds the player is killed and :class:`PlayerTimeout`
    raised, with what it printed.
    """
    player = _Collect()
    reactor.spawnProcess(player, args[0], args, env=dict(os.environ),
                         childFDs={0: "w", 1: "r", 2: "r"})
    player.transport.closeStdin()
    try:
        code = yield _within(player.ended, timeout)
    except defer.TimeoutError as e:
        try:
            player.transport.signalProcess("KILL")
        except error.ProcessExitedAlready:
            pass
        yield player.ended
        raise PlayerTimeout("%s hung for %s s and was killed: %s\nstderr:\n%s" % (
            os.path.basename(args[0]), timeout, " ".join(args),
            b"".join(player.err).decode("utf-8", "replace"))) from e
    return code, b"".join(player.out), b"".join(player.err).decode("utf-8", "replace")


@defer.inlineCallbacks
def ffprobe(url: str, timeout: float = 20, transport: str = "tcp"):
    """``ffprobe -show_streams`` of *url*; info is the parsed JSON (None on failure)."""
    args = [require("ffprobe"), "-rtsp_transport", transport, "-timeout", "10000000",
            "-v", "error", "-show_streams", "-of", "json", url]
    code, out, err = yield run_player(args, timeout)
    try:
        info = json.loads(out) if code == 0 else None
    except ValueError:
        info = None
    return PlayerResult(code, info, err)


@defer.inlineCallbacks
def ffmpeg_pull(url: str, frames: int = 25, timeout: float = 30, transport: str = "tcp",
                decode: bool = True):
    """Pull *frames* video frames from *url* with ffmpeg into the null muxer.

    ``decode=True`` decodes them (proof the H.264 is whole); ``False`` copies
    the packets (``-c copy``, nearly free, for load). ``info`` is the last
    ``-progress`` block as a dict plus ``frames`` (int) — the frames ffmpeg
    wrote.
    """
    args = [require("ffmpeg"), "-nostdin", "-hide_banner", "-v", "error",
            "-rtsp_transport", transport, "-timeout", "10000000", "-i", url,
            "-frames:v", str(frames)]
    if not decode:
        args += ["-c", "copy"]
    args += ["-f", "null", "-", "-progress", "pipe:1"]
    code, out, err = yield run_player(args, timeout)
    progress: dict[str, str] = {}
    for line in out.decode("utf-8", "replace").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            progress[key.strip()] = value.strip()
    info: dict[str, Any] = dict(progress)
    info["frames"] = int(progress["frame"]) if progress.get("frame", "").isdigit() else 0
    return PlayerResult(code, info, err)
