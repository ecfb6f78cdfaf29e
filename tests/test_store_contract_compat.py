"""The contract of the compatibility APIs' store components — apikeys, integrations — fake and PostgreSQL."""

from twisted.internet import defer

from kandian.core.errors import ApiKeyExists
from kandian.device import messages as m
from kandian.store.integration import DEFAULTS

from .store_contract import StoreContract, contract

H1, H2, H3 = "a" * 64, "b" * 64, "c" * 64


class ApiKeysContract(StoreContract):
    @defer.inlineCallbacks
    def test_add_find_list_revoke(self):
        k = yield self.store.apikeys.add("crm", H1, False, self.now)
        self.assertEqual((k.name, k.master, k.created_at, k.revoked_at), ("crm", False, self.now, None))
        m = yield self.store.apikeys.add("ops", H2, True, self.now + 1)
        self.assertTrue(m.master)
        self.assertNotEqual(k.key_id, m.key_id)
        yield self.assertFailure(self.store.apikeys.add("crm", H3, True, self.now), ApiKeyExists)
        self.assertEqual((yield self.store.apikeys.by_hash(H1)), k)
        self.assertEqual((yield self.store.apikeys.by_id(m.key_id)), m)
        self.assertIsNone((yield self.store.apikeys.by_hash(H3)))
        self.assertIsNone((yield self.store.apikeys.by_id(999999)))
        self.assertEqual([x.name for x in (yield self.store.apikeys.list())], ["crm", "ops"])
        self.assertTrue((yield self.store.apikeys.revoke("crm", self.now + 5)))
        self.assertFalse((yield self.store.apikeys.revoke("crm", self.now + 6)))
        self.assertFalse((yield self.store.apikeys.revoke("nobody", self.now + 6)))
        self.assertEqual((yield self.store.apikeys.by_hash(H1)).revoked_at, self.now + 5)
        # a revoked key's name is not given again
        yield self.assertFailure(self.store.apikeys.add("crm", H3, False, self.now), ApiKeyExists)


RealApiKeys, FakeApiKeys = contract(ApiKeysContract)


CAM, CAM2, PROXY = "81100000001", "81200000002", "81300000003"
SHA = "0" * 64


class IntegrationContract(StoreContract):
    @defer.inlineCallbacks
    def devices(self):
        yield self.store.devices.add(CAM, "k", channels=2)
        yield self.store.devices.add(CAM2, "k", channels=1)
        yield self.store.links.ability(CAM2, m.AbilityUpRequest(
            DevID=CAM2, ChannelNum=1, PTZFlag=0, EStoreFlag=0, LocalStoreFlag=1, MotionDetectionFlag=0,
            InfraredDetectionFlag=0, ManualAlarmFlag=0, DIDOAlarmFlag=0, DIDONum=0,
            Video=(m.Video(StreamType=1, FrameSize=5), m.Video(StreamType=2, FrameSize=2))))

    @defer.inlineCallbacks
    def test_gathers_are_devices_with_default_settings(self):
        yield self.devices()
        total, rows = yield self.store.integration.gathers(0, 10)
        self.assertEqual((total, [r.dev_id for r in rows]), (2, [CAM, CAM2]))
        self.assertEqual(rows[0].settings, DEFAULTS)
        self.assertFalse(rows[0].online)
        total, rows = yield self.store.integration.gathers(1, 10)
        self.assertEqual((total, [r.dev_id for r in rows]), (2, [CAM2]))
        total, rows = yield self.store.integration.gathers(5, 10)
        self.assertEqual((total, rows), (2, []))
        self.assertIsNone((yield self.store.integration.gather("81100000009")))

    @defer.inlineCallbacks
    def test_set_gather(self):
        yield self.devices()
        self.assertTrue((yield self.store.integration.set_gather(CAM, "一班", {"main_rate": 2048}, self.now)))
        self.assertTrue((yield self.store.integration.set_gather(CAM, None, {"snap_val": 5, "sub_rate": None},
                                                                 self.now + 1)))
        row = yield self.store.integration.gather(CAM)
        self.assertEqual((row.name, row.settings), ("一班", dict(DEFAULTS, main_rate=2048, snap_val=5)))
        self.assertEqual(row.updated_at, self.now + 1)
        self.assertFalse((yield self.store.integration.set_gather("81100000009", "x", {}, self.now)))

    @defer.inlineCallbacks
    def test_cameras_are_channels(self):
        yield self.devices()
        total, rows = yield self.store.integration.cameras(0, 10)
        self.assertEqual((total, [(r.dev_id, r.channel_no) for r in rows]), (3, [(CAM, 0), (CAM, 1), (CAM2, 0)]))
        self.assertEqual([(r.gather_dev_id, r.enabled, r.dual_stream, r.clicks) for r in rows],
                         [(CAM, True, False, 0), (CAM, True, False, 0), (CAM2, True, True, 0)])
        total, rows = yield self.store.integration.cameras(2, 1)
        self.assertEqual((total, [(r.dev_id, r.channel_no) for r in rows]), (3, [(CAM2, 0)]))
        self.assertIsNone((yield self.store.integration.camera(CAM, 2)))

    @defer.inlineCallbacks
    def test_rename_enable_click(self):
        yield self.devices()
        self.assertTrue((yield self.store.integration.rename_camera(CAM, 1, "二班", self.now)))
        self.assertFalse((yield self.store.integration.rename_camera(CAM, 9, "x", self.now)))
        self.assertTrue((yield self.store.integration.set_enabled(CAM, 1, False, self.now + 1)))
        self.assertFalse((yield self.store.integration.set_enabled(CAM, 9, False, self.now)))
        for _ in range(3):
            yield self.store.integration.clicked(CAM, 1, self.now + 2)
        yield self.store.integration.clicked(CAM, 9, self.now)
        row = yield self.store.integration.camera(CAM, 1)
        self.assertEqual((row.name, row.enabled, row.clicks, row.updated_at), ("二班", False, 3, self.now + 1))
        target = yield self.store.relay.target(CAM, 1, 2)
        self.assertFalse(target.stream_enabled)
        yield self.store.integration.set_enabled(CAM, 1, True, self.now + 3)
        self.assertTrue((yield self.store.integration.camera(CAM, 1)).enabled)

    @defer.inlineCallbacks
    def test_a_proxy_under_another_gather(self):
        yield self.devices()
        yield self.store.devices.add(PROXY, "k", channels=1)
        yield self.store.integration.set_camera_gather(PROXY, 0, CAM, self.now)
        total, rows = yield self.store.integration.gathers(0, 10)
        self.assertEqual([r.dev_id for r in rows], [CAM, CAM2])
        row = yield self.store.integration.camera(PROXY, 0)
        self.assertEqual((row.gather_dev_id, row.created_at), (CAM, self.now))

    @defer.inlineCallbacks
    def test_a_stream_proxy_is_a_camera_with_its_url(self):
        yield self.devices()
        proxy = yield self.store.proxies.add("rtsp://127.0.0.1:8554/a", "门口")
        self.assertEqual((yield self.store.integration.camera(proxy, 0)).proxy_url, "rtsp://127.0.0.1:8554/a")
        self.assertIsNone((yield self.store.integration.camera(CAM, 0)).proxy_url)
        self.assertTrue((yield self.store.proxies.set_url(proxy, "rtsp://127.0.0.1:8554/b")))
        self.assertFalse((yield self.store.proxies.set_url(CAM, "rtsp://127.0.0.1:8554/b")))
        self.assertEqual((yield self.store.integration.camera(proxy, 0)).proxy_url, "rtsp://127.0.0.1:8554/b")

    @defer.inlineCallbacks
    def test_a_recordings_plays(self):
        yield self.devices()
        first = yield self.store.recordings.begin("n", CAM, 0, 1, None, None, 0, "a.ts", self.now)
        second = yield self.store.recordings.begin("n", CAM, 0, 1, None, first, 1, "b.ts", self.now + 300)
        yield self.store.integration.record_clicked(first)
        yield self.store.integration.record_clicked(first)
        yield self.store.integration.record_clicked(999999)  # no such recording: nothing
        self.assertEqual((yield self.store.integration.record_clicks([first, second, 999999])), {first: 2})
        self.assertEqual((yield self.store.integration.record_clicks([])), {})

    @defer.inlineCallbacks
    def test_the_newest_picture_on_disk(self):
        yield self.devices()
        yield self.store.files.notified(CAM, 0, "%s_0_20270101000000.jpg" % CAM, None, self.now)  # not on disk
        yield self.store.files.stored(CAM, "pictures", "%s_0_20270101000001.jpg" % CAM, 5, SHA, self.now + 1,
                                      channel_no=0)
        yield self.store.files.stored(CAM, "pictures", "%s_1_20270101000002.jpg" % CAM, 5, SHA, self.now + 2,
                                      channel_no=1)
        row = yield self.store.integration.camera(CAM, 0)
        self.assertEqual(row.picture_name, "%s_0_20270101000001.jpg" % CAM)
        self.assertEqual((yield self.store.integration.picture(row.picture_id)), (CAM, row.picture_name))
        self.assertIsNone((yield self.store.integration.picture(row.picture_id + 100)))


RealIntegration, FakeIntegration = contract(IntegrationContract)
