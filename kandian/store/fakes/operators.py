"""In memory: :class:`kandian.store.operators.Operators` (table operator)."""

from __future__ import annotations

import datetime

from twisted.internet import defer

from ...core.errors import AccountExists
from ..operators import Operator, OperatorCredentials


class FakeOperators:
    def __init__(self, store):
        self.store = store
        self.rows: dict[int, dict] = store.tables.setdefault("operator", {})

    def _named(self, name):
        return next((r for r in self.rows.values() if r["name"] == name), None)

    def add(self, name, password_hash, role="admin"):
        if self._named(name) is not None:
            return defer.fail(AccountExists("operator %s already exists" % (name,)))
        operator_id = max(self.rows, default=0) + 1
        self.rows[operator_id] = dict(operator_id=operator_id, name=name, password_hash=password_hash, role=role,
                                      created_at=datetime.datetime.now(datetime.UTC).timestamp())
        return defer.succeed(operator_id)

    def credentials(self, name):
        row = self._named(name)
        return defer.succeed(None if row is None else
                             OperatorCredentials(row["operator_id"], row["password_hash"], row["role"]))

    def list(self):
        return defer.succeed([Operator(r["operator_id"], r["name"], r["role"], r["created_at"])
                              for r in sorted(self.rows.values(), key=lambda r: r["name"])])

    def set_password_hash(self, name, password_hash):
        row = self._named(name)
        if row is not None:
            row["password_hash"] = password_hash
        return defer.succeed(row is not None)

    def delete(self, name):
        row = self._named(name)
        if row is None:
            return defer.succeed(False)
        del self.rows[row["operator_id"]]
        tokens = self.store.tables.setdefault("api_token", {})
        for key in [k for k, t in tokens.items() if t["operator_id"] == row["operator_id"]]:
            del tokens[key]
        return defer.succeed(True)
