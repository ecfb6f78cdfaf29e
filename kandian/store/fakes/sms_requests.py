"""The in-memory :class:`kandian.store.sms_requests.SmsRequests` (table ``sms_request``)."""

from __future__ import annotations

from twisted.internet import defer


class FakeSmsRequests:
    def __init__(self, store):
        self.rows: dict[str, list[float]] = store.tables.setdefault("sms_request", {})  # mobile → times

    def allow(self, mobile: str, now: float, interval: float, daily: int) -> defer.Deferred:
        times = self.rows.setdefault(mobile, [])
        last = max(times, default=0.0)
        if now - last < interval or sum(1 for t in times if t > now - 86400) >= daily:
            return defer.succeed(False)
        times.append(now)
        return defer.succeed(True)
