"""The ``[mvb]`` listener: spec/000's mobile video backend API (PRODUCT.md "Compatibility APIs").

``POST /mobileservice/{action}`` — play, stopplay, changespeed,
changeplayposition, pauseplay, resumeplay, queryrecordfile — with XML in
GB2312 or UTF-8 (:mod:`.codec`), answered by :mod:`.handlers` over the core
(:mod:`kandian.core.playsessions` for the sessions and their steering), the
codes of :mod:`.results`.  See docs/compat.md.
"""

from __future__ import annotations

from twisted.web import resource

from .. import web as http
from .api import MvbResource, MvbStats
from .codec import MAX_SIZE
from .handlers import MvbHandlers

__all__ = ["MvbStats", "site"]


def site(core, zone, domain_clock, *, stats: MvbStats | None = None, **http_options):
    """The listener's Site over *core*; *domain_clock* tells the time of day
    (``http_options`` may carry the connection timeouts' ``clock``)."""
    api = MvbResource(MvbHandlers(core, zone, domain_clock), stats)
    return http.site(_Everything(api), max_body=MAX_SIZE, **http_options)


class _Everything(resource.Resource):
    """Every path goes to the API resource (it answers 404 for what is no action)."""

    def __init__(self, api):
        super().__init__()
        self.api = api

    def getChild(self, name, request):
        return self.api

    def render(self, request):
        return self.api.render(request)
