"""spec/000 on the running service: the file's examples as test vectors, its codes for bad input.

A simulated camera holds its link (its §7.5.22 storage lists a 15-minute
file every quarter hour); the account is a kandian user it is bound to.
No player connects here — what is steered is kept for the player's PLAY
(tests/test_core_playsessions.py); the relay and a real player are in
tests/test_mvb_e2e.py.
"""

from __future__ import annotations

import os
import re

from twisted.internet import defer, reactor
from twisted.web.client import Agent, readBody
from twisted.web.http_headers import Headers

from kandian.mvb import codec
from kandian.playurl import parse_play_url

from . import test_metrics
from .mcu_helpers import PASSWORD, McuTestCase
from .test_register import Body

VECTORS = os.path.join(os.path.dirname(__file__), "vectors", "spec000")
A, B = "13800000001", "13800000002"
CAM, CAM2, NVR = "81100000001", "81100000002", "81100000003"
ON = "listen = tcp:0:interface=127.0.0.1\n"
FILES = "file_server = tcp:0:interface=127.0.0.1\n"  # [media]: the daemon's file server on a free port


def vector(action: str, kind: str = "request") -> str:
    with open(os.path.join(VECTORS, "%s.%s.xml" % (action, kind)), encoding="utf-8") as f:
        return f.read()


def filled(action: str, **values) -> bytes:
    """The file's example request with *values* put in its elements, in GB2312 as it declares."""
    text = vector(action)
    for tag, value in values.items():
        text, n = re.subn(r"<%s>[^<]*</%s>" % (tag, tag), "<%s>%s</%s>" % (tag, value, tag), text)
        assert n == 1, (action, tag)
    return text.encode("gb2312")


def shape(xml: bytes) -> list[str]:
    """The element names of an answer, in order (RecordList's items once)."""
    names = re.findall(rb"<([A-Za-z]+)[ >]", xml)
    seen = []
    for name in names:
        if name.decode() not in seen:
            seen.append(name.decode())
    return seen


class MvbTestCase(McuTestCase):
    settings = {"mvb": ON, "media": FILES}

    @defer.inlineCallbacks
    def setUp(self):
        yield super().setUp()
        self.link = yield self.camera(CAM, channels=2)
        yield self.users.add(A, PASSWORD, 4)
        yield self.bind(A, CAM)

    @defer.inlineCallbacks
    def post(self, action: str, body: bytes, method=b"POST", path=None):
        url = b"http://127.0.0.1:%d%s" % (self.port("mvb"), path or b"/mobileservice/" + action.encode())
        response = yield Agent(reactor).request(method, url, Headers({b"content-type": [b"text/xml"]}),
                                                Body(body) if body is not None else None)
        data = yield readBody(response)
        return response, data

    @defer.inlineCallbacks
    def call(self, action: str, body: bytes):
        """(declared encoding, MvbResponse, raw answer) of an action answered with HTTP 200."""
        response, data = yield self.post(action, body)
        self.assertEqual(response.code, 200, data)
        encoding, answer = codec.decode_response(data)
        self.assertEqual(response.headers.getRawHeaders(b"content-type"),
                         [b"text/xml; charset=" + encoding.encode()])
        return encoding, answer, data

    def play_body(self, **values):
        fields = dict(DeviceID=CAM, ParentId="", DeviceChn="0", DeviceUser=A, DevicePass=PASSWORD)
        fields.update(values)
        return filled("play", **fields)

    @defer.inlineCallbacks
    def status(self, action: str, body: bytes):
        _, answer, _ = yield self.call(action, body)
        return answer.status


class ExampleTests(MvbTestCase):
    @defer.inlineCallbacks
    def test_each_example_is_answered_in_the_files_shape(self):
        encoding, answer, data = yield self.call("play", self.play_body(BeginTime="2026-11-18T18:05:00",
                                                                          EndTime="2026-11-18T18:30:00"))
        self.assertEqual((encoding, answer.status, answer.description), ("GB2312", 0, "请求成功"))
        self.assertEqual(shape(data), shape(vector("play", "response").encode()))
        self.assertTrue(data.startswith(b'<?xml version="1.0" encoding="GB2312" ?>'))
        url = parse_play_url(answer.play_url)
        self.assertEqual((url.dev_id, url.channel_no, url.file_name), (CAM, 0, CAM + "_0_20261118180000.mp4"))
        self.assertTrue(answer.play_url.startswith("rtsp://127.0.0.1:%d/realplay?" % self.port("rtsp")))
        session = answer.session
        self.assertRegex(session, r"^[1-9][0-9]{0,9}$")
        steps = [("changespeed", {"session": session, "Speed": "2.0"}, "请求成功"),
                 ("changeplayposition", {"session": session}, None),
                 ("pauseplay", {"session": session}, "暂停播放成功"),
                 ("resumeplay", {"session": session}, "暂停播放成功"),
                 ("stopplay", {"session": session}, "请求成功")]
        for action, values, description in steps:
            body = filled(action, **values)
            if action == "changeplayposition":  # the file gives no field for the position: play's BeginTime
                body = body.replace(b"</Request>", b"<BeginTime>2026-11-18T18:10:00</BeginTime></Request>")
                description = "改变播放位置成功"
            encoding, answer, data = yield self.call(action, body)
            self.assertEqual((encoding, answer.status, answer.description, answer.session),
                             ("GB2312", 0, description, session), action)
            self.assertEqual(shape(data), shape(vector(action, "response").encode()), action)
        session_state = self.service.platform.core.play_sessions.get(int(session))
        self.assertTrue(session_state.ended)
        self.assertEqual((session_state.speed, session_state.pending_position), (2.0, 600.0))

    @defer.inlineCallbacks
    def test_live_play_is_the_relay_url_of_the_main_stream(self):
        _, answer, _ = yield self.call("play", self.play_body())
        url = parse_play_url(answer.play_url)
        self.assertEqual((url.dev_id, url.channel_no, url.stream_type), (CAM, 0, 1))
        _, answer, _ = yield self.call("play", self.play_body(DeviceChn="1"))
        self.assertEqual(parse_play_url(answer.play_url).channel_no, 1)

    @defer.inlineCallbacks
    def test_queryrecordfile_lists_the_devices_files_of_today(self):
        body = filled("queryrecordfile", DeviceID=CAM, DeviceChn="1", DeviceUser=A, DevicePass=PASSWORD)
        encoding, answer, data = yield self.call("queryrecordfile", body)
        self.assertEqual((encoding, answer.status, answer.description), ("GB2312", 0, "暂停播放成功"))
        self.assertEqual(shape(data), shape(vector("queryrecordfile", "response").encode()))
        # 19:06:40 in Asia/Shanghai: the files of 00:00 … 19:00, the last still being written
        self.assertEqual(len(answer.records), 77)
        self.assertEqual(answer.records[0], codec.RecordItem(CAM, "2026-11-18T00:00:00", "2026-11-18T00:15:00"))
        self.assertEqual(answer.records[-1].start, "2026-11-18T19:00:00")

    @defer.inlineCallbacks
    def test_queryrecordfile_in_a_time(self):
        body = filled("queryrecordfile", DeviceID=CAM, DeviceChn="0", DeviceUser=A, DevicePass=PASSWORD,
                      BeginTime="2026-11-17T10:20:00", EndTime="2026-11-17T11:00:00")
        _, answer, _ = yield self.call("queryrecordfile", body)
        self.assertEqual([r.start[11:] for r in answer.records], ["10:15:00", "10:30:00", "10:45:00"])

    @defer.inlineCallbacks
    def test_utf8_in_utf8_out(self):
        body = codec.encode_request([("RequestID", "99"), ("DeviceID", CAM), ("DeviceUser", A),
                                     ("DevicePass", PASSWORD)], "UTF-8")
        encoding, answer, data = yield self.call("play", body)
        self.assertEqual((encoding, answer.request_id, answer.status), ("UTF-8", "99", 0))
        self.assertIn("请求成功".encode(), data)


class RefusalTests(MvbTestCase):
    @defer.inlineCallbacks
    def test_who_and_which_device(self):
        yield self.camera(CAM2, online=False)
        yield self.users.add(B, PASSWORD, 4)
        yield self.bind(B, CAM2)
        cases = [
            (self.play_body(DevicePass="wrong"), 2),
            (self.play_body(DeviceUser="13899999999"), 2),
            (self.play_body(DeviceUser=""), 2),
            (self.play_body(DeviceID="44030100001310000002"), 4),  # the file's own id: no such device here
            (self.play_body(DeviceID=CAM2), 4),  # somebody else's
            (self.play_body(DeviceChn="5"), 4),
            (self.play_body(DeviceChn="x"), 2),
            (self.play_body(DeviceUser=B, DeviceID=CAM2), 3),  # offline
            (self.play_body(BeginTime="yesterday"), 2),
            (self.play_body(BeginTime="2026-11-18T10:00:00", EndTime="2026-11-18T09:00:00"), 2),
            (self.play_body(EndTime="2026-11-18T10:00:00"), 2),
        ]
        for body, expected in cases:
            encoding, answer, _ = yield self.call("play", body)
            self.assertEqual((answer.status, answer.description, answer.session),
                             (expected, {2: "参数不正确", 3: "通讯失败", 4: "设备未注册"}[expected], None), body)
        stats = self.service.platform.mvb_stats
        self.assertEqual(stats.requests["play"], len(cases))
        self.assertEqual(stats.answers[2], 7)

    @defer.inlineCallbacks
    def test_an_nvr_channel_by_parent_id(self):
        yield self.camera(NVR, channels=4)
        yield self.bind(A, NVR)
        _, answer, _ = yield self.call("play", self.play_body(DeviceID="44030100001310000002", ParentId=NVR,
                                                              DeviceChn="3"))
        url = parse_play_url(answer.play_url)
        self.assertEqual((url.dev_id, url.channel_no), (NVR, 3))
        _, answer, _ = yield self.call("play", self.play_body(DeviceID="x", ParentId=NVR, DeviceChn=""))
        self.assertEqual(answer.status, 2)

    @defer.inlineCallbacks
    def test_sessions(self):
        for action in ("stopplay", "pauseplay", "resumeplay", "changespeed", "changeplayposition"):
            body = filled(action, session="12345")
            _, answer, _ = yield self.call(action, body)
            self.assertEqual((answer.status, answer.description, answer.session), (7, "呼叫不存在", "12345"), action)
            for bad in ("", "abc", "-1", "99999999999"):
                _, answer, _ = yield self.call(action, filled(action, session=bad))
                self.assertEqual(answer.status, 2, (action, bad))
        _, live, _ = yield self.call("play", self.play_body())
        for speed in ("", "fast", "0", "100", "nan"):
            answer = yield self.status("changespeed", filled("changespeed", session=live.session, Speed=speed))
            self.assertEqual(answer, 2, speed)
        # a live stream has no position; changeplayposition without one
        answer = yield self.status("changeplayposition", filled("changeplayposition", session=live.session).replace(
            b"</Request>", b"<Position>30</Position></Request>"))
        self.assertEqual(answer, 8)
        answer = yield self.status("changeplayposition", filled("changeplayposition", session=live.session))
        self.assertEqual(answer, 2)
        self.assertEqual((yield self.status("stopplay", filled("stopplay", session=live.session))), 0)
        self.assertEqual((yield self.status("stopplay", filled("stopplay", session=live.session))), 0)
        self.assertEqual((yield self.status("pauseplay", filled("pauseplay", session=live.session))), 7)
        # a stopped session's URL is refused by the relay (401) without using its token
        self.assertIsNotNone(self.service.platform.core.play_sessions.for_token(parse_play_url(live.play_url).token))

    @defer.inlineCallbacks
    def test_recordings(self):
        # a position outside the file being played
        _, rec, _ = yield self.call("play", self.play_body(BeginTime="2026-11-18T18:05:00"))
        body = filled("changeplayposition", session=rec.session).replace(
            b"</Request>", b"<BeginTime>2026-11-18T18:20:00</BeginTime></Request>")
        self.assertEqual((yield self.status("changeplayposition", body)), 100015)
        body = filled("changeplayposition", session=rec.session).replace(
            b"</Request>", b"<Position>120</Position></Request>")
        self.assertEqual((yield self.status("changeplayposition", body)), 0)
        self.link.state.set_local_store(0)  # no medium: the device refuses §7.5.22
        body = filled("queryrecordfile", DeviceID=CAM, DeviceChn="0", DeviceUser=A, DevicePass=PASSWORD)
        self.assertEqual((yield self.status("queryrecordfile", body)), 5)
        self.assertEqual((yield self.status("play", self.play_body(BeginTime="2026-11-18T18:05:00"))), 5)

    @defer.inlineCallbacks
    def test_no_recording_in_that_time(self):
        self.link.state.set_local_store(1)
        body = filled("queryrecordfile", DeviceID=CAM, DeviceChn="0", DeviceUser=A, DevicePass=PASSWORD,
                      BeginTime="2026-11-18T10:01:00", EndTime="2026-11-18T10:02:00")
        encoding, answer, _ = yield self.call("queryrecordfile", body)
        self.assertEqual((answer.status, answer.description), (0, "暂停播放成功"))  # 10:00-10:15 covers it
        self.assertEqual(len(answer.records), 1)

    @defer.inlineCallbacks
    def test_unreadable_bodies_paths_and_methods(self):
        _, answer, _ = yield self.call("play", b"<Request><RequestID>41</RequestID><DeviceID>")
        self.assertEqual((answer.request_id, answer.status, answer.description), ("41", 2, "参数不正确"))
        _, answer, _ = yield self.call("play", b'<?xml version="1.0" encoding="GB2312"?><Request>\xff\xff</Request>')
        self.assertEqual(answer.status, 2)
        _, answer, _ = yield self.call("play", b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
                                               b"<Request><DeviceID>&e;</DeviceID></Request>")
        self.assertEqual(answer.status, 2)
        response, data = yield self.post("Play", filled("play"))
        self.assertEqual(response.code, 404)
        self.assertEqual(codec.decode_response(data)[1].status, 2)
        response, data = yield self.post("x", b"", path=b"/")
        self.assertEqual(response.code, 404)
        response, data = yield self.post("play", None, method=b"GET")
        self.assertEqual((response.code, response.headers.getRawHeaders(b"allow")), (405, [b"POST"]))
        response, data = yield self.post("play", b"<Request>" + b"x" * 70000 + b"</Request>")
        self.assertEqual(response.code, 413)
        self.assertEqual(self.service.platform.mvb_stats.bad_requests, 6)


class MetricsTests(MvbTestCase):
    scrape = test_metrics.MetricsTests.scrape

    @defer.inlineCallbacks
    def test_requests_answers_sessions(self):
        yield self.call("play", self.play_body())
        yield self.call("play", self.play_body(DevicePass="wrong"))
        yield self.post("nothing", b"")
        samples = yield self.scrape()
        self.assertEqual(samples[("kandian_mvb_requests_total", (("action", "play"),))], 2)
        self.assertEqual(samples[("kandian_mvb_answers_total", (("status", "0"),))], 1)
        self.assertEqual(samples[("kandian_mvb_answers_total", (("status", "2"),))], 2)
        self.assertEqual(samples[("kandian_mvb_bad_requests_total", ())], 1)
        self.assertEqual(samples[("kandian_play_sessions", ())], 1)
        self.assertEqual(samples[("kandian_play_sessions_opened_total", ())], 1)
