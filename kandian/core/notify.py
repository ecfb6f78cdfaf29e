"""What the platform tells owners by SMS: alarms (§7.5.34) and DevKeys (§4.17).

:class:`AlarmSms` is the core's :class:`~kandian.core.interfaces.IAlarmNotifier`
for SMS: every stored alarm (§7.5.34's 60 s de-duplication done) sends the
device's owner one message naming the camera (its alias, or the DevID), the
alarm type in words, the time and a signed, expiring link to the alarm's
page on the portal — at most one per device per ``alarm_sms_interval``, and
none to an owner who switched alarm SMS off.  :class:`AlarmLinks` makes and
checks those links (the portal's alarm page checks them).
:class:`DevKeySms` sends a device's key to its owner.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable

from twisted.internet import defer
from twisted.logger import Logger
from zope.interface import implementer

from . import errors
from .errors import log_failure
from .interfaces import IAlarmNotifier
from .outbox import retrying

log = Logger()

SIGNATURE = "【手机看店】"
ALARM_TYPES = {1: "移动侦测报警", 2: "人体红外报警", 3: "手动报警", 4: "开关量报警"}  # §7.5.34 AlarmType
LINK_PURPOSE = "alarm"
DEVKEY_INTERVAL = 60.0  # seconds between two DevKey messages for one device


def alarm_path(alarm_id: int) -> str:
    """The path the alarm link signs (the page and its picture share it)."""
    return "/alarm/%d" % (alarm_id,)


def alarm_type_words(alarm_type: int, dido_no: int | None = None) -> str:
    words = ALARM_TYPES.get(alarm_type, "报警(类型%d)" % (alarm_type,))
    if alarm_type == 4 and dido_no is not None:
        words += "(输入%d)" % (dido_no,)
    return words


class AlarmLinks:
    """Signed, expiring links to an alarm's page on the portal.  *portal()*:
    the portal's base URL (``http://host:port``), None while there is none;
    *ttl*: seconds a link stays valid."""

    def __init__(self, keys, clock, *, portal: Callable[[], str | None], ttl: float):
        self.keys = keys
        self.clock = clock
        self.portal = portal
        self.ttl = ttl

    def link(self, alarm_id: int) -> str | None:
        base = self.portal()
        if not base:
            return None
        expires = int(self.clock.seconds() + self.ttl)
        path = alarm_path(alarm_id)
        return "%s%s?exp=%d&sig=%s" % (base.rstrip("/"), path, expires, self.keys.sign(LINK_PURPOSE, path, expires))

    def check(self, alarm_id: int, expires: int, signature: str) -> None:
        """Raises LinkExpired, or LinkRefused when *expires* and *signature*
        are not this platform's for the alarm."""
        if self.clock.seconds() >= expires:
            raise errors.LinkExpired("alarm link expired")
        if not self.keys.verify(LINK_PURPOSE, alarm_path(alarm_id), expires, signature, self.clock.seconds()):
            raise errors.LinkRefused("bad alarm link signature")


@implementer(IAlarmNotifier)
class AlarmSms:
    """*outbox*: the :class:`~kandian.core.outbox.Outbox`; *links*: the
    :class:`AlarmLinks` (without a portal the SMS goes without a link);
    *interval*: seconds between two alarm SMS of one device (0: no limit)."""

    def __init__(self, store, outbox, links: AlarmLinks, clock, *, timezone, interval: float):
        self.store = store
        self.outbox = outbox
        self.links = links
        self.clock = clock
        self.timezone = timezone
        self.interval = interval
        self.queued = 0
        self.skipped: dict[str, int] = {"no_owner": 0, "switched_off": 0, "interval": 0, "failed": 0}

    def alarm_stored(self, alarm) -> defer.Deferred | None:
        if not self.outbox.delivers:
            return None
        d = retrying(self.clock, lambda: self._notify(alarm), self.clock.seconds() + self.outbox.validity)
        d.addErrback(self._failed, alarm)
        return d

    @defer.inlineCallbacks
    def _notify(self, alarm):
        owner = yield self.store.outbox.alarm_recipient(alarm.dev_id, alarm.channel_no)
        if owner is None:
            self.skipped["no_owner"] += 1
            return None
        if not owner.alarm_sms:
            self.skipped["switched_off"] += 1
            return None
        message_id = yield self.outbox.queue(owner.mobile, self.text(alarm, owner.camera), "alarm",
                                             dev_id=alarm.dev_id, alarm_id=alarm.alarm_id,
                                             once_per=self.interval or None)
        if message_id is None:
            self.skipped["interval"] += 1
        else:
            self.queued += 1
        return message_id

    def _failed(self, failure, alarm):
        self.skipped["failed"] += 1
        log_failure(log, "alarm {alarm_id} of {dev_id}: no SMS queued", failure, alarm_id=alarm.alarm_id,
                    dev_id=alarm.dev_id)

    def text(self, alarm, camera: str) -> str:
        when = datetime.datetime.fromtimestamp(alarm.at, self.timezone).strftime("%Y-%m-%d %H:%M:%S")
        text = "%s您的摄像机“%s”于%s发生%s" % (SIGNATURE, camera, when, alarm_type_words(alarm.alarm_type,
                                                                                       alarm.dido_no))
        link = self.links.link(alarm.alarm_id)
        return text + ("，查看图片：%s" % (link,) if link else "。")


class DevKeySms:
    """§4.17: a device's key sent to its owner's mobile."""

    def __init__(self, store, outbox):
        self.store = store
        self.outbox = outbox

    @defer.inlineCallbacks
    def send(self, dev_id: str):
        """Queue the DevKey of *dev_id* to its owner: ``(mobile, message_id)``.
        Raises SmsNotSent (no gateway; one sent for this device less than a
        minute ago), NoSuchDevice, NotBound (the device has no owner)."""
        if not self.outbox.delivers:
            raise errors.SmsNotSent("no SMS gateway configured")
        found = yield self.store.outbox.key_recipient(dev_id)
        if found is None:
            raise errors.NoSuchDevice("no device %s" % (dev_id,))
        if found.mobile is None:
            raise errors.NotBound("device %s has no owner" % (dev_id,))
        template = "%s您的设备%s的设备密钥(DevKey)为：%s，请妥善保管。"
        message_id = yield self.outbox.queue(
            found.mobile, template % (SIGNATURE, dev_id, found.dev_key), "devkey",
            display=template % (SIGNATURE, dev_id, "*" * len(found.dev_key)), dev_id=dev_id,
            once_per=DEVKEY_INTERVAL)
        if message_id is None:
            raise errors.SmsNotSent("a DevKey SMS for %s was queued less than %d s ago" % (dev_id, DEVKEY_INTERVAL))
        return found.mobile, message_id
