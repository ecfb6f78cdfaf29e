"""Live HLS on demand: one ffmpeg packager per stream, started by its first viewer (issue 16; PRODUCT.md "Media").

:meth:`LiveHls.watch` is called for every playlist request of
``/live/{DevID}/{ChannelNo}/{StreamType}/``.  The first one starts a
:class:`Packager`: a :class:`~kandian.media.process.Supervisor` running ::

    ffmpeg -rtsp_transport tcp -i <core.media.source_url(…)> -map 0:v:0 -c copy
           -f hls -hls_init_time T/2 -hls_time T -hls_list_size N
           -hls_flags delete_segments+independent_segments+temp_file+omit_endlist+program_date_time …

— no transcoding: the camera's H.264 is cut into MPEG-TS segments at its
key frames (``hls_time`` is a minimum: a segment ends at the first key frame
after T seconds, so the camera's GOP sets the real length), the playlist
keeps the last N, ffmpeg deletes the older files itself, and every file is
written under a temporary name and renamed, so a reader never sees half a
playlist or half a segment.  The first segment is what sets a new viewer's
wait: it starts at the first key frame ffmpeg reads and ends at the next
one, so it is ready about one key-frame interval after the camera's first
picture.  Nothing read while ffmpeg probes the stream (about a second) is
thrown away for it: no ``-fflags nobuffer``, which drops those packets and
so makes the first segment wait for the key frame after the probe and a
whole segment more (3.2 s instead of 1.3 s on a 1 s-GOP camera).  Audio is left out (cameras send G.711, which
neither MPEG-TS HLS nor browsers play).

At most ``max_starting`` packagers start at once (an ffmpeg costs a
tenth of a second of CPU to start and a second of probing; two hundred
viewers arriving together — a restart, a wall of cameras opened at once —
would otherwise share the CPU so evenly that every one of them waits
for all the others, past the RTSP timeout); the others wait their turn
in arrival order, their viewers' requests still bounded by
``start_timeout``.  A packager keeps its start slot until its first
segment, its end, or ``start_timeout`` seconds (a camera that never
sends blocks nobody for longer).

Later requests of the same stream share that packager; every request counts
as the viewer still watching, and a packager nobody asked for
``idle_timeout`` seconds is stopped and its directory removed.  A crashed
ffmpeg is restarted with backoff (counted) with a fresh source URL; when
the source cannot be had — the device went offline, the stream was closed,
the device is gone — the packager *ends* with that state, which the status
document (:meth:`LiveHls.status`) and the playlist request's error say,
and the sweep ends a live packager whose device went offline at once.
"""

from __future__ import annotations

import collections
import os
import shutil
from collections.abc import Callable
from typing import NamedTuple

from twisted.internet import defer, task
from twisted.logger import Logger
from twisted.python.failure import Failure

from ..core import errors
from .process import ProcessStats, Supervisor

log = Logger()

PLAYLIST = "index.m3u8"
SWEEP = 0.2  # seconds between two looks at the running packagers (idle, offline)
FIRST_LOOK = 0.05  # seconds between two looks for the first playlist of a starting packager
SEGMENT_PREFIX = "seg"

# what ended a packager, by the error its source URL failed with
ENDINGS: dict[type, str] = {
    errors.DeviceOffline: "offline",
    errors.NoSuchDevice: "not_found",
    errors.NoSuchChannel: "not_found",
    errors.StreamClosed: "closed",
    errors.NoRoute: "unavailable",
}


class Key(NamedTuple):
    dev_id: str
    channel_no: int
    stream_type: int

    def __str__(self):
        return "%s/%d/%d" % self


class StreamEnded(Exception):
    """The stream cannot be packaged now: ``state`` says why (offline, not_found, closed, unavailable, failed, busy)."""

    def __init__(self, state: str, message: str):
        super().__init__(message)
        self.state = state


class HlsStats:
    def __init__(self):
        self.process = ProcessStats()
        self.started = 0  # packagers started
        self.idle_stopped = 0  # packagers stopped after their last viewer left
        self.ended: dict[str, int] = {}  # state → packagers that ended so
        self.requests = 0  # playlist and segment requests served
        self.first_segment_seconds: list[float] = []  # the last 100 times from start to a playable playlist
        self.start_waits = 0  # packagers that waited for a start slot


class Packager:
    """One stream's ffmpeg and what is known of it."""

    def __init__(self, key: Key, directory: str, started_at: float):
        self.key = key
        self.directory = directory
        self.playlist = os.path.join(directory, PLAYLIST)
        self.started_at = started_at
        self.last_seen = started_at
        self.state = "starting"  # starting, live, then ended states (offline, closed, …)
        self.message = ""
        self.supervisor: Supervisor | None = None
        self.ready_at: float | None = None
        self.launched_at: float | None = None  # when its ffmpeg was first started (None: waiting for a slot)
        self._waiters: list[defer.Deferred] = []

    def wait(self) -> defer.Deferred:
        d: defer.Deferred = defer.Deferred()
        if self.state == "live":
            d.callback(self)
        elif self.state != "starting":
            d.errback(StreamEnded(self.state, self.message))
        else:
            self._waiters.append(d)
        return d

    def _settle(self) -> None:
        waiting, self._waiters = self._waiters, []
        for d in waiting:
            if d.called:  # cancelled by its request's timeout
                continue
            if self.state == "live":
                d.callback(self)
            else:
                d.errback(StreamEnded(self.state, self.message))


class LiveHls:
    """The packagers of this node (see the module docstring)."""

    def __init__(self, media, reactor, clock=None, *, root: str, ffmpeg: str = "ffmpeg", hls_time: float = 1.0,
                 list_size: int = 6, idle_timeout: float = 30.0, start_timeout: float = 20.0,
                 max_streams: int = 200, max_starting: int = 8, rtsp_timeout: float = 10.0, ended_for: float = 5.0,
                 stats: HlsStats | None = None, online: Callable[[str], bool] | None = None):
        """*media* is :class:`kandian.core.media.Media`; *root* the directory
        under which each stream gets its own (emptied at start and stop)."""
        self.media = media
        self.reactor = reactor
        self.clock = clock if clock is not None else reactor
        self.root = root
        self.ffmpeg = ffmpeg
        self.hls_time = hls_time
        self.list_size = list_size
        self.idle_timeout = idle_timeout
        self.start_timeout = start_timeout
        self.max_streams = max_streams
        self.max_starting = max_starting
        self.rtsp_timeout = rtsp_timeout
        self.ended_for = ended_for
        self.stats = stats if stats is not None else HlsStats()
        self.online = online if online is not None else media.router.online
        self.packagers: dict[Key, Packager] = {}
        self._queue: collections.deque[Packager] = collections.deque()  # waiting for a start slot
        self._slots: set[Packager] = set()  # started, not yet live (nor ended, nor past start_timeout)
        self._sweep = task.LoopingCall(self.sweep)
        self._sweep.clock = self.clock
        self._look = task.LoopingCall(self.look)  # runs only while a packager is starting
        self._look.clock = self.clock
        self._stopping: set[defer.Deferred] = set()

    # -- service

    def start(self) -> None:
        if os.path.isdir(self.root):
            shutil.rmtree(self.root, ignore_errors=True)  # a previous run's leftovers
        os.makedirs(self.root, exist_ok=True)
        self._sweep.start(SWEEP, now=False)

    @defer.inlineCallbacks
    def stop(self):
        """Stop every packager (SIGTERM, then SIGKILL) and wait for them."""
        if self._sweep.running:
            self._sweep.stop()
        if self._look.running:
            self._look.stop()
        yield defer.DeferredList([self._stop(p, "stopped", "the platform is stopping")
                                  for p in list(self.packagers.values())])
        yield defer.DeferredList(list(self._stopping))

    @property
    def running(self) -> int:
        return sum(1 for p in self.packagers.values() if p.state in ("starting", "live"))

    # -- viewers

    def watch(self, key: Key) -> defer.Deferred:
        """A viewer asks for *key*'s playlist: fires with its live Packager
        (started if need be, waited for up to ``start_timeout``), or fails
        with :class:`StreamEnded`."""
        now = self.clock.seconds()
        packager = self.packagers.get(key)
        if packager is not None and packager.state not in ("starting", "live"):
            if now - packager.last_seen < self.ended_for:
                return defer.fail(StreamEnded(packager.state, packager.message))
            del self.packagers[key]
            packager = None
        if packager is None:
            if self.running >= self.max_streams:
                return defer.fail(StreamEnded("busy", "this node packages %d streams already" % self.max_streams))
            packager = self._begin(key, now)
        packager.last_seen = now
        return packager.wait().addTimeout(self.start_timeout, self.clock, onTimeoutCancel=_too_slow)

    def seen(self, key: Key) -> Packager | None:
        """A segment request: the live packager of *key* (its viewer still watches), or None."""
        packager = self.packagers.get(key)
        if packager is None or packager.state != "live":
            return None
        packager.last_seen = self.clock.seconds()
        return packager

    def status(self, key: Key) -> dict:
        """What the page shows: ``{"state", "message"}`` (``idle`` when nothing runs for it)."""
        packager = self.packagers.get(key)
        if packager is None:
            return {"state": "idle", "message": ""}
        return {"state": packager.state, "message": packager.message}

    def segment(self, packager: Packager, name: str) -> str | None:
        """The path of segment *name* (``segN.ts``, checked by the caller) if it is on disk."""
        path = os.path.join(packager.directory, name)
        return path if os.path.isfile(path) else None

    # -- one packager

    def _begin(self, key: Key, now: float) -> Packager:
        directory = os.path.join(self.root, "%s_%d_%d" % key)
        shutil.rmtree(directory, ignore_errors=True)
        os.makedirs(directory)
        packager = Packager(key, directory, now)
        packager.supervisor = Supervisor(
            "hls %s" % (key,), lambda: self._command(packager), self.reactor, clock=self.clock,
            retry=lambda why: self._retry(packager, why), on_ended=lambda why: self._ended(packager, why),
            stats=self.stats.process, first_delay=1.0, max_delay=30.0, stable=30.0)
        self.packagers[key] = packager
        self.stats.started += 1
        self._queue.append(packager)
        self._launch_queued(now)
        if packager.launched_at is None:
            self.stats.start_waits += 1
            log.info("live HLS {key}: waiting for one of the {n} starts under way", key=str(key), n=len(self._slots))
        if not self._look.running and self._sweep.running:
            self._look.start(FIRST_LOOK, now=False)
        return packager

    def _launch_queued(self, now: float) -> None:
        """Start waiting packagers while fewer than ``max_starting`` are starting."""
        for packager in list(self._slots):
            if packager.state != "starting" or now - packager.launched_at >= self.start_timeout:
                self._slots.discard(packager)
        while self._queue and len(self._slots) < self.max_starting:
            packager = self._queue.popleft()
            if packager.state != "starting":
                continue  # stopped while it waited
            packager.launched_at = now
            self._slots.add(packager)
            log.info("live HLS {key}: starting a packager", key=str(packager.key))
            packager.supervisor.start()

    @defer.inlineCallbacks
    def _command(self, packager: Packager):
        url = yield self.media.source_url(*packager.key)
        d = packager.directory
        return [
            self.ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error",
            "-rtsp_transport", "tcp", "-timeout", str(int(self.rtsp_timeout * 1_000_000)),
            "-i", url,
            "-map", "0:v:0", "-c", "copy", "-an",
            # the first segment is cut at the first key frame after half a segment (not after two key frames)
            "-f", "hls", "-hls_init_time", "%g" % (self.hls_time / 2), "-hls_time", "%g" % self.hls_time,
            "-hls_list_size", str(self.list_size),
            "-hls_flags", "delete_segments+independent_segments+temp_file+omit_endlist+program_date_time",
            # numbered from the epoch second: a restarted ffmpeg goes on counting upwards
            "-hls_start_number_source", "epoch",
            "-hls_allow_cache", "0", "-hls_segment_filename", os.path.join(d, SEGMENT_PREFIX + "%d.ts"),
            os.path.join(d, PLAYLIST),
        ]

    def _retry(self, packager: Packager, why) -> bool:
        if packager.state not in ("starting", "live"):
            return False
        if isinstance(why, Failure):
            return errors.lookup(ENDINGS, why.value) is None and not why.check(errors.DomainError)
        # ffmpeg exited: go on only while the device is there (the next URL says for sure)
        return self.online(packager.key.dev_id)

    def _ended(self, packager: Packager, why) -> None:
        if isinstance(why, Failure):
            state = errors.lookup(ENDINGS, why.value) or "failed"
            message = str(why.value)
        elif not self.online(packager.key.dev_id):
            state, message = "offline", "the device went offline"
        else:
            state, message = "failed", "the packager ended (%s)" % (why,)
        self._finish(packager, state, message)

    def _finish(self, packager: Packager, state: str, message: str) -> None:
        if packager.state not in ("starting", "live"):
            return
        packager.state, packager.message = state, message
        packager.last_seen = self.clock.seconds()
        self.stats.ended[state] = self.stats.ended.get(state, 0) + 1
        log.info("live HLS {key}: {state} ({message})", key=str(packager.key), state=state, message=message)
        packager._settle()
        self._slots.discard(packager)
        if packager.supervisor is None or not packager.supervisor.running:
            shutil.rmtree(packager.directory, ignore_errors=True)

    def _stop(self, packager: Packager, state: str, message: str) -> defer.Deferred:
        self._finish(packager, state, message)
        if self.packagers.get(packager.key) is packager and state == "idle":
            del self.packagers[packager.key]
        d = packager.supervisor.stop()
        self._stopping.add(d)

        def gone(_):
            self._stopping.discard(d)
            shutil.rmtree(packager.directory, ignore_errors=True)  # what ffmpeg wrote on its way out
        return d.addBoth(gone)

    # -- the look for first playlists, every FIRST_LOOK s while a packager starts

    def look(self) -> None:
        now = self.clock.seconds()
        starting = [p for p in self.packagers.values() if p.state == "starting"]
        for packager in starting:
            if _playable(packager.playlist):
                packager.state = "live"
                packager.ready_at = now
                took = now - packager.started_at
                self.stats.first_segment_seconds = (self.stats.first_segment_seconds + [took])[-100:]
                log.info("live HLS {key}: first segment after {took:.1f} s", key=str(packager.key), took=took)
                packager._settle()
        self._launch_queued(now)
        if not any(p.state == "starting" for p in starting) and self._look.running:
            self._look.stop()

    # -- the sweep: viewers gone, devices offline

    def sweep(self) -> None:
        now = self.clock.seconds()
        for packager in list(self.packagers.values()):
            if packager.state in ("starting", "live"):
                if packager._waiters:  # viewers waiting for the first segment are viewers
                    packager.last_seen = now
                if now - packager.last_seen >= self.idle_timeout:
                    self.stats.idle_stopped += 1
                    self._stop(packager, "idle", "no viewer for %d s" % self.idle_timeout)
                elif not self.online(packager.key.dev_id):
                    self._stop(packager, "offline", "the device went offline")
            elif now - packager.last_seen >= max(self.ended_for, self.idle_timeout):
                del self.packagers[packager.key]


def _playable(playlist: str) -> bool:
    """Whether the playlist exists and lists a segment (ffmpeg renames it into place whole)."""
    try:
        with open(playlist, "rb") as f:
            return b"#EXTINF" in f.read(65536)
    except OSError:
        return False


def _too_slow(result, timeout):
    if isinstance(result, Failure) and result.check(defer.CancelledError):
        return Failure(StreamEnded("starting", "no video after %d s yet; try again" % timeout))
    return result

