"""In memory: :class:`kandian.store.stats.Stats` (samples and daily counts)."""

from __future__ import annotations

import datetime
import zoneinfo

from twisted.internet import defer

from ..stats import Day, Sample, Totals


def _seconds(value):
    return value.timestamp() if isinstance(value, datetime.datetime) else value


class FakeStats:
    def __init__(self, store):
        self.tables = store.tables
        self.sample_rows: dict[float, Sample] = store.tables.setdefault("stats_sample", {})
        self.day_rows: dict[str, Day] = store.tables.setdefault("stats_daily", {})

    def record(self, now, zone):
        t = self.tables
        devices = t.setdefault("device", {})
        online = sum(1 for d in devices.values() if d["online"])
        self.sample_rows.setdefault(now, Sample(now, len(devices), online, len(t.setdefault("app_user", {}))))
        tz = zoneinfo.ZoneInfo(zone)
        day = datetime.datetime.fromtimestamp(now, tz).date()

        def today(at) -> bool:
            return at is not None and datetime.datetime.fromtimestamp(_seconds(at), tz).date() == day

        logins = (sum(1 for s in t.setdefault("mcu_session", {}).values() if today(s["created_at"]))
                  + sum(1 for r in t.setdefault("api_token", {}).values() if today(r["created_at"])))
        alarms = sum(1 for a in t.setdefault("alarm", []) if today(a["at"]))
        plays = sum(1 for r in t.setdefault("hash_token", {}).values()
                    if r["purpose"] == "client" and today(r["issued_at"]))
        key = day.isoformat()
        old = self.day_rows.get(key, Day(key, 0, 0, 0, 0))
        self.day_rows[key] = Day(key, max(old.logins, logins), max(old.alarms, alarms), max(old.plays, plays),
                                 max(old.max_online, online))
        return defer.succeed(None)

    def samples(self, since, until, limit=1000):
        samples = [s for at, s in sorted(self.sample_rows.items()) if since <= at <= until]
        if len(samples) > limit:
            step = len(samples) / limit
            samples = [samples[int(i * step)] for i in range(limit)]
        return defer.succeed(samples)

    def days(self, first, last):
        return defer.succeed([d for key, d in sorted(self.day_rows.items()) if first <= key <= last])

    def totals(self):
        t = self.tables
        devices = t.setdefault("device", {})
        return defer.succeed(Totals(len(devices), sum(1 for d in devices.values() if d["online"]),
                                    len(t.setdefault("app_user", {})), len(t.setdefault("operator", {}))))

    def purge(self, before):
        for at in [at for at in self.sample_rows if at < before]:
            del self.sample_rows[at]
        return defer.succeed(None)
