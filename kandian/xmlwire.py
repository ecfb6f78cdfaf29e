"""Safe XML for the device-facing wire formats (spec §7.2 registration, §7.5 device link bodies).

Both the HTTP registration (§7.2, REGISTER_REQ/RES) and the binary device link
(§7.5) carry small UTF-8 XML documents. This module is their one way in and out:

* :func:`parse_document` refuses any DOCTYPE (so no entity can ever be declared,
  let alone expanded: no XXE, no billion laughs), never touches the network and
  caps the size; it tolerates what firmware copied from the spec sends: a UTF-8
  BOM, leading whitespace, the samples' ``encoding=" UTF-8"`` declaration
  (libxml2 rejects that name, so the declaration is checked here and removed
  before parsing) and trailing NUL bytes from C strings. Malformed XML, such as
  the samples' ``</ DevID>`` closing tags, is not repaired.
* :func:`serialize` writes ``<?xml version="1.0" encoding="UTF-8"?>`` and
  compact UTF-8 XML from ``(tag, value)`` pairs, nesting for lists of pairs.
* :func:`find_child`, :func:`text_of` and :func:`parse_int` read a child's
  text with the whitespace padding of the samples stripped; a missing child
  is ``None`` (for an optional one, "unchanged", §7.5.6).

Every failure is an :class:`XMLWireError`, a :class:`ValueError`. Pure: no I/O,
no Twisted.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Iterable, Sequence

from lxml import etree

__all__ = [
    "XMLWireError",
    "MAX_DOCUMENT_SIZE",
    "XML_DECLARATION",
    "parse_document",
    "serialize",
    "check_text",
    "find_child",
    "text_of",
    "parse_int",
]

MAX_DOCUMENT_SIZE = 65535
XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>'

# What the getters strip: XML's own whitespace, which is what the samples pad
# values with. Other Unicode spaces (U+3000 …) are kept as data.
WHITESPACE = " \t\r\n"

_BOM = b"\xef\xbb\xbf"
_DECLARATION = re.compile(rb"<\?xml[ \t\r\n][^>]*\?>")
_ENCODING = re.compile(rb"""encoding[ \t\r\n]*=[ \t\r\n]*(["'])(.*?)\1""", re.S)
_UTF8_NAMES = (b"utf-8", b"utf8")
_DTD_MARKUP = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.I)
# Characters XML 1.0 cannot carry at all (§2.2 Char), even as references.
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
INTEGER = re.compile(r"[+-]?[0-9]{1,20}")  # what parse_int accepts once stripped (the compiled readers too)

Element = etree._Element
Value = str | int | Sequence[tuple[str, "Value"]] | None


class XMLWireError(ValueError):
    """A document that cannot be parsed, read or written."""


_local = threading.local()


def _thread_parser() -> etree.XMLParser:
    """This thread's parser: lxml parsers must not be shared between threads, and a parser used
    again skips setting up a parser context (a fifth of a small document's parse)."""
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = _local.parser = _parser()
    return parser


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        encoding="utf-8",
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def parse_document(data: bytes, max_size: int = MAX_DOCUMENT_SIZE) -> Element:
    """Parse one UTF-8 XML document and return its root element."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise XMLWireError(f"expected bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) > max_size:
        raise XMLWireError(f"document of {len(data)} bytes exceeds {max_size}")
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    data = data.lstrip(b" \t\r\n").rstrip(b"\x00 \t\r\n")
    declaration = _DECLARATION.match(data)
    if declaration is not None:
        encoding = _ENCODING.search(declaration.group())
        if encoding is not None:
            name = encoding.group(2).strip(b" \t\r\n").lower()
            if name not in _UTF8_NAMES:
                raise XMLWireError(f"unsupported encoding {name.decode('ascii', 'replace')!r}")
        data = data[declaration.end() :]
    if _DTD_MARKUP.search(data):
        raise XMLWireError("DOCTYPE and ENTITY declarations are not accepted")
    if not data:
        raise XMLWireError("empty document")
    try:
        root = etree.fromstring(data, _thread_parser())
    except (etree.LxmlError, ValueError) as e:
        raise XMLWireError(f"malformed XML: {e}") from e
    if root is None or root.getroottree().docinfo.doctype:
        raise XMLWireError("malformed XML: no root element or a DOCTYPE")
    return root


def check_text(value: str) -> str:
    """Return *value* if XML can carry it, else raise :class:`XMLWireError`."""
    bad = _NOT_XML_CHAR.search(value)
    if bad is not None:
        raise XMLWireError(f"character U+{ord(bad.group()):04X} cannot be carried in XML")
    return value


# what libxml2 escapes in text content when it writes UTF-8 (xmlEscapeContent): the rest is written as is
_TEXT_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})


@functools.lru_cache(maxsize=1024)
def _tag(tag: str) -> str:
    """*tag* if it is an element name lxml would write (checked once per name), else XMLWireError."""
    try:
        etree.Element(tag)
    except (ValueError, TypeError) as e:
        raise XMLWireError(f"cannot write <{tag}>: {e}") from e
    return tag


def _write(out: list[str], fields: Iterable[tuple[str, Value]]) -> None:
    for tag, value in fields:
        if value is None:
            continue
        tag = _tag(tag)
        if isinstance(value, bool):
            raise XMLWireError(f"<{tag}>: booleans have no wire form, use 0 or 1")
        if isinstance(value, int):
            out.append("<%s>%d</%s>" % (tag, value, tag))
        elif isinstance(value, str):
            out.append("<%s>%s</%s>" % (tag, check_text(value).translate(_TEXT_ESCAPES), tag))
        elif isinstance(value, (list, tuple)):
            inner: list[str] = []
            _write(inner, value)
            out.append("<%s>%s</%s>" % (tag, "".join(inner), tag) if inner else "<%s/>" % (tag,))
        else:
            raise XMLWireError(f"<{tag}>: cannot write a {type(value).__name__}")


def serialize(root_tag: str, fields: Iterable[tuple[str, Value]]) -> bytes:
    """Write a document: ``fields`` are ``(tag, value)`` pairs in order.

    A value of ``None`` omits the element; an ``int`` or ``str`` becomes its
    text; a list of pairs becomes nested children. Repeat a tag to repeat an
    element (``[("Video", [...]), ("Video", [...])]``).

    Written as strings, byte for byte what lxml writes for the same tree
    (``tests/test_device_messages.py`` compares the two on any fields): a
    tree per message cost a tenth of a device login.
    """
    root_tag = _tag(root_tag)
    out: list[str] = []
    try:
        _write(out, fields)
    except XMLWireError:
        raise
    except (ValueError, TypeError) as e:
        raise XMLWireError(f"cannot write <{root_tag}>: {e}") from e
    body = "<%s>%s</%s>" % (root_tag, "".join(out), root_tag) if out else "<%s/>" % (root_tag,)
    return XML_DECLARATION + body.encode("utf-8")


def find_child(parent: Element, tag: str, aliases: Iterable[str] = ()) -> Element | None:
    """The first direct child named *tag*, or else one named after an alias."""
    for name in (tag, *aliases):
        child = parent.find(name)
        if child is not None:
            return child
    return None


def text_of(element: Element) -> str:
    """The element's text with the surrounding whitespace stripped."""
    return (element.text or "").strip(WHITESPACE)


def parse_int(text: str, tag: str = "value") -> int:
    """A decimal integer, whitespace around it allowed."""
    stripped = text.strip(WHITESPACE)
    if INTEGER.fullmatch(stripped) is None:
        raise XMLWireError(f"<{tag}> is not an integer: {text[:40]!r}")
    return int(stripped)
