"""The in-memory :class:`kandian.store.secrets.SecretStore` (table ``platform_secret``)."""

from __future__ import annotations

import secrets

from twisted.internet import defer

from ..secrets import SECRET_BYTES


class FakeSecrets:
    def __init__(self, store):
        self.rows: dict[str, bytes] = store.tables.setdefault("platform_secret", {})

    def get(self, name: str) -> defer.Deferred:
        return defer.succeed(self.rows.setdefault(name, secrets.token_bytes(SECRET_BYTES)))
