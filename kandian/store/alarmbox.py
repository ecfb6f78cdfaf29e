"""Alarms as an inbox: read or unread, deleted, counted (spec/001 §17; table alarm).

An alarm is unread until ``read_at`` is set; "with a picture" means the
camera's picture arrived and was linked (``picture_id``).  Times are POSIX
seconds; days are counted in the time zone given.
"""

from __future__ import annotations

from typing import NamedTuple

import attrs
from twisted.internet import defer


class AlarmItem(NamedTuple):
    alarm_id: int
    dev_id: str
    channel_no: int
    alarm_type: int
    desc: str
    at: float
    read: bool
    picture: bool


@attrs.frozen
class AlarmQuery:
    dev_id: str | None = None
    channel_no: int | None = None
    alarm_type: int | None = None
    picture: bool | None = None  # True: with a picture, False: without, None: either
    read: bool | None = None
    since: float | None = None  # at or after
    until: float | None = None  # before


def _where(q: AlarmQuery) -> tuple[str, list]:
    where, args = [], []
    for column, value in (("dev_id", q.dev_id), ("channel_no", q.channel_no), ("alarm_type", q.alarm_type)):
        if value is not None:
            where.append("a.%s = %%s" % column)
            args.append(value)
    if q.picture is not None:
        where.append("a.picture_id IS %s NULL" % ("NOT" if q.picture else ""))
    if q.read is not None:
        where.append("a.read_at IS %s NULL" % ("NOT" if q.read else ""))
    if q.since is not None:
        where.append("a.alarm_time >= to_timestamp(%s)")
        args.append(q.since)
    if q.until is not None:
        where.append("a.alarm_time < to_timestamp(%s)")
        args.append(q.until)
    return (" WHERE " + " AND ".join(where)) if where else "", args


_ITEM = ("SELECT a.alarm_id, a.dev_id, a.channel_no, a.alarm_type, a.alarm_desc,"
         " extract(epoch FROM a.alarm_time)::float8, a.read_at IS NOT NULL, a.picture_id IS NOT NULL FROM alarm a")


class AlarmBoxStore:
    def __init__(self, db):
        self.db = db

    @defer.inlineCallbacks
    def page(self, q: AlarmQuery, offset: int, limit: int, *, read_now: float | None = None):
        """(total, [AlarmItem]) newest first; with *read_now*, the alarms listed are read from then on
        (each listed as it was before)."""
        condition, args = _where(q)
        total = yield self.db.runQuery("SELECT count(*) FROM alarm a" + condition, tuple(args))
        rows = yield self.db.runQuery(_ITEM + condition + " ORDER BY a.alarm_time DESC, a.alarm_id DESC"
                                      " LIMIT %s OFFSET %s", tuple(args) + (limit, offset))
        items = [AlarmItem(*r) for r in rows]
        if read_now is not None and items:
            yield self.db.runOperation("UPDATE alarm SET read_at = to_timestamp(%s) WHERE alarm_id = ANY (%s)"
                                       " AND read_at IS NULL", (read_now, [i.alarm_id for i in items]))
        return total[0][0], items

    @defer.inlineCallbacks
    def mark_read(self, alarm_ids: list, dev_id: str | None, now: float):
        """Mark read those of *alarm_ids* (of *dev_id*, if given) that are unread; how many."""
        rows = yield self.db.runQuery(
            "UPDATE alarm SET read_at = to_timestamp(%s) WHERE alarm_id = ANY (%s) AND read_at IS NULL"
            " AND (%s::text IS NULL OR dev_id = %s) RETURNING 1", (now, list(alarm_ids), dev_id, dev_id))
        return len(rows)

    @defer.inlineCallbacks
    def delete(self, alarm_ids: list, dev_id: str | None):
        """Delete those of *alarm_ids* (of *dev_id*, if given); how many."""
        rows = yield self.db.runQuery(
            "DELETE FROM alarm WHERE alarm_id = ANY (%s) AND (%s::text IS NULL OR dev_id = %s) RETURNING 1",
            (list(alarm_ids), dev_id, dev_id))
        return len(rows)

    @defer.inlineCallbacks
    def unread(self, dev_id: str | None, channel_no: int | None):
        """[(DevID, ChannelNo, with a picture, count)] of the unread alarms, by DevID and ChannelNo."""
        condition, args = _where(AlarmQuery(dev_id=dev_id, channel_no=channel_no, read=False))
        rows = yield self.db.runQuery(
            "SELECT a.dev_id, a.channel_no, a.picture_id IS NOT NULL AS p, count(*)::int FROM alarm a" + condition
            + " GROUP BY 1, 2, 3 ORDER BY 1, 2, 3", tuple(args))
        return [tuple(r) for r in rows]

    @defer.inlineCallbacks
    def per_day(self, q: AlarmQuery, zone: str):
        """[(YYYY-MM-DD, count)] of the alarms *q* selects, by day in *zone*, newest day first."""
        condition, args = _where(q)
        rows = yield self.db.runQuery(
            "SELECT to_char(a.alarm_time AT TIME ZONE %s, 'YYYY-MM-DD') AS day, count(*)::int FROM alarm a"
            + condition + " GROUP BY 1 ORDER BY 1 DESC", (zone, *args))
        return [tuple(r) for r in rows]
