"""The local device router: :class:`~kandian.core.interfaces.IDeviceRouter` over this node's links
(§7.4, §7.5.6–§7.5.39).

Commands go to the link in the :class:`~kandian.device.registry.LinkRegistry`;
the link's own failures (:class:`~kandian.device.link.CommandError` and its
kinds) become the core's: no link or a link lost before the answer is
``DeviceOffline``, a refusal, a timeout or an undecodable answer is
``DeviceRefused`` (a timeout its kind ``DeviceTimeout``).  A multi-node router implements the same interface.
"""

from __future__ import annotations

from twisted.internet import defer
from zope.interface import implementer

from ..core import errors
from ..core.interfaces import IDeviceRouter
from .link import CommandError, CommandTimeout, DeviceOffline, LinkLost


def _domain(failure):
    if failure.check(DeviceOffline, LinkLost):
        raise errors.DeviceOffline(str(failure.value))
    if failure.check(CommandTimeout):
        raise errors.DeviceTimeout(str(failure.value))
    if failure.check(CommandError):
        raise errors.DeviceRefused(str(failure.value), getattr(failure.value, "result", None))
    return failure


@implementer(IDeviceRouter)
class LocalRouter:
    def __init__(self, registry):
        self.registry = registry

    def online(self, dev_id: str) -> bool:
        return self.registry.online(dev_id)

    def peer_ip(self, dev_id: str) -> str | None:
        return self.registry.peer_ip(dev_id)

    def call(self, dev_id: str, request) -> defer.Deferred:
        return self.registry.call(dev_id, request).addErrback(_domain)

    def attach(self, dev_id: str, link) -> bool:
        """*link* is *dev_id*'s link from now on (an older one is replaced);
        False, and nothing changes, when *link* is already closing."""
        if link.closing:
            return False
        self.registry.add(link, dev_id)
        return True

    def detach(self, link) -> bool:
        """*link* closed; True if it was its device's link."""
        return self.registry.remove(link)
