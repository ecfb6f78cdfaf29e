"""Device logs (§7.5.35 LOG_UPLOAD_REQ; PRODUCT.md "kandianctl device logs").

``kandianctl`` has no link to the device: :meth:`DeviceLogs.request` writes
a request row, and the daemon holding the device's link takes it at its
next round (every ``poll_interval`` seconds), sends LOG_UPLOAD_REQ with the
device's FTP login and records the answer (sent, or refused with the
Result).  A request for an offline device waits until it logs in, for
``expiry`` seconds at most.  The device then uploads to ``logs/`` on the
FTP server, which reports each complete file through :meth:`log_stored`;
:meth:`files` lists them, stored under ``[files] root/logs/<DevID>/``.
"""

from __future__ import annotations

import os
from collections import Counter

from twisted.internet import defer
from twisted.logger import Logger

from ..logs import peer_text
from . import errors
from .devices import command
from .errors import log_failure

log = Logger()

LOGS_DIR = "logs"


class DeviceLogs:
    """Log requests and files over ``store.devlogs``; *router* is the
    ``IDeviceRouter``, *ftp_login(dev_id)* a Deferred of the device's
    :class:`~kandian.core.firmware.FtpLogin` (both only needed by the
    daemon's rounds)."""

    batch = 100  # requests sent per round

    def __init__(self, store, clock, files_root: str, *, router=None, ftp_login=None, expiry: float = 600.0):
        self.store = store
        self.devlogs = store.devlogs
        self.clock = clock
        self.root = files_root
        self.router = router
        self.ftp_login = ftp_login
        self.expiry = expiry
        self.outcomes: Counter[str] = Counter()  # requests sent, refused, expired by this node (for /metrics)

    def now(self) -> float:
        return self.clock.seconds()

    # -- kandianctl's side

    def request(self, dev_id: str) -> defer.Deferred:
        """A new request for *dev_id*'s logs; its id.  Fails NoSuchDevice."""
        return self.devlogs.request(dev_id, self.now())

    def request_state(self, request_id: int) -> defer.Deferred:
        return self.devlogs.get(request_id)

    def files(self, dev_id: str) -> defer.Deferred:
        """The device's uploaded logs, newest first (``store.devlogs`` rows)."""
        return self.devlogs.files(dev_id)

    def path(self, dev_id: str, file_name: str) -> str:
        return os.path.join(self.root, LOGS_DIR, dev_id, file_name)

    # -- the FTP server's hook

    @defer.inlineCallbacks
    def log_stored(self, dev_id: str, file_name: str, size: int, sha256: str):
        yield self.devlogs.stored(dev_id, file_name, size, sha256, self.now())
        log.info("device {dev_id} uploaded log {name} ({size} bytes)", dev_id=dev_id, name=peer_text(file_name),
                 size=size)

    # -- the daemon's round

    @defer.inlineCallbacks
    def round(self):
        now = self.now()
        expired = yield self.devlogs.expire(now - self.expiry, "not sent within %d s (device offline)"
                                            % (self.expiry,), now)
        if expired:
            self.outcomes["expired"] += expired
            log.info("{count} log requests expired", count=expired)
        for request in (yield self.devlogs.ready(self.batch)):
            if self.router.online(request.dev_id) and (yield self.devlogs.take(request.request_id, self.now())):
                yield self._send(request)

    @defer.inlineCallbacks
    def _send(self, request):
        dev_id = request.dev_id
        try:
            login = yield self.ftp_login(dev_id)
            yield command(self.router, dev_id, lambda c: c.log_upload(
                FtpIP=login.host, FtpPort=login.port, FtpAccount=login.account, FtpPassword=login.password))
        except errors.DeviceOffline:
            state, reason = "pending", ""
        except errors.DeviceRefused as e:
            state = "refused"
            reason = "no answer to LOG_UPLOAD_REQ" if e.result is None else "LOG_UPLOAD_RES Result %d" % (e.result,)
        except Exception:
            log_failure(log, "LOG_UPLOAD_REQ to {dev_id} not sent", dev_id=dev_id)
            state, reason = "pending", ""
        else:
            state, reason = "sent", ""
        yield self.devlogs.settle(request.request_id, state, reason, self.now())
        if state != "pending":
            self.outcomes[state] += 1
        log.info("log request {id}: {dev_id} {state}{why}", id=request.request_id, dev_id=dev_id, state=state,
                 why=": " + reason if reason else "")
