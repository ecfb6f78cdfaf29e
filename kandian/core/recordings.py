"""Recordings the platform made: listing, VOD, download, deletion, retention (PRODUCT.md "Media").

A recording is one piece: a file of ``[media] segment_seconds`` (MPEG-TS)
under ``[files] root`` with a JPEG snapshot of its first key frame, and a
row (:mod:`kandian.store.recordings`).  Pieces one run of the recorder
wrote follow each other without a gap in their timestamps; the VOD of a
piece (:meth:`Recordings.vod`) is the playlist of its whole run, starting
at that piece, its segments byte ranges of the pieces that begin at key
frames, so a player seeks anywhere without fetching a whole piece.

Files live under :class:`RecordingLayout`::

    recordings/<DevID>/<ChannelNo>/<YYYYMMDD>/<HHMMSS>-<n>_<seq>.ts   the piece
                                              … .jpg                    its snapshot
                                              … .mp4                    made on its first download

Deleting claims the row first (invisible from then on), removes the files,
then the row: a listed recording always has its file, and a row a crash
left claimed is finished by :meth:`Recordings.purge`, which also deletes
pieces older than the retention setting.  Who may see a recording is who
may see its device (:mod:`.access`); deleting one needs "control".
"""

from __future__ import annotations

import datetime
import itertools
import os
from collections.abc import Callable
from urllib.parse import urlencode

import attrs
from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure

from ..store.devices import DEV_ID
from ..store.recordings import RecordingFilter
from . import errors
from .access import Principal
from .fleet import Page, paging

log = Logger()

# device_exception.exception_type of the platform's own recording failures (a device's
# own types are §7.5.33's 0–12); docs/media.md lists it for operators
RECORDING_FAILED = 100
SIGNED = "recording"  # the purpose of a recording's signed URLs (core.keys)
PURGE_BATCH = 100


@attrs.frozen
class VodPiece:
    recording_id: int
    seq: int
    path: str  # absolute
    size: int
    segments: tuple  # ((offset, length, seconds), …)


@attrs.frozen
class Vod:
    """The playlist of a run: its finished pieces, where to start, and whether more is coming."""
    pieces: tuple  # (VodPiece, …)
    start_offset: float  # seconds into the playlist of the piece asked for
    ended: bool  # False while the run is still being recorded


class RecordingLayout:
    def __init__(self, root: str):
        self.root = os.path.abspath(root)
        self._runs = itertools.count(1)

    def run_pattern(self, dev_id: str, channel_no: int, started_at: float, zone) -> str:
        """A new run's piece names, relative to the root, ``%04d`` standing for the piece's number."""
        if not DEV_ID.match(dev_id) or not 0 <= channel_no <= 255:
            raise ValueError("no such channel: %r %r" % (dev_id, channel_no))
        moment = datetime.datetime.fromtimestamp(started_at, zone)
        folder = os.path.join("recordings", dev_id, str(channel_no), moment.strftime("%Y%m%d"))
        while True:
            name = "%s-%d" % (moment.strftime("%H%M%S"), next(self._runs))
            if not os.path.exists(os.path.join(self.root, folder, name + "_0000.ts")):
                return os.path.join(folder, name + "_%04d.ts")

    def absolute(self, relative: str) -> str:
        path = os.path.normpath(os.path.join(self.root, relative))
        if not path.startswith(self.root + os.sep):
            raise ValueError("not under the root: %r" % (relative,))
        return path

    @staticmethod
    def snapshot_of(relative: str) -> str:
        return os.path.splitext(relative)[0] + ".jpg"

    @staticmethod
    def mp4_of(relative: str) -> str:
        return os.path.splitext(relative)[0] + ".mp4"

    def prepare(self) -> None:
        """Create ``recordings/`` (blocking: once, at start-up)."""
        os.makedirs(os.path.join(self.root, "recordings"), exist_ok=True)


class Recordings:
    """*tools*: an :class:`kandian.core.interfaces.IRecordingTools`; *base_url()* the portal's
    ``http://host:port`` for the URLs handed out (None: the portal is off); *retention_days* 0 keeps
    recordings for ever."""

    def __init__(self, store, clock, access, keys, tools, layout: RecordingLayout, *, node: str, zone,
                 retention_days: int, base_url: Callable[[], str | None]):
        self.store = store
        self.clock = clock
        self.access = access
        self.keys = keys
        self.tools = tools
        self.layout = layout
        self.node = node
        self.zone = zone
        self.retention_days = retention_days
        self.base_url = base_url
        self._remuxing: dict[int, defer.Deferred] = {}
        self.purged = 0

    # -- who may

    @defer.inlineCallbacks
    def _authorize(self, principal: Principal, recording, level: str = "view"):
        if principal.operator:
            if level != "view" and not principal.admin:
                raise errors.Forbidden("a viewer cannot change anything")
            return
        try:
            yield self.access.device(principal, recording.dev_id, level)
        except (errors.NotBound, errors.NoSuchDevice):
            raise errors.NoSuchRecording("no recording %d" % recording.recording_id) from None

    @defer.inlineCallbacks
    def _row(self, recording_id):
        found = yield self.store.recordings.get(_id(recording_id))
        if found is None:
            raise errors.NoSuchRecording("no recording %s" % (str(recording_id)[:20],))
        return found

    # -- reading

    @defer.inlineCallbacks
    def list(self, principal: Principal, dev_id: str | None = None, channel_no: int | None = None,
             since: float | None = None, until: float | None = None, page: int = 1, per_page: int = 50):
        """A :class:`kandian.core.fleet.Page` of recordings, newest first, that overlap [since, until)."""
        offset, limit = paging(page, per_page)
        if dev_id is not None and not principal.operator:
            yield self.access.device(principal, dev_id, "view")
        f = RecordingFilter(dev_id, channel_no, since, until, None if principal.operator else principal.id)
        total, rows = yield self.store.recordings.page(f, offset, limit)
        return Page(total, page, per_page, rows)

    @defer.inlineCallbacks
    def get(self, principal: Principal, recording_id):
        """One recording; NoSuchRecording."""
        found = yield self._row(recording_id)
        yield self._authorize(principal, found)
        return found

    def sign(self, recording_id: int, ttl: float | None = None, expires: int | None = None) -> tuple[int, str]:
        """(exp, sig) of URLs under ``/api/v1/recordings/<id>`` valid for *ttl* seconds (or until *expires*)."""
        if expires is None:
            expires = int(self.clock.seconds() + ttl)
        return expires, self.keys.sign(SIGNED, _signed_path(recording_id), expires)

    def signed(self, recording_id, expires, signature) -> bool:
        """Whether (*expires*, *signature*) is a live signature of this recording's URLs."""
        try:
            rid, exp = _id(recording_id), int(expires)
        except (errors.NoSuchRecording, ValueError, TypeError):
            return False
        return self.keys.verify(SIGNED, _signed_path(rid), exp, str(signature), self.clock.seconds())

    @defer.inlineCallbacks
    def unsigned_get(self, recording_id, expires, signature):
        """The recording a signed URL names; NoSuchRecording for a bad or expired signature too."""
        if not self.signed(recording_id, expires, signature):
            raise errors.NotAuthenticated("the link is wrong or has expired")
        return (yield self._row(recording_id))

    @defer.inlineCallbacks
    def vod_url(self, principal: Principal, recording_id, ttl: float = 6 * 3600) -> str:
        """The signed, absolute URL of the recording's HLS VOD playlist (for players that send no credentials)."""
        found = yield self.get(principal, recording_id)
        base = self.base_url()
        if not base:
            raise errors.NoRoute("the portal is off ([portal] listen): no VOD")
        expires, sig = self.sign(found.recording_id, ttl)
        return "%s%s/index.m3u8?%s" % (base, _signed_path(found.recording_id),
                                       urlencode({"exp": expires, "sig": sig}))

    @defer.inlineCallbacks
    def vod(self, recording):
        """The :class:`Vod` of an authorized *recording*: its run's finished pieces, from the first."""
        run = yield self.store.recordings.run(recording.run_id)
        pieces, offset, ended = [], None, True
        for piece in run:
            if not piece.complete:
                ended = False
                continue
            if piece.recording_id == recording.recording_id:
                offset = sum(seconds for p in pieces for _, _, seconds in p.segments)
            segments = piece.segments or ((0, piece.size, piece.duration),)
            pieces.append(VodPiece(piece.recording_id, piece.seq, self.layout.absolute(piece.path), piece.size,
                                   tuple(tuple(s) for s in segments)))
        if offset is None:
            raise errors.RecordingInProgress("recording %d is still being written" % recording.recording_id)
        return Vod(tuple(pieces), offset, ended)

    def media_path(self, recording) -> str:
        """The piece's file; RecordingUnavailable for a piece still written or recorded by another node."""
        if not recording.complete:
            raise errors.RecordingInProgress("recording %d is still being written" % recording.recording_id)
        if recording.node != self.node:
            raise errors.RecordingUnavailable("recording %d is on node %s" % (recording.recording_id,
                                                                               recording.node))
        return self.layout.absolute(recording.path)

    def snapshot_path(self, recording) -> str:
        """The piece's JPEG; NoPicture when it has none (yet)."""
        if recording.snapshot is None:
            raise errors.NoPicture("recording %d has no snapshot" % recording.recording_id)
        if recording.node != self.node:
            raise errors.RecordingUnavailable("recording %d is on node %s" % (recording.recording_id,
                                                                               recording.node))
        return self.layout.absolute(recording.snapshot)

    @defer.inlineCallbacks
    def download_path(self, principal: Principal, recording_id):
        """The path of the recording as one MP4 (made from the piece on first ask, kept beside it)."""
        found = yield self.get(principal, recording_id)
        return (yield self.mp4(found))

    def mp4(self, recording) -> defer.Deferred:
        """:meth:`download_path` for an authorized *recording*; one remux at a time per piece, however
        many ask."""
        try:
            source = self.media_path(recording)
        except errors.DomainError as e:
            return defer.fail(e)
        target = self.layout.absolute(self.layout.mp4_of(recording.path))
        if os.path.exists(target):
            return defer.succeed(target)
        waiter: defer.Deferred = defer.Deferred()
        waiting = self._remuxing.get(recording.recording_id)
        if waiting is not None:
            waiting.append(waiter)
            return waiter
        waiting = self._remuxing[recording.recording_id] = [waiter]

        def done(result):
            del self._remuxing[recording.recording_id]
            for w in waiting:
                if isinstance(result, Failure):
                    w.errback(result)
                else:
                    w.callback(target)
        defer.maybeDeferred(self.tools.remux, source, target).addBoth(done)
        return waiter

    # -- deleting

    @defer.inlineCallbacks
    def delete(self, principal: Principal, recording_id):
        """Delete the piece: its row and its files together.  NoSuchRecording, RecordingInProgress, Forbidden."""
        found = yield self._row(recording_id)
        yield self._authorize(principal, found, "control")
        if not found.complete:
            raise errors.RecordingInProgress("recording %d is still being written" % found.recording_id)
        claimed = yield self.store.recordings.claim(found.recording_id)
        if claimed is None:
            raise errors.NoSuchRecording("no recording %d" % found.recording_id)
        if not claimed.complete:
            raise errors.RecordingInProgress("recording %d is still being written" % found.recording_id)
        yield self._remove(claimed)

    @defer.inlineCallbacks
    def _remove(self, recording):
        relative = recording.path
        paths = [self.layout.absolute(p) for p in (relative, self.layout.snapshot_of(relative),
                                                   self.layout.mp4_of(relative))]
        yield self.tools.remove(paths)
        yield self.store.recordings.remove(recording.recording_id)

    @defer.inlineCallbacks
    def purge(self):
        """Delete this node's pieces older than the retention setting, and finish deletions a crash
        cut short; the number of pieces deleted."""
        if self.retention_days <= 0:
            before = 0.0  # only what was claimed already
        else:
            before = self.clock.seconds() - self.retention_days * 86400.0
        done = 0
        while True:
            batch = yield self.store.recordings.expired(self.node, before, PURGE_BATCH)
            for recording in batch:
                yield self._remove(recording)
                done += 1
            if len(batch) < PURGE_BATCH:
                break
        self.purged += done
        return done

    # -- for the recorder (kandian.media.recorder)

    def run_pattern(self, dev_id: str, channel_no: int, started_at: float) -> str:
        return self.layout.run_pattern(dev_id, channel_no, started_at, self.zone)

    def begin(self, dev_id: str, channel_no: int, stream_type: int, schedule_id: int | None, run_id: int | None,
              seq: int, path: str, started_at: float) -> defer.Deferred:
        """A piece starts being written (listed, ``complete`` false); its id."""
        return self.store.recordings.begin(self.node, dev_id, channel_no, stream_type, schedule_id, run_id, seq,
                                           path, started_at)

    @defer.inlineCallbacks
    def close(self, recording_id: int, path: str, started_at: float, duration: float | None = None):
        """The piece at *path* (relative) is written: index it, make its snapshot, then mark it
        complete; a piece with no byte on disk loses its row.  Whether it was kept."""
        absolute = self.layout.absolute(path)
        size = yield self.tools.size(absolute)
        segments = None
        if size:
            try:
                segments, probed = yield self.tools.index(absolute)
                duration = probed if probed else duration
            except Exception as e:
                log.warn("recording {id}: {path} cannot be indexed ({why}); kept as one segment",
                         id=recording_id, path=path, why=str(e)[:200])
        if not size or not duration:
            yield self.tools.remove([absolute])
            yield self.store.recordings.discard(recording_id)
            return False
        snapshot = self.layout.snapshot_of(path)
        try:
            made = yield self.tools.snapshot(absolute, self.layout.absolute(snapshot))
        except Exception as e:
            log.warn("recording {id}: no snapshot ({why})", id=recording_id, why=str(e)[:200])
            made = False
        yield self.store.recordings.describe(recording_id, segments, snapshot if made else None)
        # complete last: a piece listed complete has its index and snapshot
        yield self.store.recordings.finish(recording_id, started_at + duration, duration, size)
        return True

    def failed(self, dev_id: str, channel_no: int, why: str) -> defer.Deferred:
        """A recording stopped on an error of the platform's own (a full disk): an exception row."""
        return self.store.links.exception(dev_id, channel_no, RECORDING_FAILED,
                                          ("platform recording stopped: %s" % why)[:500], self.clock.seconds())

    def left_open(self) -> defer.Deferred:
        """The pieces a stopped daemon of this node left being written (asked at start-up, before the
        recorder begins new ones: those must not be taken for leftovers)."""
        return self.store.recordings.unfinished(self.node)

    @defer.inlineCallbacks
    def recover(self, left=None):
        """At start-up: close the pieces a stopped daemon left being written (*left*, or
        :meth:`left_open`'s); how many."""
        if left is None:
            left = yield self.left_open()
        for piece in left:
            try:
                yield self.close(piece.recording_id, piece.path, piece.started_at, None)
            except Exception:
                log.failure("recording {id}: could not close it after a restart", id=piece.recording_id)
        return len(left)


def _signed_path(recording_id: int) -> str:
    return "/api/v1/recordings/%d" % recording_id


def _id(value) -> int:
    if isinstance(value, str) and value.isdigit() and len(value) <= 18:
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63:
        return value
    raise errors.NoSuchRecording("no recording %r" % (str(value)[:20],))
