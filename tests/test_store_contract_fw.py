"""The store contract of the firmware slice: catalogue, campaigns, device logs (§7.5.17, §7.5.35, §8.14).

Each case runs against real PostgreSQL and against :class:`kandian.store.fake.FakeStore`.
"""

from twisted.internet import defer

from kandian.core.errors import FirmwareExists, NoSuchDevice
from kandian.store.links import Addresses
from kandian.store.upgrades import Tally

from .store_contract import StoreContract, contract

DEV = "81100000001"


class FirmwareSliceContract(StoreContract):
    @defer.inlineCallbacks
    def device(self, dev_id=DEV, model="C1", dev_ver=None, online=False):
        yield self.store.devices.add(dev_id, "k", model=model)
        if online:
            yield self.login(dev_id, dev_ver)

    def login(self, dev_id, dev_ver):
        return self.store.links.logged_in(dev_id, dev_ver, Addresses(), None, None, "127.0.0.1", 4000, self.now)

    @defer.inlineCallbacks
    def campaign(self, dev_ids, batch=10, max_failures=1, version="V1.6_20240101"):
        firmware_id = yield self.store.firmware.add("811", "C1", version, "c1.bin", self.now, 10, "ab" * 32)
        campaign_id = yield self.store.upgrades.create(firmware_id, dev_ids, batch, max_failures, self.now)
        return firmware_id, campaign_id


class FirmwareContract(FirmwareSliceContract):
    @defer.inlineCallbacks
    def test_add_places_the_image_before_the_row_is_visible(self):
        placed = []
        firmware_id = yield self.store.firmware.add("811", "C1", "V1.5_20140101", "c1-a.bin", self.now, 42,
                                                    "00" * 32, place=placed.append)
        self.assertEqual(placed, [firmware_id])
        row = yield self.store.firmware.get(firmware_id)
        self.assertEqual(row[1:7], ("811", "C1", "V1.5_20140101", "c1-a.bin", 42, "00" * 32))
        self.assertEqual(row.released_at.timestamp(), self.now)
        self.assertIsNone((yield self.store.firmware.get(firmware_id + 1)))

    @defer.inlineCallbacks
    def test_a_failed_placing_leaves_no_row(self):
        def refuse(firmware_id):
            raise OSError("disk full")
        yield self.assertFailure(self.store.firmware.add("811", "C1", "V1.5_20140101", "a.bin", self.now,
                                                         place=refuse), OSError)
        self.assertEqual((yield self.store.firmware.list()), [])

    @defer.inlineCallbacks
    def test_one_row_per_model_and_version(self):
        yield self.store.firmware.add("811", "C1", "V1.5_20140101", "a.bin", self.now)
        yield self.assertFailure(self.store.firmware.add("811", "C1", "V1.5_20140101", "b.bin", self.now),
                                 FirmwareExists)
        yield self.store.firmware.add("811", "C2", "V1.5_20140101", "b.bin", self.now)
        yield self.assertFailure(self.store.firmware.add("999", "C2", "V1.5_20140101", "b.bin", self.now),
                                 ValueError)
        self.assertEqual([f.model for f in (yield self.store.firmware.list())], ["C1", "C2"])

    @defer.inlineCallbacks
    def test_for_model(self):
        yield self.store.firmware.add("811", "C1", "V1.5_20150101", "c1-b.bin", self.now + 10)
        yield self.store.firmware.add("811", "C1", "V1.5_20140101", "c1-a.bin", self.now)
        yield self.store.firmware.add("811", "C2", "V1.5_20160101", "c2.bin", self.now + 20)
        rows = yield self.store.firmware.for_model("811", "C1")
        self.assertEqual([f.dev_ver for f in rows], ["V1.5_20150101", "V1.5_20140101"])
        self.assertEqual((yield self.store.firmware.for_model("812", "C1")), [])


class UpgradesContract(FirmwareSliceContract):
    @defer.inlineCallbacks
    def test_a_new_campaign_runs_with_every_device_pending(self):
        for n in (1, 2):
            yield self.device("8110000000%d" % n)
        firmware_id, campaign_id = yield self.campaign(["81100000001", "81100000002"], batch=5, max_failures=2)
        campaign = yield self.store.upgrades.campaign(campaign_id)
        self.assertEqual(campaign[:8], (campaign_id, firmware_id, "running", 5, 2, 0, "", "operator"))
        self.assertEqual(campaign.created_at.timestamp(), self.now)
        self.assertEqual((yield self.store.upgrades.tally(campaign_id)), Tally(pending=2))
        targets = yield self.store.upgrades.targets(campaign_id)
        self.assertEqual([(t.dev_id, t.state, t.sent_at) for t in targets],
                         [("81100000001", "pending", None), ("81100000002", "pending", None)])
        self.assertEqual([c.campaign_id for c in (yield self.store.upgrades.campaigns(open_only=True))],
                         [campaign_id])
        self.assertIsNone((yield self.store.upgrades.campaign(campaign_id + 1)))

    @defer.inlineCallbacks
    def test_ready_are_the_pending_devices_online_on_this_node(self):
        yield self.device("81100000001", dev_ver="V1.5_20131210", online=True)
        yield self.device("81100000002")
        yield self.device("81100000003", dev_ver="V1.5_20131210", online=True)
        _, campaign_id = yield self.campaign(["81100000001", "81100000002", "81100000003"])
        ready = yield self.store.upgrades.ready(campaign_id, 10)
        self.assertEqual([(c.dev_id, c.manufacturer_no, c.model, c.dev_ver) for c in ready],
                         [("81100000001", "811", "C1", "V1.5_20131210"), ("81100000003", "811", "C1", "V1.5_20131210")])
        self.assertEqual(len((yield self.store.upgrades.ready(campaign_id, 1))), 1)
        # a device gone offline is not sent to
        yield self.store.links.offline({"81100000003": self.now + 1})
        self.assertEqual([c.dev_id for c in (yield self.store.upgrades.ready(campaign_id, 10))], ["81100000001"])

    @defer.inlineCallbacks
    def test_claim_moves_pending_to_sent_once_and_one_campaign_at_a_time(self):
        yield self.device(dev_ver="V1.5_20131210", online=True)
        firmware_id, first = yield self.campaign([DEV])
        second = yield self.store.upgrades.create(firmware_id, [DEV], 1, 0, self.now)
        self.assertEqual((yield self.store.upgrades.claim(first, [DEV, "81100000009"], self.now + 1)), [DEV])
        self.assertEqual((yield self.store.upgrades.claim(first, [DEV], self.now + 2)), [])
        # in flight in the first campaign: the second neither sees it ready nor claims it
        self.assertEqual((yield self.store.upgrades.ready(second, 10)), [])
        self.assertEqual((yield self.store.upgrades.claim(second, [DEV], self.now + 2)), [])
        target, = yield self.store.upgrades.targets(first)
        self.assertEqual((target.state, target.from_ver, target.sent_at.timestamp()), ("sent", "V1.5_20131210",
                                                                                         self.now + 1))
        flight, = yield self.store.upgrades.in_flight()
        self.assertEqual(flight, (DEV, first, firmware_id, "c1.bin", "V1.6_20240101", "sent", self.now + 1,
                                  "V1.5_20131210", self.now))
        self.assertEqual((yield self.store.upgrades.in_flight(DEV)), [flight])
        self.assertEqual((yield self.store.upgrades.in_flight("81100000009")), [])
        self.assertEqual((yield self.store.upgrades.busy([DEV, "81100000009"])), {DEV: first})
        yield self.store.upgrades.move(first, DEV, "done", self.now + 3)
        self.assertEqual((yield self.store.upgrades.busy([DEV])), {DEV: second})

    @defer.inlineCallbacks
    def test_moves_only_from_the_states_named(self):
        yield self.device(dev_ver="V1.5_20131210", online=True)
        _, campaign_id = yield self.campaign([DEV])
        self.assertFalse((yield self.store.upgrades.move(campaign_id, DEV, "downloaded", self.now, from_states=("sent",))))
        yield self.store.upgrades.claim(campaign_id, [DEV], self.now)
        self.assertTrue((yield self.store.upgrades.move(campaign_id, DEV, "downloaded", self.now + 5,
                                                        from_states=("sent",))))
        self.assertTrue((yield self.store.upgrades.move(campaign_id, DEV, "done", self.now + 9, "V1.6_20240101")))
        self.assertFalse((yield self.store.upgrades.move(campaign_id, DEV, "failed", self.now + 10, "late")))
        target, = yield self.store.upgrades.targets(campaign_id)
        self.assertEqual((target.state, target.reason), ("done", "V1.6_20240101"))
        self.assertEqual([t.timestamp() for t in target[5:]], [self.now, self.now + 5, self.now + 9])
        self.assertEqual((yield self.store.upgrades.in_flight()), [])
        yield self.assertFailure(self.store.upgrades.move(campaign_id, DEV, "lost", self.now), ValueError)

    @defer.inlineCallbacks
    def test_back_to_pending_forgets_the_send(self):
        yield self.device(dev_ver="V1.5_20131210", online=True)
        _, campaign_id = yield self.campaign([DEV])
        yield self.store.upgrades.claim(campaign_id, [DEV], self.now)
        self.assertTrue((yield self.store.upgrades.move(campaign_id, DEV, "pending", self.now, "link lost")))
        target, = yield self.store.upgrades.targets(campaign_id)
        self.assertEqual((target.state, target.sent_at, target.from_ver), ("pending", None, None))
        self.assertEqual((yield self.store.upgrades.claim(campaign_id, [DEV], self.now)), [DEV])
        target, = yield self.store.upgrades.targets(campaign_id)
        self.assertEqual((target.state, target.reason), ("sent", ""))

    @defer.inlineCallbacks
    def test_tally_counts_only_failures_after_a_send(self):
        for n in range(1, 5):
            yield self.device("8110000000%d" % n, dev_ver="V1.5_20131210", online=True)
        devices = ["8110000000%d" % n for n in range(1, 5)]
        _, campaign_id = yield self.campaign(devices)
        yield self.store.upgrades.claim(campaign_id, devices[:2], self.now)
        yield self.store.upgrades.move(campaign_id, devices[0], "failed", self.now, "Result 1")
        yield self.store.upgrades.move(campaign_id, devices[2], "failed", self.now, "downgrade",
                                       from_states=("pending",))
        self.assertEqual((yield self.store.upgrades.tally(campaign_id)),
                         Tally(pending=1, sent=1, failed=2, failures=1))

    @defer.inlineCallbacks
    def test_expire_fails_what_was_sent_before_the_limit(self):
        for n in (1, 2):
            yield self.device("8110000000%d" % n, dev_ver="V1.5_20131210", online=True)
        _, campaign_id = yield self.campaign(["81100000001", "81100000002"])
        yield self.store.upgrades.claim(campaign_id, ["81100000001"], self.now)
        yield self.store.upgrades.claim(campaign_id, ["81100000002"], self.now + 100)
        yield self.store.upgrades.move(campaign_id, "81100000002", "downloaded", self.now + 101,
                                       from_states=("sent",))
        self.assertEqual((yield self.store.upgrades.expire(self.now + 50, "timeout", self.now + 200)),
                         [(campaign_id, "81100000001")])
        self.assertEqual((yield self.store.upgrades.expire(self.now + 101, "timeout", self.now + 300)),
                         [(campaign_id, "81100000002")])
        self.assertEqual((yield self.store.upgrades.tally(campaign_id)), Tally(failed=2, failures=2))

    @defer.inlineCallbacks
    def test_pause_resume_counts_failures_anew(self):
        for n in (1, 2):
            yield self.device("8110000000%d" % n, dev_ver="V1.5_20131210", online=True)
        _, campaign_id = yield self.campaign(["81100000001", "81100000002"])
        yield self.store.upgrades.claim(campaign_id, ["81100000001"], self.now)
        yield self.store.upgrades.move(campaign_id, "81100000001", "failed", self.now, "Result 1")
        self.assertTrue((yield self.store.upgrades.set_state(campaign_id, "paused", "2 failures", self.now,
                                                             ("running",))))
        self.assertFalse((yield self.store.upgrades.set_state(campaign_id, "paused", "", self.now, ("running",))))
        campaign = yield self.store.upgrades.campaign(campaign_id)
        self.assertEqual((campaign.state, campaign.reason, campaign.failure_base), ("paused", "2 failures", 0))
        yield self.store.upgrades.set_state(campaign_id, "running", "", self.now, ("paused",))
        campaign = yield self.store.upgrades.campaign(campaign_id)
        self.assertEqual((campaign.state, campaign.failure_base, campaign.finished_at), ("running", 1, None))
        yield self.store.upgrades.set_state(campaign_id, "finished", "", self.now + 7, ("running",))
        campaign = yield self.store.upgrades.campaign(campaign_id)
        self.assertEqual((campaign.state, campaign.finished_at.timestamp()), ("finished", self.now + 7))
        self.assertEqual((yield self.store.upgrades.campaigns(open_only=True)), [])

    @defer.inlineCallbacks
    def test_cancel_fails_the_pending_and_keeps_following_those_in_flight(self):
        for n in (1, 2):
            yield self.device("8110000000%d" % n, dev_ver="V1.5_20131210", online=True)
        _, campaign_id = yield self.campaign(["81100000001", "81100000002"])
        yield self.store.upgrades.claim(campaign_id, ["81100000001"], self.now)
        self.assertTrue((yield self.store.upgrades.cancel(campaign_id, "cancelled", self.now)))
        self.assertFalse((yield self.store.upgrades.cancel(campaign_id, "cancelled", self.now)))
        targets = yield self.store.upgrades.targets(campaign_id)
        self.assertEqual([(t.state, t.reason) for t in targets], [("sent", ""), ("failed", "cancelled")])
        self.assertEqual((yield self.store.upgrades.busy(["81100000001", "81100000002"])),
                         {"81100000001": campaign_id})

    @defer.inlineCallbacks
    def test_choosing_devices(self):
        yield self.device("81100000001", model="C1", dev_ver="V1.5_20131210", online=True)
        yield self.device("81100000002", model="C2")
        yield self.device("81200000001", model="C1")
        self.assertEqual((yield self.store.upgrades.of_model("811", "C1")),
                         [("81100000001", "811", "C1", "V1.5_20131210")])
        self.assertEqual([c.dev_id for c in (yield self.store.upgrades.devices(
            ["81200000001", "81100000002", "81100000009"]))], ["81100000002", "81200000001"])


class DeviceLogsContract(FirmwareSliceContract):
    @defer.inlineCallbacks
    def test_a_request_is_taken_by_one_node_and_settled_once(self):
        yield self.device(dev_ver="V1.5_20131210", online=True)
        request_id = yield self.store.devlogs.request(DEV, self.now)
        request = yield self.store.devlogs.get(request_id)
        self.assertEqual(request[:5], (request_id, DEV, "pending", "", None))
        self.assertEqual(request.requested_at.timestamp(), self.now)
        self.assertEqual([r.request_id for r in (yield self.store.devlogs.ready(10))], [request_id])
        self.assertTrue((yield self.store.devlogs.take(request_id, self.now + 1)))
        self.assertFalse((yield self.store.devlogs.take(request_id, self.now + 1)))
        self.assertEqual((yield self.store.devlogs.ready(10)), [])
        self.assertTrue((yield self.store.devlogs.settle(request_id, "sent", "", self.now + 2)))
        self.assertFalse((yield self.store.devlogs.settle(request_id, "refused", "x", self.now + 3)))
        request = yield self.store.devlogs.get(request_id)
        self.assertEqual((request.state, request.node, request.handled_at.timestamp()), ("sent", "test", self.now + 2))
        yield self.assertFailure(self.store.devlogs.settle(request_id, "expired", "", self.now), ValueError)

    @defer.inlineCallbacks
    def test_offline_devices_wait_then_expire(self):
        yield self.device()
        yield self.assertFailure(self.store.devlogs.request("81100000009", self.now), NoSuchDevice)
        request_id = yield self.store.devlogs.request(DEV, self.now)
        self.assertEqual((yield self.store.devlogs.ready(10)), [])
        self.assertEqual((yield self.store.devlogs.expire(self.now, "too old", self.now + 9)), 0)
        self.assertEqual((yield self.store.devlogs.expire(self.now + 1, "too old", self.now + 9)), 1)
        request = yield self.store.devlogs.get(request_id)
        self.assertEqual((request.state, request.reason), ("expired", "too old"))

    @defer.inlineCallbacks
    def test_settled_back_to_pending_is_free_for_any_node(self):
        yield self.device(dev_ver="V1.5_20131210", online=True)
        request_id = yield self.store.devlogs.request(DEV, self.now)
        yield self.store.devlogs.take(request_id, self.now)
        self.assertTrue((yield self.store.devlogs.settle(request_id, "pending", "link lost", self.now)))
        request = yield self.store.devlogs.get(request_id)
        self.assertEqual((request.state, request.node), ("pending", None))

    @defer.inlineCallbacks
    def test_files_newest_first_a_new_upload_replacing_the_old(self):
        yield self.device()
        yield self.store.devlogs.stored(DEV, "a.log", 10, "aa" * 32, self.now)
        yield self.store.devlogs.stored(DEV, "b.log", 20, "bb" * 32, self.now + 1)
        yield self.store.devlogs.stored(DEV, "a.log", 30, "cc" * 32, self.now + 2)
        files = yield self.store.devlogs.files(DEV)
        self.assertEqual([f[:4] for f in files], [(DEV, "a.log", 30, "cc" * 32), (DEV, "b.log", 20, "bb" * 32)])
        self.assertEqual(files[0].received_at.timestamp(), self.now + 2)
        yield self.assertFailure(self.store.devlogs.stored("81100000009", "a.log", 1, "", self.now), NoSuchDevice)


RealFirmware, FakeFirmware = contract(FirmwareContract)
RealUpgrades, FakeUpgrades = contract(UpgradesContract)
RealDeviceLogs, FakeDeviceLogs = contract(DeviceLogsContract)
