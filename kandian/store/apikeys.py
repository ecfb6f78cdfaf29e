"""API keys of the compatibility APIs (table api_key; PRODUCT.md "Compatibility APIs").

A key is known here only by its SHA-256 (``key_hash``): the key itself is
shown once, when it is made.  A revoked key stays (its name is not reused)
and checks as revoked.
"""

from __future__ import annotations

from typing import NamedTuple

import psycopg2
from twisted.internet import defer

from ..core.errors import ApiKeyExists
from .prepared import Statement


class ApiKey(NamedTuple):
    key_id: int
    name: str
    master: bool
    created_at: float  # POSIX seconds
    revoked_at: float | None


_COLUMNS = ("key_id, name, master, extract(epoch FROM created_at)::float8,"
            " extract(epoch FROM revoked_at)::float8")
_BY_HASH = Statement("SELECT " + _COLUMNS + " FROM api_key WHERE key_hash = %s")
_BY_ID = Statement("SELECT " + _COLUMNS + " FROM api_key WHERE key_id = %s")


class ApiKeyStore:
    def __init__(self, db):
        self.db = db

    @defer.inlineCallbacks
    def add(self, name: str, key_hash: str, master: bool, now: float):
        """A new key's ApiKey; raises ApiKeyExists for a name taken (revoked ones included)."""
        try:
            rows = yield self.db.runQuery(
                "INSERT INTO api_key (name, key_hash, master, created_at) VALUES (%s, %s, %s, to_timestamp(%s))"
                " RETURNING " + _COLUMNS, (name, key_hash, master, now))
        except psycopg2.errors.UniqueViolation:
            raise ApiKeyExists("an API key named %s exists already" % (name,)) from None
        return ApiKey(*rows[0])

    @defer.inlineCallbacks
    def by_hash(self, key_hash: str):
        """The ApiKey of that hash (revoked or not), or None."""
        rows = yield self.db.runQuery(_BY_HASH, (key_hash,))
        return ApiKey(*rows[0]) if rows else None

    @defer.inlineCallbacks
    def by_id(self, key_id: int):
        if not 0 < key_id < 2**63:
            return None
        rows = yield self.db.runQuery(_BY_ID, (key_id,))
        return ApiKey(*rows[0]) if rows else None

    @defer.inlineCallbacks
    def list(self):
        rows = yield self.db.runQuery("SELECT " + _COLUMNS + " FROM api_key ORDER BY name")
        return [ApiKey(*row) for row in rows]

    @defer.inlineCallbacks
    def revoke(self, name: str, now: float):
        """True when a live key of that name was revoked now."""
        rows = yield self.db.runQuery(
            "UPDATE api_key SET revoked_at = to_timestamp(%s) WHERE name = %s AND revoked_at IS NULL RETURNING 1",
            (now, name))
        return bool(rows)
