"""Device maintenance and NVR binding commands (spec §7.5.16–§7.5.21, §7.5.35, §7.5.39).

Reboot (0x6C), firmware upgrade (0x6D), NVR channels bound to IPCs
(0x6E–0x71), log upload (0x7E) and factory reset (0x82).

The platform sends the ``*_REQ``, the device answers with the ``*_RES``. In
answers, what the device reports beyond Result and DevID is optional: a device
that fails (Result ≠ 0) has nothing to report.
"""

from __future__ import annotations

import attrs

from kandian.device.messages import items
from kandian.device.messages.base import (
    MAX_CHANNELS,
    DeviceRequest,
    Message,
    StatusResponse,
    channel_no,
    dev_id,
    port,
    register,
    repeated,
    text,
)

__all__ = [
    "RebootRequest",
    "RebootResponse",
    "UpgradeRequest",
    "UpgradeResponse",
    "NvrLinkIpcamRequest",
    "NvrLinkIpcamResponse",
    "NvrModifyIpcamRequest",
    "NvrModifyIpcamResponse",
    "NvrDelIpcamRequest",
    "NvrDelIpcamResponse",
    "NvrQueryIpcamRequest",
    "NvrQueryIpcamResponse",
    "LogUploadRequest",
    "LogUploadResponse",
    "ResetDefaultRequest",
    "ResetDefaultResponse",
]


@register
@attrs.frozen(kw_only=True)
class RebootRequest(DeviceRequest):
    """§7.5.16 重启设备."""

    CMD = 0x6C
    ROOT = "REBOOT_REQ"


@register
@attrs.frozen(kw_only=True)
class RebootResponse(StatusResponse):
    CMD = 0x6C
    ROOT = "REBOOT_RES"


@register
@attrs.frozen(kw_only=True)
class UpgradeRequest(Message):
    """§7.5.17 远程升级: the device answers at once and reports the outcome as an exception."""

    CMD = 0x6D
    ROOT = "UPGRADE_REQ"
    DevID: str = dev_id()
    NewDevVer: str = text()
    FtpIP: str = text()
    FtpPort: int = port()
    FtpAccount: str = text()
    FtpPassword: str = text(secret=True)
    FtpFileName: str = text()


@register
@attrs.frozen(kw_only=True)
class UpgradeResponse(StatusResponse):
    CMD = 0x6D
    ROOT = "UPGRADE_RES"


@register
@attrs.frozen(kw_only=True)
class NvrLinkIpcamRequest(Message):
    """§7.5.18 NVR 绑定网络摄像机."""

    CMD = 0x6E
    ROOT = "NVR_LINK_IPCAM_REQ"
    DevID: str = dev_id()
    ChannelNo: int = channel_no()
    IpcamDevID: str = dev_id()
    IpcamLocalIP: str = text()
    OnvifPort: int = port()
    OnvifAccount: str = text()
    OnvifPassword: str = text(secret=True)


@register
@attrs.frozen(kw_only=True)
class NvrLinkIpcamResponse(StatusResponse):
    CMD = 0x6E
    ROOT = "NVR_LINK_IPCAM_RES"


@register
@attrs.frozen(kw_only=True)
class NvrModifyIpcamRequest(Message):
    """§7.5.19 NVR 修改网络摄像机绑定信息 (found by IpcamDevID)."""

    CMD = 0x6F
    ROOT = "NVR_MODIFY_IPCAM_REQ"
    DevID: str = dev_id()
    IpcamDevID: str = dev_id()
    IpcamLocalIP: str = text()
    OnvifPort: int = port()
    OnvifAccount: str = text()
    OnvifPassword: str = text(secret=True)


@register
@attrs.frozen(kw_only=True)
class NvrModifyIpcamResponse(StatusResponse):
    CMD = 0x6F
    ROOT = "NVR_MODIFY_IPCAM_RES"


@register
@attrs.frozen(kw_only=True)
class NvrDelIpcamRequest(Message):
    """§7.5.20 NVR 解除网络摄像机绑定."""

    CMD = 0x70
    ROOT = "NVR_DEL_IPCAM_REQ"
    DevID: str = dev_id()
    ChannelNo: int = channel_no()


@register
@attrs.frozen(kw_only=True)
class NvrDelIpcamResponse(StatusResponse):
    CMD = 0x70
    ROOT = "NVR_DEL_IPCAM_RES"


@register
@attrs.frozen(kw_only=True)
class NvrQueryIpcamRequest(DeviceRequest):
    """§7.5.21 NVR 查询网络摄像机绑定."""

    CMD = 0x71
    ROOT = "NVR_QUERY_IPCAM_REQ"


@register
@attrs.frozen(kw_only=True)
class NvrQueryIpcamResponse(StatusResponse):
    """Unbound channels are not listed."""

    CMD = 0x71
    ROOT = "NVR_QUERY_IPCAM_RES"
    Channel: tuple[items.IpcamChannel, ...] = repeated(items.IpcamChannel, MAX_CHANNELS + 1)


@register
@attrs.frozen(kw_only=True)
class LogUploadRequest(Message):
    """§7.5.35 设备日志上传通知: the device answers at once, then uploads by FTP."""

    CMD = 0x7E
    ROOT = "LOG_UPLOAD_REQ"
    DevID: str = dev_id()
    FtpIP: str = text()
    FtpPort: int = port()
    FtpAccount: str = text()
    FtpPassword: str = text(secret=True)


@register
@attrs.frozen(kw_only=True)
class LogUploadResponse(StatusResponse):
    CMD = 0x7E
    ROOT = "LOG_UPLOAD_RES"


@register
@attrs.frozen(kw_only=True)
class ResetDefaultRequest(DeviceRequest):
    """§7.5.39 设备参数恢复出厂设置 (recordings on SD card/disk are kept)."""

    CMD = 0x82
    ROOT = "RESET_DEFAULT_REQ"


@register
@attrs.frozen(kw_only=True)
class ResetDefaultResponse(StatusResponse):
    CMD = 0x82
    ROOT = "RESET_DEFAULT_RES"
