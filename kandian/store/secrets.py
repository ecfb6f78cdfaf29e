"""The platform's own secrets (table ``platform_secret``): made once, shared by every node."""

from __future__ import annotations

import secrets

from twisted.internet import defer

SECRET_BYTES = 32


class SecretStore:
    def __init__(self, db):
        self.db = db

    @defer.inlineCallbacks
    def get(self, name: str):
        """The secret called *name* (bytes), created at random by whichever node asks first."""
        yield self.db.runOperation(
            "INSERT INTO platform_secret (name, value) VALUES (%s, %s) ON CONFLICT (name) DO NOTHING",
            (name, secrets.token_bytes(SECRET_BYTES)))
        rows = yield self.db.runQuery("SELECT value FROM platform_secret WHERE name = %s", (name,))
        return bytes(rows[0][0])
