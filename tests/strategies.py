"""Hypothesis strategies for kandian's wire formats, gathered in one place."""

from __future__ import annotations

from typing import Any

import attrs
from hypothesis import strategies as st

from kandian.device.frame import MAX_DATA, Frame
from kandian.device.messages import Message, registry
from kandian.device.messages.base import FIELD, Child, Integer, Item, Repeated, Text

# Text that XML can carry and that survives the reader's whitespace stripping:
# no control characters (which also excludes tab, CR and LF), no surrogates,
# no unassigned code points (U+FFFE and U+FFFF among them), no padding.
xml_text = st.text(
    st.characters(blacklist_categories=("Cc", "Cs", "Cn")),
    max_size=24,
).map(lambda value: value.strip(" "))

# Most real values are short ASCII; bias towards them so failures read well.
field_text = st.one_of(st.text("0123456789ABCDEFabcdef_.:-", max_size=16), xml_text)

_INT_LIMIT = 2**63


def _integers(kind: Integer) -> st.SearchStrategy[int]:
    low = -_INT_LIMIT if kind.minimum is None else kind.minimum
    high = _INT_LIMIT if kind.maximum is None else kind.maximum
    return st.integers(min_value=low, max_value=high)


def _field(kind: Any) -> st.SearchStrategy[Any]:
    if isinstance(kind, Text):
        value: st.SearchStrategy[Any] = field_text
    elif isinstance(kind, Integer):
        value = _integers(kind)
    elif isinstance(kind, Repeated):
        return st.lists(bodies(kind.item), max_size=3).map(tuple)
    elif isinstance(kind, Child):
        return st.none() | bodies(kind.item)
    else:
        raise TypeError(kind)
    return st.none() | value if kind.optional else value


def bodies(cls: type[Item]) -> st.SearchStrategy[Any]:
    """Instances of a message or item class, built from its declared fields."""
    return st.builds(cls, **{a.name: _field(a.metadata[FIELD]) for a in attrs.fields(cls)})


MESSAGE_CLASSES: list[type[Message]] = sorted(registry().values(), key=lambda cls: (cls.CMD, cls.IS_RESPONSE))

# One strategy per message class.
MESSAGES: dict[type[Message], st.SearchStrategy[Message]] = {cls: bodies(cls) for cls in MESSAGE_CLASSES}

any_message = st.sampled_from(MESSAGE_CLASSES).flatmap(bodies)


def frames(max_data: int = 64) -> st.SearchStrategy[Frame]:
    """Frames with small DATA (the codec does not look inside it)."""
    return st.builds(
        Frame,
        cmd=st.integers(0, 0xFF),
        seq=st.integers(0, 0xFFFF),
        data=st.binary(max_size=min(max_data, MAX_DATA)),
        remark=st.just(0) | st.integers(0, 0xFF),
    )


def chunked(data: bytes) -> st.SearchStrategy[list[bytes]]:
    """*data* cut at arbitrary points (empty chunks included)."""
    return st.lists(st.integers(0, len(data)), max_size=12).map(
        lambda cuts: [data[a:b] for a, b in zip([0, *sorted(cuts)], [*sorted(cuts), len(data)])]
    )


@st.composite
def mutated(draw: st.DrawFn, data: bytes) -> bytes:
    """*data* with a few bytes flipped, inserted or deleted."""
    buf = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        operation = draw(st.sampled_from(["flip", "insert", "delete"]))
        position = draw(st.integers(0, len(buf)))
        if operation == "insert" or not buf:
            buf[position:position] = draw(st.binary(min_size=1, max_size=4))
        elif operation == "flip":
            position = min(position, len(buf) - 1)
            buf[position] ^= draw(st.integers(1, 255))
        else:
            del buf[position : position + draw(st.integers(1, 4))]
    return bytes(buf)


# --------------------------------------------------------------------------- RTSP
# kandian.rtsp.message: requests, responses and interleaved frames.

from kandian.rtsp import message as rtsp  # noqa: E402

RTSP_TOKEN_CHARS = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
RTSP_METHODS = ["OPTIONS", "DESCRIBE", "SETUP", "PLAY", "PAUSE", "TEARDOWN", "GET_PARAMETER",
                "SET_PARAMETER", "ANNOUNCE", "RECORD", "REDIRECT"]
_RTSP_HEADER_NAMES = ["CSeq", "Session", "Transport", "User-Agent", "Content-Type", "Content-Base",
                      "Range", "Scale", "RTP-Info", "Public", "Date", "Server", "Accept", "Expires"]
_RTSP_PRINTABLE = "".join(chr(c) for c in range(0x21, 0x7F))

# Any text a header value, reason phrase or URI can hold: no CR or LF, no
# lone surrogates; values are stripped of blanks as Headers stores them.
_rtsp_line_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=24)

rtsp_header_names = st.one_of(
    st.sampled_from(_RTSP_HEADER_NAMES).flatmap(lambda name: st.sampled_from([name, name.lower(), name.upper()])),
    st.text(RTSP_TOKEN_CHARS, min_size=1, max_size=12),
).filter(lambda name: name.lower() != "content-length")
rtsp_header_values = st.one_of(st.text(_RTSP_PRINTABLE + " ", max_size=40), _rtsp_line_text).map(
    lambda value: value.strip(" \t")
)
rtsp_methods = st.one_of(
    st.sampled_from(RTSP_METHODS),
    st.text(RTSP_TOKEN_CHARS, min_size=1, max_size=10).filter(lambda method: not method.startswith("$")),
)
rtsp_uris = st.one_of(
    st.just("*"),
    st.builds(
        "rtsp://{}:{}/realplay?devid={}&channelno={}&streamtype={}&hashtoken={}{}".format,
        st.sampled_from(["127.0.0.1", "cam.example", "[::1]"]),
        st.integers(1, 65535),
        st.text("0123456789ABCDEF", min_size=1, max_size=12),
        st.integers(0, 16),
        st.integers(1, 2),
        st.text("0123456789abcdef", min_size=32, max_size=32),
        st.sampled_from(["", "/", "/trackID=1", "/streamid=0"]),
    ),
    st.text(_RTSP_PRINTABLE, min_size=1, max_size=40),
    _rtsp_line_text.filter(lambda uri: uri and " " not in uri),
)
rtsp_bodies = st.one_of(st.just(b""), st.binary(max_size=64))


@st.composite
def rtsp_headers(draw: st.DrawFn, body: bytes = b"") -> rtsp.Headers:
    """Headers with repeated names and odd spellings; a ``Content-Length``
    matching *body* when there is one (sometimes ``0`` when there is not)."""
    items = draw(st.lists(st.tuples(rtsp_header_names, rtsp_header_values), max_size=6))
    if body or draw(st.booleans()) and draw(st.booleans()):
        name = draw(st.sampled_from(["Content-Length", "content-length", "CONTENT-LENGTH", "Content-length"]))
        items.insert(draw(st.integers(0, len(items))), (name, str(len(body))))
    return rtsp.Headers(items)


@st.composite
def rtsp_requests(draw: st.DrawFn) -> rtsp.Request:
    body = draw(rtsp_bodies)
    return rtsp.Request(draw(rtsp_methods), draw(rtsp_uris), draw(rtsp_headers(body)), body)


@st.composite
def rtsp_responses(draw: st.DrawFn) -> rtsp.Response:
    body = draw(rtsp_bodies)
    code = draw(st.one_of(st.sampled_from(sorted(rtsp.REASONS)), st.integers(100, 999)))
    reason = draw(st.one_of(st.just(rtsp.reason_phrase(code)), _rtsp_line_text))
    return rtsp.Response(code, reason, draw(rtsp_headers(body)), body)


def rtsp_interleaved(max_data: int = 64) -> st.SearchStrategy[rtsp.Interleaved]:
    return st.builds(rtsp.Interleaved, st.integers(0, 0xFF), st.binary(max_size=max_data))


# One direction of an RTSP connection: messages and media, mixed.
rtsp_events = st.one_of(rtsp_requests(), rtsp_responses(), rtsp_interleaved())


# -- SOAP request shapes (kandian.mcu.xmlin): an XML document's size along each
# of the dimensions the reader bounds, around and past its limits
xml_shapes = st.fixed_dictionaries({
    "depth": st.integers(1, 40),
    "siblings": st.integers(0, 1100),
    "attributes": st.integers(0, 40),
    "namespaces": st.integers(0, 70),
})


def xml_of_shape(depth: int, siblings: int, attributes: int, namespaces: int) -> bytes:
    """A well-formed document: *depth* nested elements, *siblings* empty
    elements in the innermost, *attributes* on the innermost, *namespaces*
    declarations on the root."""
    ns = "".join(' xmlns:n%d="urn:n%d"' % (i, i) for i in range(namespaces))
    attrs_ = "".join(' a%d="v"' % i for i in range(attributes))
    inner = "<i%s>%s</i>" % (attrs_, "<s/>" * siblings)
    opening = "<r%s>" % ns + "<e>" * (depth - 2) if depth >= 2 else ""
    closing = "</e>" * (depth - 2) + "</r>" if depth >= 2 else ""
    if depth < 2:
        return ("<i%s%s>%s</i>" % (ns, attrs_, "<s/>" * siblings)).encode()
    return (opening + inner + closing).encode()


# --------------------------------------------------------------------------- SMGP 3.0
# kandian.sms.smgp: every PDU kandian reads or writes, TLVs, status reports.

from kandian.sms import smgp  # noqa: E402


def smgp_octets(width: int) -> st.SearchStrategy[str]:
    """A fixed-width text field's value: Latin-1 without NUL, at most *width* octets."""
    return st.one_of(st.text("0123456789", max_size=width),
                     st.text(st.characters(min_codepoint=1, max_codepoint=255), max_size=width))


_u8 = st.integers(0, 0xFF)
_u32 = st.integers(0, 0xFFFFFFFF)
smgp_tlvs = st.lists(st.builds(smgp.Tlv, st.integers(0, 0xFFFF), st.binary(max_size=8)), max_size=3).map(tuple)
smgp_msg_ids = st.binary(min_size=10, max_size=10)

smgp_pdus: dict[type, st.SearchStrategy[Any]] = {
    smgp.Login: st.builds(smgp.Login, _u32, smgp_octets(8), st.binary(min_size=16, max_size=16), _u8, _u32, _u8),
    smgp.LoginResp: st.builds(smgp.LoginResp, _u32, _u32, st.binary(min_size=16, max_size=16), _u8),
    smgp.Submit: st.builds(
        smgp.Submit, _u32, st.lists(smgp_octets(21), max_size=3), st.binary(max_size=255), _u8, smgp_octets(21),
        smgp_octets(10), _u8, _u8, _u8, smgp_octets(2), smgp_octets(6), smgp_octets(6), smgp_octets(17),
        smgp_octets(17), smgp_octets(21), smgp_octets(8), smgp_tlvs),
    smgp.SubmitResp: st.builds(smgp.SubmitResp, _u32, smgp_msg_ids, _u32),
    smgp.Deliver: st.builds(
        smgp.Deliver, _u32, smgp_msg_ids, _u8, _u8, smgp_octets(14), smgp_octets(21), smgp_octets(21),
        st.binary(max_size=255), smgp_octets(8), smgp_tlvs),
    smgp.DeliverResp: st.builds(smgp.DeliverResp, _u32, smgp_msg_ids, _u32),
    **{cls: st.builds(cls, _u32) for cls in (smgp.ActiveTest, smgp.ActiveTestResp, smgp.Exit, smgp.ExitResp)},
    smgp.UnknownPdu: st.builds(smgp.UnknownPdu, _u32.filter(lambda rid: rid not in smgp.PDU_CLASSES), _u32,
                               st.binary(max_size=32)),
}
any_smgp_pdu = st.sampled_from(list(smgp_pdus)).flatmap(smgp_pdus.__getitem__)

_report_token = st.text(st.characters(min_codepoint=33, max_codepoint=255).filter(lambda c: not c.isspace()),
                        min_size=1, max_size=10)
smgp_reports = st.builds(
    smgp.StatusReport, smgp_msg_ids, st.one_of(st.sampled_from(
        ["DELIVRD", "EXPIRED", "DELETED", "UNDELIV", "ACCEPTD", "UNKNOWN", "REJECTD"]), _report_token),
    _report_token, _report_token, _report_token, _report_token, _report_token,
    st.text(st.characters(min_codepoint=0, max_codepoint=255), max_size=20).map(lambda t: t.rstrip("\0")),
)
# Texts an SMS may carry: Chinese, ASCII, emoji outside the BMP (surrogate pairs in UCS2).
sms_texts = st.text(st.one_of(
    st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF),
    st.characters(min_codepoint=32, max_codepoint=126),
    st.characters(min_codepoint=0x1F300, max_codepoint=0x1F64F),
    st.characters(blacklist_categories=("Cs",)),
), max_size=700)
# -- FTP paths and file names (kandian.ftp.paths, kandian.core.files)

DEV_IDS = st.sampled_from(["81100000001", "81100000002", "81299999999"])
_picture_times = st.integers(min_value=946_684_800, max_value=4_102_444_799)  # 2000 … 2099
picture_extensions = st.sampled_from(["jpg", "JPG", "jpeg", "JPEG", "Jpg"])


@st.composite
def picture_names(draw, dev_ids=DEV_IDS):
    """(name, dev_id, channel, POSIX time) of a §7.5.27 picture name in Asia/Shanghai."""
    from zoneinfo import ZoneInfo

    from kandian.core.files import format_picture_name

    dev_id, channel, when = draw(dev_ids), draw(st.integers(0, 999)), draw(_picture_times)
    return (format_picture_name(dev_id, channel, when, ZoneInfo("Asia/Shanghai"), draw(picture_extensions)),
            dev_id, channel, when)


# one path segment: the view's own names, picture-like names, tricks, and anything
path_segments = st.one_of(
    st.sampled_from(["pictures", "logs", "firmware", ".", "..", "...", "", "fw.bin", "a.jpg", ".hidden",
                     "x\x00y", "-rf", "81100000002", "81100000001"]),
    picture_names().map(lambda p: p[0]),
    st.text("abcXYZ019._-/\\:*?%~ ", max_size=12),
    st.text(max_size=12),
)
ftp_paths = st.lists(path_segments, max_size=5).flatmap(
    lambda parts: st.sampled_from(["/", ""]).map(lambda lead: lead + "/".join(parts)))


# -- spec/000 (kandian.mvb.codec): element names and texts of a <Request>

mvb_tags = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,15}", fullmatch=True)
mvb_fields = st.lists(st.tuples(mvb_tags, xml_text), max_size=8, unique_by=lambda item: item[0])
mvb_encodings = st.sampled_from(["GB2312", "GBK", "GB18030", "UTF-8"])
