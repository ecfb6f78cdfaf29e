"""The portal's static files (``kandian/portal/static``): one page, its script and style sheet.

Read once from the package and answered from memory with the security
headers (no inline script: the CSP allows only this origin's files).  Any
path that is not a file answers the page itself, whose script routes by the
URL's fragment.
"""

from __future__ import annotations

import hashlib
from importlib import resources

from twisted.web import resource

from .api import add_security_headers

TYPES = {".html": b"text/html; charset=utf-8", ".js": b"text/javascript; charset=utf-8",
         ".css": b"text/css; charset=utf-8", ".svg": b"image/svg+xml", ".png": b"image/png"}


def _load() -> dict[bytes, tuple[bytes, bytes, bytes]]:
    files = {}
    for entry in resources.files(__package__).joinpath("static").iterdir():
        suffix = "." + entry.name.rsplit(".", 1)[-1]
        if suffix in TYPES:
            body = entry.read_bytes()
            etag = b'"%s"' % hashlib.sha1(body).hexdigest()[:16].encode("ascii")
            files[entry.name.encode("ascii")] = (body, TYPES[suffix], etag)
    return files


class StaticFiles(resource.Resource):
    isLeaf = True

    def __init__(self):
        super().__init__()
        self.files = _load()

    def render_GET(self, request):
        name = request.path.rsplit(b"/", 1)[-1]
        body, kind, etag = self.files.get(name) or self.files[b"index.html"]
        add_security_headers(request)
        request.setHeader(b"content-type", kind)
        request.setHeader(b"cache-control", b"no-cache")
        request.setHeader(b"etag", etag)
        if request.getHeader(b"if-none-match") == etag:
            request.setResponseCode(304)
            return b""
        return body

    render_HEAD = render_GET
