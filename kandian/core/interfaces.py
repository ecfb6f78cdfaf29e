"""The seams of the core: what it needs from the world, as zope interfaces.

The core is written against these; ``service.py`` plugs in the real ones
(the link registry's router, the SMS gateway, the group platform) and tests
plug in fakes.
"""

from __future__ import annotations

from zope.interface import Attribute, Interface


class IDeviceRouter(Interface):
    """Reaches a device's link, wherever it is (this node today; another node later)."""

    def online(dev_id):
        """Whether the device has a live link."""

    def call(dev_id, request):
        """Send a §7.5 platform→device request; a Deferred of its typed answer.

        Fails with DeviceOffline, or DeviceRefused (a non-zero Result, no
        answer in time, a malformed answer)."""

    def peer_ip(dev_id):
        """The source address of the device's link, or None when offline."""

    def attach(dev_id, link):
        """A link of this node logged in as *dev_id*: route to it (replacing an
        older link); False when *link* is already closing."""

    def detach(link):
        """A link of this node closed; True if it was its device's link."""


class IDeviceEvents(Interface):
    """Told by the core's devices of what concerns more than the link (the upgrade campaigns).
    Both calls return nothing and never raise: their failures are their own."""

    def logged_in(dev_id, dev_ver):
        """*dev_id* logged in reporting firmware *dev_ver* (§7.5.1)."""

    def exception_reported(dev_id, exception_type, desc):
        """*dev_id*'s EXCEPTION_NOTIFY_REQ (§7.5.4) was stored."""


class IAlarmNotifier(Interface):
    """Told of every stored alarm (after §7.5.34's de-duplication); SMS implements it."""

    def alarm_stored(alarm):
        """*alarm* was committed; return nothing (failures are the notifier's own)."""


class ISmsSender(Interface):
    delivers = Attribute("Whether a message sent reaches a phone (False: no gateway configured)")

    def send(mobile, text):
        """A Deferred that fires once the gateway accepted the message."""


class IGroupPlatform(Interface):
    def device_usage(dev_id, dev_key):
        """§6.5 DEVICE_USE_REQ: a Deferred that fires (None) when the group platform
        accepts the device and key, and fails with WrongDevKey, or UnknownToGroup
        carrying the group platform's Result, when it does not."""
