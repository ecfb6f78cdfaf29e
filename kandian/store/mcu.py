"""What the MCU/CU web service reads and writes (§8.1–§8.19).

Sessions (mcu_session), users and their bindings (app_user, user_device),
the device list of §8.2/§8.4, the alarm pages of §8.19, channel aliases and
firmware versions.  Every call that depends on time takes ``now`` (POSIX
seconds from the injected clock).
"""

from __future__ import annotations

import secrets
from typing import NamedTuple

import psycopg2
from twisted.internet import defer

from .prepared import Statement

SESSION_TOUCH = 60  # seconds: last_used_at is written at most this often per session
PAGE_SIZE = 10  # §8.19, §7.5.22: 10 per page


class SessionCheck(NamedTuple):
    """Result 0 with the user, 1 (no such account) or 2 (session expired or not this account's)."""
    result: int
    user_id: int | None = None


class BoundDevice(NamedTuple):
    dev_id: str
    dev_key: str
    share_flag: int
    online: bool
    dev_type: int
    model: str
    manufacturer_no: str | None
    dev_ver: str | None
    public_ip: str | None
    local_ip: str | None
    rtsp_local_port: int | None
    upnp_ip: str | None
    rtsp_upnp_port: int | None
    upnp_reachable: bool | None
    turn_relay_ip: str | None
    rtsp_turn_relay_port: int | None
    nat_type: int | None
    channel_num: int | None


_BOUND_COLUMNS = ("d.dev_id, d.dev_key, b.share_flag, d.online, d.dev_type, d.model, d.manufacturer_no, d.dev_ver,"
                  " host(d.public_ip), d.local_ip, d.rtsp_local_port, d.upnp_ip, d.rtsp_upnp_port, d.upnp_reachable,"
                  " d.turn_relay_ip, d.rtsp_turn_relay_port, d.nat_type, d.channel_num")


class ListedChannel(NamedTuple):
    """One entry of DevList (§8.2): a channel of a device bound to the user."""
    dev_id: str
    channel_no: int
    name: str
    online: bool
    ptz: bool
    share_flag: int
    motion: bool
    infrared: bool
    manual: bool
    dido: bool
    videos: list  # [(StreamType, FrameSize)]
    didos: list  # [(DIDONo, DIDONoName)]


# §8.2's DevList: one row per channel of every device bound to the user (%s)
_DEVICE_LIST = (
    "SELECT c.dev_id, c.channel_no, coalesce(nullif(c.name, ''), nullif(d.name, ''), c.dev_id) AS name,"
    " d.online, d.ptz_flag, b.share_flag, d.motion_detection_flag, d.infrared_detection_flag,"
    " d.manual_alarm_flag, d.dido_alarm_flag,"
    " coalesce((SELECT array_agg(ARRAY[v.stream_type, v.frame_size] ORDER BY v.stream_type, v.frame_size)"
    "   FROM video_capability v WHERE v.dev_id = d.dev_id), '{}') AS videos,"
    " coalesce((SELECT array_agg(ARRAY[x.dido_no::text, x.name] ORDER BY x.dido_no)"
    "   FROM dido x WHERE x.dev_id = d.dev_id), '{}') AS didos"
    " FROM user_device b JOIN device d USING (dev_id) JOIN channel c USING (dev_id)"
    " WHERE b.user_id = %s")


_USER = Statement(
    "SELECT user_id, password_hash, max_devices FROM app_user WHERE mobile = %s AND status = 'active'")

# Every operation's checks are one round trip: the session row of the
# account, joined (for a device operation) with the binding, the device and
# whether the channel exists.  Which check failed is decided in Python, in the
# order of the spec's Results: account (1), session (2), device (3).
_SESSION = ("SELECT u.user_id, s.user_id IS NOT NULL AND s.ended_at IS NULL"
            " AND extract(epoch FROM s.last_used_at) >= %s AS live, extract(epoch FROM s.last_used_at) AS last_used")
_SESSION_FROM = " FROM app_user u LEFT JOIN mcu_session s ON s.session_id = %s AND s.user_id = u.user_id"
_SESSION_WHERE = " WHERE u.mobile = %s AND u.status = 'active'"
# (oldest last use still live, session, account)
_CHECK_SESSION = Statement(_SESSION + _SESSION_FROM + _SESSION_WHERE)
# (oldest last use still live, channel or -1, session, DevID, account)
_CHECK_DEVICE = Statement(
    _SESSION + ", " + _BOUND_COLUMNS + ", EXISTS (SELECT 1 FROM channel c"
    " WHERE c.dev_id = d.dev_id AND c.channel_no = %s)" + _SESSION_FROM +
    " LEFT JOIN user_device b ON b.user_id = s.user_id AND b.dev_id = %s"
    " LEFT JOIN device d ON d.dev_id = b.dev_id" + _SESSION_WHERE)
# (oldest last use still live, session, account)
_CHECK_SESSION_LIST = Statement(
    "WITH who AS (" + _SESSION + _SESSION_FROM + _SESSION_WHERE + ")"
    " SELECT who.*, l.* FROM who LEFT JOIN LATERAL (" + _DEVICE_LIST % ("who.user_id",) + ") l ON who.live"
    " ORDER BY l.share_flag, l.dev_id, l.channel_no")
# sessions are committed without waiting for the WAL flush: a crash of
# PostgreSQL could forget the newest ones, and their apps would log in again
_TOUCH_SESSION = Statement("UPDATE mcu_session SET last_used_at = to_timestamp(%s) WHERE session_id = %s",
                           durable=False)
_OPEN_SESSION_LIST = Statement(
    "WITH s AS (INSERT INTO mcu_session (session_id, user_id, version, client_ip, created_at,"
    " last_used_at) VALUES (%s, %s, %s, %s, to_timestamp(%s), to_timestamp(%s)) RETURNING user_id)"
    " SELECT l.* FROM s LEFT JOIN LATERAL (" + _DEVICE_LIST % ("s.user_id",) + ") l ON true"
    " ORDER BY l.share_flag, l.dev_id, l.channel_no", durable=False)


def _listed(row) -> ListedChannel:
    return ListedChannel(*row[:10], [tuple(v) for v in row[10]], [(int(n), name) for n, name in row[11]])


class McuStore:
    def __init__(self, db):
        self.db = db

    # -- users

    @defer.inlineCallbacks
    def user(self, mobile: str):
        """(user_id, password_hash, max_devices) of an active user, or None."""
        rows = yield self.db.runQuery(_USER, (mobile,))
        return rows[0] if rows else None

    def set_password_hash(self, user_id: int, password_hash: str, now: float) -> defer.Deferred:
        return self.db.runOperation(
            "UPDATE app_user SET password_hash = %s, password_set_at = to_timestamp(%s) WHERE user_id = %s",
            (password_hash, now, user_id))

    # -- sessions (§8.2, §8.3)

    @defer.inlineCallbacks
    def open_session(self, user_id: int, version: str, client_ip: str | None, now: float):
        session_id = secrets.token_hex(16)
        yield self.db.runOperation(
            "INSERT INTO mcu_session (session_id, user_id, version, client_ip, created_at, last_used_at)"
            " VALUES (%s, %s, %s, %s, to_timestamp(%s), to_timestamp(%s))",
            (session_id, user_id, version, client_ip, now, now))
        return session_id

    @defer.inlineCallbacks
    def _checked(self, row, session_id: str, now: float):
        """SessionCheck from the first three columns of *row*; touches the session."""
        if row is None:
            return SessionCheck(1)
        user_id, live, last_used = row[0], row[1], row[2]
        if not live:
            return SessionCheck(2)
        if now - float(last_used) >= SESSION_TOUCH:
            yield self.db.runOperation(_TOUCH_SESSION, (now, session_id))
        return SessionCheck(0, user_id)

    @defer.inlineCallbacks
    def check_session(self, account: str, session_id: str, now: float, timeout: float):
        """Whether *session_id* is a live session of *account*; touches it."""
        rows = yield self.db.runQuery(_CHECK_SESSION, (now - timeout, session_id, account))
        return (yield self._checked(rows[0] if rows else None, session_id, now))

    @defer.inlineCallbacks
    def check_device(self, account: str, session_id: str, dev_id: str, channel_no: int | None,
                     now: float, timeout: float):
        """The session check, then the device if it is bound to the user (own
        or shared) and — when *channel_no* is given — has that channel:
        (SessionCheck, BoundDevice or None)."""
        rows = yield self.db.runQuery(_CHECK_DEVICE, (now - timeout, -1 if channel_no is None else channel_no, session_id, dev_id, account))
        row = rows[0] if rows else None
        check = yield self._checked(row, session_id, now)
        if check.result != 0 or row[3] is None or (channel_no is not None and not row[-1]):
            return check, None
        return check, BoundDevice(*row[3:-1])

    @defer.inlineCallbacks
    def check_session_list(self, account: str, session_id: str, now: float, timeout: float):
        """The session check and, when it passes, the user's device list:
        (SessionCheck, [ListedChannel])."""
        rows = yield self.db.runQuery(_CHECK_SESSION_LIST, (now - timeout, session_id, account))
        check = yield self._checked(rows[0] if rows else None, session_id, now)
        if check.result != 0:
            return check, []
        return check, [_listed(row[3:]) for row in rows if row[3] is not None]

    @defer.inlineCallbacks
    def open_session_list(self, user_id: int, version: str, client_ip: str | None, now: float):
        """A new session for the user, and the user's device list: (session_id, [ListedChannel])."""
        session_id = secrets.token_hex(16)
        rows = yield self.db.runQuery(_OPEN_SESSION_LIST, (session_id, user_id, version, client_ip, now, now))
        return session_id, [_listed(row) for row in rows if row[0] is not None]

    def end_session(self, session_id: str, now: float) -> defer.Deferred:
        return self.db.runOperation(
            "UPDATE mcu_session SET ended_at = to_timestamp(%s) WHERE session_id = %s AND ended_at IS NULL",
            (now, session_id))

    # -- bindings (§8.5, §8.6)

    @defer.inlineCallbacks
    def bound_device(self, user_id: int, dev_id: str):
        """The device if it is bound to the user (own or shared), else None."""
        rows = yield self.db.runQuery(
            "SELECT " + _BOUND_COLUMNS + " FROM user_device b JOIN device d USING (dev_id)"
            " WHERE b.user_id = %s AND b.dev_id = %s", (user_id, dev_id))
        return BoundDevice(*rows[0]) if rows else None

    @defer.inlineCallbacks
    def device_key(self, dev_id: str):
        rows = yield self.db.runQuery("SELECT dev_key FROM device WHERE dev_id = %s", (dev_id,))
        return rows[0][0] if rows else None

    @defer.inlineCallbacks
    def device_key_and_binding(self, dev_id: str, user_id: int):
        """(the device's key or None, whether it is bound so that *user_id* may
        not add it: owned by anyone, or shared with *user_id*) — §8.5's 6."""
        rows = yield self.db.runQuery(
            "SELECT d.dev_key, EXISTS (SELECT 1 FROM user_device b WHERE b.dev_id = d.dev_id"
            " AND (b.share_flag = 0 OR b.user_id = %s)) FROM device d WHERE d.dev_id = %s", (user_id, dev_id))
        return (rows[0][0], rows[0][1]) if rows else (None, False)

    @defer.inlineCallbacks
    def bind(self, user_id: int, dev_id: str, max_devices: int):
        """Bind as owner: 0 done, 5 over the user's limit, 6 already bound (§8.5)."""

        @defer.inlineCallbacks
        def interaction(cursor):
            # one binder at a time per user, so two AddDevice calls cannot both pass the limit
            yield cursor.execute("SELECT 1 FROM app_user WHERE user_id = %s FOR UPDATE", (user_id,))
            yield cursor.execute("SELECT 1 FROM user_device WHERE dev_id = %s AND (share_flag = 0 OR user_id = %s)",
                                 (dev_id, user_id))
            if cursor.fetchone():
                return 6
            yield cursor.execute("SELECT count(*) FROM user_device WHERE user_id = %s AND share_flag = 0",
                                 (user_id,))
            if cursor.fetchone()[0] >= max_devices:
                return 5
            yield cursor.execute("INSERT INTO user_device (user_id, dev_id, share_flag) VALUES (%s, %s, 0)",
                                 (user_id, dev_id))
            return 0

        try:
            return (yield self.db.runInteraction(interaction))
        except psycopg2.errors.UniqueViolation:
            return 6

    def unbind_all(self, dev_id: str) -> defer.Deferred:
        """The owner removed the device: every binding, shares included, goes (§8.6)."""
        return self.db.runOperation("DELETE FROM user_device WHERE dev_id = %s", (dev_id,))

    # -- the device list (§8.2, §8.4)

    @defer.inlineCallbacks
    def device_list(self, user_id: int):
        rows = yield self.db.runQuery(_DEVICE_LIST % ("%s",) + " ORDER BY b.share_flag, c.dev_id, c.channel_no",
                                      (user_id,))
        return [_listed(row) for row in rows]

    # -- SMS rate limit (§8.1)

    @defer.inlineCallbacks
    def sms_allowed(self, mobile: str, now: float, interval: float, daily: int):
        """Record an SMS request for *mobile* if it is within the limits; True if allowed."""

        @defer.inlineCallbacks
        def interaction(cursor):
            yield cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", ("sms:" + mobile,))
            yield cursor.execute(
                "SELECT coalesce(max(extract(epoch FROM requested_at)), 0),"
                " count(*) FILTER (WHERE requested_at > to_timestamp(%s) - interval '1 day')"
                " FROM sms_request WHERE mobile = %s", (now, mobile))
            last, today = cursor.fetchone()
            if now - float(last) < interval or today >= daily:
                return False
            yield cursor.execute("INSERT INTO sms_request (mobile, requested_at) VALUES (%s, to_timestamp(%s))",
                                 (mobile, now))
            return True

        return (yield self.db.runInteraction(interaction))
