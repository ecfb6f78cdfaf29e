"""The store contract for the media slice: stream proxies (``store.proxies``) and the relay's view of them."""

from twisted.internet import defer

from .store_contract import StoreContract, contract

URL = "rtsp://127.0.0.1:8554/stream"


class ProxiesContract(StoreContract):
    @defer.inlineCallbacks
    def test_a_proxy_is_a_device_with_one_channel_and_a_source(self):
        first = yield self.store.proxies.add(URL, "门口")
        second = yield self.store.proxies.add("rtsp://10.0.0.9/live", "后门")
        self.assertRegex(first, r"^990[0-9]{8}$")
        self.assertNotEqual(first, second)
        proxies = yield self.store.proxies.list()
        self.assertEqual([(p.dev_id, p.name, p.url, p.online) for p in proxies],
                         sorted([(first, "门口", URL, False), (second, "后门", "rtsp://10.0.0.9/live", False)]))
        target = yield self.store.relay.target(first, 0, 1)
        self.assertEqual((target.channel_exists, target.stream_enabled, target.proxy_url), (True, True, URL))
        target = yield self.store.relay.target(first, 1, 1)
        self.assertFalse(target.channel_exists)

    @defer.inlineCallbacks
    def test_online_while_its_source_answers(self):
        dev_id = yield self.store.proxies.add(URL, "cam")
        yield self.store.proxies.set_online(dev_id, True, self.now)
        [proxy] = yield self.store.proxies.list()
        self.assertTrue(proxy.online)
        yield self.store.proxies.set_online(dev_id, False, self.now + 5)
        [proxy] = yield self.store.proxies.list()
        self.assertFalse(proxy.online)

    @defer.inlineCallbacks
    def test_a_camera_is_no_proxy(self):
        yield self.store.devices.add("81100000001", "key")
        target = yield self.store.relay.target("81100000001", 0, 1)
        self.assertIsNone(target.proxy_url)
        yield self.store.proxies.set_online("81100000001", True, self.now)  # not a proxy: untouched
        devices = yield self.store.devices.list()
        self.assertFalse(devices[0].online)


RealProxies, FakeProxies = contract(ProxiesContract)
