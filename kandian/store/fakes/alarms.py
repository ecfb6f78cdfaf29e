"""In memory: :class:`kandian.store.alarms.AlarmStore` (§7.5.34's 60 s de-duplication, §8.19 pages).

Which devices an account may see is read from the ``user_device`` table of
the fake, a dict ``(user_id, dev_id) → share_flag``.
"""

from __future__ import annotations

import datetime
import itertools

from twisted.internet import defer

from ..alarms import ALARM_REPEAT_WINDOW, StoredAlarm


class FakeAlarms:
    def __init__(self, store):
        self.tables = store.tables
        self.alarm = self.tables.setdefault("alarm", [])  # dicts, in insertion order
        self._ids = itertools.count(1)

    def add(self, dev_id, channel_no, alarm_type, desc, dido_no, file_name, now):
        for a in self.alarm:
            if ((a["dev_id"], a["channel_no"], a["alarm_type"], a["dido_no"]) == (dev_id, channel_no, alarm_type,
                                                                                  dido_no)
                    and a["at"] > now - ALARM_REPEAT_WINDOW):
                return defer.succeed(None)
        alarm_id = next(self._ids)
        self.alarm.append(dict(alarm_id=alarm_id, dev_id=dev_id, channel_no=channel_no, alarm_type=alarm_type,
                               desc=desc, dido_no=dido_no, file_name=file_name, at=now))
        return defer.succeed(alarm_id)

    def get(self, alarm_id):
        for a in self.alarm:
            if a["alarm_id"] == alarm_id:
                device = self.tables.get("device", {}).get(a["dev_id"], {})
                channel = self.tables.get("channel", {}).get((a["dev_id"], a["channel_no"]), "")
                alias = channel if isinstance(channel, str) else channel.get("name", "")
                return defer.succeed(StoredAlarm(
                    a["alarm_id"], a["dev_id"], a["channel_no"], a["alarm_type"], a["desc"], a["dido_no"],
                    a["file_name"], datetime.datetime.fromtimestamp(a["at"], datetime.UTC),
                    alias or device.get("name") or a["dev_id"]))
        return defer.succeed(None)

    def page(self, user_id, dev_id, channel_no, start, end, offset, limit):
        bound = self.tables.get("user_device", {})
        devices = self.tables.get("device", {})
        didos = self.tables.get("dido", {})  # (dev_id, dido_no) → name
        start_s = start.timestamp() if start is not None else None
        end_s = end.timestamp() if end is not None else None
        rows = []
        for a in self.alarm:
            if (user_id, a["dev_id"]) not in bound:
                continue
            if dev_id and (a["dev_id"] != dev_id or channel_no is not None and a["channel_no"] != channel_no):
                continue
            if start_s is not None and a["at"] < start_s or end_s is not None and a["at"] > end_s:
                continue
            rows.append(a)
        rows.sort(key=lambda a: (a["at"], a["alarm_id"]), reverse=True)
        return defer.succeed((len(rows), [
            ((devices.get(a["dev_id"], {}).get("name") or a["dev_id"]), a["alarm_type"],
             didos.get((a["dev_id"], a["dido_no"]), ""),
             datetime.datetime.fromtimestamp(a["at"], datetime.UTC))
            for a in rows[offset:offset + limit]]))
