"""The core's group platform logic with the in-memory store and task.Clock: the province's
address report and outbox of user changes (kandian.core.group), being the group platform
(kandian.core.grouprole), and the client releases (kandian.core.clients)."""

from twisted.internet import defer, task
from twisted.trial import unittest
from zope.interface import implementer
from zope.interface.verify import verifyObject

from kandian.core import errors
from kandian.core.accounts import Accounts
from kandian.core.clients import ClientReleases, Release, normalized, upgrade_for
from kandian.core.credentials import PasswordChecker
from kandian.core.group import GroupLink
from kandian.core.grouprole import GroupRole
from kandian.core.interfaces import IGroupPlatform
from kandian.store.fake import FakeStore
from kandian.throttle import FailureThrottle

A, B = "13800000001", "13800000002"
CAM = "81100000001"
NOW = 1_800_000_000.0
RELEASES = ClientReleases(android=Release("A-2.1", "http://d/a.apk"), windows=Release("W-1.3", "http://d/w.exe"))


def fast_hash(password):
    return "scrypt$" + password


def fast_verify(password, stored):
    return stored == "scrypt$" + password


@implementer(IGroupPlatform)
class ScriptedGroup:
    """A group platform whose answers the test sets (an exception instance to fail with)."""

    configured = True

    def __init__(self):
        self.calls: list[tuple] = []
        self.answers: dict[str, object] = {}
        self.down = False

    def _answer(self, name, *args):
        self.calls.append((name, *args))
        if self.down:
            return defer.fail(errors.GroupUnavailable("connection refused"))
        answer = self.answers.get(name)
        if isinstance(answer, Exception):
            return defer.fail(answer)
        return defer.succeed(answer)

    def device_usage(self, dev_id, dev_key):
        return self._answer("device_usage", dev_id, dev_key)

    def address_report(self, mcu_url, dev_url):
        return self._answer("address_report", mcu_url, dev_url)

    def user_open(self, mobile, ipcam_num):
        return self._answer("user_open", mobile, ipcam_num)

    def user_change(self, mobile, ipcam_num):
        return self._answer("user_change", mobile, ipcam_num)

    def user_cancel(self, mobile):
        return self._answer("user_cancel", mobile)


class GroupLinkTestCase(unittest.TestCase):
    def setUp(self):
        self.clock = task.Clock()
        self.clock.advance(NOW)
        self.store = FakeStore()
        self.group = ScriptedGroup()
        self.group.answers["address_report"] = RELEASES
        self.assertTrue(verifyObject(IGroupPlatform, self.group))
        self.link = GroupLink(self.store, self.clock, self.group, mcu_url=lambda: "http://p/mcu",
                              dev_url=lambda: "http://p/register", report_interval=3600, poll_interval=5,
                              retry_first=30, retry_max=600)
        self.accounts = Accounts(self.store, self.clock, passwords=None, throttle=None, sms=None, session_timeout=0,
                                 version_floors={}, sms_interval=0, sms_daily_limit=0, hash_password=fast_hash,
                                 tell_group=True)

    def tearDown(self):
        return self.link.stop()

    def sent(self, name):
        return [call[1:] for call in self.group.calls if call[0] == name]


class ReportTests(GroupLinkTestCase):
    @defer.inlineCallbacks
    def test_reported_at_start_and_every_interval_and_the_clients_kept(self):
        yield self.link.start()
        self.clock.advance(0)
        self.assertEqual(self.sent("address_report"), [("http://p/mcu", "http://p/register")])
        self.assertEqual(self.link.releases, RELEASES)
        kept = yield self.store.group.report()
        self.assertEqual((kept.result, kept.android_ver, kept.android_url, kept.ios_url), (0, "A-2.1",
                                                                                           "http://d/a.apk", ""))
        self.clock.advance(3599)
        self.assertEqual(len(self.sent("address_report")), 1)
        self.clock.advance(1)
        self.assertEqual(len(self.sent("address_report")), 2)

    @defer.inlineCallbacks
    def test_a_restart_knows_the_clients_before_reporting(self):
        yield self.link.start()
        self.clock.advance(0)
        yield self.link.stop()
        self.group.down = True
        again = GroupLink(self.store, self.clock, self.group, mcu_url=lambda: "", dev_url=lambda: "")
        yield again.start()
        self.addCleanup(again.stop)
        self.clock.advance(0)
        self.assertEqual(again.releases, RELEASES)
        self.assertEqual(again.client_upgrade("A-2.0"), RELEASES.android)
        self.assertIsNone(again.client_upgrade("I-1.0"))

    @defer.inlineCallbacks
    def test_backoff_of_the_report(self):
        self.group.down = True
        yield self.link.start()
        self.clock.advance(0)
        reported = lambda: len(self.sent("address_report"))  # noqa: E731
        self.assertEqual(reported(), 1)
        for delay in (30, 60, 120, 240, 480, 960, 1920, 3600, 3600):
            self.clock.advance(delay - 1)
            count = reported()
            self.clock.advance(1)
            self.assertEqual(reported(), count + 1, delay)
        self.group.down = False
        self.clock.advance(3600)
        self.assertEqual(self.link.releases, RELEASES)
        self.clock.advance(3599)
        count = reported()
        self.clock.advance(1)
        self.assertEqual(reported(), count + 1)

    @defer.inlineCallbacks
    def test_a_refusal_is_kept_with_its_result(self):
        self.group.answers["address_report"] = errors.GroupUnavailable("wrong password", 2)
        yield self.link.start()
        self.clock.advance(0)
        kept = yield self.store.group.report()
        self.assertEqual(kept.result, 2)
        self.assertEqual(self.link.releases, ClientReleases())

    @defer.inlineCallbacks
    def test_nothing_without_a_group_platform(self):
        self.group.configured = False
        yield self.link.start()
        self.clock.advance(7200)
        self.assertEqual(self.group.calls, [])
        self.assertEqual(self.clock.getDelayedCalls(), [])


class ChangeTests(GroupLinkTestCase):
    @defer.inlineCallbacks
    def test_users_opened_changed_cancelled_in_order(self):
        yield self.accounts.add(A, "pw", 4)
        yield self.accounts.set_max_devices(A, 6)
        yield self.accounts.cancel(A)
        yield self.accounts.add(B, "pw", 2)
        outcomes = yield self.link.deliver()
        self.assertEqual([(o.kind, o.mobile, o.accepted) for o in outcomes],
                         [("open", A, True), ("open", B, True), ("change", A, True), ("cancel", A, True)])
        self.assertEqual([c[0] for c in self.group.calls], ["user_open", "user_open", "user_change", "user_cancel"])
        self.assertEqual(self.sent("user_change"), [(A, 6)])
        self.assertEqual((yield self.link.pending()), [])

    @defer.inlineCallbacks
    def test_without_a_group_nothing_is_queued(self):
        self.accounts.tell_group = False
        yield self.accounts.add(A, "pw", 4)
        yield self.accounts.set_max_devices(A, 1)
        self.assertEqual((yield self.link.pending()), [])

    @defer.inlineCallbacks
    def test_an_outage_loses_nothing_and_retries_backing_off(self):
        self.group.down = True
        yield self.accounts.add(A, "pw", 4)
        yield self.accounts.set_max_devices(A, 5)
        yield self.link.start()
        self.clock.advance(0)
        self.assertEqual(len(self.sent("user_open")), 1)
        self.assertEqual(self.sent("user_change"), [])  # waits behind the open
        (first, second) = yield self.link.pending()
        self.assertEqual((first.attempts, first.last_result, first.next_attempt_at), (1, None, NOW + 30))
        self.assertIn("connection refused", first.last_error)
        for expected_attempts, delay in ((2, 30), (3, 60), (4, 120)):
            self.clock.advance(delay - 5)
            self.assertEqual(len(self.sent("user_open")), expected_attempts - 1)
            self.clock.advance(5)
            self.assertEqual(len(self.sent("user_open")), expected_attempts, delay)
        self.group.down = False
        self.clock.advance(240)
        self.assertEqual(self.sent("user_open")[-1], (A, 4))
        self.assertEqual(self.sent("user_change"), [(A, 5)])
        self.assertEqual((yield self.link.pending()), [])

    @defer.inlineCallbacks
    def test_the_delay_stops_growing_at_retry_max(self):
        self.group.down = True
        yield self.accounts.add(A, "pw", 4)
        for _ in range(10):
            yield self.link.retry()
            yield self.link.deliver()
        (change,) = yield self.link.pending()
        self.assertEqual((change.attempts, change.next_attempt_at), (10, NOW + 600))

    @defer.inlineCallbacks
    def test_a_refusal_of_the_province_is_retried_too(self):
        self.group.answers["user_open"] = errors.GroupUnavailable("wrong CmsPassword", 2)
        yield self.accounts.add(A, "pw", 4)
        (outcome,) = yield self.link.deliver()
        self.assertFalse(outcome.accepted)
        (change,) = yield self.link.pending()
        self.assertEqual((change.last_result, change.attempts), (2, 1))

    @defer.inlineCallbacks
    def test_a_change_of_a_user_the_group_lost_is_sent_as_an_open(self):
        self.group.answers["user_change"] = errors.NoSuchAccount("no such user")
        yield self.accounts.add(A, "pw", 4)
        yield self.link.deliver()
        yield self.accounts.set_max_devices(A, 7)
        (outcome, reopened) = yield self.link.deliver()
        self.assertEqual((outcome.kind, outcome.accepted, reopened.kind, reopened.accepted),
                         ("change", False, "open", True))
        self.assertEqual(self.sent("user_open"), [(A, 4), (A, 7)])
        self.assertEqual((yield self.link.pending()), [])

    @defer.inlineCallbacks
    def test_a_cancel_of_a_user_the_group_does_not_know_is_done(self):
        self.group.answers["user_cancel"] = errors.NoSuchAccount("no such user")
        yield self.accounts.add(A, "pw", 4)
        yield self.accounts.cancel(A)
        outcomes = yield self.link.deliver()
        self.assertEqual([o.accepted for o in outcomes], [True, True])
        self.assertEqual((yield self.link.pending()), [])

    @defer.inlineCallbacks
    def test_one_numbers_changes_only(self):
        yield self.accounts.add(A, "pw", 4)
        yield self.accounts.add(B, "pw", 4)
        outcomes = yield self.link.deliver(B)
        self.assertEqual([o.mobile for o in outcomes], [B])
        self.assertEqual([c.mobile for c in (yield self.link.pending())], [A])

    @defer.inlineCallbacks
    def test_drop(self):
        self.group.down = True
        yield self.accounts.add(A, "pw", 4)
        yield self.link.deliver()
        (change,) = yield self.link.pending()
        self.assertTrue((yield self.link.drop(change.change_id)))
        self.assertEqual((yield self.link.pending()), [])


class GroupRoleTests(unittest.TestCase):
    def setUp(self):
        self.clock = task.Clock()
        self.clock.advance(NOW)
        self.store = FakeStore()
        self.throttle = FailureThrottle(self.clock.seconds, per_address=30, per_account=3, window=900)
        self.role = GroupRole(self.store, self.clock, passwords=PasswordChecker(self.clock, verify=fast_verify),
                              throttle=self.throttle, hash_password=fast_hash)

    @defer.inlineCallbacks
    def province(self, province_no="3100", cms_no="01", **kw):
        yield self.role.add_province(province_no, cms_no, "pw", **kw)
        return (yield self.role.authenticate(province_no, cms_no, "pw", "10.0.0.1"))

    @defer.inlineCallbacks
    def test_provinces_are_checked_and_guessers_stopped(self):
        yield self.role.add_province("3100", "01", "pw")
        yield self.assertFailure(self.role.add_province("3100", "01", "x"), errors.ProvinceExists)
        for bad in (("31", "01", "x"), ("3100", "1", "x"), ("3100", "01", ""), ):
            yield self.assertFailure(self.role.add_province(*bad), errors.BadValue)
        yield self.assertFailure(self.role.add_province("3100", "02", "x", mcu_url="ftp://x"), errors.BadValue)
        found = yield self.role.authenticate("3100", "01", "pw", "10.0.0.1")
        self.assertEqual((found.province_no, found.cms_no), ("3100", "01"))
        yield self.assertFailure(self.role.authenticate("3100", "09", "pw", "10.0.0.1"), errors.NoSuchProvince)
        yield self.assertFailure(self.role.authenticate("x", "01", "pw", "10.0.0.1"), errors.NoSuchProvince)
        for _ in range(3):
            yield self.assertFailure(self.role.authenticate("3100", "01", "bad", "10.0.0.2"), errors.WrongPassword)
        # stopped from that address, before the password is looked at, the right one included
        yield self.assertFailure(self.role.authenticate("3100", "01", "pw", "10.0.0.2"), errors.TooManyFailures)
        yield self.role.authenticate("3100", "01", "pw", "10.0.0.3")
        self.clock.advance(901)
        yield self.role.authenticate("3100", "01", "pw", "10.0.0.2")

    @defer.inlineCallbacks
    def test_address_report_keeps_the_urls_and_answers_the_clients(self):
        province = yield self.province(name="上海")
        yield self.role.set_client("android", "2.1", "http://d/a.apk")
        releases = yield self.role.address_report(province, "1.0", "http://p/mcu", "http://p/register")
        self.assertEqual(releases, ClientReleases(android=Release("A-2.1", "http://d/a.apk")))
        (listed,) = yield self.role.provinces()
        self.assertEqual((listed.mcu_url, listed.dev_url, listed.reported_at), ("http://p/mcu", "http://p/register",
                                                                                 NOW))
        yield self.assertFailure(self.role.address_report(province, "1.0", "nonsense", "http://p/r"), errors.BadValue)
        self.assertEqual((yield self.role.platforms()), [("上海", "http://p/mcu")])

    @defer.inlineCallbacks
    def test_users_of_a_province(self):
        p1 = yield self.province()
        p2 = yield self.province("4400")
        yield self.role.user_open(p1, A, 4)
        yield self.role.user_change(p1, A, 6)
        yield self.assertFailure(self.role.user_change(p2, A, 6), errors.NoSuchAccount)
        yield self.assertFailure(self.role.user_cancel(p2, A), errors.NoSuchAccount)
        yield self.assertFailure(self.role.user_open(p1, "12ab", 1), errors.BadValue)
        self.assertEqual((yield self.role.users("3100", "01")), [(A, 6)])
        yield self.role.user_cancel(p1, A)
        yield self.assertFailure(self.role.user_cancel(p1, A), errors.NoSuchAccount)

    @defer.inlineCallbacks
    def test_a_device_is_redirected_once_a_province_claims_it(self):
        p1 = yield self.province(dev_url="http://p1/register")
        p2 = yield self.province("4400")
        # never asked: unknown to the group (power it on first)
        yield self.assertFailure(self.role.device_use(p1, CAM, "k"), errors.NoSuchDevice)
        yield self.assertFailure(self.role.redirect(CAM, "k", "DS", 1), errors.DeviceUnclaimed)
        yield self.assertFailure(self.role.redirect(CAM, "other", "DS", 1), errors.WrongDevKey)
        yield self.assertFailure(self.role.redirect("99900000001", "k", "DS", 1), errors.NoSuchDevice)
        yield self.assertFailure(self.role.redirect("123", "k", "DS", 1), errors.NoSuchDevice)
        yield self.assertFailure(self.role.device_use(p1, CAM, "wrong"), errors.WrongDevKey)
        yield self.role.device_use(p1, CAM, "k")
        yield self.role.device_use(p1, CAM, "k")  # again: still p1's
        yield self.assertFailure(self.role.device_use(p2, CAM, "k"), errors.AlreadyBound)
        self.assertEqual((yield self.role.redirect(CAM, "k", "DS", 1)), "http://p1/register")

    @defer.inlineCallbacks
    def test_a_province_without_a_dev_url_leaves_its_devices_unredirected(self):
        p = yield self.province()
        yield self.assertFailure(self.role.redirect(CAM, "k", None, None), errors.DeviceUnclaimed)
        yield self.role.device_use(p, CAM, "k")
        yield self.assertFailure(self.role.redirect(CAM, "k", None, None), errors.DeviceUnclaimed)
        yield self.role.address_report(p, "1.0", "http://p/mcu", "http://p/register")
        self.assertEqual((yield self.role.redirect(CAM, "k", None, None)), "http://p/register")

    @defer.inlineCallbacks
    def test_clients_and_the_upgrade_check(self):
        self.assertIsNone((yield self.role.client_upgrade("A-1.0")))
        self.assertEqual((yield self.role.set_client("android", "A-2.1", "http://d/a.apk")), "A-2.1")
        yield self.assertFailure(self.role.set_client("android", "I-2.1", "http://d/a.apk"), errors.BadValue)
        yield self.assertFailure(self.role.set_client("android", "2.1", "d/a.apk"), errors.BadValue)
        yield self.assertFailure(self.role.set_client("blackberry", "2.1", "http://d"), errors.BadValue)
        self.assertEqual((yield self.role.client_upgrade("A-2.0.9")), Release("A-2.1", "http://d/a.apk"))
        self.assertIsNone((yield self.role.client_upgrade("A-2.1")))
        self.assertIsNone((yield self.role.client_upgrade("A-10.0")))
        self.assertIsNone((yield self.role.client_upgrade("I-1.0")))
        yield self.assertFailure(self.role.client_upgrade("android 2"), errors.BadValue)


class ClientsTests(unittest.SynchronousTestCase):
    def test_versions_compare_as_numbers(self):
        releases = ClientReleases(ios=Release("I-1.10", "u"))
        self.assertEqual(upgrade_for("I-1.9", releases), releases.ios)
        self.assertIsNone(upgrade_for("I-1.10.0", releases))
        self.assertIsNone(upgrade_for("I-2", releases))

    def test_normalized(self):
        self.assertEqual(normalized("windows", " 1.3 "), "W-1.3")
        self.assertEqual(normalized("ios", "I-4"), "I-4")
        for platform, version in (("ios", "A-4"), ("ios", "4.x"), ("ios", ""), ("tv", "1")):
            with self.assertRaises(errors.BadValue):
                normalized(platform, version)
