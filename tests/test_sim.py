"""Tests for the simulated device, kandian.sim (spec §7.2–§7.5, device side).

No sockets: the link runs on a StringTransport and a task.Clock, the
platform's side is played by the frame codec and the message classes, the
registration server by a fake IAgent.
"""

from __future__ import annotations

import ast
import gc
import socket
import tracemalloc
from pathlib import Path
from typing import Any

import attrs
from hypothesis import given, strategies as st
from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks, succeed
from twisted.internet.error import ConnectionDone, ConnectionRefusedError
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import Clock, deferLater
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.client import ResponseDone
from twisted.web.iweb import IAgent
from zope.interface import implementer

from kandian.device.frame import Frame, FrameDecoder
from kandian.device.link import DeviceLink as PlatformLink
from kandian.device.messages import (
    DEVICE_INITIATED,
    AbilityUpRequest,
    AbilityUpResponse,
    AddPicturePolicyRequest,
    AddRecordPolicyRequest,
    AlarmNotifyRequest,
    AlarmNotifyResponse,
    DayPolicy,
    DelPicturePolicyRequest,
    DelRecordPolicyRequest,
    EStoreActivateRequest,
    FileQueryRequest,
    GetAlarmRequest,
    GetChannelRequest,
    GetEStoreRequest,
    GetRecordFullRequest,
    GetRecordLoopRequest,
    GetWifiRequest,
    HeartbeatRequest,
    HeartbeatResponse,
    LoginRequest,
    LoginResponse,
    Message,
    NvrDelIpcamRequest,
    NvrLinkIpcamRequest,
    NvrModifyIpcamRequest,
    NvrQueryIpcamRequest,
    PtzRequest,
    QueryPicturePolicyRequest,
    QueryRecordPolicyRequest,
    RebootRequest,
    RecordPlayRequest,
    RecordPlayResponse,
    ResetDefaultRequest,
    SetAlarmRequest,
    SetChannelRequest,
    SetEStoreRequest,
    SetRecordFullRequest,
    SetRecordLoopRequest,
    SetWifiRequest,
    StoreFormatRequest,
    StoreQueryRequest,
    UpgradeRequest,
    VideoPlayRequest,
    VideoPlayResponse,
    WeekPolicy,
    decode_body,
    message_class,
    registry,
)
from kandian.register.messages import RegisterRequest, RegisterResponse
from kandian.sim import answers
from kandian.sim.fleet import Fleet
from kandian.sim.link import (
    PLATFORM_COMMANDS,
    DeviceLink,
    LinkLost,
    LoginRefused,
    NotLoggedIn,
    RequestTimeout,
    connect_device,
)
from kandian.sim.register import CONTENT_TYPE, RegisterError, register
from kandian.sim.state import FAILED, NVR, OK, DeviceState, UnsupportedRequest
from tests.strategies import MESSAGES, mutated

DEV_ID = "81100000001"
NVR_ID = "81200000002"
NOW = 1_700_000_000.0  # 2023-11-15 06:13:20 +08:00

PLATFORM_CLASSES = sorted(
    (cls for (cmd, is_response), cls in registry().items() if cmd in PLATFORM_COMMANDS and not is_response),
    key=lambda cls: cls.CMD,
)

# Plausible values for the required fields of every platform request.
SAMPLE_FIELDS: dict[str, Any] = {
    "ChannelNo": 0,
    "StreamType": 1,
    "SSID": "Shop-0001",
    "Security": 3,
    "PtzDirection": 3,
    "URL": "http://oos.ctyun.cn/auth",
    "Account": "AK",
    "Password": "SK",
    "ERecordBucket": "records",
    "EPictureBucket": "pictures",
    "PolicyID": "1",
    "NewDevVer": "V1.5_20140101",
    "FtpIP": "10.0.0.1",
    "FtpPort": 21,
    "FtpAccount": "ftp",
    "FtpPassword": "secret",
    "FtpFileName": "fw.bin",
    "IpcamDevID": DEV_ID,
    "IpcamLocalIP": "192.168.1.10",
    "OnvifPort": 80,
    "OnvifAccount": "admin",
    "OnvifPassword": "admin",
    "StartTime": "202311150000",
    "EndTime": "202311150100",
    "PageNo": 1,
    "StoreType": 0,
    "StorageFlag": 1,
    "RecordFull": 1,
    "RecordLoop": 0,
    "AlarmType": 1,
    "AlarmFlag": 1,
    "Flag": 0,
}


def sample_request(cls: type[Message], dev_id: str = DEV_ID) -> Message:
    required = [a.name for a in attrs.fields(cls) if a.default is attrs.NOTHING]
    return cls(**{name: dev_id if name == "DevID" else SAMPLE_FIELDS[name] for name in required})


def week(policy_week: int, start: str = "08:00", end: str = "12:00", store_type: int = 0) -> WeekPolicy:
    return WeekPolicy(StoreType=store_type, StreamType=1, Week=policy_week, StartTime=start, EndTime=end)


class Platform:
    """The platform's end of a link: reads the device's frames, writes its own."""

    def __init__(self, link: DeviceLink, transport: StringTransport) -> None:
        self.link = link
        self.transport = transport
        self.decoder = FrameDecoder()

    def received(self) -> list[tuple[Frame, Message]]:
        """The frames the device wrote since the last call, with their bodies."""
        data = self.transport.value()
        self.transport.clear()
        out = []
        for frame in self.decoder.feed(data):
            assert isinstance(frame, Frame)
            is_response = frame.cmd not in DEVICE_INITIATED
            out.append((frame, decode_body(frame.cmd, is_response, frame.data)))
        return out

    def one(self) -> tuple[Frame, Message]:
        frames = self.received()
        assert len(frames) == 1, frames
        return frames[0]

    def send(self, cmd: int, seq: int, message: Message) -> None:
        self.link.dataReceived(Frame(cmd, seq, message.to_xml()).to_wire())

    def answer(self, request: tuple[Frame, Message], response: Message) -> None:
        self.send(request[0].cmd, request[0].seq, response)

    def log_in(self) -> None:
        login = self.one()
        self.answer(login, LoginResponse(Result=0, DevID=DEV_ID, Time="20231115061320"))
        ability = self.one()
        self.answer(ability, AbilityUpResponse(DevID=DEV_ID, Time="20231115061320"))


class LinkCase(SynchronousTestCase):
    def connect(self, state: DeviceState | None = None, **options: Any) -> tuple[DeviceLink, Platform, Clock]:
        clock = Clock()
        clock.advance(NOW)
        link = DeviceLink(state or DeviceState(DEV_ID, "key"), clock, **options)
        transport = StringTransport()
        link.makeConnection(transport)
        return link, Platform(link, transport), clock

    def logged_in(self, **options: Any) -> tuple[DeviceLink, Platform, Clock]:
        link, platform, clock = self.connect(**options)
        platform.log_in()
        return link, platform, clock

    def close(self, link: DeviceLink, clock: Clock) -> None:
        link.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(clock.getDelayedCalls(), [])


class LoginTests(LinkCase):
    def test_login_then_ability(self) -> None:
        """LOGIN_REQ with SEQ 0 first; ABILITYUP_REQ with SEQ 1 after LOGIN_RES Result 0 (§7.3.3)."""
        link, platform, clock = self.connect()
        frame, login = platform.one()
        self.assertEqual((frame.cmd, frame.seq), (0x31, 0))
        self.assertIsInstance(login, LoginRequest)
        self.assertEqual((login.DevID, login.DevKey, login.DevVer), (DEV_ID, "key", "V1.5_20131210"))
        logged_in = link.logged_in()
        self.assertNoResult(logged_in)
        platform.answer((frame, login), LoginResponse(Result=0, DevID=DEV_ID, Time="20231115061320"))
        self.assertEqual(self.successResultOf(logged_in).Result, 0)
        frame, ability = platform.one()
        self.assertEqual((frame.cmd, frame.seq), (0x32, 1))
        self.assertIsInstance(ability, AbilityUpRequest)
        self.assertEqual(ability.ChannelNum, 1)
        self.assertEqual([(v.StreamType, v.FrameSize) for v in ability.Video], [(1, 1), (2, 4)])
        self.assertTrue(link.is_logged_in)
        self.close(link, clock)

    def test_login_refused(self) -> None:
        """Result ≠ 0: logged_in fails, no ability report, no heartbeat; the platform closes."""
        link, platform, clock = self.connect()
        platform.answer(platform.one(), LoginResponse(Result=2, DevID=DEV_ID))
        failure = self.failureResultOf(link.logged_in(), LoginRefused)
        self.assertEqual(failure.value.result, 2)
        self.assertEqual(platform.received(), [])
        self.assertEqual(clock.getDelayedCalls(), [])
        self.assertFalse(platform.transport.disconnecting)
        self.failureResultOf(link.send_alarm(0, 1), NotLoggedIn)
        self.close(link, clock)

    def test_login_unanswered(self) -> None:
        """No LOGIN_RES within the request timeout: logged_in fails and the device closes the link."""
        link, platform, clock = self.connect(request_timeout=30)
        clock.advance(30)
        self.failureResultOf(link.logged_in(), RequestTimeout)
        self.assertTrue(platform.transport.disconnecting)
        self.close(link, clock)

    def test_login_keeps_cloud_account(self) -> None:
        """A LOGIN_RES with 天翼云 details is what GET_ESTORE reports (§7.5.1, §7.5.12)."""
        link, platform, clock = self.connect()
        platform.answer(
            platform.one(),
            LoginResponse(
                Result=0, DevID=DEV_ID, EURL="http://e", EAccount="ak", EPassword="sk",
                EStorageSpace=1024, ERecordBucket="r", EPictureBucket="p",
            ),
        )
        platform.received()
        platform.send(0x66, 7, GetEStoreRequest(DevID=DEV_ID))
        _, answer = platform.one()
        self.assertEqual((answer.URL, answer.Account, answer.StorageSpace), ("http://e", "ak", 1024))
        self.close(link, clock)

    def test_link_lost_fails_pending(self) -> None:
        link, platform, clock = self.logged_in()
        alarm = link.send_alarm(0, 1)
        closed = link.when_closed()
        self.close(link, clock)
        self.failureResultOf(alarm, LinkLost)
        self.assertIsInstance(self.successResultOf(closed), ConnectionDone)
        self.failureResultOf(link.check_video_token(0, 1, "t"), NotLoggedIn)


class HeartbeatTests(LinkCase):
    def test_every_interval(self) -> None:
        """A heartbeat every 120 s after login (§7.3.4), each with a new SEQ."""
        link, platform, clock = self.logged_in()
        seqs = []
        for _ in range(3):
            clock.advance(119)
            self.assertEqual(platform.received(), [])
            clock.advance(1)
            frame, beat = platform.one()
            self.assertIsInstance(beat, HeartbeatRequest)
            self.assertEqual((beat.DevID, beat.CurVideoNum, beat.UpnpIP), (DEV_ID, 0, "0.0.0.0"))
            platform.answer((frame, beat), HeartbeatResponse(DevID=DEV_ID, Time="20231115061320"))
            seqs.append(frame.seq)
        self.assertEqual(seqs, [2, 3, 4])
        self.assertEqual(len(clock.getDelayedCalls()), 1)
        self.close(link, clock)

    def test_three_missed_close_the_link(self) -> None:
        """Three heartbeats in a row unanswered: the device closes the link (§7.3.4)."""
        link, platform, clock = self.logged_in(heartbeat_interval=120)
        clock.pump([120, 120, 120])
        self.assertEqual([frame.cmd for frame, _ in platform.received()], [0x33, 0x33, 0x33])
        self.assertFalse(platform.transport.disconnecting)
        clock.advance(120)
        self.assertTrue(platform.transport.disconnecting)
        self.assertEqual(platform.received(), [])
        self.assertEqual(clock.getDelayedCalls(), [])
        self.close(link, clock)

    def test_an_answer_resets_the_count(self) -> None:
        link, platform, clock = self.logged_in()
        clock.pump([120, 120])
        beats = platform.received()
        platform.answer(beats[1], HeartbeatResponse(DevID=DEV_ID, Time="20231115061320"))
        clock.pump([120, 120])
        self.assertFalse(platform.transport.disconnecting)
        self.close(link, clock)

    def test_address_change_beats_at_once(self) -> None:
        """§7.5.3: a change of UPnP/TURN details is reported at once, and the period restarts."""
        link, platform, clock = self.logged_in()
        clock.advance(60)
        beat = link.set_addresses(UpnpIP="58.1.2.3", RtspUpnpPort=35544)
        frame, request = platform.one()
        self.assertEqual((request.UpnpIP, request.RtspUpnpPort), ("58.1.2.3", 35544))
        platform.answer((frame, request), HeartbeatResponse(DevID=DEV_ID, Time="20231115061420"))
        self.assertEqual(self.successResultOf(beat).DevID, DEV_ID)
        self.assertIsNone(self.successResultOf(link.set_addresses(UpnpIP="58.1.2.3")))
        self.assertIsNone(self.successResultOf(link.set_addresses(NatType=3)))
        self.assertEqual(platform.received(), [])
        clock.advance(119)
        self.assertEqual(platform.received(), [])
        clock.advance(1)
        self.assertEqual(platform.one()[0].cmd, 0x33)
        self.close(link, clock)

    def test_heartbeat_now(self) -> None:
        link, platform, clock = self.connect()
        self.failureResultOf(link.heartbeat_now(), NotLoggedIn)
        platform.log_in()
        d = link.heartbeat_now()
        platform.answer(platform.one(), HeartbeatResponse(DevID=DEV_ID, Time="20231115061320"))
        self.assertIsInstance(self.successResultOf(d), HeartbeatResponse)
        self.close(link, clock)


class SeqTests(LinkCase):
    def test_wraps_after_65535(self) -> None:
        """§7.4.4: the counter goes 65534, 65535, 0, 1."""
        link, platform, clock = self.connect(first_seq=65534)
        frame, login = platform.one()
        self.assertEqual(frame.seq, 65534)
        platform.answer((frame, login), LoginResponse(Result=0, DevID=DEV_ID))
        self.assertEqual(platform.one()[0].seq, 65535)
        clock.advance(120)
        self.assertEqual(platform.one()[0].seq, 0)
        exception = link.send_exception(12, desc="UPnP mapping failed")
        self.assertEqual(platform.one()[0].seq, 1)
        self.close(link, clock)
        self.failureResultOf(exception, LinkLost)

    def test_answers_match_by_seq(self) -> None:
        """Two requests in flight, answered in the other order."""
        link, platform, clock = self.logged_in()
        first = link.check_video_token(0, 1, "a" * 32)
        second = link.check_record_token(0, f"{DEV_ID}_0_20231115000000.mp4", "b" * 32)
        (f1, r1), (f2, r2) = platform.received()
        self.assertIsInstance(r1, VideoPlayRequest)
        self.assertIsInstance(r2, RecordPlayRequest)
        self.assertEqual((f1.cmd, f2.cmd), (0x35, 0x74))
        self.assertEqual((r1.ChannelNo, r1.StreamType, r1.HashToken), (0, 1, "a" * 32))
        platform.answer((f2, r2), RecordPlayResponse(Result=0, DevID=DEV_ID))
        platform.answer((f1, r1), VideoPlayResponse(Result=4, DevID=DEV_ID))
        self.assertEqual(self.successResultOf(first), 4)
        self.assertEqual(self.successResultOf(second), 0)
        self.close(link, clock)

    def test_reports_time_out(self) -> None:
        link, platform, clock = self.logged_in(request_timeout=10)
        alarm = link.send_alarm(0, 4, dido_no=1)
        frame, request = platform.one()
        self.assertIsInstance(request, AlarmNotifyRequest)
        self.assertEqual(request.FileName, f"{DEV_ID}_0_20231115061320.JPG")
        clock.advance(10)
        self.failureResultOf(alarm, RequestTimeout)
        platform.answer((frame, request), AlarmNotifyResponse(Result=0, DevID=DEV_ID))  # too late: dropped
        self.assertEqual(link.bad_frames, 1)
        self.close(link, clock)

    def test_picture_and_exception(self) -> None:
        link, platform, clock = self.logged_in()
        clock.advance(40)
        sent = [link.send_picture(0), link.send_exception(6, desc="SD card fault", channel=0)]
        (_, picture), (_, exception) = platform.received()
        self.assertEqual((picture.FileName, picture.Time), (f"{DEV_ID}_0_20231115061400.JPG", "20231115061400"))
        self.assertEqual((exception.ExceptionType, exception.ChannelNo), (6, 0))
        self.close(link, clock)
        for d in sent:
            self.failureResultOf(d, LinkLost)


class PlatformCommandTests(LinkCase):
    def test_every_platform_command_is_answered(self) -> None:
        """Every request class of CMD 0x60–0x82 gets its response class back, same CMD and SEQ."""
        self.assertEqual(len(PLATFORM_CLASSES), 31)
        link, platform, clock = self.logged_in(state=DeviceState(DEV_ID, "key", NVR, channel_num=4))
        for index, cls in enumerate(PLATFORM_CLASSES):
            request = sample_request(cls)
            platform.send(cls.CMD, 1000 + index, request)
            frames = [entry for entry in platform.received() if entry[0].cmd != 0x32]
            self.assertEqual(len(frames), 1, cls.__name__)
            frame, response = frames[0]
            self.assertEqual((frame.cmd, frame.seq), (cls.CMD, 1000 + index))
            self.assertIsInstance(response, message_class(cls.CMD, True))
            self.assertEqual(response.DevID, DEV_ID)
        self.assertEqual([cmd for cmd, _ in link.commands_received], [cls.CMD for cls in PLATFORM_CLASSES])
        self.assertEqual(link.commands_answered, 31)
        self.close(link, clock)

    def test_command_before_login_is_answered(self) -> None:
        link, platform, clock = self.connect()
        platform.received()
        platform.send(0x61, 9, GetChannelRequest(DevID=DEV_ID, ChannelNo=0, StreamType=2))
        frame, response = platform.one()
        self.assertEqual((frame.seq, response.Result, response.FrameSize), (9, OK, 4))
        self.close(link, clock)

    def test_set_then_get_over_the_link(self) -> None:
        link, platform, clock = self.logged_in()
        platform.send(0x60, 40, SetChannelRequest(DevID=DEV_ID, ChannelNo=0, StreamType=1, BitRate=10))
        platform.send(0x61, 41, GetChannelRequest(DevID=DEV_ID, ChannelNo=0, StreamType=1))
        (_, set_response), (_, got) = platform.received()
        self.assertEqual(set_response.Result, OK)
        self.assertEqual((got.BitRate, got.FrameRate), (10, 25))
        self.assertEqual(link.commands_received[-1], (0x61, GetChannelRequest(DevID=DEV_ID, ChannelNo=0, StreamType=1)))
        self.close(link, clock)

    def test_medium_change_reports_abilities_again(self) -> None:
        """§7.5.2: formatting an unformatted card changes LocalStoreFlag, so the device reports again."""
        state = DeviceState(DEV_ID, "key", local_store=2)
        link, platform, clock = self.connect(state=state)
        platform.log_in()
        platform.send(0x80, 5, StoreFormatRequest(DevID=DEV_ID))
        (_, formatted), (frame, ability) = platform.received()
        self.assertEqual(formatted.Result, OK)
        self.assertEqual((frame.cmd, ability.LocalStoreFlag), (0x32, 1))
        self.close(link, clock)


class GarbageTests(LinkCase):
    def test_bad_frames_are_dropped(self) -> None:
        """Bad digest, unknown CMD, undecodable body, answer to nothing: dropped, the link lives."""
        link, platform, clock = self.logged_in()
        good = Frame(0x61, 3, GetChannelRequest(DevID=DEV_ID, ChannelNo=0, StreamType=1).to_xml()).to_wire()
        bad_digest = good[:-1] + bytes([good[-1] ^ 1])
        link.dataReceived(bad_digest)
        link.dataReceived(Frame(0x90, 4, b"<X/>").to_wire())
        link.dataReceived(Frame(0x61, 5, b"<GET_CHANNEL_REQ><DevID>").to_wire())
        link.dataReceived(Frame(0x6A, 6, b"<SET_RECORD_REQ/>").to_wire())
        link.dataReceived(Frame(0x37, 7, AlarmNotifyResponse(Result=0, DevID=DEV_ID).to_xml()).to_wire())
        self.assertEqual(platform.received(), [])
        self.assertEqual(link.bad_frames, 5)
        self.assertEqual(self.flushLoggedErrors(), [])
        link.dataReceived(good)
        self.assertEqual(platform.one()[0].seq, 3)
        self.assertFalse(platform.transport.disconnecting)
        self.close(link, clock)

    def test_out_of_sync_closes(self) -> None:
        """Bytes where FA F5 must be: nothing more can be framed, so the link is closed."""
        link, platform, clock = self.logged_in()
        link.dataReceived(b"GET / HTTP/1.0\r\n\r\n")
        link.dataReceived(b"more")
        self.assertTrue(platform.transport.disconnecting)
        self.assertEqual(clock.getDelayedCalls(), [])
        self.close(link, clock)

    @given(st.sampled_from(PLATFORM_CLASSES).flatmap(lambda cls: MESSAGES[cls]).flatmap(
        lambda message: mutated(Frame(message.CMD, 1, message.to_xml()).to_wire())
    ))
    def test_mutated_frames_never_raise(self, data: bytes) -> None:
        link, platform, clock = self.logged_in()
        link.dataReceived(data)
        platform.received()
        self.close(link, clock)


class StateTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.state = DeviceState(DEV_ID, "key")

    def ask(self, request: Message, state: DeviceState | None = None) -> Any:
        response = answers.answer(state or self.state, request)
        self.assertIsInstance(response, message_class(request.CMD, True))
        return response

    def test_bodies_sent_again_are_kept_until_they_change(self) -> None:
        """A device's LOGIN_REQ, ABILITYUP_REQ and HEARTBEAT_REQ bodies are written once while they stay the
        same; a changed address or store flag is in the next one."""
        for make in (self.state.login_request, self.state.ability_request, self.state.heartbeat_request):
            first = self.state.encode(make())
            self.assertEqual(first, make().to_xml())
            self.assertIs(self.state.encode(make()), first)
        self.state.set_addresses(LocalIP="192.168.1.99")
        self.state.set_local_store(3)
        for make in (self.state.login_request, self.state.ability_request, self.state.heartbeat_request):
            self.assertEqual(self.state.encode(make()), make().to_xml())
        self.assertIn(b"192.168.1.99", self.state.encode(self.state.login_request()))
        alarm = self.state.alarm_request(0, 1, when=1_800_000_000.0)
        self.assertEqual(self.state.encode(alarm), alarm.to_xml())

    @given(st.sampled_from(PLATFORM_CLASSES).flatmap(lambda cls: MESSAGES[cls]), st.booleans())
    def test_any_request_gets_its_response(self, request: Message, own: bool) -> None:
        """Whatever the platform sends, the answer is of the right class and can be written."""
        if own:
            request = attrs.evolve(request, DevID=DEV_ID)
        for state in (DeviceState(DEV_ID, "key"), DeviceState(DEV_ID, "key", NVR, channel_num=2)):
            response = self.ask(request, state)
            self.assertEqual(response.DevID, DEV_ID)
            response.to_xml()

    def test_every_platform_class_has_an_answer(self) -> None:
        self.assertEqual(answers.answered_classes(), frozenset(PLATFORM_CLASSES))

    def test_device_requests_are_not_answered(self) -> None:
        self.assertRaises(UnsupportedRequest, answers.answer, self.state, self.state.login_request())

    def test_other_devid_refused(self) -> None:
        self.assertEqual(self.ask(GetChannelRequest(DevID=NVR_ID, ChannelNo=0, StreamType=1)).Result, FAILED)

    def test_channel_params(self) -> None:
        """§7.5.6: a missing field is left unchanged; an unknown channel or stream is refused."""
        set_ = SetChannelRequest(DevID=DEV_ID, ChannelNo=0, StreamType=2, FrameRate=10, AudioInput=0)
        self.assertEqual(self.ask(set_).Result, OK)
        got = self.ask(GetChannelRequest(DevID=DEV_ID, ChannelNo=0, StreamType=2))
        self.assertEqual(
            (got.Result, got.FrameSize, got.FrameRate, got.RateType, got.BitRate, got.AudioInput), (OK, 4, 10, 2, 4, 0)
        )
        main = self.ask(GetChannelRequest(DevID=DEV_ID, ChannelNo=0, StreamType=1))
        self.assertEqual((main.FrameRate, main.AudioInput), (25, 1))
        for bad in (
            SetChannelRequest(DevID=DEV_ID, ChannelNo=1, StreamType=1, FrameRate=10),
            SetChannelRequest(DevID=DEV_ID, ChannelNo=0, StreamType=3),
            SetChannelRequest(DevID=DEV_ID, ChannelNo=0, StreamType=1, BitRate=14),
        ):
            self.assertEqual(self.ask(bad).Result, FAILED)
        self.assertEqual(self.ask(GetChannelRequest(DevID=DEV_ID, ChannelNo=1, StreamType=1)).Result, FAILED)

    def test_frame_size_changes_abilities(self) -> None:
        self.ask(SetChannelRequest(DevID=DEV_ID, ChannelNo=0, StreamType=1, FrameSize=3))
        self.assertTrue(self.state.take_ability_change())
        self.assertFalse(self.state.take_ability_change())
        self.assertEqual(self.state.ability_request().Video[0].FrameSize, 3)

    def test_gets_do_not_allocate_settings(self) -> None:
        for cls in PLATFORM_CLASSES:
            if cls.ROOT.startswith(("GET_", "QUERY_", "STORE_QUERY", "FILE_QUERY", "NVR_QUERY")):
                self.ask(sample_request(cls))
        self.assertFalse(self.state.has_settings)

    def test_wifi(self) -> None:
        """§7.5.8–§7.5.9: after SET_WIFI the hotspot is the one InUse, strongest first."""
        before = self.ask(GetWifiRequest(DevID=DEV_ID)).WifiSSID
        self.assertEqual([w.InUse for w in before], [0] * len(before))
        self.assertEqual([w.Signal for w in before], sorted((w.Signal for w in before), reverse=True))
        self.assertEqual(self.ask(SetWifiRequest(DevID=DEV_ID, SSID="CMCC-WEB", Security=0)).Result, OK)
        listed = {w.SSID: w.InUse for w in self.ask(GetWifiRequest(DevID=DEV_ID)).WifiSSID}
        self.assertEqual(listed["CMCC-WEB"], 1)
        self.assertEqual(sum(listed.values()), 1)
        self.ask(SetWifiRequest(DevID=DEV_ID, SSID="Back office", Security=4, Password="p4ssw0rd"))
        listed = {w.SSID: w.InUse for w in self.ask(GetWifiRequest(DevID=DEV_ID)).WifiSSID}
        self.assertEqual((listed["Back office"], listed["CMCC-WEB"]), (1, 0))
        self.assertEqual(self.ask(SetWifiRequest(DevID=DEV_ID, SSID="x", Security=6)).Result, FAILED)

    def test_ptz(self) -> None:
        self.assertEqual(self.ask(PtzRequest(DevID=DEV_ID, ChannelNo=0, PtzDirection=4)).Result, OK)
        self.assertEqual(self.state.ptz_direction(0), 4)
        self.assertEqual(self.ask(PtzRequest(DevID=DEV_ID, ChannelNo=0, PtzDirection=5)).Result, FAILED)

    def test_alarm_switches(self) -> None:
        """§7.5.32–§7.5.33, per channel, AlarmType and (for type 4) DIDONo."""
        get = GetAlarmRequest(DevID=DEV_ID, ChannelNo=0, AlarmType=1)
        self.assertEqual(self.ask(get).AlarmFlag, 0)
        self.ask(SetAlarmRequest(DevID=DEV_ID, ChannelNo=0, AlarmType=1, AlarmFlag=1))
        self.ask(SetAlarmRequest(DevID=DEV_ID, ChannelNo=0, AlarmType=4, AlarmFlag=1, DIDONo=2))
        self.assertEqual(self.ask(get).AlarmFlag, 1)
        self.assertEqual(self.ask(GetAlarmRequest(DevID=DEV_ID, ChannelNo=0, AlarmType=4, DIDONo=2)).AlarmFlag, 1)
        self.assertEqual(self.ask(GetAlarmRequest(DevID=DEV_ID, ChannelNo=0, AlarmType=4, DIDONo=1)).AlarmFlag, 0)
        self.assertEqual(self.ask(GetAlarmRequest(DevID=DEV_ID, ChannelNo=0, AlarmType=2)).AlarmFlag, 0)
        for bad in (
            SetAlarmRequest(DevID=DEV_ID, ChannelNo=0, AlarmType=4, AlarmFlag=1),  # no DIDONo
            SetAlarmRequest(DevID=DEV_ID, ChannelNo=0, AlarmType=4, AlarmFlag=1, DIDONo=3),
            SetAlarmRequest(DevID=DEV_ID, ChannelNo=0, AlarmType=5, AlarmFlag=1),
            SetAlarmRequest(DevID=DEV_ID, ChannelNo=0, AlarmType=1, AlarmFlag=2),
            SetAlarmRequest(DevID=DEV_ID, ChannelNo=3, AlarmType=1, AlarmFlag=1),
        ):
            self.assertEqual(self.ask(bad).Result, FAILED, bad)

    def test_record_policies(self) -> None:
        """§7.5.13–§7.5.15: numbered by the device, listed, deleted; four a day at most."""
        add = AddRecordPolicyRequest(DevID=DEV_ID, ChannelNo=0, WeekPolicy=[week(1), week(2, "20:00", "23:59", 1)])
        self.assertEqual(self.ask(add).Result, OK)
        listed = self.ask(QueryRecordPolicyRequest(DevID=DEV_ID, ChannelNo=0)).WeekPolicy
        self.assertEqual([(p.PolicyID, p.Week, p.StoreType) for p in listed], [("1", 1, 0), ("2", 2, 1)])
        self.assertEqual(self.ask(DelRecordPolicyRequest(DevID=DEV_ID, ChannelNo=0, PolicyID="1")).Result, OK)
        self.assertEqual(self.ask(DelRecordPolicyRequest(DevID=DEV_ID, ChannelNo=0, PolicyID="1")).Result, FAILED)
        listed = self.ask(QueryRecordPolicyRequest(DevID=DEV_ID, ChannelNo=0)).WeekPolicy
        self.assertEqual([p.PolicyID for p in listed], ["2"])
        four_more = [week(2, f"0{h}:00", f"0{h}:30") for h in range(4)]
        five = AddRecordPolicyRequest(DevID=DEV_ID, ChannelNo=0, WeekPolicy=four_more)
        self.assertEqual(self.ask(five).Result, FAILED)
        for bad in (week(3, "12:00", "08:00"), week(3, "25:00", "26:00"), attrs.evolve(week(3), StreamType=3)):
            refused = self.ask(AddRecordPolicyRequest(DevID=DEV_ID, ChannelNo=0, WeekPolicy=[bad]))
            self.assertEqual(refused.Result, FAILED)
        self.assertEqual(self.ask(QueryRecordPolicyRequest(DevID=DEV_ID, ChannelNo=1)).Result, FAILED)

    def test_picture_policies(self) -> None:
        """§7.5.24–§7.5.26, kept per StoreType; FTP policies have StartTime = EndTime."""
        ftp = DayPolicy(Interval=0, StartTime="09:00", EndTime="09:00")
        add = AddPicturePolicyRequest(DevID=DEV_ID, ChannelNo=0, StoreType=0, DayPolicy=[ftp])
        self.assertEqual(self.ask(add).Result, OK)
        listed = self.ask(QueryPicturePolicyRequest(DevID=DEV_ID, ChannelNo=0, StoreType=0)).DayPolicy
        self.assertEqual([(p.PolicyID, p.StartTime) for p in listed], [("1", "09:00")])
        self.assertEqual(self.ask(QueryPicturePolicyRequest(DevID=DEV_ID, ChannelNo=0, StoreType=1)).DayPolicy, ())
        self.assertEqual(self.ask(DelPicturePolicyRequest(DevID=DEV_ID, ChannelNo=0, PolicyID="1")).Result, OK)
        self.assertEqual(self.ask(DelPicturePolicyRequest(DevID=DEV_ID, ChannelNo=0, PolicyID="1")).Result, FAILED)

    def test_record_full_and_loop(self) -> None:
        """§7.5.28–§7.5.31: RecordFull per channel and medium (off), RecordLoop per medium (on)."""
        get_full = GetRecordFullRequest(DevID=DEV_ID, ChannelNo=0, StorageFlag=1)
        self.assertEqual(self.ask(get_full).RecordFull, 0)
        set_full = SetRecordFullRequest(DevID=DEV_ID, ChannelNo=0, StorageFlag=1, RecordFull=1)
        self.assertEqual(self.ask(set_full).Result, OK)
        self.assertEqual(self.ask(get_full).RecordFull, 1)
        self.assertEqual(self.ask(GetRecordFullRequest(DevID=DEV_ID, ChannelNo=0, StorageFlag=2)).RecordFull, 0)
        get_loop = GetRecordLoopRequest(DevID=DEV_ID, StorageFlag=1)
        self.assertEqual(self.ask(get_loop).RecordLoop, 1)
        self.assertEqual(self.ask(SetRecordLoopRequest(DevID=DEV_ID, RecordLoop=0, StorageFlag=1)).Result, OK)
        self.assertEqual(self.ask(get_loop).RecordLoop, 0)
        self.assertEqual(self.ask(SetRecordLoopRequest(DevID=DEV_ID, RecordLoop=0, StorageFlag=3)).Result, FAILED)

    def test_estore(self) -> None:
        """§7.5.11–§7.5.12, §7.5.38."""
        self.assertEqual(self.ask(GetEStoreRequest(DevID=DEV_ID)).URL, None)
        self.assertEqual(self.ask(sample_request(SetEStoreRequest)).Result, OK)
        got = self.ask(GetEStoreRequest(DevID=DEV_ID))
        self.assertEqual(
            (got.URL, got.Account, got.Password, got.ERecordBucket), ("http://oos.ctyun.cn/auth", "AK", "SK", "records")
        )
        self.assertEqual(self.state.estore_active, 1)
        self.assertEqual(self.ask(EStoreActivateRequest(DevID=DEV_ID, Flag=0)).Result, OK)
        self.assertEqual(self.state.estore_active, 0)
        nvr = DeviceState(NVR_ID, "key", NVR)
        self.assertEqual(self.ask(sample_request(SetEStoreRequest, NVR_ID), nvr).Result, FAILED)

    def test_nvr_bindings(self) -> None:
        """§7.5.18–§7.5.21; unbinding also deletes the channel's recording policies."""
        nvr = DeviceState(NVR_ID, "key", NVR, channel_num=4)
        link = attrs.evolve(sample_request(NvrLinkIpcamRequest, NVR_ID), ChannelNo=2)
        self.assertEqual(self.ask(link, nvr).Result, OK)
        self.assertEqual(self.ask(attrs.evolve(link, ChannelNo=3), nvr).Result, FAILED)  # already on channel 2
        self.assertEqual(self.ask(attrs.evolve(link, IpcamDevID="81100000009"), nvr).Result, FAILED)  # channel taken
        modify = attrs.evolve(sample_request(NvrModifyIpcamRequest, NVR_ID), IpcamLocalIP="192.168.1.99")
        self.assertEqual(self.ask(modify, nvr).Result, OK)
        self.assertEqual(nvr.nvr_bindings()[2].IpcamLocalIP, "192.168.1.99")
        channels = self.ask(NvrQueryIpcamRequest(DevID=NVR_ID), nvr).Channel
        self.assertEqual([(c.ChannelNo, c.IpcamDevID) for c in channels], [(2, DEV_ID)])
        self.ask(AddRecordPolicyRequest(DevID=NVR_ID, ChannelNo=2, WeekPolicy=[week(1)]), nvr)
        self.assertEqual(self.ask(NvrDelIpcamRequest(DevID=NVR_ID, ChannelNo=2), nvr).Result, OK)
        self.assertEqual(self.ask(NvrQueryIpcamRequest(DevID=NVR_ID), nvr).Channel, ())
        self.assertEqual(nvr.record_policies(2), [])
        self.assertEqual(self.ask(sample_request(NvrLinkIpcamRequest)).Result, FAILED)  # an IPC binds nothing

    def test_file_query(self) -> None:
        """§7.5.22: deterministic 15-minute files, ten a page, TotalRecordNum."""
        query = FileQueryRequest(DevID=DEV_ID, ChannelNo=0, StartTime="202311150010", EndTime="202311150400", PageNo=1)
        first = self.ask(query)
        self.assertEqual((first.Result, first.TotalRecordNum, len(first.File)), (OK, 15, 10))
        self.assertEqual(first.File[0].FileName, f"{DEV_ID}_0_20231115001500.mp4")
        self.assertEqual((first.File[0].StartTime, first.File[0].EndTime), ("202311150015", "202311150030"))
        self.assertGreater(first.File[0].FileSize, 100_000_000)
        second = self.ask(attrs.evolve(query, PageNo=2))
        self.assertEqual([f.StartTime for f in second.File][-1], "202311150345")
        self.assertEqual(len(second.File), 5)
        self.assertEqual(self.ask(attrs.evolve(query, PageNo=3)).File, ())
        self.assertEqual(self.ask(query), first)
        self.assertEqual(self.ask(attrs.evolve(query, ChannelNo=1)).Result, FAILED)
        self.assertEqual(self.ask(attrs.evolve(query, EndTime="2023")).Result, FAILED)
        self.assertEqual(self.ask(attrs.evolve(query, EndTime="202311140000")).Result, FAILED)

    def test_storage(self) -> None:
        """§7.5.36–§7.5.37: STORE_QUERY's Result is the medium's state; formatting frees it."""
        queried = self.ask(StoreQueryRequest(DevID=DEV_ID))
        self.assertEqual((queried.Result, queried.TotalSize), (1, 30436))
        self.assertLess(queried.FreeSize, queried.TotalSize)
        formatted = self.ask(StoreFormatRequest(DevID=DEV_ID))
        self.assertEqual((formatted.Result, formatted.FreeSize), (OK, 30436))
        self.assertEqual(self.ask(StoreQueryRequest(DevID=DEV_ID)).FreeSize, 30436)
        self.state.set_local_store(0)
        self.assertEqual(self.ask(StoreQueryRequest(DevID=DEV_ID)).Result, 0)
        self.assertEqual(self.ask(StoreFormatRequest(DevID=DEV_ID)).Result, 1)
        self.state.set_local_store(3)
        self.assertEqual(self.ask(StoreFormatRequest(DevID=DEV_ID)).Result, 2)

    def test_maintenance_and_reset(self) -> None:
        """REBOOT, UPGRADE, LOG_UPLOAD, RESET_DEFAULT: Result 0, recorded; a reset restores the defaults."""
        self.ask(SetChannelRequest(DevID=DEV_ID, ChannelNo=0, StreamType=1, FrameRate=5))
        self.ask(SetAlarmRequest(DevID=DEV_ID, ChannelNo=0, AlarmType=1, AlarmFlag=1))
        for cls in (RebootRequest, UpgradeRequest, ResetDefaultRequest):
            self.assertEqual(self.ask(sample_request(cls)).Result, OK)
        roots = [root for root, _ in self.state.maintenance_log]
        self.assertEqual(roots, ["REBOOT_REQ", "UPGRADE_REQ", "RESET_DEFAULT_REQ"])
        self.assertFalse(self.state.has_settings)
        self.assertEqual(self.ask(GetChannelRequest(DevID=DEV_ID, ChannelNo=0, StreamType=1)).FrameRate, 25)
        self.assertEqual(self.ask(GetAlarmRequest(DevID=DEV_ID, ChannelNo=0, AlarmType=1)).AlarmFlag, 0)
        bad_upgrade = attrs.evolve(sample_request(UpgradeRequest), FtpPort=0)
        self.assertEqual(self.ask(bad_upgrade).Result, FAILED)

    def test_builders(self) -> None:
        alarm = self.state.alarm_request(0, 4, when=NOW, dido_no=1, desc="door")
        self.assertEqual((alarm.FileName, alarm.DIDONo), (f"{DEV_ID}_0_20231115061320.JPG", 1))
        self.assertIsNone(self.state.alarm_request(0, 1, dido_no=1).DIDONo)
        self.assertEqual(self.state.manufacturer_no, "811")
        self.assertTrue(self.state.set_addresses(TurnRelayIP="1.2.3.4"))
        self.assertEqual(self.state.heartbeat_request().TurnRelayIP, "1.2.3.4")
        self.assertEqual(self.state.login_request().TurnRelayIP, "1.2.3.4")
        self.assertFalse(self.state.set_addresses(NetType=1))
        nvr = DeviceState(NVR_ID, "key", NVR, channel_num=8)
        ability = nvr.ability_request()
        self.assertEqual((ability.ChannelNum, ability.EStoreFlag, ability.Onvif), (8, 0, None))


def _sim_imports() -> dict[str, set[str]]:
    """Module -> the kandian.sim modules it imports anywhere in its body (function-level too)."""
    import kandian.sim

    graph: dict[str, set[str]] = {}
    for path in Path(kandian.sim.__file__).parent.glob("*.py"):
        name = "kandian.sim" if path.stem == "__init__" else f"kandian.sim.{path.stem}"
        found = graph.setdefault(name, set())
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            found.update(t for t in targets if t.startswith("kandian.sim.") and t != name)
    return graph


class LayeringTests(SynchronousTestCase):
    def test_no_import_cycle(self) -> None:
        """state is the bottom of the simulator: no kandian.sim module imports one that imports it back."""
        graph = _sim_imports()
        self.assertEqual(graph["kandian.sim.state"], set())

        def reach(start: str) -> set[str]:
            seen: set[str] = set()
            todo = [start]
            while todo:
                for nxt in graph.get(todo.pop(), ()):
                    if nxt not in seen:
                        seen.add(nxt)
                        todo.append(nxt)
            return seen

        self.assertEqual([m for m in sorted(graph) if m in reach(m)], [])


class MemoryTests(SynchronousTestCase):
    def measure(self, build: Any, count: int) -> float:
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            kept = [build(index) for index in range(count)]
            gc.collect()
            used = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        self.assertEqual(len(kept), count)
        return used / count

    def test_idle_states_are_small(self) -> None:
        """10,000 idle device states; about 290 bytes each when measured (see the report)."""
        per_state = self.measure(lambda i: DeviceState(str(81100000000 + i), f"key-{81100000000 + i}"), 10_000)
        self.assertLess(per_state, 1024)

    def test_idle_links_are_small(self) -> None:
        """1,000 logged-in links without transports' own buffers; measured about 3 KB each."""

        class Discard:
            disconnecting = False

            def write(self, data: bytes) -> None:
                pass

        clock = Clock()

        def online(index: int) -> DeviceLink:
            dev_id = str(81100000000 + index)
            link = DeviceLink(DeviceState(dev_id, f"key-{dev_id}"), clock)
            link.makeConnection(Discard())
            link.dataReceived(Frame(0x31, 0, LoginResponse(Result=0, DevID=dev_id).to_xml()).to_wire())
            link.dataReceived(Frame(0x32, 1, AbilityUpResponse(DevID=dev_id, Time="20231115061320").to_xml()).to_wire())
            return link

        per_link = self.measure(online, 1000)
        self.assertLess(per_link, 8192)
        for call in clock.getDelayedCalls():
            call.cancel()


# -- registration (§7.2) -----------------------------------------------------------


class FakeResponse:
    def __init__(self, code: int, body: bytes) -> None:
        self.code = code
        self.phrase = b"OK"
        self.body = body
        self.length = len(body)

    def deliverBody(self, protocol: Any) -> None:
        protocol.makeConnection(StringTransport())
        protocol.dataReceived(self.body)
        protocol.connectionLost(Failure(ResponseDone()))


@implementer(IAgent)
class FakeAgent:
    """Records requests; answers with a canned response, or by *handler*."""

    def __init__(self, code: int = 200, body: bytes = b"", handler: Any = None) -> None:
        self.requests: list[tuple[bytes, bytes, Any, bytes]] = []
        self.code = code
        self.body = body
        self.handler = handler

    def request(self, method: bytes, uri: bytes, headers: Any = None, bodyProducer: Any = None) -> Deferred[Any]:
        chunks: list[bytes] = []

        class Consumer:
            def write(self, data: bytes) -> None:
                chunks.append(data)

        bodyProducer.startProducing(Consumer())
        body = b"".join(chunks)
        self.requests.append((method, uri, headers, body))
        if self.handler is not None:
            return self.handler(body)
        return succeed(FakeResponse(self.code, self.body))


REGISTER_RES = RegisterResponse(
    Result=0, DevID=DEV_ID, NatIP="10.1.1.1", NatPort=8588, BackupNatIP="10.1.1.2", BackupNatPort=8588,
    TurnIP="10.1.1.3", TurnPort=3478, FtpIP="10.1.1.4", FtpPort=21, FtpAccount="ftp", FtpPassword="pw",
    Time="20231115061320",
).to_xml()


class RegisterTests(SynchronousTestCase):
    def test_posts_register_req(self) -> None:
        agent = FakeAgent(body=REGISTER_RES)
        state = DeviceState(DEV_ID, "key-1", model="DS-2CD")
        result = self.successResultOf(register(agent, "http://127.0.0.1:8589/register", state))
        [(method, uri, headers, body)] = agent.requests
        self.assertEqual((method, uri), (b"POST", b"http://127.0.0.1:8589/register"))
        self.assertEqual(headers.getRawHeaders(b"Content-Type"), [CONTENT_TYPE])
        self.assertEqual(
            RegisterRequest.from_xml(body),
            RegisterRequest(ManufacturerNo="811", Mode="DS-2CD", DevType=1, DevID=DEV_ID, DevKey="key-1"),
        )
        self.assertTrue(result.ok)
        self.assertEqual((result.link_address, result.backup_link_address), (("10.1.1.1", 8588), ("10.1.1.2", 8588)))
        self.assertEqual((result.response.FtpIP, result.response.Time), ("10.1.1.4", "20231115061320"))

    def test_refusal_is_a_result(self) -> None:
        agent = FakeAgent(body=RegisterResponse(Result=2, DevID=DEV_ID).to_xml())
        result = self.successResultOf(register(agent, "http://x/register", DeviceState(DEV_ID, "bad")))
        self.assertFalse(result.ok)
        self.assertIsNone(result.link_address)

    def test_http_error_without_body(self) -> None:
        agent = FakeAgent(code=401, body=b"Unauthorized")
        failure = self.failureResultOf(register(agent, "http://x/register", DeviceState(DEV_ID, "k")), RegisterError)
        self.assertEqual(failure.value.code, 401)

    def test_timeout(self) -> None:
        clock = Clock()
        agent = FakeAgent(handler=lambda body: Deferred())
        d = register(agent, "http://x/register", DeviceState(DEV_ID, "k"), timeout=5, clock=clock)
        clock.advance(5)
        self.failureResultOf(d)


# -- the fleet ----------------------------------------------------------------------


class AutoPlatform:
    """Connects fleet devices to StringTransports and answers them on the next clock tick."""

    def __init__(self, clock: Clock, refuse: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.clock = clock
        self.refuse = refuse
        self.links: list[tuple[DeviceLink, Platform]] = []
        self.addresses: list[tuple[str, int]] = []

    def connect(self, state: DeviceState, address: tuple[str, int], bind: str | None) -> Deferred[DeviceLink]:
        self.addresses.append(address)
        link = DeviceLink(state, self.clock, heartbeat_interval=30)
        transport = StringTransport()
        link.makeConnection(transport)
        platform = Platform(link, transport)
        self.links.append((link, platform))
        self.clock.callLater(0.01, self.serve, link, platform)
        return succeed(link)

    def serve(self, link: DeviceLink, platform: Platform) -> None:
        if platform.transport.disconnecting:
            link.connectionLost(Failure(ConnectionDone()))
            return
        for frame, message in platform.received():
            dev_id = message.DevID  # type: ignore[attr-defined]
            if frame.cmd == 0x31:
                result = 2 if dev_id in self.refuse else 0
                platform.answer((frame, message), LoginResponse(Result=result, DevID=dev_id))
            elif frame.cmd == 0x32:
                platform.answer((frame, message), AbilityUpResponse(DevID=dev_id, Time="20231115061320"))
            elif frame.cmd == 0x33:
                platform.answer((frame, message), HeartbeatResponse(DevID=dev_id, Time="20231115061320"))
            elif frame.cmd == 0x37:
                platform.answer((frame, message), AlarmNotifyResponse(Result=0, DevID=dev_id))
        self.clock.callLater(0.01, self.serve, link, platform)


class FleetTests(SynchronousTestCase):
    def run_fleet(self, clock: Clock, platform: AutoPlatform, **options: Any) -> tuple[Fleet, list[str]]:
        lines: list[str] = []
        fleet = Fleet(None, clock=clock, connect=platform.connect, report=lines.append, **options)
        fleet.start()
        return fleet, lines

    def stop(self, fleet: Fleet, clock: Clock) -> Any:
        stopped = fleet.stop()
        clock.pump([0.01] * 5)  # alarms in flight answered, then the links closed
        summary = self.successResultOf(stopped)
        self.assertEqual(clock.getDelayedCalls(), [])
        return summary

    def test_connects_at_the_rate_and_stays_online(self) -> None:
        clock = Clock()
        platform = AutoPlatform(clock)
        fleet, lines = self.run_fleet(
            clock, platform, count=20, link="127.0.0.1:8588", connect_rate=10, alarm_every=10, status_every=1
        )
        all_online = fleet.all_online()
        clock.pump([0.05] * 20)  # 1 s: ten devices
        self.assertIn(len(platform.links), (10, 11))
        clock.pump([0.05] * 30)
        # The 20th device connects at 1.9 s and is answered on the next step.
        self.assertAlmostEqual(self.successResultOf(all_online), 1.95)
        self.assertEqual(len(fleet.links), 20)
        clock.pump([0.05] * 400)  # 20 s: heartbeats every 30 s, alarms
        self.assertEqual(fleet.counters.online, 20)
        self.assertRegex(lines[0], r"^\[    1.0 s\] online (9|10)/20 ")
        self.assertEqual(platform.addresses, [("127.0.0.1", 8588)] * 20)
        summary = self.stop(fleet, clock)
        self.assertEqual((summary.counters.logins, summary.counters.online, summary.counters.disconnects), (20, 20, 0))
        self.assertGreater(summary.counters.alarms_acked, 20)
        c = summary.counters
        self.assertEqual(c.alarms_acked + c.alarms_failed, c.alarms_sent)
        self.assertEqual(c.alarms_failed, 0)
        self.assertIn("20 devices, all online after 2.0 s (10 logins/s)", summary.line())

    def test_stop_waits_for_the_answers_to_alarms_in_flight(self) -> None:
        """An alarm sent just before stop() is answered, not counted failed (the .deb's install test counts them)."""
        clock = Clock()
        platform = AutoPlatform(clock)
        fleet, _ = self.run_fleet(clock, platform, count=1, link="127.0.0.1:8588", connect_rate=10)
        clock.pump([0.05] * 4)
        self.assertEqual(fleet.counters.online, 1)
        fleet.alarm_every = 0.001  # the next tick sends alarms
        clock.advance(0.05)
        fleet.alarm_every = None
        sent = fleet.counters.alarms_sent
        self.assertGreater(sent, 0)
        stopped = fleet.stop()
        self.assertNoResult(stopped)
        clock.pump([0.01] * 5)
        summary = self.successResultOf(stopped)
        self.assertEqual((summary.counters.alarms_acked, summary.counters.alarms_failed), (sent, 0))
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_refused_login_is_retried_later(self) -> None:
        """§7.3.3: a refused device closes its link and tries again after 180 s."""
        clock = Clock()
        platform = AutoPlatform(clock, refuse={"81100000001"})
        fleet, _ = self.run_fleet(clock, platform, count=2, link=("127.0.0.1", 8588), connect_rate=100)
        clock.pump([0.05] * 20)
        self.assertEqual((fleet.counters.online, fleet.counters.login_refused), (1, 1))
        clock.pump([1] * 170)
        self.assertEqual(len(platform.links), 2)
        clock.pump([1] * 15)
        self.assertEqual((len(platform.links), fleet.counters.login_refused), (3, 2))
        self.stop(fleet, clock)

    def test_registers_then_connects_where_told(self) -> None:
        clock = Clock()
        platform = AutoPlatform(clock)
        agent = FakeAgent(body=REGISTER_RES)
        fleet, _ = self.run_fleet(
            clock, platform, count=1, register_url="http://r/register", agent=agent, first_devid=DEV_ID
        )
        clock.pump([0.05] * 4)
        self.assertEqual(fleet.counters.registered, 1)
        self.assertEqual(platform.addresses, [("10.1.1.1", 8588)])
        self.assertEqual(fleet.counters.online, 1)
        self.stop(fleet, clock)


class ConnectDeviceTests(TestCase):
    """connect_device to a "host:port" or a (host, port) over real TCP on loopback (connectTCP, no endpoint)."""

    @inlineCallbacks
    def test_fires_with_the_link_once_it_sent_its_login(self):
        received: list[bytes] = []

        class Record(Protocol):
            def dataReceived(self, data: bytes) -> None:
                received.append(data)

        port = reactor.listenTCP(0, Factory.forProtocol(Record), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        address = ("127.0.0.1", port.getHost().port)
        for where in (address, "127.0.0.1:%d" % (address[1],)):
            link = yield connect_device(reactor, where, DeviceState(DEV_ID, "key"), request_timeout=None)
            self.assertIsInstance(link, DeviceLink)
            self.assertEqual(link.next_seq, 1)  # LOGIN_REQ was sent from connectionMade, before this fired
            closed = link.when_closed()
            link.close()
            yield closed

    @inlineCallbacks
    def test_neither_end_holds_a_small_frame_for_nagle(self):
        """TCP_NODELAY on both ends of a device link: a command or its answer written while the frame before
        it is unacknowledged goes out at once, not after the peer's delayed ACK (40 ms on Linux)."""
        platform_side: list[PlatformLink] = []

        class Controller:
            def login(self, link, request):
                return Deferred()  # never answered: only the socket options matter here

            def link_lost(self, link):
                pass

        def build(addr):
            link = PlatformLink(Controller(), reactor, login_timeout=30, heartbeat_timeout=360, command_timeout=10)
            platform_side.append(link)
            return link

        factory = Factory()
        factory.buildProtocol = build
        port = reactor.listenTCP(0, factory, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        link = yield connect_device(reactor, ("127.0.0.1", port.getHost().port), DeviceState(DEV_ID, "key"),
                                    request_timeout=None)
        closed = link.when_closed()
        self.addCleanup(lambda: closed)
        self.addCleanup(link.close)
        for _ in range(100):
            if platform_side:
                break
            yield deferLater(reactor, 0.01, lambda: None)
        for end in (link, platform_side[0]):
            self.assertEqual(end.transport.getHandle().getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY), 1)
        platform_side[0].transport.loseConnection()

    @inlineCallbacks
    def test_a_refused_connection_fails_it(self):
        port = reactor.listenTCP(0, Factory.forProtocol(Protocol), interface="127.0.0.1")
        number = port.getHost().port
        yield port.stopListening()
        with self.assertRaises(ConnectionRefusedError):
            yield connect_device(reactor, ("127.0.0.1", number), DeviceState(DEV_ID, "key"))
