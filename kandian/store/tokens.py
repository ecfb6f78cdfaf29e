"""HashToken: one-time play tokens (§7.5.5, §7.5.23; PRODUCT.md "HashToken").

A token is issued per play URL and bound to DevID + ChannelNo + StreamType
(live) or DevID + ChannelNo + FileName (playback).  It is valid for 60 s and
consumed once: :meth:`TokenStore.consume` is a single conditional UPDATE, so
two checks racing for one token (on one node or several) cannot both win.

The spec derives the token as an MD5 over the account, the password, the
stream's coordinates, the access time and a random key.  We keep that shape
but never put the password in (we do not have it: only its hash is stored):
MD5 over account, DevID, ChannelNo, StreamType or FileName, time and 128 bits
from ``secrets``.  The result is 32 hex digits, the length devices expect.
"""

from __future__ import annotations

import hashlib
import secrets

from twisted.internet import defer

from .prepared import Statement

TOKEN_TTL = 60  # seconds, §7.5.5 "有效期 1 分钟"
_INT4_MAX, _INT2_MAX = 2**31 - 1, 2**15 - 1  # hash_token.channel_no integer, stream_type smallint


def new_token(account: str, dev_id: str, channel_no: int, stream: str, now: float) -> str:
    material = "\x00".join([account, dev_id, str(channel_no), stream, repr(now)]).encode("utf-8")
    return hashlib.md5(material + secrets.token_bytes(16)).hexdigest()


_ISSUE = Statement(
    "INSERT INTO hash_token (hash_token, dev_id, channel_no, stream_type, file_name, user_id,"
    " purpose, issued_at, expires_at) SELECT t, %s::text, %s::integer, %s::smallint, %s::text, %s::bigint, p,"
    " to_timestamp(%s), to_timestamp(%s) FROM unnest(%s::text[], %s::text[]) AS x (t, p)",
    # an issued token lost in a crash of PostgreSQL only fails its play (the
    # app asks again); its consumption below is always durable
    durable=False)
_CONSUME = Statement(
    "UPDATE hash_token SET consumed_at = to_timestamp(%s)"
    " WHERE hash_token = %s AND dev_id = %s AND channel_no = %s"
    " AND stream_type IS NOT DISTINCT FROM %s::smallint AND file_name IS NOT DISTINCT FROM %s::text"
    " AND purpose = %s AND consumed_at IS NULL AND expires_at > to_timestamp(%s)"
    " RETURNING 1")


class TokenStore:
    def __init__(self, db):
        self.db = db

    @defer.inlineCallbacks
    def issue(self, dev_id: str, channel_no: int, *, stream_type: int | None = None,
              file_name: str | None = None, user_id: int | None = None, account: str = "",
              purpose: str = "client", now: float, ttl: int = TOKEN_TTL):
        """A new token for one live stream (*stream_type*) or one recording (*file_name*)."""
        tokens = yield self.issue_many(dev_id, channel_no, [purpose], stream_type=stream_type, file_name=file_name,
                                       user_id=user_id, account=account, now=now, ttl=ttl)
        return tokens[0]

    @defer.inlineCallbacks
    def issue_many(self, dev_id: str, channel_no: int, purposes: list[str], *, stream_type: int | None = None,
                   file_name: str | None = None, user_id: int | None = None, account: str = "",
                   now: float, ttl: int = TOKEN_TTL):
        """One new token per entry of *purposes*, for the same stream or
        recording (the URLs of one VideoPlay answer), written in one INSERT."""
        if (stream_type is None) == (file_name is None):
            raise ValueError("a token is bound to a stream type or to a file name")
        stream = str(stream_type) if file_name is None else file_name
        tokens = [new_token(account, dev_id, channel_no, stream, now) for _ in purposes]
        if tokens:
            yield self.db.runOperation(_ISSUE, (dev_id, channel_no, stream_type, file_name, user_id, now, now + ttl,
                                                tokens, list(purposes)))
        return tokens

    @defer.inlineCallbacks
    def consume(self, token: str, dev_id: str, channel_no: int, *, stream_type: int | None = None,
                file_name: str | None = None, now: float, purpose: str = "client"):
        """True once for a live, unexpired token bound to exactly this stream or
        file, and issued for *purpose*: a device verifies "client" tokens (the
        URLs that reach it), the relay "relay" tokens (RelayPlayUrl)."""
        if not (0 <= channel_no <= _INT4_MAX and (stream_type is None or 0 <= stream_type <= _INT2_MAX)):
            return False  # no token can be bound to that (the columns could not hold it)
        rows = yield self.db.runQuery(_CONSUME, (now, token, dev_id, channel_no, stream_type, file_name, purpose, now))
        return bool(rows)

    def purge(self, now: float, keep: int = 3600) -> defer.Deferred:
        """Forget tokens that expired more than *keep* seconds ago."""
        return self.db.runOperation("DELETE FROM hash_token WHERE expires_at < to_timestamp(%s)",
                                    (now - keep,))
