"""Logging in to the portal and the REST API: tokens for operators and users (PRODUCT.md "Portal and REST API").

``login(account, password, source)`` checks an operator (a name with a
letter in it) or a user (a mobile number, the MCU account) and opens a
token: 32 random bytes, of which only the SHA-256 is stored, valid for
``ttl`` seconds, revocable (logout, a suspended user, a new password).  It
comes with a CSRF token that cookie-authenticated writes must echo.  Failed
logins count in a :class:`kandian.throttle.FailureThrottle` per address and
per (account, address), as McuLogin's do, so a guesser is stopped before any
scrypt runs.

A token's owner is remembered in memory for ``cache_seconds`` (each request
of the portal would otherwise cost a round trip); a logout on this node
forgets it at once, a revocation elsewhere within that time.
"""

from __future__ import annotations

import collections
import hashlib
import re
import secrets
from typing import NamedTuple

from twisted.internet import defer, threads
from twisted.logger import Logger

from ..passwords import hash_password
from . import errors
from .access import Principal

log = Logger()

OPERATOR_NAME = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9_.@-]{1,64}$")
ROLES = ("admin", "viewer")


class ApiLogin(NamedTuple):
    token: str
    csrf: str
    principal: Principal
    expires_at: float


class Session(NamedTuple):
    principal: Principal
    csrf: str
    expires_at: float


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


class ApiAuth:
    def __init__(self, store, clock, *, passwords, throttle, ttl: float = 43200.0, cache_seconds: float = 10.0,
                 cache_size: int = 10_000):
        self.store = store
        self.clock = clock
        self.passwords = passwords
        self.throttle = throttle
        self.ttl = ttl
        self.cache_seconds = cache_seconds
        self.cache_size = cache_size
        self._cache: collections.OrderedDict[str, tuple[float, Session]] = collections.OrderedDict()
        self.logins = 0
        self.failures = 0

    def now(self) -> float:
        return self.clock.seconds()

    @defer.inlineCallbacks
    def login(self, account: str, password: str, source: str | None):
        """An ApiLogin; raises TooManyFailures, NoSuchAccount, WrongPassword (never
        saying which of the last two to the caller is the interface's job)."""
        if not isinstance(account, str) or not isinstance(password, str) or not account or not password:
            raise errors.BadValue("account and password are required")
        address, key = source or "?", ("portal-login", account)
        if not self.throttle.allowed(address, key):
            raise errors.TooManyFailures("too many failed logins from this address",
                                         self.throttle.retry_after(address, key))
        if OPERATOR_NAME.match(account):
            found = yield self.store.operators.credentials(account)
            principal = found and Principal("operator", found.operator_id, account, found.role)
        else:
            found = yield self.store.users.active(account)
            principal = found and Principal("user", found.user_id, account, "user")
        if found is None:
            self._failed(address, key)
            raise errors.NoSuchAccount("no account %s" % (account[:64],))
        ok = yield self.passwords.check(password, found.password_hash)
        if not ok:
            self._failed(address, key)
            raise errors.WrongPassword("wrong password for %s" % (account,))
        self.throttle.succeeded(address, key)
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        now = self.now()
        yield self.store.api_tokens.open(token_hash(token), principal.kind, principal.id, csrf, source, now,
                                         now + self.ttl)
        self.logins += 1
        log.info("portal login: {kind} {name} from {source}", kind=principal.kind, name=account, source=address)
        return ApiLogin(token, csrf, principal, now + self.ttl)

    def _failed(self, address, key):
        self.failures += 1
        self.throttle.failed(address, key)

    @defer.inlineCallbacks
    def session(self, token: str | None):
        """The Session of a live token; raises NotAuthenticated."""
        if not token:
            raise errors.NotAuthenticated("no token")
        digest = token_hash(token)
        now = self.now()
        cached = self._cache.get(digest)
        if cached is not None and cached[0] > now and cached[1].expires_at > now:
            return cached[1]
        owner = yield self.store.api_tokens.owner(digest, now)
        if owner is None:
            self._cache.pop(digest, None)
            raise errors.NotAuthenticated("the token is unknown, expired or revoked")
        session = Session(Principal(owner.kind, owner.principal_id, owner.name, owner.role), owner.csrf,
                          owner.expires_at)
        self._cache[digest] = (now + self.cache_seconds, session)
        self._cache.move_to_end(digest)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return session

    @defer.inlineCallbacks
    def logout(self, token: str):
        digest = token_hash(token)
        self._cache.pop(digest, None)
        yield self.store.api_tokens.revoke(digest, self.now())

    @defer.inlineCallbacks
    def revoke_user(self, user_id: int):
        """Every token of the user goes (suspended, deleted, new password)."""
        for digest, (_, session) in list(self._cache.items()):
            if session.principal.kind == "user" and session.principal.id == user_id:
                del self._cache[digest]
        yield self.store.api_tokens.revoke_user(user_id, self.now())

    def purge(self) -> defer.Deferred:
        return self.store.api_tokens.purge(self.now())


class Operators:
    """Operators (``kandianctl operator add``): scrypt like users, in a thread."""

    def __init__(self, store, *, hash_password=hash_password):
        self.store = store
        self._hash = hash_password

    @defer.inlineCallbacks
    def add(self, name: str, password: str, role: str = "admin"):
        if not OPERATOR_NAME.match(name or ""):
            raise errors.BadValue("an operator name is 1 to 64 of A-Z a-z 0-9 _ . @ - with a letter: %r" % (name,))
        if role not in ROLES:
            raise errors.BadValue("role is admin or viewer")
        if not password:
            raise errors.BadValue("the password must not be empty")
        hashed = yield threads.deferToThread(self._hash, password)
        return (yield self.store.operators.add(name, hashed, role))

    def list(self) -> defer.Deferred:
        return self.store.operators.list()

    @defer.inlineCallbacks
    def set_password(self, name: str, password: str):
        if not password:
            raise errors.BadValue("the password must not be empty")
        hashed = yield threads.deferToThread(self._hash, password)
        found = yield self.store.operators.set_password_hash(name, hashed)
        if not found:
            raise errors.NoSuchAccount("no operator %s" % (name,))

    @defer.inlineCallbacks
    def delete(self, name: str):
        found = yield self.store.operators.delete(name)
        if not found:
            raise errors.NoSuchAccount("no operator %s" % (name,))
