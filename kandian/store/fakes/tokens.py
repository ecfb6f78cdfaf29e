"""The in-memory ``tokens`` component: :class:`kandian.store.tokens.TokenStore` (§7.5.5, §7.5.23) without SQL.

Rows live in ``tables["hash_token"]``: token → dict of the table's columns
(times as POSIX seconds).
"""

from __future__ import annotations

from twisted.internet import defer

from ..tokens import _INT2_MAX, _INT4_MAX, TOKEN_TTL, new_token


class FakeTokens:
    def __init__(self, store):
        self.rows: dict[str, dict] = store.tables.setdefault("hash_token", {})

    def issue(self, dev_id: str, channel_no: int, *, stream_type: int | None = None,
              file_name: str | None = None, user_id: int | None = None, account: str = "",
              purpose: str = "client", now: float, ttl: int = TOKEN_TTL):
        d = self.issue_many(dev_id, channel_no, [purpose], stream_type=stream_type, file_name=file_name,
                            user_id=user_id, account=account, now=now, ttl=ttl)
        return d.addCallback(lambda tokens: tokens[0])

    def issue_many(self, dev_id: str, channel_no: int, purposes: list[str], *, stream_type: int | None = None,
                   file_name: str | None = None, user_id: int | None = None, account: str = "",
                   now: float, ttl: int = TOKEN_TTL):
        if (stream_type is None) == (file_name is None):
            return defer.fail(ValueError("a token is bound to a stream type or to a file name"))
        stream = str(stream_type) if file_name is None else file_name
        tokens = [new_token(account, dev_id, channel_no, stream, now) for _ in purposes]
        for token, purpose in zip(tokens, purposes):
            self.rows[token] = dict(dev_id=dev_id, channel_no=channel_no, stream_type=stream_type,
                                    file_name=file_name, user_id=user_id, purpose=purpose, issued_at=now,
                                    expires_at=now + ttl, consumed_at=None)
        return defer.succeed(tokens)

    def consume(self, token: str, dev_id: str, channel_no: int, *, stream_type: int | None = None,
                file_name: str | None = None, now: float, purpose: str = "client"):
        if not (0 <= channel_no <= _INT4_MAX and (stream_type is None or 0 <= stream_type <= _INT2_MAX)):
            return defer.succeed(False)
        row = self.rows.get(token)
        valid = (row is not None and row["consumed_at"] is None and row["expires_at"] > now
                 and (row["dev_id"], row["channel_no"], row["stream_type"], row["file_name"], row["purpose"])
                 == (dev_id, channel_no, stream_type, file_name, purpose))
        if valid:
            row["consumed_at"] = now
        return defer.succeed(valid)

    def purge(self, now: float, keep: int = 3600):
        for token in [t for t, row in self.rows.items() if row["expires_at"] < now - keep]:
            del self.rows[token]
        return defer.succeed(None)
