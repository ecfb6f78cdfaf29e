"""kandian.core.outbox and kandian.core.notify over the fake store and task.Clock."""

from __future__ import annotations

import zoneinfo
from urllib.parse import parse_qs, urlsplit

from twisted.internet import defer, task
from twisted.trial import unittest

from kandian.core import errors
from kandian.core.alarms import Alarms
from kandian.core.keys import Keys
from kandian.core.notify import AlarmLinks, AlarmSms, DevKeySms
from kandian.core.outbox import Batches, Outbox
from kandian.store.fake import FakeStore
from kandian.store.pool import DatabaseUnavailable

from .test_core_accounts import CoreTestCase

A, B = "13800000001", "13800000002"
CAM, CAM2 = "81100000001", "81100000002"
NOW = 1_800_000_000  # 2027-01-15 08:00:00 UTC, 16:00 in Asia/Shanghai
SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")


class Outage:
    """Makes a store method fail DatabaseUnavailable *times* times, counting the calls."""

    def __init__(self, target, name, times):
        self.real = getattr(target, name)
        self.times = times
        self.calls = 0
        setattr(target, name, self)

    def __call__(self, *args, **kw):
        self.calls += 1
        if self.times:
            self.times -= 1
            return defer.fail(DatabaseUnavailable())
        return self.real(*args, **kw)


class OutboxTestCase(unittest.TestCase):
    def setUp(self):
        self.clock = task.Clock()
        self.clock.advance(NOW)
        self.store = FakeStore(node="n1")
        self.outbox = Outbox(self.store, self.clock, node="n1", delivers=True, validity=3600, retry_delay=5,
                             retry_max_delay=60)

    def rows(self):
        return self.store.tables["sms_outbox"]


class OutboxTests(OutboxTestCase):
    @defer.inlineCallbacks
    def test_queue_commits_then_tells_the_listeners(self):
        told = []
        self.outbox.on_queued(lambda: told.append(len(self.rows())))
        message_id = yield self.outbox.queue(A, "hello")
        self.assertEqual(told, [1])
        self.assertEqual(self.rows()[message_id]["valid_until"], NOW + 3600)
        yield self.outbox.send(B, "您的密码为 1234", "password", "您的密码为 ****")
        self.assertEqual(self.outbox.queued, {"message": 1, "password": 1})
        listed = yield self.outbox.list()
        self.assertEqual([m.text for m in listed], ["您的密码为 ****", "hello"])

    @defer.inlineCallbacks
    def test_queue_refuses_what_no_gateway_would_take(self):
        for mobile, text, kind in [("1380000000x", "hi", "message"), ("1234", "hi", "message"),
                                   (A, "", "message"), (A, "x" * 601, "message"), (A, "hi", "fax")]:
            yield self.assertFailure(self.outbox.queue(mobile, text, kind), errors.BadValue)
        self.assertEqual(self.rows(), {})

    @defer.inlineCallbacks
    def test_retries_back_off_and_expire_with_the_validity(self):
        message_id = yield self.outbox.queue(A, "hello")
        due = []
        for _ in range(7):
            [claimed] = yield self.outbox.claim(10)
            yield self.outbox.retry(claimed, "gateway busy")
            row = self.rows()[message_id]
            due.append(row["next_attempt_at"] - self.clock.seconds())
            self.assertEqual(row["status"], "queued")
            self.assertEqual((yield self.outbox.claim(10)), [])  # not due yet
            self.clock.advance(due[-1])
        self.assertEqual(due, [5, 10, 20, 40, 60, 60, 60])
        # an attempt that would come after the validity ends it expired instead
        self.clock.advance(3600 - sum(due) - 30)
        [claimed] = yield self.outbox.claim(10)
        yield self.outbox.retry(claimed, "gateway busy")
        row = self.rows()[message_id]
        self.assertEqual((row["status"], row["reason"]),
                         ("expired", "not submitted within its validity (last: gateway busy)"))
        self.assertEqual(self.outbox.outcomes, {"retry": 7, "expired": 1})

    @defer.inlineCallbacks
    def test_outcomes_wait_out_an_outage_and_are_stored(self):
        ids = []
        for n in range(3):
            ids.append((yield self.outbox.queue(A, "m%d" % n)))
        claimed = yield self.outbox.claim(10)
        outage = Outage(self.store.outbox, "submitted", 3)
        stored = [self.outbox.submitted(c.message_id, ["%020d" % c.message_id]) for c in claimed]
        self.assertEqual([d.called for d in stored], [False] * 3)
        self.assertEqual(self.outbox.unrecorded, 3)
        for delay in (0.5, 1, 2):
            self.assertEqual([c.getTime() - self.clock.seconds() for c in self.clock.getDelayedCalls()], [delay])
            self.clock.advance(delay)
        self.assertEqual([d.called for d in stored], [True] * 3)
        # one write for the first, one batch for the two that waited, then retries of that batch
        self.assertEqual(outage.calls, 4)
        self.assertEqual([self.rows()[i]["status"] for i in ids], ["submitted"] * 3)
        self.assertEqual(self.outbox.unrecorded, 0)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    @defer.inlineCallbacks
    def test_a_report_is_answered_only_once_stored(self):
        message_id = yield self.outbox.queue(A, "hello")
        yield self.outbox.claim(10)
        yield self.outbox.submitted(message_id, ["M1"])
        Outage(self.store.outbox, "report", 1)
        answered = self.outbox.reported("M1", "DELIVRD", "000")
        self.assertFalse(answered.called)
        self.clock.advance(0.5)
        self.assertTrue(answered.called)
        self.assertEqual(self.rows()[message_id]["status"], "delivered")
        # a gateway's garbage is stored as printable text
        yield self.outbox.reported("M2\x00\xff", "\x01", "x" * 99)
        self.assertEqual(self.store.tables["sms_report"]["M2??"], ("?", "x" * 10))

    @defer.inlineCallbacks
    def test_stopping_in_an_outage_gives_up_after_the_grace(self):
        message_id = yield self.outbox.queue(A, "hello")
        [claimed] = yield self.outbox.claim(10)
        Outage(self.store.outbox, "retry", 1000)
        self.outbox.retry(claimed, "gateway unavailable")
        flushed = self.outbox.flush(5)
        self.clock.pump([0.5, 1, 2, 1.5])
        self.assertTrue(flushed.called)
        self.assertEqual(self.outbox.unrecorded, 0)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual(self.rows()[message_id]["status"], "sending")  # released at the next start
        self.assertEqual((yield self.outbox.release_mine()), 1)


class BatchesTests(unittest.TestCase):
    def test_one_batch_in_flight_the_rest_wait(self):
        clock = task.Clock()
        written, pending = [], []

        def write(items):
            written.append(items)
            pending.append(defer.Deferred())
            return pending[-1]
        batches = Batches(write, clock, "things")
        done = [batches.add(n) for n in range(5)]
        self.assertEqual(written, [[0]])
        pending[0].callback(None)
        self.assertEqual(written, [[0], [1, 2, 3, 4]])
        self.assertEqual([d.called for d in done], [True] + [False] * 4)
        idle = batches.idle()
        self.assertFalse(idle.called)
        pending[1].callback(None)
        self.assertTrue(all(d.called for d in done))
        self.assertTrue(idle.called)


class AlarmSmsTests(CoreTestCase):
    @defer.inlineCallbacks
    def setUp(self):
        super().setUp()
        self.clock.advance(NOW - self.clock.seconds())
        self.keys = Keys(self.store.secrets)
        yield self.keys.load()
        self.outbox = Outbox(self.store, self.clock, node="n1", delivers=True)
        self.portal = "http://kandian.example.cn:8592"
        self.links = AlarmLinks(self.keys, self.clock, portal=lambda: self.portal, ttl=86400)
        self.notifier = AlarmSms(self.store, self.outbox, self.links, self.clock, timezone=SHANGHAI, interval=300)
        self.alarms = Alarms(self.store, self.clock, [self.notifier])
        yield self.accounts.add(A, "pw")
        yield self.store.devices.add(CAM, "k1", channels=2)
        user = yield self.store.users.active(A)
        yield self.store.bindings.bind(user.user_id, CAM, 4)

    def messages(self):
        return sorted(self.store.tables["sms_outbox"].values(), key=lambda m: m["message_id"])

    @defer.inlineCallbacks
    def test_the_owner_gets_camera_type_time_and_a_signed_link(self):
        yield self.store.devices.rename_channel(CAM, 1, "收银台")
        alarm = yield self.alarms.report(CAM, 1, 2, "pir", None, "")
        [message] = self.messages()
        self.assertEqual((message["mobile"], message["kind"], message["dev_id"], message["alarm_id"]),
                         (A, "alarm", CAM, alarm.alarm_id))
        text = message["body"]
        self.assertTrue(text.startswith("【手机看店】您的摄像机“收银台”于2027-01-15 16:00:00发生人体红外报警，查看图片："),
                        text)
        link = urlsplit(text.split("：")[-1])
        self.assertEqual((link.scheme, link.netloc, link.path), ("http", "kandian.example.cn:8592",
                                                                 "/alarm/%d" % alarm.alarm_id))
        query = parse_qs(link.query)
        expires, signature = int(query["exp"][0]), query["sig"][0]
        self.assertEqual(expires, NOW + 86400)
        self.links.check(alarm.alarm_id, expires, signature)
        self.assertRaises(errors.LinkRefused, self.links.check, alarm.alarm_id + 1, expires, signature)
        self.assertRaises(errors.LinkRefused, self.links.check, alarm.alarm_id, expires + 1, signature)
        self.clock.advance(86399)
        self.links.check(alarm.alarm_id, expires, signature)
        self.clock.advance(1)
        self.assertRaises(errors.LinkExpired, self.links.check, alarm.alarm_id, expires, signature)

    def test_the_sms_does_not_wait_for_the_pictures_link(self):
        """The alarm's notifiers run once it is stored, not after its picture is linked (a transaction
        that locks the device's pictures): the SMS is queued while the link is still under way."""
        linking = defer.Deferred()
        self.store.files.link_alarm = lambda alarm_id: linking
        reported = self.alarms.report(CAM, 1, 2, "pir", None, "")
        self.assertNoResult(reported)
        [message] = self.messages()
        self.assertEqual(message["kind"], "alarm")
        linking.callback(None)
        self.assertEqual(self.successResultOf(reported).alarm_id, message["alarm_id"])

    @defer.inlineCallbacks
    def test_one_per_device_per_interval(self):
        yield self.alarms.report(CAM, 0, 1, "", None, "")
        yield self.alarms.report(CAM, 1, 1, "", None, "")  # another channel: another alarm, same device
        self.clock.advance(299)
        yield self.alarms.report(CAM, 0, 3, "", None, "")
        self.assertEqual(len(self.messages()), 1)
        self.clock.advance(1)
        yield self.alarms.report(CAM, 0, 4, "", 2, "")
        self.assertEqual(len(self.messages()), 2)
        self.assertIn("开关量报警(输入2)", self.messages()[1]["body"])
        self.assertEqual((self.notifier.queued, self.notifier.skipped["interval"]), (2, 2))

    @defer.inlineCallbacks
    def test_nothing_for_switched_off_owners_orphans_or_without_a_gateway(self):
        yield self.store.users.set_alarm_sms(A, False)
        yield self.alarms.report(CAM, 0, 1, "", None, "")
        yield self.store.users.set_alarm_sms(A, True)
        yield self.store.devices.add(CAM2, "k2")
        yield self.alarms.report(CAM2, 0, 1, "", None, "")
        self.outbox.delivers = False
        yield self.alarms.report(CAM, 0, 2, "", None, "")
        self.assertEqual(self.messages(), [])
        self.assertEqual((self.notifier.skipped["switched_off"], self.notifier.skipped["no_owner"]), (1, 1))

    @defer.inlineCallbacks
    def test_without_a_portal_the_message_has_no_link(self):
        self.portal = None
        yield self.alarms.report(CAM, 0, 3, "", None, "")
        self.assertTrue(self.messages()[0]["body"].endswith("发生手动报警。"))

    @defer.inlineCallbacks
    def test_an_outage_between_the_alarm_and_its_sms_is_waited_out(self):
        outage = Outage(self.store.outbox, "queue", 2)
        yield self.alarms.report(CAM, 0, 1, "", None, "")
        self.assertEqual(self.messages(), [])
        self.clock.advance(0.5)
        self.clock.advance(1)
        self.assertEqual((len(self.messages()), outage.calls), (1, 3))
        # one that outlasts the validity is given up, counted
        Outage(self.store.outbox, "queue", 10_000)
        self.clock.advance(300)
        yield self.alarms.report(CAM, 0, 2, "", None, "")
        for _ in range(400):
            self.clock.advance(10)
        self.assertEqual((len(self.messages()), self.notifier.skipped["failed"]), (1, 1))
        self.assertEqual(self.clock.getDelayedCalls(), [])


class DevKeySmsTests(CoreTestCase):
    @defer.inlineCallbacks
    def setUp(self):
        super().setUp()
        self.outbox = Outbox(self.store, self.clock, node="n1", delivers=True)
        self.devkeys = DevKeySms(self.store, self.outbox)
        yield self.accounts.add(A, "pw")
        yield self.store.devices.add(CAM, "Key-Of-Cam-1")

    @defer.inlineCallbacks
    def test_the_key_goes_to_the_owner_and_is_never_shown(self):
        yield self.assertFailure(self.devkeys.send(CAM2), errors.NoSuchDevice)
        yield self.assertFailure(self.devkeys.send(CAM), errors.NotBound)
        user = yield self.store.users.active(A)
        yield self.store.bindings.bind(user.user_id, CAM, 4)
        mobile, message_id = yield self.devkeys.send(CAM)
        self.assertEqual(mobile, A)
        row = self.store.tables["sms_outbox"][message_id]
        self.assertIn("Key-Of-Cam-1", row["body"])
        [listed] = yield self.outbox.list()
        self.assertNotIn("Key-Of-Cam-1", listed.text)
        self.assertIn(CAM, listed.text)
        yield self.assertFailure(self.devkeys.send(CAM), errors.SmsNotSent)  # again within a minute
        self.clock.advance(60)
        yield self.devkeys.send(CAM)
        self.outbox.delivers = False
        self.clock.advance(60)
        yield self.assertFailure(self.devkeys.send(CAM), errors.SmsNotSent)


class PasswordBySmsTests(CoreTestCase):
    @defer.inlineCallbacks
    def test_the_old_password_works_until_the_new_one_is_used(self):
        yield self.accounts.add(A, "old")
        yield self.accounts.sms_password(A)
        [(_, text)] = self.sms.sent
        new = "".join(c for c in text if c.isdigit())
        yield self.accounts.login(A, "old", "A-1.0", None)
        yield self.accounts.login(A, "old", "A-1.0", None)
        yield self.accounts.login(A, new, "A-1.0", None)
        yield self.assertFailure(self.accounts.login(A, "old", "A-1.0", None), errors.WrongPassword)
        yield self.accounts.login(A, new, "A-1.0", None)

    @defer.inlineCallbacks
    def test_a_second_sms_replaces_the_first_pending_one(self):
        yield self.accounts.add(A, "old")
        yield self.accounts.sms_password(A)
        self.clock.advance(61)
        yield self.accounts.sms_password(A)
        first, second = ["".join(c for c in text if c.isdigit()) for _, text in self.sms.sent]
        yield self.assertFailure(self.accounts.login(A, first, "A-1.0", None), errors.WrongPassword)
        yield self.accounts.login(A, second, "A-1.0", None)

    @defer.inlineCallbacks
    def test_through_the_outbox_the_password_is_never_shown(self):
        outbox = Outbox(self.store, self.clock, node="n1", delivers=True)
        self.accounts.sms = outbox
        yield self.accounts.add(A, "old")
        yield self.accounts.sms_password(A)
        [row] = self.store.tables["sms_outbox"].values()
        new = "".join(c for c in row["body"] if c.isdigit())
        self.assertEqual((row["kind"], len(new)), ("password", 8))
        [listed] = yield outbox.list()
        self.assertEqual(listed.text, "您的手机看店登录密码为 ********，请妥善保管。")

    @defer.inlineCallbacks
    def test_a_message_that_cannot_be_queued_changes_nothing_usable(self):
        outbox = Outbox(FakeStore(), self.clock, node="n1", delivers=True)
        Outage(outbox.outbox, "queue", 1)
        self.accounts.sms = outbox
        yield self.accounts.add(A, "old")
        yield self.assertFailure(self.accounts.sms_password(A), errors.SmsNotSent)
        yield self.accounts.login(A, "old", "A-1.0", None)
