"""The portal listener (``[portal] listen``): the web portal at ``/``, the REST API at ``/api/v1/`` (§2.1, §2.2, §4).

:func:`site` builds the HTTP site over the core: :mod:`.api` (routing,
authentication, CSRF, JSON, the error table of :mod:`.results`) with the
operations of :mod:`.handlers`, the OpenAPI document of :mod:`.openapi` at
``/api/v1/openapi.json``, and the single-page portal of :mod:`.web` (static
files shipped in the package, no Node toolchain, no network).
See docs/rest-api.md and docs/portal.md.
"""

from __future__ import annotations

import json

from twisted.internet import defer
from twisted.logger import Logger
from twisted.web import resource

from .. import web as http
from ..web import LimitedRequest
from . import results
from .api import ApiError, ApiResource, ApiStats, _token, add_security_headers
from .handlers import Handlers
from .openapi import document
from .router import Router
from .web import StaticFiles

MAX_BODY = 2 * 1024 * 1024  # a CSV import of 10,000 devices
MAX_UPLOAD = 64 * 1024 * 1024  # a firmware image (POST /api/v1/firmware), kept in a temporary file by Twisted
UPLOAD_PATH = b"/api/v1/firmware"


UPLOAD_MIN_RATE = 65536  # [portal] upload_min_rate's default
log = Logger()


class PortalRequest(LimitedRequest):
    """Bodies up to MAX_BODY within the listener's request_timeout; but a firmware image up to MAX_UPLOAD, whose
    deadline grows by a second per ``upload_min_rate`` bytes received (decided on the request line, before the
    body is read: a declared Content-Length over the cap is answered 413 at once, without 100 Continue).

    An image's sender is let in on its headers, before its body is read: ``upload_gate(token)`` (a Deferred
    that fails with the core's error for a sender who may not upload) runs while the connection reads no
    more; a refusal is answered (401/403 in the API's error shape) and the connection closed, so a stranger
    cannot make the portal spool 64 MiB.  ``100 Continue`` waits for the gate."""

    upload_min_rate = UPLOAD_MIN_RATE
    upload_gate = None
    api_stats: ApiStats | None = None  # the API's counters: a refusal on the headers is one of its answers
    _gating = None  # the gate's Deferred while it runs
    _continue_wanted = False
    _held: tuple | None = None  # a requestReceived that came before the gate's answer

    def gotLength(self, length):
        channel = self.channel
        upload = getattr(channel, "_command", None) == b"POST" and \
            getattr(channel, "_path", b"").split(b"?")[0] == UPLOAD_PATH
        if upload:
            self.max_body = MAX_UPLOAD
            self.min_rate = self.upload_min_rate
        super().gotLength(length)
        if upload and not self._too_large and self.upload_gate is not None:
            self._gate()

    def _gate(self):
        try:
            token, _ = _token(self)
        except ApiError:
            token = None
        d = defer.maybeDeferred(self.upload_gate, token)
        if d.called:
            d.addCallbacks(lambda _: None, self._refuse)
            return
        self._gating = d
        self.channel.transport.pauseProducing()
        d.addCallbacks(self._let_in, self._refuse)

    def _let_in(self, _):
        self._gating = None
        if self.channel is None:  # the sender went while the gate ran
            self._held = None
            return
        if self._continue_wanted:
            self.channel._send100Continue()
        self.channel.transport.resumeProducing()
        if self._held is not None:
            held, self._held = self._held, None
            super().requestReceived(*held)

    def _refuse(self, failure):
        self._gating = None
        self._held = None
        error = failure.value
        found = results.status_for(error) if isinstance(error, Exception) else None
        if found is None:
            log.failure("portal: the upload gate failed", failure)
            found = results.INTERNAL
        status, code = found
        if self.api_stats is not None:
            self.api_stats.requests += 1
            self.api_stats.errors[code] += 1
        body = json.dumps({"error": code, "message": str(error) if status < 500 else "internal error"}).encode()
        log.info("portal: firmware upload from {peer} refused on its headers: {status} {code}",
                 peer=getattr(self.getClientAddress(), "host", "?"), status=status, code=code)
        self.refuse_body(status, body, b"application/json")

    def requestReceived(self, command, path, version):
        if self._gating is not None:
            self._held = (command, path, version)
            return
        super().requestReceived(command, path, version)


class OpenApiDocument(resource.Resource):
    isLeaf = True

    def __init__(self):
        super().__init__()
        self.body = json.dumps(document(), ensure_ascii=False, indent=1).encode("utf-8")

    def render_GET(self, request):
        add_security_headers(request)
        request.setHeader(b"content-type", b"application/json; charset=utf-8")
        return self.body


class PortalRoot(resource.Resource):
    """``/api/v1/openapi.json``, ``/api/…`` and the static portal; *extra* mounts
    other resources by their first path segment (the signed alarm page)."""

    def __init__(self, api: ApiResource, files: StaticFiles, extra: dict | None = None):
        super().__init__()
        self.api = api
        self.files = files
        self.openapi = OpenApiDocument()
        self.extra = extra or {}

    def getChild(self, name, request):
        if name == b"api":
            return self.openapi if request.path == b"/api/v1/openapi.json" else self.api
        if name in self.extra:
            return self.extra[name]
        return self.files

    def render(self, request):
        return self.files.render(request)


def build(core, zone, *, token_ttl: int, stats: ApiStats | None = None, extra: dict | None = None) -> PortalRoot:
    """The portal's resource tree over *core*."""
    handlers = Handlers(core, zone, token_ttl=token_ttl)
    api = ApiResource(Router(handlers.routes()), core.api_auth, stats, wrote=core.fleet.list_cache.changed)
    return PortalRoot(api, StaticFiles(), extra)


def site(core, zone, *, token_ttl: int, stats: ApiStats | None = None, extra: dict | None = None,
         upload_min_rate: int = UPLOAD_MIN_RATE, **http_options):
    # no access line per request (thousands a second from polling pages and scripts): the core logs logins and
    # the changes to devices, users and firmware, the API its 5xx, bad_request and csrf refusals; counts in ApiStats
    stats = stats if stats is not None else ApiStats()
    made = http.site(build(core, zone, token_ttl=token_ttl, stats=stats, extra=extra), max_body=MAX_BODY,
                     access_log=False, **http_options)
    made.requestFactory = type("Request", (PortalRequest,), {"max_body": MAX_BODY,
                                                             "upload_min_rate": upload_min_rate,
                                                             "upload_gate": staticmethod(upload_gate(core)),
                                                             "api_stats": stats})
    return made


def upload_gate(core):
    """The gate of :class:`PortalRequest`: a live token whose principal may upload firmware (the core's rules)."""

    @defer.inlineCallbacks
    def gate(token):
        session = yield core.api_auth.session(token)
        core.firmware_admin.may_upload(session.principal)

    return gate
