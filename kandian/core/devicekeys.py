"""API keys of the device-cloud video API (spec/001 §1.2, §1.4; PRODUCT.md "Compatibility APIs").

A request carries one key, and :meth:`KeyAuth.authenticate` turns it into a
:class:`Grant`:

* a **master key** (``kandianctl apikey add NAME --master``, checked by the
  core's API key table, ``core.apikeys.check(key) -> (name, master) | None``)
  may do everything;
* a **device key** may act on its one device only (§1.2: "api-key只可以操作这个设备").
  It is ``<DevID><24 characters>``, the characters an HMAC of the platform
  secret over the DevID and a salt kept with the device's profile
  (:mod:`kandian.store.profiles`) — so it can be shown again (§1.4's
  ``keys``) without being stored, and dies with the device (a key checked is
  remembered a few seconds: another node's deletion reaches this one within them);
* a key of the table that is not a master key belongs to another API: it is
  known, and may do nothing here.

Failed checks count in a :class:`kandian.throttle.FailureThrottle` per source
address, so a guesser is stopped before the store is asked.  Keys are never
logged; a grant's ``name`` (the master key's name, or ``device-key:DevID``) is.
"""

from __future__ import annotations

import base64
import collections
import re
import secrets
from typing import NamedTuple

from twisted.internet import defer
from twisted.logger import Logger

from . import errors
from .access import Principal

log = Logger()

KEY_TITLE = "device-auto-key"  # §1.4's title of the key a device is created with
_DEVICE_KEY = re.compile(r"^([0-9]{11})([A-Z2-7]{24})$")
MAX_KEY = 256


class Grant(NamedTuple):
    """What one key may do."""

    name: str
    master: bool
    dev_id: str | None  # a device key's device
    principal: Principal  # whom the core sees acting

    def device(self, dev_id: str) -> None:
        """Forbidden unless this key may act on *dev_id*."""
        if not self.master and self.dev_id != dev_id:
            raise errors.Forbidden("this key may not act on device %s" % (dev_id,))

    def require_master(self) -> None:
        if not self.master:
            raise errors.Forbidden("a master key is needed")

    def scope(self) -> str | None:
        """The one DevID this key is limited to; None for a master key; Forbidden for a key of another API."""
        if self.master:
            return None
        if self.dev_id is None:
            raise errors.Forbidden("a key of another API")
        return self.dev_id


def _principal(name: str) -> Principal:
    # the compatibility API acts as an operator on the devices its key reaches
    return Principal("operator", 0, name, "admin")


class DeviceKeys:
    def __init__(self, store, keys, clock=None, *, cache_seconds: float = 10.0, cache_size: int = 10_000):
        """*keys*: :class:`kandian.core.keys.Keys`; a key checked is remembered *cache_seconds* of *clock*
        (none without a clock): a device deleted on another node loses its key here within that time."""
        self.store = store
        self.keys = keys
        self.clock = clock
        self.cache_seconds = cache_seconds
        self.cache_size = cache_size
        self._cache: collections.OrderedDict[str, tuple[float, str]] = collections.OrderedDict()

    @staticmethod
    def new_salt() -> str:
        return secrets.token_hex(16)

    def derive(self, dev_id: str, salt: str) -> str:
        mac = self.keys.derive("device-api-key", dev_id, salt)
        return dev_id + base64.b32encode(mac).decode("ascii")[:24]

    @defer.inlineCallbacks
    def key(self, dev_id: str, salt: str | None = None):
        """The device's key (*salt*: its salt if known; one is made now if it had none); NoSuchDevice."""
        if salt is not None:
            return self.derive(dev_id, salt)
        salt = yield self.store.profiles.ensure_salt(dev_id, self.new_salt())
        if salt is None:
            raise errors.NoSuchDevice("no device %s" % (dev_id,))
        return self.derive(dev_id, salt)

    @defer.inlineCallbacks
    def check(self, key: str):
        """The DevID whose key *key* is, or None."""
        match = _DEVICE_KEY.match(key)
        if match is None:
            return None
        now = self.clock.seconds() if self.clock is not None else None
        cached = self._cache.get(key)
        if cached is not None and now is not None and cached[0] > now:
            return cached[1]
        dev_id = match.group(1)
        salt = yield self.store.profiles.key_salt(dev_id)
        if salt is None or not secrets.compare_digest(self.derive(dev_id, salt), key):
            self._cache.pop(key, None)
            return None
        if now is not None:
            self._cache[key] = (now + self.cache_seconds, dev_id)
            self._cache.move_to_end(key)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return dev_id

    def forget(self, dev_id: str) -> None:
        """The device is gone: its key no longer passes on this node."""
        for key in [k for k, (_, d) in self._cache.items() if d == dev_id]:
            del self._cache[key]


class KeyAuth:
    def __init__(self, device_keys: DeviceKeys, apikeys=None, *, throttle=None):
        """*apikeys*: the core's API key table (``check(key)`` → (name, master) or None, or a
        Deferred of it); None until there is one: master keys are then unknown."""
        self.device_keys = device_keys
        self.apikeys = apikeys
        self.throttle = throttle
        self.failures = 0

    @defer.inlineCallbacks
    def authenticate(self, key: str | None, source: str | None):
        """The Grant of *key*; NotAuthenticated (no key, an unknown one), TooManyFailures."""
        if not key:
            raise errors.NotAuthenticated("no api-key")
        address, account = source or "?", "api-key"
        throttle = self.throttle
        if throttle is not None and not throttle.allowed(address, account):
            raise errors.TooManyFailures("too many unknown api-keys from this address",
                                         throttle.retry_after(address, account))
        grant = None
        if len(key) <= MAX_KEY:
            dev_id = yield self.device_keys.check(key)
            if dev_id is not None:
                name = "device-key:%s" % dev_id
                grant = Grant(name, False, dev_id, _principal(name))
            elif self.apikeys is not None:
                found = yield defer.maybeDeferred(self.apikeys.check, key)
                if found is not None:
                    name, master = found
                    grant = Grant(name, bool(master), None, _principal("apikey:%s" % (name,)))
        if grant is None:
            self.failures += 1
            if throttle is not None:
                throttle.failed(address, account)
            raise errors.NotAuthenticated("unknown api-key")
        if throttle is not None:
            throttle.succeeded(address, account)
        return grant
