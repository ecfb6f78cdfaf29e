"""What the platform does with each device-initiated message (§7.5.1–§7.5.5, §7.5.23, §7.5.27, §7.5.34).

The :class:`~kandian.device.link.DeviceLink` protocol frames and orders; this
controller decides: it checks logins against the store, records what devices
report, verifies hash tokens, stores reports *before* acknowledging them
(PRODUCT.md: an acknowledged report is never lost — a report the store could
not take is answered with Result 255, so the device keeps it), and keeps the
registry of online links.  It knows nothing of sockets; time comes from the
injected clock.
"""

from __future__ import annotations

import itertools
import re
from typing import Callable

from twisted.internet import defer, task
from twisted.logger import Logger

from ..core.errors import TokenRefused
from ..logs import peer_text
from ..store.links import Addresses, OK, OTHER_ERROR, UNSUPPORTED
from ..store.pool import log_failure
from ..wiretime import format_time, parse_time
from .reachability import probe_target
from .messages import (
    AbilityUpRequest, AbilityUpResponse, AlarmNotifyRequest, AlarmNotifyResponse,
    ExceptionNotifyRequest, ExceptionNotifyResponse, HeartbeatRequest, HeartbeatResponse,
    LoginRequest, LoginResponse, NotifyPictureRequest, NotifyPictureResponse,
    RecordPlayRequest, RecordPlayResponse, VideoPlayRequest, VideoPlayResponse,
)

log = Logger()

# DevVer "V1.5_20131210": protocol version 1.5 (§7.5.1).  This platform speaks
# protocol 1.x; a firmware announcing 2.0 or later is refused with Result 3.
_DEV_VER = re.compile(r"^[Vv](\d+)\.(\d+)")
SUPPORTED_MAJOR = 1
TOKEN_REFUSED = 1


def protocol_supported(dev_ver: str) -> bool:
    match = _DEV_VER.match(dev_ver)
    return match is not None and int(match.group(1)) == SUPPORTED_MAJOR


class Alarm:
    """A stored alarm, as handed to the notification hooks."""

    def __init__(self, alarm_id: int, request: AlarmNotifyRequest, at: float):
        self.alarm_id = alarm_id
        self.dev_id = request.DevID
        self.channel_no = request.ChannelNo
        self.alarm_type = request.AlarmType
        self.desc = request.AlarmDesc or ""
        self.dido_no = request.DIDONo
        self.file_name = request.FileName or ""
        self.at = at


class Batcher:
    """Writes that tolerate a short delay, one statement per *chunk* rows
    every *interval* seconds instead of one per device: heartbeats that
    change nothing (``last_seen_at``) and links that closed (offline).  Rows
    are sent in chunks so that no single statement holds the reactor long."""

    chunk = 1000

    def __init__(self, write, clock, interval: float, what: str):
        self.write = write
        self.clock = clock
        self.interval = interval
        self.what = what
        self._rows: dict[str, float] = {}
        self._loop = task.LoopingCall(self.flush)
        self._loop.clock = clock

    def note(self, dev_id: str, now: float) -> None:
        self._rows[dev_id] = now

    def __contains__(self, dev_id: str) -> bool:
        return dev_id in self._rows

    def discard(self, dev_id: str) -> None:
        self._rows.pop(dev_id, None)

    def start(self) -> None:
        self._loop.start(self.interval, now=False)

    @defer.inlineCallbacks
    def stop(self):
        if self._loop.running:
            self._loop.stop()
        yield self.flush()

    @defer.inlineCallbacks
    def flush(self):
        while self._rows:
            rows = dict(itertools.islice(self._rows.items(), self.chunk))
            for dev_id in rows:
                del self._rows[dev_id]
            try:
                yield self.write(rows)
            except Exception:
                log_failure(log, "could not record {what} of {count} devices", what=self.what, count=len(rows))


class SeenBatcher(Batcher):
    def __init__(self, store, clock, interval: float = 30.0):
        super().__init__(store.seen, clock, interval, "last_seen_at")


class OfflineBatcher(Batcher):
    def __init__(self, store, clock, interval: float = 1.0):
        super().__init__(store.offline, clock, interval, "offline state")


class LinkController:
    def __init__(self, store, play, registry, clock, timezone, *, probe=None,
                 seen: SeenBatcher | None = None, offline: OfflineBatcher | None = None):
        self.store = store
        self.play = play  # kandian.core.play.Play: checks the hash tokens of §7.5.5, §7.5.23
        self.registry = registry
        self.clock = clock
        self.timezone = timezone
        self.probe = probe
        self.seen = seen
        self.offline = offline
        # hash of the last ABILITYUP_REQ stored per device: a repeated report (every re-login) writes nothing
        self._abilities: dict[str, int] = {}
        self.alarm_hooks: list[Callable[[Alarm], object]] = []
        self._writes: dict[object, defer.Deferred] = {}
        self._login_rows: dict[object, defer.Deferred] = {}  # link → fires once its login row is written
        self.stopping = False  # set at shutdown: the platform marks everything offline at once
        self.alarms_stored = 0

    def now(self) -> float:
        return self.clock.seconds()

    def wire_time(self) -> str:
        return format_time(self.now(), self.timezone)

    # -- §7.5.1 login

    @defer.inlineCallbacks
    def login(self, link, request: LoginRequest):
        """Check a LOGIN_REQ; the answer's Result says whether the link may stay."""
        result, cloud = OTHER_ERROR, None
        try:
            if not protocol_supported(request.DevVer):
                result = UNSUPPORTED
            else:
                result, cloud = yield self.store.authenticate(request.DevID, request.DevKey)
        except Exception:
            log_failure(log, "login of {dev_id}: store failed", dev_id=peer_text(request.DevID))
            result = OTHER_ERROR
        if result != OK:
            log.info("device {dev_id} login refused: Result {result}", dev_id=peer_text(request.DevID),
                     result=result)
            return LoginResponse(Result=result, DevID=request.DevID, Time=self.wire_time())
        return LoginResponse(
            Result=OK, DevID=request.DevID, EURL=cloud.url or None, EAccount=cloud.account or None,
            EPassword=cloud.password or None, EStorageSpace=cloud.space,
            ERecordBucket=cloud.record_bucket or None, EPictureBucket=cloud.picture_bucket or None,
            Time=self.wire_time())

    def logged_in(self, link, request: LoginRequest) -> None:
        """The link answered a successful login: it is the device's link now."""
        self.registry.add(link)
        if self.offline is not None:
            self.offline.discard(link.dev_id)
        link.addresses = _addresses(request)
        host, port = link.peer
        log.info("device {dev_id} logged in from {host}:{port} ({dev_ver})", dev_id=link.dev_id,
                 host=host, port=port, dev_ver=peer_text(request.DevVer))
        worth_probing = probe_target(request.UpnpIP, request.RtspUpnpPort) is not None
        write = self.store.logged_in(link.dev_id, request.DevVer, link.addresses, request.NetType,
                                     request.NatType, host, port, self.now(),
                                     upnp_reachable=None if worth_probing else False)
        self._track(link, write, "record the login")
        # the login row is written before any later write of the same columns
        # (a heartbeat's new addresses, a probe's outcome): they wait on this
        self._login_rows[link] = _settled(write)
        if self.probe is not None and worth_probing:
            write.addBoth(lambda _: self.probe.check(link.dev_id, request.UpnpIP, request.RtspUpnpPort))

    def link_lost(self, link) -> None:
        self._login_rows.pop(link, None)
        if self.registry.remove(link) and not self.stopping:
            log.info("device {dev_id} offline", dev_id=link.dev_id)
            before = self._writes.pop(link, None) or defer.succeed(None)
            now = self.now()
            # after the login's own write, so "online" can never land after "offline"
            if self.offline is not None:
                before.addBoth(lambda _: self.offline.note(link.dev_id, now))
            else:
                before.addBoth(lambda _: self.store.offline({link.dev_id: now})).addErrback(
                    lambda f: log_failure(log, "could not mark {dev_id} offline", f, dev_id=link.dev_id))
        else:
            self._writes.pop(link, None)

    def _track(self, link, d: defer.Deferred, what: str) -> None:
        d.addErrback(lambda f: log_failure(log, "device {dev_id}: could not {what}", f,
                                                dev_id=link.dev_id, what=what))
        self._writes[link] = d

    # -- everything after login

    def handle(self, link, request) -> defer.Deferred:
        handler = self._handlers.get(type(request))
        return defer.maybeDeferred(handler, self, link, request)

    @defer.inlineCallbacks
    def _ability(self, link, request: AbilityUpRequest):
        fingerprint = hash(request)
        if self._abilities.get(request.DevID) != fingerprint:
            yield self.store.ability(request.DevID, request)
            self._abilities[request.DevID] = fingerprint
        return AbilityUpResponse(DevID=request.DevID, Time=self.wire_time())

    @defer.inlineCallbacks
    def _heartbeat(self, link, request: HeartbeatRequest):
        # an element the heartbeat leaves out is unchanged (PRODUCT.md "XML")
        reported = Addresses(*(new if new is not None else old for new, old
                               in zip(_addresses(request), link.addresses or Addresses())))
        if reported != link.addresses:
            old, link.addresses = link.addresses, reported
            login_row = self._login_rows.get(link)
            if login_row is not None:
                yield _settled(login_row)
            yield self.store.addresses(request.DevID, reported, request.CurVideoNum, self.now())
            if self.probe is not None and (old is None or (old.upnp_ip, old.rtsp_upnp_port)
                                           != (reported.upnp_ip, reported.rtsp_upnp_port)):
                self.probe.check(request.DevID, reported.upnp_ip, reported.rtsp_upnp_port)
        elif self.seen is not None:
            self.seen.note(request.DevID, self.now())
        return HeartbeatResponse(DevID=request.DevID, Time=self.wire_time())

    @defer.inlineCallbacks
    def _exception(self, link, request: ExceptionNotifyRequest):
        try:
            yield self.store.exception(request.DevID, request.ChannelNo, request.ExceptionType,
                                       request.ExceptionDesc or "", self.now())
        except Exception:
            log_failure(log, "device {dev_id}: exception report not stored", dev_id=peer_text(request.DevID))
            return ExceptionNotifyResponse(Result=OTHER_ERROR, DevID=request.DevID)
        log.info("device {dev_id} reports exception {type}: {desc}", dev_id=request.DevID,
                 type=request.ExceptionType, desc=peer_text(request.ExceptionDesc or ""))
        return ExceptionNotifyResponse(Result=OK, DevID=request.DevID)

    @defer.inlineCallbacks
    def _token(self, link, request):
        """VIDEO_PLAY_REQ (0x35) binds the token to a stream, RECORD_PLAY_REQ
        (0x74) to a file; either way it is consumed once, atomically (the core's play)."""
        if isinstance(request, VideoPlayRequest):
            binding, answer = {"stream_type": request.StreamType}, VideoPlayResponse
        else:
            binding, answer = {"file_name": request.FileName}, RecordPlayResponse
        try:
            yield self.play.device_token(request.HashToken, request.DevID, request.ChannelNo, **binding)
        except TokenRefused:
            log.info("device {dev_id}: {root} token refused (channel {channel}, {binding})",
                     dev_id=request.DevID, root=request.ROOT, channel=request.ChannelNo,
                     binding={k: peer_text(v) for k, v in binding.items()})
            return answer(Result=TOKEN_REFUSED, DevID=request.DevID)
        return answer(Result=OK, DevID=request.DevID)

    @defer.inlineCallbacks
    def _picture(self, link, request: NotifyPictureRequest):
        taken_at = None
        if request.Time:
            try:
                taken_at = parse_time(request.Time, self.timezone)
            except ValueError:
                taken_at = None
        yield self.store.picture(request.DevID, request.ChannelNo, request.FileName, taken_at, self.now())
        return NotifyPictureResponse(DevID=request.DevID)

    @defer.inlineCallbacks
    def _alarm(self, link, request: AlarmNotifyRequest):
        now = self.now()
        try:
            alarm_id = yield self.store.alarm(request.DevID, request.ChannelNo, request.AlarmType,
                                              request.AlarmDesc or "", request.DIDONo, request.FileName or "", now)
        except Exception:
            log_failure(log, "device {dev_id}: alarm not stored", dev_id=request.DevID)
            return AlarmNotifyResponse(Result=OTHER_ERROR, DevID=request.DevID)
        if alarm_id is not None:  # None: the same alarm within 60 s, acknowledged but not stored again
            log.info("device {dev_id} alarm {type} on channel {channel}", dev_id=request.DevID,
                     type=request.AlarmType, channel=request.ChannelNo)
            self.alarms_stored += 1
            alarm = Alarm(alarm_id, request, now)
            for hook in self.alarm_hooks:
                defer.maybeDeferred(hook, alarm).addErrback(
                    lambda f: log.failure("alarm hook failed for {dev_id}", f, dev_id=request.DevID))
        return AlarmNotifyResponse(Result=OK, DevID=request.DevID)

    _handlers = {
        AbilityUpRequest: _ability,
        HeartbeatRequest: _heartbeat,
        ExceptionNotifyRequest: _exception,
        VideoPlayRequest: _token,
        RecordPlayRequest: _token,
        NotifyPictureRequest: _picture,
        AlarmNotifyRequest: _alarm,
    }


def _settled(d: defer.Deferred) -> defer.Deferred:
    """A new Deferred firing with None once *d* has its result; *d*'s own result
    and callbacks are left as they are."""
    settled = defer.Deferred()

    def fire(result):
        settled.callback(None)
        return result

    d.addBoth(fire)
    return settled


def _addresses(request) -> Addresses:
    return Addresses(request.UpnpIP, request.RtspUpnpPort, request.LocalIP, request.RtspLocalPort,
                     request.TurnRelayIP, request.RtspTurnRelayPort)
