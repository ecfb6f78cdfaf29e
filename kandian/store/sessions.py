"""MCU login sessions (§8.2 LoginSession, §8.3 McuLogout; table mcu_session).

Every operation's checks are one round trip: the session row of the account,
joined (for a device operation) with the binding, the device and whether the
channel exists, or (for §8.2/§8.4) with the device list.  The rows say what
was found; which check failed is the core's to decide.  Every call that
depends on time takes ``now`` (POSIX seconds from the injected clock).
"""

from __future__ import annotations

import secrets
from typing import NamedTuple

from twisted.internet import defer

from .bindings import BOUND_COLUMNS, DEVICE_LIST, BoundDevice, listed
from .prepared import Statement

SESSION_TOUCH = 60  # seconds: last_used_at is written at most this often per session


class Session(NamedTuple):
    """The account of the asked session: its user, and whether the session is live for it."""
    user_id: int
    live: bool


_SESSION = ("SELECT u.user_id, s.user_id IS NOT NULL AND s.ended_at IS NULL"
            " AND extract(epoch FROM s.last_used_at) >= %s AS live, extract(epoch FROM s.last_used_at) AS last_used")
_SESSION_FROM = " FROM app_user u LEFT JOIN mcu_session s ON s.session_id = %s AND s.user_id = u.user_id"
_SESSION_WHERE = " WHERE u.mobile = %s AND u.status = 'active'"
# (oldest last use still live, session, account)
_CHECK_SESSION = Statement(_SESSION + _SESSION_FROM + _SESSION_WHERE)
# (oldest last use still live, channel or -1, session, DevID, account)
_CHECK_DEVICE = Statement(
    _SESSION + ", " + BOUND_COLUMNS + ", EXISTS (SELECT 1 FROM channel c"
    " WHERE c.dev_id = d.dev_id AND c.channel_no = %s)" + _SESSION_FROM +
    " LEFT JOIN user_device b ON b.user_id = s.user_id AND b.dev_id = %s"
    " LEFT JOIN device d ON d.dev_id = b.dev_id" + _SESSION_WHERE)
# (oldest last use still live, session, account)
_CHECK_SESSION_LIST = Statement(
    "WITH who AS (" + _SESSION + _SESSION_FROM + _SESSION_WHERE + ")"
    " SELECT who.*, l.* FROM who LEFT JOIN LATERAL (" + DEVICE_LIST % ("who.user_id",) + ") l ON who.live"
    " ORDER BY l.share_flag, l.dev_id, l.channel_no")
# sessions are committed without waiting for the WAL flush: a crash of
# PostgreSQL could forget the newest ones, and their apps would log in again
_TOUCH_SESSION = Statement("UPDATE mcu_session SET last_used_at = to_timestamp(%s) WHERE session_id = %s",
                           durable=False)
_OPEN_SESSION_LIST = Statement(
    "WITH s AS (INSERT INTO mcu_session (session_id, user_id, version, client_ip, created_at,"
    " last_used_at) VALUES (%s, %s, %s, %s, to_timestamp(%s), to_timestamp(%s)) RETURNING user_id)"
    " SELECT l.* FROM s LEFT JOIN LATERAL (" + DEVICE_LIST % ("s.user_id",) + ") l ON true"
    " ORDER BY l.share_flag, l.dev_id, l.channel_no", durable=False)
# the same, for an account whose password the core verified against *password_hash* on an earlier login:
# the session is opened only while the account is active with that hash (one round trip for McuLogin)
_OPEN_VERIFIED_LIST = Statement(
    "WITH u AS (SELECT user_id, max_devices FROM app_user WHERE user_id = %s AND mobile = %s"
    " AND status = 'active' AND password_hash = %s),"
    " s AS (INSERT INTO mcu_session (session_id, user_id, version, client_ip, created_at, last_used_at)"
    " SELECT %s, u.user_id, %s, %s, to_timestamp(%s), to_timestamp(%s) FROM u RETURNING user_id)"
    " SELECT u.max_devices, l.* FROM s JOIN u USING (user_id) LEFT JOIN LATERAL ("
    + DEVICE_LIST % ("s.user_id",) + ") l ON true ORDER BY l.share_flag, l.dev_id, l.channel_no", durable=False)


class Sessions:
    def __init__(self, db):
        self.db = db

    def _checked(self, row, session_id: str, now: float):
        """The Session of the first three columns of *row* (None: no such
        account); a live session is touched.  The Session itself, or — when
        the touch is written — a Deferred of it (callers ``yield`` either: most
        checks touch nothing, and need no Deferred)."""
        if row is None:
            return None
        user_id, live, last_used = row[0], bool(row[1]), row[2]
        session = Session(user_id, live)
        if live and now - float(last_used) >= SESSION_TOUCH:
            return self.db.runOperation(_TOUCH_SESSION, (now, session_id)).addCallback(lambda _: session)
        return session

    @defer.inlineCallbacks
    def open(self, user_id: int, version: str, client_ip: str | None, now: float):
        """A new session of the user: its id."""
        session_id = secrets.token_hex(16)
        yield self.db.runOperation(
            "INSERT INTO mcu_session (session_id, user_id, version, client_ip, created_at, last_used_at)"
            " VALUES (%s, %s, %s, %s, to_timestamp(%s), to_timestamp(%s))",
            (session_id, user_id, version, client_ip, now, now))
        return session_id

    @defer.inlineCallbacks
    def open_listing(self, user_id: int, version: str, client_ip: str | None, now: float):
        """A new session of the user, and the user's device list: (session_id, [ListedChannel])."""
        session_id = secrets.token_hex(16)
        rows = yield self.db.runQuery(_OPEN_SESSION_LIST, (session_id, user_id, version, client_ip, now, now))
        return session_id, [listed(row) for row in rows if row[0] is not None]

    @defer.inlineCallbacks
    def open_verified(self, user_id: int, account: str, password_hash: str, version: str,
                      client_ip: str | None, now: float):
        """:meth:`open_listing` in one round trip for a password already checked against *password_hash*:
        (session_id, max_devices, [ListedChannel]), or None -- and no session -- unless *account* is
        *user_id*'s, active, and *password_hash* still its password."""
        session_id = secrets.token_hex(16)
        rows = yield self.db.runQuery(_OPEN_VERIFIED_LIST, (user_id, account, password_hash, session_id, version,
                                                            client_ip, now, now))
        if not rows:
            return None
        return session_id, rows[0][0], [listed(row[1:]) for row in rows if row[1] is not None]

    @defer.inlineCallbacks
    def check(self, account: str, session_id: str, now: float, timeout: float):
        """The Session of *account* by *session_id* (None: no such active account)."""
        rows = yield self.db.runQuery(_CHECK_SESSION, (now - timeout, session_id, account))
        return (yield self._checked(rows[0] if rows else None, session_id, now))

    @defer.inlineCallbacks
    def check_bound(self, account: str, session_id: str, dev_id: str, channel_no: int | None,
                    now: float, timeout: float):
        """The session check, then the device if it is bound to the user (own
        or shared) and — when *channel_no* is given — has that channel:
        (Session or None, BoundDevice or None; None unless the session is live)."""
        rows = yield self.db.runQuery(_CHECK_DEVICE, (now - timeout, -1 if channel_no is None else channel_no,
                                                      session_id, dev_id, account))
        row = rows[0] if rows else None
        session = yield self._checked(row, session_id, now)
        if session is None or not session.live or row[3] is None or (channel_no is not None and not row[-1]):
            return session, None
        return session, BoundDevice(row[0], *row[3:-1])

    @defer.inlineCallbacks
    def check_listing(self, account: str, session_id: str, now: float, timeout: float):
        """The session check and, when the session is live, the user's device
        list: (Session or None, [ListedChannel])."""
        rows = yield self.db.runQuery(_CHECK_SESSION_LIST, (now - timeout, session_id, account))
        session = yield self._checked(rows[0] if rows else None, session_id, now)
        if session is None or not session.live:
            return session, []
        return session, [listed(row[3:]) for row in rows if row[3] is not None]

    def end(self, session_id: str, now: float) -> defer.Deferred:
        return self.db.runOperation(
            "UPDATE mcu_session SET ended_at = to_timestamp(%s) WHERE session_id = %s AND ended_at IS NULL",
            (now, session_id))
