"""HTTP plumbing shared by the HTTP listeners (registration §7.2, MCU §8, admin).

:class:`LimitedRequest` caps the request body: a declared Content-Length over
the cap, or a chunked body that grows past it, is answered ``413`` at once and
the connection closed, before anything reaches a resource — a device or app
cannot make the daemon buffer an unbounded body.

:class:`DeadlineChannel` bounds time the way :class:`LimitedRequest` bounds
size: a request must arrive whole (request line, headers, body) within
``request_timeout`` seconds of its first byte, or it is answered ``408`` and
the connection closed — Twisted's own timeout restarts on every byte, so a
peer trickling a byte at a time (slowloris) would hold the connection for
ever.  A request class may set ``min_rate`` (bytes per second): its deadline
then grows by one second for every ``min_rate`` bytes of body received, so a
large upload that keeps up that rate on average is never cut, while a peer
that trickles (or sends only headers) still meets the fixed deadline.
Between requests the channel's idle timeout (``idle_timeout``) closes
a keep-alive connection nobody uses.  :func:`site` builds a ``Site`` with
both that never shows tracebacks.
"""

from __future__ import annotations

import io

from twisted.logger import Logger
from twisted.web import http, server

from .limits import RateLimitedLog

log = Logger()

MAX_BODY = 64 * 1024
REQUEST_TIMEOUT = 10.0
IDLE_TIMEOUT = 15.0


class LimitedRequest(server.Request):
    max_body = MAX_BODY
    # None: the body must arrive within the channel's request_timeout; a number (bytes per second): each
    # min_rate bytes received add a second to it (:class:`DeadlineChannel`)
    min_rate: float | None = None
    _received = 0
    _too_large = False

    def gotLength(self, length):
        if length is not None and length > self.max_body:
            self._reject(length)
        else:
            super().gotLength(length)

    def handleContentChunk(self, data):
        if self._too_large:
            return
        self._received += len(data)
        if self._received > self.max_body:
            self._reject(self._received)
            return
        super().handleContentChunk(data)

    def requestReceived(self, command, path, version):
        if self._too_large:
            return
        super().requestReceived(command, path, version)

    def _reject(self, size):
        log.warn("HTTP body of {size} bytes refused (over {limit}) from {peer}",
                 size=size, limit=self.max_body, peer=self.getClientAddress())
        self.refuse_body(413)

    def refuse_body(self, status: int, body: bytes = b"", content_type: bytes | None = None) -> None:
        """Answer *status* before the body is read, close the connection, drop what of the body still comes."""
        self._too_large = True
        self.content = io.BytesIO()
        if self.channel is None:  # the peer has gone already
            return
        head = b"HTTP/1.1 %d %s\r\n" % (status, http.RESPONSES.get(status, b"Refused"))
        if content_type is not None:
            head += b"Content-Type: %s\r\n" % content_type
        transport = self.channel.transport
        transport.write(head + b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
        transport.loseConnection()


class DeadlineChannel(http.HTTPChannel):
    """An HTTP/1.1 channel whose requests must arrive whole within ``request_timeout``."""

    request_timeout = REQUEST_TIMEOUT
    # after the 408, the peer has this long to let the connection close
    abortTimeout = 5
    _deadline = None
    _started = 0.0  # when the request under way began (its first byte)
    _timed_out = False
    clock = None  # the site's reactor (Site.buildProtocol)

    def dataReceived(self, data):
        # Bytes that arrive while a request is being answered are buffered by
        # HTTPChannel and replayed through here when it is done: the next
        # request's deadline starts then.
        if self._deadline is None and data and not self._handlingRequest and not self._timed_out:
            self._started = self.clock.seconds()
            self._deadline = self.callLater(self.request_timeout, self._request_timed_out)
        super().dataReceived(data)

    def _send100Continue(self):
        request = self.requests[-1] if self.requests else None
        if getattr(request, "_too_large", False):
            return  # refused (413) on its Content-Length: the body is not wanted
        if getattr(request, "_gating", None) is not None:
            request._continue_wanted = True  # sent once its sender is let in (PortalRequest's gate)
            return
        super()._send100Continue()

    def _allowed(self) -> float:
        """Seconds the request under way may take: request_timeout, plus a second per ``min_rate`` bytes of
        its body received when its request class sets a ``min_rate``."""
        request = self.requests[-1] if self.requests else None
        rate = getattr(request, "min_rate", None)
        if not rate:
            return self.request_timeout
        return self.request_timeout + getattr(request, "_received", 0) / rate

    def allContentReceived(self):
        self._cancel_deadline()
        super().allContentReceived()

    def connectionLost(self, reason):
        self._cancel_deadline()
        super().connectionLost(reason)

    def _cancel_deadline(self):
        if self._deadline is not None:
            if self._deadline.active():
                self._deadline.cancel()
            self._deadline = None

    def _request_timed_out(self):
        self._deadline = None
        more = self._allowed() - (self.clock.seconds() - self._started)
        if more > 0:  # the body kept up its min_rate: the deadline moves to what it has earned
            self._deadline = self.callLater(more, self._request_timed_out)
            return
        self._timed_out = True
        site = self.site
        limit = getattr(site, "limit", None)
        if limit is not None:
            limit.request_timeouts += 1
        peer = self.transport.getPeer()
        held_back = site.timeouts_log.due(getattr(peer, "host", None)) if site.timeouts_log else 0
        if held_back is not None:
            log.warn("HTTP request from {peer} not complete within {timeout} s: 408, closed{more}",
                     peer=getattr(peer, "host", peer), timeout=self.request_timeout,
                     more="; %d more from it since the last line" % held_back if held_back else "")
        self.transport.write(b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        self._abortingCall = self.callLater(self.abortTimeout, self.forceAbortClient)
        self.loseConnection()


class Site(server.Site):
    """A Site of :class:`DeadlineChannel`; HTTP/1.1 only (an h2 channel would not keep the deadline)."""

    protocol = DeadlineChannel
    displayTracebacks = False
    noisy = False

    def __init__(self, resource, *, request_timeout: float = REQUEST_TIMEOUT, limit=None, access_log: bool = True,
                 **kw):
        """*limit* (a ListenerLimit) counts request timeouts; *access_log* False writes no line per request
        (Twisted's combined log format; a listener that logs what matters itself)."""
        super().__init__(resource, **kw)
        self.request_timeout = request_timeout
        self.limit = limit
        self.access_log = access_log
        self.timeouts_log = RateLimitedLog(self.reactor)

    def log(self, request):
        if self.access_log:
            super().log(request)

    def buildProtocol(self, addr):
        channel = super().buildProtocol(addr)
        channel.request_timeout = self.request_timeout
        channel.clock = self.reactor
        return channel

    def acceptableProtocols(self):
        return [b"http/1.1"]


def site(resource, max_body: int = MAX_BODY, *, request_timeout: float = REQUEST_TIMEOUT,
         idle_timeout: float = IDLE_TIMEOUT, clock=None, limit=None, access_log: bool = True) -> server.Site:
    """The Site of an HTTP listener; *clock* runs its timeouts (the reactor by
    default), *limit* (a ListenerLimit) counts its request timeouts."""
    request_class = type("Request", (LimitedRequest,), {"max_body": max_body})
    # bodies here are XML, never forms: no per-request Content-Type parsing
    # (Twisted does it with the email package) nor form decoding
    return Site(resource, requestFactory=request_class, parsePOSTFormSubmission=False,
                request_timeout=request_timeout, limit=limit, timeout=idle_timeout, reactor=clock,
                access_log=access_log)
