"""The devices online on this node, by DevID (PRODUCT.md "Device link rules").

A second login of the same DevID replaces the first link; a link leaving
removes its entry only if it is still the registered one, so the old link of
a replaced device never marks the device offline.
"""

from __future__ import annotations

from twisted.internet import defer

from .link import DeviceOffline


class LinkRegistry:
    def __init__(self):
        self._links: dict[str, object] = {}

    def add(self, link, dev_id: str | None = None) -> None:
        """*link* is the link of *dev_id* (by default its own ``dev_id``)."""
        dev_id = dev_id if dev_id is not None else link.dev_id
        old = self._links.get(dev_id)
        self._links[dev_id] = link
        if old is not None and old is not link:
            old.replaced()

    def remove(self, link) -> bool:
        """True if *link* was the device's registered link (and is no more)."""
        if link.dev_id is not None and self._links.get(link.dev_id) is link:
            del self._links[link.dev_id]
            return True
        return False

    def peer_ip(self, dev_id: str) -> str | None:
        """The source address of the device's link, None when it is not online here."""
        link = self._links.get(dev_id)
        return link.peer[0] if link is not None else None

    def online(self, dev_id: str) -> bool:
        return dev_id in self._links

    def get(self, dev_id: str):
        """The link of *dev_id* online here, or None."""
        return self._links.get(dev_id)

    def call(self, dev_id: str, request) -> defer.Deferred:
        """Send a command to a device online here; DeviceOffline otherwise."""
        link = self._links.get(dev_id)
        if link is None:
            return defer.fail(DeviceOffline("device %s is not online" % (dev_id,)))
        return link.call(request)

    def __len__(self) -> int:
        return len(self._links)

    def __iter__(self):
        return iter(list(self._links.values()))
