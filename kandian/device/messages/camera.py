"""Camera settings the platform sets and queries (spec §7.5.6–§7.5.10, §7.5.32–§7.5.33).

Video channel parameters (0x60–0x61), Wi-Fi (0x62–0x63), PTZ (0x64) and
alarm switches (0x7C–0x7D).

The platform sends the ``*_REQ``, the device answers with the ``*_RES``. In
answers, what the device reports beyond Result and DevID is optional: a device
that fails (Result ≠ 0) has nothing to report.
"""

from __future__ import annotations

import attrs

from kandian.device.messages import items
from kandian.device.messages.base import (
    DeviceRequest,
    Message,
    StatusResponse,
    channel_no,
    dev_id,
    integer,
    register,
    repeated,
    text,
)

__all__ = [
    "SetChannelRequest",
    "SetChannelResponse",
    "GetChannelRequest",
    "GetChannelResponse",
    "GetWifiRequest",
    "GetWifiResponse",
    "SetWifiRequest",
    "SetWifiResponse",
    "PtzRequest",
    "PtzResponse",
    "SetAlarmRequest",
    "SetAlarmResponse",
    "GetAlarmRequest",
    "GetAlarmResponse",
]


@register
@attrs.frozen(kw_only=True)
class SetChannelRequest(Message):
    """§7.5.6 设备视频参数设置: a missing setting is left unchanged."""

    CMD = 0x60
    ROOT = "SET_CHANNEL_REQ"
    DevID: str = dev_id()
    ChannelNo: int = channel_no()
    StreamType: int = integer()  # 1 main, 2 sub
    FrameSize: int | None = integer(optional=True)
    FrameRate: int | None = integer(optional=True)
    RateType: int | None = integer(optional=True)  # 1 CBR, 2 VBR
    BitRate: int | None = integer(optional=True)  # 1 = 96 kbps … 13 = 4096 kbps
    AudioInput: int | None = integer(optional=True)  # 0 off, 1 on


@register
@attrs.frozen(kw_only=True)
class SetChannelResponse(StatusResponse):
    CMD = 0x60
    ROOT = "SET_CHANNEL_RES"


@register
@attrs.frozen(kw_only=True)
class GetChannelRequest(Message):
    """§7.5.7 设备视频参数查询."""

    CMD = 0x61
    ROOT = "GET_CHANNEL_REQ"
    DevID: str = dev_id()
    ChannelNo: int = channel_no()
    StreamType: int = integer()


@register
@attrs.frozen(kw_only=True)
class GetChannelResponse(StatusResponse):
    CMD = 0x61
    ROOT = "GET_CHANNEL_RES"
    FrameSize: int | None = integer(optional=True)
    FrameRate: int | None = integer(optional=True)
    RateType: int | None = integer(optional=True)
    BitRate: int | None = integer(optional=True)
    AudioInput: int | None = integer(optional=True)


@register
@attrs.frozen(kw_only=True)
class GetWifiRequest(DeviceRequest):
    """§7.5.8 无线网络查询: the device lists its ten strongest hotspots."""

    CMD = 0x62
    ROOT = "GET_WIFI_REQ"


@register
@attrs.frozen(kw_only=True)
class GetWifiResponse(StatusResponse):
    CMD = 0x62
    ROOT = "GET_WIFI_RES"
    WifiSSID: tuple[items.WifiSSID, ...] = repeated(items.WifiSSID)


@register
@attrs.frozen(kw_only=True)
class SetWifiRequest(Message):
    """§7.5.9 无线网络配置. Security 0 none, 1 WEP, 2 WPA-PSK, 3 WPA/WPA2-PSK, 4 WPA2-PSK, 5 other."""

    CMD = 0x63
    ROOT = "SET_WIFI_REQ"
    DevID: str = dev_id()
    SSID: str = text()
    Security: int = integer()
    Password: str | None = text(optional=True, secret=True)  # an open network has none


@register
@attrs.frozen(kw_only=True)
class SetWifiResponse(StatusResponse):
    CMD = 0x63
    ROOT = "SET_WIFI_RES"


@register
@attrs.frozen(kw_only=True)
class PtzRequest(Message):
    """§7.5.10 云台控制. PtzDirection 0 stop, 1 up, 2 down, 3 left, 4 right."""

    CMD = 0x64
    ROOT = "VIDEO_PTZ_REQ"
    DevID: str = dev_id()
    ChannelNo: int = channel_no()
    PtzDirection: int = integer()


@register
@attrs.frozen(kw_only=True)
class PtzResponse(StatusResponse):
    CMD = 0x64
    ROOT = "VIDEO_PTZ_RES"


@register
@attrs.frozen(kw_only=True)
class SetAlarmRequest(Message):
    """§7.5.32 设备报警开关设置. AlarmFlag 0 disarm, 1 arm; DIDONo for AlarmType 4."""

    CMD = 0x7C
    ROOT = "SET_ALARM_REQ"
    DevID: str = dev_id()
    ChannelNo: int = channel_no()
    AlarmType: int = integer()
    AlarmFlag: int = integer()
    DIDONo: int | None = integer(optional=True)


@register
@attrs.frozen(kw_only=True)
class SetAlarmResponse(StatusResponse):
    CMD = 0x7C
    ROOT = "SET_ALARM_RES"


@register
@attrs.frozen(kw_only=True)
class GetAlarmRequest(Message):
    """§7.5.33 设备报警开关查询."""

    CMD = 0x7D
    ROOT = "GET_ALARM_REQ"
    DevID: str = dev_id()
    ChannelNo: int = channel_no()
    AlarmType: int = integer()
    DIDONo: int | None = integer(optional=True)


@register
@attrs.frozen(kw_only=True)
class GetAlarmResponse(StatusResponse):
    CMD = 0x7D
    ROOT = "GET_ALARM_RES"
    AlarmFlag: int | None = integer(optional=True)
