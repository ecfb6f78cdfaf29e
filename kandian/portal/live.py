"""Live HLS on the portal listener: ``GET /live/{DevID}/{ChannelNo}/{StreamType}/…`` (issue 16; PRODUCT.md "Media").

Three names under a stream's directory:

* ``index.m3u8`` — the playlist; the first request starts the stream's
  packager (:class:`kandian.media.hls.LiveHls`) and waits for its first
  segment;
* ``segN.ts`` — a segment, sent from disk by a ``FileSender`` as the peer
  reads (a segment is a second or two of video, a few hundred KB; nothing
  is read whole on the reactor thread);
* ``status`` — ``{"state", "message"}`` for the page (idle, starting, live,
  offline, closed, not_found, unavailable, busy, failed), starting nothing.

Who may watch is decided as for a play URL: the principal of a Bearer token
or of the portal's cookie must be allowed to view the device
(:meth:`kandian.core.media.Media.may_watch`), or the request carries
``?exp=&sig=`` signed for this stream's directory
(:meth:`kandian.core.media.Media.live_url`); a signed playlist hands its
query on to the segment URIs in it, and answers any origin (CORS), so an
integrator's page can embed it.  A refusal is JSON ``{"error", "message"}``
with the status of :data:`ENDED` or of the portal's one table
(:mod:`.results`); each is counted, and logged at debug level (a viewer
retries often).
"""

from __future__ import annotations

import json
import os
import re

from twisted.internet import defer
from twisted.logger import Logger
from twisted.protocols.basic import FileSender
from twisted.python.failure import Failure
from twisted.web import resource, server

from ..core import errors
from ..logs import peer_text
from ..media.hls import PLAYLIST, Key, StreamEnded
from . import results
from .api import _token, add_security_headers

log = Logger()

_PATH = re.compile(r"^/live/([0-9]{1,32})/([0-9]{1,3})/([0-9])/(index\.m3u8|seg[0-9]{1,20}\.ts|status)$")
M3U8 = b"application/vnd.apple.mpegurl"
TS = b"video/mp2t"
JSON = b"application/json; charset=utf-8"
AUTH_CACHE_SECONDS = 10.0

# what a stream that cannot be watched answers, by its state
ENDED: dict[str, tuple[int, str]] = {
    "offline": (503, "device_offline"),
    "not_found": (404, "not_found"),
    "closed": (403, "stream_closed"),
    "unavailable": (503, "unavailable"),
    "busy": (503, "busy"),
    "starting": (503, "starting"),
    "failed": (503, "failed"),
    "idle": (503, "ended"),
    "stopped": (503, "ended"),
}


class LiveStats:
    def __init__(self):
        self.requests = 0
        self.refused: dict[str, int] = {}  # error code → answers


class LiveResource(resource.Resource):
    isLeaf = True

    def __init__(self, media, live, auth, clock, stats: LiveStats | None = None):
        """*media* is :class:`kandian.core.media.Media`, *live* :class:`kandian.media.hls.LiveHls`,
        *auth* :class:`kandian.core.apiauth.ApiAuth`."""
        super().__init__()
        self.media = media
        self.live = live
        self.auth = auth
        self.clock = clock
        self.stats = stats if stats is not None else LiveStats()
        self._allowed: dict[tuple, float] = {}  # (token, DevID) → until when it may watch

    def render_GET(self, request):
        self.stats.requests += 1
        d = defer.maybeDeferred(self._handle, request)
        d.addErrback(self._refused, request)
        d.addErrback(lambda f: log.failure("live HLS: answering {path} failed", f, path=peer_text(request.path)))
        return server.NOT_DONE_YET

    @defer.inlineCallbacks
    def _handle(self, request):
        match = _PATH.match(request.path.decode("latin-1"))
        if match is None:
            raise _Refusal(404, "not_found", "no such live stream path")
        dev_id, channel_no, stream_type, name = match.groups()
        key = Key(dev_id, int(channel_no), int(stream_type))
        signed = yield self._authorize(request, key)
        add_security_headers(request)
        if signed:
            request.setHeader(b"access-control-allow-origin", b"*")
        if name == "status":
            return self._json(request, 200, self.live.status(key))
        if name == PLAYLIST:
            packager = yield self.live.watch(key)
            return self._playlist(request, packager, signed)
        packager = self.live.seen(key)
        path = packager and self.live.segment(packager, name)
        if not path:
            raise _Refusal(404, "gone", "no such segment (any more)")
        return self._file(request, path)

    @defer.inlineCallbacks
    def _authorize(self, request, key: Key):
        """True for a signed request, False for a principal's; raises otherwise."""
        args = request.args
        if b"sig" in args or b"exp" in args:
            expires = args.get(b"exp", [b""])[-1].decode("latin-1")
            signature = args.get(b"sig", [b""])[-1].decode("latin-1")
            if not self.media.signed(*key, expires, signature):
                raise _Refusal(401, "unauthenticated", "the signature is wrong or has expired")
            return True
        try:
            token, _ = _token(request)
        except Exception:
            raise _Refusal(401, "unauthenticated", "use Authorization: Bearer TOKEN") from None
        if not token:
            raise errors.NotAuthenticated("no token")
        now = self.clock.seconds()
        cached = (token, key.dev_id)
        if self._allowed.get(cached, 0) > now:
            return False
        session = yield self.auth.session(token)
        yield self.media.may_watch(session.principal, key.dev_id)
        if len(self._allowed) > 10_000:
            self._allowed = {k: v for k, v in self._allowed.items() if v > now}
        self._allowed[cached] = now + min(AUTH_CACHE_SECONDS, max(0.0, session.expires_at - now))
        return False

    def _playlist(self, request, packager, signed: bool) -> None:
        if request._disconnected:  # the viewer left while the stream started
            return
        try:
            with open(packager.playlist, "rb") as f:  # a few hundred bytes, renamed into place whole
                body = f.read(65536)
        except OSError:
            raise _Refusal(503, "starting", "the playlist is not there yet") from None
        if signed:
            query = b"?" + request.uri.partition(b"?")[2]
            body = b"\n".join(line + query if line and not line.startswith(b"#") else line
                              for line in body.split(b"\n"))
        request.setHeader(b"content-type", M3U8)
        request.setHeader(b"cache-control", b"no-cache")
        request.setHeader(b"content-length", b"%d" % len(body))
        request.write(body)
        request.finish()

    def _file(self, request, path: str) -> None:
        if request._disconnected:
            return
        try:
            f = open(path, "rb")  # noqa: SIM115 (closed when the transfer ends)
        except OSError:
            raise _Refusal(404, "gone", "no such segment (any more)") from None
        size = _size(f)
        request.setHeader(b"content-type", TS)
        request.setHeader(b"cache-control", b"private, max-age=60")
        request.setHeader(b"content-length", b"%d" % size)

        FileSender().beginFileTransfer(f, request).addBoth(_sent, f, request)

    def _json(self, request, status: int, body: dict, headers: dict | None = None) -> None:
        if request._disconnected:
            return
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        request.setResponseCode(status)
        for name, value in (headers or {}).items():
            request.setHeader(name, value)
        request.setHeader(b"content-type", JSON)
        request.setHeader(b"cache-control", b"no-store")
        request.setHeader(b"content-length", b"%d" % len(data))
        request.write(data)
        request.finish()

    def _refused(self, failure, request):
        error = failure.value
        headers = {}
        if isinstance(error, _Refusal):
            status, code, message = error.status, error.code, str(error)
        elif isinstance(error, StreamEnded):
            status, code = ENDED.get(error.state, (503, error.state))
            message = str(error)
            headers[b"retry-after"] = b"2"
        else:
            found = results.status_for(error) if isinstance(error, Exception) else None
            if found is None:
                return failure
            (status, code), message = found, str(error)
        self.stats.refused[code] = self.stats.refused.get(code, 0) + 1
        log.debug("live HLS {path}: {status} {code}: {message}", path=peer_text(request.path.split(b"?")[0]),
                  status=status, code=code, message=peer_text(message, 200))
        if request._disconnected:
            return None
        add_security_headers(request)
        body = {"error": code, "message": message}
        if isinstance(error, StreamEnded):
            body["state"] = error.state
        self._json(request, status, body, headers)
        return None


class _Refusal(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code


def _size(f) -> int:
    return os.fstat(f.fileno()).st_size


def _sent(result, f, request) -> None:
    """A segment's transfer is over: sent whole (FileSender unregistered itself), or stopped because
    the viewer went (FileSender stays registered: unregistered here, and the response, shorter than
    its Content-Length, is not finished but its connection closed)."""
    f.close()
    if request.producer is not None:
        request.unregisterProducer()
    if request._disconnected:
        return
    if isinstance(result, Failure):
        request.loseConnection()
    else:
        request.finish()
