"""Accounts (§8.2 Account; table app_user): one place where they are read and written.

Passwords arrive here only as their hash (:mod:`kandian.passwords`); the core
hashes and checks them.
"""

from __future__ import annotations

from typing import NamedTuple

import psycopg2
from twisted.internet import defer

from ..core.errors import AccountExists, NoSuchAccount
from .group import enqueue
from .prepared import Statement


class Credentials(NamedTuple):
    """What McuLogin needs of an active account."""
    user_id: int
    password_hash: str
    max_devices: int
    pending_password_hash: str | None = None  # §8.1: sent by SMS, not used yet


class User(NamedTuple):
    user_id: int
    mobile: str
    max_devices: int
    status: str
    devices: int
    created_at: object


_ACTIVE = Statement(
    "SELECT user_id, password_hash, max_devices, pending_password_hash FROM app_user"
    " WHERE mobile = %s AND status = 'active'")


class Users:
    def __init__(self, db):
        self.db = db

    @defer.inlineCallbacks
    def add(self, mobile: str, password_hash: str, max_devices: int = 4, group_at: float | None = None):
        """A new account: its user_id; raises AccountExists.  With *group_at*
        (a time), §6.2's open is queued for the group platform in the same
        transaction (:mod:`.group`)."""
        @defer.inlineCallbacks
        def insert(cursor):
            yield cursor.execute("INSERT INTO app_user (mobile, password_hash, max_devices) VALUES (%s, %s, %s)"
                                 " RETURNING user_id", (mobile, password_hash, max_devices))
            user_id = cursor.fetchone()[0]
            if group_at is not None:
                yield enqueue(cursor, "open", mobile, max_devices, group_at)
            return user_id

        try:
            return (yield self.db.runInteraction(insert))
        except psycopg2.errors.UniqueViolation:
            raise AccountExists("user %s already exists" % (mobile,)) from None

    def set_max_devices(self, mobile: str, max_devices: int, group_at: float | None = None) -> defer.Deferred:
        """Change the devices the account may own (§6.3 IpcamNum), queueing
        §6.3 with *group_at*; raises NoSuchAccount."""
        return self._change(mobile, "UPDATE app_user SET max_devices = %s WHERE mobile = %s RETURNING user_id",
                            (max_devices, mobile), "change", max_devices, group_at)

    def cancel(self, mobile: str, group_at: float | None = None) -> defer.Deferred:
        """Delete the account (its bindings and sessions with it), queueing
        §6.4 with *group_at*; raises NoSuchAccount."""
        return self._change(mobile, "DELETE FROM app_user WHERE mobile = %s RETURNING user_id", (mobile,),
                            "cancel", None, group_at)

    def _change(self, mobile, sql, params, kind, ipcam_num, group_at) -> defer.Deferred:
        @defer.inlineCallbacks
        def change(cursor):
            yield cursor.execute(sql, params)
            if cursor.fetchone() is None:
                raise NoSuchAccount("no account %s" % (mobile,))
            if group_at is not None:
                yield enqueue(cursor, kind, mobile, ipcam_num, group_at)

        return self.db.runInteraction(change)

    @defer.inlineCallbacks
    def active(self, mobile: str):
        """The Credentials of the active account of *mobile*, or None."""
        rows = yield self.db.runQuery(_ACTIVE, (mobile,))
        return Credentials(*rows[0]) if rows else None

    def set_password_hash(self, user_id: int, password_hash: str, now: float) -> defer.Deferred:
        """The account's password from now on (a pending one is dropped)."""
        return self.db.runOperation(
            "UPDATE app_user SET password_hash = %s, pending_password_hash = NULL, password_set_at = to_timestamp(%s)"
            " WHERE user_id = %s", (password_hash, now, user_id))

    def set_pending_password_hash(self, user_id: int, password_hash: str) -> defer.Deferred:
        """§8.1: a password sent by SMS; the current one stays valid until this one is used."""
        return self.db.runOperation("UPDATE app_user SET pending_password_hash = %s WHERE user_id = %s",
                                    (password_hash, user_id))

    @defer.inlineCallbacks
    def use_pending_password_hash(self, user_id: int, password_hash: str, now: float):
        """The pending password *password_hash* was used: it becomes the
        password.  False when it is no longer the pending one."""
        rows = yield self.db.runQuery(
            "UPDATE app_user SET password_hash = pending_password_hash, pending_password_hash = NULL,"
            " password_set_at = to_timestamp(%s) WHERE user_id = %s AND pending_password_hash = %s RETURNING 1",
            (now, user_id, password_hash))
        return bool(rows)

    @defer.inlineCallbacks
    def set_alarm_sms(self, mobile: str, on: bool):
        """Switch the account's alarm SMS on or off; False when there is no such account."""
        rows = yield self.db.runQuery("UPDATE app_user SET alarm_sms = %s WHERE mobile = %s RETURNING 1",
                                      (on, mobile))
        return bool(rows)

    @defer.inlineCallbacks
    def list(self):
        """Every account, by mobile, with the number of devices bound to it: [User]."""
        rows = yield self.db.runQuery(
            "SELECT u.user_id, u.mobile, u.max_devices, u.status,"
            " (SELECT count(*) FROM user_device b WHERE b.user_id = u.user_id),"
            " u.created_at FROM app_user u ORDER BY u.mobile")
        return [User(*row) for row in rows]
