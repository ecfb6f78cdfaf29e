"""A ``multipart/form-data`` body read as it comes (RFC 7578 over RFC 2046 §5.1): sans-IO, bounded memory.

The portal's firmware form (``POST /api/v1/firmware``) carries an image of up
to 64 MiB; this reader hands its bytes on in pieces instead of holding the
whole body.  :meth:`FormReader.feed` takes any chunking of the body and
answers events: :class:`Part` (a part's headers), ``bytes`` (its content, in
pieces) and :data:`END` (the part is over); :meth:`FormReader.close` checks
that the closing delimiter came.  A body not so formed raises
:class:`MultipartError` and nothing else.
"""

from __future__ import annotations

import email.message
import email.utils
from typing import NamedTuple

MAX_HEADERS = 8192  # a part's header block
MAX_PADDING = 256  # whitespace a sender may put after a delimiter (RFC 2046's transport padding)
END = None  # the event that ends a part


class MultipartError(ValueError):
    """The body is not a well-formed multipart body with this boundary."""


class Part(NamedTuple):
    name: str | None  # Content-Disposition's name
    filename: str | None
    content_type: str | None


def boundary_of(content_type: str) -> bytes:
    """The boundary of a ``multipart/form-data; boundary=…`` header value."""
    message = email.message.Message()
    message["content-type"] = content_type
    boundary = message.get_param("boundary")
    if not isinstance(boundary, str) or not 1 <= len(boundary) <= 70:
        raise MultipartError("no boundary of 1 to 70 characters")
    try:
        return boundary.encode("ascii")
    except UnicodeEncodeError:
        raise MultipartError("the boundary is not ASCII") from None


_PREAMBLE, _DELIMITED, _HEADERS, _BODY, _EPILOGUE = range(5)


class FormReader:
    def __init__(self, boundary: bytes):
        self._delimiter = b"\r\n--" + boundary
        # the first delimiter may open the body without the CRLF before it
        self._buffer = bytearray(b"\r\n")
        self._state = _PREAMBLE

    def feed(self, data: bytes) -> list:
        """The events *data* completes (Part, bytes, END)."""
        self._buffer += data
        events: list = []
        buffer, delimiter = self._buffer, self._delimiter
        while True:
            state = self._state
            if state == _PREAMBLE or state == _BODY:
                at = buffer.find(delimiter)
                if at < 0:
                    keep = len(delimiter) - 1  # a delimiter may begin in what is kept
                    if len(buffer) > keep:
                        if state == _BODY:
                            events.append(bytes(buffer[:-keep]))
                        del buffer[:-keep]
                    return events
                if state == _BODY:
                    if at:
                        events.append(bytes(buffer[:at]))
                    events.append(END)
                del buffer[:at + len(delimiter)]
                self._state = _DELIMITED
            elif state == _DELIMITED:
                if buffer[:2] == b"--":
                    self._state = _EPILOGUE
                    continue
                end = buffer.find(b"\r\n")
                if end < 0:
                    if len(buffer) > MAX_PADDING or (len(buffer) >= 2 and buffer.strip(b" \t")):
                        raise MultipartError("a delimiter not followed by CRLF")
                    return events
                if buffer[:end].strip(b" \t"):
                    raise MultipartError("a delimiter not followed by CRLF")
                del buffer[:end + 2]
                self._state = _HEADERS
            elif state == _HEADERS:
                if buffer[:2] == b"\r\n":
                    block, size = b"", 2
                else:
                    end = buffer.find(b"\r\n\r\n")
                    if end < 0:
                        if len(buffer) > MAX_HEADERS:
                            raise MultipartError("a part's headers over %d bytes" % MAX_HEADERS)
                        return events
                    block, size = bytes(buffer[:end]), end + 4
                if size > MAX_HEADERS:
                    raise MultipartError("a part's headers over %d bytes" % MAX_HEADERS)
                events.append(_part(block))
                del buffer[:size]
                self._state = _BODY
            else:  # the epilogue is ignored
                buffer.clear()
                return events

    def close(self) -> None:
        """MultipartError unless the closing delimiter came."""
        if self._state != _EPILOGUE:
            raise MultipartError("the body ends before its closing delimiter")


def _part(block: bytes) -> Part:
    message = email.message.Message()
    for line in block.split(b"\r\n"):
        name, colon, value = line.partition(b":")
        if not colon or not name.strip() or name != name.strip():
            raise MultipartError("a part's header line without a name")
        try:
            message[name.decode("ascii")] = value.strip().decode("utf-8")
        except UnicodeDecodeError:
            raise MultipartError("a part's header is not UTF-8") from None
    encoding = (message.get("content-transfer-encoding") or "binary").strip().lower()
    if encoding not in ("binary", "8bit", "7bit"):
        raise MultipartError("Content-Transfer-Encoding %s in a form" % encoding)
    name = message.get_param("name", header="content-disposition")
    filename = message.get_param("filename", header="content-disposition")
    if isinstance(name, tuple) or isinstance(filename, tuple):  # RFC 2231 forms: names as sent, decoded
        name = email.utils.collapse_rfc2231_value(name) if name is not None else None
        filename = email.utils.collapse_rfc2231_value(filename) if filename is not None else None
    return Part(name, filename, message.get_content_type() if "content-type" in message else None)
