"""The one table from what the gateway answers a Submit to what the outbox does with the message.

SMGP 3.0's Status codes (the specification's error table): a busy gateway
(1), too many connections (2), a time of day the SP may not send in (74) and
the SP's daily volume spent (75) pass; the message is tried again later.  An
expired validity (37) ends it expired.  Every other code says the message
itself is wrong (a bad number, route or field) and ends it failed, with the
code in its reason, as does a message the client cannot encode
(``ValueError``: a number or text no Submit can carry).  A lost connection
or an unanswered Submit (:class:`GatewayUnavailable`) leaves the outcome
unknown: tried again, so a message is sent at least once and possibly
twice.  Any other failure is the client's bug: logged, and tried again.
"""

from __future__ import annotations

from .errors import TRANSIENT_STATUS, GatewayUnavailable, SmgpRejected

RETRY, FAILED, EXPIRED = "retry", "failed", "expired"

STATUS_OUTCOMES = {**dict.fromkeys(TRANSIENT_STATUS, RETRY), 37: EXPIRED}


def outcome(error: BaseException, words=None) -> tuple[str, str]:
    """``(RETRY | FAILED | EXPIRED, reason)`` for a submit that failed with
    *error*; *words(status)* names a Status code (the codec's table)."""
    if isinstance(error, SmgpRejected):
        status = error.status
        name = words(status) if words is not None else None
        reason = "gateway status %d%s" % (status, " (%s)" % name if name else "")
        return STATUS_OUTCOMES.get(status, FAILED), reason
    if isinstance(error, GatewayUnavailable):
        return RETRY, "gateway unavailable (outcome unknown)"
    if isinstance(error, ValueError):
        return FAILED, "cannot be sent: %s" % (error,)
    return RETRY, "submit failed: %s" % (type(error).__name__,)
