"""Device logs (§7.5.35; tables device_log_request, device_log).

``kandianctl device logs`` writes a request row; the daemon holding the
device's link takes it (pending → sending, one node only), sends
LOG_UPLOAD_REQ and settles it (sent | refused); requests nobody could send
in time expire.  The files that arrive by FTP are listed in device_log.
"""

from __future__ import annotations

import datetime
from typing import NamedTuple

import psycopg2
from twisted.internet import defer

from ..core.errors import NoSuchDevice

REQUEST_STATES = ("pending", "sending", "sent", "refused", "expired")


class LogRequest(NamedTuple):
    request_id: int
    dev_id: str
    state: str
    reason: str
    node: str | None
    requested_at: datetime.datetime
    handled_at: datetime.datetime | None


class LogFile(NamedTuple):
    dev_id: str
    file_name: str
    size: int
    sha256: str
    received_at: datetime.datetime


_REQUEST = "request_id, dev_id, state, reason, node, requested_at, handled_at"


class DeviceLogStore:
    def __init__(self, db, node: str = ""):
        self.db = db
        self.node = node

    # -- requests

    @defer.inlineCallbacks
    def request(self, dev_id: str, now: float):
        """A pending request for *dev_id*'s logs; its request_id.  NoSuchDevice for an unknown device."""
        try:
            rows = yield self.db.runQuery(
                "INSERT INTO device_log_request (dev_id, requested_at) VALUES (%s, to_timestamp(%s))"
                " RETURNING request_id", (dev_id, now))
        except psycopg2.errors.ForeignKeyViolation:
            raise NoSuchDevice(dev_id) from None
        return rows[0][0]

    @defer.inlineCallbacks
    def get(self, request_id: int):
        rows = yield self.db.runQuery("SELECT %s FROM device_log_request WHERE request_id = %%s" % _REQUEST,
                                      (request_id,))
        return LogRequest(*rows[0]) if rows else None

    @defer.inlineCallbacks
    def ready(self, limit: int):
        """Pending requests for devices online on this node, oldest first."""
        rows = yield self.db.runQuery(
            "SELECT r.request_id, r.dev_id, r.state, r.reason, r.node, r.requested_at, r.handled_at"
            " FROM device_log_request r JOIN device d USING (dev_id)"
            " WHERE r.state = 'pending' AND d.online AND d.node = %s ORDER BY r.request_id LIMIT %s",
            (self.node, limit))
        return [LogRequest(*row) for row in rows]

    @defer.inlineCallbacks
    def take(self, request_id: int, now: float):
        """pending → sending, for this node; whether this node got it."""
        rows = yield self.db.runQuery(
            "UPDATE device_log_request SET state = 'sending', node = %s, handled_at = to_timestamp(%s)"
            " WHERE request_id = %s AND state = 'pending' RETURNING 1", (self.node, now, request_id))
        return bool(rows)

    @defer.inlineCallbacks
    def settle(self, request_id: int, state: str, reason: str, now: float):
        """sending → *state* (sent, refused or pending again); whether it moved."""
        if state not in ("sent", "refused", "pending"):
            raise ValueError("a request settles as sent, refused or pending, not %r" % (state,))
        rows = yield self.db.runQuery(
            "UPDATE device_log_request SET state = %s, reason = %s, handled_at = to_timestamp(%s),"
            " node = CASE WHEN %s = 'pending' THEN NULL ELSE node END"
            " WHERE request_id = %s AND state = 'sending' RETURNING 1", (state, reason, now, state, request_id))
        return bool(rows)

    @defer.inlineCallbacks
    def expire(self, requested_before: float, reason: str, now: float):
        """Requests still pending or sending since before *requested_before* expire; how many."""
        rows = yield self.db.runQuery(
            "UPDATE device_log_request SET state = 'expired', reason = %s, handled_at = to_timestamp(%s)"
            " WHERE state IN ('pending', 'sending') AND requested_at < to_timestamp(%s) RETURNING 1",
            (reason, now, requested_before))
        return len(rows)

    # -- files

    @defer.inlineCallbacks
    def stored(self, dev_id: str, file_name: str, size: int, sha256: str, now: float):
        """Record an uploaded log file; NoSuchDevice for an unknown device."""
        try:
            yield self.db.runOperation(
                "INSERT INTO device_log (dev_id, file_name, size, sha256, received_at)"
                " VALUES (%s, %s, %s, %s, to_timestamp(%s)) ON CONFLICT (dev_id, file_name) DO UPDATE"
                " SET size = excluded.size, sha256 = excluded.sha256, received_at = excluded.received_at",
                (dev_id, file_name, size, sha256, now))
        except psycopg2.errors.ForeignKeyViolation:
            raise NoSuchDevice(dev_id) from None

    @defer.inlineCallbacks
    def files(self, dev_id: str):
        """The device's log files, newest first."""
        rows = yield self.db.runQuery(
            "SELECT dev_id, file_name, size, sha256, received_at FROM device_log WHERE dev_id = %s"
            " ORDER BY received_at DESC, file_name", (dev_id,))
        return [LogFile(*row) for row in rows]
