"""The in-memory :class:`kandian.store.sessions.Sessions` (table ``mcu_session``)."""

from __future__ import annotations

import secrets

from twisted.internet import defer

from ..sessions import SESSION_TOUCH, Session
from .bindings import bound_device, device_list


class FakeSessions:
    def __init__(self, store):
        self.tables = store.tables
        self.rows: dict[str, dict] = store.tables.setdefault("mcu_session", {})
        self.users: dict[int, dict] = store.tables.setdefault("app_user", {})

    def _check(self, account, session_id, now, timeout):
        user = next((u for u in self.users.values() if u["mobile"] == account and u["status"] == "active"), None)
        if user is None:
            return None
        row = self.rows.get(session_id)
        live = (row is not None and row["user_id"] == user["user_id"] and row["ended_at"] is None
                and row["last_used_at"] >= now - timeout)
        if live and now - row["last_used_at"] >= SESSION_TOUCH:
            row["last_used_at"] = now
        return Session(user["user_id"], live)

    def open(self, user_id: int, version: str, client_ip: str | None, now: float) -> defer.Deferred:
        session_id = secrets.token_hex(16)
        self.rows[session_id] = dict(user_id=user_id, version=version, client_ip=client_ip, created_at=now,
                                     last_used_at=now, ended_at=None)
        return defer.succeed(session_id)

    def open_listing(self, user_id: int, version: str, client_ip: str | None, now: float) -> defer.Deferred:
        session_id = self.open(user_id, version, client_ip, now).result
        return defer.succeed((session_id, device_list(self.tables, user_id)))

    def open_verified(self, user_id: int, account: str, password_hash: str, version: str,
                      client_ip: str | None, now: float) -> defer.Deferred:
        user = self.users.get(user_id)
        if user is None or (user["mobile"], user["status"], user["password_hash"]) != (account, "active",
                                                                                       password_hash):
            return defer.succeed(None)
        session_id, channels = self.open_listing(user_id, version, client_ip, now).result
        return defer.succeed((session_id, user["max_devices"], channels))

    def check(self, account: str, session_id: str, now: float, timeout: float) -> defer.Deferred:
        return defer.succeed(self._check(account, session_id, now, timeout))

    def check_bound(self, account: str, session_id: str, dev_id: str, channel_no: int | None,
                    now: float, timeout: float) -> defer.Deferred:
        session = self._check(account, session_id, now, timeout)
        if session is None or not session.live:
            return defer.succeed((session, None))
        device = bound_device(self.tables, session.user_id, dev_id)
        if device is not None and channel_no is not None \
                and (dev_id, channel_no) not in self.tables.setdefault("channel", {}):
            device = None
        return defer.succeed((session, device))

    def check_listing(self, account: str, session_id: str, now: float, timeout: float) -> defer.Deferred:
        session = self._check(account, session_id, now, timeout)
        if session is None or not session.live:
            return defer.succeed((session, []))
        return defer.succeed((session, device_list(self.tables, session.user_id)))

    def end(self, session_id: str, now: float) -> defer.Deferred:
        row = self.rows.get(session_id)
        if row is not None and row["ended_at"] is None:
            row["ended_at"] = now
        return defer.succeed(None)
