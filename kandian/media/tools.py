"""Short ffmpeg/ffprobe jobs on recorded pieces: index, snapshot, MP4 remux, removal (PRODUCT.md "Media").

:class:`RecordingTools` is the core's :class:`kandian.core.interfaces.IRecordingTools`.
Each job is a child process on the reactor (``spawnProcess``, output
collected up to :data:`MAX_OUTPUT`), at most *concurrency* at once (a burst
of pieces finishing together waits its turn), killed past *timeout*
seconds.  File reads and unlinks of whole files go to the reactor's thread
pool; the few hundred bytes read before each key frame
(:func:`kandian.media.vod.table_start`) too.  ffmpeg's own words on a
failure are logged once per job, truncated.
"""

from __future__ import annotations

import os

from twisted.internet import defer, error, protocol, threads
from twisted.logger import Logger
from zope.interface import implementer

from ..core import errors
from ..core.interfaces import IRecordingTools
from ..logs import peer_text
from . import vod

log = Logger()

MAX_OUTPUT = 64 * 1024 * 1024  # ffprobe's packet list of a long piece; past it the job fails


class JobFailed(Exception):
    pass


class _Job(protocol.ProcessProtocol):
    def __init__(self):
        self.out: list[bytes] = []
        self.err: list[bytes] = []
        self.size = 0
        self.ended: defer.Deferred = defer.Deferred()

    def childDataReceived(self, fd, data):
        self.size += len(data)
        if self.size > MAX_OUTPUT:
            _kill(self)
            return
        (self.out if fd == 1 else self.err).append(data)

    def processEnded(self, reason):
        self.ended.callback(getattr(reason.value, "exitCode", None))


@implementer(IRecordingTools)
class RecordingTools:
    def __init__(self, reactor, *, ffmpeg: str = "ffmpeg", ffprobe: str = "ffprobe", concurrency: int = 2,
                 timeout: float = 300.0):
        self.reactor = reactor
        self.ffmpeg = ffmpeg
        self.ffprobe = ffprobe
        self.timeout = timeout
        self.limit = defer.DeferredSemaphore(concurrency)
        self.jobs = 0
        self.failures = 0

    def _run(self, args: list[str]) -> defer.Deferred:
        return self.limit.run(self._spawn, args)

    @defer.inlineCallbacks
    def _spawn(self, args: list[str]):
        job = _Job()
        self.jobs += 1
        self.reactor.spawnProcess(job, args[0], args, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
                                  childFDs={0: "w", 1: "r", 2: "r"})
        job.transport.closeStdin()
        timer = self.reactor.callLater(self.timeout, _kill, job)
        code = yield job.ended
        if timer.active():
            timer.cancel()
        out, err = b"".join(job.out), b"".join(job.err).decode("utf-8", "replace")
        if code != 0:
            self.failures += 1
            why = " ".join(err.split())[-300:] or "exit status %s" % (code,)
            log.warn("{tool} failed on {path}: {why}", tool=os.path.basename(args[0]), path=args[-1],
                     why=peer_text(why))
            raise JobFailed(why)
        return out

    # -- IRecordingTools

    @defer.inlineCallbacks
    def index(self, path: str):
        out = yield self._run([self.ffprobe, "-v", "error", "-select_streams", "v:0", "-show_entries",
                               "packet=pts_time,pos,flags:format=duration", "-of", "compact", path])
        keys, duration = vod.parse_packets(out.decode("utf-8", "replace"))
        keys, size = yield threads.deferToThreadPool(self.reactor, self.reactor.getThreadPool(),
                                                     _with_tables, path, keys)
        return vod.segments(keys, size, duration), duration or 0.0

    @defer.inlineCallbacks
    def snapshot(self, path: str, jpeg_path: str):
        partial = jpeg_path + ".part"
        try:
            yield self._run([self.ffmpeg, "-nostdin", "-v", "error", "-y", "-i", path, "-map", "0:v:0",
                             "-frames:v", "1", "-q:v", "5", "-f", "mjpeg", partial])
        except JobFailed:
            yield self.remove([partial])
            return False
        yield threads.deferToThreadPool(self.reactor, self.reactor.getThreadPool(), os.replace, partial,
                                        jpeg_path)
        return True

    @defer.inlineCallbacks
    def remux(self, path: str, mp4_path: str):
        partial = mp4_path + ".part"
        try:
            yield self._run([self.ffmpeg, "-nostdin", "-v", "error", "-y", "-i", path, "-map", "0", "-c", "copy",
                             "-movflags", "+faststart", "-f", "mp4", partial])
        except JobFailed as e:
            yield self.remove([partial])
            raise errors.RecordingUnavailable("could not make an MP4: %s" % (e,)) from None
        yield threads.deferToThreadPool(self.reactor, self.reactor.getThreadPool(), os.replace, partial, mp4_path)

    def remove(self, paths):
        return threads.deferToThreadPool(self.reactor, self.reactor.getThreadPool(), _unlink_all, list(paths))

    def size(self, path: str):
        try:
            return defer.succeed(os.stat(path).st_size)
        except OSError:
            return defer.succeed(None)


def _kill(job: _Job) -> None:
    try:
        job.transport.signalProcess("KILL")
    except error.ProcessExitedAlready:
        pass


def _with_tables(path: str, keys):
    """(keys moved back over the tables before each, the file's size) — in a thread."""
    window = vod.MAX_TABLES * vod.TS
    moved = []
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        for seconds, pos in keys:
            start = max(0, pos - window)
            f.seek(start)
            moved.append((seconds, vod.table_start(f.read(pos - start), pos)))
    return moved, size


def _unlink_all(paths) -> None:
    for path in paths:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
