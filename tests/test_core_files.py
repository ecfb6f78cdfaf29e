"""kandian.core.files and the pictures of kandian.core.alarms over the in-memory store (FakeStore + task.Clock)."""

from __future__ import annotations

import os
from zoneinfo import ZoneInfo

from twisted.internet import defer, task
from twisted.trial import unittest

from kandian.batching import Batcher
from kandian.core import errors
from kandian.core.alarms import Alarms
from kandian.core.devices import Devices
from kandian.core.files import STALE, Files, FtpLogin, GroupCommit, Layout, format_picture_name
from kandian.core.keys import Keys
from kandian.device.registry import LinkRegistry
from kandian.device.router import LocalRouter
from kandian.store.fake import FakeStore
from kandian.throttle import FailureThrottle

TZ = ZoneInfo("Asia/Shanghai")
DEV = "81100000001"
OTHER = "81100000002"
SHA = "cd" * 32
NOW = 1_800_000_000
PIC = format_picture_name(DEV, 0, NOW, TZ)  # taken at NOW


class FilesTestCase(unittest.TestCase):
    def setUp(self):
        self.clock = task.Clock()
        self.clock.advance(NOW)
        self.store = FakeStore()
        self.successResultOf(self.store.devices.add(DEV, "key"))
        self.keys = Keys(self.store.secrets)
        self.successResultOf(self.keys.load())
        self.layout = Layout(self.mktemp())
        self.throttle = FailureThrottle(self.clock.seconds, per_address=10, per_account=3, window=60)
        self.files = Files(self.store, self.keys, self.clock, self.layout, address=lambda: ("203.0.113.1", 2121),
                           throttle=self.throttle, max_file_size=1000, quota=2500, timezone=TZ)
        self.alarms = Alarms(self.store, self.clock, layout=self.layout)


class CredentialsTests(FilesTestCase):
    def test_each_device_its_own_password_which_rotates(self):
        creds = self.successResultOf(self.files.credentials(DEV))
        self.assertEqual((creds.ip, creds.port, creds.account), ("203.0.113.1", 2121, DEV))
        self.assertEqual(creds.password, self.keys.ftp_password(DEV, 0))
        self.assertNotIn(creds.password, repr(creds))
        self.assertEqual(self.successResultOf(self.files.login(DEV, creds.password, "198.51.100.1")), FtpLogin(DEV, 0))
        self.assertEqual(self.successResultOf(self.files.rotate(DEV)), 1)
        self.failureResultOf(self.files.login(DEV, creds.password, "198.51.100.1"), errors.WrongPassword)
        rotated = self.successResultOf(self.files.credentials(DEV))
        self.assertNotEqual(rotated.password, creds.password)
        self.successResultOf(self.files.login(DEV, rotated.password, "198.51.100.1"))
        self.failureResultOf(self.files.credentials("81100000009"), errors.NoSuchDevice)

    def test_wrong_passwords_are_throttled_per_account_and_source(self):
        good = self.keys.ftp_password(DEV, 0)
        for _ in range(3):
            self.failureResultOf(self.files.login(DEV, "guess", "198.51.100.1"), errors.WrongPassword)
        # even the right password is not tried now, from that source
        failure = self.failureResultOf(self.files.login(DEV, good, "198.51.100.1"), errors.TooManyFailures)
        self.assertEqual(failure.value.retry_after, 60)
        self.successResultOf(self.files.login(DEV, good, "198.51.100.2"))  # the owner elsewhere is not
        self.clock.advance(60)
        self.successResultOf(self.files.login(DEV, good, "198.51.100.1"))

    def test_unknown_accounts_and_anonymous_count_against_the_source(self):
        for account in ("81100000009", "anonymous", "root", "x" * 500):
            self.failureResultOf(self.files.login(account, "", "198.51.100.1"), errors.WrongPassword)
        self.failureResultOf(self.files.login("81100000009", "x", "198.51.100.1"), errors.WrongPassword)
        # an unknown device has no password, not even the empty one; ten failures stop the source
        for n in range(5):
            self.failureResultOf(self.files.login("8120000000%d" % n, "", "198.51.100.1"), errors.WrongPassword)
        self.failureResultOf(self.files.login(DEV, self.keys.ftp_password(DEV, 0), "198.51.100.1"),
                             errors.TooManyFailures)


class RoomTests(FilesTestCase):
    def test_the_cap_or_what_the_quota_leaves(self):
        self.assertEqual(self.files.room(0), 1000)
        self.assertEqual(self.files.room(2000), 500)
        self.assertEqual(self.files.room(2000, held=400), 100)
        self.assertRaises(errors.OverQuota, self.files.room, 2000, held=500)
        self.assertRaises(errors.OverQuota, self.files.room, 2600)

    def test_a_login_says_what_the_device_has_on_disk(self):
        password = self.keys.ftp_password(DEV)
        self.successResultOf(self.files.stored(DEV, "logs", "a.log", 2000, SHA))
        self.assertEqual(self.successResultOf(self.files.login(DEV, password, "198.51.100.1")).used, 2000)
        self.successResultOf(self.files.stored(DEV, "logs", "a.log", 10, SHA))  # replaced
        self.assertEqual(self.successResultOf(self.files.login(DEV, password, "198.51.100.1")).used, 10)

    def test_a_picture_is_recorded_with_its_channel_and_time(self):
        self.successResultOf(self.files.stored(DEV, "pictures", format_picture_name(DEV, 3, NOW - 1, TZ, "JPEG"), 10, SHA))
        [picture] = self.store.files.picture.values()
        self.assertEqual((picture["channel_no"], picture["taken_at"], picture["received_at"]), (3, NOW - 1, NOW))
        self.failureResultOf(self.files.stored(DEV, "pictures", "nope.jpg", 10, SHA), errors.BadFileName)


class PictureOfAnAlarmTests(FilesTestCase):
    def report(self, channel=0, alarm_type=1, file_name=""):
        return self.successResultOf(self.alarms.report(DEV, channel, alarm_type, "", None, file_name))

    def notify(self, name=PIC, channel=0):
        devices = Devices(self.store, LocalRouter(LinkRegistry()), self.clock)
        return self.successResultOf(devices.picture(DEV, channel, name, None))

    def test_alarm_then_picture_then_notify(self):
        alarm = self.report()
        self.assertIsNone(self.successResultOf(self.alarms.picture(alarm.alarm_id)))
        self.clock.advance(10)
        self.successResultOf(self.files.stored(DEV, "pictures", PIC, 77, SHA))
        picture = self.successResultOf(self.alarms.picture(alarm.alarm_id))
        self.assertEqual(picture.path, os.path.join(self.layout.root, "pictures", DEV, PIC))
        self.assertEqual((picture.size, picture.sha256, picture.taken_at), (77, SHA, NOW))
        self.assertTrue(self.notify())

    def test_notify_then_alarm(self):
        self.successResultOf(self.files.stored(DEV, "pictures", PIC, 77, SHA))
        self.clock.advance(59)
        self.assertTrue(self.notify())
        alarm = self.report()
        self.assertEqual(self.successResultOf(self.alarms.picture(alarm.alarm_id)).size, 77)

    def test_a_notify_of_a_picture_never_uploaded(self):
        self.assertFalse(self.notify())
        alarm = self.report()
        self.assertIsNone(self.successResultOf(self.alarms.picture(alarm.alarm_id)))
        self.assertFalse(self.notify(""))  # no FileName: nothing to record

    def test_not_past_60_seconds(self):
        alarm = self.report()
        self.clock.advance(61)
        self.successResultOf(self.files.stored(DEV, "pictures", PIC, 77, SHA))
        self.assertIsNone(self.successResultOf(self.alarms.picture(alarm.alarm_id)))
        self.assertIsNone(self.successResultOf(self.alarms.picture(12345)))

    def test_a_link_that_fails_does_not_fail_the_report(self):
        def broken(alarm_id):
            raise RuntimeError("database gone")
        self.store.files.link_alarm = broken
        alarm = self.report()
        self.assertIsNotNone(alarm)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)


class BatcherTests(unittest.SynchronousTestCase):
    def setUp(self):
        self.calls: list[tuple[list, defer.Deferred]] = []

        def run_many(items):
            d = defer.Deferred()
            self.calls.append((items, d))
            return d
        self.batcher = Batcher(run_many, concurrency=2)

    def test_what_arrives_while_every_batch_is_under_way_goes_together(self):
        a, b, c, d = (self.batcher.add(x) for x in "abcd")
        self.assertEqual([items for items, _ in self.calls], [["a"], ["b"]])  # two at once, at once
        self.calls[0][1].callback(["A"])
        self.assertEqual(self.successResultOf(a), "A")
        self.assertEqual([items for items, _ in self.calls][2:], [["c", "d"]])
        self.calls[2][1].callback(["C", ValueError("d is refused")])
        self.assertEqual(self.successResultOf(c), "C")
        self.failureResultOf(d, ValueError)
        self.assertNoResult(b)
        self.calls[1][1].errback(RuntimeError("the database went away"))
        self.failureResultOf(b, RuntimeError)
        e = self.batcher.add("e")  # nothing under way now: at once again
        self.assertEqual(self.calls[-1][0], ["e"])
        self.calls[-1][1].callback(["E"])
        self.assertEqual(self.successResultOf(e), "E")
        self.assertEqual((self.batcher.batches, self.batcher._running), (4, 0))

    def test_a_batch_takes_at_most_most_items(self):
        self.batcher.most = 2
        for x in "abcdefg":
            self.batcher.add(x)
        self.calls[0][1].callback(["A"])  # c, d go; e, f, g wait for a slot
        self.assertEqual([items for items, _ in self.calls][2:], [["c", "d"]])
        self.calls[1][1].callback(["B"])
        self.assertEqual([items for items, _ in self.calls][3:], [["e", "f"]])
        self.assertEqual(self.batcher.calls, 7)

    def test_a_batch_that_fails_fails_each_of_its_items(self):
        self.batcher.add("a")
        self.batcher.add("b")
        rest = [self.batcher.add(x) for x in "cd"]
        self.calls[0][1].callback(["A"])
        self.calls[2][1].errback(RuntimeError("gone"))
        for d in rest:
            self.failureResultOf(d, RuntimeError)


class BatchedLoginTests(FilesTestCase):
    def setUp(self):
        super().setUp()
        self.successResultOf(self.store.devices.add(OTHER, "key"))
        self.lookups = []
        accounts = self.store.files.accounts

        def held(dev_ids):
            self.lookups.append(list(dev_ids))
            self.release = defer.Deferred()
            return self.release.addCallback(lambda _: accounts(dev_ids))
        self.store.files.accounts = held

    def test_logins_during_a_lookup_are_looked_up_together(self):
        first = self.files.login(DEV, self.keys.ftp_password(DEV), "198.51.100.1")
        second = self.files.login(OTHER, self.keys.ftp_password(OTHER), "198.51.100.1")
        third = [self.files.login(DEV, self.keys.ftp_password(DEV), "198.51.100.2"),
                 self.files.login(OTHER, "guess", "198.51.100.3"),
                 self.files.login("81100000009", "guess", "198.51.100.4")]
        self.assertEqual(self.lookups, [[DEV], [OTHER]])  # two lookups at once
        self.release.callback(None)
        self.assertEqual(self.successResultOf(second), FtpLogin(OTHER, 0))
        self.assertEqual(self.lookups[2:], [[DEV, OTHER, "81100000009"]])  # the three that waited, in one
        self.release.callback(None)
        self.assertEqual(self.successResultOf(third[0]), FtpLogin(DEV, 0))
        self.failureResultOf(third[1], errors.WrongPassword)
        self.failureResultOf(third[2], errors.WrongPassword)
        self.assertNoResult(first)

    def test_a_rotated_password_stops_working_at_the_next_login(self):
        """Nothing of a login is kept: the lookup after a rotation sees it."""
        old = self.keys.ftp_password(DEV, 0)
        d = self.files.login(DEV, old, "198.51.100.1")
        self.release.callback(None)
        self.successResultOf(d)
        self.successResultOf(self.files.rotate(DEV))
        d = self.files.login(DEV, old, "198.51.100.1")
        self.release.callback(None)
        self.failureResultOf(d, errors.WrongPassword)
        d = self.files.login(DEV, self.keys.ftp_password(DEV, 1), "198.51.100.1")
        self.release.callback(None)
        self.successResultOf(d)


class LayoutTests(unittest.SynchronousTestCase):
    def test_each_node_empties_only_its_own_temporaries(self):
        root = self.mktemp()
        a, b = Layout(root, node="203.0.113.1"), Layout(root, node="2001:db8::1")
        self.assertNotEqual(a.tmp, b.tmp)
        self.assertEqual(os.path.dirname(a.tmp), os.path.join(os.path.abspath(root), "tmp"))
        self.assertEqual(os.path.basename(b.tmp), "2001_db8__1")
        for layout in (a, b):
            layout.prepare(NOW)
            with open(os.path.join(layout.tmp, "81100000001-x.part"), "wb") as f:
                f.write(b"in progress")
        top = os.path.dirname(a.tmp)
        for name, age in (("api-old", STALE + 1), ("api-new", STALE - 1)):  # the API's, directly in tmp/
            with open(os.path.join(top, name), "wb") as f:
                f.write(b"x")
            os.utime(os.path.join(top, name), (NOW - age, NOW - age))
        a.prepare(NOW)  # node a restarts: its leftovers go, b's upload in progress stays
        self.assertEqual(os.listdir(a.tmp), [])
        self.assertEqual(os.listdir(b.tmp), ["81100000001-x.part"])
        self.assertEqual(sorted(os.listdir(top)), sorted(["api-new", os.path.basename(a.tmp), os.path.basename(b.tmp)]))
        for node in ("", ".", "..", "/"):
            self.assertEqual(os.path.dirname(Layout(root, node=node).tmp), os.path.join(os.path.abspath(root), "tmp"))


class GroupCommitTests(unittest.SynchronousTestCase):
    def setUp(self):
        self.writes: list[tuple[list, defer.Deferred]] = []

        def write_many(records):
            d = defer.Deferred()
            self.writes.append((records, d))
            return d
        self.records = GroupCommit(write_many)

    def test_the_first_at_once_then_what_came_meanwhile_together(self):
        first = self.records.add("a")
        rest = [self.records.add(x) for x in "bc"]
        self.assertEqual([w for w, _ in self.writes], [["a"]])
        self.writes[0][1].callback(None)
        self.successResultOf(first)
        self.assertEqual([w for w, _ in self.writes][1:], [["b", "c"]])
        self.writes[1][1].callback(None)
        for d in rest:
            self.successResultOf(d)

    def test_records_added_while_held_go_in_one_batch(self):
        with self.records.held():
            added = [self.records.add(x) for x in "abc"]
            self.assertEqual(self.writes, [])
        self.assertEqual([w for w, _ in self.writes], [["a", "b", "c"]])
        self.writes[0][1].callback(None)
        for d in added:
            self.successResultOf(d)

    def test_landings_delivered_together_are_recorded_together(self):
        """Batcher's *delivering*: what the results' callbacks add while they are handed out."""
        runs = []

        def run_many(items):
            runs.append(defer.Deferred())
            return runs[-1]
        landings = Batcher(run_many, concurrency=1, delivering=self.records.held)
        recorded = []
        for x in "abc":
            landings.add(x).addCallback(self.records.add).addCallback(recorded.append)
        runs[0].callback(["a"])  # "a" landed alone, and is recorded at once
        self.writes[0][1].callback(None)
        runs[1].callback(["b", "c"])  # "b" and "c" landed together: recorded together
        self.assertEqual([w for w, _ in self.writes], [["a"], ["b", "c"]])
        self.writes[1][1].callback(None)
        self.assertEqual(recorded, [None] * 3)
