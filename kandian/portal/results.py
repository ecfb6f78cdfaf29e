"""The REST API's one table from domain errors to HTTP statuses and error codes.

Every refusal is JSON ``{"error": CODE, "message": TEXT}`` (PRODUCT.md
"Portal and REST API"): 400 a request that cannot be read, 401 no valid
login, 403 not allowed, 404 not there (another user's device included),
409 a conflict with what exists, 422 a value the operation does not accept,
429 too many failed logins (``Retry-After``), 503 the device or the database
did not answer.  ``LOGIN`` overrides the table for the login itself, which
never says whether the account or the password was wrong.
"""

from __future__ import annotations

from ..core import errors as e

TABLE: dict[type, tuple[int, str]] = {
    e.BadValue: (422, "invalid"),
    e.NotAuthenticated: (401, "unauthenticated"),
    e.Forbidden: (403, "forbidden"),
    e.NoSuchAccount: (404, "not_found"),
    e.NoSuchDevice: (404, "not_found"),
    e.NoSuchChannel: (404, "not_found"),
    e.NotBound: (404, "not_found"),
    e.NoSuchCommand: (404, "not_found"),
    e.NoSuchAlarm: (404, "not_found"),
    e.NoPicture: (404, "no_picture"),
    e.NoSuchSchedule: (404, "not_found"),
    e.NoSuchRecording: (404, "not_found"),
    e.ScheduleOverlap: (409, "overlap"),
    e.CrossesMidnight: (422, "crosses_midnight"),
    e.RecordingInProgress: (409, "in_progress"),
    e.RecordingUnavailable: (503, "recording_unavailable"),
    e.NoSuchFirmware: (404, "not_found"),
    e.NoSuchCampaign: (404, "not_found"),
    e.FirmwareExists: (409, "exists"),
    e.CampaignClosed: (409, "campaign_closed"),
    e.AccountExists: (409, "exists"),
    e.DeviceExists: (409, "exists"),
    e.AlreadyBound: (409, "already_bound"),
    e.OverLimit: (409, "over_limit"),
    e.SharedDevice: (409, "shared_device"),
    e.NoNewerFirmware: (409, "no_newer_firmware"),
    e.WrongDevKey: (422, "wrong_dev_key"),
    e.WrongPassword: (422, "wrong_password"),
    e.UnknownToGroup: (422, "unknown_to_group"),
    e.SmsNotSent: (503, "sms_not_sent"),
    e.TooManyFailures: (429, "too_many_failures"),
    e.DeviceOffline: (503, "device_offline"),
    e.DeviceRefused: (503, "device_refused"),
    e.DatabaseUnavailable: (503, "unavailable"),
}

# POST /api/v1/login: an unknown account and a wrong password look the same
LOGIN: dict[type, tuple[int, str]] = {
    e.NoSuchAccount: (401, "bad_credentials"),
    e.WrongPassword: (401, "bad_credentials"),
}

BAD_REQUEST = (400, "bad_request")
CSRF = (403, "csrf")
NO_ROUTE = (404, "not_found")
NO_METHOD = (405, "method_not_allowed")
INTERNAL = (500, "internal")


def status_for(error: BaseException, override: dict | None = None) -> tuple[int, str] | None:
    """(status, code) for *error*; None for an error that is not a refusal (a bug: 500, logged)."""
    found = e.lookup(override, error) if override else None
    return found if found is not None else e.lookup(TABLE, error)
