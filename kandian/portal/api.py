"""The REST API resource under ``/api/v1/`` (PRODUCT.md "Portal and REST API").

Each request: match a route (:mod:`.router`), authenticate (``Authorization:
Bearer TOKEN``, or the portal's HttpOnly cookie — whose writes must carry
``X-CSRF-Token``), read a JSON body, run the handler (:mod:`.handlers`, over
the core) and answer JSON.  Refusals are the core's domain errors turned into
``{"error", "message"}`` by the one table of :mod:`.results`; each is logged
once and counted in :class:`ApiStats`.  GET answers carry a weak ETag and
answer 304 to a matching ``If-None-Match``.  Every answer carries the
security headers of :data:`SECURITY_HEADERS` and ``Cache-Control: no-store``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections import Counter
from typing import Any, NamedTuple

from twisted.internet import defer
from twisted.logger import Logger
from twisted.protocols.basic import FileSender
from twisted.python.failure import Failure
from twisted.web import resource, server, static

from ..core import errors
from ..logs import peer_text
from . import results
from .router import Router

log = Logger()

PREFIX = b"/api/v1"
TOKEN_COOKIE = b"kandian_token"
CSRF_COOKIE = b"kandian_csrf"
CSRF_HEADER = b"x-csrf-token"
JSON = b"application/json; charset=utf-8"
SECURITY_HEADERS = {
    b"content-security-policy": b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self';"
                                b" media-src 'self' blob:;"
                                b" object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    b"x-frame-options": b"DENY",
    b"x-content-type-options": b"nosniff",
    b"referrer-policy": b"same-origin",
}


class ApiError(Exception):
    """A refusal of the API itself (not the core's): its (status, code) and message."""

    def __init__(self, status_code: tuple[int, str], message: str, headers: dict | None = None):
        super().__init__(message)
        self.status_code = status_code
        self.headers = headers or {}


class Reply(NamedTuple):
    status: int
    body: Any  # JSON-able (or JSON already encoded, bytes), or bytes with content_type
    content_type: bytes = JSON
    headers: dict = {}


class FileBody(NamedTuple):
    """A file to answer with (an alarm's picture): sent by a FileSender, 16 KiB at a time, as the peer reads."""
    path: str
    size: int
    etag: bytes | None = None


class RangedFile(NamedTuple):
    """A file to answer with HTTP ranges (a recording's MPEG-TS or MP4): twisted.web.static.File serves
    it, reading 64 KiB at a time as the peer takes it; *download_name* makes it an attachment."""
    path: str
    download_name: str | None = None


class Call(NamedTuple):
    """What a handler is given."""
    principal: Any  # kandian.core.access.Principal, None on a route without login
    params: dict  # path parameters
    query: dict  # str → str (the last of repeated ones)
    body: Any  # the parsed JSON, or bytes for a non-JSON body
    source: str | None  # the peer's address
    token: str | None
    secure: bool  # over TLS


class ApiStats:
    def __init__(self):
        self.requests = 0
        self.errors: Counter = Counter()  # error code → answers


def etag_of(body: bytes) -> bytes:
    """The weak ETag of a GET's JSON *body*."""
    return b'W/"%s"' % hashlib.sha1(body).hexdigest()[:20].encode("ascii")


def add_security_headers(request) -> None:
    for name, value in SECURITY_HEADERS.items():
        request.setHeader(name, value)


class ApiResource(resource.Resource):
    isLeaf = True

    def __init__(self, router: Router, auth, stats: ApiStats | None = None, wrote=None):
        """*auth*: :class:`kandian.core.apiauth.ApiAuth`; *wrote()* is called once a request other than GET and
        HEAD has been handled on a route whose ``lists`` is true, before its answer is sent (the device list's
        cache is dropped: the store's notification of the change may reach this node a moment after the answer
        reached its client)."""
        super().__init__()
        self.router = router
        self.auth = auth
        self.stats = stats or ApiStats()
        self.wrote = wrote

    def render(self, request):
        self.stats.requests += 1
        d = defer.maybeDeferred(self._handle, request)
        d.addErrback(self._failed, request)
        d.addCallback(self._write, request)
        d.addErrback(lambda f: log.failure("portal: answering {path} failed", f, path=peer_text(request.path)))
        return server.NOT_DONE_YET

    @defer.inlineCallbacks
    def _handle(self, request):
        path = request.path[len(PREFIX):].decode("utf-8", "replace") if request.path.startswith(PREFIX) else ""
        method = request.method.decode("ascii", "replace")
        try:
            route, found = self.router.match("GET" if method == "HEAD" else method, path or "/")
        except UnicodeDecodeError:
            raise ApiError(results.BAD_REQUEST, "the path is not UTF-8") from None
        if route is None:
            if found:
                raise ApiError(results.NO_METHOD, "use %s" % ", ".join(found),
                               {b"allow": ", ".join(found).encode("ascii")})
            raise ApiError(results.NO_ROUTE, "no such API path")
        request.route = route
        token, by_cookie = _token(request)
        principal = None
        if route.auth:
            session = yield self.auth.session(token)
            principal = session.principal
            if by_cookie and method not in ("GET", "HEAD"):
                sent = request.getHeader(CSRF_HEADER) or b""
                if not hmac.compare_digest(sent, session.csrf.encode("ascii")):
                    raise ApiError(results.CSRF, "a write with the portal's cookie needs the X-CSRF-Token header")
        call = Call(principal, found, _query(request), _body(request, method), _source(request), token,
                    request.isSecure())
        try:
            reply = yield route.handler(call)
        finally:
            if self.wrote is not None and method not in ("GET", "HEAD") and route.lists:
                self.wrote()  # a refusal too: it may have changed something before it failed
        return reply

    def _failed(self, failure: Failure, request) -> Reply:
        error = failure.value
        override = getattr(getattr(request, "route", None), "handler", None)
        override = getattr(override, "errors", None)
        headers = {}
        if isinstance(error, ApiError):
            (status, code), message, headers = error.status_code, str(error), error.headers
        else:
            found = results.status_for(error, override) if isinstance(error, Exception) else None
            if found is None:
                log.failure("portal: {method} {path} failed", failure, method=peer_text(request.method),
                            path=peer_text(request.path))
                status, code = results.INTERNAL
                message = "internal error"
            else:
                status, code = found
                message = str(error)
                if isinstance(error, errors.TooManyFailures):
                    headers[b"retry-after"] = b"%d" % max(1, round(error.retry_after))
        self.stats.errors[code] += 1
        if status >= 500 or code in ("bad_request", "csrf"):
            log.warn("portal: {method} {path} from {source}: {status} {code}: {message}",
                     method=peer_text(request.method), path=peer_text(request.path), source=_source(request),
                     status=status, code=code, message=peer_text(message))
        else:
            log.debug("portal: {status} {code}: {message}", status=status, code=code, message=peer_text(message))
        body: dict = {"error": code, "message": message}
        if isinstance(error, (errors.DeviceRefused, errors.UnknownToGroup)) and error.result is not None:
            body["result"] = error.result
        return Reply(status, body, JSON, headers)

    def _write(self, reply: Reply, request):
        if request._disconnected:
            return
        add_security_headers(request)
        request.setHeader(b"cache-control", b"no-store")
        for name, value in reply.headers.items():
            request.responseHeaders.setRawHeaders(name, value if isinstance(value, list) else [value])
        if reply.status == 204:
            request.setResponseCode(204)
            request.finish()
            return
        body = reply.body
        if isinstance(body, FileBody):
            return self._send_file(body, reply, request)
        if isinstance(body, RangedFile):
            return self._send_ranged(body, reply, request)
        if reply.content_type == JSON and not isinstance(body, bytes):  # bytes: JSON encoded already
            body = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        request.setHeader(b"content-type", reply.content_type)
        if request.method in (b"GET", b"HEAD") and reply.status == 200:
            etag = reply.headers.get(b"etag")  # the handler's, of the same body
            if etag is None:
                etag = etag_of(body)
                request.setHeader(b"etag", etag)
            if etag in [tag.strip() for tag in (request.getHeader(b"if-none-match") or b"").split(b",")]:
                request.setResponseCode(304)
                request.finish()
                return
        request.setResponseCode(reply.status)
        request.setHeader(b"content-length", b"%d" % len(body))
        if request.method != b"HEAD":
            request.write(body)
        request.finish()


    def _send_file(self, body: FileBody, reply: Reply, request):
        try:
            f = open(body.path, "rb")  # noqa: SIM115 (closed when the transfer ends)
        except OSError:
            log.warn("portal: picture file {path} is gone", path=body.path)
            self.stats.errors["no_picture"] += 1
            request.setResponseCode(404)
            data = json.dumps({"error": "no_picture", "message": "the picture file is gone"}).encode("utf-8")
            request.setHeader(b"content-type", JSON)
            request.setHeader(b"content-length", b"%d" % len(data))
            request.write(data)
            request.finish()
            return
        request.setHeader(b"content-type", reply.content_type)
        request.setHeader(b"cache-control", b"private, max-age=86400")
        if body.etag:
            request.setHeader(b"etag", body.etag)
            if body.etag in [t.strip() for t in (request.getHeader(b"if-none-match") or b"").split(b",")]:
                f.close()
                request.setResponseCode(304)
                request.finish()
                return
        request.setResponseCode(200)
        request.setHeader(b"content-length", b"%d" % body.size)
        if request.method == b"HEAD":
            f.close()
            request.finish()
            return

        def done(result):
            f.close()
            if not request._disconnected:
                request.finish()
        FileSender().beginFileTransfer(f, request).addBoth(done)


    def _send_ranged(self, body: RangedFile, reply: Reply, request):
        f = static.File(body.path)
        if not f.isfile():
            log.warn("portal: recording file {path} is gone", path=body.path)
            self.stats.errors["recording_unavailable"] += 1
            data = json.dumps({"error": "recording_unavailable", "message": "the file is gone"}).encode("utf-8")
            request.setResponseCode(503)
            request.setHeader(b"content-type", JSON)
            request.setHeader(b"content-length", b"%d" % len(data))
            request.write(data)
            request.finish()
            return
        f.type, f.encoding = reply.content_type.decode("ascii"), None
        if body.download_name:
            request.setHeader(b"content-disposition",
                              b'attachment; filename="%s"' % body.download_name.encode("ascii", "replace"))
        request.setHeader(b"cache-control", b"private, max-age=3600")
        done = f.render_GET(request)
        if done is not server.NOT_DONE_YET:
            if done and request.method != b"HEAD":
                request.write(done)
            request.finish()


def _token(request) -> tuple[str | None, bool]:
    header = (request.getHeader(b"authorization") or b"").decode("latin-1")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip(), False
        raise ApiError((401, "unauthenticated"), "use Authorization: Bearer TOKEN")
    cookie = request.getCookie(TOKEN_COOKIE)
    if cookie:
        return cookie.decode("ascii", "replace"), True
    return None, False


def _query(request) -> dict:
    query = {}
    for key, values in request.args.items():
        try:
            query[key.decode("utf-8")] = values[-1].decode("utf-8")
        except UnicodeDecodeError:
            raise ApiError(results.BAD_REQUEST, "the query is not UTF-8") from None
    return query


class Upload(NamedTuple):
    """A body to read as a file (a firmware image): *content* is the request's own file, at its start."""
    content: Any
    content_type: str  # the whole Content-Type header (multipart's boundary included)


UPLOAD_TYPES = ("application/octet-stream", "multipart/form-data")


def _body(request, method: str):
    if method in ("GET", "HEAD", "DELETE"):
        return None
    header = (request.getHeader(b"content-type") or b"").decode("latin-1")
    kind = header.split(";")[0].strip().lower()
    if kind in UPLOAD_TYPES:
        # not read here: the handler copies it off the reactor (Twisted keeps a large body in a temporary file)
        request.content.seek(0)
        return Upload(request.content, header)
    raw = request.content.read() if request.content is not None else b""
    if kind == "application/json":
        try:
            return json.loads(raw.decode("utf-8")) if raw.strip() else {}
        except (UnicodeDecodeError, ValueError):
            raise ApiError(results.BAD_REQUEST, "the body is not JSON in UTF-8") from None
    if not raw.strip():
        return {}
    if kind in ("text/csv", "text/plain"):
        return raw
    # a form post from another site would come as form data: refused
    raise ApiError(results.BAD_REQUEST, "send the body as application/json")


def _source(request) -> str | None:
    address = request.getClientAddress()
    return getattr(address, "host", None)
