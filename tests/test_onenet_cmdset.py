"""spec/001 §3.2's generic command set on kandian's typed calls: each command of the file (its own example, made
JSON) through the real :class:`kandian.core.commands.Commands` to the shipped simulator's answers (FakeStore,
no sockets), what it asked the camera, and what it answers."""



from hypothesis import given, strategies as st
from twisted.internet import defer, task
from twisted.trial import unittest

from kandian.core import errors
from kandian.core.access import Access, Principal
from kandian.core.commands import Commands
from kandian.core.devices import Devices
from kandian.device import messages as m
from kandian.onenet import cmdset
from kandian.sim.answers import answer
from kandian.sim.state import Capabilities, DeviceState
from kandian.store.fake import FakeStore

DEV = "81100000001"
ADMIN = Principal("operator", 0, "apikey:test", "admin")


class SimRouter:
    """The IDeviceRouter of one simulated camera: every request answered by kandian.sim.answers, as its link
    would (a non-zero Result is DeviceRefused, but STORE_QUERY's, which is a state)."""

    def __init__(self, state, online=True):
        self.state = state
        self.is_online = online
        self.sent = []

    def online(self, dev_id):
        return self.is_online

    def peer_ip(self, dev_id):
        return "127.0.0.1"

    def call(self, dev_id, request):
        self.sent.append(request)
        response = answer(self.state, request)
        if response.Result != 0 and not isinstance(response, m.StoreQueryResponse):
            return defer.fail(errors.DeviceRefused("Result %d" % response.Result, response.Result))
        return defer.succeed(response)


class CommandSetTestCase(unittest.TestCase):
    def setUp(self):
        self.clock = task.Clock()
        self.clock.advance(1_800_000_000)
        self.store = FakeStore()
        self.successResultOf(self.store.devices.add(DEV, "key", channels=2))
        self.state = DeviceState(DEV, "key", channel_num=2)
        self.router = SimRouter(self.state)
        self.commands = Commands(Devices(self.store, self.router, self.clock), Access(self.store))
        self.camera_on = {0: True, 1: True}

        def set_camera(channel_no, on):
            self.camera_on[channel_no] = on
            return defer.succeed(None)

        self.extras = cmdset.Extras(camera=lambda c: defer.succeed(self.camera_on[c]), set_camera=set_camera)

    def run_(self, name, values):
        return self.commands.run(ADMIN, DEV, name, values)

    def execute(self, body, extras=None):
        return self.successResultOf(cmdset.execute(cmdset.parse(body), self.run_, extras or self.extras))

    def fails(self, body, error):
        d = defer.maybeDeferred(lambda: cmdset.execute(cmdset.parse(body), self.run_, self.extras))
        return self.failureResultOf(d, error)

    def sent(self):
        sent, self.router.sent = self.router.sent, []
        return sent


class ParseTests(CommandSetTestCase):
    def test_the_file_s_own_key_with_a_space(self):
        # §3.2's first example writes "channel_id " with a trailing space
        command = cmdset.parse({"cmdId": 5, "channel_id ": 1})
        self.assertEqual(command, cmdset.Command(5, 0, None))

    def test_bad_commands(self):
        for body in ([], {"cmdId": "7"}, {"cmdId": True}, {"cmdId": 7, "channel_id": 0},
                     {"cmdId": 7, "channel_id": "1"}, {"cmdId": 7}, {"cmdId": 7, "channel_id": 257}):
            self.assertRaises(errors.BadValue, cmdset.parse, body)

    @given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                    max_size=3), max_leaves=12))
    def test_any_json_is_a_command_or_bad_value(self, body):
        try:
            cmdset.parse(body)
        except errors.BadValue:
            pass

    @given(st.integers(0, 100), st.dictionaries(st.sampled_from(["stop", "cmd", "speed", "page", "per_page",
                                                                 "mode", "opt", "status", "wifi_id", "enable",
                                                                 "state", "time", "bitRate", "resolution"]),
                                                st.none() | st.booleans() | st.integers(-5, 5000)
                                                | st.text(max_size=10) | st.lists(st.integers(), max_size=2),
                                                max_size=4))
    def test_any_command_is_answered_or_refused_in_the_platform_s_words(self, cmd_id, cmd):
        d = cmdset.execute(cmdset.Command(cmd_id, 0, cmd), self.run_, self.extras)
        results = []
        d.addBoth(results.append)
        [result] = results
        if not isinstance(result, cmdset.Outcome):
            result.trap(errors.BadValue, cmdset.Unsupported)


class PtzTests(CommandSetTestCase):
    def test_turn_stop_and_step(self):
        out = self.execute({"cmdId": 7, "channel_id": 1, "cmd": {"stop": 0, "cmd": 13, "speed": 4}})
        self.assertEqual(out, cmdset.Outcome(0, {"cmdId": 7, "channel_id": 1, "result": 1}))
        self.assertEqual(self.sent(), [m.PtzRequest(DevID=DEV, ChannelNo=0, PtzDirection=3)])
        self.execute({"cmdId": 7, "channel_id": 2, "cmd": {"stop": 1, "cmd": 13}})
        self.assertEqual(self.sent(), [m.PtzRequest(DevID=DEV, ChannelNo=1, PtzDirection=0)])
        self.execute({"cmdId": 7, "channel_id": 1, "cmd": {"stop": 2, "cmd": 11}})
        self.assertEqual([r.PtzDirection for r in self.sent()], [1, 0])

    def test_what_a_pan_tilt_head_cannot_do(self):
        for what in (1, 2, 3, 4, 5, 6, 15, 16, 17, 18, 22, None):
            self.fails({"cmdId": 7, "channel_id": 1, "cmd": {"stop": 0, "cmd": what}}, cmdset.Unsupported)
        self.assertEqual(self.sent(), [])
        self.fails({"cmdId": 7, "channel_id": 1, "cmd": {"stop": 3, "cmd": 11}}, errors.BadValue)

    def test_a_camera_without_a_head_refuses(self):
        self.state.capabilities = Capabilities(PTZFlag=0)
        out = self.execute({"cmdId": 7, "channel_id": 1, "cmd": {"stop": 0, "cmd": 12}})
        self.assertEqual(out, cmdset.Outcome(1, {"cmdId": 7, "channel_id": 1, "result": 0}))


class RecordingTests(CommandSetTestCase):
    def test_local_video_query_regroups_the_device_s_pages_of_ten(self):
        # §3.2's example: page 1 of 20 between two times (the camera files one recording a quarter hour)
        body = {"cmdId": 10, "channel_id": 1, "cmd": {"warn_type": 0, "page": 1, "start_time": "2017-09-29 12:00:31",
                                                      "end_time": "2017-09-29 20:00:30", "per_page": 20}}
        out = self.execute(body)
        self.assertEqual(out.resp_code, 0)
        self.assertEqual((out.resp["all_count"], out.resp["cur_count"], out.resp["channel_id"]), (32, 20, 1))
        asked = self.sent()
        self.assertEqual([(r.StartTime, r.EndTime, r.PageNo) for r in asked],
                         [("201709291200", "201709292000", 1), ("201709291200", "201709292000", 2)])
        first = out.resp["rvods"][0]
        self.assertEqual((first["warn_type"], first["start_time"], first["end_time"]),
                         (0, "2017-09-29 12:00:00", "2017-09-29 12:15:00"))  # 12:00:31 asks from minute 12:00
        self.assertTrue(first["video_desc"].endswith(".mp4"))
        # page 2 of 20 starts at the 21st file: device pages 3 and 4
        out = self.execute({**body, "cmd": {**body["cmd"], "page": 2}})
        self.assertEqual([r.PageNo for r in self.sent()], [3, 4])
        self.assertEqual(out.resp["cur_count"], 12)
        # alarm recordings: kandian's cameras keep none
        out = self.execute({**body, "cmd": {**body["cmd"], "warn_type": 100}})
        self.assertEqual((out.resp["all_count"], out.resp["rvods"]), (0, []))

    def test_recording_status_and_set(self):
        out = self.execute({"cmdId": 26, "channel_id": 1})
        self.assertEqual(out.resp, {"cmdId": 26, "channel_id": 1, "cmd": {"mode": 0, "recycle": 1}})
        # §3.2's example of 27: Sunday and Monday windows
        body = {"cmdId": 27, "channel_id": 1, "cmd": {"mode": 1, "recycle": 0, "time": [
            {"weekday": 0, "start_time": "08:00:00", "end_time": "12:00:00"},
            {"weekday": 1, "start_time": "13:30:00", "end_time": "23:59:59"}]}}
        self.assertEqual(self.execute(body), cmdset.Outcome(0, {"cmdId": 27, "channel_id": 1, "result": 1}))
        added = [r for r in self.sent() if isinstance(r, m.AddRecordPolicyRequest)]
        self.assertEqual([(p.Week, p.StartTime, p.EndTime) for p in added[0].WeekPolicy],
                         [(7, "08:00", "12:00"), (1, "13:30", "24:00")])
        out = self.execute({"cmdId": 26, "channel_id": 1})
        self.assertEqual(out.resp["cmd"], {"mode": 1, "recycle": 0, "time": [
            {"weekday": 0, "start_time": "08:00:00", "end_time": "12:00:00"},
            {"weekday": 1, "start_time": "13:30:00", "end_time": "23:59:59"}]})
        # setting again replaces (the old windows are deleted first, so no overlap)
        self.execute(body)
        self.assertEqual(len(self.execute({"cmdId": 26, "channel_id": 1}).resp["cmd"]["time"]), 2)
        # mode 0 removes them all
        self.execute({"cmdId": 27, "channel_id": 1, "cmd": {"mode": 0, "recycle": 1}})
        self.assertEqual(self.execute({"cmdId": 26, "channel_id": 1}).resp["cmd"], {"mode": 0, "recycle": 1})

    def test_bad_recording_windows(self):
        for cmd in ({"mode": 1}, {"mode": 2}, {"mode": 1, "time": [{"weekday": 7, "start_time": "08:00:00",
                                                                     "end_time": "09:00:00"}]},
                    {"mode": 1, "time": [{"weekday": 1, "start_time": "8:00", "end_time": "09:00:00"}]},
                    {"mode": 1, "time": [{"weekday": 1, "start_time": "10:00:00", "end_time": "09:00:00"}]},
                    {"mode": 1, "time": [{"weekday": 1, "start_time": "08:00:00", "end_time": "10:00:00"},
                                         {"weekday": 1, "start_time": "09:00:00", "end_time": "11:00:00"}]}):
            self.fails({"cmdId": 27, "channel_id": 1, "cmd": cmd}, errors.BadValue)


class CardTests(CommandSetTestCase):
    def test_status_and_format(self):
        out = self.execute({"cmdId": 30})
        self.assertEqual(out.resp, {"cmdId": 30, "cmd": {"state": 1, "blocks": 30436 * 1024,
                                                         "available": 12174 * 1024, "mode": 2}})
        self.assertEqual(self.execute({"cmdId": 31, "cmd": {"opt": "format"}}),
                         cmdset.Outcome(0, {"cmdId": 31, "result": 1}))
        self.assertIsInstance(self.sent()[-1], m.StoreFormatRequest)
        for opt in ("mount", "umount"):
            self.fails({"cmdId": 31, "cmd": {"opt": opt}}, cmdset.Unsupported)

    def test_no_card_and_a_full_card(self):
        self.state.local_store = 0
        self.assertEqual(self.execute({"cmdId": 30}).resp["cmd"]["state"], 0)
        out = self.execute({"cmdId": 31, "cmd": {"opt": "format"}})
        self.assertEqual(out, cmdset.Outcome(1, {"cmdId": 31, "result": 0}))  # §7.5.37: 1 no medium
        self.state.local_store, self.state.free_size = 1, 0
        self.assertEqual(self.execute({"cmdId": 30}).resp["cmd"]["state"], 3)


class SettingsTests(CommandSetTestCase):
    def test_audio_video_settings(self):
        # §3.2's example of 34, without the settings §7.5.6 has no element for
        body = {"cmdId": 34, "channel_id": 1, "cmd": {"codec": "h264", "bitRate": 512, "frameRate": "25",
                                                      "resolution": "1280*720", "display_mode": 1,
                                                      "display_direction": 0, "display_flip": 0, "led_white": 0,
                                                      "led_red": 0, "audio": "on"}}
        self.assertEqual(self.execute(body).resp, {"cmdId": 34, "channel_id": 1, "result": 1})
        self.assertEqual(self.sent(), [m.SetChannelRequest(DevID=DEV, ChannelNo=0, StreamType=1, FrameSize=1,
                                                           FrameRate=25, BitRate=6, AudioInput=1)])
        out = self.execute({"cmdId": 33, "channel_id": 1})
        self.assertEqual(out.resp, {"cmdId": 33, "channel_id": 1, "cmd": {
            "bitRate": 512, "frameRate": "25", "resolution": "1280*720", "audio": "on"}})
        self.fails({**body, "cmd": {"codec": "h265"}}, cmdset.Unsupported)
        for bad in ({"bitRate": 500}, {"resolution": "1920*1080"}, {"audio": "loud"}, {"frameRate": "fast"}):
            self.fails({**body, "cmd": bad}, errors.BadValue)

    def test_wifi(self):
        out = self.execute({"cmdId": 41})
        listed = out.resp["cmd"]["list"]
        self.assertTrue(listed)
        self.assertEqual(out.resp["cmdId"], 41)
        # §3.2's example of 42: the network's Security comes from the device's own list
        network = self.state.scanned_networks()[0]
        self.assertEqual(self.execute({"cmdId": 42, "cmd": {"wifi_id": network.SSID, "wifi_pw": "pwd"}}).resp,
                         {"cmdId": 42, "result": 1})
        [request] = [r for r in self.sent() if isinstance(r, m.SetWifiRequest)]
        self.assertEqual((request.SSID, request.Security, request.Password), (network.SSID, network.Security, "pwd"))
        self.fails({"cmdId": 42, "cmd": {"wifi_pw": "pwd"}}, errors.BadValue)

    def test_alarm_switches(self):
        self.assertEqual(self.execute({"cmdId": 81, "channel_id": 1, "cmd": {
            "enable": 1, "event": 1, "sensitivity": 50, "region": [{"x": 0, "y": 0, "w": 300, "h": 100}],
            "time": []}}).resp, {"cmdId": 81, "channel_id": 1, "result": 1})
        self.assertEqual(self.sent()[-1], m.SetAlarmRequest(DevID=DEV, ChannelNo=0, AlarmType=1, AlarmFlag=1))
        self.assertEqual(self.execute({"cmdId": 80, "channel_id": 1}).resp,
                         {"cmdId": 80, "channel_id": 1, "cmd": {"state": 1}})
        self.execute({"cmdId": 92, "channel_id": 2, "cmd": {"state": 1, "event": 1}})
        self.assertEqual(self.sent()[-1], m.SetAlarmRequest(DevID=DEV, ChannelNo=1, AlarmType=2, AlarmFlag=1))
        self.assertEqual(self.execute({"cmdId": 91, "channel_id": 2}).resp["cmd"], {"state": 1})
        self.assertEqual(self.execute({"cmdId": 80, "channel_id": 2}).resp["cmd"], {"state": 0})

    def test_camera_on_and_off(self):
        self.assertEqual(self.execute({"cmdId": 40, "channel_id": 2, "cmd": {"status": "off"}}).resp,
                         {"cmdId": 40, "channel_id": 2, "result": 1})
        self.assertEqual(self.camera_on, {0: True, 1: False})
        self.assertEqual(self.execute({"cmdId": 39, "channel_id": 2}).resp["cmd"], {"status": "off"})
        self.assertEqual(self.sent(), [])

    def test_snapshot(self):
        self.fails({"cmdId": 32, "channel_id": 1, "cmd": {"quality": 80}}, cmdset.Unsupported)
        asked = []

        def snapshot(*args):
            asked.append(args)
            return defer.succeed("snap-1")

        extras = self.extras._replace(snapshot=snapshot)
        out = self.execute({"cmdId": 32, "channel_id": 1, "cmd": {"width": 640, "height": 480, "quality": 80}},
                           extras)
        self.assertEqual(out.resp, {"cmdId": 32, "channel_id": 1, "result": 1, "cmd": {"name": "snap-1"}})
        self.assertEqual(asked, [(0, 640, 480, 80)])

    def test_upgrade_by_version(self):
        body = {"cmdId": 11, "cmd": {"url": "http://x/fw.tar.gz", "ver": "V1.5_20990101", "md5": "0" * 32}}
        self.fails(body, cmdset.Unsupported)  # no catalogue
        asked = []

        def upgrade(version):
            asked.append(version)
            return defer.succeed(None)

        out = self.execute(body, self.extras._replace(upgrade=upgrade))
        self.assertEqual((out, asked), (cmdset.Outcome(0, {"cmdId": 11, "result": 1}), ["V1.5_20990101"]))
        d = defer.maybeDeferred(lambda: cmdset.execute(cmdset.parse({"cmdId": 11, "cmd": {"ver": ""}}), self.run_,
                                                       self.extras._replace(upgrade=upgrade)))
        self.failureResultOf(d, errors.BadValue)

    def test_what_no_device_here_can_do(self):
        for cmd_id in (5, 20, 21, 28, 29, 43, 82, 83, 84, 85, 99):
            self.fails({"cmdId": cmd_id, "channel_id": 1, "cmd": {}}, cmdset.Unsupported)
        self.assertEqual(self.sent(), [])


class DeviceErrorsTests(CommandSetTestCase):
    def test_offline_and_timeouts_stay_errors(self):
        self.router.is_online = False
        self.fails({"cmdId": 41}, errors.DeviceOffline)
        self.router.is_online = True
        self.router.call = lambda dev_id, request: defer.fail(errors.DeviceTimeout("no answer"))
        self.fails({"cmdId": 41}, errors.DeviceTimeout)
        self.router.call = lambda dev_id, request: defer.fail(errors.DeviceRefused("bad answer"))
        self.fails({"cmdId": 41}, errors.DeviceRefused)



