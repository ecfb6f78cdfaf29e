"""Alarms (§7.5.34 ALARM_NOTIFY, §8.19 QueryAlarms) and their pictures (§7.5.27).

An alarm is committed before the device is told so, once per 60 s for the
same device, channel, type and DIDO input (§7.5.34); every alarm stored is
linked to its picture if that arrived first (else the picture, when it comes
within 60 s, links itself: :mod:`kandian.store.files`) and handed to the
registered :class:`~kandian.core.interfaces.IAlarmNotifier`\\ s (SMS
implements one).  Queries are pages of the alarms of the devices bound to an
account, newest first.
"""

from __future__ import annotations

import attrs
from twisted.internet import defer
from twisted.logger import Logger

from . import errors
from .errors import log_failure
from .interfaces import IAlarmNotifier

log = Logger()

PAGE_SIZE = 10  # §8.19: 10 per page


@attrs.frozen
class Alarm:
    """A stored alarm."""
    alarm_id: int
    dev_id: str
    channel_no: int
    alarm_type: int
    desc: str
    dido_no: int | None
    file_name: str
    at: float  # POSIX seconds


@attrs.frozen
class Picture:
    """An alarm's picture on disk: *path* is absolute; *taken_at* POSIX seconds
    (from NOTIFY_PICTURE_REQ's Time or the picture's name), or None."""
    path: str
    size: int
    sha256: str
    taken_at: float | None
    dev_id: str
    file_name: str


@attrs.frozen
class AlarmPage:
    total: int
    rows: list  # [(DevName, AlarmType, DIDONoName, alarm_time datetime)]


class Alarms:
    def __init__(self, store, clock, notifiers=(), *, layout=None):
        """*layout*: where pictures are (:class:`kandian.core.files.Layout`)."""
        self.store = store
        self.clock = clock
        self.layout = layout
        self.notifiers = [IAlarmNotifier(n) for n in notifiers]
        self.stored = 0  # alarms stored, repeats within 60 s excluded

    def add_notifier(self, notifier) -> None:
        self.notifiers.append(IAlarmNotifier(notifier))

    @defer.inlineCallbacks
    def report(self, dev_id: str, channel_no: int, alarm_type: int, desc: str, dido_no, file_name: str):
        """Store a device's alarm; the :class:`Alarm`, or None when it repeats
        one stored less than 60 s before (acknowledged, not stored again)."""
        now = self.clock.seconds()
        alarm_id = yield self.store.alarms.add(dev_id, channel_no, alarm_type, desc, dido_no, file_name, now)
        if alarm_id is None:
            return None
        self.stored += 1
        alarm = Alarm(alarm_id, dev_id, channel_no, alarm_type, desc, dido_no, file_name, now)
        # the notifiers first: an alarm SMS does not wait for the picture's link (its page finds the picture
        # by the alarm whenever it comes)
        for notifier in self.notifiers:
            defer.maybeDeferred(notifier.alarm_stored, alarm).addErrback(
                lambda f: log.failure("alarm notifier failed for {dev_id}", f, dev_id=dev_id))
        try:
            yield self.store.files.link_alarm(alarm_id)
        except Exception:  # committed all the same: the picture, when it comes, links itself
            log_failure(log, "alarm {alarm_id} of {dev_id}: picture not linked", alarm_id=alarm_id, dev_id=dev_id)
        return alarm

    def get(self, alarm_id: int) -> defer.Deferred:
        """The stored alarm (kandian.store.alarms.StoredAlarm, with its camera's name), or None."""
        return self.store.alarms.get(alarm_id)

    @defer.inlineCallbacks
    def query(self, user_id: int, dev_id: str | None, channel_no: int | None, start, end, page: int):
        """Page *page* (from 1) of the alarms of the user's devices (or one of
        them, and one of its channels) between *start* and *end* (datetimes or None)."""
        if page < 1:
            raise errors.BadValue("PageNo counts from 1")
        total, rows = yield self.store.alarms.page(user_id, dev_id or None, channel_no, start, end,
                                                   (page - 1) * PAGE_SIZE, PAGE_SIZE)
        return AlarmPage(total, rows)

    @defer.inlineCallbacks
    def picture(self, alarm_id: int):
        """The alarm's :class:`Picture`, or None (no such alarm, or no picture on disk yet)."""
        row = yield self.store.files.alarm_picture(alarm_id)
        if row is None or self.layout is None:
            return None
        return Picture(self.layout.picture(row.dev_id, row.file_name), row.size, row.sha256, row.taken_at,
                       row.dev_id, row.file_name)
