"""The SMGP 3.0 client on the reactor: kandian's one link to the carrier's ISMG (spec §2.6).

:class:`SmgpClient` is a :class:`~twisted.application.service.Service`:

* it connects to ``[sms] gateway`` and logs in (Login, LoginMode 2
  "transmit": Submits go out and status reports come back on one link);
  a refused login, a lost link or one that stops answering is closed and
  tried again after a backoff (1 s doubling to 60 s, with jitter) on the
  injected clock; the backoff starts over once the gateway has answered a
  request on a logged-in link;
* :meth:`SmgpClient.submit` splits a text into UCS2 parts (70 units alone,
  67 per part with a concatenation header, TP_udhi/PkTotal/PkNumber TLVs)
  and fires with one gateway MsgID per part once every Submit_Resp said
  Status 0.  At most ``window`` Submits are unanswered at a time and at most
  ``rate`` go out per second (a token bucket holding a tenth of a second's
  worth); parts wait in order in a queue of the link;
* a status report (Deliver, IsReport 1) goes to ``on_report(msg_id, stat,
  err)``; Deliver_Resp says Status 0 once it returned (or its Deferred
  fired), 1 (系统忙, the gateway delivers it again) when it failed, 10
  (消息结构错) for a report that cannot be read.  Other Delivers (replies
  from phones) are acknowledged and counted;
* it answers the gateway's Active_Test, and sends its own after
  ``active_test_interval`` seconds without hearing from the gateway; a
  request left unanswered for ``response_timeout`` seconds while nothing at
  all came from the gateway means the link is dead: it is closed;
* stopping fails the parts not yet sent, waits for the Submits in flight,
  sends Exit and closes.

Bad input from the gateway (bytes that are not SMGP, a body that does not fit
its RequestID) closes the link: nothing after it can be framed.  Every event
is counted in :class:`SmgpStats`; each kind is logged once per link, and
each reason the gateway is unusable (refused, silent, garbage, unreachable)
once until the next successful login, so an outage is not a log line per
retry.  Message texts
carry passwords and DevKeys: they are never logged.

The codec is :mod:`kandian.sms.smgp`; failures are :mod:`kandian.sms.errors`.
"""

from __future__ import annotations

import random
from collections import Counter, deque
from collections.abc import Callable
from datetime import timezone
from typing import Any

import attrs
from twisted.application.internet import backoffPolicy
from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.endpoints import clientFromString
from twisted.internet.interfaces import IDelayedCall, IReactorTime, IStreamClientEndpoint
from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.logger import Logger
from twisted.python.failure import Failure

from ..logs import peer_text
from . import smgp
from .errors import GatewayUnavailable, SmgpRejected

__all__ = ["SmgpClient", "SmgpStats", "from_config"]

log = Logger()

RESPONSE_TIMEOUT = 30.0
ACTIVE_TEST_INTERVAL = 60.0
STOP_TIMEOUT = 5.0

ReportHandler = Callable[[str, str, str], Any]


@attrs.define
class SmgpStats:
    """Plain counters, read by ``/metrics`` at scrape time."""

    connects: int = 0  # connection attempts
    connect_failures: int = 0
    logins: Counter = attrs.Factory(Counter)  # by Login_Resp Status ("timeout" when none came)
    submitted: int = 0  # Submit PDUs sent
    submit_status: Counter = attrs.Factory(Counter)  # Submit_Resp by Status
    submit_timeouts: int = 0
    reports: Counter = attrs.Factory(Counter)  # by stat
    report_failures: int = 0  # on_report failed: Deliver_Resp Status 1
    mo_received: int = 0  # Delivers that are not reports
    active_tests_sent: int = 0
    active_tests_answered: int = 0
    bad_input: Counter = attrs.Factory(Counter)  # by reason
    links_closed: Counter = attrs.Factory(Counter)  # by why


class _Message:
    """One :meth:`SmgpClient.submit`: its parts and the Deferred its caller holds."""

    __slots__ = ("deferred", "dest", "ids", "remaining", "done", "valid_time")

    def __init__(self, dest: str, parts: int, valid_time: str) -> None:
        self.deferred: defer.Deferred = defer.Deferred()
        self.dest = dest
        self.ids: list[str | None] = [None] * parts
        self.remaining = parts
        self.done = False
        self.valid_time = valid_time

    def part_accepted(self, index: int, msg_id: bytes) -> None:
        if self.done:
            return
        self.ids[index] = msg_id.hex()
        self.remaining -= 1
        if not self.remaining:
            self.done = True
            self.deferred.callback(list(self.ids))

    def fail(self, error: Exception) -> None:
        if not self.done:
            self.done = True
            self.deferred.errback(error)


class _Part:
    __slots__ = ("message", "index", "content", "tlvs")

    def __init__(self, message: _Message, index: int, content: bytes, tlvs: tuple[smgp.Tlv, ...]) -> None:
        self.message = message
        self.index = index
        self.content = content
        self.tlvs = tlvs


class _Request:
    """A request of ours waiting for its response."""

    __slots__ = ("kind", "part", "timer", "heard")

    def __init__(self, kind: type, part: _Part | None, timer: IDelayedCall, heard: int) -> None:
        self.kind = kind
        self.part = part
        self.timer = timer
        self.heard = heard  # PDUs received from the gateway when it was sent


class SmgpLink(Protocol):
    """One connection to the ISMG: login, window, Active_Test, reports."""

    def __init__(self, client: SmgpClient) -> None:
        self.client = client
        self.clock = client.clock
        self.decoder = smgp.PduDecoder()
        self.logged_in = False
        self.closing = False
        self.stopping = False
        self._sequence = 0
        self._pending: dict[int, _Request] = {}
        self._queue: deque[_Part] = deque()
        self._in_flight = 0  # Submits sent and not answered
        self._heard = 0  # PDUs received
        self._last_heard = 0.0
        self._login_authenticator = b""
        self._timer: IDelayedCall | None = None  # login timeout, then the idle check
        self._pump_timer: IDelayedCall | None = None
        self._drained: defer.Deferred | None = None
        self._logged: set[str] = set()
        self.lost: defer.Deferred = defer.Deferred()

    # -- connection

    def connectionMade(self) -> None:
        c = self.client
        timestamp = smgp.login_timestamp(self.clock.seconds(), c.tz)
        login = smgp.Login.signed(self._next_sequence(), c.account, c.password, timestamp)
        self._login_authenticator = login.authenticator
        self._last_heard = self.clock.seconds()
        self._send(login)
        self._timer = self.clock.callLater(c.response_timeout, self._login_timeout)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.closing = True
        for timer in (self._timer, self._pump_timer):
            if timer is not None and timer.active():
                timer.cancel()
        self._timer = self._pump_timer = None
        requests, self._pending = list(self._pending.values()), {}
        queued, self._queue = list(self._queue), deque()
        was_logged_in, self.logged_in = self.logged_in, False
        self.client._link_lost(self, was_logged_in)
        lost = GatewayUnavailable("connection to the gateway lost")
        for request in requests:
            request.timer.cancel()
            if request.part is not None:
                request.part.message.fail(lost)
        for part in queued:
            part.message.fail(lost)
        self._in_flight = 0
        self._drain_check()
        self.lost.callback(None)

    def _close(self, why: str, abort: bool = False) -> None:
        if self.closing:
            return
        self.closing = True
        self.client.stats.links_closed[why] += 1
        if abort:
            self.transport.abortConnection()
        else:
            self.transport.loseConnection()

    def _once(self, key: str, level: str, fmt: str, **kw: Any) -> None:
        """Log the first event of a kind on this link; the counters have the rest."""
        if key not in self._logged:
            self._logged.add(key)
            getattr(log, level)(fmt, **kw)

    # -- input

    def dataReceived(self, data: bytes) -> None:
        if self.closing:
            return
        try:
            for pdu in self.decoder.feed(data):
                self._heard += 1
                self._last_heard = self.clock.seconds()
                self._handle(pdu)
                if self.closing:
                    return
        except smgp.SmgpError as e:
            reason = "bad_length" if isinstance(e, smgp.BadLength) else "bad_pdu"
            self.client.stats.bad_input[reason] += 1
            self.client._outage(reason, "SMGP gateway sent bytes that are not SMGP 3.0 ({reason}): {error};"
                                " closing the link", reason=reason, error=peer_text(str(e), 120))
            self._close("bad_input", abort=True)

    def _handle(self, pdu: Any) -> None:
        stats = self.client.stats
        if isinstance(pdu, smgp.ActiveTest):
            self._send(smgp.ActiveTestResp(pdu.sequence_id))
            stats.active_tests_answered += 1
        elif isinstance(pdu, smgp.LoginResp) and self._timer is not None and not self.logged_in:
            self._login_answered(pdu)
        elif isinstance(pdu, (smgp.SubmitResp, smgp.ActiveTestResp, smgp.ExitResp)):
            self._answered(pdu)
        elif isinstance(pdu, smgp.Deliver) and self.logged_in:
            self._deliver(pdu)
        elif isinstance(pdu, smgp.Exit):
            self._send(smgp.ExitResp(pdu.sequence_id))
            self._once("exit", "info", "SMGP gateway sent Exit; closing the link")
            self._close("gateway_exit")
        else:
            stats.bad_input["unexpected"] += 1
            self._once("unexpected", "warn", "SMGP gateway sent an unexpected {pdu} (ignored)",
                       pdu=peer_text(repr(pdu), 120))

    def _login_answered(self, resp: smgp.LoginResp) -> None:
        c = self.client
        assert self._timer is not None
        self._timer.cancel()
        self._timer = None
        c.stats.logins[resp.status] += 1
        if resp.status != 0:
            c._outage("refused %d" % resp.status, "SMGP gateway refused the login of {account}: Status {status}"
                      " ({meaning})", account=c.account, status=resp.status,
                      meaning=smgp.STATUS.get(resp.status, "unknown"))
            self._close("login_refused")
            return
        expected = smgp.authenticator_server(0, self._login_authenticator, c.password)
        if resp.authenticator != expected:
            # Gateways in the field leave it empty or compute it differently;
            # the link is what the operator configured, so it is only noted.
            c.stats.bad_input["authenticator_server"] += 1
            self._once("authenticator", "info", "SMGP gateway's AuthenticatorServer does not match (ignored)")
        self.logged_in = True
        self._timer = self.clock.callLater(c.active_test_interval, self._idle_check)
        c._logged_in(self)

    def _answered(self, resp: Any) -> None:
        request = self._pending.get(resp.sequence_id)
        if request is None or request.kind is not type(resp):
            self.client.stats.bad_input["unexpected"] += 1
            self._once("unmatched", "warn", "SMGP gateway answered a request we did not send: {pdu}",
                       pdu=peer_text(repr(resp), 120))
            return
        del self._pending[resp.sequence_id]
        request.timer.cancel()
        self.client._link_works()
        if isinstance(resp, smgp.ExitResp):
            self._close("exit")
            return
        if request.part is None:
            return
        self._in_flight -= 1
        self.client.stats.submit_status[resp.status] += 1
        if resp.status == 0:
            request.part.message.part_accepted(request.part.index, resp.msg_id)
        else:
            request.part.message.fail(SmgpRejected(resp.status))
        self._drain_check()
        self._pump()

    def _deliver(self, deliver: smgp.Deliver) -> None:
        stats = self.client.stats
        if not deliver.is_report:
            stats.mo_received += 1
            self._once("mo", "info", "SMGP gateway delivered a message from {src} (acknowledged, not handled)",
                       src=peer_text(deliver.src_term_id))
            self._send(smgp.DeliverResp(deliver.sequence_id, deliver.msg_id, 0))
            return
        try:
            report = deliver.report()
        except smgp.BadReport as e:
            stats.bad_input["bad_report"] += 1
            self._once("bad_report", "warn", "SMGP status report not understood: {error}", error=str(e))
            self._send(smgp.DeliverResp(deliver.sequence_id, deliver.msg_id, 10))
            return
        stats.reports[report.stat] += 1
        handled = defer.maybeDeferred(self.client.on_report, report.msg_id.hex(), report.stat, report.err)
        handled.addCallbacks(lambda _: 0, self._report_failed)
        handled.addCallback(lambda status: self._send(smgp.DeliverResp(deliver.sequence_id, deliver.msg_id, status))
                            if not self.closing else None)

    def _report_failed(self, failure: Failure) -> int:
        self.client.stats.report_failures += 1
        if "report_failed" not in self._logged:
            self._logged.add("report_failed")
            log.failure("Handling an SMGP status report failed; the gateway is asked to deliver it again",
                        failure)
        return 1

    # -- output

    def _next_sequence(self) -> int:
        self._sequence = smgp.next_sequence(self._sequence)
        return self._sequence

    def _send(self, pdu: Any) -> None:
        self.transport.write(pdu.to_wire())

    def _request(self, pdu: Any, part: _Part | None, timeout: float) -> None:
        timer = self.clock.callLater(timeout, self._timed_out, pdu.sequence_id)
        self._pending[pdu.sequence_id] = _Request(_RESPONSE[type(pdu)], part, timer, self._heard)
        self._send(pdu)

    def _timed_out(self, sequence_id: int) -> None:
        request = self._pending.pop(sequence_id)
        if request.kind is smgp.ExitResp:
            self._close("exit_timeout", abort=True)
            return
        silent = request.heard == self._heard
        if request.part is not None:
            self.client.stats.submit_timeouts += 1
            self._in_flight -= 1
            request.part.message.fail(GatewayUnavailable(
                "no Submit_Resp within %g s" % self.client.response_timeout))
        if silent:
            self.client._outage("silent", "SMGP gateway stopped answering (no response in {timeout} s);"
                                " closing the link", timeout=self.client.response_timeout)
            self._close("silent", abort=True)
            return
        self._drain_check()
        self._pump()

    def enqueue(self, parts: list[_Part]) -> None:
        self._queue.extend(parts)
        self._pump()

    def _pump(self) -> None:
        c = self.client
        if self._pump_timer is not None:
            if self._pump_timer.active():
                return
            self._pump_timer = None
        while self._queue and self._in_flight < c.window and not self.closing:
            part = self._queue[0]
            if part.message.done:  # an earlier part was refused: the rest stays unsent
                self._queue.popleft()
                continue
            wait = c._token_wait()
            if wait > 0:
                self._pump_timer = self.clock.callLater(wait, self._pump)
                return
            self._queue.popleft()
            c._take_token()
            submit = smgp.Submit(
                self._next_sequence(), (part.message.dest,), part.content, smgp.UCS2,
                src_term_id=c.sp_number, service_id=c.service_id, valid_time=part.message.valid_time,
                tlvs=part.tlvs)
            self._in_flight += 1
            c.stats.submitted += 1
            self._request(submit, part, c.response_timeout)

    def _idle_check(self) -> None:
        c = self.client
        idle = self.clock.seconds() - self._last_heard
        if idle >= c.active_test_interval:
            c.stats.active_tests_sent += 1
            self._request(smgp.ActiveTest(self._next_sequence()), None, c.response_timeout)
            idle = 0
        self._timer = self.clock.callLater(c.active_test_interval - idle, self._idle_check)

    def _login_timeout(self) -> None:
        self._timer = None
        self.client.stats.logins["timeout"] += 1
        self.client._outage("login_timeout", "SMGP gateway did not answer Login within {timeout} s",
                            timeout=self.client.response_timeout)
        self._close("login_timeout", abort=True)

    # -- stopping

    def stop(self) -> defer.Deferred:
        """Fail what is queued, let the Submits in flight be answered, Exit, close."""
        self.stopping = True
        stopped = GatewayUnavailable("the SMS client is stopping")
        queued, self._queue = list(self._queue), deque()
        for part in queued:
            part.message.fail(stopped)
        if not self.logged_in:
            self._close("stopped")
            return self.lost
        self._drained = defer.Deferred()
        self._drained.addCallback(self._exit)
        self._drain_check()
        return self.lost

    def _drain_check(self) -> None:
        if self._drained is not None and self._in_flight <= 0:
            drained, self._drained = self._drained, None
            drained.callback(None)

    def _exit(self, _: object) -> None:
        if self.closing:
            return
        self._request(smgp.Exit(self._next_sequence()), None, self.client.stop_timeout)


_RESPONSE = {smgp.Submit: smgp.SubmitResp, smgp.ActiveTest: smgp.ActiveTestResp, smgp.Exit: smgp.ExitResp}


class _LinkFactory(Factory):
    def __init__(self, client: SmgpClient) -> None:
        self.client = client

    def buildProtocol(self, addr: Any) -> SmgpLink:
        return SmgpLink(self.client)


class SmgpClient(Service):
    """The SMGP 3.0 client (see the module docstring).

    *endpoint* is an ``IStreamClientEndpoint`` or a client endpoint string
    (``tcp:HOST:PORT``); *reactor* connects, *clock* times everything.
    """

    def __init__(
        self, reactor: Any, clock: IReactorTime, endpoint: IStreamClientEndpoint | str, *,
        account: str, password: str, sp_number: str, service_id: str, window: int = 16, rate: float = 50,
        on_report: ReportHandler | None = None, response_timeout: float = RESPONSE_TIMEOUT,
        active_test_interval: float = ACTIVE_TEST_INTERVAL, stop_timeout: float = STOP_TIMEOUT,
        retry_policy: Callable[[int], float] | None = None, tz: timezone = smgp.CHINA,
    ) -> None:
        for name, value, width in (("account", account, 8), ("sp_number", sp_number, 21),
                                   ("service_id", service_id, 10)):
            try:
                value.encode("ascii")
            except UnicodeEncodeError:
                raise ValueError("%s must be ASCII" % name) from None
            if len(value) > width or "\0" in value:
                raise ValueError("%s must be at most %d characters" % (name, width))
        if window < 1 or rate <= 0:
            raise ValueError("window must be at least 1 and rate above 0")
        self.reactor = reactor
        self.clock = clock
        self.endpoint = clientFromString(reactor, endpoint) if isinstance(endpoint, str) else endpoint
        self.account = account
        self.password = password
        self.sp_number = sp_number
        self.service_id = service_id
        self.window = window
        self.rate = float(rate)
        self.burst = max(1.0, self.rate / 10)
        self.on_report: ReportHandler = on_report if on_report is not None else (lambda msg_id, stat, err: None)
        self.response_timeout = response_timeout
        self.active_test_interval = active_test_interval
        self.stop_timeout = stop_timeout
        self.retry_policy = retry_policy or backoffPolicy(0.5, 60.0, 2.0, jitter=random.random)  # 1, 2, 4 … 60 s
        self.tz = tz
        self.stats = SmgpStats()
        self._link: SmgpLink | None = None  # the current connection, logged in or not
        self._connecting: defer.Deferred | None = None
        self._retry: IDelayedCall | None = None
        self._failures = 0
        self._outages: set[str] = set()
        self._tokens = self.burst
        self._tokens_at = clock.seconds()
        self._reference = 0

    @property
    def connected(self) -> bool:
        """Logged in to the gateway: :meth:`submit` can send."""
        return self._link is not None and self._link.logged_in and not self._link.stopping

    @property
    def queued(self) -> int:
        """Parts waiting for the window or the rate on the current link."""
        return len(self._link._queue) if self._link is not None else 0

    def submit(self, dest_mobile: str, text: str, valid_until: float | None = None) -> defer.Deferred:
        """Send *text* to *dest_mobile*: a Deferred of the gateway MsgIDs (20 hex
        digits), one per part, once every part was accepted.

        Fails with :class:`SmgpRejected` (a part refused), :class:`GatewayUnavailable`
        (not logged in, link lost, no answer in time: outcome unknown) or
        ``ValueError`` (a mobile that is not 1–21 ASCII characters, a text
        that cannot be sent: permanent).
        """
        try:
            if not dest_mobile or len(dest_mobile) > 21 or not dest_mobile.isascii() or "\0" in dest_mobile:
                raise ValueError("not a mobile number: %r" % peer_text(dest_mobile))
            self._reference = (self._reference + 1) & 0xFF
            pieces = smgp.split_text(text, self._reference)
            valid_time = smgp.smgp_time(valid_until, self.tz) if valid_until is not None else ""
        except ValueError as e:
            return defer.fail(e)
        if not self.connected:
            return defer.fail(GatewayUnavailable("not logged in to the gateway"))
        message = _Message(dest_mobile, len(pieces), valid_time)
        parts = []
        for index, (content, concat) in enumerate(pieces):
            tlvs: tuple[smgp.Tlv, ...] = ()
            if concat is not None:
                tlvs = (smgp.tlv_int(smgp.TP_UDHI, 1), smgp.tlv_int(smgp.PK_TOTAL, concat.total),
                        smgp.tlv_int(smgp.PK_NUMBER, concat.number))
            parts.append(_Part(message, index, content, tlvs))
        assert self._link is not None
        self._link.enqueue(parts)
        return message.deferred

    # -- rate

    def _refill(self) -> None:
        now = self.clock.seconds()
        self._tokens = min(self.burst, self._tokens + (now - self._tokens_at) * self.rate)
        self._tokens_at = now

    def _token_wait(self) -> float:
        """Seconds until a Submit may go out (0: now)."""
        self._refill()
        # a thousandth of a token of slack: clock readings near 1.7e9 s are
        # only good to about 2e-7 s, and a wait of ~0 would spin
        return 0.0 if self._tokens >= 0.999 else max((1 - self._tokens) / self.rate, 0.001)

    def _take_token(self) -> None:
        self._tokens -= 1

    # -- the connection loop

    def startService(self) -> None:
        super().startService()
        self._connect()

    def stopService(self) -> defer.Deferred:
        super().stopService()
        if self._retry is not None and self._retry.active():
            self._retry.cancel()
        self._retry = None
        if self._connecting is not None:
            self._connecting.cancel()
        if self._link is not None:
            return self._link.stop()
        return defer.succeed(None)

    def _connect(self) -> None:
        self._retry = None
        self.stats.connects += 1
        attempt = self._connecting = self.endpoint.connect(_LinkFactory(self))
        attempt.addCallbacks(self._connected, self._connect_failed)

    def _connected(self, link: SmgpLink) -> None:
        self._connecting = None
        self._link = link

    def _connect_failed(self, failure: Failure) -> None:
        self._connecting = None
        if not self.running:
            return
        self.stats.connect_failures += 1
        self._outage("connect", "Cannot connect to the SMGP gateway: {error}", error=failure.getErrorMessage())
        self._schedule_retry()

    def _outage(self, key: str, fmt: str, **kw: Any) -> None:
        """A reason the gateway is unusable, logged the first time until the next login."""
        if key not in self._outages:
            self._outages.add(key)
            log.warn(fmt, **kw)

    def _logged_in(self, link: SmgpLink) -> None:
        log.info("Logged in to the SMGP gateway as {account}", account=self.account)
        self._outages.clear()

    def _link_works(self) -> None:
        self._failures = 0

    def _link_lost(self, link: SmgpLink, was_logged_in: bool) -> None:
        if self._link is link:
            self._link = None
        if was_logged_in:
            log.info("The link to the SMGP gateway closed")
        if self.running:
            self._schedule_retry()

    def _schedule_retry(self) -> None:
        self._failures += 1
        delay = self.retry_policy(self._failures)
        self._retry = self.clock.callLater(delay, self._connect)


def from_config(reactor: Any, sms: Any, on_report: ReportHandler | None = None, clock: IReactorTime | None = None
                ) -> SmgpClient | None:
    """The client ``[sms]`` describes, or None when no gateway is configured."""
    if not sms.gateway:
        return None
    return SmgpClient(reactor, clock or reactor, sms.gateway, account=sms.account, password=sms.password,
                      sp_number=sms.sp_number, service_id=sms.service_id, window=sms.window, rate=sms.rate,
                      on_report=on_report)
