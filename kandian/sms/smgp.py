"""SMGP 3.0 codec: China Telecom's SP ↔ ISMG short-message protocol (spec §2.6).

The platform sends SMS (§8.1 passwords, §7.5.34 alarms, §4.17 DevKeys)
through the carrier's gateway (ISMG) over SMGP 3.0.  Every PDU is::

    PacketLength(4) · RequestID(4) · SequenceID(4) · body

big-endian unsigned integers; PacketLength counts the header too; a PDU is
at most 2 KB ("系统中每个消息包最大不超过2K字节").  Octet strings are fixed
width, left-aligned, padded with NUL; text fields read up to the first NUL.

Bodies (field widths in octets):

* Login 0x00000001: ClientID 8 · AuthenticatorClient 16 · LoginMode 1
  (0 send, 1 receive, 2 transmit) · TimeStamp 4 (MMDDHHMMSS as an integer)
  · ClientVersion 1 (0x30).  AuthenticatorClient = MD5(ClientID + 7 × 0x00
  + shared secret + TimeStamp as 10 ASCII digits, zero-padded on the left).
* Login_Resp 0x80000001: Status 4 · AuthenticatorServer 16 · ServerVersion 1.
  AuthenticatorServer = MD5(Status (4 octets, big-endian) +
  AuthenticatorClient + shared secret); empty when the login is refused.
* Submit 0x00000002: MsgType 1 (6: MT) · NeedReport 1 · Priority 1 ·
  ServiceID 10 · FeeType 2 · FeeCode 6 · FixedFee 6 · MsgFormat 1
  (0 ASCII, 4 binary, 8 UCS2, 15 GB18030) · ValidTime 17 · AtTime 17 ·
  SrcTermID 21 · ChargeTermID 21 · DestTermIDCount 1 · DestTermID 21 × n ·
  MsgLength 1 · MsgContent · Reserve 8 · TLVs.
* Submit_Resp 0x80000002: MsgID 10 · Status 4.
* Deliver 0x00000003: MsgID 10 · IsReport 1 · MsgFormat 1 · RecvTime 14 ·
  SrcTermID 21 · DestTermID 21 · MsgLength 1 · MsgContent · Reserve 8 · TLVs.
* Deliver_Resp 0x80000003: MsgID 10 · Status 4.
* Active_Test 0x00000004, Exit 0x00000006 and their _Resp (0x8000000N):
  header only.

TLVs (optional parameters after the fixed body): Tag 2 · Length 2 · Value;
tags 0x0001 TP_pid … 0x0012 MServiceID (:data:`TLV_NAMES`).  A long text is
sent as parts whose MsgContent starts with a GSM 03.40 user data header
``05 00 03 ref total number`` (TP_udhi TLV = 1, PkTotal and PkNumber TLVs
set): 140 octets per SMS, so 70 UCS2 units alone, 67 after the header.

MsgID (10 octets, BCD): SMGW code 3 · MMDDHHMM 4 · sequence 3; kandian shows
it as 20 hex digits.  A status report is a Deliver with IsReport 1 whose
MsgContent follows SMPP 3.4 appendix B::

    id:IIIIIIIIII sub:SSS dlvrd:DDD Submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:DDDDDDD err:EEE Text:…

with the MsgID as 10 raw octets (122 octets in all).  ValidTime/AtTime use
SMPP's absolute time ``YYMMDDhhmmsstnnp`` (tenths, quarter hours from UTC,
sign).

Relied on, read from public implementations: the Go package
``yedamao/go_smgp`` (smgp/protocol: header.go, op_login.go, op_submit.go,
op_deliver.go, options.go, report.go, utils.go, status.go), the Java
``chenjiangtao/gateway-pack`` (comm/smgp3: SMGP3LoginMessage,
SMGP3SubmitMessage, SMGP3DeliverMessage, RequestId, tlv/TlvId) and
``clz619/smgp3`` (AuthenticatorUtil, SmgpMsgIdDecoder,
SmgpReportMessageDecoder, SmgpTpUdhiMessageEncoder,
LongMsgContentSplitUtil); their comments quote the specification's text
(the AuthenticatorClient/Server rules, the MsgID layout, the report format).

Pure (ldaptor-style): :func:`decode_pdu` is ``buf -> (pdu, consumed)`` or
``None``; :class:`PduDecoder` buffers arbitrary chunks; every decoding
failure is an :class:`SmgpError`.  No I/O, no Twisted.
"""

from __future__ import annotations

import hashlib
import re
import struct
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar

import attrs

__all__ = [
    "LOGIN", "LOGIN_RESP", "SUBMIT", "SUBMIT_RESP", "DELIVER", "DELIVER_RESP",
    "ACTIVE_TEST", "ACTIVE_TEST_RESP", "EXIT", "EXIT_RESP",
    "HEADER_SIZE", "MAX_PDU", "VERSION", "CHINA", "STATUS", "TLV_NAMES",
    "SmgpError", "BadLength", "BadPdu", "BadReport",
    "Tlv", "Login", "LoginResp", "Submit", "SubmitResp", "Deliver", "DeliverResp",
    "ActiveTest", "ActiveTestResp", "Exit", "ExitResp", "UnknownPdu", "Pdu",
    "StatusReport", "Concat",
    "decode_pdu", "PduDecoder", "next_sequence",
    "authenticator_client", "authenticator_server", "login_timestamp",
    "smgp_time", "parse_smgp_time", "split_text", "parse_udh", "decode_text", "tlv_int",
]

LOGIN, LOGIN_RESP = 0x00000001, 0x80000001
SUBMIT, SUBMIT_RESP = 0x00000002, 0x80000002
DELIVER, DELIVER_RESP = 0x00000003, 0x80000003
ACTIVE_TEST, ACTIVE_TEST_RESP = 0x00000004, 0x80000004
EXIT, EXIT_RESP = 0x00000006, 0x80000006

_HEADER = struct.Struct(">III")
HEADER_SIZE = _HEADER.size
MAX_PDU = 2048
VERSION = 0x30

# LoginMode
SEND_MODE, RECEIVE_MODE, TRANSMIT_MODE = 0, 1, 2
# MsgType
MO, MT = 0, 6
# MsgFormat
ASCII, BINARY, UCS2, GB18030 = 0, 4, 8, 15

# TLV tags
TP_PID, TP_UDHI, LINK_ID, CHARGE_USER_TYPE, CHARGE_TERM_TYPE, CHARGE_TERM_PSEUDO = 1, 2, 3, 4, 5, 6
DEST_TERM_TYPE, DEST_TERM_PSEUDO, PK_TOTAL, PK_NUMBER, SUBMIT_MSG_TYPE, SP_DEAL_RESULT = 7, 8, 9, 10, 11, 12
SRC_TERM_TYPE, SRC_TERM_PSEUDO, NODES_COUNT, MSG_SRC, SRC_TYPE, M_SERVICE_ID = 13, 14, 15, 16, 17, 18
TLV_NAMES = {
    1: "TP_pid", 2: "TP_udhi", 3: "LinkID", 4: "ChargeUserType", 5: "ChargeTermType",
    6: "ChargeTermPseudo", 7: "DestTermType", 8: "DestTermPseudo", 9: "PkTotal", 10: "PkNumber",
    11: "SubmitMsgType", 12: "SPDealResult", 13: "SrcTermType", 14: "SrcTermPseudo",
    15: "NodesCount", 16: "MsgSrc", 17: "SrcType", 18: "MServiceID",
}

# The Status codes of the specification's error table.
STATUS = {
    0: "成功", 1: "系统忙", 2: "超过最大连接数", 10: "消息结构错", 11: "命令字错", 12: "序列号重复",
    20: "IP地址错", 21: "认证错", 22: "版本太高", 30: "非法消息类型（MsgType）", 31: "非法优先级（Priority）",
    32: "非法资费类型（FeeType）", 33: "非法资费代码（FeeCode）", 34: "非法短消息格式（MsgFormat）",
    35: "非法时间格式", 36: "非法短消息长度（MsgLength）", 37: "有效期已过", 38: "非法查询类别（QueryType）",
    39: "路由错误", 40: "非法包月费/封顶费（FixedFee）", 41: "非法更新类型（UpdateType）",
    42: "非法路由编号（RouteId）", 43: "非法服务代码（ServiceId）", 44: "非法有效期（ValidTime）",
    45: "非法定时发送时间（AtTime）", 46: "非法发送用户号码（SrcTermId）", 47: "非法接收用户号码（DestTermId）",
    48: "非法计费用户号码（ChargeTermId）", 49: "非法SP服务代码（SPCode）", 56: "非法源网关代码（SrcGatewayID）",
    57: "非法查询号码（QueryTermID）", 58: "没有匹配路由", 59: "非法SP类型（SPType）",
    60: "非法上一条路由编号（LastRouteID）", 61: "非法路由类型（RouteType）", 62: "非法目标网关代码（DestGatewayID）",
    63: "非法目标网关IP（DestGatewayIP）", 64: "非法目标网关端口（DestGatewayPort）",
    65: "非法路由号码段（TermRangeID）", 66: "非法终端所属省代码（ProvinceCode）", 67: "非法用户类型（UserType）",
    68: "本节点不支持路由更新", 69: "非法SP企业代码（SPID）", 70: "非法SP接入类型（SPAccessType）",
    71: "路由信息更新失败", 72: "非法时间戳（Time）", 73: "非法业务代码（MServiceID）", 74: "SP禁止下发时段",
    75: "SP发送超过日流量", 76: "SP帐号过有效期",
}

# China Standard Time: the zone of Login's TimeStamp and of ValidTime on a
# Chinese carrier's gateway (no daylight saving since 1991).
CHINA = timezone(timedelta(hours=8))


class SmgpError(Exception):
    """Bytes that are not SMGP 3.0; the link cannot trust what follows."""


class BadLength(SmgpError):
    """PacketLength below the header size or above the accepted maximum."""


class BadPdu(SmgpError):
    """A PDU whose body does not fit its RequestID's layout."""


class BadReport(SmgpError):
    """A status report's MsgContent that is not in the id:… sub:… format."""


# -- field validators -----------------------------------------------------------------------------


def _unsigned(bits: int) -> Callable[[Any, attrs.Attribute, Any], None]:
    high = (1 << bits) - 1

    def check(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{attribute.name} must be an int, got {type(value).__name__}")
        if not 0 <= value <= high:
            raise ValueError(f"{attribute.name} must be in 0..{high}, got {value}")

    return check


_u8, _u16, _u32 = _unsigned(8), _unsigned(16), _unsigned(32)


def _octets(width: int) -> Callable[[Any, attrs.Attribute, Any], None]:
    """A text field of at most *width* octets (Latin-1), no NUL (the padding)."""

    def check(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
        if not isinstance(value, str):
            raise TypeError(f"{attribute.name} must be str, got {type(value).__name__}")
        if "\0" in value:
            raise ValueError(f"{attribute.name} must not contain NUL")
        try:
            encoded = value.encode("latin-1")
        except UnicodeEncodeError:
            raise ValueError(f"{attribute.name} must be Latin-1 text") from None
        if len(encoded) > width:
            raise ValueError(f"{attribute.name} exceeds {width} octets: {len(encoded)}")

    return check


def _raw(size: int | None = None, most: int | None = None) -> Callable[[Any, attrs.Attribute, Any], None]:
    def check(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
        if not isinstance(value, bytes):
            raise TypeError(f"{attribute.name} must be bytes, got {type(value).__name__}")
        if size is not None and len(value) != size:
            raise ValueError(f"{attribute.name} must be {size} octets, got {len(value)}")
        if most is not None and len(value) > most:
            raise ValueError(f"{attribute.name} exceeds {most} octets: {len(value)}")

    return check


def _text(value: str, width: int) -> bytes:
    return value.encode("latin-1").ljust(width, b"\0")


def _read_text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("latin-1")


# -- TLVs -----------------------------------------------------------------------------------------


@attrs.frozen
class Tlv:
    """One optional parameter; integer ones are one octet (:func:`tlv_int`)."""

    tag: int = attrs.field(validator=_u16)
    value: bytes = attrs.field(validator=_raw(most=0xFFFF))

    def to_wire(self) -> bytes:
        return struct.pack(">HH", self.tag, len(self.value)) + self.value


def tlv_int(tag: int, value: int) -> Tlv:
    return Tlv(tag, bytes([value]))


def _tlvs(value: Any) -> tuple[Tlv, ...]:
    return tuple(value)


def _check_tlvs(instance: Any, attribute: attrs.Attribute, value: tuple) -> None:
    for item in value:
        if not isinstance(item, Tlv):
            raise TypeError(f"{attribute.name} must hold Tlv, got {type(item).__name__}")


def _read_tlvs(raw: bytes) -> tuple[Tlv, ...]:
    found, at = [], 0
    while at < len(raw):
        if len(raw) - at < 4:
            raise BadPdu(f"TLV header cut short: {len(raw) - at} octets left")
        tag, length = struct.unpack_from(">HH", raw, at)
        at += 4
        if len(raw) - at < length:
            raise BadPdu(f"TLV 0x{tag:04X} announces {length} octets, {len(raw) - at} left")
        found.append(Tlv(tag, raw[at : at + length]))
        at += length
    return tuple(found)


class _WithTlvs:
    tlvs: tuple[Tlv, ...]

    def tlv(self, tag: int) -> bytes | None:
        """The value of the first TLV with *tag*, or None."""
        for item in self.tlvs:
            if item.tag == tag:
                return item.value
        return None

    def tlv_int(self, tag: int) -> int | None:
        value = self.tlv(tag)
        return value[0] if value else None


# -- PDUs -----------------------------------------------------------------------------------------


class _Pdu:
    REQUEST_ID: ClassVar[int]
    sequence_id: int

    def body(self) -> bytes:
        return b""

    def to_wire(self) -> bytes:
        body = self.body()
        return _HEADER.pack(HEADER_SIZE + len(body), self.REQUEST_ID, self.sequence_id) + body

    @classmethod
    def from_body(cls, sequence_id: int, body: bytes) -> Any:
        if body:
            raise BadPdu(f"{cls.__name__} has no body, got {len(body)} octets")
        return cls(sequence_id)  # type: ignore[call-arg]


def _fixed(size: int) -> Callable[[type, bytes], None]:
    def check(cls: type, body: bytes) -> None:
        if len(body) != size:
            raise BadPdu(f"{cls.__name__} body must be {size} octets, got {len(body)}")
    return check


_LOGIN = struct.Struct(">8s16sBIB")


@attrs.frozen
class Login(_Pdu):
    REQUEST_ID: ClassVar[int] = LOGIN
    sequence_id: int = attrs.field(validator=_u32)
    client_id: str = attrs.field(validator=_octets(8))
    authenticator: bytes = attrs.field(validator=_raw(16), repr=False)
    login_mode: int = attrs.field(default=TRANSMIT_MODE, validator=_u8)
    timestamp: int = attrs.field(default=0, validator=_u32)
    client_version: int = attrs.field(default=VERSION, validator=_u8)

    @classmethod
    def signed(cls, sequence_id: int, client_id: str, secret: str, timestamp: int,
               login_mode: int = TRANSMIT_MODE) -> Login:
        return cls(sequence_id, client_id, authenticator_client(client_id, secret, timestamp),
                   login_mode, timestamp)

    def body(self) -> bytes:
        return _LOGIN.pack(_text(self.client_id, 8), self.authenticator, self.login_mode,
                           self.timestamp, self.client_version)

    @classmethod
    def from_body(cls, sequence_id: int, body: bytes) -> Login:
        _fixed(_LOGIN.size)(cls, body)
        client_id, authenticator, mode, timestamp, version = _LOGIN.unpack(body)
        return cls(sequence_id, _read_text(client_id), authenticator, mode, timestamp, version)


_LOGIN_RESP = struct.Struct(">I16sB")


@attrs.frozen
class LoginResp(_Pdu):
    REQUEST_ID: ClassVar[int] = LOGIN_RESP
    sequence_id: int = attrs.field(validator=_u32)
    status: int = attrs.field(validator=_u32)
    authenticator: bytes = attrs.field(default=b"\0" * 16, validator=_raw(16), repr=False)
    server_version: int = attrs.field(default=VERSION, validator=_u8)

    def body(self) -> bytes:
        return _LOGIN_RESP.pack(self.status, self.authenticator, self.server_version)

    @classmethod
    def from_body(cls, sequence_id: int, body: bytes) -> LoginResp:
        _fixed(_LOGIN_RESP.size)(cls, body)
        return cls(sequence_id, *_LOGIN_RESP.unpack(body))


_ID_STATUS = struct.Struct(">10sI")


@attrs.frozen
class SubmitResp(_Pdu):
    REQUEST_ID: ClassVar[int] = SUBMIT_RESP
    sequence_id: int = attrs.field(validator=_u32)
    msg_id: bytes = attrs.field(validator=_raw(10))
    status: int = attrs.field(validator=_u32)

    def body(self) -> bytes:
        return _ID_STATUS.pack(self.msg_id, self.status)

    @classmethod
    def from_body(cls, sequence_id: int, body: bytes) -> Any:
        _fixed(_ID_STATUS.size)(cls, body)
        return cls(sequence_id, *_ID_STATUS.unpack(body))


@attrs.frozen
class DeliverResp(_Pdu):
    REQUEST_ID: ClassVar[int] = DELIVER_RESP
    sequence_id: int = attrs.field(validator=_u32)
    msg_id: bytes = attrs.field(validator=_raw(10))
    status: int = attrs.field(validator=_u32)

    def body(self) -> bytes:
        return _ID_STATUS.pack(self.msg_id, self.status)

    @classmethod
    def from_body(cls, sequence_id: int, body: bytes) -> Any:
        _fixed(_ID_STATUS.size)(cls, body)
        return cls(sequence_id, *_ID_STATUS.unpack(body))


_SUBMIT_HEAD = struct.Struct(">BBB10s2s6s6sB17s17s21s21sB")


@attrs.frozen
class Submit(_Pdu, _WithTlvs):
    REQUEST_ID: ClassVar[int] = SUBMIT
    sequence_id: int = attrs.field(validator=_u32)
    dest_term_ids: tuple[str, ...] = attrs.field(converter=tuple)
    msg_content: bytes = attrs.field(validator=_raw(most=255))
    msg_format: int = attrs.field(default=UCS2, validator=_u8)
    src_term_id: str = attrs.field(default="", validator=_octets(21))
    service_id: str = attrs.field(default="", validator=_octets(10))
    msg_type: int = attrs.field(default=MT, validator=_u8)
    need_report: int = attrs.field(default=1, validator=_u8)
    priority: int = attrs.field(default=1, validator=_u8)
    fee_type: str = attrs.field(default="00", validator=_octets(2))
    fee_code: str = attrs.field(default="000000", validator=_octets(6))
    fixed_fee: str = attrs.field(default="000000", validator=_octets(6))
    valid_time: str = attrs.field(default="", validator=_octets(17))
    at_time: str = attrs.field(default="", validator=_octets(17))
    charge_term_id: str = attrs.field(default="", validator=_octets(21))
    reserve: str = attrs.field(default="", validator=_octets(8))
    tlvs: tuple[Tlv, ...] = attrs.field(default=(), converter=_tlvs, validator=_check_tlvs)

    @dest_term_ids.validator
    def _check_dest(self, attribute: attrs.Attribute, value: tuple) -> None:
        if len(value) > 100:
            raise ValueError(f"at most 100 DestTermIDs, got {len(value)}")
        check = _octets(21)
        for item in value:
            check(self, attribute, item)

    def body(self) -> bytes:
        head = _SUBMIT_HEAD.pack(
            self.msg_type, self.need_report, self.priority, _text(self.service_id, 10),
            _text(self.fee_type, 2), _text(self.fee_code, 6), _text(self.fixed_fee, 6), self.msg_format,
            _text(self.valid_time, 17), _text(self.at_time, 17), _text(self.src_term_id, 21),
            _text(self.charge_term_id, 21), len(self.dest_term_ids),
        )
        return b"".join([
            head, *(_text(dest, 21) for dest in self.dest_term_ids), bytes([len(self.msg_content)]),
            self.msg_content, _text(self.reserve, 8), *(item.to_wire() for item in self.tlvs),
        ])

    @classmethod
    def from_body(cls, sequence_id: int, body: bytes) -> Submit:
        if len(body) < _SUBMIT_HEAD.size:
            raise BadPdu(f"Submit body of {len(body)} octets is shorter than its fixed part")
        (msg_type, need_report, priority, service_id, fee_type, fee_code, fixed_fee, msg_format,
         valid_time, at_time, src, charge, count) = _SUBMIT_HEAD.unpack_from(body)
        at = _SUBMIT_HEAD.size
        if len(body) < at + 21 * count + 1:
            raise BadPdu(f"Submit announces {count} DestTermIDs, body too short")
        dests = [_read_text(body[at + 21 * i : at + 21 * (i + 1)]) for i in range(count)]
        at += 21 * count
        content, at = _content(body, at, "Submit")
        return cls(
            sequence_id, dests, content, msg_format, _read_text(src), _read_text(service_id), msg_type,
            need_report, priority, _read_text(fee_type), _read_text(fee_code), _read_text(fixed_fee),
            _read_text(valid_time), _read_text(at_time), _read_text(charge), _read_text(body[at : at + 8]),
            _read_tlvs(body[at + 8 :]),
        )


def _content(body: bytes, at: int, name: str) -> tuple[bytes, int]:
    """MsgLength · MsgContent at *at*, then room for Reserve(8); the offset of Reserve."""
    length = body[at]
    at += 1
    if len(body) < at + length + 8:
        raise BadPdu(f"{name} MsgLength {length} runs past its body")
    return body[at : at + length], at + length


_DELIVER_HEAD = struct.Struct(">10sBB14s21s21s")


@attrs.frozen
class Deliver(_Pdu, _WithTlvs):
    REQUEST_ID: ClassVar[int] = DELIVER
    sequence_id: int = attrs.field(validator=_u32)
    msg_id: bytes = attrs.field(validator=_raw(10))
    is_report: int = attrs.field(validator=_u8)
    msg_format: int = attrs.field(validator=_u8)
    recv_time: str = attrs.field(validator=_octets(14))
    src_term_id: str = attrs.field(validator=_octets(21))
    dest_term_id: str = attrs.field(validator=_octets(21))
    msg_content: bytes = attrs.field(validator=_raw(most=255))
    reserve: str = attrs.field(default="", validator=_octets(8))
    tlvs: tuple[Tlv, ...] = attrs.field(default=(), converter=_tlvs, validator=_check_tlvs)

    def report(self) -> StatusReport:
        """The status report this Deliver carries (IsReport 1); :class:`BadReport` if unreadable."""
        return StatusReport.parse(self.msg_content)

    def body(self) -> bytes:
        return b"".join([
            _DELIVER_HEAD.pack(self.msg_id, self.is_report, self.msg_format, _text(self.recv_time, 14),
                               _text(self.src_term_id, 21), _text(self.dest_term_id, 21)),
            bytes([len(self.msg_content)]), self.msg_content, _text(self.reserve, 8),
            *(item.to_wire() for item in self.tlvs),
        ])

    @classmethod
    def from_body(cls, sequence_id: int, body: bytes) -> Deliver:
        if len(body) < _DELIVER_HEAD.size + 1:
            raise BadPdu(f"Deliver body of {len(body)} octets is shorter than its fixed part")
        msg_id, is_report, msg_format, recv, src, dest = _DELIVER_HEAD.unpack_from(body)
        content, at = _content(body, _DELIVER_HEAD.size, "Deliver")
        return cls(sequence_id, msg_id, is_report, msg_format, _read_text(recv), _read_text(src),
                   _read_text(dest), content, _read_text(body[at : at + 8]), _read_tlvs(body[at + 8 :]))


@attrs.frozen
class ActiveTest(_Pdu):
    REQUEST_ID: ClassVar[int] = ACTIVE_TEST
    sequence_id: int = attrs.field(validator=_u32)


@attrs.frozen
class ActiveTestResp(_Pdu):
    REQUEST_ID: ClassVar[int] = ACTIVE_TEST_RESP
    sequence_id: int = attrs.field(validator=_u32)


@attrs.frozen
class Exit(_Pdu):
    REQUEST_ID: ClassVar[int] = EXIT
    sequence_id: int = attrs.field(validator=_u32)


@attrs.frozen
class ExitResp(_Pdu):
    REQUEST_ID: ClassVar[int] = EXIT_RESP
    sequence_id: int = attrs.field(validator=_u32)


@attrs.frozen
class UnknownPdu:
    """A well-framed PDU of a RequestID this codec does not read (Query, Forward …)."""

    request_id: int = attrs.field(validator=_u32)
    sequence_id: int = attrs.field(validator=_u32)
    body: bytes = attrs.field(validator=_raw(), repr=lambda body: f"<{len(body)} octets>")

    def to_wire(self) -> bytes:
        return _HEADER.pack(HEADER_SIZE + len(self.body), self.request_id, self.sequence_id) + self.body


Pdu = (Login | LoginResp | Submit | SubmitResp | Deliver | DeliverResp | ActiveTest | ActiveTestResp
       | Exit | ExitResp | UnknownPdu)

PDU_CLASSES: dict[int, type] = {cls.REQUEST_ID: cls for cls in (
    Login, LoginResp, Submit, SubmitResp, Deliver, DeliverResp, ActiveTest, ActiveTestResp, Exit, ExitResp)}


# -- framing --------------------------------------------------------------------------------------


def decode_pdu(buf: bytes | bytearray | memoryview, max_length: int = MAX_PDU) -> tuple[Pdu, int] | None:
    """Decode the PDU at the start of *buf*: ``(pdu, consumed)``, or ``None``
    while only part of it has arrived.  Raises :class:`BadLength` as soon as
    PacketLength is known to be out of bounds, :class:`BadPdu` when the body
    does not fit its RequestID."""
    if len(buf) < 4:
        return None
    (length,) = struct.unpack_from(">I", buf)
    if not HEADER_SIZE <= length <= max_length:
        raise BadLength(f"PacketLength {length} outside {HEADER_SIZE}..{max_length}")
    if len(buf) < length:
        return None
    _, request_id, sequence_id = _HEADER.unpack_from(buf)
    body = bytes(buf[HEADER_SIZE:length])
    cls = PDU_CLASSES.get(request_id)
    if cls is None:
        return UnknownPdu(request_id, sequence_id, body), length
    try:
        return cls.from_body(sequence_id, body), length
    except (ValueError, TypeError) as e:  # a field the validators refuse
        raise BadPdu(f"{cls.__name__}: {e}") from None


class PduDecoder:
    """Incremental decoder: feed bytes in any chunks, iterate the PDUs.

    ``feed`` buffers at once and decodes lazily, so the PDUs before a fatal
    error are handed out before it is raised; once an :class:`SmgpError` has
    been raised every later ``feed`` raises it again (the stream is lost).
    """

    def __init__(self, max_length: int = MAX_PDU) -> None:
        if not HEADER_SIZE <= max_length <= 0xFFFFFFFF:
            raise ValueError(f"max_length must be in {HEADER_SIZE}..{0xFFFFFFFF}, got {max_length}")
        self.max_length = max_length
        self._buffer = bytearray()
        self._error: SmgpError | None = None

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def feed(self, data: bytes) -> Iterator[Pdu]:
        if self._error is not None:
            raise self._error
        self._buffer += data
        return self._pdus()

    def _pdus(self) -> Iterator[Pdu]:
        while self._error is None:
            try:
                decoded = decode_pdu(self._buffer, self.max_length)
            except SmgpError as e:
                self._error = e
                raise
            if decoded is None:
                return
            pdu, consumed = decoded
            del self._buffer[:consumed]
            yield pdu
        raise self._error


def next_sequence(sequence_id: int) -> int:
    """The SequenceID after *sequence_id*: 1 … 2³²−1, then 1 again."""
    return sequence_id + 1 if sequence_id < 0xFFFFFFFF else 1


# -- login ----------------------------------------------------------------------------------------


def login_timestamp(seconds: float, tz: timezone = CHINA) -> int:
    """Login's TimeStamp: MMDDHHMMSS of *seconds* (POSIX) in *tz*, as an integer."""
    t = datetime.fromtimestamp(seconds, tz)
    return int(t.strftime("%m%d%H%M%S"))


def authenticator_client(client_id: str, secret: str, timestamp: int) -> bytes:
    return hashlib.md5(client_id.encode("latin-1") + b"\0" * 7 + secret.encode("utf-8")
                       + b"%010d" % timestamp).digest()


def authenticator_server(status: int, client: bytes, secret: str) -> bytes:
    return hashlib.md5(struct.pack(">I", status) + client + secret.encode("utf-8")).digest()


# -- times ----------------------------------------------------------------------------------------


def smgp_time(seconds: float, tz: timezone = CHINA) -> str:
    """*seconds* (POSIX) as an absolute SMPP time ``YYMMDDhhmmsstnnp`` in *tz*."""
    t = datetime.fromtimestamp(seconds, tz)
    offset = t.utcoffset() or timedelta(0)
    quarters = int(abs(offset.total_seconds()) // 900)
    return t.strftime("%y%m%d%H%M%S") + "%d%02d%s" % (t.microsecond // 100000, quarters,
                                                        "-" if offset < timedelta(0) else "+")


_TIME = re.compile(r"(\d{12})(\d)(\d\d)([+-])")


def parse_smgp_time(value: str) -> float:
    """An absolute ``YYMMDDhhmmsstnnp`` as POSIX seconds; ValueError otherwise
    (relative times, ``…R``, are not used by kandian)."""
    match = _TIME.fullmatch(value)
    if match is None:
        raise ValueError(f"not an absolute SMGP time: {value!r}")
    stamp, tenths, quarters, sign = match.groups()
    if int(quarters) > 48:
        raise ValueError(f"UTC offset of {quarters} quarter hours: {value!r}")
    offset = timedelta(minutes=15 * int(quarters)) * (-1 if sign == "-" else 1)
    t = datetime.strptime(stamp, "%y%m%d%H%M%S").replace(tzinfo=timezone(offset))
    return t.timestamp() + int(tenths) / 10


# -- status reports -------------------------------------------------------------------------------


def _token(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{attribute.name} must be str, got {type(value).__name__}")
    if not re.fullmatch(r"\S+", value) or not _latin1(value):
        raise ValueError(f"{attribute.name} must be Latin-1, not empty, without blanks: {value!r}")


def _report_text(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{attribute.name} must be str, got {type(value).__name__}")
    if not _latin1(value) or value.endswith("\0"):
        raise ValueError(f"{attribute.name} must be Latin-1 not ending in NUL: {value!r}")


def _latin1(value: str) -> bool:
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


_REPORT = re.compile(
    r" sub: *(\S+) dlvrd: *(\S+) submit date: *(\S+) done date: *(\S+) stat: *(\S+) err: *(\S+)(?: text:(.*))?",
    re.IGNORECASE | re.DOTALL,
)
_TEXT_ID = re.compile(rb"[0-9A-Fa-f]{20}")


@attrs.frozen
class StatusReport:
    """The MsgContent of a status report (a Deliver with IsReport 1).

    ``stat`` is SMPP's final state: DELIVRD, EXPIRED, DELETED, UNDELIV,
    ACCEPTD, UNKNOWN or REJECTD; ``err`` the gateway's error code (000 when
    delivered)."""

    msg_id: bytes = attrs.field(validator=_raw(10))
    stat: str = attrs.field(validator=_token)
    err: str = attrs.field(default="000", validator=_token)
    submit_date: str = attrs.field(default="0000000000", validator=_token)
    done_date: str = attrs.field(default="0000000000", validator=_token)
    sub: str = attrs.field(default="001", validator=_token)
    dlvrd: str = attrs.field(default="001", validator=_token)
    text: str = attrs.field(default="", validator=_report_text)

    def to_bytes(self) -> bytes:
        fields = (" sub:%s dlvrd:%s Submit date:%s done date:%s stat:%s err:%s Text:"
                  % (self.sub, self.dlvrd, self.submit_date, self.done_date, self.stat, self.err))
        return b"id:" + self.msg_id + fields.encode("latin-1") + self.text.encode("latin-1").ljust(20, b"\0")

    @classmethod
    def parse(cls, content: bytes) -> StatusReport:
        """Read a report; the MsgID as 10 raw octets (the specification) or, as
        some gateways send it, as 20 hex digits."""
        if not content.startswith(b"id:"):
            raise BadReport("a status report starts with 'id:'")
        if content[13:18].lower() == b" sub:":
            msg_id, rest = content[3:13], content[13:]
        elif _TEXT_ID.fullmatch(content[3:23]) and content[23:28].lower() == b" sub:":
            msg_id, rest = bytes.fromhex(content[3:23].decode("ascii")), content[23:]
        else:
            raise BadReport("no MsgID followed by ' sub:'")
        match = _REPORT.fullmatch(rest.decode("latin-1"))
        if match is None:
            raise BadReport("not the id:… sub:… dlvrd:… stat:… err:… format")
        sub, dlvrd, submit_date, done_date, stat, err, text = match.groups()
        return cls(msg_id, stat, err, submit_date, done_date, sub, dlvrd, (text or "").rstrip("\0"))


# -- long texts -----------------------------------------------------------------------------------

SMS_OCTETS = 140  # user data of one SMS
_UDH = 6  # 05 00 03 ref total number


@attrs.frozen
class Concat:
    """The concatenation header of one part: reference, parts in all, this part's number (1-based)."""

    reference: int
    total: int
    number: int

    def to_bytes(self) -> bytes:
        if self.reference > 0xFF:
            return bytes([6, 8, 4, self.reference >> 8, self.reference & 0xFF, self.total, self.number])
        return bytes([5, 0, 3, self.reference, self.total, self.number])


def split_text(text: str, reference: int) -> list[tuple[bytes, Concat | None]]:
    """*text* as UCS2 (MsgFormat 8) SMS contents: one of up to 70 units, or
    parts of up to 67 units each led by a concatenation header with the
    8-bit *reference*.  A character outside the BMP (a UTF-16 surrogate
    pair) is never cut in two.  ValueError for text that cannot be encoded
    or needs more than 255 parts."""
    try:
        data = text.encode("utf-16-be")
    except UnicodeEncodeError:
        raise ValueError("text holds a lone surrogate") from None
    if len(data) <= SMS_OCTETS:
        return [(data, None)]
    room = SMS_OCTETS - _UDH
    chunks, at = [], 0
    while at < len(data):
        end = min(at + room, len(data))
        if end < len(data) and 0xD8 <= data[end - 2] <= 0xDB:  # a high surrogate: keep its pair whole
            end -= 2
        chunks.append(data[at:end])
        at = end
    if len(chunks) > 255:
        raise ValueError(f"text needs {len(chunks)} parts, at most 255 can be concatenated")
    reference &= 0xFF
    parts = [Concat(reference, len(chunks), number) for number in range(1, len(chunks) + 1)]
    return [(part.to_bytes() + chunk, part) for part, chunk in zip(parts, chunks)]


def parse_udh(content: bytes) -> tuple[Concat | None, bytes]:
    """The concatenation header (8- or 16-bit reference) leading a part with
    TP_udhi set, and the text after the whole header; :class:`BadPdu` when
    the header runs past the content."""
    if not content:
        raise BadPdu("TP_udhi set on an empty MsgContent")
    length = content[0]
    if len(content) < 1 + length:
        raise BadPdu(f"UDH of {length} octets in {len(content)}")
    header, payload, at, found = content[1 : 1 + length], content[1 + length :], 0, None
    while at + 2 <= len(header):
        ie, size = header[at], header[at + 1]
        value = header[at + 2 : at + 2 + size]
        if len(value) != size:
            raise BadPdu("UDH information element cut short")
        if ie == 0 and size == 3:
            found = Concat(value[0], value[1], value[2])
        elif ie == 8 and size == 4:
            found = Concat(value[0] << 8 | value[1], value[2], value[3])
        at += 2 + size
    return found, payload


def decode_text(msg_format: int, content: bytes) -> str:
    """MsgContent as text for logs and the fake gateway; never raises."""
    if msg_format == UCS2:
        return content.decode("utf-16-be", "replace")
    if msg_format == GB18030:
        return content.decode("gb18030", "replace")
    if msg_format == ASCII:
        return content.decode("ascii", "replace")
    return content.decode("latin-1")
