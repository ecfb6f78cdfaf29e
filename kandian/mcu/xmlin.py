"""Reading a SOAP request body (§8; PRODUCT.md "XML"): UTF-8 only, and bounded.

The body is already capped in size (256 KiB, :mod:`kandian.web`), but a
small body can still be an expensive tree: 20,000 attributes on one element
fit in 200 KB and cost libxml2 megabytes.  So the document is parsed as a
stream of events and refused as soon as it passes any of these limits —
far above what any §8 call needs (an envelope, a body, one operation and
its parameters, DevList records at most four deep):

- :data:`MAX_DEPTH` nested elements,
- :data:`MAX_ELEMENTS` elements in all,
- :data:`MAX_ATTRIBUTES` attributes on one element,
- :data:`MAX_NAMESPACES` namespace declarations in all.

The body must be UTF-8 (with or without a BOM).  An XML declaration naming
another encoding, or a UTF-16/UTF-32 byte-order mark, is refused rather than
decoded: the spec's samples and PRODUCT.md say UTF-8, and one encoding is one
less way for two parsers to disagree.  The spec's own samples declare
``encoding=" UTF-8"`` (with a space), which libxml2 rejects as a name: that
one is read as UTF-8.  DTDs and entities are refused outright (no XXE, no
entity expansion); the parser never touches the network.

Every refusal is a :class:`spyne.Fault` with a ``Client.*`` code; nothing here
logs (the resource logs each refused request once).
"""

from __future__ import annotations

import re
import threading

from lxml import etree
from spyne import Fault
from spyne.protocol.soap import Soap11

MAX_DEPTH = 32
MAX_ELEMENTS = 1024
MAX_ATTRIBUTES = 32
MAX_NAMESPACES = 64

_DTD = re.compile(rb"<!(DOCTYPE|ENTITY)", re.IGNORECASE)
_UTF8_BOM = b"\xef\xbb\xbf"
_OTHER_BOMS = (b"\x00\x00\xfe\xff", b"\xff\xfe\x00\x00", b"\xfe\xff", b"\xff\xfe")
_DECLARATION = re.compile(rb"^<\?xml\b[^>]*?>")
_ENCODING = re.compile(rb"""\bencoding\s*=\s*(["'])([^"']*)\1""")

_OPTIONS = dict(encoding="utf-8", resolve_entities=False, load_dtd=False, no_network=True, huge_tree=False,
                collect_ids=False, remove_comments=True, remove_pis=True, strip_cdata=True)


class LimitExceeded(Fault):
    def __init__(self, what: str):
        super().__init__("Client.XMLLimitExceeded", what)


class _Counter:
    """A parser target that only counts, and stops the parse at the first limit passed."""

    def __init__(self):
        self.depth = self.elements = self.namespaces = 0

    def start(self, tag, attrib, nsmap=None):
        self.depth += 1
        self.elements += 1
        if self.depth > MAX_DEPTH:
            raise LimitExceeded("elements nested more than %d deep" % MAX_DEPTH)
        if self.elements > MAX_ELEMENTS:
            raise LimitExceeded("more than %d elements" % MAX_ELEMENTS)
        if len(attrib) > MAX_ATTRIBUTES:
            raise LimitExceeded("more than %d attributes on one element" % MAX_ATTRIBUTES)

    def end(self, tag):
        self.depth -= 1

    def start_ns(self, prefix, uri):
        self.namespaces += 1
        if self.namespaces > MAX_NAMESPACES:
            raise LimitExceeded("more than %d namespace declarations" % MAX_NAMESPACES)

    def close(self):
        return None


def read(body: bytes) -> etree._Element:
    """The root element of *body*, or a ``Client.*`` :class:`Fault`.

    Two passes: the first builds nothing and stops at the first limit passed,
    so a hostile body never becomes a tree; only a body within the limits is
    parsed again into one.  A body whose bytes show it cannot pass any limit
    (:func:`_below_limits`: every ordinary request) is parsed once."""
    body = _utf8_only(body)
    if _DTD.search(body):
        raise Fault("Client.EntitiesNotAllowed", "DTDs and entities are not accepted")
    counter, counting, building = _parsers()
    try:
        if not _below_limits(body):
            counter.__init__()
            etree.fromstring(body, counting)
        return etree.fromstring(body, building)
    except etree.XMLSyntaxError as e:
        raise Fault("Client.XMLSyntaxError", str(e)) from None


def _below_limits(body: bytes) -> bool:
    """Whether no document spelled by *body* can pass a limit, by counting bytes: the first pass (about
    60 % of reading a VideoPlay request) is then skipped.

    Without a DTD (refused before this) no entity makes markup, so every start tag is a ``<`` not
    followed by ``/`` (elements, and so depth, at most ``count("<") - count("</")``), and every
    attribute and namespace declaration has its ``=`` (at most ``count("=")`` of either).  A §8
    request has about ten elements and four ``=``; a body past any bound is counted as before."""
    start_tags = body.count(b"<") - body.count(b"</")
    return (start_tags <= min(MAX_DEPTH, MAX_ELEMENTS)
            and body.count(b"=") <= min(MAX_ATTRIBUTES, MAX_NAMESPACES))


_local = threading.local()


def _parsers() -> tuple:
    """This thread's two parsers, made once: a parser with a Python target
    sits in a reference cycle with its libxml2 context (about a megabyte
    after a 200 KB body), so a parser per request is garbage that only a full
    collection frees."""
    parsers = getattr(_local, "parsers", None)
    if parsers is None:
        counter = _Counter()
        parsers = _local.parsers = (counter, etree.XMLParser(target=counter, **_OPTIONS), etree.XMLParser(**_OPTIONS))
    return parsers


def _utf8_only(body: bytes) -> bytes:
    """*body* without a UTF-8 BOM and with a UTF-8 declaration libxml2 takes,
    or ``Client.EncodingNotSupported``."""
    if body.startswith(_UTF8_BOM):
        body = body[len(_UTF8_BOM):]
    elif body.startswith(_OTHER_BOMS):
        raise Fault("Client.EncodingNotSupported", "only UTF-8 is accepted (the body has a UTF-16/32 byte-order mark)")
    declaration = _DECLARATION.match(body)
    if declaration is None:
        return body
    encoding = _ENCODING.search(declaration.group())
    if encoding is None:
        return body
    name = encoding.group(2).strip().lower()
    if name not in (b"utf-8", b"utf8"):
        raise Fault("Client.EncodingNotSupported", "only UTF-8 is accepted (declared: %s)"
                    % encoding.group(2)[:32].decode("ascii", "replace"))
    return body[:encoding.start(2)] + b"UTF-8" + body[encoding.end(2):]


class BoundedSoap11(Soap11):
    """spyne's SOAP 1.1 input protocol, reading the body with :func:`read`.

    spyne's own reading decodes any declared encoding, unpacks SOAP with
    attachments (MIME multipart) and resolves ``href`` references by copying
    elements; none of that is part of §8, and the last multiplies a body."""

    def create_in_document(self, ctx, charset=None):
        ctx.in_document = (read(b"".join(ctx.in_string)), {})
