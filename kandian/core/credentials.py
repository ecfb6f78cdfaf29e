"""Password checks for a login (§8.2 McuLogin) and the client version floor.

scrypt costs tens of milliseconds of CPU (docs/benchmarks.md, "SOAP", first
logins), so it runs in the reactor's thread pool, never on the reactor thread.
A client that logs in again with the same password (the app does so on every
start and after every session expiry) is checked against a short-lived
in-memory record of the last successful check instead: an HMAC of the password
under a key that lives only in this process, tied to the stored hash it was
verified against.  A changed password changes the stored hash and so misses
the record; a restart forgets them all.  Nothing reversible is kept, and a
wrong password always costs a full scrypt.
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import re
import secrets

from twisted.internet import defer, threads

from ..passwords import verify_password

_VERSION = re.compile(r"^([AIW])-(\d+(?:\.\d+)*)$")


def parse_version(version: str) -> tuple[str, tuple[int, ...]] | None:
    """``A-1.0`` → ("A", (1, 0)); None when it is not a §8.2 version string."""
    match = _VERSION.match(version.strip())
    if not match:
        return None
    return match.group(1), tuple(int(part) for part in match.group(2).split("."))


def version_supported(version: str, floors: dict[str, str]) -> bool:
    """True when *version* is at least the floor configured for its platform."""
    parsed = parse_version(version)
    if parsed is None:
        return False
    floor = parse_version(floors.get(parsed[0], ""))
    return floor is None or _padded(parsed[1]) >= _padded(floor[1])


def _padded(parts: tuple[int, ...]) -> tuple[int, ...]:
    return parts + (0,) * (4 - len(parts))


class PasswordChecker:
    """Checks a password against its stored hash, remembering recent successes."""

    def __init__(self, clock, *, remember: float = 600.0, capacity: int = 100_000, verify=verify_password):
        self.clock = clock
        self.remember = remember
        self.capacity = capacity
        self._verify = verify
        self._key = secrets.token_bytes(32)
        self._recent: collections.OrderedDict[bytes, float] = collections.OrderedDict()

    def _mark(self, password: str, stored: str) -> bytes:
        return hmac.new(self._key, stored.encode() + b"\x00" + password.encode("utf-8"), hashlib.sha256).digest()

    def remembered(self, password: str, stored: str) -> bool:
        """Whether *password* was checked against *stored* within ``remember`` seconds and matched
        (no scrypt: a miss says nothing about the password)."""
        seen = self._recent.get(self._mark(password, stored))
        return seen is not None and self.clock.seconds() - seen < self.remember

    @defer.inlineCallbacks
    def check(self, password: str, stored: str):
        if self.remembered(password, stored):
            return True
        ok = yield threads.deferToThread(self._verify, password, stored)
        if ok:
            mark = self._mark(password, stored)
            now = self.clock.seconds()
            self._recent[mark] = now
            self._recent.move_to_end(mark)
            while len(self._recent) > self.capacity:
                self._recent.popitem(last=False)
        return ok
