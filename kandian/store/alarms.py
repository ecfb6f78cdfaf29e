"""Alarms (§7.5.34 ALARM_NOTIFY, §8.19 QueryAlarms; tables alarm, dido, user_device)."""

from __future__ import annotations

from typing import NamedTuple

from twisted.internet import defer

ALARM_REPEAT_WINDOW = 60  # §7.5.34: the same alarm within 60 s is one alarm


@defer.inlineCallbacks
def add_alarm(db, dev_id: str, channel_no: int, alarm_type: int, desc: str, dido_no, file_name: str, now: float):
    """Store an alarm; its id, or None when the same alarm (device, channel,
    type, DIDO input) was stored less than 60 s before."""

    # one round trip, one implicit transaction: the lock serialises concurrent reports of one device
    # (several links, several nodes) and the picture's own link (kandian.store.files); the INSERT's
    # snapshot is taken after it, so it sees what a report before it committed
    rows = yield db.runQuery(
        "SELECT pg_advisory_xact_lock(hashtext(%s));"
        " INSERT INTO alarm (dev_id, channel_no, alarm_type, alarm_desc, dido_no, file_name, alarm_time)"
        " SELECT %s, %s, %s, %s, %s, %s, to_timestamp(%s)"
        " WHERE NOT EXISTS (SELECT 1 FROM alarm WHERE dev_id = %s AND channel_no = %s"
        "  AND alarm_type = %s AND dido_no IS NOT DISTINCT FROM %s"
        "  AND alarm_time > to_timestamp(%s) - make_interval(secs => %s))"
        " RETURNING alarm_id",
        ("alarm:" + dev_id, dev_id, channel_no, alarm_type, desc, dido_no, file_name, now,
         dev_id, channel_no, alarm_type, dido_no, now, ALARM_REPEAT_WINDOW))
    return rows[0][0] if rows else None


class StoredAlarm(NamedTuple):
    """One alarm with the name of its camera (the channel's alias, the device's name, or the DevID)."""
    alarm_id: int
    dev_id: str
    channel_no: int
    alarm_type: int
    desc: str
    dido_no: int | None
    file_name: str
    alarm_time: object  # datetime
    camera: str


class AlarmStore:
    def __init__(self, db):
        self.db = db

    def add(self, dev_id: str, channel_no: int, alarm_type: int, desc: str, dido_no, file_name: str,
            now: float) -> defer.Deferred:
        """:func:`add_alarm`: the new alarm's id, or None for a repeat within 60 s."""
        return add_alarm(self.db, dev_id, channel_no, alarm_type, desc, dido_no, file_name, now)

    @defer.inlineCallbacks
    def get(self, alarm_id: int):
        """The :class:`StoredAlarm` of that id, or None."""
        rows = yield self.db.runQuery(
            "SELECT a.alarm_id, a.dev_id, a.channel_no, a.alarm_type, a.alarm_desc, a.dido_no, a.file_name,"
            " a.alarm_time, coalesce(nullif(c.name, ''), nullif(d.name, ''), d.dev_id)"
            " FROM alarm a JOIN device d USING (dev_id)"
            " LEFT JOIN channel c ON c.dev_id = a.dev_id AND c.channel_no = a.channel_no"
            " WHERE a.alarm_id = %s", (alarm_id,))
        return StoredAlarm(*rows[0]) if rows else None

    @defer.inlineCallbacks
    def page(self, user_id: int, dev_id: str | None, channel_no: int | None, start, end, offset: int, limit: int):
        """(total, rows of (DevName, AlarmType, DIDONoName, alarm_time)) of the
        user's devices' alarms, newest first; *start*/*end* datetimes or None."""
        where = ["b.user_id = %s"]
        args: list = [user_id]
        if dev_id:
            where.append("a.dev_id = %s")
            args.append(dev_id)
            if channel_no is not None:
                where.append("a.channel_no = %s")
                args.append(channel_no)
        if start is not None:
            where.append("a.alarm_time >= %s")
            args.append(start)
        if end is not None:
            where.append("a.alarm_time <= %s")
            args.append(end)
        condition = " AND ".join(where)
        total = yield self.db.runQuery(
            "SELECT count(*) FROM alarm a JOIN user_device b USING (dev_id) WHERE " + condition, tuple(args))
        rows = yield self.db.runQuery(
            "SELECT coalesce(nullif(d.name, ''), d.dev_id), a.alarm_type, coalesce(x.name, ''), a.alarm_time"
            " FROM alarm a JOIN user_device b USING (dev_id) JOIN device d USING (dev_id)"
            " LEFT JOIN dido x ON x.dev_id = a.dev_id AND x.dido_no = a.dido_no"
            " WHERE " + condition + " ORDER BY a.alarm_time DESC, a.alarm_id DESC LIMIT %s OFFSET %s",
            tuple(args) + (limit, offset))
        return total[0][0], [tuple(row) for row in rows]
