"""How the device link bodies (spec §7.5) map to typed classes.

Every body is an attrs frozen class whose attribute names are the spec's
element names, in the spec's order. Each attribute is declared with one of
the field constructors below, which records how it travels:

* :func:`text` / :func:`integer` (and :func:`port`, :func:`count`): a leaf
  element; ``optional=True`` makes a missing element read as ``None`` and a
  ``None`` value left out when writing; ``aliases`` are the misspellings
  accepted on input (the first name is always the one written);
* :func:`repeated`: zero or more child elements of an :class:`Item` class,
  held as a tuple;
* :func:`child`: one optional child element of an :class:`Item` class.

Construction validates types and the bounds the spec states, so a message
that exists can always be written. Decoding failures of any kind surface as
:class:`MessageError`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any, ClassVar, TypeVar

import attrs
from lxml import etree

from kandian import xmlwire
from kandian.xmlwire import Element, XMLWireError

__all__ = [
    "MessageError",
    "OutOfRange",
    "FIELD",
    "Text",
    "Integer",
    "Repeated",
    "Child",
    "Item",
    "Message",
    "StatusResponse",
    "DeviceRequest",
    "DEVICE_INITIATED",
    "register",
    "registry",
    "message_class",
    "decode_body",
    "encode_body",
    "text",
    "integer",
    "port",
    "count",
    "size",
    "code",
    "dev_id",
    "channel_no",
    "long_text",
    "repeated",
    "child",
]


class MessageError(XMLWireError):
    """A device link body that cannot be decoded (or a body for no known CMD).

    A subclass of :class:`kandian.xmlwire.XMLWireError` (and so of
    :class:`ValueError`); XML-level failures are re-raised as this class.
    """


class OutOfRange(MessageError):
    """A well-formed value beyond its bound: a number, a string's length or a
    list's length (see the limits below). The link answers it like any other
    bad body (Result 255) and counts it apart."""


FIELD = "kandian.device.messages"

# The spec states no sizes; these limits are kandian's (docs/operations.md
# "Device link limits"). Each is far above what real firmware sends and far
# below what would cost the platform: a body cannot name a million channels.
MAX_CHANNELS = 256  # ChannelNum; ChannelNo 0..256 (0-based, one more for firmware counting from 1)
MAX_DIDO = 256  # DIDONum; DIDONo 0..256
MAX_ITEMS = 256  # repeated children (<WifiSSID>, <File>, <Channel> …) in one body
MAX_VIDEO = 64  # <Video> capabilities in ABILITYUP_REQ
MAX_ID = 64  # DevID, IpcamDevID
MAX_TEXT = 256  # any other string
MAX_LONG_TEXT = 1024  # URLs and free-text descriptions
INT32 = (-(2**31), 2**31 - 1)  # any integer: what the database's integer column holds
SMALLINT = (-(2**15), 2**15 - 1)  # enumerated codes kept in smallint columns
INT64_MAX = 2**63 - 1  # byte counts and storage sizes (bigint)

# §7.4.3 表 2: the commands whose request the device sends.
DEVICE_INITIATED = frozenset({0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x74})


def _xml_string(max_length: int) -> Callable[[object, attrs.Attribute, object], None]:
    def check(instance: object, attribute: attrs.Attribute, value: object) -> None:
        if value is None and attribute.default is None:
            return
        if not isinstance(value, str):
            raise TypeError(f"{attribute.name} must be a str, got {type(value).__name__}")
        if len(value) > max_length:
            # the value itself is not quoted: it may be 60,000 characters
            raise OutOfRange(f"{attribute.name} of {len(value)} characters exceeds {max_length}")
        xmlwire.check_text(value)
        if value != value.strip(xmlwire.WHITESPACE):
            # The reader strips padding, so such a value could not travel intact.
            raise ValueError(f"{attribute.name} must not start or end with whitespace")

    check.checks = ("text", max_length)  # type: ignore[attr-defined]  # what the compiled reader repeats
    return check


def _bounded_int(low: int | None, high: int | None) -> Callable[[object, attrs.Attribute, object], None]:
    def check(instance: object, attribute: attrs.Attribute, value: object) -> None:
        if value is None and attribute.default is None:
            return
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{attribute.name} must be an int, got {type(value).__name__}")
        if low is not None and value < low or high is not None and value > high:
            span = f"{'' if low is None else low}..{'' if high is None else high}"
            raise OutOfRange(f"{attribute.name} must be in {span}, got {value}")

    check.checks = ("integer", low, high)  # type: ignore[attr-defined]  # what the compiled reader repeats
    return check


@attrs.frozen
class Text:
    optional: bool = False
    aliases: tuple[str, ...] = ()
    max_length: int = MAX_TEXT

    def read(self, parent: Element, tag: str, children: dict | None = None) -> str | None:
        child = _child(parent, tag, self.aliases, children)
        if child is None:
            if self.optional:
                return None
            raise XMLWireError(f"<{parent.tag}> lacks <{'|'.join((tag, *self.aliases))}>")
        return xmlwire.text_of(child)

    def write(self, tag: str, value: Any) -> list[tuple[str, Any]]:
        return [] if value is None else [(tag, value)]


@attrs.frozen
class Integer:
    optional: bool = False
    aliases: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None

    def read(self, parent: Element, tag: str, children: dict | None = None) -> int | None:
        child = _child(parent, tag, self.aliases, children)
        if child is None:
            if self.optional:
                return None
            raise XMLWireError(f"<{parent.tag}> lacks <{'|'.join((tag, *self.aliases))}>")
        return xmlwire.parse_int(xmlwire.text_of(child), tag)

    def write(self, tag: str, value: Any) -> list[tuple[str, Any]]:
        return [] if value is None else [(tag, value)]


@attrs.frozen
class Repeated:
    item: type[Item]
    max_items: int = MAX_ITEMS

    def read(self, parent: Element, tag: str, children: dict | None = None) -> tuple[Item, ...]:
        if children is not None and tag not in children:
            return ()
        elements = list(parent.iterchildren(tag))
        if len(elements) > self.max_items:  # refused before any item is built
            raise OutOfRange(f"{len(elements)} <{tag}> elements exceed {self.max_items}")
        return tuple(self.item.from_element_generic(element) for element in elements)

    def write(self, tag: str, value: Any) -> list[tuple[str, Any]]:
        return [(tag, item.to_fields()) for item in value]


@attrs.frozen
class Child:
    item: type[Item]

    def read(self, parent: Element, tag: str, children: dict | None = None) -> Item | None:
        element = children.get(tag) if children is not None else parent.find(tag)
        return None if element is None else self.item.from_element_generic(element)

    def write(self, tag: str, value: Any) -> list[tuple[str, Any]]:
        return [] if value is None else [(tag, value.to_fields())]


Kind = Text | Integer | Repeated | Child


def _child(parent: Element, tag: str, aliases: tuple[str, ...], children: dict | None) -> Element | None:
    """The first child named *tag* (or an alias), from the one-pass index when given."""
    if children is None:
        return xmlwire.find_child(parent, tag, aliases)
    child = children.get(tag)
    if child is None:
        for alias in aliases:
            child = children.get(alias)
            if child is not None:
                break
    return child


def _hidden(value: object) -> str:
    return "None" if value is None else "'***'"


def text(*, optional: bool = False, aliases: Iterable[str] = (), secret: bool = False,
         max_length: int = MAX_TEXT) -> Any:
    """A string element of at most *max_length* characters; a *secret* one
    (keys, passwords, tokens) is masked in ``repr``."""
    kind = Text(optional, tuple(aliases), max_length)
    shown: Any = _hidden if secret else True
    check = _xml_string(max_length)
    if optional:
        return attrs.field(default=None, validator=check, repr=shown, metadata={FIELD: kind})
    return attrs.field(validator=check, repr=shown, metadata={FIELD: kind})


def dev_id(*, optional: bool = False) -> Any:
    """A device code (DevID, IpcamDevID): at most :data:`MAX_ID` characters."""
    return text(optional=optional, max_length=MAX_ID)


def long_text(*, optional: bool = False, secret: bool = False) -> Any:
    """A URL or a free-text description: at most :data:`MAX_LONG_TEXT` characters."""
    return text(optional=optional, secret=secret, max_length=MAX_LONG_TEXT)


def integer(
    *,
    optional: bool = False,
    aliases: Iterable[str] = (),
    minimum: int | None = INT32[0],
    maximum: int | None = INT32[1],
) -> Any:
    """An integer element, within ``minimum..maximum``: the spec's bounds where
    it states them, a 32-bit integer otherwise."""
    kind = Integer(optional, tuple(aliases), minimum, maximum)
    check = _bounded_int(minimum, maximum)
    if optional:
        return attrs.field(default=None, validator=check, metadata={FIELD: kind})
    return attrs.field(validator=check, metadata={FIELD: kind})


def port(*, optional: bool = False, aliases: Iterable[str] = ()) -> Any:
    """A TCP/UDP port number, 0…65535."""
    return integer(optional=optional, aliases=aliases, minimum=0, maximum=65535)


def count(*, optional: bool = False, aliases: Iterable[str] = (), maximum: int = INT32[1]) -> Any:
    """A number of things: never negative, at most *maximum*."""
    return integer(optional=optional, aliases=aliases, minimum=0, maximum=maximum)


def size(*, optional: bool = False) -> Any:
    """A size in bytes or megabytes: 0 … 2^63-1 (a bigint)."""
    return integer(optional=optional, minimum=0, maximum=INT64_MAX)


def code(*, optional: bool = False, aliases: Iterable[str] = ()) -> Any:
    """An enumerated code (a type, a flag, a mode): its list is not enforced,
    since firmware extends it, only the range of the smallint it is stored in."""
    return integer(optional=optional, aliases=aliases, minimum=SMALLINT[0], maximum=SMALLINT[1])


def channel_no(*, optional: bool = False) -> Any:
    """ChannelNo: 0 … :data:`MAX_CHANNELS`."""
    return count(optional=optional, maximum=MAX_CHANNELS)


def _items_of(item: type[Item], max_items: int) -> Callable[[object, attrs.Attribute, object], None]:
    def check(instance: object, attribute: attrs.Attribute, value: object) -> None:
        if len(value) > max_items:  # type: ignore[arg-type]
            raise OutOfRange(f"{attribute.name}: {len(value)} items exceed {max_items}")  # type: ignore[arg-type]
        for element in value:  # type: ignore[attr-defined]
            if not isinstance(element, item):
                raise TypeError(f"{attribute.name} holds {item.__name__} items, got {type(element).__name__}")

    check.checks = ("items", item, max_items)  # type: ignore[attr-defined]
    return check


def repeated(item: type[Item], max_items: int = MAX_ITEMS) -> Any:
    """Zero or more ``<Tag>`` children (at most *max_items*), each an *item*;
    a tuple, empty by default."""
    return attrs.field(
        default=(), converter=tuple, validator=_items_of(item, max_items),
        metadata={FIELD: Repeated(item, max_items)}
    )


def child(item: type[Item]) -> Any:
    """At most one ``<Tag>`` child, an *item*; ``None`` when missing."""
    return attrs.field(
        default=None,
        validator=attrs.validators.optional(attrs.validators.instance_of(item)),
        metadata={FIELD: Child(item)},
    )


@functools.cache
def _kinds(cls: type) -> tuple[tuple[str, Kind], ...]:
    return tuple((attribute.name, attribute.metadata[FIELD]) for attribute in attrs.fields(cls))


_Self = TypeVar("_Self", bound="Item")


@functools.cache
def _reader(cls: type) -> Callable[[Element], Any]:
    """A function reading *cls* from its element, compiled from the class's fields.

    It does what :meth:`Item.from_element_generic` does — one pass over the
    children, every field read (a missing required one, a number that is not
    one: :class:`XMLWireError`), then every value checked in field order as
    the constructor's validators check it (:class:`OutOfRange`, same
    messages) — in straight-line code with no call per field, and builds the
    instance without running the validators a second time: decoding was a
    quarter of a device login's CPU (docs/benchmarks.md, "Device link: a
    compiled body reader, …").  ``tests/test_device_messages.py`` checks that both
    return equal messages or raise the same error for any document.  A class
    with a field this compiler does not know (a validator of its own, a
    post-init hook) is read by the generic reader.
    """
    fields = attrs.fields(cls)
    generic = functools.partial(Item.from_element_generic.__func__, cls)  # type: ignore[attr-defined]
    if getattr(cls, "__attrs_post_init__", None) is not None:
        return generic
    env: dict[str, Any] = {
        "cls": cls, "new": object.__new__, "setattr": object.__setattr__, "WS": xmlwire.WHITESPACE,
        "XMLWireError": XMLWireError, "OutOfRange": OutOfRange, "check_text": xmlwire.check_text,
        "is_integer": xmlwire.INTEGER.fullmatch,
    }
    read = ["def read(element):", "    children = {}", "    for child in element:",
            "        if child.tag not in children:", "            children[child.tag] = child"]
    check: list[str] = []
    for i, attribute in enumerate(fields):
        name, kind, checks = attribute.name, attribute.metadata[FIELD], getattr(attribute.validator, "checks", None)
        v = "v%d" % i
        if isinstance(kind, (Text, Integer)):
            if checks is None or checks[0] != ("text" if isinstance(kind, Text) else "integer"):
                return generic
            read.append("    e = children.get(%r)" % (name,))
            for alias in kind.aliases:
                read.append("    if e is None: e = children.get(%r)" % (alias,))
            if kind.optional:
                read.append("    if e is None: %s = None" % (v,))
                read.append("    else:")
            else:
                lacks = "<%s> lacks <%s>" % ("%s", "|".join((name, *kind.aliases)))
                read.append("    if e is None: raise XMLWireError(%r %% (element.tag,))" % (lacks,))
                read.append("    if True:")
            read.append("        %s = (e.text or '').strip(WS)" % (v,))
            if isinstance(kind, Integer):
                read.append("        if is_integer(%s) is None:" % (v,))
                read.append("            raise XMLWireError('<%s> is not an integer: %%r' %% (%s[:40],))" % (name, v))
                read.append("        %s = int(%s)" % (v, v))
                low, high = checks[1], checks[2]
                span = "%s..%s" % ("" if low is None else low, "" if high is None else high)
                tests = [t for t in (None if low is None else "%s < %d" % (v, low),
                                     None if high is None else "%s > %d" % (v, high)) if t]
                if tests:
                    guard = "%s is not None and (%s)" % (v, " or ".join(tests)) if kind.optional \
                        else " or ".join(tests)
                    check.append("    if %s:" % (guard,))
                    check.append("        raise OutOfRange('%s must be in %s, got %%d' %% (%s,))" % (name, span, v))
            else:
                guard = "%s is not None" % (v,) if kind.optional else "True"
                check.append("    if %s:" % (guard,))
                check.append("        if len(%s) > %d:" % (v, checks[1]))
                check.append("            raise OutOfRange('%s of %%d characters exceeds %d' %% (len(%s),))"
                             % (name, checks[1], v))
                # printable ASCII is always XML text: the regex only for the rest
                check.append("        if not (%s.isascii() and %s.isprintable()): check_text(%s)" % (v, v, v))
        elif isinstance(kind, Repeated):
            if checks is None or checks[0] != "items":
                return generic
            env["item%d" % i] = _reader(kind.item)
            read.append("    if %r in children:" % (name,))
            read.append("        items = list(element.iterchildren(%r))" % (name,))
            read.append("        if len(items) > %d:" % (kind.max_items,))
            read.append("            raise OutOfRange('%%d <%s> elements exceed %d' %% (len(items),))"
                        % (name, kind.max_items))
            read.append("        %s = tuple([item%d(e) for e in items])" % (v, i))
            read.append("    else: %s = ()" % (v,))
        elif isinstance(kind, Child):
            env["item%d" % i] = _reader(kind.item)
            read.append("    e = children.get(%r)" % (name,))
            read.append("    %s = None if e is None else item%d(e)" % (v, i))
        else:
            return generic
    build = ["    instance = new(cls)"] + ["    setattr(instance, %r, v%d)" % (a.name, i)
                                          for i, a in enumerate(fields)] + ["    return instance"]
    exec("\n".join(read + check + build), env)  # noqa: S102 - source built above from the class's own fields
    return env["read"]


class Item:
    """Base of the nested elements (``<Video>``, ``<WeekPolicy>`` …)."""

    __slots__ = ()

    @classmethod
    def from_element(cls: type[_Self], element: Element) -> _Self:
        """The instance *element* describes: read by the class's compiled reader (:func:`_reader`)."""
        return _reader(cls)(element)

    @classmethod
    def from_element_generic(cls: type[_Self], element: Element) -> _Self:
        """What :meth:`from_element` returns or raises, read field by field through the field kinds and
        the constructor's validators: the reference the compiled reader is tested against."""
        # one pass over the children, then dictionary look-ups: an lxml find()
        # per field costs more (docs/benchmarks.md, "Device link")
        children: dict = {}
        for child in element:
            children.setdefault(child.tag, child)
        return cls(**{name: kind.read(element, name, children) for name, kind in _kinds(cls)})

    def to_fields(self) -> list[tuple[str, Any]]:
        fields: list[tuple[str, Any]] = []
        for name, kind in _kinds(type(self)):
            fields.extend(kind.write(name, getattr(self, name)))
        return fields


_MessageT = TypeVar("_MessageT", bound="Message")


class Message(Item):
    """Base of the bodies: a root element ``ROOT`` carried by frames of ``CMD``.

    Set by :func:`register`: ``IS_RESPONSE`` (a ``*_RES`` body) and
    ``FROM_DEVICE`` (the device is the sender).
    """

    __slots__ = ()

    CMD: ClassVar[int]
    ROOT: ClassVar[str]
    IS_RESPONSE: ClassVar[bool]
    FROM_DEVICE: ClassVar[bool]

    def to_xml(self) -> bytes:
        try:
            return xmlwire.serialize(self.ROOT, self.to_fields())
        except XMLWireError as e:
            raise MessageError(str(e)) from e

    @classmethod
    def from_xml(cls: type[_MessageT], source: bytes | Element) -> _MessageT:
        """Decode a whole document (bytes) or an already parsed root element."""
        try:
            if isinstance(source, etree._Element):
                root = source
            else:
                root = xmlwire.parse_document(source)
            if root.tag != cls.ROOT:
                raise MessageError(f"CMD 0x{cls.CMD:02X} carries <{cls.ROOT}>, got <{root.tag}>")
            return cls.from_element(root)
        except MessageError:
            raise
        except (ValueError, TypeError) as e:
            raise MessageError(f"<{cls.ROOT}>: {e}") from e


_REGISTRY: dict[tuple[int, bool], type[Message]] = {}


def register(cls: type[_MessageT]) -> type[_MessageT]:
    """Class decorator: enter a body class in the CMD registry."""
    is_response = cls.ROOT.endswith("_RES")
    if not is_response and not cls.ROOT.endswith("_REQ"):
        raise ValueError(f"{cls.__name__}: ROOT {cls.ROOT!r} is neither a _REQ nor a _RES")
    key = (cls.CMD, is_response)
    if key in _REGISTRY:
        raise ValueError(f"{cls.__name__}: {key} is already {_REGISTRY[key].__name__}")
    cls.IS_RESPONSE = is_response
    cls.FROM_DEVICE = (cls.CMD in DEVICE_INITIATED) != is_response
    _REGISTRY[key] = cls
    return cls


def registry() -> dict[tuple[int, bool], type[Message]]:
    """A copy of the registry: ``(CMD, is_response) -> class``."""
    return dict(_REGISTRY)


def message_class(cmd: int, is_response: bool) -> type[Message]:
    """The body class for a CMD; :class:`MessageError` if §7.5 defines none."""
    try:
        return _REGISTRY[(cmd, bool(is_response))]
    except KeyError:
        kind = "response" if is_response else "request"
        raise MessageError(f"no {kind} body is defined for CMD 0x{cmd:02X}") from None


def decode_body(cmd: int, is_response: bool, data: bytes) -> Message:
    """Decode the DATA of a frame; its root element must be the CMD's."""
    return message_class(cmd, is_response).from_xml(data)


def encode_body(message: Message) -> bytes:
    """The DATA of a frame carrying *message* (CMD is ``message.CMD``)."""
    return message.to_xml()


@attrs.frozen(kw_only=True)
class StatusResponse(Message):
    """Shape of the many ``*_RES`` bodies that carry only Result and DevID.

    Result 0 is success, anything else an error, unless the subclass says otherwise.
    """

    Result: int = integer()
    DevID: str = dev_id()


@attrs.frozen(kw_only=True)
class DeviceRequest(Message):
    """Shape of the ``*_REQ`` bodies that carry only DevID."""

    DevID: str = dev_id()
