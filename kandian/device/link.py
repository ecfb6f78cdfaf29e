"""The platform's side of one device link (§7.3 数据传输规则, §7.4, PRODUCT.md "Device link rules").

:class:`DeviceLink` only frames and dispatches: bytes go through the sans-IO
:class:`~kandian.device.frame.FrameDecoder`, device-initiated requests
(0x31–0x37, 0x74) go to the controller one at a time and in order, and answers
to the platform's own commands (0x60–0x82) are matched to their call by SEQ.

The rules it enforces:

* the first frame must be LOGIN_REQ, within ``login_timeout``; anything else
  closes the link; a failed login is answered, then the link is closed;
* no HEARTBEAT_REQ for ``heartbeat_timeout`` seconds closes the link;
* a bad start word (the stream is out of step) or an oversize LEN closes the
  link; a frame with a bad MD5 is dropped and counted, the link stays;
* a malformed body, one whose root element is not the CMD's, or one with a
  value beyond its bound (:class:`~kandian.device.messages.OutOfRange`: a
  ChannelNum of a million) is answered with Result 255 and nothing is stored;
  the three answers the spec gives no Result (ABILITYUP_RES, HEARTBEAT_RES,
  NOTIFY_PICTURE_RES) carry an added ``<Result>255</Result>``;
* an answer with an unknown SEQ, or a CMD nobody defined, is dropped and counted;
* when requests pile up faster than the store answers them, the link stops
  reading (``pauseProducing``) until the queue drains.

Bad input is counted in :class:`LinkStats` every time but logged once per
kind per link (the first bad MD5, the first malformed body …); when the link
closes, one line tells how many more of each kind were not logged. What the
peer sent (its DevID, element text, parser messages quoting it) is cut to a
few dozen characters in every log line (:func:`kandian.logs.peer_text`).

Every platform→device command is :meth:`DeviceLink.call`, a Deferred that
fires with the device's typed answer or fails with :class:`CommandTimeout`,
:class:`LinkLost`, :class:`DeviceRefused` or :class:`BadAnswer`.
"""

from __future__ import annotations

import bisect
import collections
import heapq
import itertools

import attrs
from twisted.internet import defer, protocol
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from ..core.errors import log_failure
from ..logs import peer_text
from ..sendnow import direct_socket, no_delay, send_now
from .frame import BadDigest, Frame, FrameDecoder, FrameError, FrameTooLarge, next_seq
from .messages import (
    DEVICE_INITIATED,
    HeartbeatRequest,
    LoginRequest,
    LoginResponse,
    MessageError,
    OutOfRange,
    StoreQueryResponse,
    decode_body,
    encode_body,
    message_class,
    registry,
)
from .results import OK, OTHER_ERROR

log = Logger()

LOGIN = LoginRequest.CMD
HEARTBEAT = HeartbeatRequest.CMD
MAX_QUEUED_REQUESTS = 32
DETAIL_LIMIT = 160  # characters of a parser's message (which may quote the peer) in a log line
# answers whose Result is a state, not 0-for-success (§7.5.36)
_RESULT_IS_STATE = (StoreQueryResponse,)


class CommandError(Exception):
    """A platform→device command did not produce an answer to use."""


class DeviceOffline(CommandError):
    """No link to the device on this node."""


class LinkLost(CommandError):
    """The link closed before the device answered."""


class CommandTimeout(CommandError):
    """The device did not answer within ``command_timeout``."""


class DeviceRefused(CommandError):
    """The device answered with a non-zero Result."""

    def __init__(self, answer):
        super().__init__("device refused: Result %s" % (answer.Result,))
        self.answer = answer
        self.result = answer.Result


class BadAnswer(CommandError):
    """The device's answer could not be decoded."""


# upper bounds (seconds) of the command round-trip histogram; PRODUCT.md's p99 target is 20 ms
ROUND_TRIP_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class LinkStats:
    """Counters of one link listener (exported as metrics by the admin listener)."""

    def __init__(self):
        self.frames_in: collections.Counter = collections.Counter()
        self.frames_out: collections.Counter = collections.Counter()
        self.bad_frames: collections.Counter = collections.Counter()
        self.logins: collections.Counter = collections.Counter()
        self.command_timeouts: collections.Counter = collections.Counter()
        # device requests whose handling raised (the store failed): CMD → count
        self.request_failures: collections.Counter = collections.Counter()
        # round trips of platform→device commands: CMD → [count per bucket…, +Inf], and their sum
        self.command_buckets: dict[int, list[int]] = {}
        self.command_seconds: collections.Counter = collections.Counter()

    def round_trip(self, cmd: int, seconds: float) -> None:
        counts = self.command_buckets.get(cmd)
        if counts is None:
            counts = self.command_buckets[cmd] = [0] * (len(ROUND_TRIP_BUCKETS) + 1)
        counts[bisect.bisect_left(ROUND_TRIP_BUCKETS, seconds)] += 1
        self.command_seconds[cmd] += seconds


class CommandDeadlines:
    """The ``command_timeout`` of every command in flight on many links, under one timer.

    A DelayedCall per command, cancelled by nearly every answer, grew the
    reactor's heap of timers by the commands of the last ``command_timeout``
    seconds, and the reactor rebuilt that heap whenever cancelled calls
    outnumbered the live ones (the 19,000 links' heartbeat deadlines): a
    stall of tens of milliseconds every few seconds at 2,000 commands a
    second (docs/benchmarks.md, "McuLogin in one round trip; the device
    link's answers, timers and load generator").  Here a
    command's deadline is an entry in a heap of tuples; an answered
    command's entry is left to lapse, and the one timer is cancelled once no
    command is in flight."""

    def __init__(self, clock: IReactorTime):
        self.clock = clock
        self._heap: list[tuple[float, int, object, int, object]] = []
        self._order = itertools.count()
        self._live = 0
        self._timer = None
        self._timer_at = 0.0  # when the timer fires

    def add(self, deadline: float, link: DeviceLink, seq: int, entry) -> None:
        """*link* expects the answer to *seq* (its pending *entry*) by *deadline*."""
        heapq.heappush(self._heap, (deadline, next(self._order), link, seq, entry))
        self._live += 1
        if self._timer is None or deadline < self._timer_at:
            self._arm()

    def _arm(self) -> None:
        """The timer set for the earliest deadline."""
        if not self._heap:
            return
        self._timer_at = at = self._heap[0][0]
        delay = max(0.0, at - self.clock.seconds())
        if self._timer is None:
            self._timer = self.clock.callLater(delay, self._expire)
        else:
            self._timer.reset(delay)

    def settled(self) -> None:
        """A command added here has its outcome (an answer, a timeout, a lost link, a cancel)."""
        self._live -= 1
        if self._live == 0:
            self._heap.clear()
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    def _expire(self) -> None:
        self._timer = None
        now = self.clock.seconds()
        heap = self._heap
        while heap and heap[0][0] <= now:
            _, _, link, seq, entry = heapq.heappop(heap)
            link._deadline_passed(seq, entry)
        if self._timer is None or (heap and heap[0][0] < self._timer_at):
            self._arm()


_PLATFORM_COMMANDS = frozenset(cmd for (cmd, is_response) in registry() if cmd not in DEVICE_INITIATED)


class DeviceLink(protocol.Protocol):
    """One TCP link from a camera or NVR."""

    dev_id: str | None = None

    def __init__(self, controller, clock: IReactorTime, *, login_timeout: float, heartbeat_timeout: float,
                 command_timeout: float, stats: LinkStats | None = None, max_data: int = 65535,
                 deadlines: CommandDeadlines | None = None):
        """*deadlines*: the command timeouts' keeper shared by the links of a factory (one of its own
        otherwise)."""
        self.controller = controller
        self.clock = clock
        self.login_timeout = login_timeout
        self.heartbeat_timeout = heartbeat_timeout
        self.command_timeout = command_timeout
        self.stats = stats if stats is not None else LinkStats()
        self.max_data = max_data
        self._decoder = FrameDecoder(max_data)
        self._queue: collections.deque[Frame] | None = None  # made on the first request: most links idle
        self._draining = False
        self._in_drain = False  # _drain's loop is running (not waiting for a request's answer)
        self._current: Frame | None = None  # the request being handled
        self._paused = False
        self._closing = False
        self._logging_in = False
        self._timer = None
        self._seq = 0
        self._deadlines = deadlines if deadlines is not None else CommandDeadlines(clock)
        # SEQ → (request, Deferred, sent at): the commands in flight
        self._pending: dict[int, tuple[object, defer.Deferred, float]] = {}
        # kinds of bad input on this link; made on the first (an idle link holds no counter)
        self._seen_bad: collections.Counter | None = None
        self._socket = None  # kandian.sendnow.direct_socket of the transport

    # -- connection

    @property
    def closing(self) -> bool:
        """Closed, or closing: no login may make this the device's link."""
        return self._closing

    @property
    def peer(self) -> tuple[str | None, int | None]:
        address = self.transport.getPeer()
        return getattr(address, "host", None), getattr(address, "port", None)

    def connectionMade(self):
        no_delay(self.transport)  # a command must not wait for the device's delayed ACK
        self._socket = direct_socket(self.transport)
        self._timer = self.clock.callLater(self.login_timeout, self._expired, "no LOGIN_REQ within %d s"
                                           % (self.login_timeout,))

    def connectionLost(self, reason=protocol.connectionDone):
        self._closing = True
        self._cancel_timer()
        pending, self._pending = self._pending, {}
        for request, d, _ in pending.values():
            self._deadlines.settled()
            d.errback(LinkLost("link to %s closed before it answered %s" % (self.dev_id, request.ROOT)))
        self._queue = None
        factory = getattr(self, "factory", None)
        if factory is not None:
            factory.connections.discard(self)
        unlogged = {kind: n - 1 for kind, n in sorted((self._seen_bad or {}).items()) if n > 1}
        if unlogged:
            log.warn("device link {who} closed; bad input not logged: {unlogged}", who=self._who(),
                     unlogged=", ".join("%s %d" % item for item in unlogged.items()))
        self.controller.link_lost(self)

    def close(self, why: str) -> None:
        """Close after what has been written is sent."""
        if not self._closing:
            self._closing = True
            log.info("closing device link {who}: {why}", who=self._who(), why=why)
            self.transport.loseConnection()

    def replaced(self) -> None:
        """A newer login of the same DevID took over (PRODUCT.md)."""
        self.close("replaced by a new login of the same DevID")

    def _who(self) -> str:
        host, port = self.peer
        return "%s (%s:%s)" % (peer_text(self.dev_id) if self.dev_id else "not logged in", host, port)

    # -- timers

    def _cancel_timer(self):
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None

    def _expired(self, why: str) -> None:
        self._timer = None
        self.stats.bad_frames["timeout"] += 1
        self.close(why)

    def _heartbeat_deadline(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.reset(self.heartbeat_timeout)
        else:
            self._timer = self.clock.callLater(
                self.heartbeat_timeout, self._expired,
                "no HEARTBEAT_REQ for %d s" % (self.heartbeat_timeout,))

    # -- bytes in

    def dataReceived(self, data: bytes) -> None:
        if self._closing:
            return
        try:
            for event in self._decoder.feed(data):
                if isinstance(event, BadDigest):
                    self._bad("digest", "frame CMD 0x%02X SEQ %d with a bad MD5 dropped" % (event.cmd, event.seq))
                    continue
                self._frame(event)
                if self._closing:
                    return
        except FrameTooLarge as e:
            self._bad("oversize", str(e))
            self.close("oversize frame")
        except FrameError as e:
            self._bad("start_word", str(e))
            self.close("stream out of sync")

    def _bad(self, reason: str, detail: str) -> None:
        """Count bad input; log only the first of its kind on this link."""
        self.stats.bad_frames[reason] += 1
        if self._once(reason):
            log.warn("device link {who}: {detail} (further {reason} input on this link is counted, not logged)",
                     who=self._who(), detail=detail, reason=reason)

    def _once(self, kind: str) -> bool:
        if self._seen_bad is None:
            self._seen_bad = collections.Counter()
        self._seen_bad[kind] += 1
        return self._seen_bad[kind] == 1

    def _frame(self, frame: Frame) -> None:
        self.stats.frames_in[frame.cmd] += 1
        if self.dev_id is None and not self._logging_in and frame.cmd != LOGIN:
            self._bad("before_login", "CMD 0x%02X before LOGIN_REQ" % (frame.cmd,))
            self.close("first frame was not LOGIN_REQ")
        elif frame.cmd in DEVICE_INITIATED:
            self._enqueue(frame)
        elif frame.cmd in _PLATFORM_COMMANDS:
            self._answer_received(frame)
        else:
            self._bad("unknown_cmd", "unknown CMD 0x%02X (SEQ %d) dropped" % (frame.cmd, frame.seq))

    # -- device-initiated requests, one at a time

    def _enqueue(self, frame: Frame) -> None:
        if frame.cmd == LOGIN and self.dev_id is None:
            if self._logging_in:
                self._bad("duplicate_login", "second LOGIN_REQ while the first is checked")
                return
            self._logging_in = True
        if self._queue is None:
            self._queue = collections.deque()
        self._queue.append(frame)
        if len(self._queue) >= MAX_QUEUED_REQUESTS and not self._paused:
            self._paused = True
            self.transport.pauseProducing()
        if not self._draining:
            self._drain()

    # Plain callbacks, no generators: a login went through five inlineCallbacks frames (this link's
    # drain, request and login, the controller's, the core's), a tenth of its CPU at 2,000 logins/s.

    def _drain(self) -> None:
        """Handle the queued requests in order, one at a time; returns while one is under way, and
        :meth:`_handled` goes on once it is."""
        self._draining = True
        self._in_drain = True
        while self._queue and not self._closing:
            frame = self._current = self._queue.popleft()
            try:
                d = self._request(frame)
            except Exception:
                self._handling_failed(Failure(), frame)
                d = None
            if d is not None:
                d.addCallbacks(self._handled, self._handling_failed, errbackArgs=(frame,))
                if self._current is frame:  # still under way: _handled goes on
                    self._in_drain = False
                    return
            self._current = None
            self._resume_reading()
        self._in_drain = False
        self._draining = False
        if not self._queue:
            self._queue = None

    def _handled(self, _=None) -> None:
        self._current = None
        if not self._in_drain:  # it settled later than the drain that started it: go on from here
            self._resume_reading()
            self._drain()

    def _handling_failed(self, failure: Failure, frame: Frame) -> None:
        self.stats.request_failures[frame.cmd] += 1
        if self._once("failed"):
            log_failure(log, "device link {who}: handling CMD 0x{cmd:02X} failed (further failures on"
                        " this link are counted, not logged)", failure, who=self._who(), cmd=frame.cmd)
        self._reply(frame, self._error_answer(frame.cmd))
        if frame is self._current:
            self._handled()

    def _resume_reading(self) -> None:
        if self._paused and not self._closing and len(self._queue or ()) < MAX_QUEUED_REQUESTS // 2:
            self._paused = False
            self.transport.resumeProducing()

    def _request(self, frame: Frame) -> defer.Deferred | None:
        """Handle one request: a Deferred while its answer is under way, None once it is answered."""
        try:
            request = decode_body(frame.cmd, False, frame.data)
        except MessageError as e:
            reason = "out_of_range" if isinstance(e, OutOfRange) else "malformed"
            self._bad(reason, "%s CMD 0x%02X body: %s" % (reason.replace("_", " "), frame.cmd,
                                                          peer_text(str(e), DETAIL_LIMIT)))
            self._reply(frame, self._error_answer(frame.cmd))
            if frame.cmd == LOGIN and self.dev_id is None:
                self._logging_in = False
                self.close("malformed LOGIN_REQ")
            return None
        if frame.cmd == LOGIN:
            return self._login(frame, request)
        if request.DevID != self.dev_id:
            self._bad("wrong_devid", "%s for DevID %s on this link" % (request.ROOT, peer_text(request.DevID)))
            self._reply(frame, self._error_answer(frame.cmd))
            return None
        if frame.cmd == HEARTBEAT:
            self._heartbeat_deadline()
        return self.controller.handle(self, request).addCallback(self._answer, frame)

    def _answer(self, answer, frame: Frame) -> None:
        self._reply(frame, answer)

    def _login(self, frame: Frame, request: LoginRequest) -> defer.Deferred | None:
        if self.dev_id is not None:
            self._bad("duplicate_login", "LOGIN_REQ on a link already logged in")
            self._reply(frame, LoginResponse(Result=OTHER_ERROR, DevID=request.DevID))
            return None
        return self.controller.login(self, request).addCallback(self._login_answered, frame, request)

    def _login_answered(self, answer, frame: Frame, request: LoginRequest) -> None:
        self._logging_in = False
        self.stats.logins[answer.Result] += 1
        if self._closing:  # the login timeout struck while the store was asked
            return
        if answer.Result == OK:  # the controller made this the device's link
            self.dev_id = request.DevID
            self._cancel_timer()
            self._heartbeat_deadline()
            self._reply(frame, answer)
        else:
            self._reply(frame, answer)
            self.close("login refused with Result %d" % (answer.Result,))

    def _error_answer(self, cmd: int):
        """Result 255 in the CMD's answer; ``None`` where there is no answer body."""
        try:
            cls = message_class(cmd, True)
        except MessageError:
            return None
        fields = {a.name: a for a in cls.__attrs_attrs__}
        if "Result" not in fields:
            return None
        answer = dict(Result=OTHER_ERROR, DevID=self.dev_id or "")
        if "Time" in fields and fields["Time"].default is attrs.NOTHING:  # ABILITYUP_RES, HEARTBEAT_RES
            answer["Time"] = self.controller.wire_time()
        return cls(**answer)

    def _reply(self, frame: Frame, answer) -> None:
        if answer is None or self._closing and answer.CMD != LOGIN:
            return
        self._send(Frame(frame.cmd, frame.seq, encode_body(answer)))

    def _send(self, frame: Frame) -> None:
        self.stats.frames_out[frame.cmd] += 1
        send_now(self.transport, self._socket, frame.to_wire())

    # -- platform → device commands

    def call(self, request) -> defer.Deferred:
        """Send a 0x60–0x82 request; fires with the typed answer."""
        if self._closing or self.dev_id is None:
            return defer.fail(LinkLost("no link to %s" % (self.dev_id or request.DevID,)))
        seq = self._allocate_seq()
        d = defer.Deferred(lambda _: self._forget(seq))
        now = self.clock.seconds()
        entry = self._pending[seq] = (request, d, now)
        self._deadlines.add(now + self.command_timeout, self, seq, entry)
        self._send(Frame(request.CMD, seq, encode_body(request)))
        return d

    def _allocate_seq(self) -> int:
        seq = self._seq
        while seq in self._pending:  # 65536 calls in flight cannot happen: pending is bounded by timeouts
            seq = next_seq(seq)
        self._seq = next_seq(seq)
        return seq

    def _forget(self, seq: int) -> None:
        if self._pending.pop(seq, None) is not None:
            self._deadlines.settled()

    def _deadline_passed(self, seq: int, entry) -> None:
        """The command timeout of *entry* (SEQ *seq*) passed: it fails unless it was answered meanwhile."""
        if self._pending.get(seq) is not entry:
            return
        del self._pending[seq]
        self._deadlines.settled()
        request, d, _ = entry
        self.stats.command_timeouts[request.CMD] += 1
        log.warn("device {dev_id}: no answer to {root} (SEQ {seq}) within {timeout} s",
                 dev_id=self.dev_id, root=request.ROOT, seq=seq, timeout=self.command_timeout)
        d.errback(CommandTimeout("%s did not answer %s within %d s"
                                 % (self.dev_id, request.ROOT, self.command_timeout)))

    def _answer_received(self, frame: Frame) -> None:
        entry = self._pending.get(frame.seq)
        if entry is None or entry[0].CMD != frame.cmd:
            self._bad("unknown_seq", "answer CMD 0x%02X SEQ %d matches no command" % (frame.cmd, frame.seq))
            return
        del self._pending[frame.seq]
        self._deadlines.settled()
        request, d, sent_at = entry
        self.stats.round_trip(frame.cmd, self.clock.seconds() - sent_at)
        try:
            answer = decode_body(frame.cmd, True, frame.data)
        except MessageError as e:
            reason = "out_of_range" if isinstance(e, OutOfRange) else "malformed"
            self._bad(reason, "%s answer to %s: %s" % (reason.replace("_", " "), request.ROOT,
                                                        peer_text(str(e), DETAIL_LIMIT)))
            d.errback(BadAnswer("%s answer to %s: %s" % (reason.replace("_", " "), request.ROOT, e)))
            return
        result = getattr(answer, "Result", OK)
        if result not in (OK, None) and not isinstance(answer, _RESULT_IS_STATE):
            d.errback(DeviceRefused(answer))
        else:
            d.callback(answer)


class DeviceLinkFactory(protocol.ServerFactory):
    """Builds a :class:`DeviceLink` per connection, all sharing one controller."""

    noisy = False

    def __init__(self, controller, clock: IReactorTime, *, login_timeout: float, heartbeat_timeout: float,
                 command_timeout: float, stats: LinkStats | None = None):
        self.controller = controller
        self.clock = clock
        self.settings = dict(login_timeout=login_timeout, heartbeat_timeout=heartbeat_timeout,
                             command_timeout=command_timeout)
        self.stats = stats if stats is not None else LinkStats()
        self.deadlines = CommandDeadlines(clock)  # the command timeouts of all its links
        self.connections: set[DeviceLink] = set()  # every open link, logged in or not

    def buildProtocol(self, addr):
        link = DeviceLink(self.controller, self.clock, stats=self.stats, deadlines=self.deadlines,
                          **self.settings)
        link.factory = self
        self.connections.add(link)
        return link
