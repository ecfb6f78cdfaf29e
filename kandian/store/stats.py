"""Statistics for operators (§2.2 统计报表; tables stats_sample, stats_daily).

A periodic job (:class:`kandian.core.stats.StatsJob`) calls :meth:`Stats.record`:
one sample of how many devices exist and are online, and today's counts
(in the platform's time zone) of logins (MCU sessions and portal logins),
alarms and plays (client play tokens issued) — kept here because the rows
they are counted from are purged (tokens) or may be.
"""

from __future__ import annotations

from typing import NamedTuple

from twisted.internet import defer


class Sample(NamedTuple):
    at: float
    devices: int
    online: int
    users: int


class Day(NamedTuple):
    day: str  # YYYY-MM-DD
    logins: int
    alarms: int
    plays: int
    max_online: int


class Totals(NamedTuple):
    devices: int
    online: int
    users: int
    operators: int


class Stats:
    def __init__(self, db):
        self.db = db

    def record(self, now: float, zone: str) -> defer.Deferred:
        """One sample at *now*, and the counts of *now*'s day in *zone* (an IANA name)."""

        @defer.inlineCallbacks
        def interaction(cursor):
            yield cursor.execute(
                "INSERT INTO stats_sample (sampled_at, devices, online, users)"
                " SELECT to_timestamp(%s), (SELECT count(*) FROM device), (SELECT count(*) FROM device WHERE online),"
                " (SELECT count(*) FROM app_user) ON CONFLICT (sampled_at) DO NOTHING", (now, ))
            day = "(to_timestamp(%s) AT TIME ZONE %s)::date"
            between = ("{col} >= (" + day + ")::timestamp AT TIME ZONE %s"
                       " AND {col} < ((" + day + ") + 1)::timestamp AT TIME ZONE %s")
            args = (now, zone, zone, now, zone, zone)
            yield cursor.execute(
                "INSERT INTO stats_daily (day, logins, alarms, plays, max_online) SELECT " + day + ","
                " (SELECT count(*) FROM mcu_session WHERE " + between.format(col="created_at") + ")"
                " + (SELECT count(*) FROM api_token WHERE " + between.format(col="created_at") + "),"
                " (SELECT count(*) FROM alarm WHERE " + between.format(col="alarm_time") + "),"
                " (SELECT count(*) FROM hash_token WHERE purpose = 'client' AND "
                + between.format(col="issued_at") + "),"
                " (SELECT count(*) FROM device WHERE online)"
                " ON CONFLICT (day) DO UPDATE SET logins = greatest(stats_daily.logins, excluded.logins),"
                " alarms = greatest(stats_daily.alarms, excluded.alarms),"
                " plays = greatest(stats_daily.plays, excluded.plays),"
                " max_online = greatest(stats_daily.max_online, excluded.max_online)",
                (now, zone) + args * 4)

        return self.db.runInteraction(interaction)

    @defer.inlineCallbacks
    def samples(self, since: float, until: float, limit: int = 1000):
        """The samples in [since, until], oldest first, at most *limit* (evenly thinned)."""
        rows = yield self.db.runQuery(
            "SELECT extract(epoch FROM sampled_at)::float8, devices, online, users FROM stats_sample"
            " WHERE sampled_at BETWEEN to_timestamp(%s) AND to_timestamp(%s) ORDER BY sampled_at", (since, until))
        samples = [Sample(*row) for row in rows]
        if len(samples) > limit:
            step = len(samples) / limit
            samples = [samples[int(i * step)] for i in range(limit)]
        return samples

    @defer.inlineCallbacks
    def days(self, first: str, last: str):
        """[Day] from *first* to *last* (YYYY-MM-DD, inclusive), days without a row left out."""
        rows = yield self.db.runQuery(
            "SELECT to_char(day, 'YYYY-MM-DD'), logins, alarms, plays, max_online FROM stats_daily"
            " WHERE day BETWEEN %s::date AND %s::date ORDER BY day", (first, last))
        return [Day(*row) for row in rows]

    @defer.inlineCallbacks
    def totals(self):
        rows = yield self.db.runQuery(
            "SELECT (SELECT count(*) FROM device), (SELECT count(*) FROM device WHERE online),"
            " (SELECT count(*) FROM app_user), (SELECT count(*) FROM operator)")
        return Totals(*rows[0])

    def purge(self, before: float) -> defer.Deferred:
        """Samples older than *before* go (the daily rows stay)."""
        return self.db.runOperation("DELETE FROM stats_sample WHERE sampled_at < to_timestamp(%s)", (before,))
