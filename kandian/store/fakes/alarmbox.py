"""In memory: :class:`kandian.store.alarmbox.AlarmBoxStore` over the fake ``alarm`` table's dicts
(``read_at`` and ``picture_id`` keys, absent meaning NULL)."""

from __future__ import annotations

import collections
import datetime
import zoneinfo

from twisted.internet import defer

from ..alarmbox import AlarmItem, AlarmQuery


class FakeAlarmBox:
    def __init__(self, store):
        self.tables = store.tables
        self.alarm = self.tables.setdefault("alarm", [])

    @staticmethod
    def _selected(q: AlarmQuery, a) -> bool:
        for key, value in (("dev_id", q.dev_id), ("channel_no", q.channel_no), ("alarm_type", q.alarm_type)):
            if value is not None and a[key] != value:
                return False
        if q.picture is not None and (a.get("picture_id") is not None) != q.picture:
            return False
        if q.read is not None and (a.get("read_at") is not None) != q.read:
            return False
        if q.since is not None and a["at"] < q.since:
            return False
        return not (q.until is not None and a["at"] >= q.until)

    @staticmethod
    def _item(a) -> AlarmItem:
        return AlarmItem(a["alarm_id"], a["dev_id"], a["channel_no"], a["alarm_type"], a["desc"], a["at"],
                         a.get("read_at") is not None, a.get("picture_id") is not None)

    def page(self, q, offset, limit, *, read_now=None):
        rows = sorted((a for a in self.alarm if self._selected(q, a)), key=lambda a: (a["at"], a["alarm_id"]),
                      reverse=True)
        listed = rows[offset:offset + limit]
        items = [self._item(a) for a in listed]
        if read_now is not None:
            for a in listed:
                if a.get("read_at") is None:
                    a["read_at"] = read_now
        return defer.succeed((len(rows), items))

    def mark_read(self, alarm_ids, dev_id, now):
        ids, n = set(alarm_ids), 0
        for a in self.alarm:
            if a["alarm_id"] in ids and a.get("read_at") is None and (dev_id is None or a["dev_id"] == dev_id):
                a["read_at"] = now
                n += 1
        return defer.succeed(n)

    def delete(self, alarm_ids, dev_id):
        ids = set(alarm_ids)
        kept = [a for a in self.alarm if not (a["alarm_id"] in ids and (dev_id is None or a["dev_id"] == dev_id))]
        n = len(self.alarm) - len(kept)
        self.alarm[:] = kept
        return defer.succeed(n)

    def unread(self, dev_id, channel_no):
        q = AlarmQuery(dev_id=dev_id, channel_no=channel_no, read=False)
        counts = collections.Counter((a["dev_id"], a["channel_no"], a.get("picture_id") is not None)
                                     for a in self.alarm if self._selected(q, a))
        return defer.succeed([(*k, n) for k, n in sorted(counts.items())])

    def per_day(self, q, zone):
        tz = zoneinfo.ZoneInfo(zone)
        counts = collections.Counter(datetime.datetime.fromtimestamp(a["at"], tz).strftime("%Y-%m-%d")
                                     for a in self.alarm if self._selected(q, a))
        return defer.succeed(sorted(counts.items(), reverse=True))
