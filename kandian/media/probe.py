"""Does an RTSP source answer? One ``OPTIONS`` over TCP (RFC 2326 §10.1), for stream proxies' online state.

Any RTSP status line counts as an answer (a camera may say 401 to OPTIONS
and still stream to the relay once asked properly); a refused or silent
connection, or something that is not RTSP, does not.  The host is an IP
literal, already checked against ``[media] proxy_allow`` by the caller.
"""

from __future__ import annotations

from twisted.internet import defer, protocol
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP6ClientEndpoint, connectProtocol

from ..dialpolicy import ip_literal

MAX_ANSWER = 4096


class _Options(protocol.Protocol):
    def __init__(self, url: str):
        self.url = url
        self.received = b""
        self.answered: defer.Deferred = defer.Deferred()

    def connectionMade(self):
        self.transport.write(b"OPTIONS %s RTSP/1.0\r\nCSeq: 1\r\nUser-Agent: kandian\r\n\r\n"
                             % self.url.encode("ascii", "replace"))

    def dataReceived(self, data):
        self.received += data
        if b"\r\n" in self.received or len(self.received) >= MAX_ANSWER:
            self._done(self.received.startswith(b"RTSP/1.0 "))

    def connectionLost(self, reason):
        self._done(False)

    def _done(self, answered: bool):
        if not self.answered.called:
            self.answered.callback(answered)
            self.transport.loseConnection()


def rtsp_answers(reactor, host: str, port: int, url: str, timeout: float = 5.0) -> defer.Deferred:
    """A Deferred of whether *host*:*port* answers ``OPTIONS url`` within *timeout* seconds."""
    address = ip_literal(host)
    if address is None:
        return defer.succeed(False)
    endpoint_class = TCP6ClientEndpoint if address.version == 6 else TCP4ClientEndpoint
    endpoint = endpoint_class(reactor, str(address), port, timeout=timeout)
    probe = _Options(url)

    def connected(p):
        return probe.answered.addTimeout(timeout, reactor)

    def closed(result, connection):
        if connection and connection[0].transport is not None:
            connection[0].transport.abortConnection()
        return result

    connection: list = []
    d = connectProtocol(endpoint, probe)
    d.addCallback(lambda p: connection.append(p) or p)
    d.addCallback(connected)
    d.addErrback(lambda f: False)
    return d.addBoth(closed, connection)
