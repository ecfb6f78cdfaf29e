"""What the group platform answers (§5 REDIRECT_RES, §6.1–§6.5 Results, §9.1): the one table of this interface.

§6, per request: 1 no such platform (ProvinceNo/CmsNo), 2 wrong
CmsPassword; 3 no such user (§6.3, §6.4) or no such device — power it on
first (§6.5); 4 wrong DevKey (§6.5); 255 anything else (an address that
guessed passwords too often, a device another province has, a value out of
range, the store down).

§5 (HTTP status, Result): §6.6 step 3 says a device no province has claimed
is answered 401; the body says why — 1 "the access address is unknown" (not
claimed yet, not a DevID of a known manufacturer, or its province reported
no DevUrl), 255 a DevKey other than the device's.  The store down is 503.

§9.1 CheckClientUpgrade: 0 current, 1 too old (UpdateUrl says where the new one is).
"""

from __future__ import annotations

from ..core import errors as e
from ..group import messages as m

OK = 0
OTHER = 255
UPGRADE = 1  # §9.1: "MCU 版本过低"

_WHO = {e.NoSuchProvince: 1, e.WrongPassword: 2}

BY_REQUEST: dict[type, dict[type, int]] = {
    m.AddressReportRequest: _WHO,
    m.UserOpenRequest: _WHO,
    m.UserChangeRequest: {**_WHO, e.NoSuchAccount: 3},
    m.UserCancelRequest: {**_WHO, e.NoSuchAccount: 3},
    m.DeviceUseRequest: {**_WHO, e.NoSuchDevice: 3, e.WrongDevKey: 4},
}

REDIRECT: dict[type, tuple[int, int]] = {
    e.NoSuchDevice: (401, 1),
    e.DeviceUnclaimed: (401, 1),
    e.WrongDevKey: (401, OTHER),
    e.DatabaseUnavailable: (503, OTHER),
}
REDIRECT_OK = (200, OK)
REDIRECT_FAILED = (500, OTHER)

# refusals counted but not logged one by one: a guesser keeps sending
QUIET: tuple[type, ...] = (e.TooManyFailures,)


def result_for(request_class: type, error: BaseException) -> int:
    """The Result a §6 request is answered with for *error*."""
    result = e.lookup(BY_REQUEST.get(request_class, {}), error)
    return OTHER if result is None else result


def redirect_answer(error: BaseException | None) -> tuple[int, int]:
    """(HTTP status, Result) of a REDIRECT_RES."""
    if error is None:
        return REDIRECT_OK
    return e.lookup(REDIRECT, error) or REDIRECT_FAILED
