"""The device link's §7.5 Results: the one table from domain errors to what a device is answered.

LOGIN_RES (§7.5.1): 1 unknown device, 2 wrong DevKey, 3 firmware (protocol
version) not supported; VIDEO_PLAY_RES / RECORD_PLAY_RES (§7.5.23, 0x74):
1 the HashToken is refused.  Anything else a handler fails with — the store
is down, a bug — is 255, and the device keeps what it reported.
"""

from __future__ import annotations

from ..core import errors as e

OK = 0
OTHER_ERROR = 255

RESULTS: dict[type, int] = {
    e.NoSuchDevice: 1,
    e.WrongDevKey: 2,
    e.UnsupportedDevice: 3,
    e.TokenRefused: 1,
}


def result_for(error: BaseException) -> int:
    result = e.lookup(RESULTS, error)
    return OTHER_ERROR if result is None else result
