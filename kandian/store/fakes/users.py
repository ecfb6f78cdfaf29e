"""The in-memory :class:`kandian.store.users.Users` (table ``app_user``)."""

from __future__ import annotations

import datetime

from twisted.internet import defer

from ...core.errors import AccountExists, NoSuchAccount
from ..users import Credentials, User
from .group import enqueue


class FakeUsers:
    def __init__(self, store):
        self.tables = store.tables
        self.rows: dict[int, dict] = store.tables.setdefault("app_user", {})
        self.bindings: dict = store.tables.setdefault("user_device", {})

    def _by_mobile(self, mobile):
        return next((r for r in self.rows.values() if r["mobile"] == mobile), None)

    def add(self, mobile: str, password_hash: str, max_devices: int = 4, group_at: float | None = None
            ) -> defer.Deferred:
        if self._by_mobile(mobile) is not None:
            return defer.fail(AccountExists("user %s already exists" % (mobile,)))
        user_id = max(self.rows, default=0) + 1
        self.rows[user_id] = dict(user_id=user_id, mobile=mobile, password_hash=password_hash,
                                  max_devices=max_devices, status="active",
                                  created_at=datetime.datetime.now(datetime.UTC), password_set_at=None,
                                  pending_password_hash=None, alarm_sms=True)
        if group_at is not None:
            enqueue(self.tables, "open", mobile, max_devices, group_at)
        return defer.succeed(user_id)

    def set_max_devices(self, mobile: str, max_devices: int, group_at: float | None = None) -> defer.Deferred:
        row = self._by_mobile(mobile)
        if row is None:
            return defer.fail(NoSuchAccount("no account %s" % (mobile,)))
        row["max_devices"] = max_devices
        if group_at is not None:
            enqueue(self.tables, "change", mobile, max_devices, group_at)
        return defer.succeed(None)

    def cancel(self, mobile: str, group_at: float | None = None) -> defer.Deferred:
        row = self._by_mobile(mobile)
        if row is None:
            return defer.fail(NoSuchAccount("no account %s" % (mobile,)))
        user_id = row["user_id"]
        del self.rows[user_id]
        for key in [k for k in self.bindings if k[0] == user_id]:
            del self.bindings[key]
        sessions = self.tables.setdefault("mcu_session", {})
        for key in [k for k, s in sessions.items() if s["user_id"] == user_id]:
            del sessions[key]
        if group_at is not None:
            enqueue(self.tables, "cancel", mobile, None, group_at)
        return defer.succeed(None)

    def active(self, mobile: str) -> defer.Deferred:
        row = self._by_mobile(mobile)
        if row is None or row["status"] != "active":
            return defer.succeed(None)
        return defer.succeed(Credentials(row["user_id"], row["password_hash"], row["max_devices"],
                                         row.get("pending_password_hash")))

    def set_password_hash(self, user_id: int, password_hash: str, now: float) -> defer.Deferred:
        if user_id in self.rows:
            self.rows[user_id].update(password_hash=password_hash, password_set_at=now, pending_password_hash=None)
        return defer.succeed(None)

    def set_pending_password_hash(self, user_id: int, password_hash: str) -> defer.Deferred:
        if user_id in self.rows:
            self.rows[user_id]["pending_password_hash"] = password_hash
        return defer.succeed(None)

    def use_pending_password_hash(self, user_id: int, password_hash: str, now: float) -> defer.Deferred:
        row = self.rows.get(user_id)
        if row is None or row.get("pending_password_hash") != password_hash:
            return defer.succeed(False)
        row.update(password_hash=password_hash, pending_password_hash=None, password_set_at=now)
        return defer.succeed(True)

    def set_alarm_sms(self, mobile: str, on: bool) -> defer.Deferred:
        row = self._by_mobile(mobile)
        if row is not None:
            row["alarm_sms"] = on
        return defer.succeed(row is not None)

    def list(self) -> defer.Deferred:
        return defer.succeed([
            User(r["user_id"], r["mobile"], r["max_devices"], r["status"],
                 sum(1 for (user_id, _) in self.bindings if user_id == r["user_id"]), r["created_at"])
            for r in sorted(self.rows.values(), key=lambda r: r["mobile"])])
