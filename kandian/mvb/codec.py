"""spec/000's XML: ``<Request>`` in, ``<Response>`` out, in GB2312 or UTF-8 as the request declares.

The file's requests are ``<?xml version="1.0" encoding="GB2312" ?>`` and a
``<Request>`` whose children are the parameters; its answers are a
``<Response>`` of ``RequestID``, ``StatusCode``, ``Description``,
``session`` and the action's own elements.  Read with tolerance for what
clients copied from the file: the declaration's quotes escaped as in a C
string (``version=\\"1.0\\"``), the ``//`` comment lines between elements
(text, ignored), a BOM, whitespace around values.  GB2312 and GBK requests
are read as GB18030 (their superset); the answer declares the request's own
encoding name and is written in it, a character it lacks as a character
reference.  Safe like every XML reader here: no DOCTYPE or entity
declaration is accepted, nothing is fetched, the size is capped.

:func:`decode_request` / :func:`encode_response` are the server's side,
:func:`encode_request` / :func:`decode_response` the client's (tests and
docs/compat.md).  Every failure is :class:`MvbFormatError`.  Pure: no I/O, no
Twisted.
"""

from __future__ import annotations

import datetime
import re
from typing import NamedTuple
from xml.sax.saxutils import escape, quoteattr

from lxml import etree

MAX_SIZE = 64 * 1024

# the encoding a request may declare → the codec that reads it, the codec that writes the answer
ENCODINGS = {
    "GB2312": ("gb18030", "gb2312"),
    "GBK": ("gb18030", "gbk"),
    "GB18030": ("gb18030", "gb18030"),
    "UTF-8": ("utf-8", "utf-8"),
    "UTF8": ("utf-8", "utf-8"),
}
DEFAULT_ENCODING = "UTF-8"

_BOM = b"\xef\xbb\xbf"
_DECLARATION = re.compile(rb"<\?xml[ \t\r\n][^>]*\?>")
_ENCODING = re.compile(rb"""encoding[ \t\r\n]*=[ \t\r\n]*\\?(["'])(.*?)\\?\1""", re.S)
_DTD = re.compile(r"<!(?:DOCTYPE|ENTITY)", re.I)
_REQUEST_ID = re.compile(rb"<RequestID>[ \t\r\n]*([0-9]{1,18})[ \t\r\n]*</RequestID>")
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
WHITESPACE = " \t\r\n"


class MvbFormatError(ValueError):
    """A body that is not a spec/000 request (or answer)."""


class MvbRequest(NamedTuple):
    encoding: str  # the declared name, as the answer declares it (GB2312, UTF-8 …)
    fields: dict[str, str]  # each child of <Request>: its text, stripped (the first of a repeated one)


class RecordItem(NamedTuple):
    device_id: str
    start: str  # 2017-07-27T09:18:14
    end: str


class MvbResponse(NamedTuple):
    request_id: str
    status: int
    description: str
    session: str | None = None
    play_url: str | None = None
    records: tuple[RecordItem, ...] | None = None  # queryrecordfile's RecordList


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                           remove_comments=True, remove_pis=True)


def declared_encoding(body: bytes) -> str:
    """The request's declared encoding name as the answer should declare it
    (DEFAULT_ENCODING when none, or one not supported)."""
    try:
        return _split(bytes(body[:MAX_SIZE]))[0]
    except MvbFormatError:
        return DEFAULT_ENCODING


def request_id_of(body: bytes) -> str:
    """The RequestID of a body that could not be read as a whole, to echo ("0" when none is found)."""
    match = _REQUEST_ID.search(bytes(body[:MAX_SIZE]))
    return match.group(1).decode("ascii") if match else "0"


def _split(data: bytes) -> tuple[str, str, bytes]:
    """(declared name, codec to read with, the document without its declaration)."""
    if data.startswith(_BOM):
        data = data[len(_BOM):]
    data = data.lstrip(b" \t\r\n\x00").rstrip(b"\x00 \t\r\n")
    name = DEFAULT_ENCODING
    declaration = _DECLARATION.match(data)
    if declaration is not None:
        found = _ENCODING.search(declaration.group())
        if found is not None:
            name = found.group(2).strip(b" \t\r\n").decode("ascii", "replace").upper()
            if name not in ENCODINGS:
                raise MvbFormatError("unsupported encoding %r" % (name[:40],))
        data = data[declaration.end():]
    return name, ENCODINGS[name][0], data


def decode_request(body: bytes) -> MvbRequest:
    """Read a request body; MvbFormatError for anything that is not ``<Request>…</Request>``."""
    if not isinstance(body, (bytes, bytearray, memoryview)):
        raise MvbFormatError("expected bytes")
    body = bytes(body)
    if len(body) > MAX_SIZE:
        raise MvbFormatError("a body of %d bytes (at most %d)" % (len(body), MAX_SIZE))
    name, codec, data = _split(body)
    root = _parse(data, codec)
    if root.tag != "Request":
        raise MvbFormatError("the root element is <%s>, not <Request>" % (str(root.tag)[:40],))
    fields: dict[str, str] = {}
    for child in root:
        if not isinstance(child.tag, str) or child.tag in fields:
            continue
        fields[child.tag] = "".join(child.itertext()).strip(WHITESPACE)
    return MvbRequest(name, fields)


def _parse(data: bytes, codec: str):
    try:
        text = data.decode(codec)
    except UnicodeDecodeError:
        raise MvbFormatError("the body is not %s" % (codec,)) from None
    if _DTD.search(text):
        raise MvbFormatError("DOCTYPE and ENTITY declarations are not accepted")
    if not text:
        raise MvbFormatError("an empty body")
    try:
        root = etree.fromstring(text, _parser())
    except (etree.LxmlError, ValueError) as e:
        raise MvbFormatError("malformed XML: %s" % (str(e)[:120],)) from None
    if root is None:
        raise MvbFormatError("no root element")
    return root


def _text(value: str) -> str:
    value = _NOT_XML_CHAR.sub("\ufffd", value)
    return escape(value)


def _document(root: str, encoding: str, items: list[str]) -> bytes:
    name = encoding.upper() if encoding.upper() in ENCODINGS else DEFAULT_ENCODING
    lines = ['<?xml version="1.0" encoding="%s" ?>' % (name,), "<%s>" % (root,), *items, "</%s>" % (root,), ""]
    return "\n".join(lines).encode(ENCODINGS[name][1], "xmlcharrefreplace")


def encode_response(response: MvbResponse, encoding: str = DEFAULT_ENCODING) -> bytes:
    """The answer in the file's shape, declared and written in *encoding*."""
    items = ["\t<RequestID>%s</RequestID>" % _text(response.request_id),
             "\t<StatusCode>%d</StatusCode>" % (response.status,),
             "\t<Description>%s</Description>" % _text(response.description)]
    if response.session is not None:
        items.append("\t<session>%s</session>" % _text(response.session))
    if response.play_url is not None:
        items.append("\t<PlayUrl>%s</PlayUrl>" % _text(response.play_url))
    if response.records is not None:
        items.append("\t<RecordList Num=%s>" % quoteattr(str(len(response.records))))
        for record in response.records:
            items += ["\t\t<Item>",
                      "\t\t\t<DeviceID>%s</DeviceID>" % _text(record.device_id),
                      "\t\t\t<StartTime>%s</StartTime>" % _text(record.start),
                      "\t\t\t<EndTime>%s</EndTime>" % _text(record.end),
                      "\t\t</Item>"]
        items.append("\t</RecordList>")
    return _document("Response", encoding, items)


def encode_request(fields: list[tuple[str, str]], encoding: str = DEFAULT_ENCODING) -> bytes:
    """A client's request of *fields* (tag, text) in *encoding*."""
    return _document("Request", encoding, ["\t<%s>%s</%s>" % (tag, _text(value), tag) for tag, value in fields])


def decode_response(body: bytes) -> tuple[str, MvbResponse]:
    """A client's reading of an answer: (declared encoding, MvbResponse)."""
    name, codec, data = _split(bytes(body))
    root = _parse(data, codec)
    if root.tag != "Response":
        raise MvbFormatError("not a <Response>")

    def text(tag):
        found = root.find(tag)
        return None if found is None else "".join(found.itertext()).strip(WHITESPACE)

    records = None
    record_list = root.find("RecordList")
    if record_list is not None:
        records = tuple(RecordItem(*("".join(item.find(t).itertext()).strip(WHITESPACE)
                                     for t in ("DeviceID", "StartTime", "EndTime")))
                        for item in record_list.findall("Item"))
        if record_list.get("Num") != str(len(records)):
            raise MvbFormatError("RecordList Num is not its number of items")
    status = text("StatusCode")
    if status is None or not status.lstrip("-").isdigit():
        raise MvbFormatError("no StatusCode")
    return name, MvbResponse(text("RequestID") or "", int(status), text("Description") or "", text("session"),
                             text("PlayUrl"), records)


# -- times: the answers' 2017-07-27T09:18:14, in the platform's time zone

TIME_FORMATS = ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y%m%d%H%M%S")


def parse_when(value: str, zone) -> float:
    """POSIX seconds of ``YYYY-MM-DDTHH:MM:SS`` (or with a space for the T, or
    ``YYYYMMDDHHMMSS``) in *zone*; ValueError otherwise."""
    value = value.strip(WHITESPACE)
    for fmt in TIME_FORMATS:
        try:
            when = datetime.datetime.strptime(value, fmt)
        except ValueError:
            continue
        return when.replace(tzinfo=zone).timestamp()
    raise ValueError("not a time such as 2017-07-27T09:18:14: %r" % (value[:40],))


def format_when(seconds: float, zone) -> str:
    return datetime.datetime.fromtimestamp(seconds, zone).strftime(TIME_FORMATS[0])
