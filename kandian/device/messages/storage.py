"""Recording, picture and storage commands.

Spec §7.5.11–§7.5.15, §7.5.22, §7.5.24–§7.5.26, §7.5.28–§7.5.31, §7.5.36–§7.5.38:

天翼云 cloud account (0x65–0x66), recording policies (0x67–0x69), recording
search (0x72), picture policies (0x75–0x77), full-day and loop recording
(0x78–0x7B), local storage (0x7F–0x80) and the cloud recording switch (0x81).

0x6A (存储录像参数设置), 0x6B (存储录像参数查询) and 0x73 (视频录像删除) belong
here by topic, but §7.5 defines no body for them, so they have no classes.

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
    count,
    dev_id,
    integer,
    long_text,
    register,
    repeated,
    size,
    text,
)

__all__ = [
    "SetEStoreRequest",
    "SetEStoreResponse",
    "GetEStoreRequest",
    "GetEStoreResponse",
    "AddRecordPolicyRequest",
    "AddRecordPolicyResponse",
    "QueryRecordPolicyRequest",
    "QueryRecordPolicyResponse",
    "DelRecordPolicyRequest",
    "DelRecordPolicyResponse",
    "FileQueryRequest",
    "FileQueryResponse",
    "AddPicturePolicyRequest",
    "AddPicturePolicyResponse",
    "QueryPicturePolicyRequest",
    "QueryPicturePolicyResponse",
    "DelPicturePolicyRequest",
    "DelPicturePolicyResponse",
    "SetRecordFullRequest",
    "SetRecordFullResponse",
    "GetRecordFullRequest",
    "GetRecordFullResponse",
    "SetRecordLoopRequest",
    "SetRecordLoopResponse",
    "GetRecordLoopRequest",
    "GetRecordLoopResponse",
    "StoreQueryRequest",
    "StoreQueryResponse",
    "StoreFormatRequest",
    "StoreFormatResponse",
    "EStoreActivateRequest",
    "EStoreActivateResponse",
]

# §7.5.28 spells the element StorgeFlag in its table, §7.5.29 in sample and table.
_STORAGE_FLAG_ALIASES = ("StorgeFlag",)


@register
@attrs.frozen(kw_only=True)
class SetEStoreRequest(Message):
    """§7.5.11 天翼云存储帐号设置. StorageSpace is struck from the table but kept in the sample."""

    CMD = 0x65
    ROOT = "SET_ESTORE_REQ"
    DevID: str = dev_id()
    URL: str = long_text()
    Account: str = text(secret=True)
    Password: str = text(secret=True)
    StorageSpace: int | None = size(optional=True)
    ERecordBucket: str = text()
    EPictureBucket: str = text()


@register
@attrs.frozen(kw_only=True)
class SetEStoreResponse(StatusResponse):
    CMD = 0x65
    ROOT = "SET_ESTORE_RES"


@register
@attrs.frozen(kw_only=True)
class GetEStoreRequest(DeviceRequest):
    """§7.5.12 天翼云存储帐号查询."""

    CMD = 0x66
    ROOT = "GET_ESTORE_REQ"


@register
@attrs.frozen(kw_only=True)
class GetEStoreResponse(StatusResponse):
    CMD = 0x66
    ROOT = "GET_ESTORE_RES"
    URL: str | None = long_text(optional=True)
    Account: str | None = text(optional=True, secret=True)
    Password: str | None = text(optional=True, secret=True)
    StorageSpace: int | None = size(optional=True)
    ERecordBucket: str | None = text(optional=True)
    EPictureBucket: str | None = text(optional=True)


@register
@attrs.frozen(kw_only=True)
class AddRecordPolicyRequest(Message):
    """§7.5.13 存储录像策略添加 (at most 4 a day; the platform checks overlaps)."""

    CMD = 0x67
    ROOT = "ADD_RECORD_POLICY_REQ"
    DevID: str = dev_id()
    ChannelNo: int = channel_no()
    WeekPolicy: tuple[items.WeekPolicy, ...] = repeated(items.WeekPolicy)


@register
@attrs.frozen(kw_only=True)
class AddRecordPolicyResponse(StatusResponse):
    CMD = 0x67
    ROOT = "ADD_RECORD_POLICY_RES"


@register
@attrs.frozen(kw_only=True)
class QueryRecordPolicyRequest(Message):
    """§7.5.14 存储录像策略查询."""

    CMD = 0x68
    ROOT = "QUERY_RECORD_POLICY_REQ"
    DevID: str = dev_id()
    ChannelNo: int = channel_no()


@register
@attrs.frozen(kw_only=True)
class QueryRecordPolicyResponse(StatusResponse):
    CMD = 0x68
    ROOT = "QUERY_RECORD_POLICY_RES"
    WeekPolicy: tuple[items.WeekPolicy, ...] = repeated(items.WeekPolicy)


@register
@attrs.frozen(kw_only=True)
class DelRecordPolicyRequest(Message):
    """§7.5.15 存储录像策略删除."""

    CMD = 0x69
    ROOT = "DEL_RECORD_POLICY_REQ"
    DevID: str = dev_id()
    ChannelNo: int = channel_no()
    PolicyID: str = text()


@register
@attrs.frozen(kw_only=True)
class DelRecordPolicyResponse(StatusResponse):
    CMD = 0x69
    ROOT = "DEL_RECORD_POLICY_RES"


@register
@attrs.frozen(kw_only=True)
class FileQueryRequest(Message):
    """§7.5.22 视频录像检索: ten files a page, pages numbered from 1."""

    CMD = 0x72
    ROOT = "FILE_QUERY_REQ"
    DevID: str = dev_id()
    ChannelNo: int = channel_no()
    StartTime: str = text()  # YYYYMMDDHHMM
    EndTime: str = text()
    PageNo: int = integer(minimum=1)


@register
@attrs.frozen(kw_only=True)
class FileQueryResponse(StatusResponse):
    CMD = 0x72
    ROOT = "FILE_QUERY_RES"
    TotalRecordNum: int | None = count(optional=True)
    File: tuple[items.RecordFile, ...] = repeated(items.RecordFile)


@register
@attrs.frozen(kw_only=True)
class AddPicturePolicyRequest(Message):
    """§7.5.24 存储图片策略添加. StoreType 0 FTP, 1 天翼云."""

    CMD = 0x75
    ROOT = "ADD_PICTURE_POLICY_REQ"
    DevID: str = dev_id()
    ChannelNo: int = channel_no()
    StoreType: int = integer()
    DayPolicy: tuple[items.DayPolicy, ...] = repeated(items.DayPolicy)


@register
@attrs.frozen(kw_only=True)
class AddPicturePolicyResponse(StatusResponse):
    CMD = 0x75
    ROOT = "ADD_PICTURE_POLICY_RES"


@register
@attrs.frozen(kw_only=True)
class QueryPicturePolicyRequest(Message):
    """§7.5.25 存储图片策略查询."""

    CMD = 0x76
    ROOT = "QUERY_PICTURE_POLICY_REQ"
    DevID: str = dev_id()
    ChannelNo: int = channel_no()
    StoreType: int = integer()


@register
@attrs.frozen(kw_only=True)
class QueryPicturePolicyResponse(StatusResponse):
    CMD = 0x76
    ROOT = "QUERY_PICTURE_POLICY_RES"
    DayPolicy: tuple[items.DayPolicy, ...] = repeated(items.DayPolicy)


@register
@attrs.frozen(kw_only=True)
class DelPicturePolicyRequest(Message):
    """§7.5.26 存储图片策略删除."""

    CMD = 0x77
    ROOT = "DEL_PICTURE_POLICY_REQ"
    DevID: str = dev_id()
    ChannelNo: int = channel_no()
    PolicyID: str = text()


@register
@attrs.frozen(kw_only=True)
class DelPicturePolicyResponse(StatusResponse):
    CMD = 0x77
    ROOT = "DEL_PICTURE_POLICY_RES"


@register
@attrs.frozen(kw_only=True)
class SetRecordFullRequest(Message):
    """§7.5.28 一键全天录像设置 (per channel). StorageFlag 0 NVR, 1 SD card, 2 天翼云."""

    CMD = 0x78
    ROOT = "SET_RECORD_FULL_REQ"
    DevID: str = dev_id()
    ChannelNo: int = channel_no()
    StorageFlag: int = integer(aliases=_STORAGE_FLAG_ALIASES)
    RecordFull: int = integer()  # 1 all day, 0 by policy


@register
@attrs.frozen(kw_only=True)
class SetRecordFullResponse(StatusResponse):
    CMD = 0x78
    ROOT = "SET_RECORD_FULL_RES"


@register
@attrs.frozen(kw_only=True)
class GetRecordFullRequest(Message):
    """§7.5.29 一键全天录像查询."""

    CMD = 0x79
    ROOT = "GET_RECORD_FULL_REQ"
    DevID: str = dev_id()
    ChannelNo: int = channel_no()
    StorageFlag: int = integer(aliases=_STORAGE_FLAG_ALIASES)


@register
@attrs.frozen(kw_only=True)
class GetRecordFullResponse(StatusResponse):
    CMD = 0x79
    ROOT = "GET_RECORD_FULL_RES"
    RecordFull: int | None = integer(optional=True)


@register
@attrs.frozen(kw_only=True)
class SetRecordLoopRequest(Message):
    """§7.5.30 循环录像标识设置 (per device)."""

    CMD = 0x7A
    ROOT = "SET_RECORD_LOOP_REQ"
    DevID: str = dev_id()
    RecordLoop: int = integer()  # 1 loop, 0 stop when full
    StorageFlag: int = integer(aliases=_STORAGE_FLAG_ALIASES)


@register
@attrs.frozen(kw_only=True)
class SetRecordLoopResponse(StatusResponse):
    CMD = 0x7A
    ROOT = "SET_RECORD_LOOP_RES"


@register
@attrs.frozen(kw_only=True)
class GetRecordLoopRequest(Message):
    """§7.5.31 循环录像标识查询."""

    CMD = 0x7B
    ROOT = "GET_RECORD_LOOP_REQ"
    DevID: str = dev_id()
    StorageFlag: int = integer(aliases=_STORAGE_FLAG_ALIASES)


@register
@attrs.frozen(kw_only=True)
class GetRecordLoopResponse(StatusResponse):
    CMD = 0x7B
    ROOT = "GET_RECORD_LOOP_RES"
    RecordLoop: int | None = integer(optional=True)


@register
@attrs.frozen(kw_only=True)
class StoreQueryRequest(DeviceRequest):
    """§7.5.36 本地存储状态查询 (SD card on an IPC, disk on an NVR)."""

    CMD = 0x7F
    ROOT = "STORE_QUERY_REQ"


@register
@attrs.frozen(kw_only=True)
class StoreQueryResponse(StatusResponse):
    """Result here is a state: 1 ready, 0 no medium, 2 unformatted, 3 faulty."""

    CMD = 0x7F
    ROOT = "STORE_QUERY_RES"
    TotalSize: int | None = size(optional=True)  # MB
    FreeSize: int | None = size(optional=True)  # MB


@register
@attrs.frozen(kw_only=True)
class StoreFormatRequest(DeviceRequest):
    """§7.5.37 本地存储格式化 (quick format)."""

    CMD = 0x80
    ROOT = "STORE_FORMAT_REQ"


@register
@attrs.frozen(kw_only=True)
class StoreFormatResponse(StatusResponse):
    """Result: 0 formatted, 1 no medium, 2 format failed."""

    CMD = 0x80
    ROOT = "STORE_FORMAT_RES"
    TotalSize: int | None = size(optional=True)  # MB
    FreeSize: int | None = size(optional=True)  # MB


@register
@attrs.frozen(kw_only=True)
class EStoreActivateRequest(Message):
    """§7.5.38 云存储启动/停止开关. Flag 0 stop all cloud policies, 1 run them (factory default)."""

    CMD = 0x81
    ROOT = "ESTORE_ACTIVATE_REQ"
    DevID: str = dev_id()
    Flag: int = integer()


@register
@attrs.frozen(kw_only=True)
class EStoreActivateResponse(StatusResponse):
    CMD = 0x81
    ROOT = "ESTORE_ACTIVATE_RES"
