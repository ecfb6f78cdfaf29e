"""Users as operators manage them and as they manage themselves (§2.1 self-service, §2.2 user management).

Operators (admin) add, suspend, resume and delete accounts, set their
maximum of devices and reset passwords; a viewer only looks.  A user changes
their own password and shares a device they own with another account,
read-only or with control.  Suspending, deleting or resetting a password
revokes the account's portal tokens and ends its MCU sessions.  The maximum
of devices and a deletion go through :class:`~kandian.core.accounts.Accounts`,
which tells the group platform (§6.3, §6.4) when one is configured.
"""

from __future__ import annotations

import secrets
from typing import NamedTuple

from twisted.internet import defer, threads
from twisted.logger import Logger

from ..passwords import hash_password
from ..store.user_admin import SORTS
from . import errors
from .access import Principal, require_operator, require_user
from .fleet import Page, paging, sorting

log = Logger()


class UserView(NamedTuple):
    account: object  # kandian.store.user_admin.Account
    bindings: list  # [Binding]


class UserAdmin:
    def __init__(self, store, clock, *, accounts, auth, access, passwords, hash_password=hash_password):
        """*accounts*: :class:`kandian.core.accounts.Accounts` (adding users);
        *auth*: :class:`kandian.core.apiauth.ApiAuth` (revoking tokens);
        *passwords*: a :class:`kandian.core.credentials.PasswordChecker`."""
        self.store = store
        self.clock = clock
        self.accounts = accounts
        self.auth = auth
        self.access = access
        self.passwords = passwords
        self._hash = hash_password

    def now(self) -> float:
        return self.clock.seconds()

    @defer.inlineCallbacks
    def page(self, principal: Principal, q: str | None = None, status: str | None = None, sort: str = "mobile",
             page: int = 1, per_page: int = 50):
        require_operator(principal)
        offset, limit = paging(page, per_page)
        key, descending = sorting(sort, SORTS)
        if status not in (None, "active", "suspended"):
            raise errors.BadValue("status is active or suspended")
        total, rows = yield self.store.user_admin.page(q, status, key, descending, offset, limit)
        return Page(total, page, per_page, rows)

    @defer.inlineCallbacks
    def _account(self, mobile: str):
        account = yield self.store.user_admin.get(mobile)
        if account is None:
            raise errors.NoSuchAccount("no account %s" % (mobile,))
        return account

    @defer.inlineCallbacks
    def get(self, principal: Principal, mobile: str):
        """An operator sees any account, a user their own (another is not there)."""
        if not principal.operator and mobile != principal.name:
            raise errors.NoSuchAccount("no account %s" % (mobile,))
        account = yield self._account(mobile)
        bindings = yield self.store.user_admin.bindings(account.user_id)
        return UserView(account, bindings)

    @defer.inlineCallbacks
    def add(self, principal: Principal, mobile: str, password: str, max_devices: int = 4):
        require_operator(principal, write=True)
        if not isinstance(mobile, str) or not isinstance(password, str):
            raise errors.BadValue("mobile and password are strings")
        if isinstance(max_devices, bool) or not isinstance(max_devices, int):
            raise errors.BadValue("max_devices is an integer")
        user_id = yield self.accounts.add(mobile, password, max_devices)
        log.info("{who} added user {mobile}", who=principal.name, mobile=mobile)
        return user_id

    @defer.inlineCallbacks
    def change(self, principal: Principal, mobile: str, fields: dict):
        """Suspend or resume (``status``), set the maximum of devices (``max_devices``)."""
        require_operator(principal, write=True)
        unknown = sorted(set(fields) - {"status", "max_devices"})
        if unknown:
            raise errors.BadValue("cannot change %s" % ", ".join(unknown))
        status, max_devices = fields.get("status"), fields.get("max_devices")
        if status not in (None, "active", "suspended"):
            raise errors.BadValue("status is active or suspended")
        if max_devices is not None and (isinstance(max_devices, bool) or not isinstance(max_devices, int)
                                        or not 0 <= max_devices <= 10_000):
            raise errors.BadValue("max_devices is 0 to 10000")
        account = yield self._account(mobile)
        if max_devices is not None:
            # through the accounts, which tell the group platform (§6.3)
            yield self.accounts.set_max_devices(account.mobile, max_devices)
        if status is not None and status != account.status:
            yield self.store.user_admin.set_status(account.user_id, status, self.now())
            if status != "active":
                yield self.auth.revoke_user(account.user_id)
        log.info("{who} changed user {mobile}: status {status}, max devices {max_devices}", who=principal.name,
                 mobile=mobile, status=status or "unchanged",
                 max_devices="unchanged" if max_devices is None else max_devices)

    @defer.inlineCallbacks
    def delete(self, principal: Principal, mobile: str):
        require_operator(principal, write=True)
        account = yield self._account(mobile)
        yield self.auth.revoke_user(account.user_id)
        yield self.accounts.cancel(account.mobile)  # tells the group platform (§6.4)
        log.info("{who} deleted user {mobile}", who=principal.name, mobile=mobile)

    @defer.inlineCallbacks
    def reset_password(self, principal: Principal, mobile: str, password: str | None = None):
        """Set a new password (8 digits made up when *password* is None, and answered)."""
        require_operator(principal, write=True)
        if password is not None and (not isinstance(password, str) or not password):
            raise errors.BadValue("the password must not be empty")
        account = yield self._account(mobile)
        made = password is None
        if made:
            password = "".join(secrets.choice("0123456789") for _ in range(8))
        hashed = yield threads.deferToThread(self._hash, password)
        yield self.store.users.set_password_hash(account.user_id, hashed, self.now())
        yield self.auth.revoke_user(account.user_id)
        log.info("{who} reset the password of {mobile}", who=principal.name, mobile=mobile)
        return password if made else None

    @defer.inlineCallbacks
    def change_password(self, principal: Principal, old: str, new: str):
        """A user's own new password, the old one checked (WrongPassword)."""
        require_user(principal)
        if not isinstance(old, str) or not isinstance(new, str) or not new:
            raise errors.BadValue("old and new passwords are required")
        if len(new) < 6:
            raise errors.BadValue("a password has at least 6 characters")
        found = yield self.store.users.active(principal.name)
        if found is None:
            raise errors.NotAuthenticated("the account is gone")
        ok = yield self.passwords.check(old, found.password_hash)
        if not ok:
            raise errors.WrongPassword("wrong password for %s" % (principal.name,))
        hashed = yield threads.deferToThread(self._hash, new)
        yield self.store.users.set_password_hash(found.user_id, hashed, self.now())
        log.info("{mobile} changed their password", mobile=principal.name)

    # -- sharing

    @defer.inlineCallbacks
    def shares(self, principal: Principal, dev_id: str):
        yield self.access.device(principal, dev_id, "own" if not principal.operator else "view")
        return (yield self.store.user_admin.shares(dev_id))

    @defer.inlineCallbacks
    def share(self, principal: Principal, dev_id: str, mobile: str, can_control: bool):
        """The owner shares a device with the account of *mobile*."""
        require_user(principal)
        yield self.access.device(principal, dev_id, "own")
        if not isinstance(mobile, str) or not isinstance(can_control, bool):
            raise errors.BadValue("mobile is a string, control a boolean")
        other = yield self.store.users.active(mobile)
        if other is None:
            raise errors.NoSuchAccount("no account %s" % (mobile,))
        yield self.store.user_admin.share(other.user_id, dev_id, can_control, self.now())
        log.info("{who} shared device {dev_id} with {mobile} ({how})", who=principal.name, dev_id=dev_id,
                 mobile=mobile, how="control" if can_control else "read-only")

    @defer.inlineCallbacks
    def unshare(self, principal: Principal, dev_id: str, mobile: str):
        """The owner (or an admin) ends a share."""
        yield self.access.device(principal, dev_id, "own" if not principal.operator else "control")
        account = yield self.store.user_admin.get(mobile)
        ended = account is not None and (yield self.store.user_admin.unshare(account.user_id, dev_id))
        if not ended:
            raise errors.NotBound("%s is not shared with %s" % (dev_id, mobile))
