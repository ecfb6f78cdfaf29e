"""Devices bound to accounts (§8.5 AddDevice, §8.6 DelDevice, §6.5 the group platform's check).

:meth:`Bindings.device` is THE access check of every device operation: a
live session of the account, and the device bound to it (owned or shared) —
a device of somebody else is "not there" to this account.  It is one store
query.  A DevKey a peer sends is checked only while the throttle allows it
for the peer's source address; a device owned by anyone answers AlreadyBound
before its key is compared, so the key of a bound device cannot be learnt
from the answers.
"""

from __future__ import annotations

from collections.abc import Callable

from twisted.internet import defer
from twisted.logger import Logger

from ..store.bindings import BoundDevice
from ..store.devices import DEV_ID, DeviceExists
from . import errors

log = Logger()

__all__ = ["Bindings", "BoundDevice"]


class Bindings:
    def __init__(self, store, clock, *, throttle, group, session_timeout: float,
                 online: Callable[[str], bool] = lambda dev_id: False,
                 reset: Callable[[str], defer.Deferred] | None = None):
        """*group*: an ``IGroupPlatform``; *reset*: sends a device §7.5.39
        RESET_DEFAULT (a Deferred), for a device its owner removed while online."""
        self.store = store
        self.clock = clock
        self.throttle = throttle
        self.group = group
        self.session_timeout = session_timeout
        self.online = online
        self.reset = reset

    def now(self) -> float:
        return self.clock.seconds()

    @defer.inlineCallbacks
    def device(self, account: str, session: str, dev_id: str, channel_no: int | None = None, control: bool = False):
        """The BoundDevice when *session* is a live session of *account* and
        the device is bound to it — with *channel_no*, and has that channel;
        with *control*, a share must be one that may steer the device (shares
        are read-only or with control, the portal's ``user_device.can_control``).
        Raises NoSuchAccount, SessionExpired, NotBound, NoSuchChannel, Forbidden (in that order)."""
        asked = -1 if channel_no is not None and channel_no < 0 else channel_no  # the session is checked first
        found, device = yield self.store.sessions.check_bound(account, session, dev_id, asked, self.now(),
                                                              self.session_timeout)
        if found is None:
            raise errors.NoSuchAccount("no account %s" % (account,))
        if not found.live:
            raise errors.SessionExpired("no live session of %s by that id" % (account,))
        if device is None:
            if channel_no is not None:
                bound = yield self.store.bindings.bound(found.user_id, dev_id)
                if bound is not None:
                    raise errors.NoSuchChannel("%s has no channel %s" % (dev_id, channel_no))
            raise errors.NotBound("%s is not bound to %s" % (dev_id, account))
        if control and device.share_flag:
            access = yield self.store.user_admin.access(device.user_id, dev_id)
            if access is None or not access[1]:
                raise errors.Forbidden("%s is shared read-only with %s" % (dev_id, account))
        return device

    @defer.inlineCallbacks
    def _user(self, account: str, session: str):
        found = yield self.store.sessions.check(account, session, self.now(), self.session_timeout)
        if found is None:
            raise errors.NoSuchAccount("no account %s" % (account,))
        if not found.live:
            raise errors.SessionExpired("no live session of %s by that id" % (account,))
        return found.user_id

    @defer.inlineCallbacks
    def add(self, account: str, session: str, dev_id: str, dev_key: str, source: str | None):
        """§8.5: bind the device to the account as its owner.  A device this
        platform has not seen is asked of the group platform (§6.5) and
        provisioned when it accepts.  Raises NoSuchAccount, SessionExpired,
        NoSuchDevice, TooManyFailures, AlreadyBound, WrongDevKey, UnknownToGroup, OverLimit."""
        user_id = yield self._user(account, session)
        yield self.bind(user_id, account, dev_id, dev_key, source)

    @defer.inlineCallbacks
    def bind(self, user_id: int, account: str, dev_id: str, dev_key: str, source: str | None):
        """:meth:`add` for a user already authenticated (the portal): the same
        checks but the session's."""
        if not DEV_ID.match(dev_id):
            raise errors.NoSuchDevice("not a DevID: %r" % (dev_id,))
        address, key = source or "?", ("devkey", dev_id)
        if not self.throttle.allowed(address, key):
            raise errors.TooManyFailures("too many wrong DevKeys from %s" % (address,),
                                         self.throttle.retry_after(address, key))
        stored, bound = yield self.store.bindings.key_and_binding(dev_id, user_id)
        if bound:
            # before the key: "wrong key" and "somebody else's" must not tell a right key from a wrong one
            raise errors.AlreadyBound("%s is already bound" % (dev_id,))
        if stored is None:
            try:
                yield self.group.device_usage(dev_id, dev_key)
            except errors.WrongDevKey:
                self.throttle.failed(address, key)
                raise
            try:
                yield self.store.devices.add(dev_id, dev_key, provisioned_by="group")
            except DeviceExists:
                pass
            stored = dev_key
        if stored != dev_key:
            self.throttle.failed(address, key)
            raise errors.WrongDevKey("wrong DevKey for %s" % (dev_id,))
        user = yield self.store.users.active(account)
        yield self.store.bindings.bind(user_id, dev_id, user.max_devices)
        log.info("{account} added device {dev_id}", account=account, dev_id=dev_id)

    @defer.inlineCallbacks
    def delete(self, account: str, session: str, dev_id: str, dev_key: str):
        """§8.6: the owner removes the device — every binding, shares included,
        goes, and an online device is reset to its factory settings (§7.5.39).
        Raises NoSuchAccount, SessionExpired, NotBound, SharedDevice, WrongDevKey."""
        device = yield self.device(account, session, dev_id)
        if device.share_flag:
            raise errors.SharedDevice("a shared device cannot be removed")
        if device.dev_key != dev_key:
            raise errors.WrongDevKey("wrong DevKey for %s" % (dev_id,))
        yield self.store.bindings.unbind_all(dev_id)
        log.info("{account} removed device {dev_id}", account=account, dev_id=dev_id)
        if self.reset is not None and self.online(dev_id):
            self.reset(dev_id).addCallbacks(
                lambda _: log.info("device {dev_id} reset to factory defaults", dev_id=dev_id),
                lambda f: log.warn("device {dev_id}: RESET_DEFAULT failed: {why}", dev_id=dev_id,
                                   why=f.getErrorMessage()))

    @defer.inlineCallbacks
    def share(self, account: str, session: str, dev_id: str, with_account: str):
        """Share a device the account owns with the account of *with_account*.
        Raises NoSuchAccount (either account), SessionExpired, NotBound,
        SharedDevice (only the owner shares), AlreadyBound."""
        device = yield self.device(account, session, dev_id)
        if device.share_flag:
            raise errors.SharedDevice("only the owner shares a device")
        other = yield self.store.users.active(with_account)
        if other is None:
            raise errors.NoSuchAccount("no account %s" % (with_account,))
        yield self.store.bindings.share(other.user_id, dev_id)
        log.info("{account} shared device {dev_id} with {other}", account=account, dev_id=dev_id,
                 other=with_account)
