"""Placeholder answers for listeners whose interface has not been built yet.

A listener that is configured is always bound (PRODUCT.md: the daemon binds
the default ports), and a peer that connects gets its own protocol's
"service unavailable" rather than silence: HTTP 503, RTSP 503 with the
request's CSeq, FTP 421 (RFC 959).  Each interface replaces its placeholder
when it lands.
"""

from __future__ import annotations

from twisted.internet import protocol
from twisted.web import resource, server


class _Unavailable(resource.Resource):
    isLeaf = True

    def __init__(self, what: str):
        super().__init__()
        self.what = what

    def render(self, request):
        request.setResponseCode(503)
        request.setHeader(b"content-type", b"text/plain; charset=utf-8")
        return ("%s is not available on this node yet\n" % (self.what,)).encode("utf-8")


def http(what: str) -> server.Site:
    site = server.Site(_Unavailable(what))
    site.displayTracebacks = False
    site.noisy = False
    return site


class _RTSPUnavailable(protocol.Protocol):
    MAX_HEADER = 8192

    def connectionMade(self):
        self.buffer = b""

    def dataReceived(self, data):
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            cseq = b"0"
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"cseq":
                    cseq = value.strip()[:16]
            self.transport.write(b"RTSP/1.0 503 Service Unavailable\r\nCSeq: " + cseq
                                 + b"\r\nContent-Length: 0\r\n\r\n")
        if len(self.buffer) > self.MAX_HEADER:
            self.transport.loseConnection()


class _FTPUnavailable(protocol.Protocol):
    def connectionMade(self):
        self.transport.write(b"421 Service not available, closing control connection.\r\n")
        self.transport.loseConnection()


class _Close(protocol.Protocol):
    def connectionMade(self):
        self.transport.loseConnection()


def _factory(proto) -> protocol.Factory:
    factory = protocol.Factory.forProtocol(proto)
    factory.noisy = False
    return factory


def rtsp() -> protocol.Factory:
    return _factory(_RTSPUnavailable)


def ftp() -> protocol.Factory:
    return _factory(_FTPUnavailable)


def close() -> protocol.Factory:
    return _factory(_Close)
