"""The group platform's side of AddDevice (§6.5 设备使用通告, §6.6 steps 4–7).

When a user adds a device this platform has never seen, the province platform
asks the group platform whether the device exists and its key is right.
:class:`IGroupPlatform` is that question; until the group-platform client
lands, :class:`ConfiguredGroupPlatform` answers from ``[mcu] group_platform``:
``refuse`` (the default: Result 3, power the device on first so it registers
here) or ``accept`` (trust the key the user typed and provision the device).
"""

from __future__ import annotations

from twisted.internet import defer
from zope.interface import Interface, implementer

ACCEPTED = 0
NO_SUCH_DEVICE = 3  # §6.5 / §8.5: "设备编号不存在，提示用户先进行设备上电再添加"


class IGroupPlatform(Interface):
    def device_usage(dev_id: str, dev_key: str) -> defer.Deferred:
        """Fires with §6.5's Result: 0 accepted, 3 no such device, 4 wrong key, 255 other."""


@implementer(IGroupPlatform)
class ConfiguredGroupPlatform:
    def __init__(self, mode: str):
        self.mode = mode

    def device_usage(self, dev_id: str, dev_key: str) -> defer.Deferred:
        return defer.succeed(ACCEPTED if self.mode == "accept" else NO_SUCH_DEVICE)
