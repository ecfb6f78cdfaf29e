"""Accounts as operators manage them (§2.2 user management, §6.2–§6.4; tables app_user, user_device, mcu_session).

Pages with a filter and a whitelisted sort, one account by mobile, status
(active / suspended), max devices, removal; and the shares of a device
(read-only or control) that its owner hands out.
"""

from __future__ import annotations

from typing import NamedTuple

import psycopg2
from twisted.internet import defer

from ..core.errors import AlreadyBound

STATUSES = ("active", "suspended")
SORTS = {"mobile": "u.mobile", "created_at": "u.created_at", "devices": "devices", "status": "u.status",
         "max_devices": "u.max_devices"}


class Account(NamedTuple):
    user_id: int
    mobile: str
    max_devices: int
    status: str
    devices: int  # bound (owned and shared)
    created_at: float


class Binding(NamedTuple):
    """A device bound to a user, as the user's page lists it."""
    dev_id: str
    share_flag: int
    can_control: bool
    online: bool
    name: str


class Share(NamedTuple):
    mobile: str
    can_control: bool
    created_at: float


_ACCOUNT = ("u.user_id, u.mobile, u.max_devices, u.status,"
            " (SELECT count(*) FROM user_device b WHERE b.user_id = u.user_id)::int AS devices,"
            " extract(epoch FROM u.created_at)::float8")


class UserAdmin:
    def __init__(self, db):
        self.db = db

    @defer.inlineCallbacks
    def page(self, q: str | None, status: str | None, sort: str, descending: bool, offset: int, limit: int):
        where, args = [], []
        if q:
            where.append("u.mobile LIKE %s")
            args.append("%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
        if status:
            where.append("u.status = %s")
            args.append(status)
        condition = (" WHERE " + " AND ".join(where)) if where else ""
        total = yield self.db.runQuery("SELECT count(*) FROM app_user u" + condition, tuple(args))
        rows = yield self.db.runQuery(
            "SELECT " + _ACCOUNT + " FROM app_user u" + condition + " ORDER BY %s %s, u.mobile LIMIT %%s OFFSET %%s"
            % (SORTS[sort], "DESC" if descending else "ASC"), tuple(args) + (limit, offset))
        return total[0][0], [Account(*row) for row in rows]

    @defer.inlineCallbacks
    def get(self, mobile: str):
        rows = yield self.db.runQuery("SELECT " + _ACCOUNT + " FROM app_user u WHERE u.mobile = %s", (mobile,))
        return Account(*rows[0]) if rows else None

    @defer.inlineCallbacks
    def by_id(self, user_id: int):
        rows = yield self.db.runQuery("SELECT " + _ACCOUNT + " FROM app_user u WHERE u.user_id = %s", (user_id,))
        return Account(*rows[0]) if rows else None

    @defer.inlineCallbacks
    def set_status(self, user_id: int, status: str, now: float):
        """Suspending ends the user's MCU sessions too; True if the user exists."""

        @defer.inlineCallbacks
        def interaction(cursor):
            yield cursor.execute("UPDATE app_user SET status = %s WHERE user_id = %s RETURNING 1", (status, user_id))
            found = cursor.fetchone() is not None
            if found and status != "active":
                yield cursor.execute(
                    "UPDATE mcu_session SET ended_at = to_timestamp(%s) WHERE user_id = %s AND ended_at IS NULL",
                    (now, user_id))
            return found

        return (yield self.db.runInteraction(interaction))

    @defer.inlineCallbacks
    def set_max_devices(self, user_id: int, max_devices: int):
        rows = yield self.db.runQuery(
            "UPDATE app_user SET max_devices = %s WHERE user_id = %s RETURNING 1", (max_devices, user_id))
        return bool(rows)

    @defer.inlineCallbacks
    def delete(self, user_id: int):
        """Remove the account, its bindings, sessions and tokens; True if it existed."""
        rows = yield self.db.runQuery("DELETE FROM app_user WHERE user_id = %s RETURNING 1", (user_id,))
        return bool(rows)

    @defer.inlineCallbacks
    def bindings(self, user_id: int):
        """[Binding] of the user, own devices first."""
        rows = yield self.db.runQuery(
            "SELECT b.dev_id, b.share_flag, b.can_control, d.online, coalesce(nullif(d.name, ''), d.dev_id)"
            " FROM user_device b JOIN device d USING (dev_id) WHERE b.user_id = %s ORDER BY b.share_flag, b.dev_id",
            (user_id,))
        return [Binding(*row) for row in rows]

    # -- shares

    @defer.inlineCallbacks
    def access(self, user_id: int, dev_id: str):
        """(share_flag, can_control) of the user's binding to the device, or None."""
        rows = yield self.db.runQuery(
            "SELECT share_flag, can_control FROM user_device WHERE user_id = %s AND dev_id = %s", (user_id, dev_id))
        return (rows[0][0], rows[0][1]) if rows else None

    @defer.inlineCallbacks
    def shares(self, dev_id: str):
        rows = yield self.db.runQuery(
            "SELECT u.mobile, b.can_control, extract(epoch FROM b.created_at)::float8 FROM user_device b"
            " JOIN app_user u USING (user_id) WHERE b.dev_id = %s AND b.share_flag = 1 ORDER BY u.mobile", (dev_id,))
        return [Share(*row) for row in rows]

    @defer.inlineCallbacks
    def share(self, user_id: int, dev_id: str, can_control: bool, now: float):
        """Share the device with the user; AlreadyBound if it is bound to them."""
        try:
            yield self.db.runOperation(
                "INSERT INTO user_device (user_id, dev_id, share_flag, can_control, created_at)"
                " VALUES (%s, %s, 1, %s, to_timestamp(%s))", (user_id, dev_id, can_control, now))
        except psycopg2.errors.UniqueViolation:
            raise AlreadyBound("%s for user %d" % (dev_id, user_id)) from None

    @defer.inlineCallbacks
    def unshare(self, user_id: int, dev_id: str):
        """End a share (never an ownership); True if there was one."""
        rows = yield self.db.runQuery(
            "DELETE FROM user_device WHERE user_id = %s AND dev_id = %s AND share_flag = 1 RETURNING 1",
            (user_id, dev_id))
        return bool(rows)
