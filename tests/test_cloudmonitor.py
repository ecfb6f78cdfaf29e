"""spec/002 on the running service: each endpoint's example URL, its answer's fields, the file's codes.

The API key comes from core.apikeys (what ``kandianctl apikey add`` runs);
devices are simulated cameras holding their links.  Every example is tried
in both of the file's URL styles.
"""

from __future__ import annotations

import json
import os
from urllib.parse import urlencode

from twisted.internet import defer, reactor
from twisted.web.client import Agent, readBody

from kandian.cloudmonitor import routes

from . import camera as camera_tools, test_metrics
from .mcu_helpers import McuTestCase
from .test_media_loop import make_clip

CAM, CAM2, IDLE = "81100000001", "81200000002", "81300000003"
ON = "listen = tcp:0:interface=127.0.0.1\n"
FILES = "file_server = tcp:0:interface=127.0.0.1\n"  # [media]: the daemon's file server on a free port

GATHER_FIELDS = ["gather_id", "mac_addr", "ip_addr", "name_pc", "name_set", "os_name", "main_rate", "sub_rate",
                 "auto_dvr", "auto_fds", "slice_val", "inter_val", "snap_val", "status", "created", "updated"]
CAMERA_FIELDS = ["camera_id", "camera_name", "image_id", "image_fdfs", "gather_id", "name_set", "stream_prop",
                 "stream_url", "stream_mp4", "device_ip", "device_user", "device_pass", "device_cmd_prot",
                 "device_cmd_port", "device_mirror", "device_osd", "device_twice", "device_show", "status", "clicks",
                 "created", "updated"]


class CloudmonitorTestCase(McuTestCase):
    settings = {"cloudmonitor": ON, "media": FILES}

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


class ProxyAndPlayerTests(CloudmonitorTestCase):
    @defer.inlineCallbacks
    def test_add_mod_del_a_stream_proxy_camera(self):
        params = dict(camera_name="门口", gather_id=81100000001, stream_prop=2, stream_url="rtsp://127.0.0.1:8554/door",
                      stream_mp4="")
        _, answer = yield self.get("add_camera", "path", **params)
        _, answer = yield self.get("add_camera", **params)
        self.assertEqual(list(answer), ["err_code", "err_msg", "camera_id", "transmit"])
        self.assertEqual((answer["err_code"], answer["transmit"]), (0, "OK"))
        proxies = yield self.service.platform.store.proxies.list()
        self.assertEqual(len(proxies), 2)  # both URL styles added one
        dev_id = "%011d" % (answer["camera_id"] // 1000)
        self.assertIn(dev_id, [x.dev_id for x in proxies])
        listed = yield self.both("list_camera", per=50)
        [camera] = [c for c in listed["data"] if c["camera_id"] == answer["camera_id"]]
        self.assertEqual((camera["stream_prop"], camera["stream_url"], camera["gather_id"], camera["camera_name"],
                          camera["name_set"]), (2, "rtsp://127.0.0.1:8554/door", 81100000001, "门口", ""))
        gathers = yield self.both("list_gather")
        self.assertNotIn(dev_id, [g["name_pc"] for g in gathers["data"]])  # a camera of its gather, not a gather
        yield self.both("mod_camera", camera_id=answer["camera_id"], stream_url="rtsp://127.0.0.1:8554/back")
        self.assertEqual(self.core.proxies.urls[dev_id], "rtsp://127.0.0.1:8554/back")
        self.assertEqual((yield self.code("mod_camera", camera_id=answer["camera_id"], stream_prop=0)), 1009)
        self.assertEqual((yield self.code("mod_camera", camera_id=81100000001000, stream_prop=2)), 1009)
        answer2 = [c["camera_id"] for c in listed["data"] if c["stream_prop"] == 2 and
                   c["camera_id"] != answer["camera_id"]][0]
        self.assertEqual((yield self.code("del_camera", camera_id="%d,99" % answer["camera_id"])), 1010)
        self.assertEqual(len((yield self.service.platform.store.proxies.list())), 2)  # nothing deleted
        _, result = yield self.get("del_camera", "path", camera_id="%d,%d" % (answer["camera_id"], answer2))
        self.assertEqual(result, {"err_code": 0, "err_msg": "OK"})
        self.assertEqual((yield self.service.platform.store.proxies.list()), [])
        # a camera's own channel stays
        yield self.get("del_camera", camera_id=81100000001000)
        self.assertEqual((yield self.code("get_camera_status", camera_id=81100000001000)), 0)

    @defer.inlineCallbacks
    def test_add_camera_refusals(self):
        base = dict(camera_name="门口", gather_id=81100000001, stream_prop=2, stream_url="rtsp://127.0.0.1/x")
        for change, code in [({"camera_name": ""}, 1008), ({"gather_id": ""}, 1010), ({"gather_id": 1}, 1010),
                             ({"stream_prop": 0}, 1009), ({"stream_prop": 3}, 1009), ({"stream_prop": ""}, 1009),
                             ({"stream_url": ""}, 1009), ({"stream_url": "rtsp://10.1.1.1/x"}, 1009),
                             ({"stream_url": "rtsp://camera.example/x"}, 1009), ({"stream_url": "http://1.2.3.4/"}, 1009)]:
            params = dict(base, **change)
            self.assertEqual((yield self.code("add_camera", **params)), code, change)
        self.assertEqual((yield self.service.platform.store.proxies.list()), [])

    @defer.inlineCallbacks
    def test_play_camera_is_a_signed_player_page(self):
        answer = yield self.both("play_camera", camera_id=81100000001000, width=640, height=360)
        self.assertEqual(list(answer), ["err_code", "err_msg", "play_url"])
        url = answer["play_url"]
        base = "http://127.0.0.1:%d/player/camera/81100000001000?width=640&height=360&exp=" % self.port("cloudmonitor")
        self.assertTrue(url.startswith(base), url)
        response = yield Agent(reactor).request(b"GET", url.encode())
        page = (yield readBody(response)).decode()
        self.assertEqual(response.code, 200, page)
        self.assertIn('width="640" height="360"', page)
        self.assertIn("/live/%s/0/1/index.m3u8?exp=" % CAM, page)
        policy = response.headers.getRawHeaders(b"content-security-policy")[0].decode()
        self.assertIn("frame-ancestors *", policy)
        self.assertIn("http://127.0.0.1:%d" % self.port("portal"), policy)
        self.assertIsNone(response.headers.getRawHeaders(b"x-frame-options"))
        head, _, query = url.partition("?")
        exp_sig = "&".join(part for part in query.split("&") if part.startswith(("exp=", "sig=")))
        response = yield Agent(reactor).request(b"GET", ("%s/heartbeat?%s" % (head, exp_sig)).encode())
        beat = json.loads((yield readBody(response)))
        self.assertEqual(list(beat), ["live", "status"])
        self.assertIn("/live/%s/0/1/status?exp=" % CAM, beat["status"])
        for bad in (url.replace("sig=", "sig=x"), url.replace("81100000001000", "81100000001001")):
            response = yield Agent(reactor).request(b"GET", bad.encode())
            yield readBody(response)
            self.assertEqual(response.code, 403, bad)
        for path in (b"/player/hls.light.min.js", b"/player/player.js", b"/player/player.css"):
            response = yield Agent(reactor).request(b"GET", b"http://127.0.0.1:%d%s" % (self.port("cloudmonitor"),
                                                                                        path))
            self.assertEqual(response.code, 200, path)
            self.assertGreater(len((yield readBody(response))), 100)
        # each play counted
        listed = yield self.both("list_camera", per=1)
        self.assertEqual(listed["data"][0]["clicks"], 2)
        for params, code in [({"camera_id": 81100000001009}, 1010), ({"camera_id": 81100000001000, "width": 5}, 1009)]:
            self.assertEqual((yield self.code("play_camera", **params)), code)
        # an offline camera gets its page too (the page says so)
        self.assertEqual((yield self.code("play_camera", camera_id=81300000003000)), 0)


class Mp4ChannelTests(CloudmonitorTestCase):
    timeout = 120

    @defer.inlineCallbacks
    def setUp(self):
        self.mp4_dir = os.path.abspath(self.mktemp())
        os.makedirs(self.mp4_dir)
        self.settings = {"cloudmonitor": ON + "mp4_dir = %s\n" % self.mp4_dir,
                         "media": "file_server = tcp:0:interface=127.0.0.1\n"}
        yield make_clip(os.path.join(self.mp4_dir, "lesson.mp4"))
        yield super().setUp()

    @defer.inlineCallbacks
    def test_an_mp4_file_played_in_a_loop_as_a_channel(self):
        path = os.path.join(self.mp4_dir, "lesson.mp4")
        _, answer = yield self.get("add_camera", camera_name="公开课", gather_id=81100000001, stream_prop=1,
                                   stream_url="", stream_mp4=path)
        self.assertEqual(answer["err_code"], 0, answer)
        dev_id = "%011d" % (answer["camera_id"] // 1000)
        listed = yield self.both("list_camera", per=50)
        [camera] = [c for c in listed["data"] if c["camera_id"] == answer["camera_id"]]
        self.assertEqual((camera["stream_prop"], camera["stream_mp4"], camera["stream_url"], camera["gather_id"]),
                         (1, path, "", 81100000001))
        # its source answers: online, and it plays through the relay like a camera
        status = yield self.both("get_camera_status", camera_id=answer["camera_id"])
        self.assertEqual(status["status"], 1)
        url, _ = yield self.core.play.relay_url(dev_id, 0, stream_type=1)
        probe = yield camera_tools.ffprobe(url)
        self.assertEqual(probe.code, 0, probe.stderr)
        [video] = probe.info["streams"]
        self.assertEqual((video["codec_name"], video["width"], video["height"]), ("h264", 320, 240))
        # another file of the directory
        yield make_clip(os.path.join(self.mp4_dir, "other.mp4"), seconds=1)
        self.assertEqual((yield self.code("mod_camera", camera_id=answer["camera_id"], stream_mp4="other.mp4")), 0)
        listed = yield self.both("list_camera", per=50)
        [camera] = [c for c in listed["data"] if c["camera_id"] == answer["camera_id"]]
        self.assertEqual(camera["stream_mp4"], os.path.join(self.mp4_dir, "other.mp4"))

    @defer.inlineCallbacks
    def test_only_files_of_the_mp4_directory(self):
        base = dict(camera_name="x", gather_id=81100000001, stream_prop=1, stream_url="")
        for mp4 in ("", "missing.mp4", "/etc/passwd", "../lesson.mp4", os.path.dirname(self.mp4_dir)):
            self.assertEqual((yield self.code("add_camera", stream_mp4=mp4, **base)), 1009, mp4)
        self.assertEqual((yield self.service.platform.store.proxies.list()), [])


class MetricsTests(CloudmonitorTestCase):
    scrape = test_metrics.MetricsTests.scrape

    @defer.inlineCallbacks
    def test_requests_and_answers(self):
        yield self.get("list_gather")  # access_token, then list_gather
        yield self.get("list_camera", token="x")
        samples = yield self.scrape()
        self.assertEqual(samples[("kandian_cloudmonitor_requests_total", (("endpoint", "list_gather"),))], 1)
        self.assertEqual(samples[("kandian_cloudmonitor_requests_total", (("endpoint", "access_token"),))], 1)
        self.assertEqual(samples[("kandian_cloudmonitor_answers_total", (("err_code", "0"),))], 2)
        self.assertEqual(samples[("kandian_cloudmonitor_answers_total", (("err_code", "1006"),))], 1)
