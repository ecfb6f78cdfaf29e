"""The group platform's Results (§6.1–§6.5) as the core's errors: the one table of the province's client.

Every §6 answer shares 0 (success), 1 (no such platform: our ProvinceNo and
CmsNo are unknown there), 2 (our CmsPassword is wrong) and 255 (other); the
province's own configuration is at fault for 1 and 2, so those, 255 and any
code a table does not list are :class:`~kandian.core.errors.GroupUnavailable`
carrying the Result.  3 is per message: §6.3/§6.4 "no such user"
(:class:`~kandian.core.errors.NoSuchAccount`), §6.5 "no such device, power it
on first" (:class:`~kandian.core.errors.UnknownToGroup`); §6.5's 4 is a wrong
DevKey (:class:`~kandian.core.errors.WrongDevKey`).
"""

from __future__ import annotations

from ..core import errors as e
from . import messages as m

OK = 0

SHARED: dict[int, str] = {
    1: "the group platform knows no platform of our ProvinceNo and CmsNo ([group] province_no, cms_no)",
    2: "the group platform refuses our CmsPassword ([group] cms_password)",
    255: "the group platform answered 255 (other error)",
}

BY_MESSAGE: dict[type, dict[int, type]] = {
    m.UserChangeResponse: {3: e.NoSuchAccount},
    m.UserCancelResponse: {3: e.NoSuchAccount},
    m.DeviceUseResponse: {3: e.UnknownToGroup, 4: e.WrongDevKey},
}


def error_for(answer, what: str) -> e.DomainError | None:
    """The domain error of *answer*'s Result (None for success); *what* names
    the request for the error's text."""
    result = answer.Result
    if result == OK:
        return None
    cls = BY_MESSAGE.get(type(answer), {}).get(result)
    if cls is e.UnknownToGroup:
        return e.UnknownToGroup("the group platform does not know %s (Result %d)" % (what, result), result)
    if cls is not None:
        return cls("the group platform: %s (Result %d)" % (what, result))
    why = SHARED.get(result, "the group platform answered Result %d, which §6 does not define here" % result)
    return e.GroupUnavailable("%s: %s" % (what, why), result)
