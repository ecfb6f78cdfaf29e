"""The group platform's side of AddDevice (§6.5 设备使用通告, §6.6 steps 4–7).

When a user adds a device this platform has never seen, the province platform
asks the group platform whether the device exists and its key is right
(:class:`kandian.core.interfaces.IGroupPlatform`).  Until the group-platform
client lands, :class:`ConfiguredGroupPlatform` answers from ``[mcu]
group_platform``: ``refuse`` (the default: §6.5's Result 3, power the device
on first so it registers here) or ``accept`` (trust the key the user typed and
provision the device).
"""

from __future__ import annotations

from twisted.internet import defer
from zope.interface import implementer

from .core.errors import UnknownToGroup, WrongDevKey
from .core.interfaces import IGroupPlatform

# §6.5 DEVICE_USE_RES Results
ACCEPTED, NO_SUCH_DEVICE, WRONG_KEY = 0, 3, 4


def verdict(result: int, dev_id: str) -> defer.Deferred:
    """The IGroupPlatform answer for §6.5's *result*."""
    if result == ACCEPTED:
        return defer.succeed(None)
    if result == WRONG_KEY:
        return defer.fail(WrongDevKey("the group platform says the DevKey of %s is wrong" % (dev_id,)))
    return defer.fail(UnknownToGroup("the group platform says %d for %s" % (result, dev_id), result))


@implementer(IGroupPlatform)
class ConfiguredGroupPlatform:
    def __init__(self, mode: str):
        self.mode = mode

    def device_usage(self, dev_id: str, dev_key: str) -> defer.Deferred:
        return verdict(ACCEPTED if self.mode == "accept" else NO_SUCH_DEVICE, dev_id)
