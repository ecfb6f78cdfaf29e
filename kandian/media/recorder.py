"""The platform recorder: schedules in, ffmpeg out, one piece after another (PRODUCT.md "Media").

:class:`Recorder` looks at the schedules (:mod:`kandian.core.schedules`)
when it starts, when one changes (a window in progress starts recording at
once), at the next window boundary and every *resync* seconds (changes made
by ``kandianctl`` or another node), all on the domain clock.  Each channel
inside a window is a :class:`ChannelRecording`: one ffmpeg
(:class:`kandian.media.process.Supervisor`) pulling the main stream through
this node's own relay (:meth:`kandian.core.media.Media.source_url`, a
one-time token per run) and cutting it with the segment muxer into pieces of
``[media] segment_seconds`` (MPEG-TS, copied, audio made AAC).  The muxer
names each finished piece on its stdout (``-segment_list pipe:1``, CSV):
the next one's row is begun, then that piece closed — indexed, its snapshot
made, marked complete (:meth:`kandian.core.recordings.Recordings.close`) —
so a piece being written is always listed.  Bookkeeping of one channel runs
in order (one Deferred chain).

A channel starts recording only while its device is online on this node
(every node looks at every window; the one its camera is linked to records
it); one that is not is looked at again at the next resync.  A crash
restarts ffmpeg with backoff (a new run: new files, new rows), a camera
going offline is tried again until the window ends, and a full disk or a
write error — free space under ``[media] min_free`` before a piece, or
ffmpeg saying so — ends that channel's recording for the rest of its window
with a ``device_exception`` row (:data:`kandian.core.recordings.RECORDING_FAILED`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable

import attrs
from twisted.internet import defer, task
from twisted.logger import Logger
from twisted.python.failure import Failure

from ..core import errors
from ..core.schedules import occurrences
from .process import ProcessStats, Supervisor

log = Logger()

STREAM_TYPE = 1  # the main stream (§8.7)
WRITE_ERRORS = re.compile(r"No space left on device|Disk quota exceeded|Input/output error|Read-only file system"
                          r"|File too large|Permission denied")
LOOKAHEAD = 8 * 86400.0


class DiskFull(Exception):
    """Less free space under [files] root than [media] min_free."""


class RecorderStats:
    def __init__(self):
        self.process = ProcessStats()
        self.pieces = 0  # pieces closed (complete)
        self.failures = 0  # recordings ended by a full disk or a write error
        self.runs = 0  # ffmpeg runs begun (a run is a row's run_id)



@attrs.define
class _Piece:
    path: str
    started_at: float
    recording_id: int | None = None


class ChannelRecording:
    """One channel recorded while its window lasts (see the module docstring)."""

    def __init__(self, recorder: Recorder, dev_id: str, channel_no: int, schedule_id: int, until: float):
        self.recorder = recorder
        self.dev_id = dev_id
        self.channel_no = channel_no
        self.schedule_id = schedule_id
        self.until = until
        self.failed: str | None = None
        self.pattern: str | None = None
        self.run_id: int | None = None
        self.seq = 0
        self.current: _Piece | None = None
        self._chain: defer.Deferred = defer.succeed(None)
        self.supervisor = Supervisor(
            "recording %s/%d" % (dev_id, channel_no), self._command, recorder.reactor, retry=self._retry,
            on_ended=self._ended, on_output=self._output, grace=recorder.grace, max_delay=60.0,
            stats=recorder.stats.process)

    def __repr__(self):
        return "<ChannelRecording %s/%d until %s %s>" % (self.dev_id, self.channel_no, self.until,
                                                         self.supervisor.state)

    def start(self) -> None:
        self.supervisor.start()

    # -- one run: the command, its pieces

    @defer.inlineCallbacks
    def _command(self):
        yield self._chain  # the last run's pieces are closed first
        self.recorder.check_space()
        core = self.recorder.core
        url = yield core.media.source_url(self.dev_id, self.channel_no, STREAM_TYPE)
        now = self.recorder.clock.seconds()
        self.pattern = core.recordings.run_pattern(self.dev_id, self.channel_no, now)
        absolute = core.recordings.layout.absolute(self.pattern)
        os.makedirs(os.path.dirname(absolute), exist_ok=True)
        self.run_id, self.seq = None, 0
        piece = _Piece(self.pattern % 0, now)
        piece.recording_id = yield core.recordings.begin(self.dev_id, self.channel_no, STREAM_TYPE,
                                                         self.schedule_id, None, 0, piece.path, now)
        self.run_id = piece.recording_id
        self.current = piece
        if self.supervisor.state != "starting":  # stopped while the row was being begun: nothing will be spawned
            self._close_current()
        self.recorder.stats.runs += 1
        return [self.recorder.ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "warning",
                "-rtsp_transport", "tcp", "-timeout", "10000000", "-i", url,
                "-map", "0:v:0", "-map", "0:a:0?", "-c:v", "copy", "-c:a", "aac", "-b:a", "64k",
                "-f", "segment", "-segment_time", str(self.recorder.segment_seconds), "-segment_format", "mpegts",
                "-segment_list", "pipe:1", "-segment_list_type", "csv", "-reset_timestamps", "0",
                "-segment_start_number", "0", absolute]

    def _output(self, fd: int, line: str) -> None:
        if fd != 1 or self.current is None:
            return
        name, _, times = line.partition(",")
        start, _, end = times.partition(",")
        try:
            seconds = float(end) - float(start)
        except ValueError:
            log.warn("recording {dev}/{ch}: not a segment list line: {line}", dev=self.dev_id, ch=self.channel_no,
                     line=line[:100])
            return
        ended = self.current
        if os.path.basename(ended.path) != name.strip():
            log.warn("recording {dev}/{ch}: ffmpeg finished {name}, {path} expected", dev=self.dev_id,
                     ch=self.channel_no, name=name[:100], path=ended.path)
        self.seq += 1
        following = _Piece(self.pattern % self.seq, ended.started_at + seconds)
        self.current = following
        # the next piece's row first: a piece being written is listed all the time, closing takes a while
        self._then(self._begin, following, self.run_id, self.seq)
        self._then(self._close, ended, seconds)
        try:
            self.recorder.check_space()
        except DiskFull as e:
            self._fail(str(e))

    def _then(self, f: Callable, *args) -> None:
        def step(_):
            return defer.maybeDeferred(f, *args).addErrback(
                lambda why: log.failure("recording {dev}/{ch}: bookkeeping failed", why, dev=self.dev_id,
                                        ch=self.channel_no))
        self._chain.addCallback(step)

    def _close(self, piece: _Piece, seconds: float | None):
        if piece.recording_id is None:
            return None
        d = self.recorder.core.recordings.close(piece.recording_id, piece.path, piece.started_at, seconds)

        def counted(kept):
            if kept:
                self.recorder.stats.pieces += 1
        return d.addCallback(counted)

    @defer.inlineCallbacks
    def _begin(self, piece: _Piece, run_id: int, seq: int):
        piece.recording_id = yield self.recorder.core.recordings.begin(
            self.dev_id, self.channel_no, STREAM_TYPE, self.schedule_id, run_id, seq, piece.path, piece.started_at)

    def _close_current(self) -> None:
        piece, self.current = self.current, None
        if piece is not None:
            self._then(self._close, piece, None)

    # -- how runs end

    def _retry(self, why) -> bool:
        """A run ended while it should have gone on (a crash, or a start that failed)."""
        self._close_current()
        if isinstance(why, Failure):
            if why.check(DiskFull):
                self._fail(str(why.value), stop=False)
                return False
            if why.check(errors.NoSuchDevice, errors.NoSuchChannel, errors.StreamClosed, errors.BadValue):
                log.info("recording {dev}/{ch}: cannot record: {why}", dev=self.dev_id, ch=self.channel_no,
                         why=str(why.value)[:200])
                return False
            return self.recorder.clock.seconds() < self.until  # offline: try again while the window lasts
        said = " | ".join(self.supervisor.tail)
        written = WRITE_ERRORS.search(said)
        if written:
            self._fail("ffmpeg could not write: %s" % written.group(0), stop=False)
            return False
        return self.recorder.clock.seconds() < self.until

    def _ended(self, why) -> None:
        self.recorder.ended(self)

    def _fail(self, why: str, stop: bool = True) -> None:
        if self.failed is not None:
            return
        self.failed = why
        self.recorder.stats.failures += 1
        log.error("recording {dev}/{ch} stopped: {why}", dev=self.dev_id, ch=self.channel_no, why=why)
        self._then(self.recorder.core.recordings.failed, self.dev_id, self.channel_no, why)
        if stop:
            self.stop()

    def stop(self) -> defer.Deferred:
        """Stop ffmpeg (it finishes the piece) and close the last piece; fires when all is done."""
        stopped = self.supervisor.stop()

        def closed(_):
            self._close_current()
            return self._chain
        return stopped.addCallback(closed)

    @property
    def done(self) -> defer.Deferred:
        """Fires once the bookkeeping queued so far is done."""
        d: defer.Deferred = defer.Deferred()
        self._chain.addBoth(lambda result: (d.callback(None), result)[1])
        return d


class Recorder:
    """*core* has ``schedules``, ``recordings`` and ``media``; *reactor* spawns ffmpeg and times its stop;
    *clock* is the domain's (windows); *free_space(path)* the bytes free under a path; *online(dev_id)*
    whether a device is online on this node (by default the media router's): only those are started."""

    def __init__(self, core, reactor, clock, *, zone, segment_seconds: int, min_free: int, ffmpeg: str = "ffmpeg",
                 resync: float = 60.0, grace: float = 10.0, stats: RecorderStats | None = None,
                 free_space: Callable[[str], int] | None = None, online: Callable[[str], bool] | None = None):
        self.core = core
        self.reactor = reactor
        self.clock = clock
        self.zone = zone
        self.segment_seconds = segment_seconds
        self.min_free = min_free
        self.ffmpeg = ffmpeg
        self.resync = resync
        self.grace = grace
        self.stats = stats if stats is not None else RecorderStats()
        self.free_space = free_space or _free_space
        self.online = online or core.media.router.online
        self.channels: dict[tuple[str, int], ChannelRecording] = {}
        self._finished: dict[tuple[str, int], float] = {}  # a failed channel waits for its window's end
        self._timer = None
        self._loop = task.LoopingCall(self.plan)
        self._loop.clock = clock
        self._planning: defer.Deferred | None = None
        self._again = False
        self._stopping: set[defer.Deferred] = set()  # recordings whose ffmpeg or last pieces are still closing
        self.running = False

    @property
    def active(self) -> int:
        """Channels whose ffmpeg is running now."""
        return sum(1 for r in self.channels.values() if r.supervisor.running)

    def check_space(self) -> None:
        root = self.core.recordings.layout.root
        free = self.free_space(root)
        if free < self.min_free:
            raise DiskFull("%d MB free under %s, [media] min_free is %d MB" % (free // 2**20, root,
                                                                             self.min_free // 2**20))

    def start(self) -> None:
        self.running = True
        self.core.schedules.subscribe(lambda dev_id, channel_no: self.plan())
        self._loop.start(self.resync, now=True)

    def plan(self) -> defer.Deferred:
        """Look at the schedules now: start the channels inside a window, stop the others."""
        if not self.running:
            return defer.succeed(None)
        if self._planning is not None:
            self._again = True
            return self._planning
        self._planning = defer.maybeDeferred(self._plan)
        self._planning.addErrback(lambda f: log.failure("recorder: planning failed", f))

        def done(_):
            self._planning = None
            if self._again and self.running:
                self._again = False
                return self.plan()
        return self._planning.addBoth(done)

    @defer.inlineCallbacks
    def _plan(self):
        schedules = yield self.core.schedules.all()
        now = self.clock.seconds()
        windows = occurrences(schedules, now, now + LOOKAHEAD, self.zone)
        wanted: dict[tuple[str, int], tuple[int, float]] = {}
        for w in windows:
            if w.start <= now < w.end:
                key = (w.dev_id, w.channel_no)
                end = w.end
                # windows that follow each other without a gap are one recording
                for later in windows:
                    if (later.dev_id, later.channel_no) == key and later.start == end:
                        end = later.end
                wanted[key] = (w.schedule_id, max(end, wanted.get(key, (0, 0.0))[1]))
        for key, (schedule_id, until) in wanted.items():
            if self._finished.get(key, 0.0) > now:
                continue
            recording = self.channels.get(key)
            if recording is None:
                if not self.online(key[0]):
                    continue  # offline, or linked to another node (which records it): looked at again at the resync
                recording = self.channels[key] = ChannelRecording(self, key[0], key[1], schedule_id, until)
                log.info("recorder: recording {dev}/{ch} until {until}", dev=key[0], ch=key[1], until=until)
                recording.start()
            else:
                recording.until = max(recording.until, until)
        for key in [k for k in self.channels if k not in wanted]:
            self._stop(key)
        self._finished = {k: v for k, v in self._finished.items() if v > now}
        self._wake(windows, now)

    def _wake(self, windows, now: float) -> None:
        """Plan again at the next start or end of a window."""
        upcoming = [t for w in windows for t in (w.start, w.end) if t > now]
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = self.clock.callLater(min(upcoming) - now, self.plan) if upcoming else None

    def _stop(self, key) -> defer.Deferred:
        recording = self.channels.pop(key)
        log.info("recorder: {dev}/{ch} window over", dev=key[0], ch=key[1])
        return self._track(recording.stop())

    def _track(self, stopping: defer.Deferred) -> defer.Deferred:
        self._stopping.add(stopping)

        def done(result):
            self._stopping.discard(stopping)
            return result
        return stopping.addBoth(done)

    def settled(self) -> defer.Deferred:
        """Fires once every recording stopped so far is stopped and its pieces closed."""
        return defer.DeferredList(list(self._stopping)).addCallback(lambda _: None)

    def ended(self, recording: ChannelRecording) -> None:
        """A channel's ffmpeg will not be started again (a failure, or the window's end while it was down)."""
        key = (recording.dev_id, recording.channel_no)
        if self.channels.get(key) is recording:
            del self.channels[key]
            self._finished[key] = recording.until
            self._track(recording.stop())

    @defer.inlineCallbacks
    def stop(self):
        """Stop every recording (each finishes and closes its piece)."""
        self.running = False
        if self._loop.running:
            self._loop.stop()
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        if self._planning is not None:
            yield self._planning
        yield defer.DeferredList([self._stop(key) for key in list(self.channels)])
        yield self.settled()


def _free_space(path: str) -> int:
    s = os.statvfs(path)
    return s.f_bavail * s.f_frsize
