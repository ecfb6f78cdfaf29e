"""Files of the platform served as RTSP streams on loopback: MP4s looped live, recordings played back (RFC 2326).

Two kinds of source, each a path of this server:

* ``/mp4/<name>`` — spec/002's ``stream_prop`` 1, "an MP4 file": ``<name>``
  from the MP4 directory (``[cloudmonitor] mp4_dir``) played over and over at
  its own pace, as live.  kandian makes it a stream proxy
  (:mod:`kandian.core.proxies`) whose source is this URL, so it goes through
  the relay, live HLS and recording like any camera.
* ``/rec/<id>?exp=&sig=`` — a platform recording (its run of pieces), for
  spec/000's play of a platform recording through the relay; the signature
  is checked by *resolve_recording* (the core's).  It is seekable and
  steerable: PLAY's ``Range`` moves it, its ``Scale`` (0.1–16) sets the
  speed, PAUSE pauses it.

Per client that PLAYs, an ffmpeg (a :class:`~kandian.media.process.Supervisor`)
reads the source in real time (``-re``, or ``-readrate`` at the asked speed,
``-ss`` at the asked position; a recording one piece after the other) and sends its H.264 as RTP, as it is
(``-c copy -f rtp``), to a UDP port of this server on 127.0.0.1; each packet
goes to the client interleaved in its RTSP connection (``$`` frames; RTP
over TCP only, as the relay asks).  A new position or speed is a new
ffmpeg, so each packet's sequence number and timestamp are rewritten to
continue the client's stream, under one SSRC.  A client that does not read
fast enough loses packets rather than making the server buffer them (the
client's transport is producer-paused: packets are dropped and counted).
DESCRIBE answers the source's SDP, which ffmpeg writes once per file
version.  TEARDOWN or the connection closing stops that client's ffmpeg.

An MP4 name is one path segment under the directory (no ``/``, no ``..``), of
an ``.mp4`` file there; anything else is 404.
"""

from __future__ import annotations

import os
import re
import secrets
import struct
import tempfile
from collections.abc import Callable
from typing import NamedTuple
from urllib.parse import parse_qs, quote, unquote

from twisted.internet import defer, protocol, utils
from twisted.internet.interfaces import IPushProducer
from twisted.logger import Logger
from zope.interface import implementer

from ..logs import peer_text
from ..rtsp.message import Interleaved, Request, Response, RTSPDecoder, RTSPError
from ..rtsp.transport import parse_transport
from .process import ProcessStats, Supervisor

log = Logger()

PATH = "/mp4/"
REC = "/rec/"
_NAME = re.compile(r"^[^/\\\x00-\x1f]{1,200}\.mp4$", re.I)
_REC = re.compile(r"^/rec/([1-9][0-9]{0,17})(?:/.*)?$")
_NPT = re.compile(r"^\s*npt\s*=\s*([0-9]+(?:\.[0-9]*)?)\s*-")
PUBLIC = "OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE, TEARDOWN, GET_PARAMETER"
SESSION_TIMEOUT = 60
MIN_SCALE, MAX_SCALE = 0.1, 16.0
KEY_INTERVAL = 1.0  # seconds between key frames the file server counts on


class LoopStats:
    def __init__(self):
        self.sessions = 0
        self.packets = 0
        self.dropped = 0  # packets a slow client did not get
        self.processes = ProcessStats()


class Source(NamedTuple):
    """What a path plays: its files (one, or a recording's pieces in order, each with its seconds),
    looped or seekable."""
    title: str
    files: tuple[tuple[str, float | None], ...]
    looped: bool
    duration: float | None = None  # seconds (a recording's)

    def piece_at(self, position: float) -> tuple[int, float]:
        """(the piece, seconds into it) of *position* seconds into the source."""
        start = 0.0
        for n, (_, seconds) in enumerate(self.files):
            if seconds is None or position < start + seconds or n == len(self.files) - 1:
                return n, max(0.0, position - start)
            start += seconds
        return 0, 0.0

    def start_of(self, piece: int) -> float:
        return sum(seconds or 0.0 for _, seconds in self.files[:piece])


def name_of(path: str) -> str | None:
    """The file name a request path names (``/mp4/<name>[/trackID=0]``), or None."""
    if not path.startswith(PATH):
        return None
    rest = path[len(PATH):]
    try:
        name = unquote(rest.split("/", 1)[0], errors="strict") if rest else ""
    except UnicodeDecodeError:
        return None
    if not _NAME.match(name) or name in (".", "..") or name.startswith("."):
        return None
    return name


class LoopServer(protocol.ServerFactory):
    noisy = False

    def __init__(self, reactor, directory: str, *, ffmpeg: str = "ffmpeg", clock=None, stats: LoopStats | None = None,
                 resolve_recording: Callable[[int, str, str], defer.Deferred] | None = None,
                 sign_recording: Callable[[int], str] | None = None):
        """*resolve_recording(id, exp, sig)*: a Deferred of ``([(file, seconds)], duration)`` of a recording
        whose signed path this is, failing (any error) otherwise; *sign_recording(id)* the signed query of
        its path."""
        self.reactor = reactor
        self.clock = clock if clock is not None else reactor
        self.directory = os.path.abspath(directory)
        self.ffmpeg = ffmpeg
        self.stats = stats if stats is not None else LoopStats()
        self.resolve_recording = resolve_recording
        self.sign_recording = sign_recording
        self.port: int | None = None  # set once bound
        self.connections: set[LoopConnection] = set()
        self.stopping: set[defer.Deferred] = set()  # ffmpegs being stopped
        self._sdp: dict[tuple, str] = {}

    def buildProtocol(self, addr):
        connection = LoopConnection(self)
        self.connections.add(connection)
        return connection

    def stop(self) -> defer.Deferred:
        """Close every client and fire once every ffmpeg is gone."""
        for connection in list(self.connections):
            connection.stop()
            connection.transport.loseConnection()
        return defer.DeferredList([_settled(d) for d in self.stopping])

    def url(self, name: str) -> str:
        return "rtsp://127.0.0.1:%d%s%s" % (self.port, PATH, quote(name, safe=""))

    def recording_url(self, recording_id: int, query: str) -> str:
        return "rtsp://127.0.0.1:%d%s%d?%s" % (self.port, REC, recording_id, query)

    def recording_source(self, recording_id: int) -> tuple[str, int, str] | None:
        """Where the relay fetches a platform recording: (host, port, signed URL), None while not listening."""
        if self.port is None or self.sign_recording is None:
            return None
        return "127.0.0.1", self.port, self.recording_url(recording_id, self.sign_recording(recording_id))

    def path(self, name: str | None) -> str | None:
        """The file *name* stands for, if it is an MP4 file of the directory."""
        if name is None:
            return None
        path = os.path.join(self.directory, name)
        if os.path.dirname(os.path.realpath(path)) != os.path.realpath(self.directory):
            return None
        return path if os.path.isfile(path) else None

    def file_of(self, path_given: str) -> str | None:
        """The name under the directory of a path an integrator gives (absolute, or a bare name)."""
        candidate = os.path.realpath(os.path.join(self.directory, path_given))
        if os.path.dirname(candidate) != os.path.realpath(self.directory):
            return None
        name = os.path.basename(candidate)
        return name if self.path(name_of(PATH + quote(name, safe=""))) else None

    @defer.inlineCallbacks
    def source(self, uri: str):
        """The Source a request URI names, or None."""
        path, _, query = _path_and_query(uri)
        name = name_of(path)
        if name is not None:
            found = self.path(name)
            return Source(name, ((found, None),), True) if found else None
        match = _REC.match(path)
        if match is None or self.resolve_recording is None:
            return None
        args = parse_qs(query)
        try:
            files, duration = yield self.resolve_recording(int(match.group(1)), (args.get("exp") or [""])[-1],
                                                           (args.get("sig") or [""])[-1])
        except Exception as e:
            log.info("RTSP file server: recording {id} refused: {why}", id=match.group(1), why=peer_text(str(e)))
            return None
        return Source("recording %s" % match.group(1), tuple(files), False, duration) if files else None

    @defer.inlineCallbacks
    def sdp(self, path: str):
        """A file's SDP (media lines), made by ffmpeg once per file version; None when it has no H.264."""
        stat = os.stat(path)
        key = (path, stat.st_mtime_ns, stat.st_size)
        if key not in self._sdp:
            fd, target = tempfile.mkstemp(suffix=".sdp")
            os.close(fd)
            try:
                yield utils.getProcessOutputAndValue(self.ffmpeg, [
                    "-nostdin", "-v", "error", "-i", path, "-map", "0:v:0", "-c", "copy", "-frames:v", "1",
                    "-f", "rtp", "-sdp_file", target, "rtp://127.0.0.1:9"], reactor=self.reactor)
                with open(target, encoding="ascii", errors="replace") as f:  # a few hundred bytes
                    text = f.read(8192)
            finally:
                os.unlink(target)
            lines = [line for line in text.splitlines() if line.startswith(("a=rtpmap:", "a=fmtp:", "b="))]
            if not any(line.startswith("a=rtpmap:") for line in lines):
                return None
            if len(self._sdp) > 100:
                self._sdp.clear()
            self._sdp[key] = "\r\n".join(lines)
        return self._sdp[key]


class _Rtp(protocol.DatagramProtocol):
    """ffmpeg's RTP packets, to the client interleaved."""

    def __init__(self, connection: LoopConnection, run: int):
        self.connection = connection
        self.run = run

    def datagramReceived(self, data, addr):
        self.connection.packet(data, self.run)


class _Sink(protocol.DatagramProtocol):
    """ffmpeg's RTCP: not passed on."""

    def datagramReceived(self, data, addr):
        pass


@implementer(IPushProducer)
class LoopConnection(protocol.Protocol):
    def __init__(self, factory: LoopServer):
        self.factory = factory
        self.decoder = RTSPDecoder(max_body_bytes=4096, coalesce_interleaved=True)
        self.session = secrets.token_hex(8)
        self.source: Source | None = None
        self.channel = 0
        self.ports: list = []
        self.ffmpeg: Supervisor | None = None
        self.paused_by_client = False  # its transport is full: packets are dropped
        # where the stream is: position (s) at a time, moving at rate; frozen while paused
        self.position = 0.0
        self.rate = 1.0
        self.moving_since: float | None = None
        # the client's RTP stream, continued across ffmpeg runs
        self.ssrc = secrets.randbits(32)
        self.run = 0
        self.seq = secrets.randbits(16)
        self.timestamp = secrets.randbits(32)
        self._first: tuple[int, int] | None = None  # (seq, timestamp) of this run's first packet
        self._base: tuple[int, int] = (0, 0)  # the client's (seq, timestamp) this run starts from
        self._last_ts = 0
        self._sent = False

    def connectionMade(self):
        self.transport.registerProducer(self, True)

    # IPushProducer, for the client's transport
    def pauseProducing(self):
        self.paused_by_client = True

    def resumeProducing(self):
        self.paused_by_client = False

    def stopProducing(self):
        self.stop()

    def dataReceived(self, data):
        try:
            events = self.decoder.feed(data)
        except RTSPError as e:
            self.transport.write(Response.for_request(None, 400).to_bytes())
            log.info("RTSP file server: a bad request: {why}", why=peer_text(str(e)))
            self.transport.loseConnection()
            return
        for event in events:
            if isinstance(event, Request):
                self._request(event)

    def _request(self, request: Request) -> None:
        handler = getattr(self, "_" + request.method.lower(), None)
        if handler is None or request.method not in PUBLIC:
            self._answer(request, 501)
            return
        d = defer.maybeDeferred(handler, request)
        d.addErrback(self._failed, request)

    def _answer(self, request, code: int, headers=(), body: bytes = b"") -> None:
        out = list(headers)
        if self.source is not None and request.method not in ("OPTIONS", "DESCRIBE"):
            out.append(("Session", "%s;timeout=%d" % (self.session, SESSION_TIMEOUT)))
        self.transport.write(Response.for_request(request, code, headers=out, body=body).to_bytes())

    def _failed(self, failure, request) -> None:
        log.failure("RTSP file server: {method} failed", failure, method=request.method)
        self._answer(request, 500)

    def _options(self, request):
        self._answer(request, 200, [("Public", PUBLIC)])

    @defer.inlineCallbacks
    def _describe(self, request):
        source = yield self.factory.source(request.uri)
        if source is None:
            self._answer(request, 404)
            return
        media = yield self.factory.sdp(source.files[0][0])
        if media is None:
            self._answer(request, 415)
            return
        span = "a=range:npt=0-%.3f\r\n" % source.duration if source.duration else "a=range:npt=0-\r\n"
        sdp = ("v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=%s\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\na=control:*\r\n%s"
               "m=video 0 RTP/AVP 96\r\n%s\r\na=control:trackID=0\r\n" % (source.title, span, media))
        base = request.uri.rstrip("/") + "/"
        self._answer(request, 200, [("Content-Base", base), ("Content-Type", "application/sdp")],
                     sdp.encode("utf-8"))

    @defer.inlineCallbacks
    def _setup(self, request):
        source = yield self.factory.source(request.uri)
        if source is None:
            self._answer(request, 404)
            return
        try:
            specs = parse_transport(request.headers.get("Transport") or "")
        except ValueError:
            specs = []
        tcp = [spec for spec in specs if spec.is_tcp_interleaved]
        if not tcp:
            self._answer(request, 461)
            return
        self.source = source
        interleaved = tcp[0].interleaved
        self.channel = interleaved[0] if interleaved else 0
        self._answer(request, 200, [("Transport", "RTP/AVP/TCP;unicast;interleaved=%d-%d"
                                     % (self.channel, self.channel + 1))])

    def _play(self, request):
        if self.source is None:
            self._answer(request, 455)
            return
        position, rate = self.where(), self.rate
        if not self.source.looped:
            scale = request.headers.get("Scale") or request.headers.get("Speed")
            if scale is not None:
                try:
                    rate = float(scale)
                except ValueError:
                    rate = 0.0
                if not MIN_SCALE <= rate <= MAX_SCALE:
                    self._answer(request, 456)
                    return
            match = _NPT.match(request.headers.get("Range") or "")
            if match is not None:
                position = float(match.group(1))
                if self.source.duration is not None and position >= self.source.duration:
                    self._answer(request, 457)
                    return
        moved = (position, rate) != (self.where(), self.rate)
        if self.ffmpeg is None or (moved and not self.source.looped):
            self.stop()
            self.position, self.rate = position, rate
            self._start()
        self.moving_since = self.factory.clock.seconds()
        headers = [("Range", "npt=%.3f-%s" % (self.position, "%.3f" % self.source.duration
                                               if self.source.duration else ""))]
        if not self.source.looped:
            headers.append(("Scale", "%.3f" % self.rate))
        self._answer(request, 200, headers)

    def _pause(self, request):
        self.position = self.where()
        self.moving_since = None
        self.stop()
        self._answer(request, 200)

    def _get_parameter(self, request):
        self._answer(request, 200)

    def _teardown(self, request):
        self.stop()
        self._answer(request, 200)
        self.transport.loseConnection()

    def where(self) -> float:
        """The position in the source now (seconds; a looped file's is 0)."""
        if self.source is None or self.source.looped:
            return 0.0
        if self.moving_since is None:
            return self.position
        return self.position + (self.factory.clock.seconds() - self.moving_since) * self.rate

    # -- the stream

    def _start(self) -> None:
        reactor = self.factory.reactor
        self.run += 1
        self._first = None
        rtp = reactor.listenUDP(0, _Rtp(self, self.run), interface="127.0.0.1")
        rtcp = reactor.listenUDP(0, _Sink(), interface="127.0.0.1")
        self.ports = [rtp, rtcp]
        target = "rtp://127.0.0.1:%d?rtcpport=%d&pkt_size=1400" % (rtp.getHost().port, rtcp.getHost().port)
        source = self.source
        piece = 0
        if source.looped:
            inputs = ["-re", "-stream_loop", "-1", "-i", source.files[0][0]]
        else:
            # one piece at a time (a seek within one file lands on its key frame), the next when it ends
            piece, offset = source.piece_at(self.position)
            # a stream copy starts at the first key frame after -ss: a second earlier, so the key frame
            # at or before the position (a recorder's pieces have one a second) — nothing is skipped
            seek = max(0.0, offset - KEY_INTERVAL)
            self.position = source.start_of(piece) + seek  # what plays starts at or after this
            inputs = ["-readrate", "%g" % self.rate, "-ss", "%.3f" % seek, "-i", source.files[piece][0]]
        argv = [self.factory.ffmpeg, "-nostdin", "-hide_banner", "-v", "warning", *inputs, "-map", "0:v:0",
                "-c", "copy", "-f", "rtp", target]
        supervisor = Supervisor("file stream %s" % (source.title,), lambda: argv, reactor, clock=self.factory.clock,
                                stats=self.factory.stats.processes, retry=lambda why: source.looped)
        supervisor.on_ended = lambda why: self._piece_ended(supervisor, piece, why)
        self.ffmpeg = supervisor
        supervisor.start()
        self.factory.stats.sessions += 1

    def _piece_ended(self, supervisor: Supervisor, piece: int, why) -> None:
        """A recording's piece was played to its end: the next one, from its start."""
        if supervisor is not self.ffmpeg or getattr(why, "code", None) != 0:
            return
        if piece + 1 >= len(self.source.files):
            self.position, self.moving_since = self.source.duration or self.where(), None  # the end
            return
        self.stop()
        self.position = self.source.start_of(piece + 1)
        self.moving_since = self.factory.clock.seconds()
        self._start()

    def packet(self, data: bytes, run: int) -> None:
        if run != self.run or len(data) < 12:
            return  # a packet of a run being stopped
        if self.paused_by_client:
            self.factory.stats.dropped += 1
            return
        seq, timestamp = struct.unpack_from("!HI", data, 2)
        if self._first is None:
            self._first = (seq, timestamp)
            # a new run goes on 40 ms (at 90 kHz) after the last packet of the one before
            self._base = (self.seq, (self._last_ts + 3600) & 0xFFFFFFFF if self._sent else self.timestamp)
        out_seq = (self._base[0] + seq - self._first[0]) & 0xFFFF
        out_ts = (self._base[1] + timestamp - self._first[1]) & 0xFFFFFFFF
        self.seq, self._last_ts, self._sent = (out_seq + 1) & 0xFFFF, out_ts, True
        packet = data[:2] + struct.pack("!HII", out_seq, out_ts, self.ssrc) + data[12:]
        self.factory.stats.packets += 1
        self.transport.write(Interleaved(self.channel, packet).to_bytes())

    def stop(self) -> defer.Deferred:
        """Stop the stream; fires once its ffmpeg is gone."""
        ffmpeg, self.ffmpeg = self.ffmpeg, None
        ports, self.ports = self.ports, []
        for port in ports:
            port.stopListening()
        if ffmpeg is None:
            return defer.succeed(None)
        stopped = ffmpeg.stop()
        stopping = self.factory.stopping
        stopping.add(stopped)
        stopped.addBoth(lambda result: (stopping.discard(stopped), result)[1])
        return _settled(stopped)

    def connectionLost(self, reason=protocol.connectionDone):
        self.factory.connections.discard(self)
        self.stop()


def _settled(d: defer.Deferred) -> defer.Deferred:
    """A new Deferred firing (None) once *d* has its result."""
    settled: defer.Deferred = defer.Deferred()
    d.addBoth(lambda result: (settled.callback(None), result)[1])
    return settled


def _path_and_query(uri: str) -> tuple[str, str, str]:
    """(path, the track suffix, query) of an rtsp:// URI (whatever host it names)."""
    rest = uri.split("://", 1)[-1]
    path_query = "/" + rest.split("/", 1)[1] if "/" in rest else "/"
    path, _, query = path_query.partition("?")
    # a client appends the track control after the query: "…?exp=1&sig=x/trackID=0"
    suffix = ""
    if "/" in query:
        query, _, suffix = query.partition("/")
    return path, suffix, query
