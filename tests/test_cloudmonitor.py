"""spec/002 on the running service: each endpoint's example URL, its answer's fields, the file's codes.

The API key comes from core.apikeys (what ``kandianctl apikey add`` runs);
devices are simulated cameras holding their links.  Every example is tried
in both of the file's URL styles.
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

from twisted.internet import defer, reactor
from twisted.web.client import Agent, readBody

from kandian.cloudmonitor import routes

from .mcu_helpers import McuTestCase

CAM, CAM2, IDLE = "81100000001", "81200000002", "81300000003"
ON = "listen = tcp:0:interface=127.0.0.1\n"

GATHER_FIELDS = ["gather_id", "mac_addr", "ip_addr", "name_pc", "name_set", "os_name", "main_rate", "sub_rate",
                 "auto_dvr", "auto_fds", "slice_val", "inter_val", "snap_val", "status", "created", "updated"]
CAMERA_FIELDS = ["camera_id", "camera_name", "image_id", "image_fdfs", "gather_id", "name_set", "stream_prop",
                 "stream_url", "stream_mp4", "device_ip", "device_user", "device_pass", "device_cmd_prot",
                 "device_cmd_port", "device_mirror", "device_osd", "device_twice", "device_show", "status", "clicks",
                 "created", "updated"]


class CloudmonitorTestCase(McuTestCase):
    settings = {"cloudmonitor": ON}

    @defer.inlineCallbacks
    def setUp(self):
        yield super().setUp()
        self.core = self.service.platform.core
        self.unionid, _ = yield self.core.apikeys.add("crm")
        self.link = yield self.camera(CAM, channels=2)
        yield self.camera(CAM2, channels=1)
        yield self.camera(IDLE, channels=1, online=False)
        self.token = None

    @defer.inlineCallbacks
    def get(self, name: str, style: str = "query", auth: bool = True, **params):
        """(HTTP status, JSON) of an endpoint with *params*, in the file's query or path style
        (with an access token unless *auth* is false or *params* has its own)."""
        if auth and "token" not in params:
            if self.token is None:
                answer = yield self.get("access_token", auth=False, unionid=self.unionid)
                self.token = answer[1]["token"]
            params["token"] = self.token
        items = [(k, str(v)) for k, v in params.items()]
        if style == "query":
            path = "/api/v1/%s?%s" % (name, urlencode(items))
        else:
            path = routes.path_style(name, items)
        response = yield Agent(reactor).request(b"GET", b"http://127.0.0.1:%d%s" % (self.port("cloudmonitor"),
                                                                                    path.encode()))
        data = yield readBody(response)
        self.assertEqual(response.headers.getRawHeaders(b"content-type"), [b"application/json; charset=utf-8"])
        self.assertTrue(data.isascii(), data)  # \uXXXX escapes, as the file's examples
        return response.code, json.loads(data)

    @defer.inlineCallbacks
    def both(self, name: str, **params):
        """The JSON answer, the same in both URL styles."""
        code, by_query = yield self.get(name, "query", **params)
        self.assertEqual(code, 200)
        code, by_path = yield self.get(name, "path", **params)
        self.assertEqual(by_path, by_query)
        return by_query

    @defer.inlineCallbacks
    def code(self, name: str, **params):
        _, answer = yield self.get(name, **params)
        return answer["err_code"]


class ExampleTests(CloudmonitorTestCase):
    @defer.inlineCallbacks
    def test_version(self):
        answer = yield self.both("version", auth=False)
        self.assertEqual(list(answer), ["API", "Name", "Version", "Server"])
        self.assertEqual((answer["API"], answer["Name"], answer["Version"]), ("v1", "云监控", "1.1.0"))

    @defer.inlineCallbacks
    def test_access_token(self):
        answer = yield self.both("access_token", auth=False, unionid=self.unionid)
        self.assertEqual(list(answer), ["err_code", "err_msg", "token", "expires"])
        self.assertEqual((answer["err_code"], answer["err_msg"], answer["expires"]), (0, "OK", 7200))
        for unionid, code, message in [("", 1001, "无效的 unionid"), ("x", 1001, "无效的 unionid"),
                                       ("A" * 28, 1002, "没有找到 unionid 指定的帐号")]:
            _, answer = yield self.get("access_token", auth=False, unionid=unionid)
            self.assertEqual(answer, {"err_code": code, "err_msg": message})
        yield self.core.apikeys.revoke("crm")
        _, answer = yield self.get("access_token", auth=False, unionid=self.unionid)
        self.assertEqual(answer, {"err_code": 1003, "err_msg": "unionid 对应的帐号没有接口访问权限"})

    @defer.inlineCallbacks
    def test_list_gather(self):
        answer = yield self.both("list_gather", cur=1, per=10)
        self.assertEqual(list(answer), ["err_code", "err_msg", "total_num", "max_page", "cur_page", "per_page",
                                        "data"])
        self.assertEqual([answer[k] for k in ("total_num", "max_page", "cur_page", "per_page")], [3, 1, 1, 10])
        first = answer["data"][0]
        self.assertEqual(list(first), GATHER_FIELDS)
        self.assertEqual((first["gather_id"], first["name_pc"], first["status"], first["main_rate"],
                          first["auto_fds"], first["snap_val"]), (81100000001, CAM, 1, 1024, 1, 2))
        self.assertRegex(first["created"], r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
        self.assertEqual([g["status"] for g in answer["data"]], [1, 1, 0])
        answer = yield self.both("list_gather", cur=2, per=2)
        self.assertEqual([answer[k] for k in ("total_num", "max_page", "cur_page", "per_page")], [3, 2, 2, 2])
        self.assertEqual([g["name_pc"] for g in answer["data"]], [IDLE])
        answer = yield self.both("list_gather")  # the defaults: cur 1, per 10
        self.assertEqual((answer["cur_page"], answer["per_page"], len(answer["data"])), (1, 10, 3))

    @defer.inlineCallbacks
    def test_mod_gather(self):
        answer = yield self.both("mod_gather", gather_id=81100000001, name_set="采集端", main_rate=1024, sub_rate=256,
                                 auto_dvr=0, auto_fds=1, slice_val=0, inter_val=0, snap_val=2)
        self.assertEqual(answer, {"err_code": 0, "err_msg": "OK"})
        answer = yield self.both("list_gather", per=1)
        self.assertEqual((answer["data"][0]["name_set"], answer["data"][0]["sub_rate"]), ("采集端", 256))
        rows = yield self.db.runQuery("SELECT name FROM device WHERE dev_id = %s", (CAM,))
        self.assertEqual(rows, [("采集端",)])
        for params, code in [({}, 1010), ({"gather_id": "abc"}, 1010), ({"gather_id": 99}, 1010),
                             ({"gather_id": 81100000001, "slice_val": 31}, 1009),
                             ({"gather_id": 81100000001, "auto_dvr": "yes"}, 1009)]:
            self.assertEqual((yield self.code("mod_gather", **params)), code, params)

    @defer.inlineCallbacks
    def test_list_camera(self):
        yield self.link.report_ability()
        answer = yield self.both("list_camera", cur=1, per=10)
        self.assertEqual(list(answer), ["err_code", "err_msg", "total_num", "max_page", "cur_page", "per_page",
                                        "storage_addr", "data"])
        self.assertEqual([answer[k] for k in ("total_num", "max_page", "cur_page", "per_page")], [4, 1, "1", "10"])
        self.assertEqual(answer["storage_addr"], "http://127.0.0.1:%d" % self.port("cloudmonitor"))
        first = answer["data"][0]
        self.assertEqual(list(first), CAMERA_FIELDS)
        self.assertEqual([c["camera_id"] for c in answer["data"]],
                         [81100000001000, 81100000001001, 81200000002000, 81300000003000])
        self.assertEqual((first["gather_id"], first["stream_prop"], first["status"], first["clicks"]),
                         (81100000001, 0, 1, 0))
        self.assertEqual([c["status"] for c in answer["data"]], [1, 1, 1, 0])

    @defer.inlineCallbacks
    def test_mod_camera_get_status_start_stop(self):
        answer = yield self.both("mod_camera", camera_id=81100000001001, camera_name="一班")
        self.assertEqual(answer, {"err_code": 0, "err_msg": "OK", "transmit": "OK"})
        answer = yield self.both("get_camera_status", camera_id=81100000001001)
        self.assertEqual(answer, {"err_code": 0, "err_msg": "OK", "camera_id": 81100000001001, "status": 1})
        answer = yield self.both("stop_camera", camera_id=81100000001001)
        self.assertEqual(answer, {"err_code": 0, "err_msg": "OK", "transmit": "OK"})
        answer = yield self.both("get_camera_status", camera_id=81100000001001)
        self.assertEqual(answer["status"], 0)
        # a stopped channel's stream is closed: the relay refuses it (§10.2: 403)
        target = yield self.service.platform.store.relay.target(CAM, 1, 1)
        self.assertFalse(target.stream_enabled)
        answer = yield self.both("start_camera", camera_id=81100000001001)
        answer = yield self.both("get_camera_status", camera_id=81100000001001)
        self.assertEqual(answer["status"], 1)
        answer = yield self.both("list_camera", per=2)
        self.assertEqual(answer["data"][1]["camera_name"], "一班")
        for name in ("mod_camera", "get_camera_status", "start_camera", "stop_camera"):
            for camera_id in ("", "x", 81100000001002, 99999999999999999):
                self.assertEqual((yield self.code(name, camera_id=camera_id)), 1010, (name, camera_id))
        # the channel of an offline device is there, offline
        answer = yield self.both("get_camera_status", camera_id=81300000003000)
        self.assertEqual(answer["status"], 0)


class TokenTests(CloudmonitorTestCase):
    @defer.inlineCallbacks
    def test_no_bad_expired_token(self):
        for name in ("list_gather", "mod_gather", "list_camera", "get_camera_status", "start_camera", "stop_camera",
                     "mod_camera"):
            _, answer = yield self.get(name, auth=False)
            self.assertEqual(answer, {"err_code": 1004, "err_msg": "没有凭证, 请确认参数"}, name)
            _, answer = yield self.get(name, token="1.2.3")
            self.assertEqual(answer, {"err_code": 1006, "err_msg": "解析 token 失败"}, name)
        yield self.get("list_gather")
        self.clock.advance(7200)
        _, answer = yield self.get("list_gather")
        self.assertEqual(answer, {"err_code": 1007, "err_msg": "凭证已过期, 请重新获取"})
        stats = self.service.platform.cloudmonitor_stats
        self.assertEqual((stats.answers[1004], stats.answers[1006], stats.answers[1007]), (7, 7, 1))

    @defer.inlineCallbacks
    def test_a_revoked_keys_token(self):
        yield self.get("list_gather")
        yield self.core.apikeys.revoke("crm")
        self.assertEqual((yield self.code("list_gather")), 1007)

    @defer.inlineCallbacks
    def test_paths_methods_parameters(self):
        response = yield Agent(reactor).request(b"GET", b"http://127.0.0.1:%d/api/v1/List_Gather"
                                                % self.port("cloudmonitor"))
        self.assertEqual(response.code, 404)
        self.assertEqual(json.loads((yield readBody(response))), {"err_code": 1009, "err_msg": "没有这个接口"})
        response = yield Agent(reactor).request(b"POST", b"http://127.0.0.1:%d/api/v1/version"
                                                % self.port("cloudmonitor"))
        self.assertEqual((response.code, response.headers.getRawHeaders(b"allow")), (405, [b"GET"]))
        yield readBody(response)
        for params in ({"cur": 0}, {"per": 201}, {"per": "ten"}, {"cur": "-1"}):
            self.assertEqual((yield self.code("list_gather", **params)), 1009, params)

    @defer.inlineCallbacks
    def test_a_picture_is_a_signed_storage_path(self):
        import hashlib
        import os
        name = "%s_0_20261118190000.jpg" % CAM
        path = self.service.platform.layout.picture(CAM, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(b"\xff\xd8jpeg\xff\xd9")
        yield self.service.platform.store.files.stored(CAM, "pictures", name, 8, hashlib.sha256(b"x").hexdigest(),
                                                       self.clock.seconds(), channel_no=0)
        answer = yield self.both("list_camera", per=1)
        camera = answer["data"][0]
        self.assertRegex(camera["image_fdfs"], r"^/storage/picture/%d\.jpg\?exp=\d+&sig=[\w-]+$"
                         % camera["image_id"])
        url = (answer["storage_addr"] + camera["image_fdfs"]).encode()
        response = yield Agent(reactor).request(b"GET", url)
        self.assertEqual((response.code, (yield readBody(response))), (200, b"\xff\xd8jpeg\xff\xd9"))
        for bad in (url.replace(b"sig=", b"sig=x"), url.replace(b"/%d.jpg" % camera["image_id"], b"/1999.jpg"),
                    url.split(b"?")[0]):
            response = yield Agent(reactor).request(b"GET", bad)
            yield readBody(response)
            self.assertEqual(response.code, 403, bad)
        self.clock.advance(4 * 3600)
        response = yield Agent(reactor).request(b"GET", url)
        yield readBody(response)
        self.assertEqual(response.code, 403)
