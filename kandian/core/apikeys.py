"""API keys of integrators and the access tokens made from them (PRODUCT.md "Compatibility APIs").

``kandianctl apikey add NAME [--master]`` makes a key: 168 random bits,
printed once, kept only as its SHA-256.  spec/002 calls it a ``unionid`` and
trades it for an access token valid ``token_ttl`` seconds (its §3.2, 7200 s);
spec/001 sends it as the ``api-key`` header, where a master key may do what a
plain one may not.  An API key acts as an admin operator
(:meth:`ApiKeys.principal`): spec/002 says only administrators get one.

An access token is ``KEYID.EXPIRES.SIGNATURE``, signed with the platform's
own secret (:mod:`.keys`): any node can check it without a query, and it
tells a token that was never made here (:class:`~.errors.BadAccessToken`)
from one that expired (:class:`~.errors.AccessTokenExpired`), as spec/002's
1006 and 1007 do.  Its key is looked up on use, so revoking a key ends its
tokens — within ``cache_seconds``, the time a key's row is remembered.
"""

from __future__ import annotations

import collections
import hashlib
import re
import secrets
from typing import NamedTuple

from twisted.internet import defer
from twisted.logger import Logger

from . import errors
from .access import Principal

log = Logger()

KEY_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
_KEY = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_TOKEN = re.compile(r"^([1-9][0-9]{0,18})\.([0-9]{1,12})\.([A-Za-z0-9_-]{24})$")
TOKEN_PURPOSE = "api-access-token"


class AccessToken(NamedTuple):
    token: str
    expires_in: int  # seconds
    key_name: str


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()


class ApiKeys:
    def __init__(self, store, clock, keys, *, token_ttl: int = 7200, cache_seconds: float = 10.0,
                 cache_size: int = 10_000):
        """*store* has the ``apikeys`` component; *keys*: :class:`.keys.Keys` (signs access tokens)."""
        self.store = store
        self.clock = clock
        self.keys = keys
        self.token_ttl = token_ttl
        self.cache_seconds = cache_seconds
        self.cache_size = cache_size
        self._cache: collections.OrderedDict = collections.OrderedDict()  # (kind, value) → (when, ApiKey|None)

    def now(self) -> float:
        return self.clock.seconds()

    # -- the operator's

    @defer.inlineCallbacks
    def add(self, name: str, master: bool = False):
        """A new key: ``(key, ApiKey)``; BadValue for a bad name, ApiKeyExists."""
        if not isinstance(name, str) or not KEY_NAME.match(name):
            raise errors.BadValue("an API key's name is 1 to 64 of A-Z a-z 0-9 _ . @ -")
        key = secrets.token_urlsafe(21)  # 28 characters, safe in a query, a path segment and a header
        row = yield self.store.apikeys.add(name, key_hash(key), bool(master), self.now())
        log.info("API key {name} added{master}", name=name, master=" (master)" if master else "")
        return key, row

    def list(self) -> defer.Deferred:
        return self.store.apikeys.list()

    @defer.inlineCallbacks
    def revoke(self, name: str):
        """Revoke the live key of that name (its tokens end with it); NoSuchApiKey."""
        revoked = yield self.store.apikeys.revoke(name, self.now())
        if not revoked:
            raise errors.NoSuchApiKey("no live API key named %s" % (name,))
        self._cache.clear()
        log.info("API key {name} revoked", name=name)

    # -- checking keys

    @defer.inlineCallbacks
    def _row(self, kind: str, value):
        now = self.now()
        cached = self._cache.get((kind, value))
        if cached is not None and now - cached[0] < self.cache_seconds:
            return cached[1]
        if kind == "hash":
            row = yield self.store.apikeys.by_hash(value)
        else:
            row = yield self.store.apikeys.by_id(value)
        self._cache[(kind, value)] = (now, row)
        self._cache.move_to_end((kind, value))
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return row

    @defer.inlineCallbacks
    def lookup(self, key: str):
        """The live ApiKey that *key* is; BadValue (not a key's shape), NoSuchApiKey, ApiKeyRevoked."""
        if not isinstance(key, str) or not _KEY.match(key):
            raise errors.BadValue("not an API key")
        row = yield self._row("hash", key_hash(key))
        if row is None:
            raise errors.NoSuchApiKey("no such API key")
        if row.revoked_at is not None:
            raise errors.ApiKeyRevoked("API key %s was revoked" % (row.name,))
        return row

    @defer.inlineCallbacks
    def check(self, key: str):
        """``(name, master)`` of a live key, None for anything else (a Deferred)."""
        try:
            row = yield self.lookup(key)
        except (errors.BadValue, errors.NotAuthenticated):
            return None
        return row.name, row.master

    @staticmethod
    def principal(row) -> Principal:
        """Who a key acts as: an admin operator named after the key."""
        return Principal("operator", row.key_id, "apikey:%s" % (row.name,), "admin")

    # -- spec/002 §3.2 access tokens

    @defer.inlineCallbacks
    def access_token(self, key: str):
        """An AccessToken for a live *key*; what :meth:`lookup` raises."""
        row = yield self.lookup(key)
        expires = int(self.now()) + self.token_ttl
        signature = self.keys.sign(TOKEN_PURPOSE, str(row.key_id), expires)
        return AccessToken("%d.%d.%s" % (row.key_id, expires, signature), self.token_ttl, row.name)

    @defer.inlineCallbacks
    def token_key(self, token: str):
        """The live ApiKey an access token was made for; BadAccessToken (not
        one of ours), AccessTokenExpired, NoSuchApiKey, ApiKeyRevoked."""
        match = _TOKEN.match(token) if isinstance(token, str) else None
        if match is None:
            raise errors.BadAccessToken("not an access token")
        key_id, expires, signature = int(match.group(1)), int(match.group(2)), match.group(3)
        if not self.keys.verify(TOKEN_PURPOSE, str(key_id), expires, signature, float("-inf")):
            raise errors.BadAccessToken("not an access token of this platform")
        if self.now() >= expires:
            raise errors.AccessTokenExpired("the access token expired")
        row = yield self._row("id", key_id)
        if row is None:
            raise errors.NoSuchApiKey("the access token's API key is gone")
        if row.revoked_at is not None:
            raise errors.ApiKeyRevoked("API key %s was revoked" % (row.name,))
        return row
