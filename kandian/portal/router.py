"""The REST API's routes: method + path template → handler, matched segment by segment.

A template is a path under ``/api/v1`` such as ``/devices/{DevID}/commands/{name}``;
``{…}`` matches one non-empty segment.  The same table feeds the OpenAPI
document's check (tests/test_portal_openapi.py): every route documented,
every documented route routed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple
from urllib.parse import unquote


class Route(NamedTuple):
    method: str
    template: str
    handler: Callable
    auth: bool = True  # False: no login needed (the login itself)
    lists: bool = True  # False: a write here cannot change what the device list shows (its cache stays)


class Router:
    def __init__(self, routes: list[Route]):
        self.routes = routes
        self._split = [(r, tuple(r.template.strip("/").split("/"))) for r in routes]

    def match(self, method: str, path: str):
        """(route, params) for *method* and *path*; (None, methods) when only the
        method is wrong (methods: the allowed ones), (None, None) for no such path."""
        segments = tuple(unquote(s, errors="strict") for s in path.strip("/").split("/"))
        allowed = []
        for route, parts in self._split:
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
                if route.method == method:
                    return route, params
                allowed.append(route.method)
        return None, (sorted(set(allowed)) or None)
