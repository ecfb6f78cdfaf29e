"""The MCU/CU web service (§8) through zeep and suds, against real PostgreSQL
and simulated cameras on real TCP links."""

from urllib.parse import parse_qs, urlparse

from twisted.internet import defer, threads
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import globalLogPublisher

from kandian.store.links import LinkStore

from .mcu_helpers import PASSWORD, DeliveringSms, McuTestCase
from .test_device_integration import eventually

A, B = "13800000001", "13800000002"
CAM, CAM2, CAM3 = "81100000001", "81100000002", "81200000003"


def query(url):
    parsed = urlparse(url)
    return parsed, {k: v[0] for k, v in parse_qs(parsed.query).items()}


class LoginTests(McuTestCase):
    @defer.inlineCallbacks
    def test_login_results(self):
        yield self.users.add(A, PASSWORD, 3)
        for account, password, version, result in [
            ("13999999999", PASSWORD, "A-1.0", 1),
            (A, "wrong", "A-1.0", 2),
            (A, PASSWORD, "A-0.9", 3),
            (A, PASSWORD, "X-9.9", 3),
            (A, PASSWORD, "I-1.2", 0),
        ]:
            answer = yield self.soap.McuLogin(Account=account, Password=password, Version=version)
            self.assertEqual(answer["Result"], result, (account, password, version))
        self.assertEqual(answer["DevNum"], 3)
        self.assertEqual(len(answer["LoginSession"]), 32)

    @defer.inlineCallbacks
    def test_login_lists_the_devices_bound_to_the_user(self):
        yield self.users.add(A, PASSWORD)
        yield self.camera(CAM, channels=2)
        yield self.bind(A, CAM)
        yield self.camera(CAM2, online=False)
        yield self.bind(A, CAM2, share_flag=1)
        answer = yield self.soap.McuLogin(Account=A, Password=PASSWORD, Version="A-1.0")
        devices = answer["DevList"]["Dev"]
        self.assertEqual([(d["DevID"], d["ChannelNo"], d["OnLine"], d["ShareFlag"]) for d in devices],
                         [(CAM, 0, 1, 0), (CAM, 1, 1, 0), (CAM2, 0, 0, 1)])
        self.assertEqual(devices[0]["PtzFlag"], 1)
        self.assertTrue(devices[0]["VideoList"]["Video"])
        self.assertEqual(devices[2]["VideoList"], None)

    @defer.inlineCallbacks
    def test_sessions(self):
        session = yield self.user(A)
        yield self.users.add(B, PASSWORD)
        answer = yield self.soap.RefreshDevList(Account=A, LoginSession=session)
        self.assertEqual(answer["Result"], 0)
        # another account's name with this session, an unknown account, a made-up session
        for account, login_session, result in [(B, session, 2), ("13999999999", session, 1), (A, "f" * 32, 2)]:
            answer = yield self.soap.RefreshDevList(Account=account, LoginSession=login_session)
            self.assertEqual(answer["Result"], result)
        # idle expiry
        self.clock.advance(self.service.config.mcu.session_timeout + 1)
        answer = yield self.soap.RefreshDevList(Account=A, LoginSession=session)
        self.assertEqual(answer["Result"], 2)
        # logout ends a session
        session = yield self.soap.McuLogin(Account=A, Password=PASSWORD, Version="A-1.0")
        answer = yield self.soap.McuLogout(Account=A, LoginSession=session["LoginSession"])
        self.assertEqual(answer["Result"], 0)
        answer = yield self.soap.RefreshDevList(Account=A, LoginSession=session["LoginSession"])
        self.assertEqual(answer["Result"], 2)

    @defer.inlineCallbacks
    def test_use_keeps_a_session_alive_and_the_session_is_checked_before_the_device(self):
        session = yield self.user(A)
        timeout = self.service.config.mcu.session_timeout
        self.clock.advance(timeout - 10)
        answer = yield self.soap.RefreshDevList(Account=A, LoginSession=session)
        self.assertEqual(answer["Result"], 0)
        self.clock.advance(30)  # past the timeout since login, not since the last use
        answer = yield self.soap.PtzControl(Account=A, LoginSession=session, DevID=CAM, ChannelNo=0,
                                            PtzDirection=1)
        self.assertEqual(answer["Result"], 3)  # a live session, a device that is not the user's
        answer = yield self.soap.McuLogout(Account=B, LoginSession=session)
        self.assertEqual(answer["Result"], 1)
        self.clock.advance(timeout - 30)  # exactly the timeout since the last touch: still live
        answer = yield self.soap.RefreshDevList(Account=A, LoginSession=session)
        self.assertEqual(answer["Result"], 0)
        self.clock.advance(timeout + 1)
        for call in (self.soap.RefreshDevList(Account=A, LoginSession=session),
                     self.soap.PtzControl(Account=A, LoginSession=session, DevID=CAM, ChannelNo=0, PtzDirection=1),
                     self.soap.McuLogout(Account=A, LoginSession=session)):
            answer = yield call
            self.assertEqual(answer["Result"], 2)

    @defer.inlineCallbacks
    def test_suds_also_speaks_the_wsdl(self):
        yield self.users.add(A, PASSWORD)
        yield self.camera(CAM, online=False)
        yield self.bind(A, CAM)
        url = "http://127.0.0.1:%d/mcu?wsdl" % self.port("mcu")

        def with_suds():
            from suds.client import Client
            client = Client(url, cache=None)
            login = client.service.McuLogin(A, PASSWORD, "W-2.0")
            devices = client.service.RefreshDevList(A, login.LoginSession)
            return login, devices

        login, devices = yield threads.deferToThread(with_suds)
        self.assertEqual(login.Result, 0)
        self.assertEqual(devices.Result, 0)
        self.assertEqual(devices.DevList.Dev[0].DevID, CAM)


class NoSmsGatewayTests(McuTestCase):
    @defer.inlineCallbacks
    def test_without_a_gateway_the_answer_is_2_and_the_password_stays(self):
        yield self.users.add(A, PASSWORD)
        for _ in range(3):
            answer = yield self.soap.GetSmsPassword(MobileTel=A, Type=0)
            self.assertEqual(answer["Result"], 2)
            self.clock.advance(61)
        login = yield self.soap.McuLogin(Account=A, Password=PASSWORD, Version="A-1.0")
        self.assertEqual(login["Result"], 0)
        self.assertEqual(self.service.platform.sms.sent, [])


class SmsTests(McuTestCase):
    @defer.inlineCallbacks
    def setUp(self):
        yield super().setUp()
        self.sms = self.service.platform.core.accounts.sms = DeliveringSms()

    @defer.inlineCallbacks
    def test_sms_password_replaces_the_password_once_used(self):
        yield self.users.add(A, PASSWORD)
        answer = yield self.soap.GetSmsPassword(MobileTel=A, Type=0)
        self.assertEqual(answer["Result"], 0)
        [(mobile, text)] = self.sms.sent
        password = "".join(c for c in text if c.isdigit())
        self.assertEqual((mobile, len(password)), (A, 8))
        old = yield self.soap.McuLogin(Account=A, Password=PASSWORD, Version="A-1.0")
        new = yield self.soap.McuLogin(Account=A, Password=password, Version="A-1.0")
        old_again = yield self.soap.McuLogin(Account=A, Password=PASSWORD, Version="A-1.0")
        self.assertEqual((old["Result"], new["Result"], old_again["Result"]), (0, 0, 2))
        rows = yield self.db.runQuery("SELECT password_hash, pending_password_hash FROM app_user")
        self.assertNotIn(password, rows[0][0])
        self.assertIsNone(rows[0][1])

    @defer.inlineCallbacks
    def test_rate_limited_and_unknown_numbers_get_2(self):
        yield self.users.add(A, PASSWORD)
        first = yield self.soap.GetSmsPassword(MobileTel=A, Type=0)
        again = yield self.soap.GetSmsPassword(MobileTel=A, Type=0)
        unknown = yield self.soap.GetSmsPassword(MobileTel="13999999999", Type=0)
        self.clock.advance(61)
        later = yield self.soap.GetSmsPassword(MobileTel=A, Type=0)
        self.assertEqual([a["Result"] for a in (first, again, unknown, later)], [0, 2, 2, 0])
        self.assertEqual(len(self.sms.sent), 2)

    @defer.inlineCallbacks
    def test_unknown_type_is_a_fault(self):
        from zeep.exceptions import Fault
        yield self.assertFailure(self.soap.GetSmsPassword(MobileTel=A, Type=1), Fault)


class BindingTests(McuTestCase):
    @defer.inlineCallbacks
    def test_add_device_results(self):
        session = yield self.user(A, max_devices=1)
        other = yield self.user(B)
        yield self.camera(CAM, key="k1", online=False)
        yield self.camera(CAM2, key="k2", online=False)

        def add(dev_id, key, account=A, login_session=session):
            return self.soap.AddDevice(Account=account, LoginSession=login_session, DevID=dev_id, DevKey=key)

        results = []
        for call in [lambda: add("81199999999", "x"),   # unknown here, the group platform refuses: 3
                     lambda: add("bogus", "x"),         # not a DevID: 3
                     lambda: add(CAM, "wrong"),         # 4
                     lambda: add(CAM, "k1"),            # 0
                     lambda: add(CAM, "k1"),            # already mine: 6
                     lambda: add(CAM2, "k2"),           # over the limit of 1: 5
                     lambda: add(CAM, "k1", B, other),  # somebody else's: 6
                     lambda: add(CAM, "k1", A, "0" * 32)]:  # session: 2
            answer = yield call()
            results.append(answer["Result"])
        self.assertEqual(results, [3, 3, 4, 0, 6, 5, 6, 2])

    @defer.inlineCallbacks
    def test_shared_devices_do_not_count_and_cannot_be_removed(self):
        session = yield self.user(A, max_devices=1)
        yield self.camera(CAM, key="k1", online=False)
        yield self.camera(CAM2, key="k2", online=False)
        yield self.bind(A, CAM2, share_flag=1)
        added = yield self.soap.AddDevice(Account=A, LoginSession=session, DevID=CAM, DevKey="k1")
        removed = yield self.soap.DelDevice(Account=A, LoginSession=session, DevID=CAM2, DevKey="k2")
        self.assertEqual((added["Result"], removed["Result"]), (0, 255))

    @defer.inlineCallbacks
    def test_del_device_resets_an_online_device_and_drops_every_binding(self):
        session = yield self.user(A)
        yield self.users.add(B, PASSWORD)
        link = yield self.camera(CAM, key="k1")
        yield self.bind(A, CAM)
        yield self.bind(B, CAM, share_flag=1)
        wrong = yield self.soap.DelDevice(Account=A, LoginSession=session, DevID=CAM, DevKey="nope")
        self.assertEqual(wrong["Result"], 4)
        answer = yield self.soap.DelDevice(Account=A, LoginSession=session, DevID=CAM, DevKey="k1")
        self.assertEqual(answer["Result"], 0)
        yield eventually(lambda: any(cmd == 0x82 for cmd, _ in link.commands_received), "RESET_DEFAULT")
        rows = yield self.db.runQuery("SELECT count(*) FROM user_device")
        self.assertEqual(rows, [(0,)])
        again = yield self.soap.DelDevice(Account=A, LoginSession=session, DevID=CAM, DevKey="k1")
        self.assertEqual(again["Result"], 3)


class VideoPlayTests(McuTestCase):
    @defer.inlineCallbacks
    def setUp(self):
        yield super().setUp()
        self.session = yield self.user(A)
        self.link = yield self.camera(CAM, channels=2)
        yield self.bind(A, CAM)

    def play(self, **kw):
        args = dict(Account=A, LoginSession=self.session, DevID=CAM, ChannelNo=0, StreamType=2)
        args.update(kw)
        return self.soap.VideoPlay(**args)

    @defer.inlineCallbacks
    def test_urls_follow_section_15(self):
        # the client (127.0.0.1) shares the device's public address: LocalPlayUrl;
        # UPnP 0.0.0.0 (mapping failed) and no TURN relay: those are empty
        answer = yield self.play()
        self.assertEqual(answer["Result"], 0)
        local, params = query(answer["LocalPlayUrl"])
        self.assertEqual((local.scheme, local.hostname, local.port, local.path),
                         ("rtsp", self.link.state.addresses.LocalIP, self.link.state.addresses.RtspLocalPort,
                          "/realplay"))
        self.assertEqual((params["devid"], params["channelno"], params["streamtype"]), (CAM, "0", "2"))
        # "" on the wire (<UpnpPlayUrl></UpnpPlayUrl>); zeep reads an empty element as None
        self.assertEqual((answer["UpnpPlayUrl"] or "", answer["TurnPlayUrl"] or ""), ("", ""))
        relay, relay_params = query(answer["RelayPlayUrl"])
        self.assertEqual((relay.hostname, relay.port), ("127.0.0.1", self.port("rtsp")))
        self.assertNotEqual(params["hashtoken"], relay_params["hashtoken"])

        # a reachable UPnP mapping and a TURN relay add their URLs
        yield LinkStore(self.db).upnp_reachable(CAM, "0.0.0.0", 0, True, 0)
        yield self.link.set_addresses(UpnpIP="203.0.113.7", RtspUpnpPort=20554, TurnRelayIP="198.51.100.9",
                                      RtspTurnRelayPort=30554)
        # the platform probes the new mapping (the dial policy refuses it, so it
        # is recorded unreachable): let that land before the test overrules it
        yield eventually(lambda: self.db.runQuery(
            "SELECT 1 FROM device WHERE dev_id = %s AND upnp_ip = '203.0.113.7' AND upnp_reachable IS NOT NULL",
            (CAM,)), "the probe of the new UPnP mapping recorded")
        yield self.db.runOperation("UPDATE device SET upnp_reachable = true")
        answer = yield self.play()
        self.assertEqual(urlparse(answer["UpnpPlayUrl"]).netloc, "203.0.113.7:20554")
        self.assertEqual(urlparse(answer["TurnPlayUrl"]).netloc, "198.51.100.9:30554")

        # another public address: no LocalPlayUrl
        yield self.db.runOperation("UPDATE device SET public_ip = '203.0.113.50'")
        answer = yield self.play()
        self.assertEqual(answer["LocalPlayUrl"] or "", "")

    @defer.inlineCallbacks
    def test_the_device_verifies_the_token_once_within_60_s(self):
        answer = yield self.play()
        _, params = query(answer["LocalPlayUrl"])
        first = yield self.link.check_video_token(0, 2, params["hashtoken"])
        replay = yield self.link.check_video_token(0, 2, params["hashtoken"])
        self.assertEqual((first, replay), (0, 1))
        answer = yield self.play()
        _, params = query(answer["LocalPlayUrl"])
        self.clock.advance(60)
        late = yield self.link.check_video_token(0, 2, params["hashtoken"])
        self.assertEqual(late, 1)

    @defer.inlineCallbacks
    def test_refusals(self):
        for kw, result in [(dict(ChannelNo=5), 3), (dict(StreamType=3), 3), (dict(DevID=CAM2), 3)]:
            answer = yield self.play(**kw)
            self.assertEqual(answer["Result"], result, kw)
        self.link.close()
        yield eventually(lambda: not self.service.platform.links.online(CAM), "offline")
        answer = yield self.play()
        self.assertEqual(answer["Result"], 4)

    @defer.inlineCallbacks
    def test_record_files_and_record_play(self):
        files = yield self.soap.QueryRecordFiles(Account=A, LoginSession=self.session, DevID=CAM, ChannelNo=0,
                                                 StartTime="20261118000000", EndTime="20261118235959", PageNo=1)
        self.assertEqual(files["Result"], 0)
        self.assertEqual(len(files["FileList"]["RecordFile"]), 10)
        self.assertGreater(files["TotalRecordNum"], 10)
        name = files["FileList"]["RecordFile"][0]["FileName"]
        answer = yield self.soap.RecordPlay(Account=A, LoginSession=self.session, DevID=CAM, ChannelNo=0,
                                            FileName=name)
        self.assertEqual(answer["Result"], 0)
        _, params = query(answer["RelayPlayUrl"])
        self.assertEqual(params["filename"], name)
        _, local = query(answer["LocalPlayUrl"])
        wrong_file = yield self.link.check_record_token(0, name + ".x", local["hashtoken"])
        right = yield self.link.check_record_token(0, name, local["hashtoken"])
        self.assertEqual((wrong_file, right), (1, 0))


class DeviceOperationTests(McuTestCase):
    @defer.inlineCallbacks
    def setUp(self):
        yield super().setUp()
        self.session = yield self.user(A)
        self.link = yield self.camera(CAM, channels=2)
        yield self.bind(A, CAM)

    def op(self, name, **kw):
        return getattr(self.soap, name)(Account=A, LoginSession=self.session, DevID=CAM, **kw)

    @defer.inlineCallbacks
    def test_ptz_reaches_the_device(self):
        answer = yield self.op("PtzControl", ChannelNo=1, PtzDirection=2)
        self.assertEqual(answer["Result"], 0)
        self.assertEqual(self.link.state.ptz_direction(1), 2)

    @defer.inlineCallbacks
    def test_camera_parameters_set_then_read_back(self):
        answer = yield self.op("SetCameraParam", ChannelNo=1, StreamType=2, FrameSize=4, FrameRate=10, BitRate=2)
        self.assertEqual(answer["Result"], 0)
        answer = yield self.op("GetCameraParam", ChannelNo=1, StreamType=2)
        self.assertEqual((answer["Result"], answer["DevID"], answer["FrameSize"], answer["FrameRate"],
                          answer["BitRate"]), (0, CAM, 4, 10, 2))
        rows = yield self.db.runQuery("SELECT frame_size, frame_rate FROM stream_profile")
        self.assertEqual(rows, [(4, 10)])

    @defer.inlineCallbacks
    def test_wifi_alarm_switch_alias_reboot(self):
        wifi = yield self.op("GetWifiList")
        ssid = wifi["WifiList"]["Wifi"][0]["SSID"]
        answer = yield self.op("SetWifi", SSID=ssid, Security=4, Password="wlan-pass")
        self.assertEqual(answer["Result"], 0)
        wifi = yield self.op("GetWifiList")
        self.assertEqual([w["InUser"] for w in wifi["WifiList"]["Wifi"] if w["SSID"] == ssid], [1])

        answer = yield self.op("SetAlarmSwitch", ChannelNo=0, AlarmType=1, AlarmFlag=1)
        self.assertEqual(answer["Result"], 0)
        answer = yield self.op("GetAlarmSwitch", ChannelNo=0, AlarmType=1)
        self.assertEqual((answer["Result"], answer["AlarmFlag"]), (0, 1))

        answer = yield self.op("SetCameraAlias", ChannelNo=1, NewName="收银台")
        self.assertEqual(answer["Result"], 0)
        listed = yield self.soap.RefreshDevList(Account=A, LoginSession=self.session)
        self.assertEqual([d["Name"] for d in listed["DevList"]["Dev"]][1], "收银台")

        answer = yield self.op("RebootCamera")
        self.assertEqual(answer["Result"], 0)
        self.assertIn(0x6C, [cmd for cmd, _ in self.link.commands_received])

    @defer.inlineCallbacks
    def test_firmware_version_and_upgrade(self):
        answer = yield self.op("NotifyUpgrade")
        self.assertEqual(answer["Result"], 255)  # nothing newer in the catalogue
        yield self.db.runOperation(
            "INSERT INTO firmware (manufacturer_no, model, dev_ver, file_name)"
            " SELECT manufacturer_no, model, 'V1.6_20261101', 'fw-1.6.bin' FROM device WHERE dev_id = %s", (CAM,))
        answer = yield self.op("GetFirmwareVersion")
        self.assertEqual((answer["CurDevVer"], answer["NewDevVer"]), (self.link.state.dev_ver, "V1.6_20261101"))
        answer = yield self.op("NotifyUpgrade")
        self.assertEqual(answer["Result"], 0)
        [upgrade] = [request for cmd, request in self.link.commands_received if cmd == 0x6D]
        self.assertEqual((upgrade.NewDevVer, upgrade.FtpFileName), ("V1.6_20261101", "fw-1.6.bin"))
        # the device's own FTP account, as in REGISTER_RES
        self.assertEqual((upgrade.FtpIP, upgrade.FtpPort, upgrade.FtpAccount, upgrade.FtpPassword),
                         ("127.0.0.1", self.port("ftp"), CAM, self.service.platform.core.keys.ftp_password(CAM)))

    @defer.inlineCallbacks
    def test_offline_is_4(self):
        self.link.close()
        yield eventually(lambda: not self.service.platform.links.online(CAM), "offline")
        for name, kw in [("PtzControl", dict(ChannelNo=0, PtzDirection=1)), ("RebootCamera", {}),
                         ("GetCameraParam", dict(ChannelNo=0, StreamType=1))]:
            answer = yield self.op(name, **kw)
            self.assertEqual(answer["Result"], 4, name)

    @defer.inlineCallbacks
    def test_a_refusal_by_the_device_is_255(self):
        answer = yield self.op("GetAlarmSwitch", ChannelNo=1, AlarmType=4, DIDONo=9)
        self.assertEqual(answer["Result"], 255)

    @defer.inlineCallbacks
    def test_out_of_range_values_are_faults(self):
        from zeep.exceptions import Fault
        yield self.assertFailure(self.op("PtzControl", ChannelNo=0, PtzDirection=9), Fault)
        yield self.assertFailure(self.op("SetAlarmSwitch", ChannelNo=0, AlarmType=1, AlarmFlag=2), Fault)

    @defer.inlineCallbacks
    def test_values_beyond_the_device_links_bounds_are_client_faults(self):
        """A value the device link would refuse to carry (an SSID of 300
        characters: its bound is 256) is the client's error, not a server traceback."""
        from zeep.exceptions import Fault
        observer = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        fault = yield self.assertFailure(self.op("SetWifi", SSID="x" * 300, Security=4, Password="p"), Fault)
        self.assertTrue(fault.code.startswith("soap11env:Client"), fault.code)
        self.assertEqual([e for e in observer if e.get("log_failure") is not None], [])


class AlarmQueryTests(McuTestCase):
    @defer.inlineCallbacks
    def test_pages_of_ten_with_filters(self):
        session = yield self.user(A)
        yield self.camera(CAM, online=False)
        yield self.camera(CAM2, online=False)
        yield self.camera(CAM3, online=False)
        yield self.bind(A, CAM)
        yield self.bind(A, CAM2)
        # 23 alarms on CAM an hour apart, 2 on CAM2, 1 on CAM3 (not A's)
        yield self.db.runOperation(
            "INSERT INTO alarm (dev_id, channel_no, alarm_type, alarm_time)"
            " SELECT %s, 0, 1, timestamptz '2026-11-18 00:00+08' + n * interval '1 hour'"
            " FROM generate_series(0, 22) n", (CAM,))
        yield self.db.runOperation(
            "INSERT INTO alarm (dev_id, channel_no, alarm_type, alarm_time) VALUES"
            " (%s, 0, 2, '2026-11-18 12:30+08'), (%s, 0, 3, '2026-11-18 13:30+08'),"
            " (%s, 0, 1, '2026-11-18 12:00+08')", (CAM2, CAM2, CAM3))

        def alarms(**kw):
            args = dict(Account=A, LoginSession=session, DevID="", StartTime="", EndTime="", PageNo=1)
            args.update(kw)
            return self.soap.QueryAlarms(**args)

        everything = yield alarms()
        self.assertEqual(everything["TotalAlarmNum"], 25)
        self.assertEqual(len(everything["AlarmList"]["Alarm"]), 10)
        self.assertEqual(everything["AlarmList"]["Alarm"][0]["AlarmTime"], "20261118220000")
        last = yield alarms(PageNo=3)
        self.assertEqual(len(last["AlarmList"]["Alarm"]), 5)
        one = yield alarms(DevID=CAM2)
        self.assertEqual((one["TotalAlarmNum"], [a["AlarmType"] for a in one["AlarmList"]["Alarm"]]), (2, [3, 2]))
        window = yield alarms(StartTime="20261118120000", EndTime="20261118133000")
        self.assertEqual(window["TotalAlarmNum"], 4)
        foreign = yield alarms(DevID=CAM3)
        self.assertEqual(foreign["Result"], 3)
        from zeep.exceptions import Fault
        yield self.assertFailure(alarms(StartTime="yesterday"), Fault)
        yield self.assertFailure(alarms(PageNo=0), Fault)
