"""The device link's adapter to the core (§7.5.1–§7.5.5, §7.5.23, §7.5.27, §7.5.34).

The :class:`~kandian.device.link.DeviceLink` protocol frames and orders; this
controller turns each device-initiated request into a call of the core
(:class:`kandian.core.devices.Devices`, :class:`kandian.core.alarms.Alarms`)
and its outcome into the answer, domain errors through the one table of
:mod:`kandian.device.results`.  Reports are stored *before* they are
acknowledged (PRODUCT.md: an acknowledged report is never lost — a report
the store could not take is answered with Result 255, so the device keeps
it).  It knows nothing of sockets or the store; time comes from the injected
clock.
"""

from __future__ import annotations

from twisted.internet import defer
from twisted.logger import Logger

from ..core import errors
from ..core.devices import Addresses, LoginReport
from ..core.errors import log_failure
from ..logs import peer_text
from ..wiretime import format_time, parse_time
from .messages import (
    AbilityUpRequest,
    AbilityUpResponse,
    AlarmNotifyRequest,
    AlarmNotifyResponse,
    ExceptionNotifyRequest,
    ExceptionNotifyResponse,
    HeartbeatRequest,
    HeartbeatResponse,
    LoginRequest,
    LoginResponse,
    NotifyPictureRequest,
    NotifyPictureResponse,
    RecordPlayRequest,
    RecordPlayResponse,
    VideoPlayRequest,
    VideoPlayResponse,
)
from .results import OK, OTHER_ERROR, RESULTS, result_for

log = Logger()


class LinkController:
    """*devices*, *alarms* and *play* are the core's (play checks the hash tokens of §7.5.5, §7.5.23)."""

    def __init__(self, devices, alarms, play, clock, timezone):
        self.devices = devices
        self.alarms = alarms
        self.play = play
        self.clock = clock
        self.timezone = timezone
        self._sessions: dict[object, object] = {}  # logged-in link → its core DeviceSession
        self._wire_second: int | None = None
        self._wire_time = ""

    @property
    def alarms_stored(self) -> int:
        return self.alarms.stored

    def now(self) -> float:
        return self.clock.seconds()

    def wire_time(self) -> str:
        """Now as the answers' Time: formatted once a second (every LOGIN_RES, ABILITYUP_RES and HEARTBEAT_RES
        carries it; strftime cost a tenth of a login)."""
        now = self.now()
        second = int(now // 1)
        if second != self._wire_second:
            self._wire_second, self._wire_time = second, format_time(second, self.timezone)
        return self._wire_time

    # -- §7.5.1 login

    def login(self, link, request: LoginRequest) -> defer.Deferred:
        """A LOGIN_REQ, in one call of the core; the answer's Result says whether the link may stay."""
        report = LoginReport(request.DevID, request.DevKey, request.DevVer, _addresses(request),
                             request.NetType, request.NatType)
        return self.devices.login(report, link.peer, link).addCallbacks(
            self._granted, self._refused, callbackArgs=(link, request), errbackArgs=(request,))

    def _granted(self, granted, link, request: LoginRequest) -> LoginResponse:
        if granted is None:  # the link closed meanwhile; it answers nothing
            return LoginResponse(Result=OK, DevID=request.DevID, Time=self.wire_time())
        cloud, session = granted
        self._sessions[link] = session
        return LoginResponse(
            Result=OK, DevID=request.DevID, EURL=cloud.url or None, EAccount=cloud.account or None,
            EPassword=cloud.password or None, EStorageSpace=cloud.space,
            ERecordBucket=cloud.record_bucket or None, EPictureBucket=cloud.picture_bucket or None,
            Time=self.wire_time())

    def _refused(self, failure, request: LoginRequest) -> LoginResponse:
        e = failure.value
        if not isinstance(e, Exception):
            return failure
        if not isinstance(e, errors.DomainError):
            log_failure(log, "login of {dev_id}: store failed", failure, dev_id=peer_text(request.DevID))
        result = result_for(e)
        log.info("device {dev_id} login refused: Result {result}", dev_id=peer_text(request.DevID), result=result)
        return LoginResponse(Result=result, DevID=request.DevID, Time=self.wire_time())

    def link_lost(self, link) -> None:
        self.devices.link_lost(link, self._sessions.pop(link, None))

    # -- everything after login

    def handle(self, link, request) -> defer.Deferred:
        handler = self._handlers.get(type(request))
        return defer.maybeDeferred(handler, self, link, request)

    # the two requests every device sends (at each login, every heartbeat period): plain callbacks, no generator

    def _ability(self, link, request: AbilityUpRequest) -> defer.Deferred:
        return self.devices.ability(request.DevID, request).addCallback(
            lambda _: AbilityUpResponse(DevID=request.DevID, Time=self.wire_time()))

    def _heartbeat(self, link, request: HeartbeatRequest) -> defer.Deferred:
        session = self._sessions.get(link)
        stored = (defer.succeed(None) if session is None
                  else self.devices.heartbeat(session, _addresses(request), request.CurVideoNum))
        return stored.addCallback(lambda _: HeartbeatResponse(DevID=request.DevID, Time=self.wire_time()))

    @defer.inlineCallbacks
    def _exception(self, link, request: ExceptionNotifyRequest):
        try:
            yield self.devices.exception(request.DevID, request.ChannelNo, request.ExceptionType,
                                         request.ExceptionDesc or "")
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
        except errors.TokenRefused:
            log.info("device {dev_id}: {root} token refused (channel {channel}, {binding})",
                     dev_id=request.DevID, root=request.ROOT, channel=request.ChannelNo,
                     binding={k: peer_text(v) for k, v in binding.items()})
            return answer(Result=RESULTS[errors.TokenRefused], DevID=request.DevID)
        return answer(Result=OK, DevID=request.DevID)

    @defer.inlineCallbacks
    def _picture(self, link, request: NotifyPictureRequest):
        taken_at = None
        if request.Time:
            try:
                taken_at = parse_time(request.Time, self.timezone)
            except ValueError:
                taken_at = None
        on_disk = yield self.devices.picture(request.DevID, request.ChannelNo, request.FileName, taken_at)
        if not on_disk:
            log.info("device {dev_id} notified picture {name}, which it has not uploaded", dev_id=request.DevID,
                     name=peer_text(request.FileName))
        return NotifyPictureResponse(DevID=request.DevID)

    @defer.inlineCallbacks
    def _alarm(self, link, request: AlarmNotifyRequest):
        try:
            alarm = yield self.alarms.report(request.DevID, request.ChannelNo, request.AlarmType,
                                             request.AlarmDesc or "", request.DIDONo, request.FileName or "")
        except Exception:
            log_failure(log, "device {dev_id}: alarm not stored", dev_id=request.DevID)
            return AlarmNotifyResponse(Result=OTHER_ERROR, DevID=request.DevID)
        if alarm is not None:  # None: the same alarm within 60 s, acknowledged but not stored again
            log.info("device {dev_id} alarm {type} on channel {channel}", dev_id=request.DevID,
                     type=request.AlarmType, channel=request.ChannelNo)
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


def _addresses(request) -> Addresses:
    return Addresses(request.UpnpIP, request.RtspUpnpPort, request.LocalIP, request.RtspLocalPort,
                     request.TurnRelayIP, request.RtspTurnRelayPort)
