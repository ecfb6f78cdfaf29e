"""Operators of the platform and the portal's API tokens (tables operator, api_token).

Operators are the people who run the service (§2.2); they log in to the
portal and the REST API like users do, and their passwords arrive here only
as their scrypt hash.  A token is kept as its SHA-256 only: a copy of the
table lets nobody in.
"""

from __future__ import annotations

from typing import NamedTuple

import psycopg2
from twisted.internet import defer

from ..core.errors import AccountExists
from .prepared import Statement

ROLES = ("admin", "viewer")


class OperatorCredentials(NamedTuple):
    operator_id: int
    password_hash: str
    role: str


class Operator(NamedTuple):
    operator_id: int
    name: str
    role: str
    created_at: float  # POSIX seconds


class TokenOwner(NamedTuple):
    """Who a live token belongs to: kind "operator" or "user", their id, name (operator name or mobile) and role."""
    kind: str
    principal_id: int
    name: str
    role: str
    csrf: str
    expires_at: float


class Operators:
    def __init__(self, db):
        self.db = db

    @defer.inlineCallbacks
    def add(self, name: str, password_hash: str, role: str = "admin"):
        """A new operator: its id; raises AccountExists."""
        try:
            rows = yield self.db.runQuery(
                "INSERT INTO operator (name, password_hash, role) VALUES (%s, %s, %s) RETURNING operator_id",
                (name, password_hash, role))
        except psycopg2.errors.UniqueViolation:
            raise AccountExists("operator %s already exists" % (name,)) from None
        return rows[0][0]

    @defer.inlineCallbacks
    def credentials(self, name: str):
        rows = yield self.db.runQuery(
            "SELECT operator_id, password_hash, role FROM operator WHERE name = %s", (name,))
        return OperatorCredentials(*rows[0]) if rows else None

    @defer.inlineCallbacks
    def list(self):
        rows = yield self.db.runQuery(
            "SELECT operator_id, name, role, extract(epoch FROM created_at)::float8 FROM operator ORDER BY name")
        return [Operator(*row) for row in rows]

    @defer.inlineCallbacks
    def set_password_hash(self, name: str, password_hash: str):
        """True if the operator exists."""
        rows = yield self.db.runQuery(
            "UPDATE operator SET password_hash = %s WHERE name = %s RETURNING 1", (password_hash, name))
        return bool(rows)

    @defer.inlineCallbacks
    def delete(self, name: str):
        rows = yield self.db.runQuery("DELETE FROM operator WHERE name = %s RETURNING 1", (name,))
        return bool(rows)


_OWNER = Statement(
    "SELECT CASE WHEN t.operator_id IS NULL THEN 'user' ELSE 'operator' END,"
    " coalesce(t.operator_id, t.user_id), coalesce(o.name, u.mobile), coalesce(o.role, 'user'), t.csrf,"
    " extract(epoch FROM t.expires_at)::float8"
    " FROM api_token t LEFT JOIN operator o USING (operator_id) LEFT JOIN app_user u USING (user_id)"
    " WHERE t.token_hash = %s AND t.revoked_at IS NULL AND t.expires_at > to_timestamp(%s)"
    " AND (t.operator_id IS NOT NULL OR u.status = 'active')")


class ApiTokens:
    def __init__(self, db):
        self.db = db

    def open(self, token_hash: str, kind: str, principal_id: int, csrf: str, client_ip: str | None,
             now: float, expires_at: float) -> defer.Deferred:
        column = "operator_id" if kind == "operator" else "user_id"
        return self.db.runOperation(
            "INSERT INTO api_token (token_hash, " + column + ", csrf, client_ip, created_at, expires_at)"
            " VALUES (%s, %s, %s, %s, to_timestamp(%s), to_timestamp(%s))",
            (token_hash, principal_id, csrf, client_ip, now, expires_at))

    @defer.inlineCallbacks
    def owner(self, token_hash: str, now: float):
        """The TokenOwner of a live token (not expired, not revoked, its user
        active), or None."""
        rows = yield self.db.runQuery(_OWNER, (token_hash, now))
        return TokenOwner(*rows[0]) if rows else None

    def revoke(self, token_hash: str, now: float) -> defer.Deferred:
        return self.db.runOperation(
            "UPDATE api_token SET revoked_at = to_timestamp(%s) WHERE token_hash = %s AND revoked_at IS NULL",
            (now, token_hash))

    def revoke_user(self, user_id: int, now: float) -> defer.Deferred:
        """Every token of the user (suspended, password reset)."""
        return self.db.runOperation(
            "UPDATE api_token SET revoked_at = to_timestamp(%s) WHERE user_id = %s AND revoked_at IS NULL",
            (now, user_id))

    def purge(self, now: float) -> defer.Deferred:
        return self.db.runOperation("DELETE FROM api_token WHERE expires_at < to_timestamp(%s)", (now,))
