"""kandian.core.devices and kandian.core.alarms over the in-memory store (FakeStore + task.Clock, no sockets)."""

from twisted.internet import defer, task
from twisted.logger import formatEvent, globalLogPublisher
from twisted.trial import unittest
from zope.interface import implementer

from kandian.core import errors
from kandian.core.alarms import Alarms
from kandian.core.devices import LINES_PER_SECOND, Addresses, DelayedWrites, Devices, LoginReport, OfflineBatcher
from kandian.core.interfaces import IAlarmNotifier
from kandian.device import messages as m
from kandian.device.link import CommandTimeout, DeviceRefused, LinkLost
from kandian.device.registry import LinkRegistry
from kandian.device.router import LocalRouter
from kandian.store.fake import FakeStore

DEV = "81100000001"
ADDRESSES = Addresses("0.0.0.0", 0, "192.168.1.10", 554, None, None)


class Link:
    """A link as the router sees it: a peer, a closing flag, and canned answers to commands."""

    dev_id = None

    def __init__(self):
        self.closing = False
        self.peer = ("203.0.113.9", 4000)
        self.answers = []
        self.sent = []

    def call(self, request):
        self.sent.append(request)
        answer = self.answers.pop(0)
        return defer.fail(answer) if isinstance(answer, Exception) else defer.succeed(answer)

    def replaced(self):
        self.closing = True


class DevicesTestCase(unittest.TestCase):
    def setUp(self):
        self.clock = task.Clock()
        self.clock.advance(1_800_000_000)
        self.store = FakeStore(node="test")
        self.successResultOf(self.store.devices.add(DEV, "key"))
        self.registry = LinkRegistry()
        self.offline = OfflineBatcher(self.store.links, self.clock)
        self.devices = Devices(self.store, LocalRouter(self.registry), self.clock, offline=self.offline)

    def login(self, link=None, key="key", dev_ver="V1.5_20131210"):
        link = link if link is not None else Link()
        d = self.devices.login(LoginReport(DEV, key, dev_ver, ADDRESSES, 0, 3), link.peer, link)
        return link, d

    def row(self):
        return self.store.tables["device"][DEV]


class LoginTests(DevicesTestCase):
    def test_one_call_checks_routes_and_records(self):
        link, d = self.login()
        cloud, session = self.successResultOf(d)
        self.assertEqual(cloud.url, "")
        self.assertEqual(list(self.registry), [link])
        self.assertEqual((session.dev_id, session.addresses), (DEV, ADDRESSES))
        self.assertEqual((self.row()["online"], self.row()["public_ip"]), (True, "203.0.113.9"))
        self.assertFalse(self.row()["upnp_reachable"])  # 0.0.0.0: not worth a probe

    def test_refusals_are_domain_errors_and_route_nothing(self):
        for key, dev_ver, error in (("bad", "V1.5_20131210", errors.WrongDevKey),
                                    ("key", "V2.0_20200101", errors.UnsupportedDevice)):
            _, d = self.login(key=key, dev_ver=dev_ver)
            self.failureResultOf(d, error)
        d = self.devices.login(LoginReport("81100000009", "k", "V1.5", ADDRESSES), ("h", 1), Link())
        self.failureResultOf(d, errors.NoSuchDevice)
        self.assertEqual(len(self.registry), 0)
        self.assertFalse(self.row()["online"])

    def test_a_link_closed_while_the_store_was_asked_is_not_routed(self):
        link = Link()
        link.closing = True
        _, d = self.login(link)
        self.assertIsNone(self.successResultOf(d))
        self.assertEqual(len(self.registry), 0)
        self.assertFalse(self.row()["online"])

    def test_a_second_login_replaces_the_first_link_which_then_marks_nothing(self):
        first, d = self.login()
        first.dev_id = DEV
        session1 = self.successResultOf(d)[1]
        second, d = self.login()
        second.dev_id = DEV
        session2 = self.successResultOf(d)[1]
        self.assertTrue(first.closing)
        self.devices.link_lost(first, session1)
        self.assertNotIn(DEV, self.offline)
        self.devices.link_lost(second, session2)
        self.assertIn(DEV, self.offline)
        self.successResultOf(self.offline.flush())
        self.assertFalse(self.row()["online"])

    def test_heartbeat_addresses_wait_for_the_login_row(self):
        held = defer.Deferred()
        real = self.store.links.logged_in
        self.store.links.logged_in = lambda *a, **kw: held.addCallback(lambda _: real(*a, **kw))
        link, d = self.login()
        session = self.successResultOf(d)[1]
        new = Addresses(None, None, "192.168.1.11", None, None, None)
        beat = self.devices.heartbeat(session, new, 1)
        self.assertNoResult(beat)
        held.callback(None)
        self.successResultOf(beat)
        self.assertEqual(self.row()["addresses"][2:4], ("192.168.1.11", 554))  # the port left out is kept


class LoginLineTests(DevicesTestCase):
    """Each login is on a line of its own up to LINES_PER_SECOND a second; the rest of that second's
    logins are told in one line when the second is over (and at shutdown)."""

    def setUp(self):
        super().setUp()
        self.events = []
        publisher = globalLogPublisher
        publisher.addObserver(self.events.append)
        self.addCleanup(publisher.removeObserver, self.events.append)
        for n in range(LINES_PER_SECOND + 30):
            self.successResultOf(self.store.devices.add("811000001%02d" % (n,), "key"))

    def lines(self):
        return [formatEvent(e) for e in self.events if e.get("log_namespace") == "kandian.core.devices"]

    def storm(self, count):
        for n in range(count):
            report = LoginReport("811000001%02d" % (n,), "key", "V1.5_20131210", ADDRESSES, 0, 3)
            self.successResultOf(self.devices.login(report, ("203.0.113.9", 4000 + n), Link()))

    def test_a_storm_is_summed_up_each_second(self):
        self.storm(LINES_PER_SECOND + 30)
        lines = self.lines()
        self.assertEqual(len(lines), LINES_PER_SECOND)
        self.assertIn("device 81100000100 logged in from 203.0.113.9:4000", lines[0])
        self.clock.advance(1)
        self.assertEqual(self.lines()[LINES_PER_SECOND:],
                         ["30 more devices logged in in the last second, not logged one by one"])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_shutdown_tells_what_is_held(self):
        self.storm(LINES_PER_SECOND + 2)
        self.devices.shutting_down()
        self.assertEqual(self.lines()[-1], "2 more devices logged in in the last second, not logged one by one")
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_a_quiet_second_logs_every_login(self):
        self.storm(3)
        self.clock.advance(1)
        self.assertEqual(len(self.lines()), 3)
        self.assertEqual(self.clock.getDelayedCalls(), [])


class CommandTests(DevicesTestCase):
    def setUp(self):
        super().setUp()
        self.link, d = self.login()
        self.link.dev_id = DEV
        self.successResultOf(d)

    def test_offline_refused_and_lost_are_domain_errors(self):
        self.failureResultOf(self.devices.reboot("81100000009"), errors.DeviceOffline)
        self.link.answers = [DeviceRefused(m.RebootResponse(Result=1, DevID=DEV)),
                             CommandTimeout("late"), LinkLost("gone")]
        self.failureResultOf(self.devices.reboot(DEV), errors.DeviceRefused)
        self.failureResultOf(self.devices.reboot(DEV), errors.DeviceRefused)
        self.failureResultOf(self.devices.reboot(DEV), errors.DeviceOffline)

    def test_values_the_link_cannot_carry_are_bad_values(self):
        self.failureResultOf(self.devices.ptz(DEV, 0, 7), errors.BadValue)
        self.failureResultOf(self.devices.set_wifi(DEV, "x" * 10_000, 1, "p"), errors.BadValue)
        self.assertEqual(self.link.sent, [])

    def test_alarm_switch_answers_are_remembered(self):
        self.link.answers = [m.GetAlarmResponse(Result=0, DevID=DEV, AlarmFlag=1)]
        self.assertEqual(self.successResultOf(self.devices.alarm_switch(DEV, 0, 1, None)), 1)
        self.assertEqual(self.store.tables["alarm_switch"], {(DEV, 0, 1, 0): 1})

    def test_rename_of_a_missing_channel(self):
        self.successResultOf(self.devices.rename_channel(DEV, 0, " door "))
        self.assertEqual(self.store.tables["channel"][DEV, 0], "door")
        self.failureResultOf(self.devices.rename_channel(DEV, 3, "x"), errors.NoSuchChannel)


@implementer(IAlarmNotifier)
class Notifier:
    def __init__(self):
        self.alarms = []

    def alarm_stored(self, alarm):
        self.alarms.append(alarm)


class DelayedWritesTests(unittest.TestCase):
    """The delayed writes of last_seen_at and offline state (kandian.core.devices.DelayedWrites)."""

    def setUp(self):
        self.clock = task.Clock()
        self.written: list[dict] = []
        self.failing = 0  # writes still to fail

        def write(rows):
            if self.failing:
                self.failing -= 1
                return defer.fail(RuntimeError("deadlock detected"))
            self.written.append(dict(rows))
            return defer.succeed(None)

        self.batcher = DelayedWrites(write, self.clock, 2.0, "last_seen_at")
        self.batcher.start()
        self.addCleanup(self.batcher._loop.stop)

    def test_chunks_of_200(self):
        dev_ids = ["811%08d" % i for i in range(450)]
        for i, dev_id in enumerate(dev_ids):
            self.batcher.note(dev_id, 1000.0 + i)
        self.clock.advance(2)
        self.assertEqual([len(chunk) for chunk in self.written], [200, 200, 50])
        self.assertEqual([k for chunk in self.written for k in chunk], dev_ids)

    def test_a_chunk_that_failed_is_written_at_the_next_flush(self):
        events: list[dict] = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        self.batcher.note("81100000001", 1000.0)
        self.batcher.note("81100000002", 1000.0)
        self.failing = 2
        self.clock.advance(2)
        self.clock.advance(2)  # the database still away: tried again, not logged again
        self.assertEqual(self.written, [])
        self.batcher.note("81100000002", 1003.5)  # a newer heartbeat meanwhile wins over the one that failed
        self.clock.advance(2)
        self.assertEqual(self.written, [{"81100000001": 1000.0, "81100000002": 1003.5}])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        said = [formatEvent(e) for e in events if e.get("log_namespace") == "kandian.core.devices"]
        self.assertEqual(len([line for line in said if "could not record" in line]), 1)
        self.assertIn("recorded last_seen_at again after 2 failed flushes", said)
        self.clock.advance(2)
        self.assertEqual(len(self.written), 1)  # nothing left to write


class AlarmTests(unittest.TestCase):
    def setUp(self):
        self.clock = task.Clock()
        self.clock.advance(1_800_000_000)
        self.store = FakeStore()
        self.notifier = Notifier()
        self.alarms = Alarms(self.store, self.clock, [self.notifier])

    def test_stored_once_per_60_s_and_notified(self):
        first = self.successResultOf(self.alarms.report(DEV, 0, 1, "motion", None, ""))
        self.clock.advance(59)
        self.assertIsNone(self.successResultOf(self.alarms.report(DEV, 0, 1, "motion", None, "")))
        self.clock.advance(2)
        second = self.successResultOf(self.alarms.report(DEV, 0, 1, "motion", None, ""))
        self.assertEqual(self.notifier.alarms, [first, second])
        self.assertEqual((self.alarms.stored, second.at), (2, 1_800_000_061))

    def test_a_failing_notifier_does_not_fail_the_alarm(self):
        class Broken:
            def alarm_stored(self, alarm):
                raise RuntimeError("gateway down")

        self.alarms.add_notifier(_Provides(Broken()))
        self.assertIsNotNone(self.successResultOf(self.alarms.report(DEV, 0, 1, "", None, "")))
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_query_pages_from_1(self):
        self.failureResultOf(self.alarms.query(1, None, None, None, None, 0), errors.BadValue)
        self.store.tables["user_device"] = {(1, DEV): 0}
        for i in range(11):
            self.successResultOf(self.alarms.report(DEV, 0, i, "", None, ""))
        page = self.successResultOf(self.alarms.query(1, "", None, None, None, 2))
        self.assertEqual((page.total, len(page.rows)), (11, 1))


def _Provides(obj):
    from zope.interface import directlyProvides
    directlyProvides(obj, IAlarmNotifier)
    return obj
