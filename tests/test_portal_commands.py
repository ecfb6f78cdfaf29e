"""Every platform→device command through the REST API to a simulated camera, the policy rules (§7.5.13, §7.5.24),
and the walk of every route with another user's token (a user never reaches another user's device)."""

import os
import re
import shutil

from twisted.internet import defer

from kandian.core.commands import CATALOGUE
from kandian.device import messages as m
from kandian.sim.state import NVR

from .portal_helpers import PortalTestCase

A, B = "13800000001", "13800000002"
CAM, NVR_ID = "81100000001", "81100000002"

# a valid body for each command (the spec's element names)
BODIES = {
    "set_channel": {"ChannelNo": 0, "StreamType": 2, "FrameSize": 4, "FrameRate": 15, "BitRate": 4},
    "get_channel": {"ChannelNo": 0, "StreamType": 2},
    "get_wifi": {},
    "set_wifi": {"SSID": "shop-wifi", "Security": 3, "Password": "wifi-pass"},
    "ptz": {"ChannelNo": 0, "PtzDirection": 3},
    "set_estore": {"URL": "https://e.example.cn/", "Account": "acc", "Password": "pw", "ERecordBucket": "rec",
                   "EPictureBucket": "pic"},
    "get_estore": {},
    "add_record_policy": {"ChannelNo": 0, "WeekPolicy": [
        {"StoreType": 0, "StreamType": 1, "Week": 1, "StartTime": "08:00", "EndTime": "12:00"}]},
    "query_record_policy": {"ChannelNo": 0},
    "del_record_policy": {"ChannelNo": 0, "PolicyID": "1"},
    "reboot": {},
    "upgrade": {"NewDevVer": "V1.5_20990101"},  # the catalogue's image, through a campaign of one
    "nvr_link_ipcam": {"ChannelNo": 0, "IpcamDevID": "81100000009", "IpcamLocalIP": "192.168.1.20",
                       "OnvifPort": 80, "OnvifAccount": "admin", "OnvifPassword": "pw"},
    "nvr_modify_ipcam": {"IpcamDevID": "81100000009", "IpcamLocalIP": "192.168.1.21", "OnvifPort": 80,
                         "OnvifAccount": "admin", "OnvifPassword": "pw"},
    "nvr_query_ipcam": {},
    "nvr_del_ipcam": {"ChannelNo": 0},
    "file_query": {"ChannelNo": 0, "StartTime": "202701150000", "EndTime": "202701152359", "PageNo": 1},
    "add_picture_policy": {"ChannelNo": 0, "StoreType": 0, "DayPolicy": [
        {"Interval": 0, "StartTime": "09:00", "EndTime": "09:00"}]},
    "query_picture_policy": {"ChannelNo": 0, "StoreType": 0},
    "del_picture_policy": {"ChannelNo": 0, "PolicyID": "2"},
    "set_record_full": {"ChannelNo": 0, "StorageFlag": 1, "RecordFull": 1},
    "get_record_full": {"ChannelNo": 0, "StorageFlag": 1},
    "set_record_loop": {"RecordLoop": 1, "StorageFlag": 1},
    "get_record_loop": {"StorageFlag": 1},
    "set_alarm": {"ChannelNo": 0, "AlarmType": 1, "AlarmFlag": 1},
    "get_alarm": {"ChannelNo": 0, "AlarmType": 1},
    "log_upload": {},
    "store_query": {},
    "store_format": {},
    "estore_activate": {"Flag": 0},
    "reset_default": {},
}
ORDER = list(BODIES)  # add before query before delete, the NVR's link before its modify


class CommandTests(PortalTestCase):
    @defer.inlineCallbacks
    def test_every_command_reaches_the_camera_and_comes_back_typed(self):
        self.assertEqual(set(BODIES), set(CATALOGUE))
        token = yield self.operator()
        cam = yield self.camera(CAM)
        nvr = yield self.camera(NVR_ID, dev_type=NVR, channels=4)
        yield self.db.runOperation("UPDATE device SET model = 'SIM-IPC' WHERE dev_id = %s", (CAM,))
        image = os.path.join(os.path.abspath(self.mktemp()), "fw.bin")
        os.makedirs(os.path.dirname(image))
        with open(image, "wb") as f:
            f.write(b"IMAGE")
        shutil.rmtree(os.path.join(self.service.config.files_root, "firmware"), ignore_errors=True)
        yield self.core.firmware.add(image, "811", "SIM-IPC", "V1.5_20990101")
        for name in ORDER:
            target, link = (NVR_ID, nvr) if name.startswith("nvr_") else (CAM, cam)
            answer = yield self.post("/api/v1/devices/%s/commands/%s" % (target, name), BODIES[name], token)
            self.assertEqual(answer.code, 200, (name, answer))
            body = answer.json
            self.assertEqual((body["DevID"], body["Result"] if name != "store_query" else 0), (target, 0), name)
            sent = [request for cmd, request in link.commands_received if cmd == CATALOGUE[name].request.CMD]
            self.assertTrue(sent, name)
            if name == "get_channel":
                self.assertEqual((body["FrameSize"], body["FrameRate"], body["BitRate"]), (4, 15, 4))
            if name == "query_record_policy":
                self.assertEqual([(p["Week"], p["StartTime"], p["EndTime"]) for p in body["WeekPolicy"]],
                                 [(1, "08:00", "12:00")])
            if name == "get_wifi":
                self.assertIsInstance(body["WifiSSID"], list)
            if name == "upgrade":
                request = sent[-1]
                self.assertEqual((request.FtpAccount, request.FtpPort), (CAM, self.port("ftp")))
                self.assertEqual(request.FtpPassword, self.core.keys.ftp_password(CAM))
                self.assertEqual((request.NewDevVer, request.FtpFileName), ("V1.5_20990101", "fw.bin"))
                self.assertEqual(body["campaign_id"], 1)
            if name == "store_query":
                self.assertIn("FreeSize", body)

    @defer.inlineCallbacks
    def test_bad_bodies_are_refused_before_a_byte_is_sent(self):
        token = yield self.operator()
        cam = yield self.camera(CAM)
        before = len(cam.commands_received)
        for name, body, code in [
            ("ptz", {"ChannelNo": 0}, "invalid"),  # missing PtzDirection
            ("ptz", {"ChannelNo": 0, "PtzDirection": "3"}, "invalid"),  # a string
            ("ptz", {"ChannelNo": 0, "PtzDirection": 3, "Speed": 9}, "invalid"),  # unknown field
            ("ptz", {"ChannelNo": True, "PtzDirection": 3}, "invalid"),
            ("ptz", {"ChannelNo": 9999, "PtzDirection": 3}, "invalid"),  # out of range
            ("set_wifi", {"SSID": "x" * 300, "Security": 1}, "invalid"),
            ("upgrade", {"NewDevVer": "V2", "FtpFileName": "f", "FtpPassword": "mine"}, "invalid"),
            ("add_record_policy", {"ChannelNo": 0, "WeekPolicy": {"Week": 1}}, "invalid"),
            ("add_record_policy", {"ChannelNo": 0, "WeekPolicy": [{"Week": 1}]}, "invalid"),
            ("warp_drive", {}, "not_found"),
        ]:
            answer = yield self.post("/api/v1/devices/%s/commands/%s" % (CAM, name), body, token)
            self.assertEqual(answer.json["error"], code, (name, body, answer))
        self.assertEqual(len(cam.commands_received), before)

    @defer.inlineCallbacks
    def test_offline_and_refusing_devices(self):
        token = yield self.operator()
        yield self.camera(CAM, online=False)
        answer = yield self.post("/api/v1/devices/%s/commands/reboot" % CAM, {}, token)
        self.assertEqual((answer.code, answer.json["error"]), (503, "device_offline"))
        yield self.camera(NVR_ID)  # an IPC refuses NVR commands
        answer = yield self.post("/api/v1/devices/%s/commands/nvr_query_ipcam" % NVR_ID, {}, token)
        self.assertEqual((answer.code, answer.json["error"]), (503, "device_refused"))


class PolicyRuleTests(PortalTestCase):
    @defer.inlineCallbacks
    def setUp(self):
        yield super().setUp()
        self.token = yield self.user(A)
        self.link = yield self.camera(CAM, owner=A)

    def add(self, *windows, week=1, store_type=0):
        return self.post("/api/v1/devices/%s/commands/add_record_policy" % CAM, {"ChannelNo": 0, "WeekPolicy": [
            {"StoreType": store_type, "StreamType": 1, "Week": week, "StartTime": s, "EndTime": e}
            for s, e in windows]}, self.token)

    def held(self):
        return [(p.Week, p.StartTime, p.EndTime) for p in self.link.state.record_policies(0)]

    @defer.inlineCallbacks
    def test_at_most_four_a_day_counting_what_the_camera_holds(self):
        answer = yield self.add(("00:00", "01:00"), ("02:00", "03:00"), ("04:00", "05:00"))
        self.assertEqual(answer.code, 200, answer)
        answer = yield self.add(("06:00", "07:00"), ("08:00", "09:00"))
        self.assertEqual((answer.code, answer.json["error"]), (422, "invalid"))
        self.assertIn("at most 4", answer.json["message"])
        answer = yield self.add(("06:00", "07:00"))
        self.assertEqual(answer.code, 200)
        answer = yield self.add(("08:00", "09:00"), week=2)  # another day has its own four
        self.assertEqual(answer.code, 200)
        self.assertEqual(len(self.held()), 5)

    @defer.inlineCallbacks
    def test_no_overlaps(self):
        answer = yield self.add(("08:00", "12:00"))
        self.assertEqual(answer.code, 200)
        for windows in [(("11:00", "13:00"),), (("07:00", "08:30"),), (("09:00", "10:00"),),
                        (("13:00", "14:00"), ("13:30", "15:00"))]:
            answer = yield self.add(*windows)
            self.assertEqual((answer.code, answer.json["error"]), (422, "invalid"), windows)
            self.assertIn("overlap", answer.json["message"])
        answer = yield self.add(("12:00", "13:00"))  # touching is not overlapping
        self.assertEqual(answer.code, 200)
        for windows in [(("13:00", "13:00"),), (("18:00", "17:00"),), (("25:00", "26:00"),), (("9:00", "10:00"),)]:
            answer = yield self.add(*windows)
            self.assertEqual(answer.code, 422, windows)
        self.assertEqual(self.held(), [(1, "08:00", "12:00"), (1, "12:00", "13:00")])

    @defer.inlineCallbacks
    def test_picture_policies(self):
        url = "/api/v1/devices/%s/commands/add_picture_policy" % CAM

        def add(store_type, *windows):
            return self.post(url, {"ChannelNo": 0, "StoreType": store_type, "DayPolicy": [
                {"Interval": i, "StartTime": s, "EndTime": e} for i, s, e in windows]}, self.token)
        answer = yield add(0, (0, "09:00", "10:00"))  # FTP: a point in time, Interval 0 (§7.5.24)
        self.assertEqual(answer.code, 422)
        answer = yield add(0, (0, "09:00", "09:00"), (0, "12:00", "12:00"))
        self.assertEqual(answer.code, 200, answer)
        answer = yield add(0, (0, "09:00", "09:00"))
        self.assertEqual(answer.code, 422)  # the same moment twice
        answer = yield add(1, (60, "08:00", "10:00"), (30, "09:30", "11:00"))
        self.assertEqual(answer.code, 422)
        answer = yield add(1, (60, "08:00", "10:00"))
        self.assertEqual(answer.code, 200)
        held = yield self.post("/api/v1/devices/%s/commands/query_picture_policy" % CAM,
                               {"ChannelNo": 0, "StoreType": 0}, self.token)
        self.assertEqual([p["StartTime"] for p in held.json["DayPolicy"]], ["09:00", "12:00"])


class ForeignTokenTests(PortalTestCase):
    """As tests/test_mcu_security.py walks every SOAP operation: every route with a device or an account in it,
    called with the token of a user who has no business there, answers as if it were not there (404) or
    forbidden (403), and nothing reaches the camera."""

    @defer.inlineCallbacks
    def test_every_route_with_another_users_device(self):
        yield self.user(A)
        stranger = yield self.user(B)
        link = yield self.camera(CAM, owner=A)
        yield link.send_alarm(0, 1)
        rows = yield self.db.runQuery("SELECT alarm_id FROM alarm")
        alarm_id = rows[0][0]
        before = len(link.commands_received)
        checked = 0
        for route in self.service.platform.factories["portal"].resource.api.router.routes:
            if not re.search(r"\{(DevID|mobile|id)\}", route.template):
                continue
            path = (route.template.replace("{DevID}", CAM).replace("{mobile}", A).replace("{id}", str(alarm_id))
                    .replace("{name}", "reboot"))
            body = {"name": "mine", "dev_id": CAM, "dev_key": "key", "mobile": B, "control": True}
            answer = yield self.call(route.method, "/api/v1" + path, body if route.method in ("POST", "PATCH") else None,
                                     stranger)
            self.assertIn(answer.code, (403, 404), (route, answer))
            checked += 1
        self.assertGreaterEqual(checked, 12)
        self.assertEqual(len(link.commands_received), before)
        owner = yield self.get("/api/v1/devices/" + CAM, (yield self.login(A)))
        self.assertEqual((owner.json["name"], owner.json["shares"]), ("", []))
        # every command by name too
        for name in CATALOGUE:
            answer = yield self.post("/api/v1/devices/%s/commands/%s" % (CAM, name), BODIES_FOR_WALK, stranger)
            self.assertEqual(answer.code, 404, name)
        self.assertEqual(len(link.commands_received), before)

    @defer.inlineCallbacks
    def test_user_levels_on_their_own_camera(self):
        owner = yield self.user(A)
        link = yield self.camera(CAM, owner=A)
        for name in ("upgrade", "log_upload", "set_estore", "get_estore"):
            answer = yield self.post("/api/v1/devices/%s/commands/%s" % (CAM, name), {}, owner)
            self.assertEqual(answer.code, 403, name)
        answer = yield self.post("/api/v1/devices/%s/commands/store_query" % CAM, {}, owner)
        self.assertEqual(answer.code, 200)
        self.assertTrue(any(isinstance(r, m.StoreQueryRequest) for _, r in link.commands_received))


BODIES_FOR_WALK = {}
