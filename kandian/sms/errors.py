"""Why a message did not reach the carrier's SMS gateway (:mod:`kandian.sms.client`).

Two outcomes a caller must tell apart (PRODUCT.md "SMS", the outbox):

* :class:`SmgpRejected` — the gateway answered Submit_Resp with a non-zero
  Status: it will not send this message; retrying as is helps only for the
  transient codes (1 系统忙, 75 日流量 …), which :attr:`SmgpRejected.transient` names.
* :class:`GatewayUnavailable` — no answer: not logged in, the connection was
  lost with the message in flight, or no Submit_Resp within the timeout.  The
  outcome is unknown (the gateway may have accepted it), so a retry may
  deliver a second copy.
"""

from __future__ import annotations

from .smgp import STATUS

__all__ = ["SmsError", "SmgpRejected", "GatewayUnavailable", "TRANSIENT_STATUS"]

# Submit_Resp Status values that say "not now" rather than "never":
# 1 系统忙, 2 超过最大连接数, 74 SP禁止下发时段, 75 SP发送超过日流量.
TRANSIENT_STATUS = frozenset({1, 2, 74, 75})


class SmsError(Exception):
    """A message was not accepted by the SMS gateway."""


class SmgpRejected(SmsError):
    """The gateway refused the message with Submit_Resp Status *status*."""

    def __init__(self, status: int) -> None:
        self.status = status
        super().__init__("gateway refused the message: Status %d (%s)" % (status, STATUS.get(status, "unknown")))

    @property
    def transient(self) -> bool:
        return self.status in TRANSIENT_STATUS


class GatewayUnavailable(SmsError):
    """No answer from the gateway; whether it accepted the message is unknown."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__("SMS gateway unavailable: " + reason)
