"""Accounts and their sessions (§8.1 GetSmsPassword, §8.2 McuLogin, §8.3 McuLogout, §8.4 RefreshDevList).

A secret a peer sends is checked only while the
:class:`kandian.throttle.FailureThrottle` allows it for the peer's source
address: failures count per address and per (account, address), so a
guessing address is stopped, for every account, before any scrypt runs, while
the owner on another address is not.  ``source`` is the peer's transport
address, never a forwarded-for header.
"""

from __future__ import annotations

import collections
import re
import secrets
from collections.abc import Callable
from typing import NamedTuple

from twisted.internet import defer, threads
from twisted.logger import Logger

from ..passwords import hash_password
from . import errors
from .credentials import version_supported

log = Logger()

VERIFIED_ACCOUNTS = 100_000  # accounts whose last verified hash is kept (Accounts._remember)
MOBILE = re.compile(r"^[0-9]{5,20}$")


class Login(NamedTuple):
    session: str
    max_devices: int
    devices: list  # [ListedChannel], online as the platform sees it now


class Accounts:
    def __init__(self, store, clock, *, passwords, throttle, sms, online: Callable[[str], bool] = lambda dev_id: False,
                 session_timeout: float, version_floors: dict[str, str], sms_interval: float, sms_daily_limit: int,
                 hash_password=hash_password, tell_group: bool = False):
        """*passwords*: a :class:`.credentials.PasswordChecker`; *sms*: an
        ``ISmsSender``; *online*: whether a device has a live link (its stored
        flag may lag); *version_floors*: the lowest client version per platform
        letter (A, I, W); *tell_group*: queue each user's open, change and
        cancel for the group platform (§6.2–§6.4, sent by :mod:`.group`)."""
        self.store = store
        self.clock = clock
        self.passwords = passwords
        self.throttle = throttle
        self.sms = sms
        self.online = online
        self.session_timeout = session_timeout
        self.version_floors = version_floors
        self.sms_interval = sms_interval
        self.sms_daily_limit = sms_daily_limit
        self._hash = hash_password
        self.tell_group = tell_group
        # account → (user_id, stored hash its password last matched): see _remember
        self._verified: collections.OrderedDict[str, tuple[int, str]] = collections.OrderedDict()

    def now(self) -> float:
        return self.clock.seconds()

    # -- the operator's

    @defer.inlineCallbacks
    def add(self, mobile: str, password: str, max_devices: int = 4):
        """A new account: its user_id; BadValue or AccountExists.  scrypt runs in a thread."""
        if not MOBILE.match(mobile):
            raise errors.BadValue("mobile number must be 5 to 20 digits: %r" % (mobile,))
        if max_devices < 0:
            raise errors.BadValue("max devices must be 0 or more")
        if not password:
            raise errors.BadValue("the password must not be empty")
        hashed = yield threads.deferToThread(self._hash, password)
        return (yield self.store.users.add(mobile, hashed, max_devices, group_at=self._group_at()))

    def set_max_devices(self, mobile: str, max_devices: int) -> defer.Deferred:
        """The devices the account may own (§8.2 DevNum, §6.3 IpcamNum); BadValue or NoSuchAccount."""
        if max_devices < 0:
            return defer.fail(errors.BadValue("max devices must be 0 or more"))
        return self.store.users.set_max_devices(mobile, max_devices, group_at=self._group_at())

    def cancel(self, mobile: str) -> defer.Deferred:
        """Close the account (§6.4): its sessions and bindings go with it; NoSuchAccount."""
        return self.store.users.cancel(mobile, group_at=self._group_at())

    def _group_at(self) -> float | None:
        return self.now() if self.tell_group else None

    def list(self) -> defer.Deferred:
        """Every account: [kandian.store.users.User]."""
        return self.store.users.list()

    @defer.inlineCallbacks
    def set_alarm_sms(self, mobile: str, on: bool):
        """Switch the account's alarm SMS on or off (§7.5.34); raises NoSuchAccount."""
        found = yield self.store.users.set_alarm_sms(mobile, on)
        if not found:
            raise errors.NoSuchAccount("no user %s" % (mobile,))

    # -- sessions

    def _live(self, session, what: str):
        if session is None:
            raise errors.NoSuchAccount("no account %s" % (what,))
        if not session.live:
            raise errors.SessionExpired("no live session of %s by that id" % (what,))
        return session

    def listed(self, channels) -> list:
        """*channels* with ``online`` as the links see it now."""
        online = self.online
        return [c._replace(online=True) if not c.online and online(c.dev_id) else c for c in channels]

    @defer.inlineCallbacks
    def login(self, account: str, password: str, version: str, source: str | None):
        """§8.2: a new session and the account's device list (Login); raises
        TooManyFailures, NoSuchAccount, WrongPassword, VersionTooLow."""
        address, key = source or "?", ("login", account)
        if not self.throttle.allowed(address, key):
            raise errors.TooManyFailures("too many failed logins from this address",
                                         self.throttle.retry_after(address, key))
        known = self._verified.get(account)
        if (known is not None and self.passwords.remembered(password, known[1])
                and version_supported(version, self.version_floors)):
            # the password matched this stored hash a moment ago: the session is opened, in one round trip,
            # only if the account is still active with that hash; otherwise the full check below decides
            opened = yield self.store.sessions.open_verified(known[0], account, known[1], version, source,
                                                             self.now())
            if opened is not None:
                self.throttle.succeeded(address, key)
                session, max_devices, channels = opened
                return Login(session, max_devices, self.listed(channels))
        user = yield self.store.users.active(account)
        if user is None:
            self.throttle.failed(address, key)  # guessing accounts is guessing too
            raise errors.NoSuchAccount("no account %s" % (account,))
        verified = user.password_hash
        ok = yield self.passwords.check(password, verified)
        if not ok and user.pending_password_hash:
            # §8.1: the password sent by SMS replaces the old one when first used
            ok = yield self.passwords.check(password, user.pending_password_hash)
            if ok:
                verified = user.pending_password_hash
                yield self.store.users.use_pending_password_hash(user.user_id, verified, self.now())
        if not ok:
            self.throttle.failed(address, key)
            raise errors.WrongPassword("wrong password for %s" % (account,))
        self.throttle.succeeded(address, key)
        self._remember(account, user.user_id, verified)
        if not version_supported(version, self.version_floors):
            raise errors.VersionTooLow("client version %r" % (version,))
        session, channels = yield self.store.sessions.open_listing(user.user_id, version, source, self.now())
        return Login(session, user.max_devices, self.listed(channels))

    def _remember(self, account: str, user_id: int, password_hash: str) -> None:
        """The account's user and the stored hash its password was last verified against: a hint for the
        next login's one-round-trip path (the store rechecks both; the password check's own record says
        whether the password is the one verified)."""
        self._verified[account] = (user_id, password_hash)
        self._verified.move_to_end(account)
        while len(self._verified) > VERIFIED_ACCOUNTS:
            self._verified.popitem(last=False)

    @defer.inlineCallbacks
    def verify(self, account: str, password: str, source: str | None):
        """The active user of *account* when *password* is its password, without
        opening a session (the compatibility APIs send both with each request);
        raises TooManyFailures, NoSuchAccount, WrongPassword — counted in the
        throttle as McuLogin's are."""
        address, key = source or "?", ("login", account)
        if not self.throttle.allowed(address, key):
            raise errors.TooManyFailures("too many failed logins from this address",
                                         self.throttle.retry_after(address, key))
        user = yield self.store.users.active(account)
        if user is None:
            self.throttle.failed(address, key)
            raise errors.NoSuchAccount("no account %s" % (account,))
        ok = yield self.passwords.check(password, user.password_hash)
        if not ok:
            self.throttle.failed(address, key)
            raise errors.WrongPassword("wrong password for %s" % (account,))
        self.throttle.succeeded(address, key)
        return user

    @defer.inlineCallbacks
    def user(self, account: str, session: str):
        """The user_id of *account* when *session* is a live session of it;
        raises NoSuchAccount, SessionExpired.  Touches the session."""
        found = yield self.store.sessions.check(account, session, self.now(), self.session_timeout)
        return self._live(found, account).user_id

    @defer.inlineCallbacks
    def logout(self, account: str, session: str):
        """§8.3: end the session; raises NoSuchAccount, SessionExpired."""
        yield self.user(account, session)
        yield self.store.sessions.end(session, self.now())

    @defer.inlineCallbacks
    def devices(self, account: str, session: str):
        """§8.4: the account's device list, [ListedChannel]; raises NoSuchAccount, SessionExpired."""
        found, channels = yield self.store.sessions.check_listing(account, session, self.now(),
                                                                  self.session_timeout)
        self._live(found, account)
        return self.listed(channels)

    # -- §8.1

    @defer.inlineCallbacks
    def sms_password(self, mobile: str):
        """Send the account of *mobile* a new password by SMS; the old one
        stays valid until the new one is first used.  Raises SmsNotSent (no
        gateway, no such account, the rate limit, the message could not be
        queued), nothing changing then."""
        if not self.sms.delivers:
            # a new password nobody receives would lock the owner out (and anyone could ask for it)
            raise errors.SmsNotSent("no SMS gateway configured")
        user = yield self.store.users.active(mobile)
        if user is None:
            raise errors.SmsNotSent("no account %s" % (mobile,))
        allowed = yield self.store.sms_requests.allow(mobile, self.now(), self.sms_interval, self.sms_daily_limit)
        if not allowed:
            raise errors.SmsNotSent("SMS rate limit for %s" % (mobile,))
        password = "".join(secrets.choice("0123456789") for _ in range(8))
        hashed = yield threads.deferToThread(self._hash, password)
        # pending first: a pending password nobody was sent changes nothing,
        # while a password sent before it is stored would not work
        yield self.store.users.set_pending_password_hash(user.user_id, hashed)
        text = "您的手机看店登录密码为 %s，请妥善保管。"
        try:
            yield self.sms.send(mobile, text % (password,), "password", text % ("*" * len(password),))
        except Exception as e:
            log.warn("SMS to {mobile} failed: {why}", mobile=mobile, why=e)
            raise errors.SmsNotSent("SMS not queued") from None
