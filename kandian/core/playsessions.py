"""Server-side play sessions: a relay URL steered from outside its player (spec/000; §7.5.22, §7.5.23, §10).

spec/000's ``play`` answers a session id and a PlayUrl — a RelayPlayUrl
with a one-time relay token (:meth:`kandian.core.play.Play.relay_url`) — and
its ``pauseplay``, ``resumeplay``, ``changespeed`` and
``changeplayposition`` steer that session's stream for the player already
connected to PlayUrl: the relay sends its own PLAY (``Scale``, ``Range``) and
PAUSE upstream in the player's RTSP session (``IStreamSteering``) and, while
paused, passes the player nothing.  What is asked before the player plays is
kept and applied when it does: a recording's start offset and speed go into
the player's own PLAY, a pause follows it.

A session is live (a stream type) or a recording on the device's storage
(a file found by §7.5.22 FILE_QUERY around the asked time; the device checks
its token with §7.5.23).  It ends when its player's stream ends or at
``stopplay``; one nobody connected to ends ``timeout`` seconds after it was
opened, and an ended one is remembered that long (``stopplay`` again answers
success, steering it NoSuchPlaySession).  Sessions live in this node's
memory, like the relay streams they steer; ids are random 31-bit integers
(spec/000 shows small integers, clients may parse them as such) so that one
cannot be guessed from another.
"""

from __future__ import annotations

import datetime
import secrets
from typing import NamedTuple

import attrs
from twisted.internet import defer
from twisted.logger import Logger
from zope.interface import implementer

from ..wiretime import parse_time
from . import errors
from .interfaces import IPlaySession
from .play import PLATFORM_RECORDING

log = Logger()

MAX_SPEED = 16.0
PLATFORM_PIECES = 200  # the platform's pieces listed for one query
FILE_SERVER = "file-server-recording"  # the purpose of the file server's signed /rec/<id> (core.keys)
FILE_PAGES = 10  # §7.5.22 pages (10 files each) read for one query
LOOKBACK = 3600  # seconds before the asked time a file covering it may have started


class RecordSpan(NamedTuple):
    """One recording that covers [start, end) (POSIX seconds)."""
    dev_id: str
    channel_no: int
    start: float
    end: float
    file_name: str
    size: int | None
    source: str  # "device": on the device's storage (§7.5.22)


@implementer(IPlaySession)
@attrs.define(eq=False)
class PlaySession:
    id: int
    dev_id: str
    channel_no: int
    stream_type: int | None  # live
    file_name: str | None  # a recording on the device
    span: RecordSpan | None  # the recording's times
    url: str
    token: str
    account: str
    opened_at: float
    ended_at: float | None = None
    speed: float = 1.0
    paused: bool = False
    pending_position: float | None = None  # seconds into the file, to go to at the next PLAY
    pending_speed: bool = False  # a speed not yet sent upstream
    steering: object = None  # IStreamSteering while a player is relayed
    played_once: bool = False
    begin: float | None = None  # a recording: the time play asked for
    owner: object = attrs.field(default=None, repr=False)  # the PlaySessions

    @property
    def live(self) -> bool:
        return self.file_name is None

    @property
    def ended(self) -> bool:
        return self.ended_at is not None

    # -- IPlaySession: the relay's side

    def attached(self, steering) -> None:
        if self.ended:
            steering.close("play session %d was stopped" % (self.id,))
            return
        self.steering = steering

    def client_play(self):
        scale = self.speed if self.pending_speed or self.speed != 1.0 else None
        position, self.pending_position = self.pending_position, None
        self.pending_speed = False
        return scale, position

    def played(self) -> None:
        self.played_once = True
        if self.paused and self.steering is not None:
            self.steering.pause().addErrback(
                lambda f: log.info("play session {id}: PAUSE after PLAY failed: {why}", id=self.id,
                                   why=f.getErrorMessage()))

    def detached(self) -> None:
        self.steering = None
        if not self.ended:
            self.ended_at = self.owner.now() if self.owner is not None else 0.0
            log.info("play session {id} of {dev_id} ended: its player left", id=self.id, dev_id=self.dev_id)


class PlaySessions:
    def __init__(self, store, play, devices, access, clock, *, timezone, timeout: float = 60.0,
                 max_sessions: int = 10_000, recordings=None, keys=None):
        """*play*: :class:`.play.Play` (relay URLs); *devices*: :class:`.devices.Devices`
        (online state, §7.5.22); *access*: :class:`.access.Access`; *recordings*:
        :class:`.recordings.Recordings` (the platform's own, played by the file server);
        *keys*: :class:`.keys.Keys` (the file server's signatures)."""
        self.store = store
        self.play = play
        self.devices = devices
        self.access = access
        self.clock = clock
        self.timezone = timezone
        self.timeout = timeout
        self.max_sessions = max_sessions
        self.platform_recordings = recordings
        self.keys = keys
        self.sessions: dict[int, PlaySession] = {}
        self.by_token: dict[str, PlaySession] = {}
        self._next_sweep = 0.0
        self.opened = 0
        self.steered = 0

    def now(self) -> float:
        return self.clock.seconds()

    # -- opening

    @defer.inlineCallbacks
    def _target(self, principal, dev_id: str, channel_no: int, stream_type: int | None):
        yield self.access.device(principal, dev_id, "view")
        target = yield self.store.relay.target(dev_id, channel_no, stream_type)
        if target is None:
            raise errors.NoSuchDevice("no device %s" % (dev_id,))
        if not target.channel_exists:
            raise errors.NoSuchChannel("%s has no channel %s" % (dev_id, channel_no))
        if not target.stream_enabled:
            raise errors.StreamClosed("%s channel %s stream %s is closed" % (dev_id, channel_no, stream_type))
        if not self.devices.online(dev_id):
            raise errors.DeviceOffline("%s is offline" % (dev_id,))

    @defer.inlineCallbacks
    def open_live(self, principal, dev_id: str, channel_no: int, stream_type: int = 1):
        """A session of a live stream; raises NotBound/NoSuchDevice,
        NoSuchChannel, StreamClosed, DeviceOffline, NoRoute, TooManyStreams."""
        if stream_type not in (1, 2):
            raise errors.NoSuchChannel("no stream type %s" % (stream_type,))
        self._room()
        yield self._target(principal, dev_id, channel_no, stream_type)
        url, token = yield self.play.relay_url(dev_id, channel_no, stream_type=stream_type,
                                               user_id=_user_id(principal), account=principal.name)
        return self._add(dev_id, channel_no, stream_type, None, None, url, token, principal.name)

    @defer.inlineCallbacks
    def open_recording(self, principal, dev_id: str, channel_no: int, begin: float, end: float):
        """A session playing a recording that covers *begin* (or starts first
        after it, before *end*), from *begin*: the platform's own (played by
        its file server through the relay) or the device's (§7.5.23); raises
        what :meth:`recordings` raises, NoRecording, NoRoute, TooManyStreams."""
        self._room()
        spans = yield self.recordings(principal, dev_id, channel_no, begin, end, first_only=True)
        if not spans:
            raise errors.NoRecording("%s channel %s has no recording in that time" % (dev_id, channel_no))
        span = spans[0]
        url, token = yield self.play.relay_url(dev_id, channel_no, file_name=span.file_name,
                                               user_id=_user_id(principal), account=principal.name)
        if span.source == "platform":
            _, seconds = yield self._run_files(int(span.file_name[len(PLATFORM_RECORDING):]))
            span = span._replace(end=span.start + seconds)  # the rest of its run plays on
        session = self._add(dev_id, channel_no, None, span.file_name, span, url, token, principal.name)
        session.begin = begin
        offset = begin - span.start
        if offset > 0:
            session.pending_position = offset
        return session

    def _room(self) -> None:
        self._sweep()
        if len(self.sessions) >= self.max_sessions:
            raise errors.TooManyStreams("%d play sessions held" % (len(self.sessions),))

    def _add(self, dev_id, channel_no, stream_type, file_name, span, url, token, account) -> PlaySession:
        while True:
            session_id = 1 + secrets.randbelow(2**31 - 2)
            if session_id not in self.sessions:
                break
        session = PlaySession(session_id, dev_id, channel_no, stream_type, file_name, span, url, token, account,
                              self.now(), owner=self)
        self.sessions[session_id] = session
        self.by_token[token] = session
        self.opened += 1
        log.info("play session {id}: {account} plays {dev_id} channel {channel} {what}", id=session_id,
                 account=account, dev_id=dev_id, channel=channel_no,
                 what="live" if file_name is None else "recording " + file_name)
        return session

    # -- recordings (§7.5.22)

    @defer.inlineCallbacks
    def recordings(self, principal, dev_id: str, channel_no: int, begin: float, end: float, *,
                   first_only: bool = False):
        """[RecordSpan] of the channel's recordings in [*begin*, *end*], oldest first: the platform's own
        pieces (``source`` "platform") and the files on the device's storage (§7.5.22, at most FILE_PAGES
        pages: "device").  A device that cannot be asked (offline, refusing, a stream proxy) adds nothing
        when the platform has recordings then.  With *first_only*, the one to play from *begin*: one that
        covers it (the platform's first: the device is not asked then), else the first after it.  Raises
        NotBound/NoSuchDevice, NoSuchChannel, DeviceOffline, DeviceRefused, BadValue."""
        if not end > begin:
            raise errors.BadValue("the end time must be after the begin time")
        yield self.access.device(principal, dev_id, "view")
        target = yield self.store.relay.target(dev_id, channel_no, None)
        if target is None:
            raise errors.NoSuchDevice("no device %s" % (dev_id,))
        if not target.channel_exists:
            raise errors.NoSuchChannel("%s has no channel %s" % (dev_id, channel_no))
        platform = yield self._platform_spans(principal, dev_id, channel_no, begin, end)
        covering = [s for s in platform if s.start <= begin < s.end]
        if first_only and covering:
            return covering[:1]
        try:
            device = yield self._device_spans(dev_id, channel_no, begin, end, first_only)
        except (errors.DeviceOffline, errors.DeviceRefused):
            if not platform:
                raise
            device = []
        spans = sorted(platform + device, key=lambda s: (s.start, s.source != "platform", s.file_name))
        if first_only:
            covering = [s for s in spans if s.start <= begin < s.end]
            return covering[:1] or spans[:1]
        return spans

    @defer.inlineCallbacks
    def _device_spans(self, dev_id, channel_no, begin, end, first_only):
        zone = self.timezone
        # a file that started before *begin* but covers it is found too
        start = datetime.datetime.fromtimestamp(begin - LOOKBACK, zone)
        stop = datetime.datetime.fromtimestamp(end, zone)
        spans: list[RecordSpan] = []
        for page in range(1, FILE_PAGES + 1):
            answer = yield self.devices.record_files(dev_id, channel_no, start, stop, page)
            for f in answer.File:
                span = _span(dev_id, channel_no, f, zone)
                if span is not None and span.end > begin and span.start < end:
                    spans.append(span)
            if len(answer.File) < 10 or page * 10 >= (answer.TotalRecordNum or 0):
                break
            if first_only and spans:
                break
        return spans

    @defer.inlineCallbacks
    def _platform_spans(self, principal, dev_id, channel_no, begin, end):
        """The platform's finished pieces of the channel overlapping [begin, end] (at most PLATFORM_PIECES)."""
        if self.platform_recordings is None:
            return []
        page = yield self.platform_recordings.list(principal, dev_id, channel_no, since=begin, until=end,
                                                   page=1, per_page=PLATFORM_PIECES)
        return [RecordSpan(dev_id, channel_no, r.started_at, r.started_at + r.duration,
                           PLATFORM_RECORDING + str(r.recording_id), r.size, "platform")
                for r in page.items if r.complete and r.duration > 0]

    # -- the file server's side of a platform recording (kandian.media.loop)

    def recording_query(self, recording_id: int) -> str:
        """The signed query of the file server's ``/rec/<id>`` (valid a minute: the relay dials at once)."""
        expires = int(self.now()) + 60
        return "exp=%d&sig=%s" % (expires, self.keys.sign(FILE_SERVER, "/rec/%d" % recording_id, expires))

    @defer.inlineCallbacks
    def recording_files(self, recording_id: int, expires: str, signature: str):
        """``([(path, seconds)], total seconds)`` of the run of a recording from that piece on (this node's
        finished pieces),
        for a signed query of :meth:`recording_query`; NotAuthenticated, NoSuchRecording otherwise."""
        if not expires.isdigit() or len(expires) > 12 or not self.keys.verify(
                FILE_SERVER, "/rec/%d" % recording_id, int(expires), signature, self.now()):
            raise errors.NotAuthenticated("a bad or expired file server signature")
        return (yield self._run_files(recording_id))

    @defer.inlineCallbacks
    def _run_files(self, recording_id: int):
        row = yield self.store.recordings.get(recording_id)
        if row is None:
            raise errors.NoSuchRecording("no recording %d" % (recording_id,))
        run = yield self.store.recordings.run(row.run_id)
        files, seconds = [], 0.0
        for piece in run:
            if piece.seq < row.seq:
                continue
            try:
                files.append((self.platform_recordings.media_path(piece), piece.duration))
            except errors.DomainError:
                break  # still being written, or on another node: the run ends here for this node
            seconds += piece.duration
        return files, seconds

    # -- steering (spec/000)

    def get(self, session_id: int) -> PlaySession:
        """The session (ended ones too, while remembered); NoSuchPlaySession."""
        self._sweep()
        session = self.sessions.get(session_id)
        if session is None:
            raise errors.NoSuchPlaySession("no play session %s" % (session_id,))
        return session

    def _steerable(self, session_id: int) -> PlaySession:
        session = self.get(session_id)
        if session.ended:
            raise errors.NoSuchPlaySession("play session %s ended" % (session_id,))
        self.steered += 1
        return session

    def stop(self, session_id: int) -> PlaySession:
        """End the session: its player's stream is closed and its URL no longer plays."""
        session = self.get(session_id)
        if not session.ended:
            session.ended_at = self.now()
            steering, session.steering = session.steering, None
            if steering is not None:
                steering.close("stopplay")
            log.info("play session {id} of {dev_id} stopped", id=session_id, dev_id=session.dev_id)
        return session

    @defer.inlineCallbacks
    def pause(self, session_id: int):
        """Pause: the player receives nothing until :meth:`resume`.  A live
        camera that cannot PAUSE is held back by the relay alone."""
        session = self._steerable(session_id)
        if not session.paused:
            session.paused = True
            if session.steering is not None and session.played_once:
                try:
                    yield session.steering.pause()
                except errors.DeviceRefused as e:
                    if not session.live or e.result is None:
                        raise _refused(e) from None
                    log.info("play session {id}: the camera refused PAUSE ({why}); the relay holds its media back",
                             id=session.id, why=e)
        return session

    @defer.inlineCallbacks
    def resume(self, session_id: int):
        session = self._steerable(session_id)
        if session.paused:
            if session.steering is not None and session.played_once:
                scale, position = session.client_play()
                try:
                    yield session.steering.play(scale, position)
                except errors.DeviceRefused as e:
                    if not session.live or e.result is None:
                        raise _refused(e) from None
            session.paused = False
        return session

    @defer.inlineCallbacks
    def change_speed(self, session_id: int, speed: float):
        """Play at *speed* (RTSP Scale: 2.0 twice as fast, negative backwards);
        WrongPlayState when the camera refuses it."""
        if isinstance(speed, int) and not isinstance(speed, bool):
            speed = float(speed)
        if not (isinstance(speed, float) and speed == speed and 0 < abs(speed) <= MAX_SPEED):
            raise errors.BadValue("the speed is a number, not 0, from -%g to %g" % (MAX_SPEED, MAX_SPEED))
        session = self._steerable(session_id)
        before = session.speed, session.pending_speed
        session.speed, session.pending_speed = speed, True
        try:
            yield self._apply(session)
        except errors.DomainError:
            session.speed, session.pending_speed = before
            raise
        return session

    @defer.inlineCallbacks
    def change_position(self, session_id: int, when: float):
        """Go to the time *when* (POSIX seconds) of the recording; WrongPlayState
        for a live stream, NoRecording for a time the recording does not cover."""
        session = self._steerable(session_id)
        if session.live:
            raise errors.WrongPlayState("a live stream has no position to move to")
        span = session.span
        if not (when == when and span.start <= when < max(span.end, span.start + 1)):
            raise errors.NoRecording("the recording covers %s to %s" % (span.start, span.end))
        before = session.pending_position
        session.pending_position = float(when - span.start)
        try:
            yield self._apply(session)
        except errors.DomainError:
            session.pending_position = before
            raise
        return session

    @defer.inlineCallbacks
    def _apply(self, session: PlaySession):
        # paused, or the player not playing yet: kept for the next PLAY
        if session.steering is not None and session.played_once and not session.paused:
            scale, position = session.client_play()
            if position is None and scale is not None and not session.live:
                # a new speed alone is not applied by every server (GStreamer keeps its rate
                # for a Scale of 1 without a Range): go on from where the stream is, at that speed
                position = session.steering.position()
            try:
                yield session.steering.play(scale, position)
            except errors.DeviceRefused as e:
                raise _refused(e) from None

    # -- the relay's lookup

    def for_token(self, token: str) -> PlaySession | None:
        return self.by_token.get(token)

    def _sweep(self) -> None:
        now = self.now()
        if now < self._next_sweep:
            return
        self._next_sweep = now + max(1.0, self.timeout / 4)
        for session in list(self.sessions.values()):
            since = session.ended_at if session.ended else session.opened_at
            if session.steering is None and now - since >= self.timeout:
                if not session.ended:
                    session.ended_at = now
                del self.sessions[session.id]
                self.by_token.pop(session.token, None)

    def stop_all(self) -> None:
        for session in list(self.sessions.values()):
            if not session.ended:
                self.stop(session.id)


def _refused(e: errors.DeviceRefused) -> errors.DomainError:
    """The camera said no (an RTSP 4xx: it cannot do that to this stream), or did not answer."""
    if e.result is not None and 400 <= e.result < 500:
        return errors.WrongPlayState("the camera refused: RTSP %d" % (e.result,))
    return e


def _user_id(principal) -> int | None:
    return principal.id if principal.kind == "user" else None


def _span(dev_id: str, channel_no: int, f, zone) -> RecordSpan | None:
    try:
        start = parse_time(f.StartTime or "", zone).timestamp()
        end = parse_time(f.EndTime or "", zone).timestamp()
    except ValueError:
        return None
    if end < start:
        return None
    return RecordSpan(dev_id, channel_no, start, end, f.FileName, f.FileSize, "device")
