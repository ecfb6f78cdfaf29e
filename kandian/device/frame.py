"""Frame codec of the binary device link (spec §7.4 报文结构).

A frame on the TCP link between a camera/NVR and the platform (§7.4.1, 表 1)::

    HEAD(2) = FA F5 · CMD(1) · SEQ(2) · Remark(1) = 0 · LEN(2) · DATA(LEN) · MD5(16)

SEQ and LEN are big-endian (§7.4.4, §7.4.6); DATA is at most 65535 bytes
(§7.4.7); MD5 is the digest of header + DATA (§7.4.8). A response carries the
CMD and SEQ of its request; only requests advance the sender's counter, which
wraps from 65535 to 0 (:func:`next_seq`).

Decoding outcomes, as the link needs them:

* a :class:`Frame`;
* a :class:`BadDigest` event: the frame is dropped, but LEN was read, so the
  stream is still in step and decoding continues;
* :class:`OutOfSync` raised: the bytes where a frame must start are not
  ``FA F5``; nothing after them can be trusted, so the link must be closed;
* :class:`FrameTooLarge` raised: LEN exceeds the configured ``max_data``;
* partial data: nothing yet, the decoder waits for more.

Pure (ldaptor-style): :func:`decode_frame` is ``buf -> (event, consumed)`` or
``None`` for "need more"; :class:`FrameDecoder` buffers arbitrary chunks. No
I/O, no Twisted.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from collections.abc import Callable, Iterator

import attrs

__all__ = [
    "HEAD",
    "HEADER_SIZE",
    "DIGEST_SIZE",
    "MAX_DATA",
    "SEQ_MODULUS",
    "FrameError",
    "OutOfSync",
    "FrameTooLarge",
    "Frame",
    "BadDigest",
    "FrameEvent",
    "decode_frame",
    "FrameDecoder",
    "next_seq",
]

HEAD = b"\xfa\xf5"
_HEADER = struct.Struct(">2sBHBH")
HEADER_SIZE = _HEADER.size
DIGEST_SIZE = 16
MAX_DATA = 65535
SEQ_MODULUS = 65536


class FrameError(Exception):
    """The byte stream cannot be decoded into frames; close the link."""


class OutOfSync(FrameError):
    """A frame does not start with ``FA F5`` (§7.4.2)."""


class FrameTooLarge(FrameError):
    """A frame announces more DATA than the decoder accepts (§7.4.7)."""


def _in_range(low: int, high: int) -> Callable[[object, attrs.Attribute, object], None]:
    def check(instance: object, attribute: attrs.Attribute, value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{attribute.name} must be an int, got {type(value).__name__}")
        if not low <= value <= high:
            raise ValueError(f"{attribute.name} must be in {low}..{high}, got {value}")

    return check


def _data(instance: object, attribute: attrs.Attribute, value: object) -> None:
    if not isinstance(value, bytes):
        raise TypeError(f"data must be bytes, got {type(value).__name__}")
    if len(value) > MAX_DATA:
        raise ValueError(f"data of {len(value)} bytes exceeds {MAX_DATA}")


@attrs.frozen
class Frame:
    """One frame of the device link: CMD, SEQ, DATA (an XML body) and Remark."""

    cmd: int = attrs.field(validator=_in_range(0, 0xFF))
    seq: int = attrs.field(validator=_in_range(0, SEQ_MODULUS - 1))
    data: bytes = attrs.field(validator=_data, repr=lambda data: f"<{len(data)} bytes>")
    remark: int = attrs.field(default=0, validator=_in_range(0, 0xFF))

    def to_wire(self) -> bytes:
        head = _HEADER.pack(HEAD, self.cmd, self.seq, self.remark, len(self.data)) + self.data
        return head + hashlib.md5(head).digest()


@attrs.frozen
class BadDigest:
    """A frame whose MD5 does not match its header + DATA; it was dropped."""

    cmd: int
    seq: int
    remark: int
    data: bytes = attrs.field(repr=lambda data: f"<{len(data)} bytes>")
    digest: bytes


FrameEvent = Frame | BadDigest


def decode_frame(
    buf: bytes | bytearray | memoryview, max_data: int = MAX_DATA
) -> tuple[FrameEvent, int] | None:
    """Decode the frame at the start of *buf*.

    Returns ``(event, consumed)``, or ``None`` when *buf* holds only part of a
    frame. Raises :class:`OutOfSync` as soon as the first bytes are not the
    start word, and :class:`FrameTooLarge` as soon as LEN is known to exceed
    *max_data*.
    """
    available = len(buf)
    if available >= 1 and buf[0] != HEAD[0] or available >= 2 and buf[1] != HEAD[1]:
        raise OutOfSync(f"expected start word FA F5, got {bytes(buf[:2]).hex(' ').upper()}")
    if available < HEADER_SIZE:
        return None
    _, cmd, seq, remark, length = _HEADER.unpack_from(buf)
    if length > max_data:
        raise FrameTooLarge(f"CMD 0x{cmd:02X} SEQ {seq}: LEN {length} exceeds {max_data}")
    end = HEADER_SIZE + length
    total = end + DIGEST_SIZE
    if available < total:
        return None
    signed = bytes(buf[:end])
    digest = bytes(buf[end:total])
    data = signed[HEADER_SIZE:]
    if not hmac.compare_digest(hashlib.md5(signed).digest(), digest):
        return BadDigest(cmd=cmd, seq=seq, remark=remark, data=data, digest=digest), total
    return Frame(cmd=cmd, seq=seq, data=data, remark=remark), total


class FrameDecoder:
    """Incremental decoder: feed it bytes in any chunks, iterate the events.

    ``feed`` buffers its argument at once and returns an iterator that decodes
    lazily, so that frames before a fatal error are still handed out before
    the error is raised; events not iterated stay buffered and come out of the
    next iterator. Once a :class:`FrameError` has been raised, every later
    ``feed`` raises it again.
    """

    def __init__(self, max_data: int = MAX_DATA) -> None:
        if not 0 <= max_data <= MAX_DATA:
            raise ValueError(f"max_data must be in 0..{MAX_DATA}, got {max_data}")
        self.max_data = max_data
        self._buffer = bytearray()
        self._error: FrameError | None = None

    @property
    def buffered(self) -> int:
        """Bytes received but not yet decoded into an event."""
        return len(self._buffer)

    def feed(self, data: bytes) -> Iterator[FrameEvent]:
        if self._error is not None:
            raise self._error
        self._buffer += data
        return self._events()

    def _events(self) -> Iterator[FrameEvent]:
        while self._error is None:
            try:
                decoded = decode_frame(self._buffer, self.max_data)
            except FrameError as e:
                self._error = e
                raise
            if decoded is None:
                return
            event, consumed = decoded
            del self._buffer[:consumed]
            yield event
        raise self._error


def next_seq(seq: int) -> int:
    """The SEQ of the next request after *seq* (§7.4.4: 0…65535, then 0)."""
    return (seq + 1) % SEQ_MODULUS
