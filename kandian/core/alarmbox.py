"""Alarms as an inbox for the device-cloud video API (spec/001 §17; §7.5.34 alarms, §7.5.27 their pictures).

Every alarm a camera reported (:mod:`.alarms`) is listed here, unread until
read through the API.  An alarm with its picture is a picture alarm (§17's
``alarm_way`` 2); one without is an alarm message (§17.2's "设备信息", way 3);
kandian makes no alarm video clips (way 1 selects none).  A query spans at
most 31 days; a device key sees its device's alarms only.
"""

from __future__ import annotations

from twisted.internet import defer

from ..store.alarmbox import AlarmQuery
from . import errors
from .devicekeys import Grant
from .profiles import paging

__all__ = ["AlarmInbox", "AlarmQuery", "MAX_SPAN", "WAY_VIDEO", "WAY_PICTURE", "WAY_MESSAGE"]

MAX_SPAN = 31 * 86400
WAY_VIDEO, WAY_PICTURE, WAY_MESSAGE = 1, 2, 3
MAX_IDS = 1000


def _scoped(grant: Grant, dev_id: str | None) -> str | None:
    scope = grant.scope()
    if scope is None:
        return dev_id
    if dev_id and dev_id != scope:
        raise errors.Forbidden("this key may not act on device %s" % (dev_id,))
    return scope


def _span(since: float, until: float) -> None:
    if until <= since:
        raise errors.BadValue("end_time is after start_time")
    if until - since > MAX_SPAN:
        raise errors.BadValue("a query spans 31 days at most")


def _ids(alarm_ids) -> list[int]:
    """The alarm ids of a §17.3/§17.5 body: strings (or numbers); ids no alarm has are dropped."""
    if not isinstance(alarm_ids, list) or len(alarm_ids) > MAX_IDS:
        raise errors.BadValue("alarm_id is a list of at most %d ids" % MAX_IDS)
    found = []
    for value in alarm_ids:
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise errors.BadValue("an alarm_id is a string")
        text = str(value)
        if text.isdigit() and len(text) <= 18:
            found.append(int(text))
    return found


class AlarmInbox:
    def __init__(self, store, clock, *, zone):
        """*zone*: the platform's ZoneInfo (days of §17.6, §17.7)."""
        self.store = store
        self.clock = clock
        self.zone = zone

    def now(self) -> float:
        return self.clock.seconds()

    @defer.inlineCallbacks
    def page(self, grant: Grant, *, dev_id: str | None, channel_no: int | None, alarm_type: int | None,
             way: int | None, read: bool | None, since: float, until: float, page: int, per_page: int,
             mark_read: bool = False):
        """(total, [AlarmItem]) newest first; *mark_read*: those listed are read from now on (§17.2)."""
        dev_id = _scoped(grant, dev_id)
        _span(since, until)
        offset = paging(page, per_page)
        if way not in (None, WAY_VIDEO, WAY_PICTURE, WAY_MESSAGE):
            raise errors.BadValue("alarm_way is 1, 2 or 3")
        if way == WAY_VIDEO:
            return 0, []
        q = AlarmQuery(dev_id=dev_id, channel_no=channel_no, alarm_type=alarm_type,
                       picture=None if way is None else way == WAY_PICTURE, read=read, since=since, until=until)
        return (yield self.store.alarm_box.page(q, offset, per_page, read_now=self.now() if mark_read else None))

    @defer.inlineCallbacks
    def mark_read(self, grant: Grant, alarm_ids):
        ids = _ids(alarm_ids)
        return (yield self.store.alarm_box.mark_read(ids, _scoped(grant, None), self.now()))

    @defer.inlineCallbacks
    def delete(self, grant: Grant, alarm_ids):
        ids = _ids(alarm_ids)
        return (yield self.store.alarm_box.delete(ids, _scoped(grant, None)))

    @defer.inlineCallbacks
    def unread(self, grant: Grant, dev_id: str | None, channel_no: int | None):
        """[(DevID, ChannelNo, way, count)] of the unread alarms."""
        rows = yield self.store.alarm_box.unread(_scoped(grant, dev_id), channel_no)
        return [(d, c, WAY_PICTURE if picture else WAY_MESSAGE, n) for d, c, picture, n in rows]

    @defer.inlineCallbacks
    def per_day(self, grant: Grant, dev_id: str | None, since: float, until: float, unread_only: bool):
        """[(YYYY-MM-DD, count)] newest day first (§17.6 unread, §17.7 all)."""
        _span(since, until)
        q = AlarmQuery(dev_id=_scoped(grant, dev_id), read=False if unread_only else None, since=since, until=until)
        return (yield self.store.alarm_box.per_day(q, self.zone.key))
