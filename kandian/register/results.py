"""REGISTER_RES's Results (§7.2): the one table from domain errors to what a registering device is answered.

1 unknown device (or not provisionable), 2 wrong DevKey; anything else (the
store failed) 255.  3 ("firmware not supported") is never given:
REGISTER_REQ carries no firmware version.
"""

from __future__ import annotations

from ..core import errors as e

OK = 0
OTHER_ERROR = 255

RESULTS: dict[type, int] = {
    e.NoSuchDevice: 1,
    e.WrongDevKey: 2,
}


def result_for(error: BaseException) -> int:
    result = e.lookup(RESULTS, error)
    return OTHER_ERROR if result is None else result
