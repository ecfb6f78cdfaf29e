"""``GET /api/v1/<接口>``: spec/002 over HTTP.

Each request: the endpoint and its parameters from the URL, in either of the
file's styles (:mod:`.routes`); the access token checked (all but
``version`` and ``access_token``) by :meth:`kandian.core.apikeys.ApiKeys.token_key`;
the endpoint run by :mod:`.handlers`; JSON written as the file's examples
are (``\\uXXXX`` escapes, keys in their order).  Refusals are
``{"err_code", "err_msg"}`` from the one table of :mod:`.results`, counted
(:class:`CloudmonitorStats`, ``/metrics``) and logged once.
"""

from __future__ import annotations

import json
from collections import Counter

from twisted.internet import defer
from twisted.logger import Logger
from twisted.web import resource, server

from ..core import errors
from ..logs import peer_text
from . import results, routes
from .handlers import Call
from .results import Refusal

log = Logger()

JSON = b"application/json; charset=utf-8"


class CloudmonitorStats:
    def __init__(self):
        self.requests: Counter = Counter()  # endpoint → requests
        self.answers: Counter = Counter()  # err_code → answers


class ApiResource(resource.Resource):
    isLeaf = True

    def __init__(self, handlers, apikeys, stats: CloudmonitorStats | None = None):
        super().__init__()
        self.endpoints = handlers.endpoints()
        self.apikeys = apikeys
        self.stats = stats or CloudmonitorStats()

    def render(self, request):
        query = request.uri.partition(b"?")[2]
        try:
            name, params = routes.parse(request.path, query)
        except routes.BadUrl as e:
            return self._answer(request, self._refused(results.BAD_PARAMETER, str(e), request), 400)
        endpoint = self.endpoints.get(name)
        if endpoint is None:
            return self._answer(request, self._refused(results.NO_ENDPOINT, "no endpoint %s" % (name,), request),
                                404)
        if request.method not in (b"GET", b"HEAD"):
            request.setHeader(b"allow", b"GET")
            return self._answer(request, self._refused(results.BAD_PARAMETER, "GET only", request), 405)
        self.stats.requests[name] += 1
        d = self._run(name, endpoint, params, request)
        d.addErrback(self._failed, name, request)
        d.addCallback(self._write, request)
        d.addErrback(lambda f: log.failure("cloudmonitor: answering {name} failed", f, name=name))
        return server.NOT_DONE_YET

    @defer.inlineCallbacks
    def _run(self, name: str, endpoint, params: dict, request):
        principal = None
        if endpoint.token:
            token = params.get("token", "").strip()
            if not token:
                raise errors.NotAuthenticated("no token")
            key = yield self.apikeys.token_key(token)
            principal = self.apikeys.principal(key)
        call = Call(params, principal, getattr(request.getClientAddress(), "host", None))
        body = yield endpoint.handler(call)
        self.stats.answers[0] += 1
        return body

    def _failed(self, failure, name: str, request) -> dict:
        error = failure.value
        if isinstance(error, Refusal):
            return self._refused(error.code, str(error), request)
        override = results.ACCESS_TOKEN if name == "access_token" else None
        code = results.code_for(error, override) if isinstance(error, Exception) else None
        if code is None:
            log.failure("cloudmonitor: {name} failed", failure, name=name)
            code = results.UNAVAILABLE
            self.stats.answers[code[0]] += 1
            return {"err_code": code[0], "err_msg": code[1]}
        return self._refused(code, str(error), request)

    def _refused(self, code: tuple[int, str], why: str, request) -> dict:
        self.stats.answers[code[0]] += 1
        source = getattr(request.getClientAddress(), "host", "?")
        if code[0] in results.TROUBLE:
            log.warn("cloudmonitor: {path} from {source}: {code} ({why})", path=peer_text(request.path),
                     source=source, code=code[0], why=peer_text(why, 160))
        else:
            log.info("cloudmonitor: {path} from {source}: {code} ({why})", path=peer_text(request.path),
                     source=source, code=code[0], why=peer_text(why, 160))
        return {"err_code": code[0], "err_msg": code[1]}

    def _write(self, body: dict, request) -> None:
        if request._disconnected:
            return
        data = self._answer(request, body)
        if request.method != b"HEAD":
            request.write(data)
        request.finish()

    @staticmethod
    def _answer(request, body: dict, status: int = 200) -> bytes:
        """The JSON of *body*, its headers set: the file's examples escape non-ASCII as \\uXXXX."""
        data = json.dumps(body, ensure_ascii=True, separators=(",", ":")).encode("ascii")
        request.setResponseCode(status)
        request.setHeader(b"content-type", JSON)
        request.setHeader(b"cache-control", b"no-store")
        request.setHeader(b"content-length", b"%d" % len(data))
        return data
