"""The province's side of the group platform (§6; tables group_change, group_report).

``group_change`` is an outbox: a user's open, change or cancel (§6.2–§6.4)
is written in the transaction that changes the user (:mod:`.users` calls
:func:`enqueue`), then claimed by a sender, which deletes it once the group
platform accepted it or puts it back with the time of its next attempt.  A
claim is a lease (``claimed_until``), so the daemon and a ``kandianctl``
command may both send without sending one change twice at once, and a
sender that died leaves nothing stuck.  Only the oldest change of each
mobile number is ever claimable: a user's changes reach the group in order.
``group_report`` keeps the last §6.1 answer.  Times are POSIX seconds.
"""

from __future__ import annotations

from typing import NamedTuple

from twisted.internet import defer

KINDS = ("open", "change", "cancel")

_COLUMNS = ("change_id, kind, mobile, ipcam_num, extract(epoch FROM created_at)::float8, attempts,"
            " extract(epoch FROM next_attempt_at)::float8, last_result, last_error")


class Change(NamedTuple):
    change_id: int
    kind: str  # open, change, cancel
    mobile: str
    ipcam_num: int | None
    created_at: float
    attempts: int  # including the one being made, for a claimed change
    next_attempt_at: float
    last_result: int | None  # the group's Result; None: no answer
    last_error: str


class Report(NamedTuple):
    """The last §6.1 answer: when, its Result, and the clients it named ('' for none)."""

    reported_at: float
    result: int
    android_url: str
    android_ver: str
    ios_url: str
    ios_ver: str
    win_url: str
    win_ver: str


def enqueue(cursor, kind: str, mobile: str, ipcam_num: int | None, now: float) -> defer.Deferred:
    """Queue a change, due at *now*, inside the caller's transaction (*cursor*)."""
    if kind not in KINDS:
        raise ValueError("kind must be one of %s" % ", ".join(KINDS))
    return cursor.execute(
        "INSERT INTO group_change (kind, mobile, ipcam_num, created_at, next_attempt_at)"
        " VALUES (%s, %s, %s, to_timestamp(%s), to_timestamp(%s))", (kind, mobile, ipcam_num, now, now))


class GroupStore:
    def __init__(self, db):
        self.db = db

    @defer.inlineCallbacks
    def claim(self, now: float, lease: float, limit: int = 20, mobile: str | None = None):
        """Claim up to *limit* changes due at *now* (of *mobile* only, if
        given) for *lease* seconds, counting the attempt: [Change]."""
        rows = yield self.db.runQuery(
            "UPDATE group_change SET claimed_until = to_timestamp(%(until)s), attempts = attempts + 1"
            " WHERE change_id IN (SELECT g.change_id FROM group_change g"
            "  WHERE g.next_attempt_at <= to_timestamp(%(now)s)"
            "   AND (g.claimed_until IS NULL OR g.claimed_until <= to_timestamp(%(now)s))"
            "   AND (%(mobile)s::text IS NULL OR g.mobile = %(mobile)s)"
            "   AND NOT EXISTS (SELECT 1 FROM group_change o WHERE o.mobile = g.mobile AND o.change_id < g.change_id)"
            "  ORDER BY g.change_id LIMIT %(limit)s FOR UPDATE SKIP LOCKED)"
            " RETURNING " + _COLUMNS,
            dict(until=now + lease, now=now, mobile=mobile, limit=limit))
        return sorted((Change(*row) for row in rows), key=lambda c: c.change_id)

    def delivered(self, change_id: int) -> defer.Deferred:
        """The group platform accepted it: gone."""
        return self.db.runOperation("DELETE FROM group_change WHERE change_id = %s", (change_id,))

    def failed(self, change_id: int, next_attempt_at: float, result: int | None, error: str,
               kind: str | None = None) -> defer.Deferred:
        """Not accepted: released, to be tried again at *next_attempt_at* (as *kind*, if given)."""
        return self.db.runOperation(
            "UPDATE group_change SET claimed_until = NULL, next_attempt_at = to_timestamp(%s), last_result = %s,"
            " last_error = %s, kind = coalesce(%s, kind) WHERE change_id = %s",
            (next_attempt_at, result, error, kind, change_id))

    @defer.inlineCallbacks
    def pending(self):
        """Every change not yet accepted, oldest first: [Change]."""
        rows = yield self.db.runQuery("SELECT " + _COLUMNS + " FROM group_change ORDER BY change_id")
        return [Change(*row) for row in rows]

    @defer.inlineCallbacks
    def retry(self, now: float, change_id: int | None = None):
        """Make one change (or all) due at *now*; how many there were."""
        rows = yield self.db.runQuery(
            "UPDATE group_change SET next_attempt_at = to_timestamp(%s)"
            " WHERE %s::bigint IS NULL OR change_id = %s RETURNING change_id", (now, change_id, change_id))
        return len(rows)

    @defer.inlineCallbacks
    def drop(self, change_id: int):
        """Forget a change (the operator's call); whether it was there."""
        rows = yield self.db.runQuery("DELETE FROM group_change WHERE change_id = %s RETURNING change_id",
                                      (change_id,))
        return bool(rows)

    @defer.inlineCallbacks
    def report(self):
        """The last §6.1 answer kept, or None."""
        rows = yield self.db.runQuery(
            "SELECT extract(epoch FROM reported_at)::float8, result, mcu_android_url, mcu_android_ver, mcu_ios_url,"
            " mcu_ios_ver, mcu_win_url, mcu_win_ver FROM group_report")
        return Report(*rows[0]) if rows else None

    def save_report(self, report: Report) -> defer.Deferred:
        return self.db.runOperation(
            "INSERT INTO group_report (reported_at, result, mcu_android_url, mcu_android_ver, mcu_ios_url,"
            " mcu_ios_ver, mcu_win_url, mcu_win_ver) VALUES (to_timestamp(%s), %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (only_row) DO UPDATE SET reported_at = EXCLUDED.reported_at, result = EXCLUDED.result,"
            " mcu_android_url = EXCLUDED.mcu_android_url, mcu_android_ver = EXCLUDED.mcu_android_ver,"
            " mcu_ios_url = EXCLUDED.mcu_ios_url, mcu_ios_ver = EXCLUDED.mcu_ios_ver,"
            " mcu_win_url = EXCLUDED.mcu_win_url, mcu_win_ver = EXCLUDED.mcu_win_ver", tuple(report))
