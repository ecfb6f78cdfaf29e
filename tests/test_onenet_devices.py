"""spec/001 §1 devices, §2 channels, §7, §8–§12, §15, §19 over real HTTP: each endpoint with the file's example
and its errors (bad key, a device key out of its device, unknown device, bad JSON, oversize)."""

import base64
import json

from twisted.internet import defer

from .onenet_helpers import REGISTER_CODE, OnenetTestCase

# §1.1's example, made JSON (the file's has comments and a stray quote)
CREATE = {
    "title": "device1", "desc": "some description",
    "location": {"ele": 370000, "lat": 17.609997, "lon": 177.03403},
    "private": True, "protocol": "RTMP", "auth_info": "auth123", "area": "100", "other": {"version": "1.0"},
    "interval": 60, "auth": "1233311", "route_to": "abcd", "url": "http://www.test.com", "idsn": "test",
    "activate_code": "test",
}
# §1.3's example
UPDATE = {
    "title": "my device1", "desc": "some description", "private": True, "tags": ["Tag1", "Tag2"],
    "url": "http://www.test.com", "idsn": "test",
    "location": {"ele": 370000, "lat": 17.609991828964787, "lon": 177.03402996826173},
    "route_to": "test", "auth_info": "auth124", "auth": "123123", "interval": 60, "activate_code": "test",
    "area": "100", "other": {},
}


class DeviceTests(OnenetTestCase):
    @defer.inlineCallbacks
    def test_create_get_update_list_delete(self):
        answer = yield self.post("/devices", body=CREATE)
        self.assertSucc(answer)
        dev_id = answer.payload["device_id"]
        self.assertEqual((len(dev_id), dev_id[:3]), (11, "899"))
        got = yield self.get("/devices/%s" % dev_id)
        self.assertSucc(got)
        data = got.payload
        self.assertEqual(
            {k: data[k] for k in ("id", "online", "protocol", "title", "desc", "private", "location", "auth_info",
                                  "area", "other", "url", "channel_count", "last_login")},
            {"id": dev_id, "online": False, "protocol": "RTMP", "title": "device1", "desc": "some description",
             "private": True, "location": CREATE["location"], "auth_info": "auth123", "area": "100",
             "other": {"version": "1.0"}, "url": "http://www.test.com", "channel_count": 1, "last_login": None})
        self.assertEqual(data["create_time"], "2026-11-18 19:06:40")
        [key] = data["keys"]
        self.assertEqual(key["title"], "device-auto-key")
        # the DevKey is the auth_info: the camera logs in with it
        rows = yield self.db.runQuery("SELECT dev_key, name FROM device WHERE dev_id = %s", (dev_id,))
        self.assertEqual(rows, [("auth123", "device1")])

        self.assertSucc((yield self.put("/devices/%s" % dev_id, body=UPDATE)))
        data = (yield self.get("/devices/%s" % dev_id)).payload
        self.assertEqual((data["title"], data["tags"], data["auth_info"], data["other"]),
                         ("my device1", ["Tag1", "Tag2"], "auth124", {}))
        # only what is sent changes
        self.assertSucc((yield self.put("/devices/%s" % dev_id, body={"desc": "new"})))
        data = (yield self.get("/devices/%s" % dev_id)).payload
        self.assertEqual((data["title"], data["desc"]), ("my device1", "new"))

        listed = yield self.get("/devices", {"key_words": dev_id[:5], "tag": "Tag1", "private": "true"})
        self.assertSucc(listed)
        self.assertEqual({k: listed.payload[k] for k in ("total_count", "per_page", "page")},
                         {"total_count": 1, "per_page": 30, "page": 1})
        self.assertEqual(listed.payload["devices"][0]["id"], dev_id)
        self.assertEqual((yield self.get("/devices", {"tag": "other"})).payload["total_count"], 0)

        self.assertSucc((yield self.delete("/devices/%s" % dev_id)))
        self.assertErrno((yield self.get("/devices/%s" % dev_id)), 404)
        self.assertErrno((yield self.delete("/devices/%s" % dev_id)), 404)

    @defer.inlineCallbacks
    def test_list_filters_of_the_file(self):
        a = yield self.create("Alpha", auth_info={"SYS": "z=8QY3r7aTQ48UKfqPnB=PybYRo="})
        b = yield self.create("beta", private=True)
        answer = yield self.get("/devices", {"title": "alp"})
        self.assertEqual([d["id"] for d in answer.payload["devices"]], [a])
        answer = yield self.get("/devices", {"device_id": "%s,%s" % (b, a), "per_page": "1", "page": "2"})
        self.assertEqual((answer.payload["total_count"], [d["id"] for d in answer.payload["devices"]]), (2, [b]))
        answer = yield self.get("/devices", {"auth_info": '{"SYS":"z=8QY3r7aTQ48UKfqPnB=PybYRo="}'})
        self.assertEqual([d["id"] for d in answer.payload["devices"]], [a])
        self.assertEqual(answer.payload["devices"][0]["auth_info"], {"SYS": "z=8QY3r7aTQ48UKfqPnB=PybYRo="})
        answer = yield self.get("/devices", {"begin": "2026-11-18", "end": "2026-11-18", "online": "false"})
        self.assertEqual(answer.payload["total_count"], 2)
        answer = yield self.get("/devices", {"begin": "2026-11-19"})
        self.assertEqual(answer.payload["total_count"], 0)
        for bad in ({"per_page": "101"}, {"page": "0"}, {"page": "10001"}, {"online": "maybe"}, {"begin": "x"}):
            self.assertErrno((yield self.get("/devices", bad)), 400)

    @defer.inlineCallbacks
    def test_bad_bodies(self):
        self.assertErrno((yield self.post("/devices", raw=b"{not json")), 400)
        self.assertErrno((yield self.post("/devices", raw=b"\xff\xfe")), 400)
        self.assertErrno((yield self.post("/devices", body=[1, 2])), 400)
        self.assertErrno((yield self.post("/devices", body={})), 400)  # no title
        for bad in ({"title": "x" * 65}, {"title": "t", "protocol": "EDP"}, {"title": "t", "private": "yes"},
                    {"title": "t", "location": {"lat": 91}}, {"title": "t", "location": {"lat": "1"}},
                    {"title": "t", "tags": "a"}, {"title": "t", "auth_info": ""}, {"title": "t", "area": "abc"},
                    {"title": "t", "auth_info": "x" * 257}, {"title": "t", "dev_id": "123"}):
            answer = yield self.post("/devices", body=bad)
            self.assertErrno(answer, 400)
            self.assertTrue(answer.json["error"].startswith("bad request: "), answer)
        # auth_info is unique under the product
        yield self.create("one", auth_info="same")
        self.assertErrno((yield self.post("/devices", body={"title": "two", "auth_info": "same"})), 400)
        # a body over 64 KiB is refused before it is read
        answer = yield self.post("/devices", body={"title": "t", "desc": "x" * 70_000})
        self.assertErrno(answer, 413)
        self.assertEqual(self.service.platform.onenet_stats.api.answers[413], 1)

    @defer.inlineCallbacks
    def test_keys(self):
        dev_id = yield self.create()
        other = yield self.create("other")
        key = yield self.device_key(dev_id)
        self.assertTrue(key.startswith(dev_id))
        # a device key acts on its device, and only there
        self.assertSucc((yield self.get("/devices/%s" % dev_id, key=key)))
        self.assertSucc((yield self.put("/devices/%s" % dev_id, body={"desc": "mine"}, key=key)))
        self.assertErrno((yield self.get("/devices/%s" % other, key=key)), 403)
        self.assertErrno((yield self.post("/devices", body={"title": "t"}, key=key)), 403)
        listed = yield self.get("/devices", key=key)
        self.assertEqual([d["id"] for d in listed.payload["devices"]], [dev_id])
        # unknown keys, none at all, a key of another API
        for bad in ("nope", key[:-1] + ("A" if key[-1] != "A" else "B"), other + key[11:]):
            answer = yield self.get("/devices/%s" % dev_id, key=bad)
            self.assertErrno(answer, 401)
            self.assertEqual(answer.json["error"], "auth failed: unknown api-key")
        self.assertErrno((yield self.get("/devices/%s" % dev_id, auth=False)), 401)
        plain = yield self.apikey("cloudmonitor")
        self.assertErrno((yield self.get("/devices/%s" % dev_id, key=plain)), 403)
        self.assertErrno((yield self.get("/devices", key=plain)), 403)
        # a revoked master key is no key
        ops = yield self.apikey("ops", master=True)
        self.assertSucc((yield self.get("/devices", key=ops)))
        yield self.core.apikeys.revoke("ops")
        self.assertErrno((yield self.get("/devices", key=ops)), 401)
        # a device key is the device's only: deleted, it is gone
        self.assertSucc((yield self.delete("/devices/%s" % dev_id, key=key)))
        self.assertErrno((yield self.get("/devices/%s" % dev_id, key=key)), 401)

    @defer.inlineCallbacks
    def test_a_guesser_is_stopped(self):
        limit = self.service.config.throttle.failures_per_account
        for _ in range(limit):
            self.assertErrno((yield self.get("/devices", key="guess")), 401)
        answer = yield self.get("/devices", key="guess")
        self.assertErrno(answer, 403)
        self.assertTrue(answer.header(b"retry-after"))

    @defer.inlineCallbacks
    def test_unknown_paths_and_methods(self):
        answer = yield self.get("/nope")
        self.assertErrno(answer, 404)
        answer = yield self.call("PATCH", "/devices/1")
        self.assertErrno(answer, 405)
        self.assertEqual(answer.header(b"allow"), "DELETE, GET, PUT")
        self.assertErrno((yield self.get("/devices/81100000009")), 404)
        self.assertErrno((yield self.get("/devices/abc")), 404)


class RegisterCodeTests(OnenetTestCase):
    @defer.inlineCallbacks
    def test_register_de(self):
        body = {"sn": "SN-0001", "title": "door camera", "area": 100}
        answer = yield self.post("/register_de", {"register_code": REGISTER_CODE}, body, auth=False)
        self.assertSucc(answer)
        dev_id, key = answer.payload["device_id"], answer.payload["key"]
        self.assertIsInstance(dev_id, int)
        # the key acts on that device
        got = yield self.get("/devices/%d" % dev_id, key=key)
        self.assertEqual((got.payload["title"], got.payload["area"]), ("door camera", "100"))
        # the same sn again: the same device and key
        again = yield self.post("/register_de", {"register_code": REGISTER_CODE}, body, auth=False)
        self.assertEqual(again.payload, answer.payload)
        # an 11-digit sn is the camera's DevID
        answer = yield self.post("/register_de", {"register_code": REGISTER_CODE}, {"sn": "81100000007"},
                                 auth=False)
        self.assertEqual(answer.payload["device_id"], 81100000007)
        answer = yield self.post("/register_de", {"register_code": REGISTER_CODE}, {"mac": "00:11:22:33:44:55"},
                                 auth=False)
        self.assertSucc(answer)
        for query, bad, errno in (({"register_code": "wrong"}, {"sn": "x"}, 401), ({}, {"sn": "x"}, 400),
                                  ({"register_code": REGISTER_CODE}, {"sn": "x", "mac": "y"}, 400),
                                  ({"register_code": REGISTER_CODE}, {}, 400),
                                  ({"register_code": REGISTER_CODE}, {"sn": "x", "title": "t" * 33}, 400)):
            self.assertErrno((yield self.post("/register_de", query, bad, auth=False)), errno)
        # a guesser of the code is stopped (the one wrong code above counted)
        limit = self.service.config.throttle.failures_per_account
        for _ in range(limit - 1):
            self.assertErrno((yield self.post("/register_de", {"register_code": "guess"}, {"sn": "x"},
                                              auth=False)), 401)
        answer = yield self.post("/register_de", {"register_code": REGISTER_CODE}, {"sn": "x"}, auth=False)
        self.assertErrno(answer, 403)
        self.assertTrue(answer.header(b"retry-after"))


class NoRegisterCodeTests(OnenetTestCase):
    settings = {"onenet": "listen = tcp:0:interface=127.0.0.1\n"}

    @defer.inlineCallbacks
    def test_register_de_is_off(self):
        answer = yield self.post("/register_de", {"register_code": ""}, {"sn": "x"}, auth=False)
        self.assertErrno(answer, 400)
        answer = yield self.post("/register_de", {"register_code": "anything"}, {"sn": "x"}, auth=False)
        self.assertErrno(answer, 400)


class ChannelTests(OnenetTestCase):
    @defer.inlineCallbacks
    def test_channels(self):
        dev_id = yield self.create()
        answer = yield self.get("/ipc/video/device/QryChannel", {"device_id": dev_id})
        self.assertSucc(answer)
        self.assertEqual(answer.json["result"], [{"channel_id": 1, "title": "", "desc": ""}])
        # §2.3's example: channel 20, then 100
        for channel, title, desc in ((20, "testqwer", "1qwqwq/"), (100, "myqutotest", "123_test")):
            answer = yield self.post("/ipc/video/device/AddChannel", {"device_id": dev_id, "channel_id": channel,
                                                                      "title": title, "desc": desc})
            self.assertSucc(answer)
        answer = yield self.post("/ipc/video/device/AddChannel", {"device_id": dev_id, "channel_id": 20,
                                                                  "title": "again"})
        self.assertErrno(answer, 16)
        self.assertEqual(answer.json["error"], "The channel already exists,cannot add again!")
        answer = yield self.get("/ipc/video/device/QryChannel", {"device_id": dev_id})
        self.assertEqual(answer.json["result"][1:], [{"channel_id": 20, "title": "testqwer", "desc": "1qwqwq/"},
                                                     {"channel_id": 100, "title": "myqutotest",
                                                      "desc": "123_test"}])
        answer = yield self.post("/ipc/video/device/ModifyChannel", {"device_id": dev_id, "channel_id": 20,
                                                                     "title": "renamed"})
        self.assertSucc(answer)
        answer = yield self.post("/ipc/video/device/ModifyChannel", {"device_id": dev_id, "channel_id": 21,
                                                                     "title": "x"})
        self.assertErrno(answer, 17)
        self.assertEqual(answer.json["error"], "This channel is not available under this device!")
        self.assertSucc((yield self.delete("/ipc/video/device/DelChannel", {"device_id": dev_id, "channel_id": 20})))
        self.assertErrno((yield self.delete("/ipc/video/device/DelChannel", {"device_id": dev_id,
                                                                              "channel_id": 20})), 17)
        # channel_num adds channels 1..N at once (all or none)
        other = yield self.create("other")
        answer = yield self.post("/ipc/video/device/AddChannel", {"device_id": other, "channel_id": 1,
                                                                  "title": "cam", "channel_num": 4})
        self.assertErrno(answer, 16)  # channel 1 is there
        yield self.delete("/ipc/video/device/DelChannel", {"device_id": other, "channel_id": 1})
        self.assertSucc((yield self.post("/ipc/video/device/AddChannel", {"device_id": other, "channel_id": 1,
                                                                          "title": "cam", "channel_num": 4})))
        answer = yield self.get("/ipc/video/device/QryChannel", {"device_id": other})
        self.assertEqual([c["channel_id"] for c in answer.json["result"]], [1, 2, 3, 4])
        # errors
        for query in ({"device_id": dev_id, "channel_id": 3, "title": "bad title"},
                      {"device_id": dev_id, "channel_id": 0, "title": "t"},
                      {"device_id": dev_id, "title": "t"}, {"channel_id": 3, "title": "t"}):
            self.assertErrno((yield self.post("/ipc/video/device/AddChannel", query)), 400)
        self.assertErrno((yield self.get("/ipc/video/device/QryChannel", {"device_id": "81100000009"})), 404)


class StatusTests(OnenetTestCase):
    @defer.inlineCallbacks
    def test_status_messages_addresses(self):
        dev_id = yield self.create(auth_info="key-1")
        other = yield self.create("other")
        answer = yield self.get("/ipc/video/device/QryDevStatus", {"devIds": "%s,%s,123" % (dev_id, other)})
        self.assertSucc(answer)
        self.assertEqual(answer.json["result"], {"total_count": 2, "devices": [{"id": dev_id, "online": False},
                                                                               {"id": other, "online": False}]})
        link = yield self.camera(dev_id, "key-1")
        answer = yield self.get("/ipc/video/device/QryDevStatus", {"devIds": dev_id})
        self.assertEqual(answer.json["result"]["devices"], [{"id": dev_id, "online": True}])
        self.assertErrno((yield self.get("/ipc/video/device/QryDevStatus", {"devIds": ",".join(["1"] * 31)})), 400)

        # §9: what the device reported of itself
        yield link.send_exception(12, desc="UPNP mapping failed")
        answer = yield self.get("/ipc/video/device/QryDevMsg", {"device_id": dev_id,
                                                                "begin_time": "2026-11-18 00:00:00",
                                                                "end_time": "2026-11-19 00:00:00"})
        self.assertSucc(answer)
        self.assertEqual(answer.json["page_info"], {"total_num": 1, "page_total": 1, "page_size": 50,
                                                    "current_page": 1})
        [msg] = answer.json["result"]
        self.assertEqual(json.loads(base64.b64decode(msg["msg"])),
                         {"exception_type": 12, "channel_id": None, "desc": "UPNP mapping failed"})
        self.assertEqual(msg["create_time"], "2026-11-18 19:06:40")
        self.assertErrno((yield self.get("/ipc/video/device/QryDevMsg", {"device_id": dev_id})), 400)

        # §10, §11
        answer = yield self.get("/ipc/video/boot_address", auth=False)
        self.assertEqual(answer.payload, {"boot_address": "127.0.0.1", "boot_port": self.port("register")})
        answer = yield self.get("/ipc/video/device/acc_service", {"product_id": "1", "device_id": dev_id,
                                                                  "net": "CT"})
        self.assertEqual(answer.payload, {"addr": "127.0.0.1:%d" % self.port("device"), "token": "key-1",
                                       "access": dev_id})
        self.assertErrno((yield self.get("/ipc/video/device/acc_service", {"product_id": "1",
                                                                           "device_id": dev_id})), 400)
        self.assertErrno((yield self.get("/ipc/video/device/acc_service", {"product_id": "2", "device_id": dev_id,
                                                                           "net": "CT"})), 404)
        # §12: a §7 link carries no free data
        answer = yield self.post("/ipc/video/dev_active", {"device_id": dev_id}, raw=b"hello")
        self.assertErrno(answer, 400)
        self.assertErrno((yield self.post("/ipc/video/dev_active", {"device_id": dev_id}, raw=b"x" * 129)), 413)

        # §19: the device's DevVer, or the newest one devices run
        answer = yield self.get("/ipc/video/device/version", {"product_id": "1", "device_id": dev_id})
        self.assertEqual(answer.payload, {"ver": "V1.5_20131210"})
        answer = yield self.get("/ipc/video/device/version", {"product_id": "1"})
        self.assertEqual(answer.payload, {"ver": "V1.5_20131210"})
        self.assertErrno((yield self.get("/ipc/video/device/version", {})), 400)

    @defer.inlineCallbacks
    def test_encryption_and_camera_switch(self):
        answer = yield self.get("/ipc/video/trans_encrypt", {"product_id": "7355"})
        self.assertErrno(answer, 404)
        answer = yield self.get("/ipc/video/trans_encrypt", {"product_id": "1"})
        self.assertEqual(answer.json, {"errno": 0, "trans_enc": 0})
        self.assertSucc((yield self.put("/ipc/video/trans_encrypt", {"product_id": "1"}, {"type": 0})))
        self.assertErrno((yield self.put("/ipc/video/trans_encrypt", {"product_id": "1"}, {"type": 1})), 400)

        dev_id = yield self.create()
        query = {"product_id": "1", "device_id": dev_id, "id": "1"}
        self.assertSucc((yield self.put("/ipc/video/access_control/closecamera", query, {"type": 1})))
        rows = yield self.db.runQuery("SELECT stream_type, enabled FROM stream_profile WHERE dev_id = %s"
                                      " ORDER BY 1", (dev_id,))
        self.assertEqual(rows, [(1, False), (2, False)])
        self.assertSucc((yield self.put("/ipc/video/access_control/closecamera", query, {"type": 0})))
        rows = yield self.db.runQuery("SELECT bool_and(enabled) FROM stream_profile WHERE dev_id = %s", (dev_id,))
        self.assertEqual(rows, [(True,)])
        self.assertErrno((yield self.put("/ipc/video/access_control/closecamera", dict(query, id="2"),
                                         {"type": 0})), 404)
        self.assertErrno((yield self.put("/ipc/video/access_control/closecamera", query, {"type": 2})), 400)



class PlayAddressTests(OnenetTestCase):
    @defer.inlineCallbacks
    def test_the_file_s_codes(self):
        dev_id = yield self.create()
        query = {"device_id": dev_id, "channel_id": 1}
        for kind in (1, 5):
            self.assertErrno((yield self.get("/ipc/video/play_address", dict(query, protocol_type=kind))), 4)
        self.assertErrno((yield self.get("/ipc/video/play_address", dict(query, protocol_type=2))), 1)  # no TLS
        self.assertErrno((yield self.get("/ipc/video/play_address", dict(query, channel_id=2))), 3)
        self.assertErrno((yield self.get("/ipc/video/play_address", dict(query, protocol_type=6))), 1)
        self.assertErrno((yield self.get("/ipc/video/play_address", dict(query, timeout="soon"))), 1)
        yield self.put("/ipc/video/access_control/closecamera", {"product_id": "1", "device_id": dev_id, "id": 1},
                       {"type": 1})
        self.assertErrno((yield self.get("/ipc/video/play_address", query)), 3)
        self.assertErrno((yield self.get("/ipc/video/play_address", {"device_id": "81100000009",
                                                                     "channel_id": 1})), 404)
        other = yield self.create("other")
        key = yield self.device_key(other)
        self.assertErrno((yield self.get("/ipc/video/play_address", query, key=key)), 403)
        self.assertErrno((yield self.get("/ipc/video/get_push_address", {"device_id": dev_id, "channel": 1})), 400)
        # a token that is not one, on the HLS and preview paths
        self.assertErrno((yield self.get("/live/live_%s_1/index.m3u8" % dev_id, "123.abc", auth=False)), 403)
        self.assertErrno((yield self.get("/live_preview/%s-1" % dev_id, {"token": "x"}, auth=False)), 403)
        self.assertErrno((yield self.get("/live/live_%s_0/index.m3u8" % dev_id, auth=False)), 404)
