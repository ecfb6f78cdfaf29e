"""In memory: :class:`kandian.store.apikeys.ApiKeyStore` (table api_key)."""

from __future__ import annotations

from twisted.internet import defer

from ...core.errors import ApiKeyExists
from ..apikeys import ApiKey


class FakeApiKeys:
    def __init__(self, store):
        self.store = store
        self.rows: dict[int, dict] = store.tables.setdefault("api_key", {})

    @staticmethod
    def _key(row) -> ApiKey:
        return ApiKey(row["key_id"], row["name"], row["master"], row["created_at"], row["revoked_at"])

    def add(self, name, key_hash, master, now):
        if any(r["name"] == name or r["key_hash"] == key_hash for r in self.rows.values()):
            return defer.fail(ApiKeyExists("an API key named %s exists already" % (name,)))
        key_id = max(self.rows, default=0) + 1
        self.rows[key_id] = dict(key_id=key_id, name=name, key_hash=key_hash, master=bool(master),
                                 created_at=float(now), revoked_at=None)
        return defer.succeed(self._key(self.rows[key_id]))

    def by_hash(self, key_hash):
        row = next((r for r in self.rows.values() if r["key_hash"] == key_hash), None)
        return defer.succeed(None if row is None else self._key(row))

    def by_id(self, key_id):
        row = self.rows.get(key_id)
        return defer.succeed(None if row is None else self._key(row))

    def list(self):
        return defer.succeed([self._key(r) for r in sorted(self.rows.values(), key=lambda r: r["name"])])

    def revoke(self, name, now):
        row = next((r for r in self.rows.values() if r["name"] == name and r["revoked_at"] is None), None)
        if row is not None:
            row["revoked_at"] = float(now)
        return defer.succeed(row is not None)
