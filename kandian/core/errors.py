"""Domain errors: what went wrong, in the platform's words, never a wire code.

Every interface maps these to its own codes in one table (SOAP §8 Results in
``kandian.mcu.results``, the device link's §7 Results in
``kandian.device.results``, REGISTER_RES's in ``kandian.register.results``,
RTSP statuses in ``kandian.rtsp.authorize``).  An error's text is for the log
line; it may quote what a peer sent, so interfaces pass it through
``kandian.logs.peer_text``.
"""

from __future__ import annotations

from ..store.pool import DatabaseUnavailable, log_failure  # noqa: F401 (log_failure: for interfaces)

__all__ = [
    "DomainError", "BadValue", "DatabaseUnavailable",
    "NoSuchAccount", "AccountExists", "WrongPassword", "SessionExpired", "VersionTooLow", "TooManyFailures",
    "SmsNotSent",
    "NoSuchDevice", "NoSuchChannel", "NotBound", "WrongDevKey", "OverLimit", "AlreadyBound", "SharedDevice",
    "UnknownToGroup", "GroupUnavailable", "NoSuchProvince", "ProvinceExists", "DeviceUnclaimed",
    "DeviceOffline", "DeviceRefused", "NoNewerFirmware",
    "NoSuchFirmware", "FirmwareExists", "NoSuchCampaign", "CampaignClosed",
    "TokenRefused", "StreamClosed", "TooManyStreams", "NoRoute",
    "LinkRefused", "LinkExpired",
    "UnsupportedDevice",
    "BadFileName", "FileTooLarge", "OverQuota",
    "NotAuthenticated", "Forbidden", "NoSuchCommand", "DeviceExists", "NoSuchAlarm", "NoPicture",
    "ApiKeyExists", "NoSuchApiKey", "ApiKeyRevoked", "BadAccessToken", "AccessTokenExpired",
    "NoSuchPlaySession", "WrongPlayState", "NoRecording",
    "NoSuchSchedule", "ScheduleOverlap", "CrossesMidnight",
    "NoSuchRecording", "RecordingInProgress", "RecordingUnavailable",
    "DeviceTimeout", "ChannelExists", "NoSuchFile", "FileExists", "NotAvailable",
    "lookup",
]


class DomainError(Exception):
    """Base of every refusal the core raises."""


class BadValue(DomainError, ValueError):
    """A value out of the range the operation accepts (a client bug, not a state)."""


# -- accounts and sessions (§8.1–§8.4)

class NoSuchAccount(DomainError):
    pass


class AccountExists(DomainError):
    """An account of that mobile number exists already (kandianctl user add)."""


class WrongPassword(DomainError):
    pass


class SessionExpired(DomainError):
    """No live session of this account by that id (expired, ended, or another account's)."""


class VersionTooLow(DomainError):
    pass


class TooManyFailures(DomainError):
    """The source (or the account from it) failed a secret check too often; retry later."""

    def __init__(self, what: str, retry_after: float):
        super().__init__("%s; retry in %d s" % (what, max(1, round(retry_after))))
        self.what = what
        self.retry_after = retry_after


class SmsNotSent(DomainError):
    """No gateway, an unknown number, the rate limit, or the gateway refused."""


# -- devices and bindings (§7.2, §8.5, §8.6, §6.5)

class NoSuchDevice(DomainError):
    pass


class NoSuchChannel(DomainError):
    pass


class NotBound(DomainError):
    """The device is not bound to (owned by or shared with) this account: to it, the device is not there."""


class WrongDevKey(DomainError):
    pass


class OverLimit(DomainError):
    """The account holds its maximum number of devices."""


class AlreadyBound(DomainError):
    pass


class SharedDevice(DomainError):
    """A shared device cannot be removed by the account it is shared with (§8.6)."""


class UnknownToGroup(DomainError):
    """§6.5: the group platform does not know the device, or refused it (its Result in ``result``)."""

    def __init__(self, why: str, result: int):
        super().__init__(why)
        self.result = result


class GroupUnavailable(DomainError):
    """§6: the group platform could not be asked — unreachable, no answer in
    time, an answer that is not the message asked for — or refused this
    province itself (its Result, e.g. 1 or 2 for a wrong ProvinceNo/CmsNo or
    CmsPassword, in ``result``; None without an answer)."""

    def __init__(self, why: str, result: int | None = None):
        super().__init__(why)
        self.result = result


# -- the group platform's own side (§5, §6 answered, §9)

class NoSuchProvince(DomainError):
    """No province platform of that ProvinceNo and CmsNo is known here."""


class ProvinceExists(DomainError):
    """A province platform of that ProvinceNo and CmsNo exists already (kandianctl province add)."""


class DeviceUnclaimed(DomainError):
    """§6.6 step 3: no province platform has claimed the device (yet), or its address is unknown."""


class UnsupportedDevice(DomainError):
    """A device of a kind this platform does not serve (§7.5.1 Result 3)."""


# -- talking to a device (§7.5.6–§7.5.39)

class DeviceOffline(DomainError):
    pass


class DeviceRefused(DomainError):
    """The device answered with a non-zero Result (its ``result``), did not
    answer in time, or answered badly (``result`` None)."""

    def __init__(self, why: str, result: int | None = None):
        super().__init__(why)
        self.result = result


class DeviceTimeout(DeviceRefused):
    """The device did not answer within the command timeout (a kind of DeviceRefused, ``result`` None)."""

    def __init__(self, why: str):
        super().__init__(why, None)


class NoNewerFirmware(DomainError):
    pass


# -- the firmware catalogue and upgrade campaigns (§7.5.17, §8.14, §8.15)

class NoSuchFirmware(DomainError):
    pass


class FirmwareExists(DomainError):
    """The catalogue has that manufacturer, model and version already."""


class NoSuchCampaign(DomainError):
    pass


class CampaignClosed(DomainError):
    """The campaign is finished or cancelled: it cannot be paused or resumed."""


# -- play (§10, §15)

class TokenRefused(DomainError):
    """A HashToken that is unknown, expired, used, or bound to another stream."""


class StreamClosed(DomainError):
    pass


class TooManyStreams(DomainError):
    pass


class NoRoute(DomainError):
    """No address of the device may be dialled or answered."""


# -- files devices upload (§7.5.27, §7.5.35)

class BadFileName(BadValue):
    """A file name the platform does not take (§7.5.27's picture pattern, or unsafe)."""


class FileTooLarge(DomainError):
    """An upload over the per-file size cap."""


class OverQuota(DomainError):
    """The device's uploads on disk would exceed its quota."""
# -- the portal and REST API (PRODUCT.md "Portal and REST API")

class NotAuthenticated(DomainError):
    """No token, or one that expired, was revoked, or whose account is gone or suspended."""


class Forbidden(DomainError):
    """The principal is known but may not do this (a viewer writing, a read-only share steering, a user
    asking for an operator's page)."""


class NoSuchCommand(DomainError):
    """No platform→device command of that name."""


class DeviceExists(DomainError):
    """A device of that DevID is provisioned already."""


class NoSuchAlarm(DomainError):
    """No alarm of that id that this principal may see."""


class NoPicture(DomainError):
    """The alarm has no picture (yet: the camera uploads it after the alarm, §7.5.27)."""


# -- the compatibility APIs (PRODUCT.md "Compatibility APIs")

class ApiKeyExists(DomainError):
    """An API key of that name exists already (kandianctl apikey add)."""


class NoSuchApiKey(NotAuthenticated):
    """No API key is that key (or names that access token's key)."""


class ApiKeyRevoked(NotAuthenticated):
    """The API key was revoked."""


class BadAccessToken(NotAuthenticated):
    """An access token that is not one this platform made (unreadable, or its signature wrong)."""


class AccessTokenExpired(NotAuthenticated):
    """An access token this platform made, past its expiry."""


class NoSuchPlaySession(DomainError):
    """No play session of that id: never opened, stopped, or expired."""


class WrongPlayState(DomainError):
    """The play session cannot do that (a live stream has no position to move to)."""


class NoRecording(DomainError):
    """No recording covers the time asked for."""


# -- platform recording (PRODUCT.md "Media"; spec 002's courses)

class NoSuchSchedule(DomainError):
    """No recording schedule of that id on that channel that this principal may see."""


class ScheduleOverlap(DomainError):
    """The window overlaps another window of the same channel and weekday (spec 002 err_code 1012)."""


class CrossesMidnight(BadValue):
    """start + duration passes 23:59:59: no window across midnight (spec 002 err_code 1013)."""


class NoSuchRecording(DomainError):
    """No recording of that id that this principal may see (or it is being deleted)."""


class RecordingInProgress(DomainError):
    """The piece is still being written (it can be deleted once it is complete)."""


class RecordingUnavailable(DomainError):
    """The recording's file is not on this node's disk, or could not be made into what was asked (an MP4)."""


# -- signed links (the alarm page)

class LinkRefused(DomainError):
    """A signed link whose signature is not this platform's for what it names."""


class LinkExpired(LinkRefused):
    """A signed link past its expiry."""


# -- the compatibility APIs (PRODUCT.md "Compatibility APIs")

class ChannelExists(DomainError):
    """The device has a channel of that number already."""


class NoSuchFile(DomainError):
    """No stored file (picture, object) of that name."""


class FileExists(DomainError):
    """A stored file (picture, object) of that name exists already."""


class NotAvailable(DomainError):
    """Something this platform does not have or cannot do (no RTMP ingest, no stream encryption, a
    command no device here can carry, the register code not configured)."""


def lookup(table: dict, error: BaseException):
    """An interface's code for *error* from its one *table* (error class → code),
    the nearest base class deciding; None when the table has none."""
    for cls in type(error).__mro__:
        if cls in table:
            return table[cls]
    return None
