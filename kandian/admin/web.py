"""The ``[admin]`` listener: operator-facing HTTP, internal only (PRODUCT.md).

``GET /health`` answers 200 with the store's state when the database answers
``SELECT 1`` and 503 otherwise — for load balancers and systemd watchdogs.
During an outage the pool refuses at once (503 ``"store": "unavailable"``,
not logged: the pool logs the outage); it answers 200 again once the pool
has reconnected.
``GET /metrics`` is the Prometheus scrape (:mod:`kandian.admin.metrics`).
"""

from __future__ import annotations

import json

from twisted.logger import Logger
from twisted.web import resource, server

from .. import __version__
from ..core.errors import DatabaseUnavailable

log = Logger()


class Health(resource.Resource):
    isLeaf = True

    def __init__(self, db, reactor, timeout: float = 5.0):
        super().__init__()
        self.db = db
        self.reactor = reactor
        self.timeout = timeout

    def render_GET(self, request):
        d = self.db.runQuery("SELECT 1")
        d.addTimeout(self.timeout, self.reactor)

        def answer(code, store):
            if request.finished or request.channel is None:
                return
            request.setResponseCode(code)
            request.setHeader(b"content-type", b"application/json")
            request.write(json.dumps({"status": "ok" if code == 200 else "unavailable",
                                      "store": store, "version": __version__}).encode())
            request.finish()

        def failed(f):
            if f.check(DatabaseUnavailable):
                answer(503, "unavailable")
                return
            log.warn("health check: store did not answer: {why}", why=f.getErrorMessage())
            answer(503, "unreachable")

        d.addCallbacks(lambda _: answer(200, "ok"), failed)
        return server.NOT_DONE_YET


def site(db, reactor, platform=None, **http) -> server.Site:
    """*http*: :func:`kandian.web.site`'s timeouts, clock and limit."""
    from .. import web

    root = resource.Resource()
    root.putChild(b"health", Health(db, reactor))
    if platform is not None:
        from .metrics import Metrics
        root.putChild(b"metrics", Metrics(platform))
    return web.site(root, **http)
