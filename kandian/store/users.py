"""MCU users and their device bindings (§8.2–§8.6; tables app_user, user_device)."""

from __future__ import annotations

import re
from typing import NamedTuple

import psycopg2
from twisted.internet import defer

from ..passwords import hash_password

MOBILE = re.compile(r"^[0-9]{5,20}$")


class UserExists(Exception):
    pass


class User(NamedTuple):
    user_id: int
    mobile: str
    max_devices: int
    status: str
    devices: int
    created_at: object


class UserStore:
    def __init__(self, db):
        self.db = db

    @defer.inlineCallbacks
    def add(self, mobile: str, password: str, max_devices: int = 4):
        """Create a user; the password is stored only as its scrypt hash.

        Hashing costs ~40 ms of CPU, so it runs in a thread."""
        if not MOBILE.match(mobile):
            raise ValueError("mobile number must be 5 to 20 digits: %r" % (mobile,))
        if max_devices < 0:
            raise ValueError("max devices must be 0 or more")
        from twisted.internet.threads import deferToThread
        hashed = yield deferToThread(hash_password, password)
        try:
            rows = yield self.db.runQuery(
                "INSERT INTO app_user (mobile, password_hash, max_devices) VALUES (%s, %s, %s)"
                " RETURNING user_id", (mobile, hashed, max_devices))
        except psycopg2.errors.UniqueViolation:
            raise UserExists("user %s already exists" % (mobile,)) from None
        return rows[0][0]

    @defer.inlineCallbacks
    def list(self):
        rows = yield self.db.runQuery(
            "SELECT u.user_id, u.mobile, u.max_devices, u.status,"
            " (SELECT count(*) FROM user_device b WHERE b.user_id = u.user_id),"
            " u.created_at FROM app_user u ORDER BY u.mobile")
        return [User(*row) for row in rows]

    @defer.inlineCallbacks
    def password_hash(self, mobile: str):
        rows = yield self.db.runQuery(
            "SELECT password_hash FROM app_user WHERE mobile = %s", (mobile,))
        return rows[0][0] if rows else None
