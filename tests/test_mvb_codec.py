"""spec/000's XML (kandian.mvb.codec): the file's own examples, round trips, encodings, hostile bodies."""

from __future__ import annotations

import os
import zoneinfo

from hypothesis import given, strategies as st
from twisted.trial import unittest

from kandian.mvb import codec
from kandian.mvb.codec import MvbFormatError, MvbResponse, RecordItem

from .strategies import mvb_encodings, mvb_fields

VECTORS = os.path.join(os.path.dirname(__file__), "vectors", "spec000")
ACTIONS = ("play", "stopplay", "changespeed", "changeplayposition", "pauseplay", "resumeplay", "queryrecordfile")
ZONE = zoneinfo.ZoneInfo("Asia/Shanghai")


def vector(action: str, kind: str = "request") -> str:
    with open(os.path.join(VECTORS, "%s.%s.xml" % (action, kind)), encoding="utf-8") as f:
        return f.read()


class ExampleTests(unittest.TestCase):
    def test_the_files_requests_read_as_gb2312_with_their_escaped_quotes_and_comments(self):
        play = codec.decode_request(vector("play").encode("gb2312"))
        self.assertEqual(play.encoding, "GB2312")
        self.assertEqual(play.fields, {
            "RequestID": "1", "DeviceID": "44030100001310000002", "ParentId": "44030100001310000002",
            "DeviceIP": "172.16.16.111", "DevicePort": "5060", "DeviceChn": "33", "DeviceUser": "admin",
            "DevicePass": "suntek123", "BeginTime": "", "EndTime": ""})
        self.assertEqual(codec.decode_request(vector("changespeed").encode("gb2312")).fields,
                         {"RequestID": "1", "session": "2", "Speed": "2.0"})
        for action in ACTIONS:
            self.assertEqual(codec.decode_request(vector(action).encode("gb2312")).fields["RequestID"], "1")

    def test_the_files_answers_read_back(self):
        encoding, answer = codec.decode_response(vector("play", "response").encode("gb2312"))
        self.assertEqual(encoding, "GB2312")
        self.assertEqual(answer, MvbResponse("1", 0, "请求成功", "12", "rtmp://172.16.16.102/live/33_1"))
        _, answer = codec.decode_response(vector("queryrecordfile", "response").encode("gb2312"))
        self.assertEqual(answer.records, (
            RecordItem("44030100001310000002", "2017-07-27T09:18:14", "2017-07-27T10:28:44"),
            RecordItem("44030100001310000002", "2017-07-27T10:28:44", "2017-07-27T10:40:43")))

    def test_an_answer_in_the_files_shape(self):
        answer = MvbResponse("1", 0, "暂停播放成功", "2", records=(
            RecordItem("44030100001310000002", "2017-07-27T09:18:14", "2017-07-27T10:28:44"),))
        data = codec.encode_response(answer, "GB2312")
        self.assertTrue(data.startswith(b'<?xml version="1.0" encoding="GB2312" ?>\n<Response>\n'))
        self.assertIn("<Description>暂停播放成功</Description>".encode("gb2312"), data)
        self.assertIn(b'<RecordList Num="1">', data)
        self.assertEqual(codec.decode_response(data), ("GB2312", answer))
        utf8 = codec.encode_response(MvbResponse("7", 2, "参数不正确"))
        self.assertTrue(utf8.startswith(b'<?xml version="1.0" encoding="UTF-8" ?>'))
        self.assertIn("参数不正确".encode(), utf8)
        self.assertNotIn(b"<session>", utf8)

    def test_a_character_gb2312_lacks_becomes_a_reference(self):
        data = codec.encode_response(MvbResponse("1", 0, "ok", play_url="rtsp://h/€"), "GB2312")
        self.assertIn(b"&#8364;", data)
        self.assertEqual(codec.decode_response(data)[1].play_url, "rtsp://h/€")


class ReadingTests(unittest.TestCase):
    def test_encodings(self):
        body = '<?xml version="1.0" encoding="gbk"?><Request><DeviceUser>张三</DeviceUser></Request>'
        request = codec.decode_request(body.encode("gbk"))
        self.assertEqual((request.encoding, request.fields["DeviceUser"]), ("GBK", "张三"))
        self.assertEqual(codec.decode_request(b"\xef\xbb\xbf<Request><a> 1 </a></Request>"),
                         codec.MvbRequest("UTF-8", {"a": "1"}))
        self.assertEqual(codec.declared_encoding(b"<?xml version='1.0' encoding='GB2312'?><x/>"), "GB2312")
        self.assertEqual(codec.declared_encoding(b"<?xml version='1.0' encoding='latin-1'?><x/>"), "UTF-8")

    def test_refused(self):
        for body, why in [
            (b"", "empty"),
            (b"<Response/>", "not <Request>"),
            (b"<Request>", "malformed"),
            (b'<?xml version="1.0" encoding="ISO-8859-1"?><Request/>', "unsupported"),
            ("<Request><a>张</a></Request>".encode("gbk"), "not utf-8"),
            (b'<!DOCTYPE r [<!ENTITY x "y">]><Request>&x;</Request>', "DOCTYPE"),
            (b'<Request><a>&xxe;</a></Request>', "malformed"),
            (b"<Request>" + b"<a>1</a>" * 9000 + b"</Request>", "at most"),
            (b"\xff\xfe<\x00", "not utf-8"),
        ]:
            with self.assertRaises(MvbFormatError, msg=body[:40]) as caught:
                codec.decode_request(body)
            self.assertIn(why, str(caught.exception).lower() if why.islower() else str(caught.exception))

    def test_request_id_of_an_unreadable_body(self):
        self.assertEqual(codec.request_id_of(b"<Request><RequestID> 42 </RequestID><broken"), "42")
        self.assertEqual(codec.request_id_of(b"garbage"), "0")

    def test_repeated_elements_the_first_counts(self):
        self.assertEqual(codec.decode_request(b"<Request><a>1</a><a>2</a></Request>").fields, {"a": "1"})

    def test_times(self):
        when = codec.parse_when("2017-07-27T09:18:14", ZONE)
        self.assertEqual(codec.format_when(when, ZONE), "2017-07-27T09:18:14")
        self.assertEqual(codec.parse_when(" 2017-07-27 09:18:14 ", ZONE), when)
        self.assertEqual(codec.parse_when("20170727091814", ZONE), when)
        for bad in ("", "2017-07-27", "2017-13-01T00:00:00", "yesterday", "2017-07-27T09:18:14+08:00"):
            self.assertRaises(ValueError, codec.parse_when, bad, ZONE)


class PropertyTests(unittest.TestCase):
    @given(mvb_fields, mvb_encodings)
    def test_requests_round_trip(self, fields, encoding):
        request = codec.decode_request(codec.encode_request(fields, encoding))
        self.assertEqual(request.encoding, encoding)
        self.assertEqual(request.fields, dict(fields))

    @given(st.text(max_size=12), st.integers(0, 10**6), st.text(max_size=30), st.none() | st.text(max_size=12),
           st.none() | st.text(max_size=60),
           st.none() | st.lists(st.tuples(st.text(max_size=20), st.text(max_size=19), st.text(max_size=19)),
                                max_size=3).map(lambda items: tuple(RecordItem(*i) for i in items)),
           mvb_encodings)
    def test_answers_round_trip(self, request_id, status, description, session, play_url, records, encoding):
        def clean(value):
            if value is None:
                return None
            return codec._NOT_XML_CHAR.sub("\ufffd", value).replace("\r\n", "\n").replace("\r", "\n").strip(codec.WHITESPACE)
        answer = MvbResponse(request_id, status, description, session, play_url, records)
        expected = MvbResponse(clean(request_id), status, clean(description), clean(session), clean(play_url),
                               None if records is None else tuple(RecordItem(*map(clean, r)) for r in records))
        self.assertEqual(codec.decode_response(codec.encode_response(answer, encoding)), (encoding, expected))

    @given(st.binary(max_size=300))
    def test_garbage_raises_only_the_codecs_error(self, body):
        try:
            codec.decode_request(body)
        except MvbFormatError:
            pass

    @given(mvb_fields, st.integers(0, 200), st.binary(min_size=1, max_size=4))
    def test_damaged_requests_raise_only_the_codecs_error(self, fields, at, junk):
        data = codec.encode_request(fields, "GB2312")
        at = min(at, len(data))
        try:
            codec.decode_request(data[:at] + junk + data[at:])
        except MvbFormatError:
            pass
