"""The rate limit of §8.1 GetSmsPassword (table sms_request)."""

from __future__ import annotations

from twisted.internet import defer


class SmsRequests:
    def __init__(self, db):
        self.db = db

    @defer.inlineCallbacks
    def allow(self, mobile: str, now: float, interval: float, daily: int):
        """Record a request for *mobile* if it is within the limits (at least
        *interval* seconds after the last, fewer than *daily* in a day); True if recorded."""

        @defer.inlineCallbacks
        def interaction(cursor):
            yield cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", ("sms:" + mobile,))
            yield cursor.execute(
                "SELECT coalesce(max(extract(epoch FROM requested_at)), 0),"
                " count(*) FILTER (WHERE requested_at > to_timestamp(%s) - interval '1 day')"
                " FROM sms_request WHERE mobile = %s", (now, mobile))
            last, today = cursor.fetchone()
            if now - float(last) < interval or today >= daily:
                return False
            yield cursor.execute("INSERT INTO sms_request (mobile, requested_at) VALUES (%s, to_timestamp(%s))",
                                 (mobile, now))
            return True

        return (yield self.db.runInteraction(interaction))
