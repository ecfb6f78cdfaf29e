"""The durable SMS outbox (§2.6, §8.1, §7.5.34, §4.17; tables sms_outbox, sms_part, sms_report).

A message is a row committed before any attempt to send it.  Senders claim
due rows with ``FOR UPDATE SKIP LOCKED`` (two senders never hold one row) and
record each outcome: submitted with the gateway's MsgIDs, back to queued for a
retry, or a final state.  Status reports are stored by MsgID and matched to
their message whichever arrives first, the report or the record of its
Submit_Resp.  Every write takes a batch: a sender at a thousand messages a
second writes a few statements a second, not thousands.
"""

from __future__ import annotations

from typing import NamedTuple

from twisted.internet import defer

STATES = ("queued", "sending", "submitted", "delivered", "failed", "expired")
FINAL = ("delivered", "failed", "expired")
KINDS = ("message", "password", "devkey", "alarm")
DELIVERED = "DELIVRD"  # the report Stat of a delivered part; EXPIRED ends a message expired, any other failed


class Claimed(NamedTuple):
    """A message a sender holds until it records the outcome."""
    message_id: int
    mobile: str
    body: str
    kind: str
    attempts: int  # counting this one
    valid_until: float  # POSIX seconds


class Message(NamedTuple):
    """A message as ``kandianctl sms list`` shows it (``text`` never holds a secret)."""
    message_id: int
    mobile: str
    kind: str
    status: str
    attempts: int
    text: str
    dev_id: str | None
    alarm_id: int | None
    reason: str
    created_at: object
    updated_at: object
    valid_until: object
    msg_ids: list


class AlarmRecipient(NamedTuple):
    """The owner of a device, as an alarm SMS needs them."""
    mobile: str
    alarm_sms: bool
    camera: str  # the channel's alias, else the device's name, else the DevID


class KeyRecipient(NamedTuple):
    dev_key: str
    mobile: str | None  # None: the device has no owner


def final_state(stat: str) -> str:
    """The state a message ends in when a part's report says *stat*."""
    if stat == DELIVERED:
        return "delivered"
    return "expired" if stat == "EXPIRED" else "failed"


def report_reason(stat: str, err: str) -> str:
    return "report %s%s" % (stat, " (error %s)" % err if err else "") if stat != DELIVERED else ""


# A message is settled once every part is reported delivered, or as soon as
# one part is reported otherwise.
_SETTLE = """
WITH s AS (
    SELECT p.message_id, count(*) AS parts,
           count(*) FILTER (WHERE r.stat = 'DELIVRD') AS delivered,
           (array_agg(r.stat ORDER BY p.part_no) FILTER (WHERE r.stat <> 'DELIVRD'))[1] AS stat,
           (array_agg(r.err ORDER BY p.part_no) FILTER (WHERE r.stat <> 'DELIVRD'))[1] AS err
    FROM sms_part p LEFT JOIN sms_report r USING (msg_id)
    WHERE p.message_id = ANY(%(ids)s)
    GROUP BY p.message_id)
UPDATE sms_outbox o SET
    status = CASE WHEN s.stat IS NULL THEN 'delivered' WHEN s.stat = 'EXPIRED' THEN 'expired' ELSE 'failed' END,
    reason = CASE WHEN s.stat IS NULL THEN ''
                  ELSE 'report ' || s.stat || CASE WHEN s.err <> '' THEN ' (error ' || s.err || ')' ELSE '' END END,
    finished_at = to_timestamp(%(now)s), updated_at = to_timestamp(%(now)s)
FROM s
WHERE o.message_id = s.message_id AND o.status = 'submitted' AND (s.delivered = s.parts OR s.stat IS NOT NULL)
"""


# A part's Submit_Resp and its status report are recorded by two transactions
# that may run at once (two connections, two nodes): each would miss the
# other's uncommitted row and neither would settle the message.  Both take a
# transaction lock per MsgID first, always in one order, so the second waits
# for the first and then sees its rows.
_LOCK_MSG_IDS = ("SELECT pg_advisory_xact_lock(h) FROM (SELECT DISTINCT hashtext('sms-part:' || m) AS h"
                 " FROM unnest(%s::text[]) AS m ORDER BY h) AS locks")


class OutboxStore:
    def __init__(self, db):
        self.db = db

    # -- queueing

    def queue(self, mobile: str, body: str, kind: str, now: float, valid_until: float, *, display: str | None = None,
              dev_id: str | None = None, alarm_id: int | None = None, once_per: float | None = None,
              claim_for: tuple[str, float] | None = None) -> defer.Deferred:
        """Commit a new message, due at once: its message_id.  *display*
        stands for *body* wherever it is shown (body holds a secret).  With
        *once_per* (seconds) and *dev_id*: None, and nothing queued, when a
        message of this kind for the device was queued less than that before.
        With *claim_for* ``(node, lease)`` the message is committed already
        claimed by *node* for its first attempt (as :meth:`claim` would)."""
        insert = ("INSERT INTO sms_outbox (mobile, body, display, kind, dev_id, alarm_id, next_attempt_at,"
                  " valid_until, created_at, updated_at, status, attempts, claimed_by, claimed_until)"
                  " SELECT %s, %s, %s, %s, %s, %s, to_timestamp(%s),"
                  " to_timestamp(%s), to_timestamp(%s), to_timestamp(%s), %s, %s, %s, to_timestamp(%s)")
        node, lease = claim_for if claim_for is not None else (None, None)
        values = (mobile, body, display, kind, dev_id, alarm_id, now, valid_until, now, now,
                  "sending" if node else "queued", 1 if node else 0, node, now + lease if node else None)
        if once_per is None:
            query = insert + " RETURNING message_id"
        else:
            # one statement: a concurrent one for the device waits on the slot's
            # row and then finds it taken (ON CONFLICT re-reads the row)
            query = ("WITH slot AS (INSERT INTO sms_device_slot (dev_id, kind, last_at)"
                     " VALUES (%s, %s, to_timestamp(%s)) ON CONFLICT (dev_id, kind) DO UPDATE"
                     " SET last_at = EXCLUDED.last_at"
                     " WHERE sms_device_slot.last_at <= EXCLUDED.last_at - make_interval(secs => %s) RETURNING 1) "
                     + insert + " FROM slot RETURNING message_id")
            values = (dev_id, kind, now, once_per) + values
        return self.db.runQuery(query, values).addCallback(lambda rows: rows[0][0] if rows else None)

    # -- sending

    @defer.inlineCallbacks
    def claim(self, node: str, now: float, limit: int, lease: float):
        """Claim up to *limit* due messages for *node* until *now* + *lease*:
        ``(claimed, expired)`` — the [Claimed] to send, and how many due
        messages were past their validity instead (now final: expired)."""
        rows = yield self.db.runQuery(
            "WITH c AS (SELECT message_id, valid_until <= to_timestamp(%(now)s) AS late FROM sms_outbox"
            "  WHERE status = 'queued' AND next_attempt_at <= to_timestamp(%(now)s)"
            "  ORDER BY next_attempt_at, message_id LIMIT %(limit)s FOR UPDATE SKIP LOCKED)"
            " UPDATE sms_outbox o SET"
            "  status = CASE WHEN c.late THEN 'expired' ELSE 'sending' END,"
            "  attempts = o.attempts + CASE WHEN c.late THEN 0 ELSE 1 END,"
            "  claimed_by = CASE WHEN c.late THEN NULL ELSE %(node)s END,"
            "  claimed_until = CASE WHEN c.late THEN NULL ELSE to_timestamp(%(now)s + %(lease)s) END,"
            "  finished_at = CASE WHEN c.late THEN to_timestamp(%(now)s) END,"
            "  reason = CASE WHEN NOT c.late THEN o.reason WHEN o.reason = '' THEN 'not submitted within its validity'"
            "           ELSE 'not submitted within its validity (last: ' || o.reason || ')' END,"
            "  updated_at = to_timestamp(%(now)s)"
            " FROM c WHERE o.message_id = c.message_id"
            " RETURNING o.message_id, o.mobile, o.body, o.kind, o.attempts, extract(epoch FROM o.valid_until),"
            "  c.late",
            dict(now=now, limit=limit, node=node, lease=lease))
        rows.sort()
        claimed = [Claimed(r[0], r[1], r[2], r[3], r[4], float(r[5])) for r in rows if not r[6]]
        return claimed, sum(1 for r in rows if r[6])

    def submitted(self, items, node: str, now: float) -> defer.Deferred:
        """The gateway acknowledged these messages: *items* is [(message_id,
        [MsgID per part]) or (message_id, [MsgID…], acknowledged at (POSIX
        seconds))]; ``submitted_at`` is that moment (*now* without one).  A
        message still queued or sending becomes submitted (a secret body is
        dropped: it is never sent again); its parts are recorded whatever
        its state, and reports that came first settle it."""
        ids = [item[0] for item in items]
        at = [item[2] if len(item) > 2 else now for item in items]
        parts = [(msg_id, item[0], n) for item in items for n, msg_id in enumerate(item[1])]

        @defer.inlineCallbacks
        def interaction(cursor):
            yield cursor.execute(_LOCK_MSG_IDS, ([p[0] for p in parts],))
            yield cursor.execute(
                "INSERT INTO sms_part (msg_id, message_id, part_no)"
                " SELECT * FROM unnest(%s::text[], %s::bigint[], %s::smallint[]) ON CONFLICT DO NOTHING",
                ([p[0] for p in parts], [p[1] for p in parts], [p[2] for p in parts]))
            yield cursor.execute(
                "UPDATE sms_outbox o SET status = 'submitted', submitted_at = to_timestamp(v.at),"
                " updated_at = to_timestamp(%s), claimed_by = NULL, claimed_until = NULL, reason = '',"
                " body = CASE WHEN o.display IS NULL THEN o.body ELSE '' END"
                " FROM unnest(%s::bigint[], %s::float8[]) AS v(id, at)"
                " WHERE o.message_id = v.id AND o.status IN ('queued', 'sending')", (now, ids, at))
            yield cursor.execute(_SETTLE, dict(ids=ids, now=now))

        return self.db.runInteraction(interaction)

    def retry(self, items, node: str, now: float) -> defer.Deferred:
        """Back to queued, for messages *node* still holds: *items* is
        [(message_id, next attempt at (POSIX seconds), reason)]."""
        return self.db.runOperation(
            "UPDATE sms_outbox o SET status = 'queued', next_attempt_at = to_timestamp(v.due), reason = v.reason,"
            " claimed_by = NULL, claimed_until = NULL, updated_at = to_timestamp(%s)"
            " FROM unnest(%s::bigint[], %s::float8[], %s::text[]) AS v(id, due, reason)"
            " WHERE o.message_id = v.id AND o.status = 'sending' AND o.claimed_by = %s",
            (now, [i[0] for i in items], [i[1] for i in items], [i[2] for i in items], node))

    def finish(self, items, node: str, now: float) -> defer.Deferred:
        """Final states decided by a sender (failed: the gateway refused it;
        expired): *items* is [(message_id, state, reason)]; a message another
        sender holds, or already submitted, is left alone."""
        return self.db.runOperation(
            "UPDATE sms_outbox o SET status = v.state, reason = v.reason, finished_at = to_timestamp(%s),"
            " claimed_by = NULL, claimed_until = NULL, updated_at = to_timestamp(%s)"
            " FROM unnest(%s::bigint[], %s::text[], %s::text[]) AS v(id, state, reason)"
            " WHERE o.message_id = v.id AND o.status IN ('queued', 'sending')"
            " AND (o.claimed_by IS NULL OR o.claimed_by = %s)",
            (now, now, [i[0] for i in items], [i[1] for i in items], [i[2] for i in items], node))

    def report(self, reports, now: float) -> defer.Deferred:
        """Status reports: [(MsgID, Stat, Err)].  A repeated report (its
        Deliver_Resp was lost) changes nothing."""

        @defer.inlineCallbacks
        def interaction(cursor):
            msg_ids = [r[0] for r in reports]
            yield cursor.execute(_LOCK_MSG_IDS, (msg_ids,))
            yield cursor.execute(
                "INSERT INTO sms_report (msg_id, stat, err, received_at)"
                " SELECT v.*, to_timestamp(%s) FROM unnest(%s::text[], %s::text[], %s::text[]) AS v"
                " ON CONFLICT (msg_id) DO NOTHING",
                (now, msg_ids, [r[1] for r in reports], [r[2] for r in reports]))
            yield cursor.execute("SELECT DISTINCT message_id FROM sms_part WHERE msg_id = ANY(%s)", (msg_ids,))
            ids = [row[0] for row in cursor.fetchall()]
            if ids:
                yield cursor.execute(_SETTLE, dict(ids=ids, now=now))

        return self.db.runInteraction(interaction)

    @defer.inlineCallbacks
    def release(self, node: str, now: float, stale_only: bool = False):
        """Messages *node* holds (all of them: its sender restarted; or only
        those whose claim ran out, of any node, with *stale_only*) back to
        queued, due at once: how many."""
        if stale_only:
            where, args = "claimed_until <= to_timestamp(%s)", (now,)
        else:
            where, args = "claimed_by = %s", (node,)
        rows = yield self.db.runQuery(
            "UPDATE sms_outbox SET status = 'queued', claimed_by = NULL, claimed_until = NULL,"
            " next_attempt_at = to_timestamp(%s), updated_at = to_timestamp(%s),"
            " reason = 'outcome unknown: its sender stopped or its claim ran out'"
            " WHERE status = 'sending' AND " + where + " RETURNING 1", (now, now) + args)
        return len(rows)

    @defer.inlineCallbacks
    def purge(self, before: float):
        """Forget messages that ended before *before* (POSIX seconds), and
        reports received before it that name no message: (messages, reports)."""

        @defer.inlineCallbacks
        def interaction(cursor):
            yield cursor.execute("DELETE FROM sms_outbox WHERE finished_at < to_timestamp(%s)", (before,))
            messages = cursor.rowcount
            yield cursor.execute(
                "DELETE FROM sms_report r WHERE received_at < to_timestamp(%s)"
                " AND NOT EXISTS (SELECT 1 FROM sms_part p WHERE p.msg_id = r.msg_id)", (before,))
            return messages, cursor.rowcount

        return (yield self.db.runInteraction(interaction))

    # -- reading

    @defer.inlineCallbacks
    def list(self, status: str | None = None, limit: int = 100):
        """The newest *limit* messages (of one state): [Message]."""
        rows = yield self.db.runQuery(
            "SELECT o.message_id, o.mobile, o.kind, o.status, o.attempts, coalesce(o.display, o.body), o.dev_id,"
            " o.alarm_id, o.reason, o.created_at, o.updated_at, o.valid_until,"
            " coalesce((SELECT array_agg(p.msg_id ORDER BY p.part_no) FROM sms_part p"
            "  WHERE p.message_id = o.message_id), '{}')"
            " FROM sms_outbox o WHERE %s IS NULL OR o.status = %s ORDER BY o.message_id DESC LIMIT %s",
            (status, status, limit))
        return [Message(*row[:12], list(row[12])) for row in rows]

    @defer.inlineCallbacks
    def alarm_recipient(self, dev_id: str, channel_no: int):
        """The device's owner as an alarm SMS needs them (AlarmRecipient), or
        None when the device has no owner."""
        rows = yield self.db.runQuery(
            "SELECT u.mobile, u.alarm_sms, coalesce(nullif(c.name, ''), nullif(d.name, ''), d.dev_id)"
            " FROM user_device b JOIN app_user u USING (user_id) JOIN device d ON d.dev_id = b.dev_id"
            " LEFT JOIN channel c ON c.dev_id = d.dev_id AND c.channel_no = %s"
            " WHERE b.dev_id = %s AND b.share_flag = 0 AND u.status = 'active'", (channel_no, dev_id))
        return AlarmRecipient(*rows[0]) if rows else None

    @defer.inlineCallbacks
    def key_recipient(self, dev_id: str):
        """The device's DevKey and its owner's mobile (KeyRecipient), or None
        when there is no such device."""
        rows = yield self.db.runQuery(
            "SELECT d.dev_key, (SELECT u.mobile FROM user_device b JOIN app_user u USING (user_id)"
            "  WHERE b.dev_id = d.dev_id AND b.share_flag = 0 AND u.status = 'active')"
            " FROM device d WHERE d.dev_id = %s", (dev_id,))
        return KeyRecipient(*rows[0]) if rows else None
