"""The contract of the device-cloud video API's store components — profiles, api_files, alarm_box — fake and
PostgreSQL."""

from twisted.internet import defer

from kandian.store.alarmbox import AlarmQuery
from kandian.store.apifiles import NameTaken, ObjectRow, PictureRow
from kandian.store.devices import DeviceExists
from kandian.store.profiles import ChannelExists, IdentityTaken, ProfileFilter

from .store_contract import StoreContract, contract

CAM = "81100000001"
SALT = "0123456789abcdef0123456789abcdef"
SHA = "ab" * 32


class ProfilesContract(StoreContract):
    def create(self, dev_id=None, title="device1", fields=None, **kw):
        kw.setdefault("now", self.now)
        kw.setdefault("created_via", "api")
        return self.store.profiles.create(dev_id, "899", kw.pop("dev_key", "auth123"), title, fields or {},
                                          salt=SALT, **kw)

    @defer.inlineCallbacks
    def test_create_numbers_devices_and_keeps_the_profile(self):
        first = yield self.create(fields={"description": "d", "private": True, "tags": ["a", "b"],
                                          "location": {"ele": 370000, "lat": 17.6, "lon": 177.03},
                                          "auth_info": {"SYS": "x"}, "area": "100", "other": {"k": [1]},
                                          "url": "http://www.test.com"})
        second = yield self.create(title="device2")
        self.assertEqual((first, second), ("89900000001", "89900000002"))
        p = yield self.store.profiles.get(first)
        self.assertEqual((p.title, p.description, p.private, p.protocol, p.tags, p.location, p.area, p.auth_info,
                          p.other, p.url, p.online, p.channel_count, p.dev_key, p.created_at),
                         ("device1", "d", True, "RTMP", ["a", "b"], {"ele": 370000, "lat": 17.6, "lon": 177.03},
                          "100", {"SYS": "x"}, {"k": [1]}, "http://www.test.com", False, 1, "auth123", self.now))
        self.assertEqual((yield self.store.profiles.key_salt(first)), SALT)
        self.assertIsNone((yield self.store.profiles.get("89900000009")))

    @defer.inlineCallbacks
    def test_a_number_taken_otherwise_is_skipped_and_a_given_one_must_be_free(self):
        yield self.store.devices.add("89900000001", "k")
        made = yield self.create()
        self.assertEqual(made, "89900000002")
        self.assertEqual((yield self.create(CAM)), CAM)
        yield self.assertFailure(self.create(CAM), DeviceExists)
        yield self.assertFailure(self.create("123"), ValueError)
        yield self.assertFailure(self.create(fields={"nope": 1}), ValueError)

    @defer.inlineCallbacks
    def test_sn_and_mac_name_one_device(self):
        dev_id = yield self.create(sn="SN-1", created_via="register_code")
        yield self.assertFailure(self.create(sn="SN-1"), IdentityTaken)
        other = yield self.create(mac="00:11")
        self.assertEqual((yield self.store.profiles.by_identity("SN-1", None)), dev_id)
        self.assertEqual((yield self.store.profiles.by_identity(None, "00:11")), other)
        self.assertIsNone((yield self.store.profiles.by_identity("SN-2", None)))
        # a deleted device takes its profile with it
        yield self.store.fleet.delete(dev_id)
        self.assertIsNone((yield self.store.profiles.by_identity("SN-1", None)))
        self.assertIsNone((yield self.store.profiles.key_salt(dev_id)))

    @defer.inlineCallbacks
    def test_a_device_provisioned_otherwise_has_a_default_profile(self):
        yield self.store.devices.add(CAM, "devkey", channels=2)
        p = yield self.store.profiles.get(CAM)
        self.assertEqual((p.title, p.description, p.private, p.tags, p.auth_info, p.channel_count, p.dev_key),
                         ("", "", False, [], None, 2, "devkey"))
        self.assertIsNone((yield self.store.profiles.key_salt(CAM)))
        self.assertEqual((yield self.store.profiles.ensure_salt(CAM, SALT)), SALT)
        self.assertEqual((yield self.store.profiles.ensure_salt(CAM, "f" * 32)), SALT)
        self.assertIsNone((yield self.store.profiles.ensure_salt("81100000009", SALT)))

    @defer.inlineCallbacks
    def test_update(self):
        yield self.store.devices.add(CAM, "devkey")
        found = yield self.store.profiles.update(CAM, title="t", dev_key="k2",
                                                 fields={"tags": ["x"], "auth_info": "k2"}, salt=SALT)
        self.assertTrue(found)
        p = yield self.store.profiles.get(CAM)
        self.assertEqual((p.title, p.dev_key, p.tags, p.auth_info), ("t", "k2", ["x"], "k2"))
        self.assertEqual((yield self.store.profiles.key_salt(CAM)), SALT)
        yield self.store.profiles.update(CAM, fields={"description": "only"}, salt="f" * 32)
        p = yield self.store.profiles.get(CAM)
        self.assertEqual((p.title, p.description, p.tags), ("t", "only", ["x"]))
        self.assertFalse((yield self.store.profiles.update("81100000009", fields={}, salt=SALT)))

    @defer.inlineCallbacks
    def test_page_filters(self):
        a = yield self.create(title="Alpha", fields={"tags": ["red"], "private": True, "auth_info": "a1"})
        b = yield self.create(title="beta", fields={"tags": ["blue"], "auth_info": {"auth": "b1"}},
                              now=self.now + 86400)
        c = yield self.create(title="alps", dev_key="c1")

        @defer.inlineCallbacks
        def ids(**kw):
            total, rows = yield self.store.profiles.page(ProfileFilter(**kw), 0, 10)
            self.assertEqual(total, len(rows))
            return [r.dev_id for r in rows]

        self.assertEqual((yield ids()), [a, b, c])
        self.assertEqual((yield ids(key_words="al")), [a, c])
        self.assertEqual((yield ids(key_words=b[:9])), [a, b, c])
        self.assertEqual((yield ids(key_words=b)), [b])
        self.assertEqual((yield ids(title="ALP")), [a, c])
        self.assertEqual((yield ids(title="lp")), [])
        self.assertEqual((yield ids(tag="red")), [a])
        self.assertEqual((yield ids(private=True)), [a])
        self.assertEqual((yield ids(private=False)), [b, c])
        self.assertEqual((yield ids(online=True)), [])
        self.assertEqual((yield ids(dev_ids=(c, a, "1"))), [a, c])
        self.assertEqual((yield ids(auth_info={"auth": "b1"})), [b])
        self.assertEqual((yield ids(auth_info="c1")), [c])
        self.assertEqual((yield ids(begin=self.now + 1)), [b])
        self.assertEqual((yield ids(end=self.now + 1)), [a, c])
        total, rows = yield self.store.profiles.page(ProfileFilter(), 1, 1)
        self.assertEqual((total, [r.dev_id for r in rows]), (3, [b]))

    @defer.inlineCallbacks
    def test_channels(self):
        yield self.store.devices.add(CAM, "k", channels=1)
        self.assertEqual((yield self.store.profiles.channels(CAM)), [(0, "", "")])
        self.assertIsNone((yield self.store.profiles.channels("81100000009")))
        self.assertTrue((yield self.store.profiles.add_channels(CAM, [(1, "one", "d1"), (2, "two", "")])))
        yield self.assertFailure(self.store.profiles.add_channels(CAM, [(3, "x", ""), (1, "again", "")]),
                                 ChannelExists)
        self.assertEqual([c.channel_no for c in (yield self.store.profiles.channels(CAM))], [0, 1, 2])
        self.assertFalse((yield self.store.profiles.add_channels("81100000009", [(0, "x", "")])))
        self.assertTrue((yield self.store.profiles.modify_channel(CAM, 1, "uno", None)))
        self.assertTrue((yield self.store.profiles.modify_channel(CAM, 2, "dos", "d2")))
        self.assertFalse((yield self.store.profiles.modify_channel(CAM, 5, "x", None)))
        self.assertEqual((yield self.store.profiles.channels(CAM)), [(0, "", ""), (1, "uno", "d1"),
                                                                     (2, "dos", "d2")])
        self.assertTrue((yield self.store.profiles.delete_channel(CAM, 2)))
        self.assertFalse((yield self.store.profiles.delete_channel(CAM, 2)))
        self.assertEqual((yield self.store.profiles.get(CAM)).channel_count, 2)

    @defer.inlineCallbacks
    def test_streams_open_and_close(self):
        yield self.store.devices.add(CAM, "k", channels=1)
        self.assertTrue((yield self.store.profiles.set_streams(CAM, 0, False)))
        for stream_type in (1, 2):
            self.assertFalse((yield self.store.relay.target(CAM, 0, stream_type)).stream_enabled)
        self.assertTrue((yield self.store.profiles.set_streams(CAM, 0, True)))
        self.assertTrue((yield self.store.relay.target(CAM, 0, 1)).stream_enabled)
        self.assertFalse((yield self.store.profiles.set_streams(CAM, 3, False)))

    @defer.inlineCallbacks
    def test_online_and_exceptions(self):
        yield self.store.devices.add(CAM, "k")
        self.assertEqual((yield self.store.profiles.online([CAM, "81100000009"])), {CAM: False})
        for n, at in enumerate((self.now, self.now + 10, self.now + 20)):
            yield self.store.links.exception(CAM, 0, 10 + n, "e%d" % n, at)
        total, rows = yield self.store.profiles.exceptions(CAM, self.now + 1, self.now + 30, 0, 10)
        self.assertEqual((total, [(r.exception_type, r.desc, r.at) for r in rows]),
                         (2, [(11, "e1", self.now + 10), (12, "e2", self.now + 20)]))
        total, rows = yield self.store.profiles.exceptions(CAM, self.now, self.now + 30, 2, 10)
        self.assertEqual((total, len(rows)), (3, 1))


class ApiFilesContract(StoreContract):
    def picture(self, name, channel_no=0, at=None, size=10):
        return PictureRow(CAM, channel_no, name, "jpg", size, SHA, "desc", at if at is not None else self.now)

    @defer.inlineCallbacks
    def test_pictures(self):
        yield self.store.devices.add(CAM, "k", channels=2)
        self.assertTrue((yield self.store.api_files.add_picture(self.picture("p1"))))
        yield self.assertFailure(self.store.api_files.add_picture(self.picture("p1")), NameTaken)
        self.assertTrue((yield self.store.api_files.add_picture(self.picture("p1", channel_no=1))))
        self.assertFalse((yield self.store.api_files.add_picture(self.picture("p1", channel_no=5))))
        yield self.store.api_files.add_picture(self.picture("p2", at=self.now + 10, size=5))
        self.assertEqual((yield self.store.api_files.picture(CAM, 0, "p1")), self.picture("p1"))
        self.assertIsNone((yield self.store.api_files.picture(CAM, 0, "p9")))
        total, rows = yield self.store.api_files.pictures(CAM, 0, None, None, 0, 10)
        self.assertEqual((total, [r.name for r in rows]), (2, ["p1", "p2"]))
        total, rows = yield self.store.api_files.pictures(CAM, 0, self.now + 1, None, 0, 10)
        self.assertEqual((total, [r.name for r in rows]), (1, ["p2"]))
        total, rows = yield self.store.api_files.pictures(CAM, 0, None, self.now, 0, 10)
        self.assertEqual([r.name for r in rows], ["p1"])
        self.assertEqual((yield self.store.api_files.used()), 25)
        total, rows = yield self.store.api_files.usage(None, None, 0, 10)
        self.assertEqual((total, [tuple(r) for r in rows]), (1, [(CAM, "", 25)]))
        self.assertEqual((yield self.store.api_files.delete_picture(CAM, 0, "p2")).size, 5)
        self.assertIsNone((yield self.store.api_files.delete_picture(CAM, 0, "p2")))
        # the channel's pictures go with the channel, the device's with the device
        yield self.store.profiles.delete_channel(CAM, 1)
        self.assertIsNone((yield self.store.api_files.picture(CAM, 1, "p1")))
        yield self.store.fleet.delete(CAM)
        yield self.store.devices.add(CAM, "k", channels=1)
        self.assertIsNone((yield self.store.api_files.picture(CAM, 0, "p1")))

    @defer.inlineCallbacks
    def test_objects(self):
        row = ObjectRow("test", 3, SHA, "", self.now)
        yield self.store.api_files.add_object(row)
        yield self.assertFailure(self.store.api_files.add_object(row), NameTaken)
        yield self.store.api_files.add_object(ObjectRow("other", 4, SHA, "d", self.now))
        self.assertEqual((yield self.store.api_files.object("test")), row)
        self.assertIsNone((yield self.store.api_files.object("nope")))
        total, rows = yield self.store.api_files.objects(None, 0, 10)
        self.assertEqual((total, [r.name for r in rows]), (2, ["other", "test"]))
        total, rows = yield self.store.api_files.objects("te", 0, 10)
        self.assertEqual((total, [r.name for r in rows]), (1, ["test"]))
        self.assertEqual((yield self.store.api_files.used()), 7)
        self.assertTrue((yield self.store.api_files.delete_object("test")))
        self.assertFalse((yield self.store.api_files.delete_object("test")))


class VideoNamesContract(StoreContract):
    @defer.inlineCallbacks
    def test_names(self):
        yield self.store.devices.add(CAM, "k", channels=2)
        yield self.store.api_files.rename_video(7, CAM, 0, "door")
        yield self.store.api_files.rename_video(8, CAM, 0, "door")
        yield self.store.api_files.rename_video(9, CAM, 1, "door")
        yield self.store.api_files.rename_video(7, CAM, 0, "front")
        self.assertEqual((yield self.store.api_files.video_names([7, 8, 10])), {7: "front", 8: "door"})
        self.assertEqual((yield self.store.api_files.videos_named(CAM, 0, "door", 10)), [8])
        self.assertEqual((yield self.store.api_files.videos_named(CAM, 1, "door", 10)), [9])
        yield self.store.api_files.forget_videos([8])
        self.assertEqual((yield self.store.api_files.videos_named(CAM, 0, "door", 10)), [])
        yield self.store.fleet.delete(CAM)
        self.assertEqual((yield self.store.api_files.video_names([7, 9])), {})


class AlarmBoxContract(StoreContract):
    @defer.inlineCallbacks
    def seed(self):
        yield self.store.devices.add(CAM, "k", channels=2)
        yield self.store.devices.add("81100000002", "k")
        self.ids = []
        for n, (dev_id, channel, kind, at) in enumerate((
                (CAM, 0, 1, self.now), (CAM, 1, 2, self.now + 100), ("81100000002", 0, 1, self.now + 86400))):
            self.ids.append((yield self.store.alarms.add(dev_id, channel, kind, "a%d" % n, None, "", at)))
        # a picture for the first alarm
        yield self.store.files.stored(CAM, "pictures", "%s_0_20270115000000.jpg" % CAM, 100, SHA, self.now + 1,
                                      channel_no=0, taken_at=self.now)
        yield self.store.files.link_alarm(self.ids[0])

    @defer.inlineCallbacks
    def test_page_filters_and_reading(self):
        yield self.seed()
        @defer.inlineCallbacks
        def ids(**kw):
            total, rows = yield self.store.alarm_box.page(AlarmQuery(**kw), 0, 10)
            return [r.alarm_id for r in rows]

        a, b, c = self.ids
        self.assertEqual((yield ids()), [c, b, a])
        self.assertEqual((yield ids(dev_id=CAM)), [b, a])
        self.assertEqual((yield ids(dev_id=CAM, channel_no=1)), [b])
        self.assertEqual((yield ids(alarm_type=1)), [c, a])
        self.assertEqual((yield ids(picture=True)), [a])
        self.assertEqual((yield ids(picture=False)), [c, b])
        self.assertEqual((yield ids(since=self.now + 1, until=self.now + 86400)), [b])
        total, rows = yield self.store.alarm_box.page(AlarmQuery(dev_id=CAM), 0, 10)
        self.assertEqual((rows[1].alarm_type, rows[1].desc, rows[1].at, rows[1].read, rows[1].picture),
                         (1, "a0", self.now, False, True))
        # listing with read_now marks what was listed read
        total, rows = yield self.store.alarm_box.page(AlarmQuery(picture=False), 0, 1, read_now=self.now + 5)
        self.assertEqual(([r.alarm_id for r in rows], rows[0].read), ([c], False))
        self.assertEqual((yield ids(read=True)), [c])
        self.assertEqual((yield self.store.alarm_box.mark_read([a, b, c], "81100000002", self.now)), 0)
        self.assertEqual((yield self.store.alarm_box.mark_read([a, b, c, 999], None, self.now)), 2)
        self.assertEqual((yield ids(read=False)), [])

    @defer.inlineCallbacks
    def test_unread_counts_per_day_and_delete(self):
        yield self.seed()
        a, b, c = self.ids
        self.assertEqual((yield self.store.alarm_box.unread(None, None)),
                         [(CAM, 0, True, 1), (CAM, 1, False, 1), ("81100000002", 0, False, 1)])
        self.assertEqual((yield self.store.alarm_box.unread(CAM, 1)), [(CAM, 1, False, 1)])
        days = yield self.store.alarm_box.per_day(AlarmQuery(), "Asia/Shanghai")
        self.assertEqual(days, [("2027-01-16", 1), ("2027-01-15", 2)])
        yield self.store.alarm_box.mark_read([b], None, self.now)
        days = yield self.store.alarm_box.per_day(AlarmQuery(read=False, dev_id=CAM), "Asia/Shanghai")
        self.assertEqual(days, [("2027-01-15", 1)])
        self.assertEqual((yield self.store.alarm_box.delete([a, b], "81100000002")), 0)
        self.assertEqual((yield self.store.alarm_box.delete([a, b, 999], CAM)), 2)
        total, rows = yield self.store.alarm_box.page(AlarmQuery(), 0, 10)
        self.assertEqual([r.alarm_id for r in rows], [c])


RealProfiles, FakeProfiles = contract(ProfilesContract)
RealApiFiles, FakeApiFiles = contract(ApiFilesContract)
RealAlarmBox, FakeAlarmBox = contract(AlarmBoxContract)
RealVideoNames, FakeVideoNames = contract(VideoNamesContract)
