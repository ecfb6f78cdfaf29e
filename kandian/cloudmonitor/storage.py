"""spec/002's ``storage_addr`` + ``image_fdfs`` / ``file_fdfs``: files it hands out, as signed, expiring paths.

``storage_addr`` is this listener's base URL and each path is
``/storage/<kind>/<id>.<ext>?exp=…&sig=…`` — signed with the platform's
secret (:meth:`kandian.core.keys.Keys.sign`), valid two to three hours (the
expiry rounds up to the hour, so a page listed twice in an hour names the
same URL and a browser may cache it).  :class:`StorageResource` serves them:
a bad or expired signature is 403, a file that is gone 404; a file is sent
by a ``FileSender`` as the peer reads (never read whole on the reactor).
"""

from __future__ import annotations

import mimetypes
import os
import re

from twisted.internet import defer
from twisted.logger import Logger
from twisted.protocols.basic import FileSender
from twisted.web import resource, server

from ..core import errors
from ..logs import peer_text

log = Logger()

PURPOSE = "cloudmonitor-storage"
_PATH = re.compile(r"^/storage/(picture|record|snapshot)/([1-9][0-9]{0,18})\.(jpg|mp4)$")
HOUR = 3600


class Signer:
    def __init__(self, keys, clock, *, lifetime: int = 2 * HOUR):
        self.keys = keys
        self.clock = clock
        self.lifetime = lifetime

    def expiry(self) -> int:
        return (int(self.clock.seconds() + self.lifetime) // HOUR + 1) * HOUR

    def signed(self, path: str) -> str:
        expires = self.expiry()
        return "%s?exp=%d&sig=%s" % (path, expires, self.keys.sign(PURPOSE, path, expires))

    def picture_path(self, picture_id: int) -> str:
        return self.signed("/storage/picture/%d.jpg" % (picture_id,))

    def record_path(self, recording_id: int) -> str:
        """A recording as one MP4 (made from its piece on first ask)."""
        return self.signed("/storage/record/%d.mp4" % (recording_id,))

    def snapshot_path(self, recording_id: int) -> str:
        return self.signed("/storage/snapshot/%d.jpg" % (recording_id,))

    def check(self, path: str, exp: str, sig: str) -> bool:
        if not exp.isdigit() or len(exp) > 12:
            return False
        return self.keys.verify(PURPOSE, path, int(exp), sig, self.clock.seconds())


class StorageResource(resource.Resource):
    """GET a signed storage path; *files* maps (kind, id) to a Deferred of an absolute path."""

    isLeaf = True

    def __init__(self, signer: Signer, files):
        super().__init__()
        self.signer = signer
        self.files = files

    def render_GET(self, request):
        path = request.path.decode("utf-8", "replace")
        match = _PATH.match(path)
        exp = (request.args.get(b"exp") or [b""])[-1].decode("ascii", "replace")
        sig = (request.args.get(b"sig") or [b""])[-1].decode("ascii", "replace")
        if match is None:
            return self._status(request, 404, "no such file")
        if not self.signer.check(path, exp, sig):
            return self._status(request, 403, "a bad or expired signature")
        kind, number = match.group(1), int(match.group(2))
        d = defer.maybeDeferred(self.files, kind, number)
        d.addCallbacks(self._send, self._failed, callbackArgs=(request,), errbackArgs=(request, path))
        d.addErrback(lambda f: log.failure("cloudmonitor: sending {path} failed", f, path=peer_text(path)))
        return server.NOT_DONE_YET

    render_HEAD = render_GET

    def _failed(self, failure, request, path):
        if failure.check(errors.DomainError):
            log.debug("cloudmonitor: {path}: {why}", path=peer_text(path), why=failure.getErrorMessage())
            request.write(self._status(request, 404, "no such file"))
        else:
            log.failure("cloudmonitor: finding {path} failed", failure, path=peer_text(path))
            request.write(self._status(request, 503, "not available now"))
        request.finish()

    def _send(self, path: str, request):
        try:
            f = open(path, "rb")  # noqa: SIM115 (closed when the transfer ends)
            size = os.fstat(f.fileno()).st_size
        except OSError:
            log.warn("cloudmonitor: file {path} is gone", path=path)
            request.write(self._status(request, 404, "no such file"))
            request.finish()
            return
        request.setHeader(b"content-type", (mimetypes.guess_type(path)[0] or "application/octet-stream").encode())
        request.setHeader(b"content-length", b"%d" % size)
        request.setHeader(b"cache-control", b"private, max-age=3600")
        if request.method == b"HEAD" or request._disconnected:
            f.close()
            request.finish()
            return

        def done(_):
            f.close()
            if not request._disconnected:
                request.finish()
        FileSender().beginFileTransfer(f, request).addBoth(done)

    @staticmethod
    def _status(request, code: int, text: str) -> bytes:
        request.setResponseCode(code)
        request.setHeader(b"content-type", b"text/plain; charset=utf-8")
        return text.encode("utf-8") + b"\n"
