"""Tests for the SMGP 3.0 codec, kandian.sms.smgp."""

from __future__ import annotations

import hashlib
import struct
from datetime import datetime

from hypothesis import given, settings, strategies as st
from twisted.trial.unittest import SynchronousTestCase

from kandian.sms import smgp
from kandian.sms.smgp import (
    CHINA,
    BadLength,
    BadPdu,
    BadReport,
    Concat,
    Deliver,
    Login,
    LoginResp,
    PduDecoder,
    SmgpError,
    StatusReport,
    Submit,
    SubmitResp,
    decode_pdu,
)
from tests.strategies import any_smgp_pdu, chunked, mutated, smgp_pdus, smgp_reports, sms_texts

split_streams = st.lists(any_smgp_pdu, min_size=1, max_size=5).flatmap(
    lambda sent: st.tuples(st.just(sent), chunked(b"".join(p.to_wire() for p in sent))))
mutated_streams = st.lists(any_smgp_pdu, min_size=1, max_size=4).flatmap(
    lambda sent: mutated(b"".join(p.to_wire() for p in sent)))


def feed_all(decoder: PduDecoder, chunks: list[bytes]) -> list[object]:
    return [pdu for chunk in chunks for pdu in decoder.feed(chunk)]


class WireLayoutTests(SynchronousTestCase):
    """Offsets and rules as the specification (and the implementations that
    quote it, see the module docstring) lay them out."""

    def test_header(self) -> None:
        self.assertEqual(smgp.ActiveTest(0x01020304).to_wire(), bytes.fromhex("0000000c 00000004 01020304"))
        self.assertEqual(smgp.ExitResp(7).to_wire(), bytes.fromhex("0000000c 80000006 00000007"))

    def test_login_timestamp_example(self) -> None:
        """'3月1日0时0分0秒，TimeStamp字段值为0x11F0E540，此处为0301000000'."""
        march_first = datetime(2024, 3, 1, tzinfo=CHINA).timestamp()
        self.assertEqual(smgp.login_timestamp(march_first), 0x11F0E540)

    def test_login(self) -> None:
        login = Login.signed(5, "sp0001", "secret", 0x11F0E540)
        wire = login.to_wire()
        self.assertEqual(len(wire), 42)
        self.assertEqual(wire[:12], bytes.fromhex("0000002a 00000001 00000005"))
        self.assertEqual(wire[12:20], b"sp0001\0\0")
        expected = hashlib.md5(b"sp0001" + b"\0" * 7 + b"secret" + b"0301000000").digest()
        self.assertEqual(wire[20:36], expected)
        self.assertEqual(wire[36], 2)  # transmit mode: submits and reports on one link
        self.assertEqual(wire[37:41], struct.pack(">I", 0x11F0E540))
        self.assertEqual(wire[41], 0x30)

    def test_authenticator_server(self) -> None:
        client = smgp.authenticator_client("sp0001", "secret", 1231235959)
        self.assertEqual(smgp.authenticator_server(0, client, "secret"),
                         hashlib.md5(b"\0\0\0\0" + client + b"secret").digest())

    def test_login_resp(self) -> None:
        wire = LoginResp(5, 21, b"A" * 16, 0x30).to_wire()
        self.assertEqual(wire, bytes.fromhex("00000021 80000001 00000005 00000015") + b"A" * 16 + b"\x30")

    def test_submit_offsets(self) -> None:
        submit = Submit(9, ["13800138000", "13900139000"], b"\x4f\x60", src_term_id="106590001",
                        service_id="KANDIAN", valid_time="250101120000032+", tlvs=[smgp.tlv_int(smgp.TP_UDHI, 1)])
        wire = submit.to_wire()
        self.assertEqual(len(wire), 126 + 21 * 2 + 2 + 5)
        self.assertEqual(struct.unpack(">II", wire[:8]), (len(wire), 2))
        self.assertEqual(wire[12:15], bytes([6, 1, 1]))  # MsgType MT, NeedReport, Priority
        self.assertEqual(wire[15:25], b"KANDIAN\0\0\0")
        self.assertEqual(wire[25:39], b"00000000000000")  # FeeType, FeeCode, FixedFee
        self.assertEqual(wire[39], 8)
        self.assertEqual(wire[40:57], b"250101120000032+\0")
        self.assertEqual(wire[57:74], b"\0" * 17)
        self.assertEqual(wire[74:95], b"106590001".ljust(21, b"\0"))
        self.assertEqual(wire[116], 2)
        self.assertEqual(wire[117:138], b"13800138000".ljust(21, b"\0"))
        self.assertEqual(wire[159], 2)
        self.assertEqual(wire[160:162], b"\x4f\x60")
        self.assertEqual(wire[162:170], b"\0" * 8)
        self.assertEqual(wire[170:], bytes.fromhex("0002 0001 01"))

    def test_deliver_offsets(self) -> None:
        report = StatusReport(bytes(range(10)), "DELIVRD", "000", "2501011200", "2501011201")
        deliver = Deliver(3, b"\x99" * 10, 1, 0, "20250101120100", "13800138000", "106590001", report.to_bytes())
        wire = deliver.to_wire()
        self.assertEqual(wire[12:22], b"\x99" * 10)
        self.assertEqual((wire[22], wire[23]), (1, 0))
        self.assertEqual(wire[24:38], b"20250101120100")
        self.assertEqual(wire[38:59], b"13800138000".ljust(21, b"\0"))
        self.assertEqual(wire[80], 122)
        self.assertEqual(wire[81:84], b"id:")
        self.assertEqual(wire[84:94], bytes(range(10)))

    def test_report_layout(self) -> None:
        report = StatusReport(b"\x01\x00\x61\x01\x16\x17\x00\x01\x23\x45", "DELIVRD", "000",
                              "0301161700", "0301161701")
        data = report.to_bytes()
        self.assertEqual(len(data), 122)
        self.assertEqual(data[13:], b" sub:001 dlvrd:001 Submit date:0301161700 done date:0301161701"
                                    b" stat:DELIVRD err:000 Text:" + b"\0" * 20)

    def test_submit_resp(self) -> None:
        wire = SubmitResp(1, bytes.fromhex("01006101161700012345"), 0).to_wire()
        self.assertEqual(wire, bytes.fromhex("0000001a 80000002 00000001 01006101161700012345 00000000"))

    def test_invalid_fields_cannot_be_built(self) -> None:
        self.assertRaises(ValueError, Login, 1, "toolongid", b"\0" * 16)
        self.assertRaises(ValueError, Login, 1, "ab\0", b"\0" * 16)
        self.assertRaises(ValueError, Login, 1, "ab", b"\0" * 15)
        self.assertRaises(ValueError, Submit, 1, ["1" * 22], b"")
        self.assertRaises(ValueError, Submit, 1, ["1"] * 101, b"")
        self.assertRaises(ValueError, Submit, 1, ["1"], b"x" * 256)
        self.assertRaises(ValueError, Submit, 1, ["手机"], b"")
        self.assertRaises(ValueError, SubmitResp, 2**32, b"\0" * 10, 0)
        self.assertRaises(TypeError, SubmitResp, True, b"\0" * 10, 0)
        self.assertRaises(ValueError, StatusReport, b"\0" * 10, "DELI VRD")


class RoundTripTests(SynchronousTestCase):
    @given(st.lists(any_smgp_pdu, max_size=6))
    @settings(max_examples=100)
    def test_round_trip(self, sent: list) -> None:
        decoder = PduDecoder()
        self.assertEqual(list(decoder.feed(b"".join(p.to_wire() for p in sent))), sent)
        self.assertEqual(decoder.buffered, 0)

    def test_every_pdu_class_generated(self) -> None:
        self.assertEqual(set(smgp_pdus) - {smgp.UnknownPdu}, set(smgp.PDU_CLASSES.values()))

    @given(split_streams)
    @settings(max_examples=100)
    def test_any_chunking(self, case: tuple[list, list[bytes]]) -> None:
        sent, chunks = case
        self.assertEqual(feed_all(PduDecoder(), chunks), sent)

    @given(smgp_reports)
    def test_report_round_trip(self, report: StatusReport) -> None:
        self.assertEqual(StatusReport.parse(report.to_bytes()), report)


class BadInputTests(SynchronousTestCase):
    def test_need_more(self) -> None:
        wire = Submit(1, ["13800138000"], b"hello").to_wire()
        for end in range(len(wire)):
            self.assertIsNone(decode_pdu(wire[:end]))

    def test_length_below_header(self) -> None:
        self.assertRaises(BadLength, list, PduDecoder().feed(b"\0\0\0\x0b"))

    def test_length_above_limit_seen_at_once(self) -> None:
        """A gateway announcing 4 GB is refused from its first four octets."""
        self.assertRaises(BadLength, list, PduDecoder().feed(b"\xff\xff\xff\xff"))
        self.assertRaises(BadLength, list, PduDecoder().feed(struct.pack(">I", smgp.MAX_PDU + 1)))

    def test_fixed_body_of_wrong_size(self) -> None:
        wire = bytearray(SubmitResp(1, b"\0" * 10, 0).to_wire() + b"x")
        wire[3] += 1
        self.assertRaises(BadPdu, list, PduDecoder().feed(bytes(wire)))

    def test_header_only_pdu_with_body(self) -> None:
        self.assertRaises(BadPdu, decode_pdu, bytes.fromhex("0000000d 00000004 00000001 00"))

    def test_msg_length_past_body(self) -> None:
        wire = bytearray(Deliver(1, b"\0" * 10, 0, 8, "", "", "", b"abcd").to_wire())
        wire[80] = 200
        self.assertRaises(BadPdu, decode_pdu, bytes(wire))

    def test_reserve_cut_short(self) -> None:
        for pdu in [Deliver(1, b"\0" * 10, 0, 8, "", "", "", b"abcd"), Submit(1, ["1"], b"abcd")]:
            wire = pdu.to_wire()[:-4]
            self.assertRaises(BadPdu, decode_pdu, struct.pack(">I", len(wire)) + wire[4:])

    def test_truncated_tlv(self) -> None:
        wire = Submit(1, ["1"], b"", tlvs=[smgp.Tlv(2, b"\x01\x02")]).to_wire()[:-1]
        wire = struct.pack(">I", len(wire)) + wire[4:]
        self.assertRaises(BadPdu, decode_pdu, wire)

    def test_pdus_before_garbage_come_out(self) -> None:
        good = smgp.ActiveTest(1)
        pdus = PduDecoder().feed(good.to_wire() + b"GET / HTTP/1.1\r\n")
        self.assertEqual(next(pdus), good)
        self.assertRaises(BadLength, next, pdus)

    def test_error_is_sticky(self) -> None:
        decoder = PduDecoder()
        self.assertRaises(BadLength, list, decoder.feed(b"\0\0\0\0"))
        self.assertRaises(BadLength, decoder.feed, smgp.ActiveTest(1).to_wire())

    def test_unknown_request_id_is_framed(self) -> None:
        """Query (0x7) and other PDUs kandian does not read keep the stream in step."""
        query = bytes.fromhex("00000010 00000007 00000009 41424344")
        pdus = list(PduDecoder().feed(query + smgp.ActiveTest(10).to_wire()))
        self.assertEqual(pdus, [smgp.UnknownPdu(7, 9, b"ABCD"), smgp.ActiveTest(10)])

    def test_limit_range(self) -> None:
        self.assertRaises(ValueError, PduDecoder, max_length=11)

    @given(st.binary(max_size=400), st.integers(1, 64))
    @settings(max_examples=200)
    def test_random_bytes(self, data: bytes, step: int) -> None:
        """Random input yields PDUs or SmgpError, never anything else."""
        try:
            feed_all(PduDecoder(), [data[i : i + step] for i in range(0, len(data), step)])
        except SmgpError:
            pass

    @given(mutated_streams)
    @settings(max_examples=200)
    def test_mutated_pdus(self, data: bytes) -> None:
        try:
            feed_all(PduDecoder(), [data])
        except SmgpError:
            pass

    @given(st.binary(max_size=255))
    @settings(max_examples=200)
    def test_random_report_content(self, content: bytes) -> None:
        try:
            StatusReport.parse(content)
        except BadReport:
            pass

    @given(smgp_reports.flatmap(lambda r: mutated(r.to_bytes())))
    @settings(max_examples=200)
    def test_mutated_report(self, content: bytes) -> None:
        try:
            StatusReport.parse(content)
        except BadReport:
            pass

    @given(st.binary(max_size=40))
    def test_random_udh(self, content: bytes) -> None:
        try:
            smgp.parse_udh(content)
        except BadPdu:
            pass


class ReportTests(SynchronousTestCase):
    def test_textual_msg_id(self) -> None:
        """Some gateways write the MsgID as 20 hex digits."""
        content = (b"id:01006101161700012345 sub:001 dlvrd:001 submit date:0301161700"
                   b" done date:0301161701 stat:UNDELIV err:012 text:")
        report = StatusReport.parse(content)
        self.assertEqual((report.msg_id.hex(), report.stat, report.err), ("01006101161700012345", "UNDELIV", "012"))

    def test_blanks_after_colons_and_no_text(self) -> None:
        content = (b"id:" + b"\x07" * 10 + b" sub:001 dlvrd:000 Submit date:0301161700"
                   b" done date: 0301161701 stat:EXPIRED err:006")
        report = StatusReport.parse(content)
        self.assertEqual((report.done_date, report.stat, report.err, report.text),
                         ("0301161701", "EXPIRED", "006", ""))

    def test_not_a_report(self) -> None:
        self.assertRaises(BadReport, StatusReport.parse, "你好".encode("utf-16-be"))
        self.assertRaises(BadReport, StatusReport.parse, b"id:" + b"\0" * 10 + b" sub:001")

    def test_deliver_report(self) -> None:
        report = StatusReport(b"\x01" * 10, "DELIVRD")
        deliver = Deliver(1, b"\x02" * 10, 1, 0, "", "13800138000", "10659", report.to_bytes())
        self.assertEqual(deliver.report(), report)


class TimeTests(SynchronousTestCase):
    def test_format(self) -> None:
        noon = datetime(2025, 1, 1, 12, 0, tzinfo=CHINA).timestamp()
        self.assertEqual(smgp.smgp_time(noon), "250101120000032+")
        self.assertEqual(smgp.parse_smgp_time("250101040000000+"), noon)

    @given(st.integers(0, 2**31 - 1), st.integers(0, 9))
    def test_round_trip(self, seconds: int, tenths: int) -> None:
        moment = seconds + tenths / 10
        self.assertAlmostEqual(smgp.parse_smgp_time(smgp.smgp_time(moment)), moment, places=3)

    def test_refused(self) -> None:
        for value in ["", "250101120000032R", "2501011200000", "250101120000049+", "251301120000032+"]:
            self.assertRaises(ValueError, smgp.parse_smgp_time, value)


class LongTextTests(SynchronousTestCase):
    def test_short_text_one_part(self) -> None:
        self.assertEqual(smgp.split_text("摄像头" * 23 + "x", 1), [(("摄像头" * 23 + "x").encode("utf-16-be"), None)])

    def test_seventy_one_units_two_parts(self) -> None:
        parts = smgp.split_text("告" * 71, 0x42)
        self.assertEqual([len(content) for content, _ in parts], [140, 6 + 8])
        self.assertEqual(parts[0][0][:6], bytes([5, 0, 3, 0x42, 2, 1]))
        self.assertEqual(parts[1][1], Concat(0x42, 2, 2))

    def test_surrogate_pair_not_cut(self) -> None:
        text = "警" * 66 + "\U0001F4F7" + "报" * 10  # the camera emoji straddles unit 67
        parts = smgp.split_text(text, 3)
        self.assertEqual(len(parts[0][0]), 6 + 66 * 2)
        for content, _ in parts:
            content[6:].decode("utf-16-be")  # strict: a lone surrogate raises

    def test_too_long(self) -> None:
        self.assertRaises(ValueError, smgp.split_text, "字" * (67 * 255 + 1), 1)
        self.assertRaises(ValueError, smgp.split_text, "\ud800", 1)

    @given(sms_texts, st.integers(0, 255))
    @settings(max_examples=150)
    def test_parts_reassemble(self, text: str, reference: int) -> None:
        parts = smgp.split_text(text, reference)
        if len(parts) == 1:
            self.assertIsNone(parts[0][1])
            self.assertEqual(parts[0][0].decode("utf-16-be"), text)
            return
        joined = b""
        for number, (content, concat) in enumerate(parts, 1):
            self.assertLessEqual(len(content), 140)
            found, payload = smgp.parse_udh(content)
            self.assertEqual(found, Concat(reference, len(parts), number))
            self.assertEqual(found, concat)
            payload.decode("utf-16-be")
            joined += payload
        self.assertEqual(joined.decode("utf-16-be"), text)

    def test_sixteen_bit_reference(self) -> None:
        content = Concat(0x1234, 3, 2).to_bytes() + b"\0a"
        self.assertEqual(smgp.parse_udh(content), (Concat(0x1234, 3, 2), b"\0a"))

    def test_decode_text(self) -> None:
        self.assertEqual(smgp.decode_text(8, "你好".encode("utf-16-be")), "你好")
        self.assertEqual(smgp.decode_text(15, "你好".encode("gb18030")), "你好")
        self.assertEqual(smgp.decode_text(0, b"hi"), "hi")
        self.assertEqual(smgp.decode_text(8, b"\xd8\x00"), "\ufffd")

    def test_sequence_wraps(self) -> None:
        self.assertEqual(smgp.next_sequence(1), 2)
        self.assertEqual(smgp.next_sequence(0xFFFFFFFF), 1)


class PurityTests(SynchronousTestCase):
    def test_sans_io(self) -> None:
        """The codec imports no Twisted: bytes in, typed PDUs out."""
        from tests.test_layering import ROOT, imports

        self.assertEqual([name for name in imports(ROOT / "sms" / "smgp.py") if name.startswith("twisted")], [])
