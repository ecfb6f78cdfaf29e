"""The device end of the binary TCP link (spec §7.3 数据传输规则, §7.4 报文结构).

:class:`DeviceLink` is the Twisted protocol a simulated camera or NVR runs on
its connection to the platform:

* on connect it sends LOGIN_REQ (0x31, §7.3.3); on a LOGIN_RES with Result 0
  it sends ABILITYUP_REQ (0x32, §7.5.2) and then HEARTBEAT_REQ (0x33) every
  ``heartbeat_interval`` seconds (120, §7.3.4); after ``missed_heartbeats``
  (3) heartbeats in a row without an answer it closes the link (§7.3.4 —
  reconnecting is the runner's business, :mod:`kandian.sim.fleet`);
* its requests count SEQ from 0 and wrap after 65535 (§7.4.4); their answers
  are matched by SEQ and fire the Deferreds the public methods return, or
  fail them with :class:`RequestTimeout` (after ``request_timeout`` seconds)
  or :class:`LinkLost`;
* a platform request (CMD 0x60–0x82, §7.4.3 表 2) is decoded, logged in
  :attr:`DeviceLink.commands_received` and answered with the same CMD and SEQ
  by :func:`kandian.sim.answers.answer`;
* a device is tolerant: a frame with a bad digest, an unknown CMD, a body
  that does not decode or an answer to nothing is dropped (the first one on
  a link is logged, the others counted in :attr:`DeviceLink.bad_frames`).
  Only a stream that is out of sync (§7.4.2) or announces an oversized frame
  closes the link, since nothing after it can be framed.

Time comes from the ``IReactorTime`` given to the constructor, never from the
global reactor. An idle link holds one timer, the next heartbeat's:
heartbeats have no timeout of their own, the next beat is what notices that
the previous ones went unanswered.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.interfaces import IDelayedCall, IReactorTCP, IReactorTime, IStreamClientEndpoint
from twisted.internet.protocol import ClientFactory, Factory, Protocol, connectionDone
from twisted.logger import Logger
from twisted.python.failure import Failure

from kandian.device.frame import BadDigest, Frame, FrameDecoder, FrameError, next_seq
from kandian.device.messages import (
    DEVICE_INITIATED,
    AbilityUpResponse,
    AlarmNotifyResponse,
    ExceptionNotifyResponse,
    HeartbeatResponse,
    LoginResponse,
    Message,
    MessageError,
    NotifyPictureResponse,
    decode_body,
)
from kandian.sendnow import no_delay
from kandian.sim.answers import answer
from kandian.sim.state import DeviceState

__all__ = [
    "PLATFORM_COMMANDS",
    "LinkError",
    "LinkLost",
    "RequestTimeout",
    "NotLoggedIn",
    "LoginRefused",
    "DeviceLink",
    "DeviceLinkFactory",
    "connect_device",
]

# §7.4.3 表 2: the commands the platform sends (0x74 is the device's).
PLATFORM_COMMANDS = frozenset(range(0x60, 0x83)) - DEVICE_INITIATED

HEARTBEAT_INTERVAL = 120.0  # §7.3.4
MISSED_HEARTBEATS = 3  # §7.3.4
REQUEST_TIMEOUT = 30.0


class LinkError(Exception):
    """A request of the device could not be completed."""


class LinkLost(LinkError):
    """The link closed before the answer came."""


class RequestTimeout(LinkError):
    """The platform did not answer in time."""


class NotLoggedIn(LinkError):
    """The device only reports after a successful login (§7.3.3)."""


class LoginRefused(LinkError):
    """LOGIN_RES came with a non-zero Result (1 no such device, 2 bad key, 3 version, 255 other)."""

    def __init__(self, response: LoginResponse) -> None:
        super().__init__(f"login refused with Result {response.Result}")
        self.response = response
        self.result = response.Result


class _Pending(NamedTuple):
    cmd: int
    deferred: Deferred[Any]
    timer: IDelayedCall | None


def _ignore(failure: Failure) -> None:
    return None


class _Outcome:
    """A result that may already be known, handed to any number of waiters."""

    __slots__ = ("result", "waiters")

    def __init__(self) -> None:
        self.result: object = None
        self.waiters: list[Deferred[Any]] | None = None

    def wait(self) -> Deferred[Any]:
        if isinstance(self.result, Failure):
            return fail(self.result)
        if self.result is not None:
            return succeed(self.result)
        d: Deferred[Any] = Deferred()
        if self.waiters is None:
            self.waiters = []
        self.waiters.append(d)
        return d

    def settle(self, result: object) -> None:
        if self.result is not None:
            return
        self.result = result
        waiters, self.waiters = self.waiters or [], None
        for d in waiters:
            if isinstance(result, Failure):
                d.errback(result)
            else:
                d.callback(result)


class DeviceLink(Protocol):
    """One simulated device's link to the platform. See the module docstring."""

    log = Logger()

    def __init__(
        self,
        state: DeviceState,
        clock: IReactorTime,
        *,
        heartbeat_interval: float = HEARTBEAT_INTERVAL,
        missed_heartbeats: int = MISSED_HEARTBEATS,
        request_timeout: float = REQUEST_TIMEOUT,
        first_seq: int = 0,
        keep_commands: int = 1000,
        ftp: Any = None,
    ) -> None:
        self.state = state
        self.clock = clock
        #: a :class:`kandian.sim.ftp.DeviceFtp`: what an accepted UPGRADE/LOG_UPLOAD makes the device do
        self.ftp = ftp
        self.heartbeat_interval = heartbeat_interval
        self.missed_heartbeats = missed_heartbeats
        self.request_timeout = request_timeout
        self.keep_commands = keep_commands
        #: ``(CMD, request)`` of the latest platform requests, oldest first.
        self.commands_received: list[tuple[int, Message]] = []
        #: Platform requests answered on this link.
        self.commands_answered = 0
        #: Frames dropped: bad digest, unknown CMD, undecodable body, answer to nothing.
        self.bad_frames = 0
        self.logged_in_at: float | None = None
        self._seq = first_seq
        self._decoder = FrameDecoder()
        self._pending: dict[int, _Pending] = {}
        self._beat_timer: IDelayedCall | None = None
        self._unanswered_beats = 0
        self._open = False
        self._login = _Outcome()
        self._closed = _Outcome()

    # -- public API -------------------------------------------------------------------

    @property
    def is_logged_in(self) -> bool:
        return self.logged_in_at is not None and self._open

    @property
    def next_seq(self) -> int:
        """The SEQ the next request of the device will carry."""
        return self._seq

    def logged_in(self) -> Deferred[LoginResponse]:
        """Fires with the LOGIN_RES once the platform accepted the login.

        Fails with :class:`LoginRefused` (Result ≠ 0; the device then waits for
        the platform to close the link), :class:`RequestTimeout` (the device
        closes the link) or :class:`LinkLost`.
        """
        return self._login.wait()

    def when_closed(self) -> Deferred[BaseException]:
        """Fires (never fails) with the reason, an exception such as ConnectionDone, once the link closed."""
        return self._closed.wait()

    def report_ability(self) -> Deferred[AbilityUpResponse]:
        """Send ABILITYUP_REQ (§7.5.2), as after login or when the abilities change."""
        return self._send(self.state.ability_request())

    def heartbeat_now(self) -> Deferred[HeartbeatResponse]:
        """Beat at once and restart the heartbeat period (§7.5.3)."""
        if not self.is_logged_in:
            return fail(NotLoggedIn("heartbeats start after login"))
        return self._beat()

    def set_addresses(self, **changes: Any) -> Deferred[HeartbeatResponse | None]:
        """Change the device's addresses; beat at once if UPnP/TURN/local details changed.

        Fires with the HEARTBEAT_RES, or None when no heartbeat was due (nothing
        a heartbeat carries changed, or not logged in yet).
        """
        if self.state.set_addresses(**changes) and self.is_logged_in:
            return self._beat()
        return succeed(None)

    def send_alarm(
        self,
        channel: int,
        alarm_type: int,
        *,
        desc: str | None = None,
        dido_no: int | None = None,
        file_name: str | None = None,
    ) -> Deferred[AlarmNotifyResponse]:
        """ALARM_NOTIFY_REQ (§7.5.34); the snapshot is named after the clock's time."""
        request = self.state.alarm_request(
            channel, alarm_type, when=self.clock.seconds(), desc=desc, dido_no=dido_no, file_name=file_name
        )
        return self._send(request)

    def send_exception(
        self, exception_type: int, *, desc: str | None = None, channel: int | None = None
    ) -> Deferred[ExceptionNotifyResponse]:
        """EXCEPTION_NOTIFY_REQ (§7.5.4)."""
        return self._send(self.state.exception_request(exception_type, desc, channel))

    def send_picture(
        self, channel: int, *, file_name: str | None = None, when: float | None = None
    ) -> Deferred[NotifyPictureResponse]:
        """NOTIFY_PICTURE_REQ (§7.5.27) for a snapshot taken at *when* (default: now)."""
        taken = self.clock.seconds() if when is None else when
        return self._send(self.state.picture_request(channel, taken, file_name))

    def send_report(self, request: Message) -> Deferred[Any]:
        """Send a report the state built (an EXCEPTION_NOTIFY_REQ queued across a reboot)."""
        return self._send(request)

    def check_video_token(self, channel_no: int, stream_type: int, token: str) -> Deferred[int]:
        """VIDEO_PLAY_REQ (0x35, §7.5.5): fires with the platform's Result (0: serve the stream)."""
        d = self._send(self.state.video_play_request(channel_no, stream_type, token))
        return d.addCallback(lambda response: response.Result)

    def check_record_token(self, channel_no: int, file_name: str, token: str) -> Deferred[int]:
        """RECORD_PLAY_REQ (0x74, §7.5.23): fires with the platform's Result."""
        d = self._send(self.state.record_play_request(channel_no, file_name, token))
        return d.addCallback(lambda response: response.Result)

    def close(self) -> None:
        """Close the link (the device side of a link failure)."""
        self._open = False
        self._stop_beating()
        if self.transport is not None:
            self.transport.loseConnection()

    # -- Protocol ---------------------------------------------------------------------

    def connectionMade(self) -> None:
        self._open = True
        no_delay(self.transport)  # as a camera should (docs/device-protocol.md)
        login = self._request(self.state.login_request(), self.request_timeout)
        login.addCallbacks(self._login_answered, self._login_failed)

    def dataReceived(self, data: bytes) -> None:
        try:
            for event in self._decoder.feed(data):
                if not self._open:
                    return
                if isinstance(event, BadDigest):
                    self._drop("bad MD5 digest", event.cmd, event.seq)
                else:
                    self._frame_received(event)
        except FrameError as e:
            if self._open:
                self.log.warn(
                    "Device {dev_id}: closing an unframeable link: {error}", dev_id=self.state.dev_id, error=e
                )
                self.close()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._open = False
        self._stop_beating()
        pending, self._pending = self._pending, {}
        lost = LinkLost(reason.getErrorMessage())
        for entry in pending.values():
            if entry.timer is not None and entry.timer.active():
                entry.timer.cancel()
        for entry in pending.values():
            entry.deferred.errback(lost)
        if self.bad_frames > 1:
            self.log.info(
                "Device {dev_id}: {count} bad frames dropped on this link",
                dev_id=self.state.dev_id,
                count=self.bad_frames,
            )
        self._login.settle(Failure(lost))
        self._closed.settle(reason.value)

    # -- frames in --------------------------------------------------------------------

    def _drop(self, why: str, cmd: int, seq: int) -> None:
        self.bad_frames += 1
        if self.bad_frames == 1:
            self.log.warn(
                "Device {dev_id}: dropped a frame (CMD 0x{cmd:02X} SEQ {seq}): {why}",
                dev_id=self.state.dev_id,
                cmd=cmd,
                seq=seq,
                why=why,
            )

    def _frame_received(self, frame: Frame) -> None:
        if frame.cmd in DEVICE_INITIATED:
            self._answer_received(frame)
        elif frame.cmd in PLATFORM_COMMANDS:
            self._request_received(frame)
        else:
            self._drop("unknown CMD", frame.cmd, frame.seq)

    def _answer_received(self, frame: Frame) -> None:
        entry = self._pending.get(frame.seq)
        if entry is None or entry.cmd != frame.cmd:
            self._drop("answer to no pending request", frame.cmd, frame.seq)
            return
        try:
            response = decode_body(frame.cmd, True, frame.data)
        except MessageError as e:
            # Left pending: it times out as if the answer never came.
            self._drop(f"undecodable answer: {e}", frame.cmd, frame.seq)
            return
        del self._pending[frame.seq]
        if entry.timer is not None and entry.timer.active():
            entry.timer.cancel()
        entry.deferred.callback(response)

    def _request_received(self, frame: Frame) -> None:
        try:
            request = decode_body(frame.cmd, False, frame.data)
        except MessageError as e:
            self._drop(f"undecodable request: {e}", frame.cmd, frame.seq)
            return
        self.commands_received.append((frame.cmd, request))
        if len(self.commands_received) > self.keep_commands:
            del self.commands_received[: len(self.commands_received) - self.keep_commands]
        try:
            response = answer(self.state, request)
            data = response.to_xml()
        except Exception:
            self.log.failure("Device {dev_id}: cannot answer {request!r}", dev_id=self.state.dev_id, request=request)
            return
        self._write(Frame(frame.cmd, frame.seq, data))
        self.commands_answered += 1
        if self.state.take_ability_change() and self.is_logged_in:
            self.report_ability().addErrback(self._report_failed, "ability report")
        if self.ftp is not None and getattr(response, "Result", None) == 0:
            self.ftp.accepted(self, request)

    # -- requests out -----------------------------------------------------------------

    def _write(self, frame: Frame) -> None:
        if self._open and self.transport is not None:
            self.transport.write(frame.to_wire())

    def _request(self, message: Message, timeout: float | None) -> Deferred[Any]:
        """Send a request; its answer (matched by SEQ) fires the Deferred, else *timeout* fails it."""
        if not self._open:
            return fail(LinkLost("the link is closed"))
        seq = self._seq
        while seq in self._pending:  # only after 65,536 requests in flight
            seq = next_seq(seq)
        self._seq = next_seq(seq)
        d: Deferred[Any] = Deferred()
        timer = None if timeout is None else self.clock.callLater(timeout, self._timed_out, seq)
        self._pending[seq] = _Pending(message.CMD, d, timer)
        self._write(Frame(message.CMD, seq, self.state.encode(message)))
        return d

    def _send(self, message: Message) -> Deferred[Any]:
        if not self.is_logged_in:
            return fail(NotLoggedIn(f"{message.ROOT} is sent after login"))
        return self._request(message, self.request_timeout)

    def _timed_out(self, seq: int) -> None:
        entry = self._pending.pop(seq, None)
        if entry is None:
            return
        entry.deferred.errback(
            RequestTimeout(f"no answer to CMD 0x{entry.cmd:02X} SEQ {seq} in {self.request_timeout:g} s")
        )

    def _report_failed(self, failure: Failure, what: str) -> None:
        if not failure.check(LinkLost):
            self.log.warn(
                "Device {dev_id}: {what} failed: {error}", dev_id=self.state.dev_id, what=what, error=failure.value
            )

    # -- login and heartbeats ---------------------------------------------------------

    def _login_answered(self, response: LoginResponse) -> None:
        if response.Result != 0:
            self.log.info(
                "Device {dev_id}: login refused, Result {result}", dev_id=self.state.dev_id, result=response.Result
            )
            self._login.settle(Failure(LoginRefused(response)))
            return
        self.state.apply_login(response)
        self.logged_in_at = self.clock.seconds()
        self.report_ability().addErrback(self._report_failed, "ability report")
        if self.ftp is not None:
            self.ftp.logged_in(self)
        for report in self.state.take_reports():
            self.send_report(report).addErrback(self._report_failed, report.ROOT)
        self._schedule_beat()
        self._login.settle(response)

    def _login_failed(self, failure: Failure) -> None:
        if failure.check(RequestTimeout):
            self.log.info("Device {dev_id}: no answer to the login, closing", dev_id=self.state.dev_id)
            self.close()
        self._login.settle(failure)

    def _schedule_beat(self) -> None:
        self._stop_beating()
        self._beat_timer = self.clock.callLater(self.heartbeat_interval, self._beat_due)

    def _stop_beating(self) -> None:
        if self._beat_timer is not None and self._beat_timer.active():
            self._beat_timer.cancel()
        self._beat_timer = None

    def _beat_due(self) -> None:
        self._beat_timer = None
        if self._unanswered_beats >= self.missed_heartbeats:
            self.log.info(
                "Device {dev_id}: {count} heartbeats unanswered, closing the link",
                dev_id=self.state.dev_id,
                count=self._unanswered_beats,
            )
            self.close()
            return
        self._beat().addErrback(_ignore)

    def _beat(self) -> Deferred[HeartbeatResponse]:
        self._schedule_beat()
        self._unanswered_beats += 1
        d = self._request(self.state.heartbeat_request(), timeout=None)
        return d.addCallback(self._beat_answered)

    def _beat_answered(self, response: HeartbeatResponse) -> HeartbeatResponse:
        self._unanswered_beats = 0
        return response


class DeviceLinkFactory(Factory):
    """Builds a :class:`DeviceLink` for *state* on each connection."""

    noisy = False

    def __init__(self, state: DeviceState, clock: IReactorTime, **options: Any) -> None:
        self.state = state
        self.clock = clock
        self.options = options

    def buildProtocol(self, addr: object) -> DeviceLink:
        link = DeviceLink(self.state, self.clock, **self.options)
        link.factory = self
        return link


class _Connecting(ClientFactory):
    """One connection attempt straight through ``connectTCP``: *connected* fires with the link once its
    ``connectionMade`` has run (as an endpoint's Deferred does), or fails with why it could not connect;
    cancelling it stops the attempt.  An endpoint wraps every protocol and factory once more, a
    twentieth of a simulated login's CPU in a fleet of thousands."""

    noisy = False

    def __init__(self, state: DeviceState, clock: IReactorTime, options: dict[str, Any]) -> None:
        self.state = state
        self.clock = clock
        self.options = options
        self.connector: Any = None
        self.connected: Deferred[DeviceLink] = Deferred(self._cancel)

    def _cancel(self, d: Deferred[DeviceLink]) -> None:
        if self.connector is not None and self.connector.state == "connecting":
            self.connector.stopConnecting()

    def buildProtocol(self, addr: object) -> DeviceLink:
        link = _ConnectingLink(self.state, self.clock, **self.options)
        link.factory = self
        return link

    def made(self, link: DeviceLink) -> None:
        if not self.connected.called:
            self.connected.callback(link)
        else:  # cancelled meanwhile: nobody will use this link
            link.close()

    def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:
        if not self.connected.called:
            self.connected.errback(reason)


class _ConnectingLink(DeviceLink):
    def connectionMade(self) -> None:
        super().connectionMade()
        self.factory.made(self)


def _address(where: str | tuple[str, int]) -> tuple[str, int]:
    if isinstance(where, str):
        host, _, port = where.rpartition(":")
        return host, int(port)
    return where


def _endpoint(
    reactor: IReactorTCP, where: IStreamClientEndpoint | str | tuple[str, int], bind_address: str | None, timeout: float
) -> IStreamClientEndpoint:
    if IStreamClientEndpoint.providedBy(where):
        return where  # type: ignore[return-value]
    if isinstance(where, str):
        host, _, port = where.rpartition(":")
        where = (host, int(port))
    host, port = where
    bind = None if bind_address is None else (bind_address, 0)
    return TCP4ClientEndpoint(reactor, host, port, timeout=timeout, bindAddress=bind)


def connect_device(
    reactor: Any,
    where: IStreamClientEndpoint | str | tuple[str, int],
    state: DeviceState,
    *,
    clock: IReactorTime | None = None,
    bind_address: str | None = None,
    connect_timeout: float = 30.0,
    **options: Any,
) -> Deferred[DeviceLink]:
    """Connect *state* to the platform at *where* (an endpoint, ``"host:port"`` or a tuple).

    Fires with the connected :class:`DeviceLink` (its login under way: wait on
    :meth:`DeviceLink.logged_in`). *options* go to the :class:`DeviceLink`
    constructor; *clock* defaults to *reactor*; *bind_address* picks the local
    address, so that many devices can spread over several source addresses.
    """
    clock = reactor if clock is None else clock
    if isinstance(where, (str, tuple)):
        host, port = _address(where)
        connecting = _Connecting(state, clock, options)
        connecting.connector = reactor.connectTCP(
            host, port, connecting, timeout=connect_timeout,
            bindAddress=None if bind_address is None else (bind_address, 0))
        return connecting.connected
    endpoint = _endpoint(reactor, where, bind_address, connect_timeout)
    factory = DeviceLinkFactory(state, clock, **options)
    d: Deferred[DeviceLink] = endpoint.connect(factory)
    return d

