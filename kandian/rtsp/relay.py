"""The RTSP relay (§10 RTSP 接口要求, §15 step 4; PRODUCT.md "RTSP relay").

One :class:`ClientConnection` per client.  Its first request (OPTIONS or
DESCRIBE, carrying ``realplay?devid=…&hashtoken=…``) goes to an authorizer,
which checks the token and answers where the stream is — or refuses with the
RTSP status of §10.2 (401, 404, 403, 453, 503), sent before the connection is
closed.  Then one upstream connection is opened (the first of the
authorizer's addresses that accepts) and everything is relayed both ways:

* requests and responses with their URLs rewritten, so the client never sees
  the upstream's address or token and the upstream never sees the client's
  (request URIs; ``Content-Base``, ``Content-Location``, ``RTP-Info`` and the
  SDP on the way back, whose ``o=``/``c=`` lines lose the camera's address);
* interleaved RTP/RTCP (``$`` frames) as they are: each read from the upstream
  written on whole, only the frame headers at its boundaries read (a pause of
  the play session holds back whole frames, :mod:`kandian.rtsp.gate`);
* back-pressure both ways: each side is the other's registered producer, so a
  slow client stops the relay reading from the camera and memory stays bounded.

SETUP must ask for RTP over TCP (``RTP/AVP/TCP;interleaved=…``); a client
that offers only UDP gets 461.  Interleaved frames from the client (RTCP
receiver reports) are passed on only once the upstream has accepted a SETUP:
before that they are dropped and counted, so a client cannot push raw bytes at
whatever the upstream turns out to be.  Timeouts (§10.4): no upstream data for
``media_timeout`` seconds while playing, or nothing from either side for
``idle_timeout``, closes both sides (a client that stops reading, and so
holds the camera back, is logged as such); either side closing closes the
other.  A request, from its first byte to its end, must arrive within
``request_timeout`` seconds, and a new connection's first request too:
otherwise 408 and the connection is closed — however slowly it trickles.

Upstream hosts are dialled only as IP literals (a name is never resolved),
through the endpoints the factory is handed (``endpoints(host, port) ->
IStreamClientEndpoint``; :func:`tcp_endpoints` over a reactor in service).
A client whose requests the upstream leaves unanswered gets a status for
each: 503 when no upstream accepted the connection, 504 when every attempt
timed out, 502 when the upstream closed or spoke something other than RTSP,
504 when it stayed silent until a timeout.

The relay is the same for the platform (its authorizer checks the HashToken
in the database, :mod:`kandian.rtsp.authorize`) and for the simulated camera's
front (whose authorizer asks the platform over the device link).
"""

from __future__ import annotations

import collections
import enum
from collections.abc import Callable
from typing import NamedTuple

from twisted.internet import defer, error, protocol
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP6ClientEndpoint
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.logger import Logger

from ..dialpolicy import ip_literal
from ..limits import RateLimitedLog
from ..logs import peer_text
from ..playurl import parse_rtsp_url
from ..sendnow import direct_socket, send_now
from .gate import MediaGate
from .message import BadVersion, Headers, InterleavedRun, Request, Response, RTSPDecoder, RTSPError
from .steer import Steering
from .transport import format_transport, parse_transport
from .url import authority, rebase_url, replace_base

log = Logger()


class Refused(Exception):
    """The relay answers the first request with *code* and closes."""

    def __init__(self, code: int, why: str, headers=()):
        super().__init__(why)
        self.code = code
        self.why = why
        self.headers = list(headers)


class Upstream(NamedTuple):
    """Where a stream can be fetched: (host, port, base URL) candidates in order."""
    key: str  # what the authorizer counts sessions by (the DevID)
    candidates: list[tuple[str, int, str]]
    session: object = None  # the core's IPlaySession steering this stream (kandian.rtsp.steer), if any


CLIENT_BUFFER = 128 * 1024
# media kept while a play session pauses, for the player once it resumes: what is under way
# as a camera pauses; a camera that goes on sending past it cannot pause and its media is
# dropped (kandian.rtsp.gate)
HOLD_LIMIT = 256 * 1024


class State(enum.StrEnum):
    """Where a client connection is; :data:`TRANSITIONS` says where it may go."""

    NEW = "new"  # waiting for the first request
    AUTHORIZING = "authorizing"  # the authorizer has the first request; client reads paused
    CONNECTING = "connecting"  # authorized: dialling the upstream's candidates in turn
    RELAYING = "relaying"  # one upstream connected; everything passes both ways
    CLOSED = "closed"  # both sides closed or closing; nothing more is read or sent


TRANSITIONS: dict[State, frozenset[State]] = {
    State.NEW: frozenset({State.AUTHORIZING, State.CLOSED}),
    State.AUTHORIZING: frozenset({State.CONNECTING, State.CLOSED}),
    State.CONNECTING: frozenset({State.RELAYING, State.CLOSED}),
    State.RELAYING: frozenset({State.CLOSED}),
    State.CLOSED: frozenset(),
}

# Waiting on the authorizer or the upstream: the client's requests are queued
# and its request deadline is not running (nothing is read from it).
_WAITING = frozenset({State.AUTHORIZING, State.CONNECTING})


class BadTransition(Exception):
    """A relay bug: a move the state machine does not have."""


Endpoints = Callable[[str, int], IStreamClientEndpoint]


def tcp_endpoints(reactor, timeout: float) -> Endpoints:
    """The relay's dialler over *reactor*: TCP to an IP literal (v4 or v6), never a name."""

    def endpoint(host: str, port: int) -> IStreamClientEndpoint:
        address = ip_literal(host)
        if address is None:
            raise ValueError("not an IP address: %r" % (host[:64],))
        endpoint_class = TCP6ClientEndpoint if address.version == 6 else TCP4ClientEndpoint
        return endpoint_class(reactor, str(address), port, timeout=timeout)

    return endpoint


class _Upstream(protocol.ClientFactory):
    """Connects one upstream for one client; quiet (a relay opens thousands)."""

    noisy = False

    def __init__(self, client):
        self.client = client

    def buildProtocol(self, addr):
        return UpstreamConnection(self.client)


class RelayStats:
    def __init__(self):
        self.active = 0
        self.sessions = 0
        self.bytes_to_client = 0
        self.bytes_to_upstream = 0
        self.refusals: collections.Counter = collections.Counter()  # (code, why) → count
        self.client_frames_dropped = 0  # interleaved frames a client sent before any SETUP was accepted
        self.bytes_held = 0  # media not passed to a client its play session paused (kandian.rtsp.steer)
        self.slow_clients = 0  # sessions closed because the client stopped reading


class _Rewriter:
    """Maps URLs between the client's view and the upstream's
    (:func:`~kandian.rtsp.url.rebase_url` for a URL, :func:`~kandian.rtsp.url.replace_base` in text)."""

    def __init__(self, client_base: str, upstream_base: str, upstream_host: str, client_host: str):
        self.client_base = client_base
        self.upstream_base = upstream_base
        self.client_authority = authority(client_base)
        self.upstream_authority = authority(upstream_base)
        self.upstream_host = upstream_host
        self.client_host = client_host

    def up(self, url: str) -> str:
        """A URL the client sent, as the upstream must see it."""
        rebased = rebase_url(url, self.client_base, self.upstream_base)
        if rebased is not None:
            return rebased
        return replace_base(url, self.client_authority, self.upstream_authority)

    def down(self, text: str) -> str:
        """Text from the upstream (a header value, an SDP) with its URLs as the client must see them."""
        rebased = rebase_url(text, self.upstream_base, self.client_base)
        if rebased is not None:
            return rebased
        text = replace_base(text, self.upstream_base, self.client_base)
        return replace_base(text, self.upstream_authority, self.client_authority)

    def request(self, request: Request) -> Request:
        return Request(request.method, self.up(request.uri), request.headers, request.body, request.version)

    def response(self, message):
        headers = Headers(message.headers)
        for name in ("Content-Base", "Content-Location", "RTP-Info", "Location"):
            value = headers.get(name)
            if value is not None:
                headers.set(name, self.down(value))
        transport = headers.get("Transport")
        if transport is not None and self.upstream_host in transport:
            headers.set("Transport", transport.replace(self.upstream_host, self.client_host))
        body = message.body
        if body and (headers.get("Content-Type") or "").startswith("application/sdp"):
            text = self.down(body.decode("utf-8", "surrogateescape"))
            lines = [line.replace(self.upstream_host, self.client_host) if line[:2] in ("o=", "c=") else line
                     for line in text.split("\n")]
            body = "\n".join(lines).encode("utf-8", "surrogateescape")
        if isinstance(message, Response):
            return Response(message.code, message.reason, headers, body, message.version)
        return Request(message.method, self.down(message.uri), headers, body, message.version)


class UpstreamConnection(protocol.Protocol):
    """The relay's connection to the camera (or to a camera's front)."""

    def __init__(self, client: ClientConnection):
        self.client = client
        self.decoder = RTSPDecoder(max_body_bytes=256 * 1024, coalesce_interleaved=True)

    def connectionMade(self):
        self.client.upstream_connected(self)

    def dataReceived(self, data):
        client = self.client
        client.last_upstream = client.clock.seconds()
        try:
            # the media path: each read passed on as it came, only the frame headers at the
            # boundaries read (tracked across reads); an RTSP message between frames decoded
            run, events = self.decoder.feed_media(data)
        except RTSPError as e:
            client.upstream_failed("upstream sent bad RTSP: %s" % (peer_text(str(e), 120),))
            return
        if run:
            client.media(run)
        for event in events:
            if type(event) is InterleavedRun:
                client.media(event.data)
            elif isinstance(event, Response):
                client.response_from_upstream(event)
            elif isinstance(event, Request):
                client.send_to_client(client.rewriter.response(event))
            else:  # a single Interleaved (coalescing off) — not expected, but relay it
                client.transport.write(event.to_bytes())

    def connectionLost(self, reason=protocol.connectionDone):
        self.client.upstream_lost(reason)


class ClientConnection(protocol.Protocol):
    """One client of the relay."""

    def __init__(self, factory: RelayFactory):
        self.factory = factory
        self.clock = factory.clock
        self.stats = factory.stats
        self.decoder = RTSPDecoder(max_body_bytes=64 * 1024, coalesce_interleaved=True)
        self.state = State.NEW
        self.queue: list = []  # client events that arrived before the upstream was ready
        self.upstream: UpstreamConnection | None = None
        self.upstream_key: str | None = None
        self.rewriter: _Rewriter | None = None
        self.playing = False
        self.last_client = self.last_upstream = 0.0
        self._timer = None
        self._deadline = None  # the request_timeout of the request being received
        self._sent: dict[int, Request] = {}  # CSeq → request sent upstream, not yet answered
        self._setup_done = False  # the upstream accepted a SETUP: client RTCP may pass
        self._dropped_frames = 0
        self.steering: Steering | None = None  # a play session steers this stream
        self._gate: MediaGate | None = None  # while a pause holds media back, or its end is skipped
        self._socket = None  # the socket media is sent on at once (kandian.sendnow)

    # -- a play session's pause (kandian.rtsp.steer)

    def hold(self) -> None:
        """Pass the client no media until :meth:`release` (once the frame under way is whole)."""
        if self._gate is None:
            self._gate = MediaGate(HOLD_LIMIT)
        self._gate.hold(self._frame_left())

    def media(self, data: bytes) -> None:
        """Media from the upstream as it came (frame boundaries or not): to the client, unless held."""
        gate = self._gate
        if gate is not None:
            data, held = gate.media(data)
            self.stats.bytes_held += held
            if gate.open:
                self._gate = None
            if not data:
                return
        self.stats.bytes_to_client += len(data)
        send_now(self.transport, self._socket, data)

    def release(self) -> None:
        """Pass media again, first what was under way when the camera paused, so that the
        player's pictures go on where they stopped."""
        gate = self._gate
        if gate is None:
            return
        kept = gate.release(self._frame_left())
        if gate.open:
            self._gate = None
        if kept:
            self.stats.bytes_to_client += len(kept)
            send_now(self.transport, self._socket, kept)

    @property
    def hold_media(self) -> bool:
        """Paused by its play session: no media to the client."""
        return self._gate is not None and self._gate.holding

    def _frame_left(self) -> int:
        return self.upstream.decoder.frame_left if self.upstream is not None else 0

    # -- the state machine: every move goes through here

    def _enter(self, state: State, why: str = "") -> None:
        """Move to *state*, doing what entering and leaving it entail (*why*: of a close, for the log)."""
        old = self.state
        if state not in TRANSITIONS[old]:
            raise BadTransition("%s -> %s" % (old, state))
        self.state = state
        if state is State.AUTHORIZING:
            # nothing is read while the authorizer and the upstream are sought
            self._cancel_deadline()
            self.transport.pauseProducing()
        elif state is State.RELAYING:
            self.factory.sessions.add(self)
            self.stats.active += 1
            self.stats.sessions += 1
        elif state is State.CLOSED:
            for timer in (self._timer, self._deadline):
                if timer is not None and timer.active():
                    timer.cancel()
            self._timer = self._deadline = None
            if old is State.RELAYING:
                self.stats.active -= 1
                self.factory.sessions.discard(self)
            key, self.upstream_key = self.upstream_key, None
            if key is not None:
                self.factory.authorizer.release(key)
            steering, self.steering = self.steering, None
            if steering is not None:
                steering.ended()
            self.transport.loseConnection()
            if self.upstream is not None:
                self.upstream.transport.loseConnection()
            if old is State.RELAYING:
                log.info("RTSP relay session for {key} ended: {why}", key=peer_text(key), why=why)

    def _cancel_deadline(self) -> None:
        if self._deadline is not None and self._deadline.active():
            self._deadline.cancel()
        self._deadline = None

    # -- client bytes

    def connectionMade(self):
        self.last_client = self.last_upstream = self.clock.seconds()
        # room for two 64 KiB reads of media before the camera's side is paused
        # (docs/benchmarks.md, "RTSP relay")
        self.transport.bufferSize = CLIENT_BUFFER
        self._socket = direct_socket(self.transport)
        self._schedule_check()
        self._deadline = self.clock.callLater(self.factory.request_timeout, self._request_late)

    def dataReceived(self, data):
        if self.state is State.CLOSED:
            return
        self.last_client = self.clock.seconds()
        try:
            events = self.decoder.feed(data)
        except BadVersion as e:
            for event in getattr(e, "events", []):
                self._client_event(event)
            self._answer_and_close(Response.for_request(e, 505), "RTSP version: %s" % (peer_text(e.version, 20),))
            return
        except RTSPError as e:
            for event in getattr(e, "events", []):
                self._client_event(event)
            self._answer_and_close(Response.for_request(None, 400), "bad request: %s" % (e,))
            return
        for event in events:
            self._client_event(event)
            if self.state is State.CLOSED:
                return
        self._watch_request(bool(events))

    def _watch_request(self, completed: bool) -> None:
        """Start the deadline at a message's first byte, end it at its last."""
        if self.state is State.NEW:
            return  # the connection's own deadline runs until the first request is whole
        partial = self.decoder.buffered > 0
        if self._deadline is not None and (completed or not partial):
            if self._deadline.active():
                self._deadline.cancel()
            self._deadline = None
        if partial and self._deadline is None:
            self._deadline = self.clock.callLater(self.factory.request_timeout, self._request_late)

    def _request_late(self) -> None:
        self._deadline = None
        if self.state in _WAITING:
            # not the client's fault: nothing is read while the upstream is sought
            self._deadline = self.clock.callLater(self.factory.request_timeout, self._request_late)
            return
        self._answer_and_close(Response.for_request(None, 408),
                               "request timeout: no whole request within %d s" % (self.factory.request_timeout,))

    def _client_event(self, event):
        state = self.state
        if state is State.RELAYING:
            self._to_upstream(event)
        elif state is State.NEW:
            if not isinstance(event, Request):
                self._answer_and_close(Response.for_request(None, 400), "the first message must be a request")
                return
            self.queue.append(event)
            self._enter(State.AUTHORIZING)
            self._authorize(event)
        elif state in _WAITING:
            self.queue.append(event)

    @defer.inlineCallbacks
    def _authorize(self, request: Request):
        peer = self.transport.getPeer()
        try:
            upstream = yield self.factory.authorizer.authorize(request, peer)
        except Refused as e:
            self._refuse(request, e.code, e.why, e.headers)
            return
        except Exception:
            log.failure("RTSP relay: authorizing {uri} failed", uri=_safe(request.uri))
            self._refuse(request, 500, "internal error")
            return
        if self.state is State.CLOSED:
            self.factory.authorizer.release(upstream.key)
            return
        self.upstream_key = upstream.key
        self._enter(State.CONNECTING)
        timeouts = tried = 0
        for host, port, base in upstream.candidates:
            address = ip_literal(host)
            if address is None:
                log.info("RTSP relay: {key}'s upstream {host} is not an IP address: not dialled",
                         key=peer_text(upstream.key), host=peer_text(host))
                continue
            tried += 1
            try:
                yield self.factory.endpoints(str(address), port).connect(_Upstream(self))
            except Exception as e:
                timeouts += isinstance(e, error.TimeoutError)
                log.info("RTSP relay: {key} not reachable at {host}:{port}: {why}", key=peer_text(upstream.key),
                         host=peer_text(host), port=port, why=e.__class__.__name__)
                if self.state is State.CLOSED:
                    return  # the client left while this one was dialled
                continue
            if self.state is State.CLOSED:
                self.upstream.transport.loseConnection()
                return
            client_base = _base(request.uri)
            client_host = parse_rtsp_url(client_base).host
            self.rewriter = _Rewriter(client_base, base, host, client_host)
            self._enter(State.RELAYING)
            self.transport.registerProducer(self.upstream.transport, True)
            self.upstream.transport.registerProducer(self.transport, True)
            if upstream.session is not None:
                self.steering = Steering(self, upstream.session, timeout=self.factory.request_timeout)
            queued, self.queue = self.queue, []
            for event in queued:
                self._to_upstream(event)
            if self.state is State.RELAYING:
                self.transport.resumeProducing()
                if self.steering is not None:
                    upstream.session.attached(self.steering)
            return
        if self.state is State.CLOSED:
            return
        if tried and timeouts == tried:
            self._refuse(request, 504, "upstream connection timed out")
        else:
            self._refuse(request, 503, "upstream not reachable from the relay")

    def upstream_connected(self, upstream: UpstreamConnection) -> None:
        self.upstream = upstream

    # -- client → upstream

    def _to_upstream(self, event):
        if isinstance(event, Request):
            if event.method == "SETUP":
                problem = _tcp_only(event)
                if problem is not None:
                    self.send_to_client(problem)
                    self.stats.refusals[(461, "UDP transport")] += 1
                    return
            if event.cseq is not None:
                self._sent[event.cseq] = event
            if event.method == "PAUSE":
                self.playing = False
            request = self.rewriter.request(event)
            if self.steering is not None:
                request = self.steering.client_request(request)
            data = request.to_bytes()
        elif isinstance(event, Response):  # answers to the camera's own requests
            data = self.rewriter.response(event).to_bytes()
        elif not self._setup_done:
            self._dropped_frames += 1
            self.stats.client_frames_dropped += 1
            if self._dropped_frames == 1:
                log.info("RTSP relay: {peer} sent interleaved data before any SETUP was accepted: dropped",
                         peer=_peer(self.transport))
            return
        else:
            data = event.to_bytes() if type(event) is not InterleavedRun else event.data
        self.stats.bytes_to_upstream += len(data)
        self.upstream.transport.write(data)

    # -- upstream → client

    def response_from_upstream(self, response: Response) -> None:
        steering = self.steering
        if steering is not None and steering.answered(response):
            return  # the relay's own request (kandian.rtsp.steer)
        request = self._sent.pop(response.cseq, None) if response.cseq is not None else None
        method = request.method if request is not None else None
        if steering is not None:
            steering.observe(request, response)
        if method == "SETUP" and response.code == 200:
            self._setup_done = True
        if method == "PLAY" and response.code == 200:
            self.playing = True
            self.last_upstream = self.clock.seconds()
        self.send_to_client(self.rewriter.response(response))
        if method == "TEARDOWN":
            self.close("TEARDOWN")

    def send_to_client(self, message) -> None:
        data = message.to_bytes()
        self.stats.bytes_to_client += len(data)
        self.transport.write(data)

    # -- ends

    def _refuse(self, request: Request, code: int, why: str, headers=()) -> None:
        self.stats.refusals[(code, why.split(":")[0])] += 1
        held_back = self._log_due(code)
        if held_back is not None:
            log.info("RTSP relay refused {uri} from {peer}: {code} {why}{more}", uri=_safe(request.uri),
                     peer=_peer(self.transport), code=code, why=peer_text(why, 160), more=_more(held_back))
        self._answer_and_close(Response.for_request(request, code, headers=headers), why, counted=True)

    def _answer_and_close(self, response: Response, why: str, counted: bool = False) -> None:
        if not counted:
            self.stats.refusals[(response.code, why.split(":")[0])] += 1
            held_back = self._log_due(response.code)
            if held_back is not None:
                log.info("RTSP relay: {code} to {peer}: {why}{more}", code=response.code, peer=_peer(self.transport),
                         why=peer_text(why, 160), more=_more(held_back))
        if self.state is not State.CLOSED:
            self.transport.write(response.to_bytes())
        self.close(why)

    def _log_due(self, code: int) -> int | None:
        """Refusals are counted each time but logged once a minute per source
        and status: a guesser or a slowloris makes a connection a request."""
        limiter = getattr(self.factory, "refusals_log", None)
        if limiter is None:
            return 0
        return limiter.due((getattr(self.transport.getPeer(), "host", None), code))

    def _answer_unanswered(self, code: int, why: str) -> None:
        """Each request the upstream left unanswered gets *code*, so the client sees why."""
        unanswered, self._sent = list(self._sent.values()), {}
        if unanswered and self.state is not State.CLOSED:
            self.stats.refusals[(code, why)] += len(unanswered)
            for request in unanswered:
                self.send_to_client(Response.for_request(request, code))

    def close(self, why: str) -> None:
        if self.state is not State.CLOSED:
            self._enter(State.CLOSED, why)

    def upstream_failed(self, why: str) -> None:
        log.warn("RTSP relay: {why}", why=why)
        self._answer_unanswered(502, "upstream sent bad RTSP")
        self.close(why)

    def upstream_lost(self, reason) -> None:
        if self.state is not State.CLOSED:
            self._answer_unanswered(502, "upstream closed")
            self.close("upstream closed")

    def connectionLost(self, reason=protocol.connectionDone):
        self.factory.connections.discard(self)
        if self.state is not State.CLOSED:
            self.close("client closed")

    # -- timeouts (§10.4)

    def _schedule_check(self):
        self._timer = self.clock.callLater(self.factory.check_interval, self._check)

    def _check(self):
        self._timer = None
        now = self.clock.seconds()
        if self.playing and now - self.last_upstream >= self.factory.media_timeout:
            if getattr(self.transport, "producerPaused", False):
                # the client's socket buffer is full: the camera is held back by it, not silent
                self.stats.slow_clients += 1
                self.close("client not reading: media held back for %d s" % (self.factory.media_timeout,))
            else:
                self.close("no media from upstream for %d s" % (self.factory.media_timeout,))
        elif now - max(self.last_client, self.last_upstream) >= self.factory.idle_timeout:
            self._answer_unanswered(504, "upstream silent")
            self.close("idle for %d s" % (self.factory.idle_timeout,))
        else:
            self._schedule_check()


def _tcp_only(request: Request) -> Response | None:
    """461 unless the SETUP offers RTP over TCP; otherwise keep only the TCP offers."""
    value = request.headers.get("Transport")
    try:
        specs = parse_transport(value) if value else []
    except ValueError:
        specs = []
    tcp = [spec for spec in specs if spec.is_tcp_interleaved]
    if not tcp:
        return Response.for_request(
            request, 461, headers=[("Content-Type", "text/plain")],
            body=b"this relay carries RTP over TCP only: ask for RTP/AVP/TCP;unicast;interleaved=0-1\r\n")
    if len(tcp) != len(specs):
        request.headers.set("Transport", format_transport(tcp))
    return None


def _base(uri: str) -> str:
    """The request URI without the track suffix a client may append."""
    url = parse_rtsp_url(uri)
    return uri[: len(uri) - len(url.suffix)] if url.suffix else uri


def _more(held_back: int) -> str:
    return "; %d more from it since the last line" % held_back if held_back else ""


def _peer(transport) -> str:
    address = transport.getPeer()
    return "%s:%s" % (getattr(address, "host", "?"), getattr(address, "port", "?"))


def _safe(uri: str) -> str:
    """A URI for the log: never its token, never longer than a line."""
    head, sep, query = uri.partition("?")
    if sep:
        parts = [("hashtoken=…" if part.lower().startswith("hashtoken=") else part) for part in query.split("&")]
        uri = head + "?" + "&".join(parts)
    return peer_text(uri, 160)


class RelayFactory(protocol.ServerFactory):
    """The relay's listening side.  *endpoints* dials the upstreams (by default
    :func:`tcp_endpoints` over *reactor* with *connect_timeout*); *clock* (by
    default *reactor*) times everything."""

    noisy = False

    def __init__(self, authorizer, reactor=None, clock=None, *, endpoints: Endpoints | None = None,
                 media_timeout: float = 10.0, idle_timeout: float = 60.0, connect_timeout: float = 5.0,
                 stats: RelayStats | None = None, request_timeout: float = 10.0):
        self.authorizer = authorizer
        self.clock = clock if clock is not None else reactor
        if self.clock is None:
            raise TypeError("RelayFactory needs a clock (or a reactor)")
        if endpoints is None:
            if reactor is None:
                raise TypeError("RelayFactory needs endpoints (or a reactor to dial TCP with)")
            endpoints = tcp_endpoints(reactor, connect_timeout)
        self.endpoints = endpoints
        self.media_timeout = media_timeout
        self.idle_timeout = idle_timeout
        self.connect_timeout = connect_timeout
        self.request_timeout = request_timeout
        self.check_interval = min(media_timeout, idle_timeout) / 2
        self.stats = stats if stats is not None else RelayStats()
        self.refusals_log = RateLimitedLog(self.clock)
        self.sessions: set[ClientConnection] = set()  # relaying now
        self.connections: set[ClientConnection] = set()  # every client connection

    def buildProtocol(self, addr):
        connection = ClientConnection(self)
        self.connections.add(connection)
        return connection
