"""Sans-IO codec of RTSP/1.0 (RFC 2326) as the RTSP relay speaks it (spec §10, §15).

The relay (PRODUCT.md "RTSP relay") carries RTSP signalling between phone apps
and cameras and, once a stream plays, RTP and RTCP interleaved in the same TCP
connection (spec §15 steps 1, 2 and 4, ``Transport: RTP/AVP/TCP;unicast;
interleaved=0-1``; §10.1 DESCRIBE, SETUP, PLAY with ``Scale``/``Range``,
PAUSE, TEARDOWN; §10.4 OPTIONS keep-alive). This module turns that byte
stream into events and back:

* :class:`Request` and :class:`Response` (RFC 2326 §6, §7): start line,
  :class:`Headers`, a body of ``Content-Length`` bytes (§12.14; RTSP has no
  chunked encoding, and a message without ``Content-Length`` has no body);
* :class:`Interleaved` (RFC 2326 §10.12): ``$``, a channel byte, a 16-bit
  big-endian length and that many bytes of RTP or RTCP;
* :class:`InterleavedRun`: with ``coalesce_interleaved=True`` the decoder hands
  out each run of consecutive complete ``$`` frames as one event holding their
  raw bytes, so that a relay forwards a chunk of media with one write and
  builds no object per packet (:func:`scan_interleaved` is that walk).

:class:`RTSPDecoder` accepts any chunking. It is lenient where real peers
differ (bare LF line ends as some cameras send, folded headers, blank lines
between messages, ``CSeq : 4``) and strict where a relay must not guess:
a header line without a colon, a bare CR inside a line, several different
``Content-Length`` values or a non-RTSP version are errors, so that the relay
and the camera can never read one byte stream as two different messages.
Header bytes are decoded as UTF-8 with ``surrogateescape``: any byte comes out
of :meth:`Request.to_bytes` exactly as it came in.

Errors are :class:`RTSPError` (a ``ValueError``) subclasses: :class:`BadMessage`,
:class:`BadVersion` (answer 505: it carries the request's version, method, URI
and headers, CSeq included) and :class:`MessageTooLarge`. The events decoded
before the error in the same ``feed`` are in the exception's ``events``; the
decoder is then poisoned and raises the same error on every later ``feed``.

The relay's other pure helpers are in :mod:`kandian.rtsp.url` (URLs) and
:mod:`kandian.rtsp.transport` (the Transport header).

No I/O and no Twisted here (STYLE.md "Codecs pure, ldaptor-style").
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import attrs

__all__ = [
    "RTSP_VERSION",
    "MAX_INTERLEAVED",
    "REASONS",
    "reason_phrase",
    "Headers",
    "Request",
    "Response",
    "Interleaved",
    "InterleavedRun",
    "Event",
    "RTSPError",
    "BadMessage",
    "BadVersion",
    "MessageTooLarge",
    "RTSPDecoder",
    "scan_interleaved",
]

RTSP_VERSION = "RTSP/1.0"
MAX_INTERLEAVED = 0xFFFF

# RFC 2326 §7.1.1 (and the RFC 2616 codes it inherits).
REASONS: dict[int, str] = {
    100: "Continue",
    200: "OK",
    201: "Created",
    250: "Low on Storage Space",
    300: "Multiple Choices",
    301: "Moved Permanently",
    302: "Moved Temporarily",
    303: "See Other",
    304: "Not Modified",
    305: "Use Proxy",
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    407: "Proxy Authentication Required",
    408: "Request Time-out",
    410: "Gone",
    411: "Length Required",
    412: "Precondition Failed",
    413: "Request Entity Too Large",
    414: "Request-URI Too Large",
    415: "Unsupported Media Type",
    451: "Parameter Not Understood",
    452: "Conference Not Found",
    453: "Not Enough Bandwidth",
    454: "Session Not Found",
    455: "Method Not Valid in This State",
    456: "Header Field Not Valid for Resource",
    457: "Invalid Range",
    458: "Parameter Is Read-Only",
    459: "Aggregate Operation Not Allowed",
    460: "Only Aggregate Operation Allowed",
    461: "Unsupported Transport",
    462: "Destination Unreachable",
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Time-out",
    505: "RTSP Version Not Supported",
    551: "Option Not Supported",
}
_CLASS_REASONS = {1: "Informational", 2: "Success", 3: "Redirection", 4: "Client Error", 5: "Server Error"}


def reason_phrase(code: int) -> str:
    """The standard reason phrase of *code*, or its class's name for another code."""
    return REASONS.get(code) or _CLASS_REASONS.get(code // 100, "Unknown")


# RFC 2616 §2.2 token: what a method or a header name may be made of.
_TOKEN_CHARS = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_TOKEN_BYTES = frozenset(_TOKEN_CHARS.encode("ascii"))
_VERSION = re.compile(r"[A-Za-z][A-Za-z0-9\-]*/[0-9]+\.[0-9]+")
_RTSP_VERSION = re.compile(r"RTSP/[0-9]+\.[0-9]+")
_DIGITS = re.compile(r"[0-9]+")
_REQUEST_LINE = re.compile(r"([^ ]+) +([^ ]+) +([^ ]+) *")
_STATUS_REST = re.compile(r" +([0-9]{3})(?: +(.*))?")

_ENCODING = "utf-8"
_ERRORS = "surrogateescape"  # any byte survives decode → encode


def _check_text(what: str, value: str) -> None:
    if "\r" in value or "\n" in value:
        raise ValueError(f"{what} must not contain CR or LF: {value!r}")
    value.encode(_ENCODING, _ERRORS)  # UnicodeEncodeError (a ValueError) for a lone surrogate


class Headers:
    """An ordered, case-insensitive multi-map of RTSP headers.

    Names keep their spelling and the headers their order, so that a decoded
    message is written out as it came. Values are ``str``, stripped of leading
    and trailing blanks, without CR or LF. Two ``Headers`` are equal when they
    hold the same names, spelt the same, with the same values in the same
    order. Iterating yields ``(name, value)`` pairs.
    """

    __slots__ = ("_items",)

    def __init__(self, items: Headers | Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> None:
        self._items: list[tuple[str, str]] = []
        if isinstance(items, Headers):
            self._items = list(items._items)
            return
        pairs = items.items() if isinstance(items, Mapping) else items
        for name, value in pairs:
            self.add(name, value)

    @classmethod
    def _trusted(cls, items: list[tuple[str, str]]) -> Headers:
        headers = cls.__new__(cls)
        headers._items = items
        return headers

    @staticmethod
    def _checked(name: str, value: str | int) -> tuple[str, str]:
        if not isinstance(name, str) or not _TOKEN.fullmatch(name):
            raise ValueError(f"header name must be a token, got {name!r}")
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            raise TypeError(f"header {name} value must be str, got {type(value).__name__}")
        value = value.strip(" \t")
        _check_text(f"header {name}", value)
        return name, value

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of *name*, or *default*."""
        key = name.lower()
        for have, value in self._items:
            if have.lower() == key:
                return value
        return default

    def get_all(self, name: str) -> list[str]:
        """Every value of *name*, in order."""
        key = name.lower()
        return [value for have, value in self._items if have.lower() == key]

    def add(self, name: str, value: str | int) -> None:
        """Append a header, after any others of the same name."""
        self._items.append(self._checked(name, value))

    def set(self, name: str, value: str | int) -> None:
        """Give *name* the single value *value*.

        The first header of that name keeps its place and spelling and takes
        the value; the others are removed. Appended when there is none.
        """
        name, value = self._checked(name, value)
        key = name.lower()
        items: list[tuple[str, str]] = []
        done = False
        for have, old in self._items:
            if have.lower() != key:
                items.append((have, old))
            elif not done:
                items.append((have, value))
                done = True
        if not done:
            items.append((name, value))
        self._items = items

    def remove(self, name: str) -> int:
        """Remove every header called *name*; how many there were."""
        key = name.lower()
        before = len(self._items)
        self._items = [item for item in self._items if item[0].lower() != key]
        return before - len(self._items)

    def items(self) -> list[tuple[str, str]]:
        return list(self._items)

    def copy(self) -> Headers:
        return Headers._trusted(list(self._items))

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        key = name.lower()
        return any(have.lower() == key for have, _ in self._items)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return self._items == other._items

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


def _as_headers(value: Any) -> Headers:
    return value if isinstance(value, Headers) else Headers(value)


def _bytes(instance: object, attribute: attrs.Attribute, value: object) -> None:
    if not isinstance(value, bytes):
        raise TypeError(f"{attribute.name} must be bytes, got {type(value).__name__}")


def _method(instance: object, attribute: attrs.Attribute, value: object) -> None:
    if not isinstance(value, str) or not _TOKEN.fullmatch(value) or value.startswith("$"):
        raise ValueError(f"method must be a token not starting with '$', got {value!r}")


def _uri(instance: object, attribute: attrs.Attribute, value: object) -> None:
    if not isinstance(value, str) or not value or " " in value:
        raise ValueError(f"uri must be a non-empty str without spaces, got {value!r}")
    _check_text("uri", value)


def _version(pattern: re.Pattern[str]) -> Callable[[object, attrs.Attribute, object], None]:
    def check(instance: object, attribute: attrs.Attribute, value: object) -> None:
        if not isinstance(value, str) or not pattern.fullmatch(value):
            raise ValueError(f"bad protocol version {value!r}")

    return check


def _code(instance: object, attribute: attrs.Attribute, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 100 <= value <= 999:
        raise ValueError(f"status code must be an int in 100..999, got {value!r}")


def _reason(value: object) -> object:
    return value.strip(" \t") if isinstance(value, str) else value


def _reason_check(instance: object, attribute: attrs.Attribute, value: object) -> None:
    if not isinstance(value, str):
        raise TypeError(f"reason must be str, got {type(value).__name__}")
    _check_text("reason", value)


def _body_repr(body: bytes) -> str:
    return repr(body) if len(body) <= 32 else f"<{len(body)} bytes>"


def _cseq(headers: Headers) -> int | None:
    value = headers.get("CSeq")
    return int(value) if value is not None and _DIGITS.fullmatch(value) else None


def _session_id(headers: Headers) -> str | None:
    value = headers.get("Session")
    return None if value is None else value.split(";", 1)[0].strip(" \t")


def _encode(start: str, headers: Headers, body: bytes) -> bytes:
    if body or "Content-Length" in headers:
        headers = headers.copy()
        headers.set("Content-Length", str(len(body)))
    lines = [start, *(f"{name}: {value}" for name, value in headers._items), "", ""]
    return "\r\n".join(lines).encode(_ENCODING, _ERRORS) + body


@attrs.frozen
class Request:
    """An RTSP request (RFC 2326 §6). ``headers`` is a mutable :class:`Headers`."""

    method: str = attrs.field(validator=_method)
    uri: str = attrs.field(validator=_uri)
    headers: Headers = attrs.field(factory=Headers, converter=_as_headers)
    body: bytes = attrs.field(default=b"", validator=_bytes, repr=_body_repr)
    version: str = attrs.field(default=RTSP_VERSION, validator=_version(_VERSION))

    @property
    def cseq(self) -> int | None:
        return _cseq(self.headers)

    @property
    def session_id(self) -> str | None:
        """The ``Session`` header without its parameters (``;timeout=…``)."""
        return _session_id(self.headers)

    def to_bytes(self) -> bytes:
        """The wire form; ``Content-Length`` is set from the body when there is one."""
        return _encode(f"{self.method} {self.uri} {self.version}", self.headers, self.body)


@attrs.frozen
class Response:
    """An RTSP response (RFC 2326 §7). ``headers`` is a mutable :class:`Headers`."""

    code: int = attrs.field(validator=_code)
    reason: str = attrs.field(converter=_reason, validator=_reason_check)
    headers: Headers = attrs.field(factory=Headers, converter=_as_headers)
    body: bytes = attrs.field(default=b"", validator=_bytes, repr=_body_repr)
    version: str = attrs.field(default=RTSP_VERSION, validator=_version(_RTSP_VERSION))

    @property
    def cseq(self) -> int | None:
        return _cseq(self.headers)

    @property
    def session_id(self) -> str | None:
        """The ``Session`` header without its parameters (``;timeout=…``)."""
        return _session_id(self.headers)

    def to_bytes(self) -> bytes:
        """The wire form; ``Content-Length`` is set from the body when there is one."""
        return _encode(f"{self.version} {self.code} {self.reason}", self.headers, self.body)

    @classmethod
    def for_request(
        cls,
        request: Request | None,
        code: int,
        reason: str | None = None,
        headers: Headers | Mapping[str, str] | Iterable[tuple[str, str]] = (),
        body: bytes = b"",
    ) -> Response:
        """A response to *request*: its ``CSeq`` and ``Session`` (when present)
        first, then *headers*; *reason* defaults to the standard phrase.

        *request* may be a :class:`BadVersion` error too (it has ``headers``),
        or ``None`` when nothing of the request could be read.
        """
        out = Headers()
        source = getattr(request, "headers", None)
        if source is not None:
            for name in ("CSeq", "Session"):
                value = source.get(name)
                if value is not None:
                    out.add(name, value)
        for name, value in _as_headers(headers):
            out.add(name, value)
        return cls(code, reason_phrase(code) if reason is None else reason, out, body)


def _channel(instance: object, attribute: attrs.Attribute, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0xFF:
        raise ValueError(f"channel must be an int in 0..255, got {value!r}")


def _frame_data(instance: object, attribute: attrs.Attribute, value: object) -> None:
    _bytes(instance, attribute, value)
    if len(value) > MAX_INTERLEAVED:  # type: ignore[arg-type]
        raise ValueError(f"interleaved data of {len(value)} bytes exceeds {MAX_INTERLEAVED}")  # type: ignore[arg-type]


_FRAME_HEAD = struct.Struct(">BBH")


@attrs.frozen
class Interleaved:
    """One interleaved binary frame (RFC 2326 §10.12): ``$`` channel length data."""

    channel: int = attrs.field(validator=_channel)
    data: bytes = attrs.field(validator=_frame_data, repr=_body_repr)

    def to_bytes(self) -> bytes:
        return _FRAME_HEAD.pack(0x24, self.channel, len(self.data)) + self.data


@attrs.frozen
class InterleavedRun:
    """Consecutive complete interleaved frames, as their raw bytes (``$`` headers included)."""

    data: bytes = attrs.field(validator=_bytes, repr=_body_repr)
    frames: int

    def to_bytes(self) -> bytes:
        return self.data

    def split(self) -> list[Interleaved]:
        """The frames one by one (for tests and logging, not the media path)."""
        out, pos, data = [], 0, self.data
        while pos < len(data):
            end = pos + 4 + int.from_bytes(data[pos + 2 : pos + 4], "big")
            out.append(Interleaved(data[pos + 1], data[pos + 4 : end]))
            pos = end
        return out


Event = Request | Response | Interleaved | InterleavedRun


class RTSPError(ValueError):
    """The byte stream cannot be decoded; answer if possible, then close.

    ``events`` holds what the failing ``feed`` decoded before the error;
    ``media``, what :meth:`RTSPDecoder.feed_media` passed on before them.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.events: list[Event] = []
        self.media = b""


class MessageTooLarge(RTSPError):
    """A header block longer than ``max_header_bytes`` or a ``Content-Length``
    over ``max_body_bytes`` (answer 413 or 400, then close)."""

    def __init__(self, message: str, limit: int) -> None:
        super().__init__(message)
        self.limit = limit


class BadMessage(RTSPError):
    """An unparseable start line or header, a bad ``Content-Length``, or a
    message of another protocol (``version``, when one was read, e.g. ``HTTP/1.1``)."""

    def __init__(self, message: str, version: str | None = None) -> None:
        super().__init__(message)
        self.version = version


class BadVersion(BadMessage):
    """A well-formed request line whose version is not RTSP/1.0: answer 505
    with :meth:`Response.for_request` (this error has the request's headers)."""

    def __init__(self, message: str, version: str, method: str, uri: str, headers: Headers) -> None:
        super().__init__(message, version)
        self.method = method
        self.uri = uri
        self.headers = headers

    @property
    def cseq(self) -> int | None:
        return _cseq(self.headers)


_ONE_BYTE = [bytes((i,)) for i in range(256)]
_DOLLAR = b"$"


def _leading(run: bytes, value: int) -> int:
    """How many bytes at the start of *run* are *value*."""
    return len(run) - len(run.lstrip(_ONE_BYTE[value]))


def _frames_end(buf: bytes | bytearray | memoryview, pos: int, n: int) -> tuple[int, int]:
    """``(end, frames)`` of the complete ``$`` frames at ``buf[pos:n]``.

    A frame's header is read in Python; the frames of the same size after it
    (a camera sends a video frame as packets of its MTU) are checked a
    stride at a time by bytes operations — three stride slices compared in
    C, their ``lstrip`` only when one differs — so that a run of equal
    frames costs a few Python operations, not a few per frame.
    """
    frames = 0
    while pos + 4 <= n and buf[pos] == 0x24:
        high = buf[pos + 2]
        low = buf[pos + 3]
        size = 4 + (high << 8 | low)
        end = pos + size
        if end > n:
            break
        frames += 1
        count = (n - end) // size  # whole frames of this size that would fit after it
        if count >= 3:
            last = end + count * size
            dollars = buf[end:last:size]
            highs = buf[end + 2 : last : size]
            lows = buf[end + 3 : last : size]
            if dollars == _DOLLAR * count and highs == _ONE_BYTE[high] * count and lows == _ONE_BYTE[low] * count:
                same = count
            else:
                same = min(_leading(dollars, 0x24), _leading(highs, high), _leading(lows, low))
            end += same * size
            frames += same
        pos = end
    return pos, frames


def scan_interleaved(buf: bytes | bytearray | memoryview, start: int = 0) -> tuple[int, int]:
    """Walk the complete interleaved frames at ``buf[start:]``.

    Returns ``(end, frames)``: ``buf[start:end]`` is *frames* whole ``$``
    frames, and ``buf[end:]`` starts with something else (an RTSP message, a
    partial frame, or nothing).
    """
    if type(buf) is memoryview:
        buf = buf.tobytes()
    return _frames_end(buf, start, len(buf))


def _start_line(line: str) -> tuple[bool, str, str, str]:
    """Read a start line: ``(True, version, code, reason)`` for a status line,
    ``(False, version, method, uri)`` for a request line (whose version the
    caller checks). Raises :class:`BadMessage` for anything else."""
    first = line.split(" ", 1)[0]
    if "/" in first:  # a status line: methods are tokens, and tokens have no '/'
        if not _VERSION.fullmatch(first):
            raise BadMessage(f"unparseable start line {line[:80]!r}")
        if not _RTSP_VERSION.fullmatch(first):
            raise BadMessage(f"not an RTSP status line: {line[:80]!r}", version=first)
        rest = _STATUS_REST.fullmatch(line, len(first))
        if rest is None:
            raise BadMessage(f"unparseable status line {line[:80]!r}", version=first)
        return True, first, rest.group(1), rest.group(2) or ""
    match = _REQUEST_LINE.fullmatch(line)
    if match is None or not _TOKEN.fullmatch(match.group(1)) or not _VERSION.fullmatch(match.group(3)):
        raise BadMessage(f"unparseable start line {line[:80]!r}")
    method, uri, version = match.groups()
    return False, version, method, uri


def _header_items(lines: list[str]) -> list[tuple[str, str]]:
    items: list[tuple[str, str]] = []
    for line in lines:
        if line[0] in " \t":  # folded: a continuation of the previous header (RFC 2616 §2.2)
            if not items:
                raise BadMessage("continuation line before the first header")
            piece = line.strip(" \t")
            name, value = items[-1]
            if piece:
                items[-1] = (name, f"{value} {piece}" if value else piece)
            continue
        name, colon, value = line.partition(":")
        name = name.rstrip(" \t")
        if not colon or not _TOKEN.fullmatch(name):
            raise BadMessage(f"malformed header line {line[:80]!r}")
        value = value.strip(" \t")
        if "\r" in value:
            raise BadMessage(f"bare CR in header {name}")
        items.append((name, value))
    return items


class RTSPDecoder:
    """Incremental decoder of one direction of an RTSP connection.

    ``feed(data)`` takes bytes in any chunks and returns the events completed
    so far: :class:`Request`, :class:`Response`, and :class:`Interleaved` —
    or, with ``coalesce_interleaved=True``, :class:`InterleavedRun` for each
    run of consecutive complete ``$`` frames. Errors are :class:`RTSPError`;
    after one, every ``feed`` raises it again.
    """

    def __init__(
        self, max_header_bytes: int = 8192, max_body_bytes: int = 65536, coalesce_interleaved: bool = False
    ) -> None:
        if max_header_bytes < 16:
            raise ValueError(f"max_header_bytes must be at least 16, got {max_header_bytes}")
        if max_body_bytes < 0:
            raise ValueError(f"max_body_bytes must be >= 0, got {max_body_bytes}")
        self.max_header_bytes = max_header_bytes
        self.max_body_bytes = max_body_bytes
        self.coalesce_interleaved = coalesce_interleaved
        self._chunks: list[bytes] = []
        self._held = 0
        self._need = 1  # bytes that must be held before decoding can progress
        self._pending: tuple[Request | Response, int, int] | None = None  # head read: body length, head size
        self._error: RTSPError | None = None
        self._left = 0  # feed_media: bytes of the frame under way still to come (its start was handed out)

    @property
    def buffered(self) -> int:
        """Bytes received but not yet handed out in an event."""
        return self._held + (self._pending[2] if self._pending is not None else 0)

    @property
    def error(self) -> RTSPError | None:
        """The error that poisoned this decoder, if any."""
        return self._error

    def feed(self, data: bytes | bytearray | memoryview) -> list[Event]:
        if self._error is not None:
            self._error.events = []
            self._error.media = b""
            raise self._error
        if self._left:
            raise RuntimeError("feed() while feed_media() is %d bytes short of a frame's end" % (self._left,))
        if data:
            self._chunks.append(data if type(data) is bytes else bytes(data))
            self._held += len(data)
        if self._held < self._need:
            return []
        buf = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
        n = len(buf)
        pos = 0
        need = 1
        events: list[Event] = []
        append = events.append
        try:
            while pos < n:
                if self._pending is not None:
                    message, length, _ = self._pending
                    if n - pos < length:
                        break
                    append(attrs.evolve(message, body=buf[pos : pos + length]))
                    self._pending = None
                    pos += length
                    continue
                c = buf[pos]
                if c == 0x24:  # '$': interleaved frames, the media path
                    if self.coalesce_interleaved:
                        end, frames = scan_interleaved(buf, pos)
                        if frames:
                            append(InterleavedRun(buf[pos:end], frames))
                            pos = end
                    else:
                        new, setattr_ = object.__new__, object.__setattr__
                        while pos + 4 <= n and buf[pos] == 0x24:
                            end = pos + 4 + (buf[pos + 2] << 8 | buf[pos + 3])
                            if end > n:
                                break
                            event = new(Interleaved)
                            setattr_(event, "channel", buf[pos + 1])
                            setattr_(event, "data", buf[pos + 4 : end])
                            append(event)
                            pos = end
                    if pos < n and buf[pos] == 0x24:  # a partial frame
                        need = 4 if n - pos < 4 else 4 + (buf[pos + 2] << 8 | buf[pos + 3])
                        break
                    continue
                if c == 0x0D or c == 0x0A:  # blank lines between messages
                    pos += 1
                    continue
                head_end = self._head_end(buf, pos, n)
                if head_end < 0:
                    break
                message, length = self._parse_head(buf[pos:head_end])
                if length:
                    self._pending = (message, length, head_end - pos)
                else:
                    append(message)
                pos = head_end
        except RTSPError as e:
            e.events = events
            self._error = e
            raise
        finally:
            rest = buf[pos:] if pos else buf
            self._chunks = [rest] if rest else []
            self._held = n - pos
        if self._pending is not None:
            self._need = self._pending[1]
        elif need > 1:
            self._need = need
        else:
            self._need = self._held + 1
        return events

    @property
    def frame_left(self) -> int:
        """Bytes of the interleaved frame under way that :meth:`feed_media` has
        not handed out yet: 0 when the media handed out so far ends on a frame
        boundary."""
        return self._left

    def feed_media(self, data: bytes) -> tuple[bytes, list[Event]]:
        """The media fast path: ``(run, events)``, where *run* is the media
        that *data* carries up to the first RTSP message, as one ``bytes`` to
        be written as it is, and *events* what follows (decoded as :meth:`feed`
        does, with ``coalesce_interleaved=True``).

        Media is passed on as it arrives, frame boundaries or not: a run may
        end inside a frame and the next one go on with it (:attr:`frame_left`
        says how much of that frame is still to come).  Only the frames'
        4-byte headers are read, at the frame boundaries, which are tracked
        across calls: a read that lies inside one frame is not looked at, and
        a read of media only is handed back as the very ``bytes`` object
        (no copy).  The only bytes held back are a frame header cut short by
        the end of *data* (1 to 3 bytes), and whatever :meth:`feed` holds.
        Where a byte other than ``$`` starts at a frame boundary (an RTSP
        message) the rest of *data* goes through :meth:`feed`.

        Joined, the runs and the events' media are the stream's frames byte
        for byte, in order with its messages, for any chunking.  On an error
        its ``media`` is the run this call passed before the failing message
        and its ``events`` what :meth:`feed` decoded after it.  Once this has
        handed out part of a frame (``frame_left > 0``) the decoder must be
        fed with this method until the frame is complete.
        """
        if type(data) is not bytes:
            data = bytes(data)
        left = self._left
        n = len(data)
        if left:  # inside a frame whose start was passed on: nothing is held
            if left >= n:
                self._left = left - n
                return data, []
        elif self._chunks or self._pending is not None or self._error is not None:
            if self._pending is not None or self._error is not None:
                return b"", self.feed(data)
            tail = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
            if tail[0] != 0x24:  # the start of a message
                return b"", self.feed(data)
            # a frame's start held (a cut header, or a frame feed held): passed on with this read
            data = tail + data
            n = len(data)
            self._chunks = []
            self._held = 0
            self._need = 1
        pos = _frames_end(data, left, n)[0]
        if pos == n:
            self._left = 0
            return data, []
        if data[pos] == 0x24:
            if n - pos >= 4:  # a frame under way: passed on, its end comes with a later read
                self._left = pos + 4 + (data[pos + 2] << 8 | data[pos + 3]) - n
                return data, []
            self._left = 0  # a header cut short: held until its length can be read
            self._chunks = [data[pos:]]
            self._held = n - pos
            self._need = 4
            return data[:pos], []
        # an RTSP message (or garbage) at a frame boundary: the full decoder from here
        self._left = 0
        run = data[:pos]
        try:
            events = self.feed(data[pos:])
        except RTSPError as e:
            e.media = run
            raise
        return run, events

    def _head_end(self, buf: bytes, pos: int, n: int) -> int:
        """The end of the header block at *pos*, or -1 while it is incomplete."""
        limit = min(n, pos + self.max_header_bytes)
        lf = buf.find(b"\n\n", pos, limit)
        crlf = buf.find(b"\n\r\n", pos, limit)
        if lf >= 0 and (crlf < 0 or lf < crlf):
            return lf + 2
        if crlf >= 0:
            return crlf + 3
        # Incomplete: fail early on what cannot become an RTSP message.
        if buf[pos] not in _TOKEN_BYTES:
            raise BadMessage(f"a message cannot start with {bytes(buf[pos:pos + 1])!r}")
        first = buf.find(b"\n", pos, limit)
        if first >= 0:
            line = buf[pos:first].decode(_ENCODING, _ERRORS)
            _start_line(line[:-1] if line.endswith("\r") else line)
        if n - pos >= self.max_header_bytes:
            raise MessageTooLarge(
                f"no end of headers in the first {self.max_header_bytes} bytes", self.max_header_bytes
            )
        return -1

    def _parse_head(self, head: bytes) -> tuple[Request | Response, int]:
        lines = head.decode(_ENCODING, _ERRORS).split("\n")
        lines = [line[:-1] if line.endswith("\r") else line for line in lines]
        is_response, version, a, b = _start_line(lines[0])
        items = _header_items(lines[1:-2])
        headers = Headers._trusted(items)
        if not is_response and version != RTSP_VERSION:
            raise BadVersion(f"{a} request with version {version}", version, a, b, headers)
        length = self._content_length(items)
        try:
            if is_response:
                message: Request | Response = Response(int(a), b, headers, b"", version)
            else:
                message = Request(a, b, headers, b"", version)
        except (ValueError, TypeError) as e:
            raise BadMessage(str(e), version=version) from None
        return message, length

    def _content_length(self, items: list[tuple[str, str]]) -> int:
        values = {value for name, value in items if name.lower() == "content-length"}
        if not values:
            return 0
        lengths = set()
        for value in values:
            if not _DIGITS.fullmatch(value):
                raise BadMessage(f"bad Content-Length {value[:40]!r}")
            digits = value.lstrip("0")
            lengths.add(int(digits or "0") if len(digits) <= 18 else self.max_body_bytes + 1)
        if len(lengths) > 1:
            raise BadMessage(f"conflicting Content-Length values {sorted(values)!r}")
        (length,) = lengths
        if length > self.max_body_bytes:
            raise MessageTooLarge(f"Content-Length {length} exceeds {self.max_body_bytes}", self.max_body_bytes)
        return length
