"""kandian.core.firmware, .upgrades and .devlogs over the in-memory store (FakeStore + task.Clock, no sockets).

The devices are the core's own (:class:`kandian.core.devices.Devices`, told
the campaigns as its ``events``) over a :class:`LocalRouter` whose links are
:class:`Camera` stand-ins answering what the test says.
"""

import datetime
import hashlib
import os

from hypothesis import given, strategies as st
from twisted.internet import defer, task
from twisted.trial import unittest

from kandian.core import errors
from kandian.core.devices import Addresses, Devices, LoginReport
from kandian.core.devlogs import DeviceLogs
from kandian.core.firmware import Catalogue, FtpLogin, compare, version_key
from kandian.core.rounds import Rounds
from kandian.core.upgrades import Upgrades
from kandian.device import messages as m
from kandian.device.link import CommandTimeout, DeviceRefused, LinkLost
from kandian.device.registry import LinkRegistry
from kandian.device.router import LocalRouter
from kandian.store.fake import FakeStore
from kandian.store.upgrades import Tally

OLD, NEW = "V1.5_20131210", "V1.6_20240101"
NOW = 1_800_000_000
TIMEOUT = 1800


class Camera:
    """A device's link as the router sees it: each command answered with ``result``
    (0, a non-zero Result, an exception such as LinkLost, or a Deferred)."""

    def __init__(self, dev_id):
        self.dev_id = dev_id
        self.closing = False
        self.peer = ("203.0.113.9", 4000)
        self.sent = []
        self.result = 0

    def call(self, request):
        self.sent.append(request)
        result = self.result
        if isinstance(result, defer.Deferred):
            return result
        if isinstance(result, Exception):
            return defer.fail(result)
        answer = {m.UpgradeRequest: m.UpgradeResponse, m.LogUploadRequest: m.LogUploadResponse}[type(request)](
            Result=result, DevID=self.dev_id)
        return defer.fail(DeviceRefused(answer)) if result else defer.succeed(answer)

    def replaced(self):
        self.closing = True


def ftp_login(dev_id):
    return defer.succeed(FtpLogin("198.51.100.1", 2121, dev_id, "pw-" + dev_id))


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)
    return path


class FirmwareTestCase(unittest.TestCase):
    def setUp(self):
        self.clock = task.Clock()
        self.clock.advance(NOW)
        self.store = FakeStore(node="test")
        self.root = os.path.abspath(self.mktemp())
        self.registry = LinkRegistry()
        self.router = LocalRouter(self.registry)
        self.catalogue = Catalogue(self.store, self.root, self.clock)
        self.upgrades = Upgrades(self.store, self.router, self.catalogue, self.clock, ftp_login=ftp_login,
                                 timeout=TIMEOUT)
        self.devices = Devices(self.store, self.router, self.clock, events=self.upgrades)
        self.cameras = {}

    def add_devices(self, count, model="C1", first=81100000001):
        ids = [str(first + n) for n in range(count)]
        for dev_id in ids:
            self.successResultOf(self.store.devices.add(dev_id, "key", model=model))
        return ids

    def login(self, dev_id, dev_ver=OLD):
        """The device logs in (a new link) reporting *dev_ver*."""
        old = self.cameras.get(dev_id)
        if old is not None:
            self.logout(dev_id)
        camera = self.cameras[dev_id] = Camera(dev_id)
        self.successResultOf(self.devices.login(LoginReport(dev_id, "key", dev_ver, Addresses()), camera.peer,
                                                camera))
        return camera

    def logout(self, dev_id):
        camera = self.cameras.pop(dev_id)
        self.devices.link_lost(camera, None)
        self.store.tables["device"][dev_id]["online"] = False

    def catalogue_image(self, version=NEW, model="C1", data=b"image-bytes"):
        directory = self.mktemp()
        os.makedirs(directory)
        source = write(os.path.join(directory, "fw-%s.bin" % version), data)
        return self.successResultOf(self.catalogue.add(source, "811", model, version))

    def start(self, firmware, **kw):
        return self.successResultOf(self.upgrades.start(firmware.firmware_id, **kw))

    def round(self):
        self.successResultOf(self.upgrades.round())

    def tally(self, campaign_id):
        return self.successResultOf(self.store.upgrades.tally(campaign_id))

    def states(self, campaign_id):
        return {t.dev_id: (t.state, t.reason) for t in self.successResultOf(self.store.upgrades.targets(campaign_id))}

    def campaign(self, campaign_id):
        return self.successResultOf(self.store.upgrades.campaign(campaign_id))

    def upgrade_requests(self, dev_id):
        return [r for r in self.cameras[dev_id].sent if isinstance(r, m.UpgradeRequest)]


class VersionTests(unittest.TestCase):
    def test_protocol_then_date(self):
        self.assertEqual(compare("V1.6_20240101", "V1.5_20250101"), 1)
        self.assertEqual(compare("V1.5_20240101", "V1.5_20250101"), -1)
        self.assertEqual(compare("V1.5.1_20240101", "V1.5_20240101"), 1)
        self.assertEqual(compare("v1.5_20240101_b2", "V1.5_20240101"), 0)
        self.assertIsNone(compare("V1.5", "V1.5_20240101"))
        self.assertIsNone(compare("V1.5_20240101", None))

    @given(st.text(max_size=20), st.text(max_size=20))
    def test_compare_is_antisymmetric_and_none_only_for_unparsed(self, a, b):
        order = compare(a, b)
        self.assertEqual(order is None, version_key(a) is None or version_key(b) is None)
        if order is not None:
            self.assertEqual(compare(b, a), -order)

    @given(st.lists(st.tuples(st.integers(0, 20), st.integers(0, 20), st.dates(min_value=datetime.date(1000, 1, 1))), min_size=1, max_size=5))
    def test_compare_orders_like_the_numbers(self, parts):
        versions = ["V%d.%d_%s" % (a, b, d.strftime("%Y%m%d")) for a, b, d in parts]
        keys = [(a, b, d) for a, b, d in parts]
        for i in range(len(parts)):
            for j in range(len(parts)):
                self.assertEqual(compare(versions[i], versions[j]), (keys[i] > keys[j]) - (keys[i] < keys[j]))


class CatalogueTests(FirmwareTestCase):
    def test_add_copies_hashes_and_places_the_image(self):
        data = os.urandom(3 * (1 << 20) + 17)
        source = write(os.path.join(os.path.abspath(self.mktemp())), data)
        named = os.path.join(os.path.dirname(source), "cam-1.6.bin")
        os.rename(source, named)
        firmware = self.successResultOf(self.catalogue.add(named, "811", " C1 ", NEW))
        self.assertEqual((firmware.model, firmware.dev_ver, firmware.file_name, firmware.file_size),
                         ("C1", NEW, "cam-1.6.bin", len(data)))
        self.assertEqual(firmware.sha256, hashlib.sha256(data).hexdigest())
        path = self.catalogue.image_path(firmware.firmware_id, "cam-1.6.bin")
        self.assertEqual(path, os.path.join(self.root, "firmware", str(firmware.firmware_id), "cam-1.6.bin"))
        with open(path, "rb") as f:
            self.assertEqual(f.read(), data)
        self.assertEqual(sorted(os.listdir(os.path.join(self.root, "firmware"))), [str(firmware.firmware_id)])

    def test_refusals_leave_nothing_behind(self):
        good = write(os.path.abspath(self.mktemp()), b"x")
        bad_name = write(os.path.join(os.path.dirname(good), "a b;.bin"), b"x")
        for args, error in [((good, "81", "C1", NEW), errors.BadValue),
                            ((good, "811", "", NEW), errors.BadValue),
                            ((good, "811", "C1", "1.6"), errors.BadValue),
                            ((good + ".missing", "811", "C1", NEW), errors.BadValue),
                            ((bad_name, "811", "C1", NEW), errors.BadValue),
                            ((good, "999", "C1", NEW), errors.BadValue)]:
            self.failureResultOf(self.catalogue.add(*args), error)
        self.successResultOf(self.catalogue.add(good, "811", "C1", NEW))
        self.failureResultOf(self.catalogue.add(good, "811", "C1", NEW), errors.FirmwareExists)
        self.assertEqual(os.listdir(os.path.join(self.root, "firmware")), ["1"])

    def test_newest_is_by_version_not_by_order_of_adding(self):
        self.catalogue_image("V1.6_20240101")
        self.catalogue_image("V1.5_20250101")
        self.catalogue_image("V1.7_20200101", model="C2")
        newest = self.successResultOf(self.catalogue.newest("811", "C1"))
        self.assertEqual(newest.dev_ver, "V1.6_20240101")
        self.assertIsNone(self.successResultOf(self.catalogue.newest("812", "C1")))
        # §8.14: the newest only when it is newer than what the device runs
        self.assertEqual(self.successResultOf(self.catalogue.version("811", "C1", OLD)), (OLD, "V1.6_20240101"))
        self.assertEqual(self.successResultOf(self.catalogue.version("811", "C1", "V1.7_20250101")),
                         ("V1.7_20250101", "V1.7_20250101"))
        self.assertEqual(self.successResultOf(self.catalogue.version("811", "C1", "weird")), ("weird", "weird"))
        self.failureResultOf(self.catalogue.get(99), errors.NoSuchFirmware)


class StartTests(FirmwareTestCase):
    def test_every_device_of_the_model(self):
        c1 = self.add_devices(3)
        self.add_devices(1, model="C2", first=81100000010)
        firmware = self.catalogue_image()
        started = self.start(firmware, batch=2, max_failures=1)
        self.assertEqual((started.devices, started.skipped), (3, {}))
        self.assertEqual(sorted(self.states(started.campaign_id)), c1)
        campaign = self.campaign(started.campaign_id)
        self.assertEqual((campaign.state, campaign.batch_size, campaign.max_failures, campaign.origin),
                         ("running", 2, 1, "operator"))

    def test_only_the_devices_named(self):
        c1 = self.add_devices(3)
        firmware = self.catalogue_image()
        started = self.start(firmware, dev_ids=c1[1:], model="C1")
        self.assertEqual(sorted(self.states(started.campaign_id)), c1[1:])

    def test_busy_devices_are_skipped_and_nothing_left_is_refused(self):
        ids = self.add_devices(2)
        firmware = self.catalogue_image()
        first = self.start(firmware, dev_ids=ids[:1])
        started = self.start(firmware)
        self.assertEqual((started.devices, started.skipped), (1, {ids[0]: first.campaign_id}))
        self.failureResultOf(self.upgrades.start(firmware.firmware_id), errors.BadValue)

    def test_refusals(self):
        self.add_devices(1)
        self.add_devices(1, model="C2", first=81100000010)
        firmware = self.catalogue_image()
        for kw, error in [(dict(dev_ids=["81100000009"]), errors.NoSuchDevice),
                          (dict(dev_ids=["81100000010"]), errors.BadValue),
                          (dict(model="C2"), errors.BadValue),
                          (dict(batch=0), errors.BadValue),
                          (dict(max_failures=-1), errors.BadValue)]:
            self.failureResultOf(self.upgrades.start(firmware.firmware_id, **kw), error)
        self.failureResultOf(self.upgrades.start(99), errors.NoSuchFirmware)
        self.assertEqual(self.successResultOf(self.store.upgrades.campaigns()), [])


class StateMachineTests(FirmwareTestCase):
    def setUp(self):
        super().setUp()
        self.ids = self.add_devices(5)
        self.firmware = self.catalogue_image()
        self.campaign_id = self.start(self.firmware, batch=2, max_failures=1).campaign_id

    def test_batches_go_to_online_devices_only_offline_ones_wait(self):
        for dev_id in self.ids[:3]:
            self.login(dev_id)
        self.round()
        self.assertEqual(self.tally(self.campaign_id), Tally(pending=3, sent=2))
        sent = [d for d in self.ids if d in self.cameras and self.upgrade_requests(d)]
        self.assertEqual(sent, self.ids[:2])
        request, = self.upgrade_requests(self.ids[0])
        self.assertEqual(request, m.UpgradeRequest(
            DevID=self.ids[0], NewDevVer=NEW, FtpIP="198.51.100.1", FtpPort=2121, FtpAccount=self.ids[0],
            FtpPassword="pw-" + self.ids[0], FtpFileName="fw-%s.bin" % NEW))
        self.round()  # the batch is full: nothing more
        self.assertEqual(self.tally(self.campaign_id).sent, 2)
        # one finishes: the next online one is sent; the offline ones still wait
        self.login(self.ids[0], NEW)
        self.assertEqual(self.states(self.campaign_id)[self.ids[0]], ("done", ""))
        self.round()
        self.assertEqual(self.tally(self.campaign_id), Tally(pending=2, sent=2, done=1))
        self.assertTrue(self.upgrade_requests(self.ids[2]))
        # an offline device that logs in is sent at the next round with room
        self.login(self.ids[1], NEW)
        self.login(self.ids[3])
        self.round()
        self.assertTrue(self.upgrade_requests(self.ids[3]))

    def test_downloaded_then_done_on_the_login_with_the_target(self):
        self.login(self.ids[0])
        self.round()
        self.assertIsNone(self.successResultOf(self.upgrades.firmware_for(self.ids[1])))
        name, path = self.successResultOf(self.upgrades.firmware_for(self.ids[0]))
        self.assertEqual((name, path), (self.firmware.file_name,
                                        self.catalogue.image_path(self.firmware.firmware_id, name)))
        self.assertTrue(os.path.isfile(path))
        self.successResultOf(self.upgrades.firmware_downloaded(self.ids[0], "firmware/" + name))
        self.assertEqual(self.states(self.campaign_id)[self.ids[0]], ("downloaded", ""))
        self.login(self.ids[0], OLD)  # a link blip before the reboot: still waiting
        self.assertEqual(self.states(self.campaign_id)[self.ids[0]], ("downloaded", ""))
        self.login(self.ids[0], NEW)
        self.assertEqual(self.states(self.campaign_id)[self.ids[0]], ("done", ""))
        self.assertIsNone(self.successResultOf(self.upgrades.firmware_for(self.ids[0])))

    def test_a_refused_or_unanswered_upgrade_req_fails(self):
        for dev_id in self.ids[:2]:
            self.login(dev_id)
        self.cameras[self.ids[0]].result = 1
        self.cameras[self.ids[1]].result = CommandTimeout("late")
        self.round()
        self.assertEqual(self.states(self.campaign_id)[self.ids[0]], ("failed", "UPGRADE_RES Result 1"))
        self.assertEqual(self.states(self.campaign_id)[self.ids[1]], ("failed", "no answer to UPGRADE_REQ"))

    def test_exception_11_fails_other_exceptions_do_not(self):
        self.login(self.ids[0])
        self.round()
        self.successResultOf(self.devices.exception(self.ids[0], None, 0, "upgrade started"))
        self.assertEqual(self.states(self.campaign_id)[self.ids[0]][0], "sent")
        self.successResultOf(self.devices.exception(self.ids[0], None, 11, "checksum mismatch"))
        self.assertEqual(self.states(self.campaign_id)[self.ids[0]], ("failed", "EXCEPTION 11: checksum mismatch"))
        self.assertEqual(len(self.store.tables["device_exception"]), 2)  # stored first, whatever it means

    def test_no_login_with_the_target_within_the_timeout_fails(self):
        self.login(self.ids[0])
        self.round()
        self.clock.advance(TIMEOUT)
        self.round()
        self.assertEqual(self.states(self.campaign_id)[self.ids[0]][0], "sent")
        self.clock.advance(1)
        self.round()
        self.assertEqual(self.states(self.campaign_id)[self.ids[0]],
                         ("failed", "no login with the new firmware within %d s" % TIMEOUT))
        self.login(self.ids[0], NEW)  # too late: failed stays failed
        self.assertEqual(self.states(self.campaign_id)[self.ids[0]][0], "failed")

    def test_a_link_lost_before_upgrade_res_goes_back_to_pending(self):
        self.login(self.ids[0])
        self.cameras[self.ids[0]].result = LinkLost("gone")
        self.round()
        self.assertEqual(self.states(self.campaign_id)[self.ids[0]], ("pending", "link lost before UPGRADE_RES"))
        self.cameras[self.ids[0]].result = 0
        self.round()
        self.assertEqual(self.states(self.campaign_id)[self.ids[0]], ("sent", ""))
        self.assertEqual(len(self.upgrade_requests(self.ids[0])), 2)

    def test_never_downgraded_never_sent_incomparable_done_when_already_there(self):
        self.login(self.ids[0], "V1.7_20250101")
        self.login(self.ids[1], "V1.5")
        self.login(self.ids[2], NEW)
        self.round()
        states = self.states(self.campaign_id)
        self.assertEqual(states[self.ids[0]], ("failed", "runs V1.7_20250101, not older than %s: never downgraded" % NEW))
        self.assertEqual(states[self.ids[1]], ("failed", "DevVer V1.5 does not compare with %s: not sent" % NEW))
        self.assertEqual(states[self.ids[2]], ("done", "already at %s" % NEW))
        for dev_id in self.ids[:3]:
            self.assertEqual(self.upgrade_requests(dev_id), [])
        self.assertEqual(self.tally(self.campaign_id).failures, 0)  # nothing was sent: not a failure
        self.assertEqual(self.campaign(self.campaign_id).state, "running")

    def test_a_device_whose_model_changed_is_not_sent(self):
        self.store.tables["device"][self.ids[0]]["model"] = "C9"
        self.login(self.ids[0])
        self.round()
        self.assertEqual(self.states(self.campaign_id)[self.ids[0]], ("failed", "the device is now a 811 C9"))
        self.assertEqual(self.upgrade_requests(self.ids[0]), [])


class CampaignTests(FirmwareTestCase):
    def setUp(self):
        super().setUp()
        self.ids = self.add_devices(6)
        self.firmware = self.catalogue_image()
        self.campaign_id = self.start(self.firmware, batch=2, max_failures=1).campaign_id
        for dev_id in self.ids:
            self.login(dev_id)

    def test_pauses_past_max_failures_and_resume_counts_anew(self):
        for dev_id in self.ids:
            self.cameras[dev_id].result = 1
        self.round()  # two sent, two failed: more than 1
        self.assertEqual(self.tally(self.campaign_id), Tally(pending=4, failed=2, failures=2))
        self.round()
        campaign = self.campaign(self.campaign_id)
        self.assertEqual((campaign.state, campaign.reason), ("paused", "2 failures, more than the 1 allowed"))
        self.round()
        self.assertEqual(self.tally(self.campaign_id).pending, 4)  # paused: nothing sent
        for dev_id in self.ids:
            self.cameras[dev_id].result = 0
        self.successResultOf(self.upgrades.resume(self.campaign_id))
        self.round()
        self.assertEqual(self.tally(self.campaign_id), Tally(pending=2, sent=2, failed=2, failures=2))

    def test_max_failures_failures_are_allowed(self):
        self.cameras[self.ids[0]].result = 1
        self.round()
        self.round()
        self.assertEqual(self.campaign(self.campaign_id).state, "running")
        self.assertEqual(self.tally(self.campaign_id), Tally(pending=3, sent=2, failed=1, failures=1))

    def test_operator_pause_resume_cancel(self):
        self.successResultOf(self.upgrades.pause(self.campaign_id))
        self.round()
        self.assertEqual(self.tally(self.campaign_id).sent, 0)
        self.successResultOf(self.upgrades.resume(self.campaign_id))
        self.round()
        self.assertEqual(self.tally(self.campaign_id).sent, 2)
        self.successResultOf(self.upgrades.cancel(self.campaign_id))
        self.assertEqual(self.tally(self.campaign_id), Tally(sent=2, failed=4))
        self.failureResultOf(self.upgrades.resume(self.campaign_id), errors.CampaignClosed)
        self.failureResultOf(self.upgrades.pause(self.campaign_id), errors.CampaignClosed)
        self.failureResultOf(self.upgrades.pause(99), errors.NoSuchCampaign)
        # those in flight are still followed to their end
        self.login(self.ids[0], NEW)
        self.assertEqual(self.states(self.campaign_id)[self.ids[0]], ("done", ""))

    def test_finished_once_every_device_is_done_or_failed(self):
        self.cameras[self.ids[0]].result = 1
        for _ in range(3):
            self.round()
            for dev_id in self.ids[1:]:
                if self.upgrade_requests(dev_id):
                    self.login(dev_id, NEW)
        self.round()
        campaign = self.campaign(self.campaign_id)
        self.assertEqual((campaign.state, self.tally(self.campaign_id)), ("finished", Tally(done=5, failed=1,
                                                                                               failures=1)))
        status = self.successResultOf(self.upgrades.status(self.campaign_id))
        self.assertEqual((status.firmware.dev_ver, len(status.targets)), (NEW, 6))

    def test_a_restart_resumes_where_it_was(self):
        self.round()
        sent = [d for d in self.ids if self.upgrade_requests(d)]
        self.successResultOf(self.store.upgrades.move(self.campaign_id, sent[1], "downloaded", NOW,
                                                      from_states=("sent",)))
        # a new daemon over the same store: nothing in memory, its links gone
        for dev_id in list(self.cameras):
            self.logout(dev_id)
        self.upgrades = Upgrades(self.store, self.router, self.catalogue, self.clock, ftp_login=ftp_login,
                                 timeout=TIMEOUT)
        self.devices = Devices(self.store, self.router, self.clock, events=self.upgrades)
        self.successResultOf(self.upgrades.load())
        self.assertEqual(sorted(self.upgrades.in_flight), sent)
        self.login(sent[0], NEW)
        self.login(sent[1], NEW)
        self.assertEqual([self.states(self.campaign_id)[d][0] for d in sent], ["done", "done"])
        for dev_id in self.ids[2:]:
            self.login(dev_id)
        self.round()
        self.assertEqual(self.tally(self.campaign_id), Tally(pending=2, sent=2, done=2))

    def test_a_login_the_hook_missed_is_found_by_the_next_round(self):
        self.round()
        dev_id = next(d for d in self.ids if self.upgrade_requests(d))
        self.upgrades.in_flight.clear()  # as if another node had held the link
        self.clock.advance(1)
        self.login(dev_id, NEW)
        self.assertEqual(self.states(self.campaign_id)[dev_id][0], "sent")
        self.round()
        self.assertEqual(self.states(self.campaign_id)[dev_id][0], "done")


class NotifyUpgradeTests(FirmwareTestCase):
    def setUp(self):
        super().setUp()
        self.dev_id, = self.add_devices(1)

    def upgrade_one(self, dev_ver=OLD):
        return self.upgrades.upgrade_one(self.dev_id, "811", "C1", dev_ver)

    def test_nothing_newer_offline_refused(self):
        self.failureResultOf(self.upgrade_one(), errors.NoNewerFirmware)
        self.catalogue_image()
        self.failureResultOf(self.upgrade_one(NEW), errors.NoNewerFirmware)
        self.failureResultOf(self.upgrade_one(), errors.DeviceOffline)
        camera = self.login(self.dev_id)
        camera.result = 2
        failure = self.failureResultOf(self.upgrade_one(), errors.DeviceRefused)
        self.assertEqual(failure.value.result, 2)
        campaign, = self.successResultOf(self.store.upgrades.campaigns())
        self.assertEqual((campaign.origin, campaign.batch_size, campaign.max_failures), ("app", 1, 0))
        self.assertEqual(self.states(campaign.campaign_id), {self.dev_id: ("failed", "UPGRADE_RES Result 2")})

    def test_sent_now_and_followed_like_a_campaign(self):
        self.catalogue_image()
        self.login(self.dev_id)
        self.successResultOf(self.upgrade_one())
        self.assertEqual(len(self.upgrade_requests(self.dev_id)), 1)
        self.successResultOf(self.upgrade_one())  # in flight already: nothing more sent
        self.assertEqual(len(self.upgrade_requests(self.dev_id)), 1)
        campaign, = self.successResultOf(self.store.upgrades.campaigns())
        self.login(self.dev_id, NEW)
        self.round()
        self.assertEqual(self.campaign(campaign.campaign_id).state, "finished")


class RoundsTests(unittest.TestCase):
    def test_a_failed_round_is_logged_and_the_next_one_runs(self):
        clock = task.Clock()
        calls = []

        def work():
            calls.append(clock.seconds())
            if len(calls) == 1:
                raise RuntimeError("store down")
        rounds = Rounds(work, clock, 5, "test")
        rounds.start(now=False)
        clock.advance(5)
        clock.advance(5)
        self.assertEqual(calls, [5, 10])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.successResultOf(rounds.stop())
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_stop_waits_for_the_round_under_way(self):
        clock = task.Clock()
        held = defer.Deferred()
        rounds = Rounds(lambda: held, clock, 5, "test")
        rounds.start(now=True)
        stopped = rounds.stop()
        self.assertNoResult(stopped)
        held.callback(None)
        self.successResultOf(stopped)
        self.assertFalse(rounds.running)


class DeviceLogsTests(FirmwareTestCase):
    def setUp(self):
        super().setUp()
        self.dev_id, self.other = self.add_devices(2)
        self.logs = DeviceLogs(self.store, self.clock, self.root, router=self.router, ftp_login=ftp_login,
                               expiry=600)

    def request(self, dev_id):
        return self.successResultOf(self.logs.request(dev_id))

    def state(self, request_id):
        request = self.successResultOf(self.logs.request_state(request_id))
        return request.state, request.reason

    def test_sent_to_an_online_device_offline_ones_wait_then_expire(self):
        self.failureResultOf(self.logs.request("81100000009"), errors.NoSuchDevice)
        online, offline = self.request(self.dev_id), self.request(self.other)
        camera = self.login(self.dev_id)
        self.successResultOf(self.logs.round())
        self.assertEqual(camera.sent, [m.LogUploadRequest(DevID=self.dev_id, FtpIP="198.51.100.1", FtpPort=2121,
                                                          FtpAccount=self.dev_id, FtpPassword="pw-" + self.dev_id)])
        self.assertEqual((self.state(online), self.state(offline)), (("sent", ""), ("pending", "")))
        self.successResultOf(self.logs.round())
        self.assertEqual(len(camera.sent), 1)  # sent once
        self.clock.advance(601)
        self.successResultOf(self.logs.round())
        self.assertEqual(self.state(offline), ("expired", "not sent within 600 s (device offline)"))

    def test_refused_and_lost(self):
        first = self.request(self.dev_id)
        camera = self.login(self.dev_id)
        camera.result = 3
        self.successResultOf(self.logs.round())
        self.assertEqual(self.state(first), ("refused", "LOG_UPLOAD_RES Result 3"))
        second = self.request(self.dev_id)
        camera.result = LinkLost("gone")
        self.successResultOf(self.logs.round())
        self.assertEqual(self.state(second), ("pending", ""))

    def test_stored_files_are_listed_newest_first(self):
        self.successResultOf(self.logs.log_stored(self.dev_id, "a.log", 3, "aa"))
        self.clock.advance(1)
        self.successResultOf(self.logs.log_stored(self.dev_id, "b.log", 4, "bb"))
        self.assertEqual([f.file_name for f in self.successResultOf(self.logs.files(self.dev_id))],
                         ["b.log", "a.log"])
        self.assertEqual(self.logs.path(self.dev_id, "a.log"), os.path.join(self.root, "logs", self.dev_id, "a.log"))
