"""The §8 Results: the one table from domain errors to what each operation answers.

Where a table of §8 has no code for a state, 4 is "device offline" (as §8.8
has it) and 255 "the device did not answer or refused" (PRODUCT.md "SOAP
contract").  A :class:`~kandian.core.errors.BadValue` is a
``Client.ValueError`` fault, not a Result: a client bug, not a state.
"""

from __future__ import annotations

from ..core import errors as e

OK = 0
OTHER = 255
UPGRADE = 1  # §9.1 CheckClientUpgrade: "MCU 版本过低", UpdateUrl says where the current client is

# every operation that checks a session and a device
COMMON: dict[type, int] = {
    e.NoSuchAccount: 1,
    e.SessionExpired: 2,
    e.NotBound: 3,
    e.NoSuchDevice: 3,
    e.NoSuchChannel: 3,
    e.DeviceOffline: 4,
    e.DeviceRefused: OTHER,
    e.NoNewerFirmware: OTHER,
    e.SharedDevice: OTHER,  # §8.6: a shared device cannot be removed
    e.TooManyFailures: OTHER,  # §8.5 has no code for a stopped guesser
    e.NoRoute: OTHER,
    e.Forbidden: OTHER,  # a device shared read-only (the portal's shares) is not steered
}

# codes an operation's own table gives
BY_OPERATION: dict[str, dict[type, int]] = {
    "GetSmsPassword": {e.SmsNotSent: 2},  # §8.1
    "McuLogin": {e.WrongPassword: 2, e.VersionTooLow: 3},  # §8.2
    # §8.5; §6.5's answers: the group's 3 (power the device on first) and 4 are §8.5's 3 and 4; the group
    # platform not reached, or refusing this province (its 1, 2, 255), is 255
    "AddDevice": {e.WrongDevKey: 4, e.OverLimit: 5, e.AlreadyBound: 6, e.UnknownToGroup: 3, e.GroupUnavailable: OTHER},
    "DelDevice": {e.WrongDevKey: 4},  # §8.6
}


# refusals an operation answers with a SOAP Fault, not a Result (§8.2 has no code for a stopped guesser)
FAULTS: dict[str, dict[type, str]] = {
    "McuLogin": {e.TooManyFailures: "Client.TooManyFailures"},
}
BAD_VALUE = "Client.ValueError"

# counted, not logged per request: a stopped guesser keeps sending
QUIET: tuple[type, ...] = (e.TooManyFailures,)


def fault_for(operation: str, error: BaseException) -> str | None:
    """The faultcode *operation* answers *error* with, when it is a Fault."""
    code = e.lookup(FAULTS.get(operation, {}), error)
    if code is None and isinstance(error, e.BadValue):
        return BAD_VALUE
    return code


def result_for(operation: str, error: BaseException) -> int | None:
    """The Result *operation* answers *error* with; None when it is not a Result (a fault)."""
    result = e.lookup(BY_OPERATION.get(operation, {}), error)
    return result if result is not None else e.lookup(COMMON, error)
