"""HTTP plumbing shared by the HTTP listeners (registration §7.2, MCU §8, admin).

:class:`LimitedRequest` caps the request body: a declared Content-Length over
the cap, or a chunked body that grows past it, is answered ``413`` at once and
the connection closed, before anything reaches a resource — a device or app
cannot make the daemon buffer an unbounded body.  :func:`site` builds a
``Site`` that never shows tracebacks.
"""

from __future__ import annotations

import io

from twisted.logger import Logger
from twisted.web import server

log = Logger()

MAX_BODY = 64 * 1024


class LimitedRequest(server.Request):
    max_body = MAX_BODY
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
        self._too_large = True
        self.content = io.BytesIO()
        log.warn("HTTP body of {size} bytes refused (over {limit}) from {peer}",
                 size=size, limit=self.max_body, peer=self.getClientAddress())
        self.channel.transport.write(b"HTTP/1.1 413 Request Entity Too Large\r\n"
                                     b"Content-Length: 0\r\nConnection: close\r\n\r\n")
        self.channel.transport.loseConnection()


def site(resource, max_body: int = MAX_BODY) -> server.Site:
    request_class = type("Request", (LimitedRequest,), {"max_body": max_body})
    # bodies here are XML, never forms: no per-request Content-Type parsing
    # (Twisted does it with the email package) nor form decoding
    s = server.Site(resource, requestFactory=request_class, parsePOSTFormSubmission=False)
    s.displayTracebacks = False
    s.noisy = False
    return s
