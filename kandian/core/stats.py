"""Statistics for operators (§2.2 统计报表): devices online over time, logins, alarms and plays per day.

:class:`StatsJob` records a sample every ``interval`` seconds of the
injected clock into PostgreSQL (``store.stats``) and drops samples older than
``keep`` seconds; :class:`Statistics` answers the summary the portal shows.
"""

from __future__ import annotations

import datetime
from typing import NamedTuple

from twisted.application import service
from twisted.internet import defer, task
from twisted.logger import Logger

from .access import Principal, require_operator
from .errors import BadValue, log_failure

log = Logger()

MAX_DAYS = 366


class Summary(NamedTuple):
    totals: object  # store.stats.Totals
    online_now: int  # devices with a live link on this node
    samples: list  # [Sample] of the period
    days: list  # [Day] of the period


class Statistics:
    def __init__(self, store, clock, *, zone, online_count=lambda: 0):
        """*zone*: the platform's ZoneInfo; *online_count()*: links held now."""
        self.store = store
        self.clock = clock
        self.zone = zone
        self.online_count = online_count

    @defer.inlineCallbacks
    def summary(self, principal: Principal, days: int = 30):
        require_operator(principal)
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
            raise BadValue("days is 1 to %d" % MAX_DAYS)
        now = self.clock.seconds()
        today = datetime.datetime.fromtimestamp(now, self.zone).date()
        first = today - datetime.timedelta(days=days - 1)
        totals = yield self.store.stats.totals()
        samples = yield self.store.stats.samples(now - days * 86400, now, limit=500)
        rows = yield self.store.stats.days(first.isoformat(), today.isoformat())
        return Summary(totals, self.online_count(), samples, rows)


class StatsJob(service.Service):
    """Records a statistics sample every *interval* seconds (and once at start)."""

    name = "stats"

    def __init__(self, store, clock, *, zone: str, interval: float = 300.0, keep: float = 90 * 86400.0):
        self.store = store
        self.clock = clock
        self.zone = zone
        self.interval = interval
        self.keep = keep
        self.recorded = 0
        self._loop = task.LoopingCall(self.record)
        self._loop.clock = clock

    def startService(self):
        super().startService()
        self._loop.start(self.interval, now=True)

    def stopService(self):
        super().stopService()
        if self._loop.running:
            self._loop.stop()

    @defer.inlineCallbacks
    def record(self):
        now = self.clock.seconds()
        try:
            yield self.store.stats.record(now, self.zone)
            yield self.store.stats.purge(now - self.keep)
            self.recorded += 1
        except Exception:
            log_failure(log, "could not record statistics")
