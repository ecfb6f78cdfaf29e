"""The store contract of the device slice: links, devices, alarms (§7.2, §7.5, §8.8–§8.19).

Each case runs against real PostgreSQL and against :class:`kandian.store.fake.FakeStore`.
"""

import datetime

from twisted.internet import defer

from kandian.core.errors import NoSuchDevice, WrongDevKey
from kandian.device import messages as m
from kandian.store.fake import FakeStore
from kandian.store.links import Addresses

from .store_contract import StoreContract, contract

DEV = "81100000001"
ADDRESSES = Addresses("198.51.100.7", 554, "192.168.1.10", 554, None, None)


class DeviceSliceContract(StoreContract):
    @defer.inlineCallbacks
    def bind(self, mobile, dev_id):
        """A user owning *dev_id* (the accounts slice's job; written directly here); its user_id."""
        if isinstance(self.store, FakeStore):
            user_id = len(self.store.tables.setdefault("app_user", {})) + 1
            self.store.tables["app_user"][user_id] = mobile
            self.store.tables.setdefault("user_device", {})[user_id, dev_id] = 0
            return user_id
        rows = yield self.store.db.runQuery(
            "INSERT INTO app_user (mobile, password_hash, max_devices) VALUES (%s, 'scrypt$x', 4)"
            " RETURNING user_id",
            (mobile,))
        yield self.store.db.runOperation("INSERT INTO user_device (user_id, dev_id, share_flag) VALUES (%s, %s, 0)",
                                         (rows[0][0], dev_id))
        return rows[0][0]

    @defer.inlineCallbacks
    def online(self, dev_id=DEV):
        devices = yield self.store.devices.list()
        return {d.dev_id: d.online for d in devices}[dev_id]


class LinksContract(DeviceSliceContract):
    @defer.inlineCallbacks
    def test_register_checks_the_key_and_provisions_known_prefixes_only_when_asked(self):
        yield self.assertFailure(self.store.links.register(DEV, "k", 1, "M", self.now, False), NoSuchDevice)
        yield self.assertFailure(self.store.links.register("99900000001", "k", 1, "M", self.now, True),
                                 NoSuchDevice)
        yield self.store.links.register(DEV, "k", 1, "M", self.now, True)
        key, cloud = yield self.store.links.authenticate(DEV)
        self.assertEqual((key, cloud.url, cloud.space), ("k", "", 0))
        yield self.assertFailure(self.store.links.register(DEV, "other", 1, "M", self.now, True), WrongDevKey)
        yield self.store.links.register(DEV, "k", 2, "", self.now, False)
        self.assertIsNone((yield self.store.links.authenticate("81100000002")))

    @defer.inlineCallbacks
    def test_online_until_a_close_after_the_last_login(self):
        yield self.store.devices.add(DEV, "k")
        self.assertFalse((yield self.online()))
        yield self.store.links.logged_in(DEV, "V1.5_20131210", ADDRESSES, 0, 3, "203.0.113.1", 4000, self.now)
        self.assertTrue((yield self.online()))
        # a close from before this login (the replaced link's) changes nothing
        yield self.store.links.offline({DEV: self.now - 5})
        self.assertTrue((yield self.online()))
        yield self.store.links.offline({DEV: self.now + 5})
        self.assertFalse((yield self.online()))
        yield self.store.links.logged_in(DEV, "V1.5_20131210", ADDRESSES, 0, 3, "203.0.113.1", 4000, self.now + 10)
        yield self.store.links.all_offline()
        self.assertFalse((yield self.online()))

    @defer.inlineCallbacks
    def test_reports_are_taken(self):
        yield self.store.devices.add(DEV, "k")
        yield self.store.links.ability(DEV, m.AbilityUpRequest(DevID=DEV, ChannelNum=4))
        devices = yield self.store.devices.list()
        self.assertEqual(devices[0].channels, 4)
        yield self.store.links.addresses(DEV, ADDRESSES, 1, self.now)
        yield self.store.links.seen({DEV: self.now + 1})
        yield self.store.links.upnp_reachable(DEV, "198.51.100.7", 554, True, self.now)
        yield self.store.links.exception(DEV, 0, 1, "disk", self.now)


class DevicesContract(DeviceSliceContract):
    @defer.inlineCallbacks
    def test_rename_only_an_existing_channel(self):
        yield self.store.devices.add(DEV, "k", channels=2)
        self.assertTrue((yield self.store.devices.rename_channel(DEV, 1, "door")))
        self.assertFalse((yield self.store.devices.rename_channel(DEV, 2, "door")))
        self.assertFalse((yield self.store.devices.rename_channel("81100000009", 0, "door")))

    @defer.inlineCallbacks
    def test_remembered_answers_are_upserts(self):
        yield self.store.devices.add(DEV, "k")
        for flag in (1, 0):
            yield self.store.devices.remember_alarm_switch(DEV, 0, 1, None, flag)
        for rate in (15, 25):
            yield self.store.devices.remember_stream(DEV, 0, 1, 3, rate, 0, 512, 1)


class AlarmsContract(DeviceSliceContract):
    @defer.inlineCallbacks
    def test_the_same_alarm_within_60_s_is_stored_once(self):
        yield self.store.devices.add(DEV, "k")
        first = yield self.store.alarms.add(DEV, 0, 1, "motion", None, "", self.now)
        self.assertIsNotNone(first)
        self.assertIsNone((yield self.store.alarms.add(DEV, 0, 1, "motion", None, "", self.now + 59)))
        self.assertIsNotNone((yield self.store.alarms.add(DEV, 0, 2, "", None, "", self.now + 59)))
        self.assertIsNotNone((yield self.store.alarms.add(DEV, 0, 1, "", 1, "", self.now + 59)))
        later = yield self.store.alarms.add(DEV, 0, 1, "motion", None, "", self.now + 61)
        self.assertNotIn(later, (None, first))

    @defer.inlineCallbacks
    def test_pages_newest_first_of_bound_devices_only(self):
        other = "81100000002"
        for dev_id in (DEV, other):
            yield self.store.devices.add(dev_id, "k", channels=2)
        user_id = yield self.bind("13800000001", DEV)
        for i in range(12):
            yield self.store.alarms.add(DEV, i % 2, 1, "", None, "", self.now + 100 * i)
        yield self.store.alarms.add(other, 0, 1, "", None, "", self.now)
        total, rows = yield self.store.alarms.page(user_id, None, None, None, None, 0, 10)
        self.assertEqual((total, len(rows)), (12, 10))
        self.assertEqual(rows[0][:3], (DEV, 1, ""))
        self.assertEqual(rows[0][3].timestamp(), self.now + 1100)
        total, rows = yield self.store.alarms.page(user_id, DEV, 1, None, None, 0, 10)
        self.assertEqual(total, 6)
        start = datetime.datetime.fromtimestamp(self.now + 1000, datetime.UTC)
        total, rows = yield self.store.alarms.page(user_id, None, None, start, None, 0, 10)
        self.assertEqual([r[3].timestamp() for r in rows], [self.now + 1100, self.now + 1000])
        total, rows = yield self.store.alarms.page(user_id, None, None, None, None, 10, 10)
        self.assertEqual((total, len(rows)), (12, 2))


RealLinks, FakeLinks = contract(LinksContract)
RealDevices, FakeDevices = contract(DevicesContract)
RealAlarms, FakeAlarms = contract(AlarmsContract)
