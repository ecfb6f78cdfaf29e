"""In memory: :class:`kandian.store.user_admin.UserAdmin` (accounts as operators manage them, and shares)."""

from __future__ import annotations

import datetime

from twisted.internet import defer

from ...core.errors import AlreadyBound
from ..user_admin import SORTS, Account, Binding, Share


def _seconds(value):
    return value.timestamp() if isinstance(value, datetime.datetime) else value


class FakeUserAdmin:
    def __init__(self, store):
        self.tables = store.tables
        self.users: dict[int, dict] = store.tables.setdefault("app_user", {})
        self.bound: dict = store.tables.setdefault("user_device", {})
        self.control: dict = store.tables.setdefault("share_control", {})
        self.since: dict = store.tables.setdefault("share_since", {})

    def _account(self, r):
        return Account(r["user_id"], r["mobile"], r["max_devices"], r["status"],
                       sum(1 for (u, _) in self.bound if u == r["user_id"]), _seconds(r["created_at"]))

    def page(self, q, status, sort, descending, offset, limit):
        if sort not in SORTS:
            return defer.fail(KeyError(sort))
        rows = sorted((self._account(r) for r in self.users.values()
                       if (not q or q in r["mobile"]) and (not status or r["status"] == status)),
                      key=lambda a: a.mobile)
        rows.sort(key=lambda a: getattr(a, sort), reverse=descending)
        return defer.succeed((len(rows), rows[offset:offset + limit]))

    def get(self, mobile):
        row = next((r for r in self.users.values() if r["mobile"] == mobile), None)
        return defer.succeed(None if row is None else self._account(row))

    def by_id(self, user_id):
        row = self.users.get(user_id)
        return defer.succeed(None if row is None else self._account(row))

    def set_status(self, user_id, status, now):
        row = self.users.get(user_id)
        if row is None:
            return defer.succeed(False)
        row["status"] = status
        if status != "active":
            for session in self.tables.setdefault("mcu_session", {}).values():
                if session["user_id"] == user_id and session["ended_at"] is None:
                    session["ended_at"] = now
        return defer.succeed(True)

    def set_max_devices(self, user_id, max_devices):
        row = self.users.get(user_id)
        if row is not None:
            row["max_devices"] = max_devices
        return defer.succeed(row is not None)

    def delete(self, user_id):
        if self.users.pop(user_id, None) is None:
            return defer.succeed(False)
        for table in (self.bound, self.control, self.since):
            for key in [k for k in table if k[0] == user_id]:
                del table[key]
        sessions = self.tables.setdefault("mcu_session", {})
        for key in [k for k, s in sessions.items() if s["user_id"] == user_id]:
            del sessions[key]
        tokens = self.tables.setdefault("api_token", {})
        for key in [k for k, t in tokens.items() if t["user_id"] == user_id]:
            del tokens[key]
        return defer.succeed(True)

    def bindings(self, user_id):
        devices = self.tables.setdefault("device", {})
        rows = [Binding(dev_id, flag, self.control.get((u, dev_id), True), bool(devices[dev_id]["online"]),
                        devices[dev_id]["name"] or dev_id)
                for (u, dev_id), flag in self.bound.items() if u == user_id and dev_id in devices]
        return defer.succeed(sorted(rows, key=lambda b: (b.share_flag, b.dev_id)))

    def access(self, user_id, dev_id):
        flag = self.bound.get((user_id, dev_id))
        return defer.succeed(None if flag is None else (flag, self.control.get((user_id, dev_id), True)))

    def shares(self, dev_id):
        return defer.succeed(sorted(
            Share(self.users[u]["mobile"], self.control.get((u, d), True), self.since.get((u, d), 0.0))
            for (u, d), flag in self.bound.items() if d == dev_id and flag == 1 and u in self.users))

    def share(self, user_id, dev_id, can_control, now):
        if (user_id, dev_id) in self.bound:
            return defer.fail(AlreadyBound("%s for user %d" % (dev_id, user_id)))
        self.bound[(user_id, dev_id)] = 1
        self.control[(user_id, dev_id)] = can_control
        self.since[(user_id, dev_id)] = now
        return defer.succeed(None)

    def unshare(self, user_id, dev_id):
        if self.bound.get((user_id, dev_id)) != 1:
            return defer.succeed(False)
        del self.bound[(user_id, dev_id)]
        self.control.pop((user_id, dev_id), None)
        self.since.pop((user_id, dev_id), None)
        return defer.succeed(True)
