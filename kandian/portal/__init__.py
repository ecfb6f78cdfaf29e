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

from twisted.web import resource

from .. import web as http
from ..web import LimitedRequest
from .api import ApiResource, ApiStats, add_security_headers
from .handlers import Handlers
from .openapi import document
from .router import Router
from .web import StaticFiles

MAX_BODY = 2 * 1024 * 1024  # a CSV import of 10,000 devices
MAX_UPLOAD = 64 * 1024 * 1024  # a firmware image (POST /api/v1/firmware), kept in a temporary file by Twisted
UPLOAD_PATH = b"/api/v1/firmware"


UPLOAD_MIN_RATE = 65536  # [portal] upload_min_rate's default


class PortalRequest(LimitedRequest):
    """Bodies up to MAX_BODY within the listener's request_timeout; but a firmware image up to MAX_UPLOAD, whose
    deadline grows by a second per ``upload_min_rate`` bytes received (decided on the request line, before the
    body is read: a declared Content-Length over the cap is answered 413 at once, without 100 Continue)."""

    upload_min_rate = UPLOAD_MIN_RATE

    def gotLength(self, length):
        channel = self.channel
        if getattr(channel, "_command", None) == b"POST" and \
                getattr(channel, "_path", b"").split(b"?")[0] == UPLOAD_PATH:
            self.max_body = MAX_UPLOAD
            self.min_rate = self.upload_min_rate
        super().gotLength(length)


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
    api = ApiResource(Router(handlers.routes()), core.api_auth, stats)
    return PortalRoot(api, StaticFiles(), extra)


def site(core, zone, *, token_ttl: int, stats: ApiStats | None = None, extra: dict | None = None,
         upload_min_rate: int = UPLOAD_MIN_RATE, **http_options):
    # no access line per request (thousands a second from polling pages and scripts): the core logs logins and
    # the changes to devices, users and firmware, the API its 5xx, bad_request and csrf refusals; counts in ApiStats
    made = http.site(build(core, zone, token_ttl=token_ttl, stats=stats, extra=extra), max_body=MAX_BODY,
                     access_log=False, **http_options)
    made.requestFactory = type("Request", (PortalRequest,), {"max_body": MAX_BODY,
                                                             "upload_min_rate": upload_min_rate})
    return made
