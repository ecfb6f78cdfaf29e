"""``POST /mobileservice/{action}``: spec/000 over HTTP.

Each request: the action from the path (one of the file's seven, exactly
as spelled), the body read by :mod:`.codec`, the action run by
:mod:`.handlers` over the core, the answer written in the request's declared
encoding (``text/xml; charset=…``).  Refusals are answered in the file's
shape with the StatusCode of :mod:`.results` and HTTP 200 — the file's
clients read StatusCode; a path that is no action is HTTP 404 and a method
other than POST 405, both with a StatusCode 2 body.  Each refusal is counted
(:class:`MvbStats`, ``/metrics``) and logged once, peer strings truncated;
an unexpected failure is StatusCode 1, logged with its traceback.
"""

from __future__ import annotations

from collections import Counter

from twisted.internet import defer
from twisted.logger import Logger
from twisted.web import resource, server

from ..logs import peer_text
from . import codec, results
from .codec import MvbFormatError, MvbResponse

log = Logger()

PREFIX = b"/mobileservice/"


class MvbStats:
    def __init__(self):
        self.requests: Counter = Counter()  # action → requests
        self.answers: Counter = Counter()  # StatusCode → answers
        self.bad_requests = 0  # bodies that could not be read, unknown paths, wrong methods


class MvbResource(resource.Resource):
    isLeaf = True

    def __init__(self, handlers, stats: MvbStats | None = None):
        super().__init__()
        self.handlers = handlers
        self.stats = stats or MvbStats()

    def render(self, request):
        body = request.content.read() if request.content is not None else b""
        encoding = codec.declared_encoding(body)
        action = request.path[len(PREFIX):].decode("ascii", "replace") if request.path.startswith(PREFIX) else None
        if action not in self.handlers.actions:
            return self._refuse(request, 404, body, encoding, "no such action: %s" % (peer_text(request.path),))
        if request.method != b"POST":
            request.setHeader(b"allow", b"POST")
            return self._refuse(request, 405, body, encoding, "%s is POST only" % (action,))
        self.stats.requests[action] += 1
        try:
            parsed = codec.decode_request(body)
        except MvbFormatError as e:
            return self._refuse(request, 200, body, encoding, "%s: %s" % (action, e))
        source = getattr(request.getClientAddress(), "host", None)
        d = defer.maybeDeferred(self.handlers.actions[action], parsed.fields, source)
        d.addErrback(self._failed, action, parsed.fields, source)
        d.addCallback(self._write, request, parsed.encoding)
        d.addErrback(lambda f: log.failure("mvb: answering {action} failed", f, action=action))
        return server.NOT_DONE_YET

    def _refuse(self, request, http_status: int, body: bytes, encoding: str, why: str) -> bytes:
        self.stats.bad_requests += 1
        self.stats.answers[results.PARAMS_INVALID] += 1
        log.info("mvb: {status} from {source}: {why}", status=http_status,
                 source=getattr(request.getClientAddress(), "host", "?"), why=peer_text(why, 160))
        request.setResponseCode(http_status)
        return self._bytes(request, MvbResponse(codec.request_id_of(body), results.PARAMS_INVALID,
                                                results.DESCRIPTIONS[results.PARAMS_INVALID]), encoding)

    def _failed(self, failure, action: str, fields: dict, source) -> MvbResponse:
        status = results.status_for(failure.value) if isinstance(failure.value, Exception) else None
        if status is None:
            log.failure("mvb: {action} failed", failure, action=action)
            status = results.UNKNOWN
        else:
            log.info("mvb: {action} from {source}: {status} ({why})", action=action, source=source, status=status,
                     why=peer_text(str(failure.value), 160))
        session = fields.get("session") if action != "play" else None
        return MvbResponse(fields.get("RequestID") or "0", status, results.DESCRIPTIONS[status],
                           session if session else None)

    def _write(self, answer: MvbResponse, request, encoding: str) -> None:
        self.stats.answers[answer.status] += 1
        if request._disconnected:
            return
        request.write(self._bytes(request, answer, encoding))
        request.finish()

    @staticmethod
    def _bytes(request, answer: MvbResponse, encoding: str) -> bytes:
        data = codec.encode_response(answer, encoding)
        request.setHeader(b"content-type", b"text/xml; charset=" + encoding.encode("ascii"))
        request.setHeader(b"content-length", b"%d" % len(data))
        return data
