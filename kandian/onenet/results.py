"""The device-cloud video API's one table from domain errors to its errno values (spec/001).

Every answer is ``{"errno": N, "error": TEXT, …}``.  The file's codes: §16's
table (HTTP status = errno: 400 bad request, 401 authentication failed, 403
access denied, 404 not found, 405 method not allowed, 413 too big, 500
internal error, 502 bad gateway, 503 unavailable, 504 gateway timeout;
1001–1003 object names and descriptions), §2's 16 and 17 for channels and
§4.1's 1–5 for play addresses, answered with HTTP 200.  A route may
override the table (:data:`PLAY`, :data:`CHANNELS`); a refusal it does not
name is 400; what is not a refusal is a bug: 500, logged.
"""

from __future__ import annotations

from typing import NamedTuple

from ..core import errors as e
from ..core.apifiles import BadObjectName, ObjectDescTooLong, ObjectNameTooLong


class Code(NamedTuple):
    status: int  # HTTP
    errno: int
    text: str  # the file's own words
    exact: bool = False  # the file gives the whole error text: no detail appended


SUCCESS = "succ"

BAD_REQUEST = Code(400, 400, "bad request")
AUTH_FAILED = Code(401, 401, "auth failed")
ACCESS_DENY = Code(403, 403, "access deny")
NOT_FOUND = Code(404, 404, "resource not found")
METHOD = Code(405, 405, "method not allow")
TOO_BIG = Code(413, 413, "resource size is too big")
INTERNAL = Code(500, 500, "system internal error")
BAD_GATEWAY = Code(502, 502, "bad gateway")
UNAVAILABLE = Code(503, 503, "service unavailable")
TIMEOUT = Code(504, 504, "gateway timeout")

TABLE: dict[type, Code] = {
    e.DomainError: BAD_REQUEST,  # any other refusal: the request asked what cannot be
    e.BadValue: BAD_REQUEST,
    e.NotAvailable: BAD_REQUEST,
    e.NotAuthenticated: AUTH_FAILED,
    e.Forbidden: ACCESS_DENY,
    e.TooManyFailures: ACCESS_DENY,
    e.NoSuchDevice: NOT_FOUND,
    e.NotBound: NOT_FOUND,
    e.NoSuchChannel: NOT_FOUND,
    e.NoSuchAlarm: NOT_FOUND,
    e.NoSuchFile: NOT_FOUND,
    e.NoPicture: NOT_FOUND,
    e.NoSuchCommand: NOT_FOUND,
    e.DeviceExists: BAD_REQUEST,
    e.FileExists: BAD_REQUEST,
    e.ChannelExists: Code(200, 16, "The channel already exists,cannot add again!", True),
    e.FileTooLarge: TOO_BIG,
    e.DeviceOffline: UNAVAILABLE,
    e.DeviceRefused: BAD_GATEWAY,
    e.DeviceTimeout: TIMEOUT,
    e.DatabaseUnavailable: UNAVAILABLE,
    e.NoSuchRecording: NOT_FOUND,
    e.NoSuchSchedule: NOT_FOUND,
    e.ScheduleOverlap: BAD_REQUEST,
    e.RecordingInProgress: BAD_REQUEST,
    e.RecordingUnavailable: UNAVAILABLE,
    BadObjectName: Code(400, 1001, "invalid name, excluding special characters"),
    ObjectNameTooLong: Code(400, 1002, "invalid name, maximum limit is 256"),
    ObjectDescTooLong: Code(400, 1003, "invalid desc, maximum limit is 1024"),
}

# §2.2, §2.4: a channel the device does not have
CHANNELS: dict[type, Code] = {
    e.NoSuchChannel: Code(200, 17, "This channel is not available under this device!", True),
}

# §4.1's own codes
PLAY_PARAM = Code(200, 1, "param error")
PLAY: dict[type, Code] = {
    e.BadValue: PLAY_PARAM,
    e.NotAvailable: PLAY_PARAM,
    e.NoSuchChannel: Code(200, 3, "channel not exist"),
    e.StreamClosed: Code(200, 3, "channel not exist"),
    e.DeviceOffline: Code(200, 4, "device not online"),
    e.DeviceRefused: Code(200, 5, "device data error"),
    e.NoRoute: Code(200, 5, "device data error"),
    e.DatabaseUnavailable: Code(200, 2, "internal server error"),
}
PLAY_INTERNAL = Code(200, 2, "internal server error")


def lookup_code(cls: type) -> Code | None:
    """The table's Code of an error class (its nearest base in the table)."""
    for base in cls.__mro__:
        if base in TABLE:
            return TABLE[base]
    return None


def code_for(error: BaseException, override: dict | None = None) -> Code | None:
    """The Code of *error*; None for an error that is not a refusal (a bug)."""
    found = e.lookup(override, error) if override else None
    return found if found is not None else e.lookup(TABLE, error)
