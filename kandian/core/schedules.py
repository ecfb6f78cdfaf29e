"""Recording schedules: weekly windows per channel (PRODUCT.md "Media"; spec 002 §3.14–§3.17 "courses").

A window is a weekday (0 Sunday … 6 Saturday), a start time of day and a
duration in seconds, in the platform's time zone.  Spec 002's rules: the
end (start + duration) may not pass 23:59:59 — no window across midnight
(:class:`~.errors.CrossesMidnight`, its err_code 1013) — and two windows of
one channel and weekday may not overlap (:class:`~.errors.ScheduleOverlap`,
1012; windows that only touch do not).  Who may see or change a channel's
windows is :mod:`.access`'s: seeing is "view", changing is "control".

:func:`occurrences` turns windows into the concrete intervals (POSIX
seconds) the recorder acts on; a change is told to the listeners of
:meth:`Schedules.subscribe` at once, so a window in progress starts
recording without waiting for the recorder's next look.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Iterable

import attrs
from twisted.internet import defer
from twisted.logger import Logger

from . import errors
from .access import Principal

log = Logger()

DAY = 86400
LAST_SECOND = DAY - 1  # 23:59:59: a window's end may not pass it
_TIME = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])(?::([0-5][0-9]))?$")


def parse_start(value) -> int:
    """``HH:MM:SS`` (or ``HH:MM``) → seconds after midnight; BadValue."""
    match = _TIME.match(value) if isinstance(value, str) else None
    if match is None:
        raise errors.BadValue("start is a time of day HH:MM:SS, 00:00:00 to 23:59:59")
    hours, minutes, seconds = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + int(seconds or 0)


def format_start(seconds: int) -> str:
    return "%02d:%02d:%02d" % (seconds // 3600, seconds // 60 % 60, seconds % 60)


def check_window(weekday, start, duration) -> tuple[int, int, int]:
    """(weekday, start seconds, duration) from what a client sent; BadValue, CrossesMidnight."""
    if not isinstance(weekday, int) or isinstance(weekday, bool) or not 0 <= weekday <= 6:
        raise errors.BadValue("weekday is 0 (Sunday) to 6 (Saturday)")
    start_s = parse_start(start) if not isinstance(start, int) or isinstance(start, bool) else start
    if not 0 <= start_s <= LAST_SECOND:
        raise errors.BadValue("start is 00:00:00 to 23:59:59")
    if not isinstance(duration, int) or isinstance(duration, bool) or duration <= 0:
        raise errors.BadValue("duration is a whole number of seconds greater than 0")
    if start_s + duration > LAST_SECOND:
        raise errors.CrossesMidnight("%s + %d s passes 23:59:59: no window across midnight"
                                     % (format_start(start_s), duration))
    return weekday, start_s, duration


@attrs.frozen
class Occurrence:
    """One window on one date: [start, end) in POSIX seconds."""
    schedule_id: int
    dev_id: str
    channel_no: int
    start: float
    end: float


def occurrences(schedules: Iterable, since: float, until: float, zone) -> list[Occurrence]:
    """The windows of *schedules* that overlap [since, until), by start."""
    first = datetime.datetime.fromtimestamp(since, zone).date() - datetime.timedelta(days=1)
    last = datetime.datetime.fromtimestamp(until, zone).date()
    by_weekday: dict[int, list] = {}
    for s in schedules:
        by_weekday.setdefault(s.weekday, []).append(s)
    found = []
    day = first
    while day <= last:
        weekday = (day.weekday() + 1) % 7  # Python's Monday 0 → the spec's Sunday 0
        midnight = datetime.datetime(day.year, day.month, day.day, tzinfo=zone)
        for s in by_weekday.get(weekday, ()):
            start = (midnight + datetime.timedelta(seconds=s.start)).timestamp()
            end = start + s.duration
            if start < until and end > since:
                found.append(Occurrence(s.schedule_id, s.dev_id, s.channel_no, start, end))
        day += datetime.timedelta(days=1)
    found.sort(key=lambda o: (o.start, o.schedule_id))
    return found


class Schedules:
    """*access*: :class:`kandian.core.access.Access`."""

    def __init__(self, store, clock, access, zone):
        self.store = store
        self.clock = clock
        self.access = access
        self.zone = zone
        self._listeners: list[Callable[[str, int], None]] = []

    def subscribe(self, listener: Callable[[str, int], None]) -> None:
        """*listener(dev_id, channel_no)* after every change made through this object."""
        self._listeners.append(listener)

    def _changed(self, dev_id: str, channel_no: int) -> None:
        for listener in self._listeners:
            try:
                listener(dev_id, channel_no)
            except Exception:
                log.failure("a schedule listener failed")

    @defer.inlineCallbacks
    def add(self, principal: Principal, dev_id: str, channel_no, weekday, start, duration):
        """A new window on the channel; the :class:`kandian.store.recordings.Schedule`.
        BadValue, CrossesMidnight, ScheduleOverlap, NoSuchChannel, and :meth:`Access.device`'s refusals."""
        channel_no = _channel(channel_no)
        weekday, start_s, duration = check_window(weekday, start, duration)
        yield self.access.device(principal, dev_id, "control")
        made = yield self.store.recordings.add_schedule(dev_id, channel_no, weekday, start_s, duration,
                                                        self.clock.seconds())
        self._changed(dev_id, channel_no)
        return made

    @defer.inlineCallbacks
    def list(self, principal: Principal, dev_id: str, channel_no=None):
        """The device's windows (one channel's, with *channel_no*), by channel, weekday and start."""
        if channel_no is not None:
            channel_no = _channel(channel_no)
        yield self.access.device(principal, dev_id, "view")
        return (yield self.store.recordings.schedules(dev_id, channel_no))

    @defer.inlineCallbacks
    def get(self, principal: Principal, schedule_id, dev_id: str | None = None, channel_no=None, level="view"):
        """One window; NoSuchSchedule (also when it is not on *dev_id*/*channel_no*, or not this principal's)."""
        found = yield self.store.recordings.schedule(_id(schedule_id))
        if found is None or (dev_id is not None and found.dev_id != dev_id) or (
                channel_no is not None and found.channel_no != _channel(channel_no)):
            raise errors.NoSuchSchedule("no schedule %s" % (str(schedule_id)[:20],))
        try:
            yield self.access.device(principal, found.dev_id, level)
        except (errors.NotBound, errors.NoSuchDevice):
            raise errors.NoSuchSchedule("no schedule %s" % (schedule_id,)) from None
        return found

    @defer.inlineCallbacks
    def update(self, principal: Principal, schedule_id, weekday, start, duration):
        """Move a window (its channel stays); the moved Schedule."""
        weekday, start_s, duration = check_window(weekday, start, duration)
        found = yield self.get(principal, schedule_id, level="control")
        moved = yield self.store.recordings.update_schedule(found.schedule_id, weekday, start_s, duration,
                                                            self.clock.seconds())
        if moved is None:
            raise errors.NoSuchSchedule("no schedule %s" % (schedule_id,))
        self._changed(found.dev_id, found.channel_no)
        return moved

    @defer.inlineCallbacks
    def delete(self, principal: Principal, schedule_id, dev_id: str | None = None, channel_no=None):
        """Delete a window (a recording in progress because of it stops); NoSuchSchedule."""
        found = yield self.get(principal, schedule_id, dev_id, channel_no, level="control")
        yield self.store.recordings.delete_schedule(found.schedule_id)
        self._changed(found.dev_id, found.channel_no)

    def all(self):
        """Every window of every channel (for the recorder)."""
        return self.store.recordings.schedules()


def _channel(value) -> int:
    if isinstance(value, str) and value.isdigit() and len(value) <= 3:
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 255:
        raise errors.NoSuchChannel("no channel %r" % (str(value)[:20],))
    return value


def _id(value) -> int:
    if isinstance(value, str) and value.isdigit() and len(value) <= 18:
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63:
        return value
    raise errors.NoSuchSchedule("no schedule %r" % (str(value)[:20],))
