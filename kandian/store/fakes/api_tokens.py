"""In memory: :class:`kandian.store.operators.ApiTokens` (table api_token)."""

from __future__ import annotations

from twisted.internet import defer

from ..operators import TokenOwner


class FakeApiTokens:
    def __init__(self, store):
        self.tables = store.tables
        self.rows: dict[str, dict] = store.tables.setdefault("api_token", {})

    def open(self, token_hash, kind, principal_id, csrf, client_ip, now, expires_at):
        if token_hash in self.rows:
            return defer.fail(ValueError("duplicate token"))
        self.rows[token_hash] = dict(operator_id=principal_id if kind == "operator" else None,
                                     user_id=principal_id if kind == "user" else None, csrf=csrf,
                                     client_ip=client_ip, created_at=now, expires_at=expires_at, revoked_at=None)
        return defer.succeed(None)

    def owner(self, token_hash, now):
        row = self.rows.get(token_hash)
        if row is None or row["revoked_at"] is not None or row["expires_at"] <= now:
            return defer.succeed(None)
        if row["operator_id"] is not None:
            operator = self.tables.get("operator", {}).get(row["operator_id"])
            if operator is None:
                return defer.succeed(None)
            return defer.succeed(TokenOwner("operator", row["operator_id"], operator["name"], operator["role"],
                                            row["csrf"], row["expires_at"]))
        user = self.tables.get("app_user", {}).get(row["user_id"])
        if user is None or user["status"] != "active":
            return defer.succeed(None)
        return defer.succeed(TokenOwner("user", row["user_id"], user["mobile"], "user", row["csrf"],
                                        row["expires_at"]))

    def revoke(self, token_hash, now):
        row = self.rows.get(token_hash)
        if row is not None and row["revoked_at"] is None:
            row["revoked_at"] = now
        return defer.succeed(None)

    def revoke_user(self, user_id, now):
        for row in self.rows.values():
            if row["user_id"] == user_id and row["revoked_at"] is None:
                row["revoked_at"] = now
        return defer.succeed(None)

    def purge(self, now):
        for key in [k for k, r in self.rows.items() if r["expires_at"] < now]:
            del self.rows[key]
        return defer.succeed(None)
