"""spec/001's journey (issue 18) with real software on every side: an application creates a device with the
master key ``kandianctl apikey add NAME --master`` printed, the camera (the shipped simulator on its link in front of a GStreamer RTSP server) logs in with the
device's auth_info, the application gets its play address and ffprobe plays it through the relay, a PTZ command
turns the camera, and the camera's alarm is listed with a link to the picture it uploaded by FTP (ftplib)."""

import base64
import ftplib
import io
import json
import os

from twisted.internet import defer, reactor, threads
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.web.client import readBody

from kandian.core.files import format_picture_name
from kandian.device import messages as m
from kandian.sim.camera import camera_front
from kandian.sim.link import connect_device
from kandian.sim.state import Addresses, DeviceState

from . import camera
from .onenet_helpers import OnenetTestCase
from .test_ctl import kandianctl
from .test_device_integration import eventually
from .test_twistd import write_config

JPEG = b"\xff\xd8\xff\xe0" + os.urandom(20_000) + b"\xff\xd9"


class JourneyTests(OnenetTestCase):
    @defer.inlineCallbacks
    def setUp(self):
        self.root = os.path.abspath(self.mktemp())
        self.settings = dict(self.settings, files="root = %s\n" % self.root, ftp="passive_ports =\n")
        yield super().setUp()

    @defer.inlineCallbacks
    def start_camera(self, dev_id, dev_key):
        media = yield camera.start_camera(self, width=320, height=240, fps=15, bitrate=500)
        front = camera_front(reactor, None, media.url)
        port = yield TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(front)
        self.addCleanup(port.stopListening)
        self.addCleanup(lambda: [s.close("test over") for s in list(front.sessions)])
        state = DeviceState(dev_id, dev_key, addresses=Addresses(LocalIP="127.0.0.1",
                                                                 RtspLocalPort=port.getHost().port))
        link = yield connect_device(reactor, ("127.0.0.1", self.port("device")), state, clock=self.sim_clock)
        self.addCleanup(link.close)
        yield link.logged_in()
        yield link.report_ability()
        front.authorizer.link = link
        return link

    def upload(self, credentials, name, data):
        def run():
            with ftplib.FTP() as f:
                f.connect(credentials.ip, credentials.port, timeout=30)
                f.login(credentials.account, credentials.password)
                return f.storbinary("STOR " + name, io.BytesIO(data))
        return threads.deferToThread(run)

    @defer.inlineCallbacks
    def test_create_login_play_ptz_alarm(self):
        # 0. the operator gives the integrator a master key
        code, out = yield kandianctl(write_config(self.mktemp(), self.mktemp(), dsn=self.dsn), "apikey", "add",
                                     "integrator-2", "--master")
        self.assertEqual(code, 0, out)
        self.master = out.strip()
        # 1. the application creates the device (§1.1); its auth_info is the DevKey the camera logs in with
        answer = yield self.post("/devices", body={"title": "shop door", "protocol": "RTMP",
                                                   "auth_info": "door-key-1"})
        self.assertSucc(answer)
        dev_id = answer.payload["device_id"]

        # 2. the camera logs in
        link = yield self.start_camera(dev_id, "door-key-1")
        status = yield self.get("/ipc/video/device/QryDevStatus", {"devIds": dev_id})
        self.assertEqual(status.json["result"]["devices"], [{"id": dev_id, "online": True}])

        # 3. its play address (§4.1, the RTSP relay), played by ffprobe
        answer = yield self.get("/ipc/video/play_address", {"device_id": dev_id, "channel_id": 1,
                                                            "protocol_type": 5})
        self.assertSucc(answer)
        data = answer.payload
        self.assertEqual((data["type"], data["addr"]), ("rtsp", "127.0.0.1:%d" % self.port("rtsp")))
        self.assertIn("hashtoken=%s" % data["accessToken"], data["url"])
        probe = yield camera.ffprobe(data["url"])
        self.assertEqual(probe.code, 0, probe.stderr)
        [video] = [s for s in probe.info["streams"] if s["codec_type"] == "video"]
        self.assertEqual((video["codec_name"], video["width"], video["height"]), ("h264", 320, 240))

        # 4. a PTZ command (§3.2's 7: turn left) reaches the camera and it answers
        answer = yield self.post("/ipc/video/cmds", {"device_id": dev_id, "qos": 1},
                                 {"cmdId": 7, "channel_id": 1, "cmd": {"stop": 0, "cmd": 13, "speed": 3}})
        self.assertEqual((answer.payload["cmd_status"], answer.payload["dev_resp"]["resp_code"]), (4, 0))
        self.assertIn((0x64, m.PtzRequest(DevID=dev_id, ChannelNo=0, PtzDirection=3)), link.commands_received)

        # 5. the camera raises an alarm and uploads its snapshot by FTP with its own account
        yield link.send_alarm(0, 1, desc="motion at the door")
        credentials = yield self.core.files.credentials(dev_id)
        name = format_picture_name(dev_id, 0, self.clock.seconds(), self.service.config.platform.timezone)
        self.assertEqual((yield self.upload(credentials, name, JPEG)), "226 Transfer Complete.")
        yield link.send_picture(0, file_name=name)

        # 6. the alarm is listed (§17.1) with a link to its picture, fetched without a key
        answer = yield eventually(lambda: self.alarm_list(dev_id), "the alarm with its picture")
        [item] = answer.payload["item"]
        self.assertEqual((item["device_id"], item["alarm_type"], item["alarm_way"], item["comment"]),
                         (int(dev_id), 1, 2, "motion at the door"))
        picture = yield self.get(item["picture"].split(str(self.port("onenet")), 1)[1], auth=False)
        self.assertEqual((picture.code, picture.data), (200, JPEG))

        # the API's metrics saw all of it
        metrics = yield self.agent.request(b"GET", b"http://127.0.0.1:%d/metrics" % self.port("admin"))
        text = (yield readBody(metrics)).decode()
        self.assertIn('kandian_onenet_commands_total{cmd_status="4"} 1.0', text)
        self.assertIn('kandian_onenet_answers_total{errno="0"}', text)

    @defer.inlineCallbacks
    def alarm_list(self, dev_id):
        answer = yield self.get("/ipc/video/alarm/list", {"product_id": "1", "device_id": dev_id,
                                                          "start_time": "2026-11-18", "end_time": "2026-11-18"})
        items = answer.payload["item"]
        return answer if items and items[0]["picture"] else None

    @defer.inlineCallbacks
    def test_hls_thumbnail_snapshot(self):
        answer = yield self.post("/devices", body={"title": "counter", "auth_info": "counter-key"})
        dev_id = answer.payload["device_id"]
        yield self.start_camera(dev_id, "counter-key")

        # §4.1 HLS: the file's own composition of addr and accessToken plays (a redirect to the portal's packager)
        answer = yield self.get("/ipc/video/play_address", {"device_id": dev_id, "channel_id": 1,
                                                            "protocol_type": 1, "timeout": 60_000})
        self.assertSucc(answer)
        data = answer.payload
        self.assertEqual((data["type"], data["addr"]), ("http", "127.0.0.1:%d" % self.port("onenet")))
        composed = "http://%s/live/live_%s_1/index.m3u8?%s" % (data["addr"], dev_id, data["accessToken"])
        self.assertEqual(data["url"], composed)
        probe = yield camera.ffprobe(composed)
        self.assertEqual(probe.code, 0, probe.stderr)
        [video] = [s for s in probe.info["streams"] if s["codec_type"] == "video"]
        self.assertEqual((video["codec_name"], video["width"], video["height"]), ("h264", 320, 240))
        # §14: the stream is played (HLS) and pulled from the camera
        answer = yield self.get("/ipc/video/stat/getonlinelist", {"productid": "1"})
        self.assertSucc(answer)
        [item] = answer.json["result"]
        self.assertEqual({k: item[k] for k in ("productid", "deviceid", "channelid", "protocoltype")},
                         {"productid": 1, "deviceid": int(dev_id), "channelid": 1, "protocoltype": "HLS"})
        self.assertRegex(item["onlinetime"], r"^\d\d:\d\d:\d\d$")
        self.assertEqual((answer.json["page_info"]["total_num"], answer.json["page_info"]["current_page"]), (1, 1))
        answer = yield self.get("/ipc/video/stat/getpushlist", {"productid": "1", "deviceid": dev_id})
        [item] = answer.json["result"]
        self.assertEqual((item["puship"], item["protocoltype"]), ("127.0.0.1", "RTSP"))
        answer = yield self.get("/ipc/video/stat/getonlinelist", {"productid": "1", "protocoltype": "rtmp"})
        self.assertEqual(answer.json["result"], [])
        key = yield self.device_key(dev_id)
        self.assertErrno((yield self.get("/ipc/video/stat/getonlinelist", {"productid": "1"}, key=key)), 403)
        self.assertErrno((yield self.get("/ipc/video/stat/getpushlist", {})), 400)

        # a token of another stream, or none, is refused
        other = composed.replace("live_%s_1" % dev_id, "live_%s_2" % dev_id)
        self.assertErrno((yield self.get(other.split(str(self.port("onenet")), 1)[1], auth=False)), 403)
        # §4.2 preload answers at once
        answer = yield self.get("/live/live_%s_1/preload" % dev_id, {"token": data["accessToken"],
                                                                     "idle_time": 120})
        self.assertSucc(answer)
        self.assertErrno((yield self.get("/live/live_%s_1/preload" % dev_id, {"token": data["accessToken"],
                                                                              "idle_time": 121})), 400)

        # §4.3 a thumbnail from coveraddr and the token
        preview = yield self.get("/live_preview/%s-1" % dev_id, {"token": data["accessToken"]}, auth=False)
        self.assertEqual((preview.code, preview.header(b"content-type")), (200, "image/jpeg"))
        self.assertTrue(preview.data.startswith(b"\xff\xd8"), preview.data[:40])

        # §3.2's 32: a snapshot, stored as the channel's picture
        answer = yield self.post("/ipc/video/cmds", {"device_id": dev_id, "qos": 1},
                                 {"cmdId": 32, "channel_id": 1, "cmd": {"width": 160, "height": 120,
                                                                        "quality": 80}})
        self.assertEqual(answer.payload["cmd_status"], 4, answer)
        resp = json.loads(base64.b64decode(answer.payload["dev_resp"]["resp_data"]))
        name = resp["cmd"]["name"]
        info = yield self.get("/ipc/video/picture/get_info", {"device_id": dev_id, "channel_id": 1, "name": name})
        picture = yield self.get(info.payload["url"].split(str(self.port("onenet")), 1)[1], auth=False)
        self.assertTrue(picture.data.startswith(b"\xff\xd8"))

        # RTMP and FLV are not here
        for kind in (0, 3, 4):
            answer = yield self.get("/ipc/video/play_address", {"device_id": dev_id, "channel_id": 1,
                                                                "protocol_type": kind})
            self.assertErrno(answer, 1)
        answer = yield self.get("/ipc/video/play_address", {"device_id": dev_id, "channel_id": 2,
                                                            "protocol_type": 1})
        self.assertErrno(answer, 3)
