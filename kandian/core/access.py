"""Who may see and steer which device, for the portal and the REST API (§2.1, §2.2).

A :class:`Principal` is an operator (role ``admin`` or ``viewer``) or a user
(an MCU account).  Operators see every device; a viewer only looks.  A user
sees the devices bound to them — owned, or shared read-only or with control —
and a device of anybody else is "not there" (NotBound), exactly as the SOAP
operations treat it.  Every portal operation on a device asks
:meth:`Access.device` first; the routes never decide.
"""

from __future__ import annotations

import attrs
from twisted.internet import defer

from . import errors

LEVELS = ("view", "control", "own", "operator")


@attrs.frozen
class Principal:
    kind: str  # "operator" | "user"
    id: int  # operator_id or user_id
    name: str  # operator name or mobile
    role: str  # "admin" | "viewer" | "user"

    @property
    def operator(self) -> bool:
        return self.kind == "operator"

    @property
    def admin(self) -> bool:
        return self.kind == "operator" and self.role == "admin"


def require_operator(principal: Principal, write: bool = False) -> None:
    """Forbidden unless *principal* is an operator (an admin when *write*)."""
    if not principal.operator:
        raise errors.Forbidden("for operators only")
    if write and not principal.admin:
        raise errors.Forbidden("a viewer cannot change anything")


def require_user(principal: Principal) -> None:
    if principal.operator:
        raise errors.Forbidden("for users only")


class Access:
    def __init__(self, store):
        self.store = store

    @defer.inlineCallbacks
    def device(self, principal: Principal, dev_id: str, level: str = "view"):
        """Check that *principal* may act on *dev_id* at *level* (LEVELS);
        for a user, answers ``(share_flag, can_control)``, for an operator None.
        Raises NoSuchDevice (operators), NotBound (users), Forbidden."""
        if level not in LEVELS:
            raise ValueError(level)
        if principal.operator:
            if level != "view" and not principal.admin:
                raise errors.Forbidden("a viewer cannot steer devices")
            exists = yield self.store.fleet.update(dev_id)
            if not exists:
                raise errors.NoSuchDevice("no device %s" % (dev_id,))
            return None
        bound = yield self.store.user_admin.access(principal.id, dev_id)
        if bound is None:
            raise errors.NotBound("%s is not bound to %s" % (dev_id, principal.name))
        share_flag, can_control = bound
        if level == "operator":
            raise errors.Forbidden("for operators only")
        if level == "own" and share_flag != 0:
            raise errors.Forbidden("only the owner may do this")
        if level == "control" and share_flag != 0 and not can_control:
            raise errors.Forbidden("a read-only share")
        return bound
