"""REGISTER_REQ / REGISTER_RES, the HTTP registration bodies of §7.2 (设备注册).

Not frames of the binary link, so not in the CMD registry; they share its
field declarations and its safe XML reading (BOM, ``encoding=" UTF-8"``,
padding, no entities).  Result: 0 ok, 1 no such device, 2 wrong key,
3 firmware not supported, 255 other.
"""

from __future__ import annotations

from typing import ClassVar

import attrs

from kandian.device.messages.base import Message, MessageError, code, dev_id, integer, port, text

__all__ = ["RegisterRequest", "RegisterResponse", "MessageError"]


@attrs.frozen(kw_only=True)
class RegisterRequest(Message):
    CMD: ClassVar[int] = 0  # HTTP, not a link frame
    ROOT: ClassVar[str] = "REGISTER_REQ"
    ManufacturerNo: str | None = text(optional=True)
    Mode: str | None = text(optional=True)  # the device model ("Mode" in the spec)
    DevType: int | None = code(optional=True)  # 1 IPC, 2 DVR, 3 NVR
    DevID: str = dev_id()
    DevKey: str = text(secret=True)


@attrs.frozen(kw_only=True)
class RegisterResponse(Message):
    CMD: ClassVar[int] = 0
    ROOT: ClassVar[str] = "REGISTER_RES"
    Result: int = integer()
    DevID: str = dev_id()
    NatIP: str | None = text(optional=True)
    NatPort: int | None = port(optional=True)
    BackupNatIP: str | None = text(optional=True)
    BackupNatPort: int | None = port(optional=True)
    TurnIP: str | None = text(optional=True)
    TurnPort: int | None = port(optional=True)
    BackupTurnIP: str | None = text(optional=True)
    BackupTurnPort: int | None = port(optional=True)
    FtpIP: str | None = text(optional=True)
    FtpPort: int | None = port(optional=True)
    FtpAccount: str | None = text(optional=True)
    FtpPassword: str | None = text(optional=True, secret=True)
    Time: str | None = text(optional=True)  # YYYYMMDDHHMMSS


