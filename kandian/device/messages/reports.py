"""Bodies of the exchanges the device starts (spec §7.5.1–§7.5.5, §7.5.23, §7.5.27, §7.5.34).

CMD 0x31–0x37 and 0x74 (§7.4.3 表 2): the device sends the ``*_REQ``, the
platform answers with the ``*_RES``.

Fields a device may leave out without the platform losing the report are
optional: a heartbeat, an ability report, an alarm or an exception must not be
refused because firmware omitted a detail.
"""

from __future__ import annotations

import attrs

from kandian.device.messages import items
from kandian.device.messages.base import (
    MAX_CHANNELS,
    MAX_DIDO,
    MAX_ID,
    MAX_VIDEO,
    Message,
    StatusResponse,
    channel_no,
    child,
    code,
    count,
    dev_id,
    integer,
    long_text,
    port,
    register,
    repeated,
    size,
    text,
)

__all__ = [
    "LoginRequest",
    "LoginResponse",
    "AbilityUpRequest",
    "AbilityUpResponse",
    "HeartbeatRequest",
    "HeartbeatResponse",
    "ExceptionNotifyRequest",
    "ExceptionNotifyResponse",
    "VideoPlayRequest",
    "VideoPlayResponse",
    "NotifyPictureRequest",
    "NotifyPictureResponse",
    "AlarmNotifyRequest",
    "AlarmNotifyResponse",
    "RecordPlayRequest",
    "RecordPlayResponse",
]


@register
@attrs.frozen(kw_only=True)
class LoginRequest(Message):
    """§7.5.1 登录认证请求: the first frame on a link."""

    CMD = 0x31
    ROOT = "LOGIN_REQ"
    DevVer: str = text(max_length=MAX_ID)  # e.g. V1.5_20131210: protocol version _ firmware date
    DevID: str = dev_id()
    DevKey: str = text(secret=True)
    UpnpIP: str | None = text(optional=True)  # 0.0.0.0 when the mapping failed
    RtspUpnpPort: int | None = port(optional=True, aliases=("UpnpPort",))
    LocalIP: str | None = text(optional=True)
    RtspLocalPort: int | None = port(optional=True, aliases=("LocalPort",))
    TurnRelayIP: str | None = text(optional=True, aliases=("TurnRealyIP",))
    RtspTurnRelayPort: int | None = port(optional=True)
    NetType: int | None = code(optional=True)  # 0 wired, 1 Wi-Fi, 2 3G
    NatType: int | None = code(optional=True)  # 0 unknown … 6 public address


@register
@attrs.frozen(kw_only=True)
class LoginResponse(Message):
    """§7.5.1 认证确认.

    Result: 0 ok, 1 no such device, 2 bad key, 3 protocol version unsupported, 255 other.
    """

    CMD = 0x31
    ROOT = "LOGIN_RES"
    Result: int = integer()
    DevID: str = dev_id()
    EURL: str | None = long_text(optional=True)
    EAccount: str | None = text(optional=True, secret=True)
    EPassword: str | None = text(optional=True, secret=True)
    EStorageSpace: int | None = size(optional=True)  # 0: no cloud storage
    ERecordBucket: str | None = text(optional=True)
    EPictureBucket: str | None = text(optional=True)
    Time: str | None = text(optional=True)  # YYYYMMDDHHMMSS


@register
@attrs.frozen(kw_only=True)
class AbilityUpRequest(Message):
    """§7.5.2 能力上报."""

    CMD = 0x32
    ROOT = "ABILITYUP_REQ"
    DevID: str = dev_id()
    ChannelNum: int = count(maximum=MAX_CHANNELS)
    PTZFlag: int | None = code(optional=True)
    EStoreFlag: int | None = code(optional=True)
    LocalStoreFlag: int | None = code(optional=True)  # 1 ready, 0 none, 2 unformatted, 3 faulty
    MotionDetectionFlag: int | None = code(optional=True)
    InfraredDetectionFlag: int | None = code(optional=True)
    ManualAlarmFlag: int | None = code(optional=True)
    DIDOAlarmFlag: int | None = code(optional=True)
    DIDONum: int | None = count(optional=True, maximum=MAX_DIDO)
    Video: tuple[items.Video, ...] = repeated(items.Video, MAX_VIDEO)
    Onvif: items.Onvif | None = child(items.Onvif)


@register
@attrs.frozen(kw_only=True)
class AbilityUpResponse(Message):
    """§7.5.2 能力上报确认.

    The spec gives it no Result. A request kandian refuses (a body out of
    range, a store failure) is answered with ``<Result>255</Result>`` added, so
    that the device is answered at once and can tell; a device that does not
    know the element ignores it. A success carries no Result, as in the spec.
    """

    CMD = 0x32
    ROOT = "ABILITYUP_RES"
    Result: int | None = integer(optional=True)
    DevID: str = dev_id()
    Time: str = text()


@register
@attrs.frozen(kw_only=True)
class HeartbeatRequest(Message):
    """§7.5.3 链路检测请求: every 120 s, and at once when UPnP or TURN details change."""

    CMD = 0x33
    ROOT = "HEARTBEAT_REQ"
    DevID: str = dev_id()
    CurVideoNum: int | None = count(optional=True, maximum=MAX_CHANNELS * 2)
    UpnpIP: str | None = text(optional=True)
    RtspUpnpPort: int | None = port(optional=True, aliases=("UpnpPort",))
    LocalIP: str | None = text(optional=True)
    RtspLocalPort: int | None = port(optional=True, aliases=("LocalPort",))
    TurnRelayIP: str | None = text(optional=True, aliases=("TurnRealyIP",))
    RtspTurnRelayPort: int | None = port(optional=True)


@register
@attrs.frozen(kw_only=True)
class HeartbeatResponse(Message):
    """§7.5.3 链路检测确认.

    The spec gives it no Result. A request kandian refuses (a body out of
    range, a store failure) is answered with ``<Result>255</Result>`` added, so
    that the device is answered at once and can tell; a device that does not
    know the element ignores it. A success carries no Result, as in the spec.
    """

    CMD = 0x33
    ROOT = "HEARTBEAT_RES"
    Result: int | None = integer(optional=True)
    DevID: str = dev_id()
    Time: str = text()


@register
@attrs.frozen(kw_only=True)
class ExceptionNotifyRequest(Message):
    """§7.5.4 异常数据上报. ExceptionType 0 unknown (see the text), 1–12 as tabled."""

    CMD = 0x34
    ROOT = "EXCEPTION_NOTIFY_REQ"
    DevID: str = dev_id()
    ChannelNo: int | None = channel_no(optional=True)
    ExceptionType: int = code()
    ExceptionDesc: str | None = long_text(optional=True)


@register
@attrs.frozen(kw_only=True)
class ExceptionNotifyResponse(StatusResponse):
    """§7.5.4 异常数据确认."""

    CMD = 0x34
    ROOT = "EXCEPTION_NOTIFY_RES"


@register
@attrs.frozen(kw_only=True)
class VideoPlayRequest(Message):
    """§7.5.5 视频监控 Token 验证: the device asks whether a live-view HashToken is good."""

    CMD = 0x35
    ROOT = "VIDEO_PLAY_REQ"
    DevID: str = dev_id()
    ChannelNo: int = channel_no()
    StreamType: int = integer()
    HashToken: str = text(secret=True)


@register
@attrs.frozen(kw_only=True)
class VideoPlayResponse(StatusResponse):
    """§7.5.5 HashToken 验证确认: Result 0 lets the device serve the stream."""

    CMD = 0x35
    ROOT = "VIDEO_PLAY_RES"


@register
@attrs.frozen(kw_only=True)
class NotifyPictureRequest(Message):
    """§7.5.27 FTP 图片抓拍通知: a picture is on the FTP server."""

    CMD = 0x36
    ROOT = "NOTIFY_PICTURE_REQ"
    DevID: str = dev_id()
    ChannelNo: int = channel_no()
    FileName: str = text()  # DevID_ChannelNo_YYYYMMDDHHMMSS.JPG
    Time: str | None = text(optional=True)  # YYYYMMDDHHMMSS


@register
@attrs.frozen(kw_only=True)
class NotifyPictureResponse(Message):
    """§7.5.27 图片抓拍通知确认.

    The spec gives it no Result. A request kandian refuses (a body out of
    range, a store failure) is answered with ``<Result>255</Result>`` added, so
    that the device is answered at once and can tell; a device that does not
    know the element ignores it. A success carries no Result, as in the spec.
    """

    CMD = 0x36
    ROOT = "NOTIFY_PICTURE_RES"
    Result: int | None = integer(optional=True)
    DevID: str = dev_id()


@register
@attrs.frozen(kw_only=True)
class AlarmNotifyRequest(Message):
    """§7.5.34 设备告警数据上报. AlarmType 1 motion, 2 infrared, 3 manual, 4 DIDO (then DIDONo)."""

    CMD = 0x37
    ROOT = "ALARM_NOTIFY_REQ"
    DevID: str = dev_id()
    ChannelNo: int = channel_no()
    AlarmType: int = code()
    AlarmDesc: str | None = long_text(optional=True)
    DIDONo: int | None = count(optional=True, maximum=MAX_DIDO)
    FileName: str | None = text(optional=True)


@register
@attrs.frozen(kw_only=True)
class AlarmNotifyResponse(StatusResponse):
    """§7.5.34 设备告警数据确认."""

    CMD = 0x37
    ROOT = "ALARM_NOTIFY_RES"


@register
@attrs.frozen(kw_only=True)
class RecordPlayRequest(Message):
    """§7.5.23 视频录像回放验证: the device asks whether a playback HashToken is good."""

    CMD = 0x74
    ROOT = "RECORD_PLAY_REQ"
    DevID: str = dev_id()
    ChannelNo: int = channel_no()
    FileName: str = text()
    HashToken: str = text(secret=True)


@register
@attrs.frozen(kw_only=True)
class RecordPlayResponse(StatusResponse):
    """§7.5.23 HashToken 验证确认."""

    CMD = 0x74
    ROOT = "RECORD_PLAY_RES"
