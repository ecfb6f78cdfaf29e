"""One frame of a live stream as a JPEG: the thumbnails and snapshots of the compatibility APIs (spec/001 §4.3,
§3.2's 32; PRODUCT.md "Media").

:meth:`FrameGrabber.grab` pulls the stream through the platform's own relay
(:meth:`kandian.core.media.Media.source_url`, as the packagers do) with a
short ffmpeg::

    ffmpeg -rtsp_transport tcp -i <source> -map 0:v:0 -frames:v 1 [-vf scale=W:H] -q:v Q -f mjpeg pipe:1

— the first decodable picture, scaled if asked.  At most *concurrency*
grabs run at once (more wait their turn), each killed past *timeout*
seconds (and, through ``setpriv --pdeathsig``, with the daemon); its output
is read from the pipe as it comes and capped at :data:`MAX_JPEG` bytes.  A
grab that fails is ``DeviceRefused`` (ffmpeg's last words logged once,
tokens blanked); the source's own refusals
(DeviceOffline, NoSuchChannel, StreamClosed …) pass as they are.
"""

from __future__ import annotations

import os
import shutil

from twisted.internet import defer, protocol
from twisted.logger import Logger

from ..core import errors
from ..logs import peer_text
from .process import redact

log = Logger()

MAX_JPEG = 8 * 1024 * 1024


class _Grab(protocol.ProcessProtocol):
    def __init__(self):
        self.out: list[bytes] = []
        self.err: list[bytes] = []
        self.size = 0
        self.too_big = False
        self.ended: defer.Deferred = defer.Deferred()

    def childDataReceived(self, fd, data):
        if fd == 1:
            self.size += len(data)
            if self.size > MAX_JPEG:
                self.too_big = True
                _kill(self)
                return
            self.out.append(data)
        elif sum(map(len, self.err)) < 4096:
            self.err.append(data)

    def processEnded(self, reason):
        self.ended.callback(getattr(reason.value, "exitCode", None))


def _kill(job: _Grab) -> None:
    try:
        job.transport.signalProcess("KILL")
    except Exception:  # gone already
        pass


def quality_scale(quality: int) -> int:
    """ffmpeg's MJPEG ``-q:v`` (2 best … 31 worst) for a quality of 1 (worst) … 100 (best)."""
    return round(31 - (max(1, min(100, quality)) - 1) * 29 / 99)


class FrameGrabber:
    def __init__(self, media, reactor, *, ffmpeg: str = "ffmpeg", concurrency: int = 2, timeout: float = 15.0,
                 clock=None):
        """*media*: :class:`kandian.core.media.Media`; *reactor* spawns the processes, *clock* (the reactor by
        default) times them out."""
        self.media = media
        self.reactor = reactor
        self.clock = clock if clock is not None else reactor
        self.ffmpeg = ffmpeg
        self.timeout = timeout
        self.limit = defer.DeferredSemaphore(concurrency)
        self.grabs = 0
        self.failures = 0
        # as the media layer's supervised children: killed with the daemon, even by SIGKILL
        self.setpriv = shutil.which("setpriv")

    def grab(self, dev_id: str, channel_no: int, stream_type: int = 1, *, width: int | None = None,
             height: int | None = None, quality: int = 90) -> defer.Deferred:
        """JPEG bytes of one frame of the stream."""
        return self.limit.run(self._grab, dev_id, channel_no, stream_type, width, height, quality)

    @defer.inlineCallbacks
    def _grab(self, dev_id, channel_no, stream_type, width, height, quality):
        url = yield self.media.source_url(dev_id, channel_no, stream_type)
        args = [self.ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-rtsp_transport", "tcp",
                "-timeout", str(int(self.timeout * 1_000_000)), "-i", url, "-map", "0:v:0", "-frames:v", "1"]
        if width or height:
            args += ["-vf", "scale=%d:%d" % (width or -2, height or -2)]
        args += ["-q:v", str(quality_scale(quality)), "-f", "mjpeg", "pipe:1"]
        if self.setpriv:
            args = [self.setpriv, "--pdeathsig", "KILL", "--", *args]
        job = _Grab()
        self.grabs += 1
        self.reactor.spawnProcess(job, args[0], args, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
                                  childFDs={0: "w", 1: "r", 2: "r"})
        job.transport.closeStdin()
        timer = self.clock.callLater(self.timeout, _kill, job)
        code = yield job.ended
        if timer.active():
            timer.cancel()
        data = b"".join(job.out)
        if code != 0 or job.too_big or not data.startswith(b"\xff\xd8"):
            self.failures += 1
            why = " ".join(b"".join(job.err).decode("utf-8", "replace").split())[-300:] or "exit status %s" % code
            log.warn("frame grab of {dev_id} channel {channel} failed: {why}", dev_id=dev_id, channel=channel_no,
                     why=peer_text(redact(why)))
            raise errors.DeviceRefused("no picture from the stream")
        return data
