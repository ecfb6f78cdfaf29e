"""MP4 files played in a loop as live RTSP streams, on loopback (spec/002 ``stream_prop`` 1; RFC 2326).

spec/002 lets a channel be "an MP4 file" instead of a camera.  kandian makes
it a stream proxy (:mod:`kandian.core.proxies`) whose source is this small
RTSP server: ``rtsp://127.0.0.1:PORT/mp4/<name>`` plays ``<name>`` from the
MP4 directory (``[cloudmonitor] mp4_dir``), over and over, at its own pace —
so it goes through the relay, live HLS and recording like any camera.

Per client that PLAYs, an ffmpeg (a :class:`~kandian.media.process.Supervisor`)
reads the file in real time in a loop and sends its H.264 as RTP, as it is
(``-re -stream_loop -1 -c copy -f rtp``), to a UDP port of this server on
127.0.0.1; each packet goes to the client interleaved in its RTSP connection
(``$`` frames; RTP over TCP only, as the relay asks).  A client that does not
read fast enough loses packets rather than making the server buffer them
(the client's transport is producer-paused: packets are dropped and counted).
DESCRIBE answers the file's SDP, which ffmpeg writes once per file version.
TEARDOWN, PAUSE or the connection closing stops that client's ffmpeg.

A name is one path segment under the directory (no ``/``, no ``..``), of an
``.mp4`` file there; anything else is 404.
"""

from __future__ import annotations

import os
import re
import secrets
import tempfile
from urllib.parse import quote, unquote

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
_NAME = re.compile(r"^[^/\\\x00-\x1f]{1,200}\.mp4$", re.I)
PUBLIC = "OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE, TEARDOWN, GET_PARAMETER"
SESSION_TIMEOUT = 60


class LoopStats:
    def __init__(self):
        self.sessions = 0
        self.packets = 0
        self.dropped = 0  # packets a slow client did not get
        self.processes = ProcessStats()


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

    def __init__(self, reactor, directory: str, *, ffmpeg: str = "ffmpeg", clock=None, stats: LoopStats | None = None):
        self.reactor = reactor
        self.clock = clock if clock is not None else reactor
        self.directory = os.path.abspath(directory)
        self.ffmpeg = ffmpeg
        self.stats = stats if stats is not None else LoopStats()
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
    def sdp(self, path: str):
        """The file's SDP (media lines), made by ffmpeg once per file version; None when it has no H.264."""
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
    """ffmpeg's RTP packets, to the client interleaved on channel 0."""

    def __init__(self, connection: LoopConnection):
        self.connection = connection

    def datagramReceived(self, data, addr):
        self.connection.packet(data)


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
        self.file: str | None = None
        self.channel = 0
        self.ports: list = []
        self.ffmpeg: Supervisor | None = None
        self.paused_by_client = False  # its transport is full: packets are dropped

    def connectionMade(self):
        self.transport.registerProducer(self, True)

    # IPushProducer, for the client's transport
    def pauseProducing(self):
        self.paused_by_client = True

    def resumeProducing(self):
        self.paused_by_client = False

    def stopProducing(self):
        self._stop()

    def dataReceived(self, data):
        try:
            events = self.decoder.feed(data)
        except RTSPError as e:
            self.transport.write(Response.for_request(None, 400).to_bytes())
            log.info("MP4 loop: bad request from the relay: {why}", why=peer_text(str(e)))
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
        if self.file is not None and request.method not in ("OPTIONS", "DESCRIBE"):
            out.append(("Session", "%s;timeout=%d" % (self.session, SESSION_TIMEOUT)))
        self.transport.write(Response.for_request(request, code, headers=out, body=body).to_bytes())

    def _failed(self, failure, request) -> None:
        log.failure("MP4 loop: {method} failed", failure, method=request.method)
        self._answer(request, 500)

    def _options(self, request):
        self._answer(request, 200, [("Public", PUBLIC)])

    @defer.inlineCallbacks
    def _describe(self, request):
        path = self.factory.path(name_of(_path(request.uri)))
        if path is None:
            self._answer(request, 404)
            return
        media = yield self.factory.sdp(path)
        if media is None:
            self._answer(request, 415)
            return
        sdp = ("v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=%s\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\na=control:*\r\n"
               "m=video 0 RTP/AVP 96\r\n%s\r\na=control:trackID=0\r\n" % (os.path.basename(path), media))
        base = request.uri.split("?")[0].rstrip("/") + "/"
        self._answer(request, 200, [("Content-Base", base), ("Content-Type", "application/sdp")],
                     sdp.encode("utf-8"))

    def _setup(self, request):
        path = self.factory.path(name_of(_path(request.uri)))
        if path is None:
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
        self.file = path
        interleaved = tcp[0].interleaved
        self.channel = interleaved[0] if interleaved else 0
        self._answer(request, 200, [("Transport", "RTP/AVP/TCP;unicast;interleaved=%d-%d"
                                     % (self.channel, self.channel + 1))])

    def _play(self, request):
        if self.file is None:
            self._answer(request, 455)
            return
        if self.ffmpeg is None:
            self._start()
        self._answer(request, 200, [("Range", "npt=0.000-")])

    def _pause(self, request):
        self._stop()
        self._answer(request, 200)

    def _get_parameter(self, request):
        self._answer(request, 200)

    def _teardown(self, request):
        self._stop()
        self._answer(request, 200)
        self.transport.loseConnection()

    # -- the stream

    def _start(self) -> None:
        reactor = self.factory.reactor
        rtp = reactor.listenUDP(0, _Rtp(self), interface="127.0.0.1")
        rtcp = reactor.listenUDP(0, _Sink(), interface="127.0.0.1")
        self.ports = [rtp, rtcp]
        target = "rtp://127.0.0.1:%d?rtcpport=%d&pkt_size=1400" % (rtp.getHost().port, rtcp.getHost().port)
        argv = [self.factory.ffmpeg, "-nostdin", "-hide_banner", "-v", "warning", "-re", "-stream_loop", "-1",
                "-i", self.file, "-map", "0:v:0", "-c", "copy", "-f", "rtp", target]
        self.ffmpeg = Supervisor("mp4 loop %s" % (os.path.basename(self.file),), lambda: argv, reactor,
                                 clock=self.factory.clock, stats=self.factory.stats.processes)
        self.ffmpeg.start()
        self.factory.stats.sessions += 1

    def packet(self, data: bytes) -> None:
        if self.paused_by_client:
            self.factory.stats.dropped += 1
            return
        self.factory.stats.packets += 1
        self.transport.write(Interleaved(self.channel, data).to_bytes())

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

    def _stop(self) -> None:
        self.stop()

    def connectionLost(self, reason=protocol.connectionDone):
        self.factory.connections.discard(self)
        self._stop()


def _settled(d: defer.Deferred) -> defer.Deferred:
    """A new Deferred firing (None) once *d* has its result."""
    settled: defer.Deferred = defer.Deferred()
    d.addBoth(lambda result: (settled.callback(None), result)[1])
    return settled


def _path(uri: str) -> str:
    """The path of an rtsp:// URI (whatever host it names)."""
    rest = uri.split("://", 1)[-1]
    return "/" + rest.split("/", 1)[1].split("?")[0] if "/" in rest else "/"

