"""Every route of the ``[onenet]`` listener walked over real HTTP: without a key and with a wrong one (401), with a
body over its cap (413, before it is read), with a body that is not JSON where JSON is read (400), and every
endpoint aimed at one device with a device that is not there (404) — each answered in the envelope."""

from twisted.internet import defer

from .onenet_helpers import OnenetTestCase

UNKNOWN = "81100000009"


def fill(template: str, dev_id: str) -> str:
    values = {"device_id": dev_id, "stream": "live_%s_1" % dev_id, "alarm_id": "1", "video_id": "1",
              "channel_id": "1", "file": "x.jpg"}
    for name, value in values.items():
        template = template.replace("{%s}" % name, value)
    if template.startswith("/live_preview/"):
        template = "/live_preview/%s-1" % dev_id
    return template


class WalkTests(OnenetTestCase):
    settings = dict(OnenetTestCase.settings, throttle="failures_per_address = 10000\nfailures_per_account = 10000\n")

    @defer.inlineCallbacks
    def setUp(self):
        yield super().setUp()
        self.routes = self.service.platform.factories["onenet"].resource.router.routes

    def query(self, dev_id):
        return {"device_id": dev_id, "deviceid": dev_id, "devIds": dev_id, "product_id": "1", "productid": "1",
                "channel_id": "1", "id": "1", "name": "x", "video_id": "1", "start_time": "2026-11-18",
                "end_time": "2026-11-18", "begin_time": "2026-11-18", "format": "jpg", "action": "1", "type": "1",
                "register_code": "x", "qos": "1"}

    @defer.inlineCallbacks
    def test_every_route_wants_its_key(self):
        keyed = [r for r in self.routes if r.auth]
        self.assertGreater(len(keyed), 45)
        for route in keyed:
            path = fill(route.template, UNKNOWN)
            for key in (None, "not-a-key"):
                answer = yield self.call(route.method, path, self.query(UNKNOWN), key=key, auth=key is not None,
                                         raw=b"{}" if route.body != "none" else None)
                self.assertEqual((answer.code, answer.json["errno"]), (401, 401), (route.method, path, key))

    @defer.inlineCallbacks
    def test_every_route_caps_its_body(self):
        for route in self.routes:
            path = fill(route.template, UNKNOWN)
            answer = yield self.call(route.method, path, self.query(UNKNOWN), raw=b"x" * (route.max_body + 1))
            self.assertEqual((answer.code, answer.json["errno"]), (413, 413), (route.method, path))

    @defer.inlineCallbacks
    def test_every_json_route_refuses_what_is_not_json(self):
        dev_id = yield self.create()
        json_routes = [r for r in self.routes if r.body == "json"]
        self.assertGreater(len(json_routes), 8)
        for route in json_routes + [r for r in self.routes if r.template == "/ipc/video/cmds"]:
            path = fill(route.template, dev_id)
            for raw in (b"{", b"\xff\xfe{}", b"[" * 10_000 + b"]" * 10_000):
                query = dict(self.query(dev_id), type="0")  # §3.1's type 1 carries any bytes
                answer = yield self.call(route.method, path, query, raw=raw, auth=route.auth)
                self.assertEqual((answer.code, answer.json["errno"]), (400, 400), (route.method, path, raw[:10]))

    @defer.inlineCallbacks
    def test_one_device_endpoints_say_it_is_not_there(self):
        aimed = [("PUT", "/devices/{device_id}", {"title": "t"}), ("GET", "/devices/{device_id}", None),
                 ("DELETE", "/devices/{device_id}", None), ("GET", "/ipc/video/device/QryChannel", None),
                 ("DELETE", "/ipc/video/device/DelChannel", None), ("POST", "/ipc/video/device/AddChannel", None),
                 ("POST", "/ipc/video/device/ModifyChannel", None), ("GET", "/ipc/video/device/QryDevMsg", None),
                 ("GET", "/ipc/video/device/acc_service", None), ("GET", "/ipc/video/play_address", None),
                 ("PUT", "/ipc/video/access_control/closecamera", {"type": 1}),
                 ("GET", "/ipc/video/device/version", None), ("POST", "/ipc/video/cmds", {"cmdId": 41}),
                 ("PUT", "/ipc/video/picture/upload", None), ("GET", "/ipc/video/vod/get_video_list", None),
                 ("GET", "/ipc/video/record/record_video", None), ("PUT", "/api/record/record_config", None),
                 ("DELETE", "/ipc/video/record/delete_config", None)]
        for method, template, body in aimed:
            query = dict(self.query(UNKNOWN), title="t", net="CT")
            raw = b"picture" if template.endswith("upload") else None
            answer = yield self.call(method, fill(template, UNKNOWN), query, body, raw=raw)
            self.assertEqual((answer.code, answer.json["errno"]), (404, 404), (method, template, answer))
