"""The ``[onenet]`` HTTP resource: routing, the ``api-key`` header, bodies, the ``{"errno", "error", …}`` answer
(spec/001; PRODUCT.md "Compatibility APIs").

Each request: match the route (method and path; an unknown path is 404, a
known path with another method 405), authenticate its ``api-key`` (a master
or a device key, :mod:`kandian.core.devicekeys`) unless the route needs none,
read its query (UTF-8, no control characters) and body (JSON, or the raw
bytes of an upload, each route with its own size cap — a larger body is
answered 413 before it is read, :class:`OnenetRequest`), run the handler and
answer.  Refusals are the core's errors turned into errno by the one table of
:mod:`.results` (a route may override it); each is logged once and counted
in :class:`OnenetStats`.  Keys are never logged.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Callable
from typing import Any, NamedTuple
from urllib.parse import unquote

from twisted.internet import defer
from twisted.logger import Logger
from twisted.protocols.basic import FileSender
from twisted.python.failure import Failure
from twisted.web import resource, server

from .. import web
from ..core import errors
from ..logs import peer_text
from . import results
from .results import Code

log = Logger()

JSON_TYPE = b"application/json;charset=utf-8"
MAX_JSON = 64 * 1024  # §3.1: a command is under 64K
MAX_QUERY_VALUE = 4096


class ApiError(Exception):
    """A refusal of the API itself (not the core's): its Code and detail."""

    def __init__(self, code: Code, detail: str = "", headers: dict | None = None):
        super().__init__(detail)
        self.code = code
        self.headers = headers or {}


class Reply(NamedTuple):
    """An answer: errno 0 "succ" followed by *body*'s members (in the file's order)."""
    body: dict = {}
    errno: int = 0
    error: str | None = results.SUCCESS  # None: the file's answer has no "error" (§7.2)


class Raw(NamedTuple):
    """An answer that is not the envelope: bytes of *content_type*, or a redirect (*location*)."""
    data: bytes = b""
    content_type: bytes = b"application/octet-stream"
    status: int = 200
    headers: dict = {}


class FileBody(NamedTuple):
    """A file sent 64 KiB at a time, as the peer reads."""
    path: str
    size: int
    content_type: bytes
    etag: bytes | None = None


class Route(NamedTuple):
    method: str
    template: str  # a path; "{name}" matches one segment
    handler: Callable
    auth: bool = True
    body: str = "none"  # none | json | raw
    max_body: int = MAX_JSON
    errors: dict | None = None  # an override of the results table
    internal: Code = results.INTERNAL  # what a bug answers on this route


class Call(NamedTuple):
    """What a handler is given."""
    grant: Any  # kandian.core.devicekeys.Grant; None on a route without a key
    params: dict  # path parameters
    query: dict  # str → str
    raw_query: str  # as sent, without the '?'
    body: Any  # the parsed JSON, or a readable file of the raw body
    size: int  # bytes of the body
    source: str | None


class OnenetStats:
    def __init__(self):
        self.requests = 0
        self.answers: Counter = Counter()  # errno → answers (0 included)


class Router:
    def __init__(self, routes: list[Route]):
        self.routes = routes
        self._exact: dict[str, list[Route]] = {}
        self._templates: list[tuple[Route, tuple[str, ...]]] = []
        for r in routes:
            if "{" in r.template:
                self._templates.append((r, tuple(r.template.strip("/").split("/"))))
            else:
                self._exact.setdefault(r.template, []).append(r)

    def match(self, method: str, path: str):
        """(route, params); (None, [methods]) when only the method is wrong; (None, None) for no such path."""
        candidates = [(r, {}) for r in self._exact.get(path, ())]
        if not candidates:
            segments = path.strip("/").split("/")
            for route, parts in self._templates:
                if len(parts) != len(segments):
                    continue
                params = {}
                for part, segment in zip(parts, segments):
                    if part.startswith("{"):
                        if not segment:
                            break
                        params[part[1:-1]] = segment
                    elif part != segment:
                        break
                else:
                    candidates.append((route, params))
        for route, params in candidates:
            if route.method == method:
                return route, params
        return None, (sorted({r.method for r, _ in candidates}) or None)

    def max_body(self, method: bytes, path: bytes) -> int:
        try:
            route, _ = self.match(method.decode("ascii"), _path(path))
        except (UnicodeDecodeError, ValueError):
            return MAX_JSON
        if route is None or route.body == "none":
            return MAX_JSON
        return route.max_body


def _path(raw: bytes) -> str:
    path = raw.split(b"?", 1)[0]
    return unquote(path.decode("ascii"), errors="strict")


def envelope(errno: int, error: str | None, body: dict | None = None) -> bytes:
    out: dict = {"errno": errno}
    if error is not None:
        out["error"] = error
    if body:
        out.update(body)
    return json.dumps(out, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class OnenetRequest(web.LimitedRequest):
    """A request whose body cap is its route's (``router.max_body``), refused with the envelope's 413."""

    router: Router | None = None
    stats: OnenetStats | None = None

    def gotLength(self, length):
        if self.router is not None:
            self.max_body = self.router.max_body(getattr(self.channel, "_command", b"") or b"",
                                                 getattr(self.channel, "_path", b"") or b"/")
        super().gotLength(length)

    def _reject(self, size):
        self._too_large = True
        self.content = io.BytesIO()
        if self.stats is not None:
            self.stats.requests += 1
            self.stats.answers[results.TOO_BIG.errno] += 1
        log.info("onenet: a body of {size} bytes refused (over {limit}) from {peer}", size=size,
                 limit=self.max_body, peer=getattr(self.getClientAddress(), "host", "?"))
        data = envelope(results.TOO_BIG.errno, "%s: over %d bytes" % (results.TOO_BIG.text, self.max_body))
        self.channel.transport.write(b"HTTP/1.1 413 Request Entity Too Large\r\nContent-Type: %s\r\n"
                                     b"Content-Length: %d\r\nConnection: close\r\n\r\n%s"
                                     % (JSON_TYPE, len(data), data))
        self.channel.transport.loseConnection()


class OnenetResource(resource.Resource):
    isLeaf = True

    def __init__(self, router: Router, auth, stats: OnenetStats | None = None):
        """*auth*: :class:`kandian.core.devicekeys.KeyAuth`."""
        super().__init__()
        self.router = router
        self.auth = auth
        self.stats = stats or OnenetStats()

    def render(self, request):
        self.stats.requests += 1
        d = defer.maybeDeferred(self._handle, request)
        d.addErrback(self._failed, request)
        d.addCallback(self._write, request)
        d.addErrback(lambda f: log.failure("onenet: answering {path} failed", f, path=peer_text(request.path)))
        return server.NOT_DONE_YET

    @defer.inlineCallbacks
    def _handle(self, request):
        method = request.method.decode("ascii", "replace")
        try:
            path = unquote(request.path.decode("ascii"), errors="strict")
        except (UnicodeDecodeError, ValueError):
            raise ApiError(results.BAD_REQUEST, "the path is not UTF-8") from None
        route, found = self.router.match("GET" if method == "HEAD" else method, path)
        if route is None:
            if found:
                raise ApiError(results.METHOD, "use %s" % ", ".join(found),
                               {b"allow": ", ".join(found).encode("ascii")})
            raise ApiError(results.NOT_FOUND, "no such path")
        request.route = route
        source = _source(request)
        grant = None
        if route.auth:
            # §16 and §18.2 take the key in "authorization" as well ("api-key 与 authorization 二选一")
            key = request.getHeader(b"api-key") or request.getHeader(b"authorization")
            text = key.decode("latin-1").strip() if key else None
            if text and text[:7].lower() == "bearer ":
                text = text[7:].strip()
            grant = yield self.auth.authenticate(text, source)
        raw_query = request.uri.split(b"?", 1)[1] if b"?" in request.uri else b""
        query = _query(raw_query)
        body, size = _body(request, route)
        reply = yield route.handler(Call(grant, found, query, raw_query.decode("ascii", "replace"), body, size,
                                         source))
        return reply

    def _failed(self, failure: Failure, request):
        error = failure.value
        route = getattr(request, "route", None)
        headers: dict = {}
        if isinstance(error, ApiError):
            code, detail, headers = error.code, str(error), error.headers
        else:
            code = results.code_for(error, route.errors if route else None) if isinstance(error, Exception) \
                else None
            detail = str(error)
            if code is None:
                log.failure("onenet: {method} {path} failed", failure, method=peer_text(request.method),
                            path=peer_text(request.path))
                code, detail = (route.internal if route else results.INTERNAL), ""
            elif isinstance(error, errors.TooManyFailures):
                headers[b"retry-after"] = b"%d" % max(1, round(error.retry_after))
        if code.status >= 500 or code.errno >= 500:
            log.warn("onenet: {method} {path} from {source}: errno {errno}: {detail}",
                     method=peer_text(request.method), path=peer_text(request.path), source=_source(request),
                     errno=code.errno, detail=peer_text(detail))
        else:
            log.debug("onenet: {method} {path}: errno {errno}: {detail}", method=peer_text(request.method),
                      path=peer_text(request.path), errno=code.errno, detail=peer_text(detail))
        text = code.text if code.exact or not detail else "%s: %s" % (code.text, detail)
        return Raw(envelope(code.errno, text), JSON_TYPE, code.status, dict(headers, errno=code.errno))

    def _write(self, reply, request):
        if request._disconnected:
            return
        request.setHeader(b"cache-control", b"no-store")
        request.setHeader(b"x-content-type-options", b"nosniff")
        if isinstance(reply, FileBody):
            self.stats.answers[0] += 1
            return self._send_file(reply, request)
        if isinstance(reply, Reply):
            self.stats.answers[reply.errno] += 1
            reply = Raw(envelope(reply.errno, reply.error, reply.body), JSON_TYPE)
        else:
            self.stats.answers[reply.headers.get("errno", 0)] += 1
        for name, value in reply.headers.items():
            if isinstance(name, bytes):
                request.setHeader(name, value)
        request.setResponseCode(reply.status)
        request.setHeader(b"content-type", reply.content_type)
        request.setHeader(b"content-length", b"%d" % len(reply.data))
        if request.method != b"HEAD":
            request.write(reply.data)
        request.finish()

    def _send_file(self, body: FileBody, request):
        try:
            f = open(body.path, "rb")  # noqa: SIM115 (closed when the transfer ends)
        except OSError:
            log.warn("onenet: file {path} is gone", path=body.path)
            self.stats.answers[results.NOT_FOUND.errno] += 1
            data = envelope(results.NOT_FOUND.errno, "%s: the file is gone" % results.NOT_FOUND.text)
            request.setResponseCode(404)
            request.setHeader(b"content-type", JSON_TYPE)
            request.setHeader(b"content-length", b"%d" % len(data))
            request.write(data)
            request.finish()
            return
        request.setResponseCode(200)
        request.setHeader(b"content-type", body.content_type)
        request.setHeader(b"content-length", b"%d" % body.size)
        if body.etag:
            request.setHeader(b"etag", body.etag)
        if request.method == b"HEAD":
            f.close()
            request.finish()
            return

        def done(result):
            f.close()
            if not request._disconnected:
                request.finish()
        FileSender().beginFileTransfer(f, request).addBoth(done)


def _source(request) -> str | None:
    return getattr(request.getClientAddress(), "host", None)


def _query(raw: bytes) -> dict:
    query = {}
    for part in raw.split(b"&"):
        if not part:
            continue
        key, _, value = part.partition(b"=")
        try:
            key_text = unquote(key.replace(b"+", b" ").decode("ascii"), errors="strict").strip()
            value_text = unquote(value.replace(b"+", b" ").decode("ascii"), errors="strict")
        except (UnicodeDecodeError, ValueError):
            raise ApiError(results.BAD_REQUEST, "the query is not UTF-8") from None
        if not (key_text + value_text).isprintable():
            raise ApiError(results.BAD_REQUEST, "a control character in the query")
        if len(value_text) > MAX_QUERY_VALUE:
            raise ApiError(results.BAD_REQUEST, "%s is too long" % key_text[:32])
        query[key_text] = value_text
    return query


def parse_json(raw: bytes):
    """A JSON body (None when empty); ApiError 400 when it is not JSON in UTF-8."""
    if not raw.strip():
        return None
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ApiError(results.BAD_REQUEST, "the body is not JSON in UTF-8") from None


def _body(request, route: Route):
    content = request.content
    if content is None:
        return None, 0
    content.seek(0, io.SEEK_END)
    size = content.tell()
    content.seek(0)
    if route.body == "raw":
        return content, size
    if route.body == "none":
        return None, size
    return parse_json(content.read()), size


def site(router: Router, auth, stats: OnenetStats, **http_options):
    """The ``[onenet]`` Site (:func:`kandian.web.site`'s deadlines, :class:`OnenetRequest`'s caps)."""
    top = OnenetResource(router, auth, stats)
    made = web.site(top, max_body=max((r.max_body for r in router.routes), default=MAX_JSON), **http_options)
    made.requestFactory = type("OnenetRequest", (OnenetRequest,), {"router": router, "stats": stats,
                                                                    "max_body": MAX_JSON})
    return made
