"""Nested elements of the device link bodies.

Spec §7.5.2, §7.5.8, §7.5.13–§7.5.14, §7.5.21–§7.5.22, §7.5.24–§7.5.25.

Each class is one repeated (or optional) child element; its ``TAG`` is the
element name it travels under.
"""

from __future__ import annotations

import attrs

from kandian.device.messages.base import Item, channel_no, code, count, dev_id, integer, port, size, text

__all__ = ["Video", "Onvif", "WifiSSID", "WeekPolicy", "DayPolicy", "RecordFile", "IpcamChannel"]


@attrs.frozen(kw_only=True)
class Video(Item):
    """§7.5.2 ``<Video>``: one encoding capability of the device."""

    TAG = "Video"
    StreamType: int = code()  # 1 main stream, 2 sub stream
    FrameSize: int = code()


@attrs.frozen(kw_only=True)
class Onvif(Item):
    """§7.5.2 ``<Onvif>``: how to reach an IPC over ONVIF."""

    TAG = "Onvif"
    Port: int = port()
    Account: str = text()
    Password: str = text(secret=True)


@attrs.frozen(kw_only=True)
class WifiSSID(Item):
    """§7.5.8 ``<WifiSSID>``: one Wi-Fi hotspot the device can see."""

    TAG = "WifiSSID"
    SSID: str = text()
    Signal: int | None = integer(optional=True)  # 0…100, not enforced
    Security: int | None = integer(optional=True)
    InUse: int | None = integer(optional=True, aliases=("InUser",))


@attrs.frozen(kw_only=True)
class WeekPolicy(Item):
    """§7.5.13–14 ``<WeekPolicy>``: one weekly recording slot.

    ``PolicyID`` is numbered by the device: absent when the platform adds a
    policy, present when the device lists them.
    """

    TAG = "WeekPolicy"
    PolicyID: str | None = text(optional=True)
    StoreType: int = integer()  # 0 local, 1 天翼云
    StreamType: int = integer()
    Week: int = integer(minimum=1, maximum=7)
    StartTime: str = text()  # HH:MM
    EndTime: str = text()


@attrs.frozen(kw_only=True)
class DayPolicy(Item):
    """§7.5.24–25 ``<DayPolicy>``: one daily picture-capture slot."""

    TAG = "DayPolicy"
    PolicyID: str | None = text(optional=True)
    Interval: int = count()  # seconds
    StartTime: str = text()  # HH:MM
    EndTime: str = text()


@attrs.frozen(kw_only=True)
class RecordFile(Item):
    """§7.5.22 ``<File>``: one recording found on the device."""

    TAG = "File"
    FileName: str = text()
    FileSize: int | None = size(optional=True)  # bytes
    StartTime: str | None = text(optional=True)  # YYYYMMDDHHMM
    EndTime: str | None = text(optional=True)


@attrs.frozen(kw_only=True)
class IpcamChannel(Item):
    """§7.5.21 ``<Channel>``: an NVR channel and the IPC bound to it."""

    TAG = "Channel"
    ChannelNo: int = channel_no()
    IpcamDevID: str = dev_id()
