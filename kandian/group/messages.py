"""The group platform's bodies: §5 REDIRECT_REQ/RES and the §6.1–§6.5 messages.

The spec gives §5 as XML samples and §6 only as parameter tables; the wire
format of §6 is PRODUCT.md's ("Group platform"): each message one UTF-8 XML
document POSTed over HTTP, root elements ``ADDRESS_REPORT_REQ/RES`` (§6.1),
``USER_OPEN_REQ/RES`` (§6.2), ``USER_CHANGE_REQ/RES`` (§6.3),
``USER_CANCEL_REQ/RES`` (§6.4), ``DEVICE_USE_REQ/RES`` (§6.5), children named
and ordered exactly as the spec's tables.  The same field declarations as the
device link's bodies (:mod:`kandian.device.messages.base`) and the same safe
reading (:mod:`kandian.xmlwire`: no DOCTYPE or entity, a size cap, the
samples' BOM, ``encoding=" UTF-8"`` and padding tolerated).

Pure: bytes in, typed messages out; every failure is a
:class:`~kandian.device.messages.base.MessageError`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

import attrs

from kandian import xmlwire
from kandian.device.messages.base import (
    Message,
    MessageError,
    code,
    count,
    dev_id,
    integer,
    long_text,
    port,
    text,
)

__all__ = [
    "MessageError", "GroupMessage", "ProvinceRequest",
    "RedirectRequest", "RedirectResponse",
    "AddressReportRequest", "AddressReportResponse",
    "UserOpenRequest", "UserOpenResponse", "UserChangeRequest", "UserChangeResponse",
    "UserCancelRequest", "UserCancelResponse", "DeviceUseRequest", "DeviceUseResponse",
    "CMS_REQUESTS", "RESPONSE_OF", "ALL", "decode",
]

MAX_SHORT = 32  # ProvinceNo, CmsNo, CmsVer, MobileTel: the spec's are 2 to 20 characters


class GroupMessage(Message):
    """A body of the group platform's HTTP exchanges (no CMD: not a link frame)."""

    __slots__ = ()
    CMD: ClassVar[int] = 0


# -- §5: device → group platform

@attrs.frozen(kw_only=True)
class RedirectRequest(GroupMessage):
    ROOT: ClassVar[str] = "REDIRECT_REQ"
    ManufacturerNo: str | None = text(optional=True)
    Mode: str | None = text(optional=True)  # the device model ("Mode" in the spec)
    DevType: int | None = code(optional=True)  # 1 IPC, 2 DVR, 3 NVR
    DevID: str = dev_id()
    DevKey: str = text(secret=True)


@attrs.frozen(kw_only=True)
class RedirectResponse(GroupMessage):
    """Result 0 ok, 1 the device's access address is unknown, 255 other."""

    ROOT: ClassVar[str] = "REDIRECT_RES"
    Result: int = integer()
    DevID: str = dev_id()
    LcmsUrl: str | None = long_text(optional=True)  # the province's DevUrl (§6.1)
    StunIP: str | None = text(optional=True)
    StunPort: int | None = port(optional=True)
    BackupStunIP: str | None = text(optional=True)
    BackupStunPort: int | None = port(optional=True)


# -- §6: province platform → group platform

@attrs.frozen(kw_only=True)
class ProvinceRequest(GroupMessage):
    """What every §6 request starts with: who the province is, and its password."""

    ProvinceNo: str = text(max_length=MAX_SHORT)  # 4 digits: GB/T 2260's first four
    CmsNo: str = text(max_length=MAX_SHORT)  # 2 digits, numbered by the province
    CmsPassword: str = text(secret=True)


@attrs.frozen(kw_only=True)
class AddressReportRequest(ProvinceRequest):
    ROOT: ClassVar[str] = "ADDRESS_REPORT_REQ"
    CmsVer: str = text(max_length=MAX_SHORT)  # "1.0" (the table says int, its value 1.0)
    McuUrl: str = long_text()
    DevUrl: str = long_text()


@attrs.frozen(kw_only=True)
class AddressReportResponse(GroupMessage):
    """Result 0 ok, 1 no such platform, 2 wrong password, 255 other; the
    current clients' download addresses and versions."""

    ROOT: ClassVar[str] = "ADDRESS_REPORT_RES"
    Result: int = integer()
    McuAndroidUrl: str | None = long_text(optional=True)
    McuAndroidVer: str | None = text(optional=True, max_length=MAX_SHORT)
    McuIosUrl: str | None = long_text(optional=True)
    McuIosVer: str | None = text(optional=True, max_length=MAX_SHORT)
    McuWinUrl: str | None = long_text(optional=True)
    McuWinVer: str | None = text(optional=True, max_length=MAX_SHORT)


@attrs.frozen(kw_only=True)
class UserOpenRequest(ProvinceRequest):
    ROOT: ClassVar[str] = "USER_OPEN_REQ"
    MobileTel: str = text(max_length=MAX_SHORT)
    IpcamNum: int = count()


@attrs.frozen(kw_only=True)
class UserOpenResponse(GroupMessage):
    """Result 0 ok, 1 no such platform, 2 wrong password, 255 other."""

    ROOT: ClassVar[str] = "USER_OPEN_RES"
    Result: int = integer()


@attrs.frozen(kw_only=True)
class UserChangeRequest(ProvinceRequest):
    ROOT: ClassVar[str] = "USER_CHANGE_REQ"
    MobileTel: str = text(max_length=MAX_SHORT)
    IpcamNum: int = count()


@attrs.frozen(kw_only=True)
class UserChangeResponse(GroupMessage):
    """Result 0 ok, 1 no such platform, 2 wrong password, 3 no such user, 255 other."""

    ROOT: ClassVar[str] = "USER_CHANGE_RES"
    Result: int = integer()


@attrs.frozen(kw_only=True)
class UserCancelRequest(ProvinceRequest):
    ROOT: ClassVar[str] = "USER_CANCEL_REQ"
    MobileTel: str = text(max_length=MAX_SHORT)


@attrs.frozen(kw_only=True)
class UserCancelResponse(GroupMessage):
    """Result 0 ok, 1 no such platform, 2 wrong password, 3 no such user, 255 other."""

    ROOT: ClassVar[str] = "USER_CANCEL_RES"
    Result: int = integer()


@attrs.frozen(kw_only=True)
class DeviceUseRequest(ProvinceRequest):
    ROOT: ClassVar[str] = "DEVICE_USE_REQ"
    DevID: str = dev_id()
    DevKey: str = text(secret=True)


@attrs.frozen(kw_only=True)
class DeviceUseResponse(GroupMessage):
    """Result 0 ok (the province adds the device and binds it), 1 no such
    platform, 2 wrong password, 3 no such device (power it on first),
    4 wrong DevKey, 255 other."""

    ROOT: ClassVar[str] = "DEVICE_USE_RES"
    Result: int = integer()


# the requests POST /cms takes, by root element, and each one's answer
CMS_REQUESTS: dict[str, type[ProvinceRequest]] = {
    cls.ROOT: cls for cls in (AddressReportRequest, UserOpenRequest, UserChangeRequest, UserCancelRequest,
                              DeviceUseRequest)}
RESPONSE_OF: dict[type[GroupMessage], type[GroupMessage]] = {
    RedirectRequest: RedirectResponse,
    AddressReportRequest: AddressReportResponse,
    UserOpenRequest: UserOpenResponse,
    UserChangeRequest: UserChangeResponse,
    UserCancelRequest: UserCancelResponse,
    DeviceUseRequest: DeviceUseResponse,
}
ALL: tuple[type[GroupMessage], ...] = tuple(c for pair in RESPONSE_OF.items() for c in pair)


def decode(data: bytes, classes: Iterable[type[GroupMessage]]) -> GroupMessage:
    """The one document in *data*, whose root must be one of *classes*' roots."""
    by_root = {cls.ROOT: cls for cls in classes}
    try:
        root = xmlwire.parse_document(data)
    except ValueError as e:
        raise MessageError(str(e)) from e
    cls = by_root.get(root.tag) if isinstance(root.tag, str) else None
    if cls is None:
        raise MessageError("expected <%s>, got <%s>" % ("> or <".join(sorted(by_root)), str(root.tag)[:40]))
    return cls.from_xml(root)
