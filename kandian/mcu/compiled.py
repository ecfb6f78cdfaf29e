"""A compiled reader of SOAP requests, derived from the spyne contract (§8; issue 19).

spyne's reading of a request — contexts, the envelope's decomposition, schema
validation, deserialization into the input message — was the largest cost of
a call (docs/benchmarks.md, "SOAP").  :class:`CompiledReader` reads the
requests a client ordinarily sends straight from the tree
:func:`kandian.mcu.xmlin.read` builds (UTF-8 only, bounded, no DTD, no
entities, no network), with a plan per operation made once from the same
spyne declarations (:mod:`kandian.mcu.api`): each parameter's element name,
order, type (``Unicode`` with its ``max_len``, ``Integer32``) and whether it
is required.

It answers ``(descriptor, args)`` only for a request it can read exactly as
spyne would — the same operation and the same argument values — and
``None`` for anything else: a request that is not well-formed or passes a
limit, an envelope with a Header, attributes (``xsi:nil`` included),
elements out of order, repeated, unknown or nested, a value out of its type,
a missing required parameter.  The caller then hands the request to spyne,
which answers it (or refuses it with its own Fault) as before: every request
spyne refuses is refused with spyne's Fault, and the reader never accepts a
request spyne refuses (tests/test_mcu_compiled.py checks both against spyne
on generated requests).

No I/O and no Twisted here.
"""

from __future__ import annotations

import re

from spyne import Fault
from spyne.model.primitive import Integer, Unicode

from .xmlin import read

SOAP11_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
_ENVELOPE = "{%s}Envelope" % SOAP11_ENV
_BODY = "{%s}Body" % SOAP11_ENV
_INT = re.compile(r"-?[0-9]{1,10}")
_BLANK = re.compile(r"[ \t\r\n]*")
_TEXT = 1
_NUMBER = 2


class _Plan:
    """How to read one operation's element: its parameters in order."""

    __slots__ = ("descriptor", "fields", "names")

    def __init__(self, descriptor, fields: list[tuple[str, int, int | None, bool, int, int]]):
        self.descriptor = descriptor
        self.fields = fields  # (tag, kind, max_len, required, low, high)
        self.names = {tag: i for i, (tag, *_rest) in enumerate(fields)}


def _field(ns: str, name: str, cls) -> tuple | None:
    """The plan of one parameter, or None when it is of a type this reader leaves to spyne."""
    attrs = cls.Attributes
    required = (attrs.min_occurs or 0) >= 1
    if getattr(attrs, "max_occurs", 1) != 1:
        return None
    if issubclass(cls, Unicode):
        if cls.Attributes.pattern is not None or getattr(cls.Attributes, "min_len", 0) not in (0, None):
            return None
        max_len = cls.Attributes.max_len
        return "{%s}%s" % (ns, name), _TEXT, max_len if isinstance(max_len, int) else None, required, 0, 0
    if issubclass(cls, Integer) and cls.get_type_name() == "int" and not any(
            isinstance(bound, (int, float)) and abs(bound) != float("inf")
            for bound in (attrs.ge, attrs.le, attrs.gt, attrs.lt)):
        return "{%s}%s" % (ns, name), _NUMBER, None, required, -(2 ** 31), 2 ** 31 - 1
    return None


class CompiledReader:
    """Reads the requests of *app* (a spyne Application) it can read exactly as spyne would."""

    def __init__(self, app):
        self.tns = app.tns
        self.plans: dict[str, _Plan] = {}
        for service in app.services:
            for descriptor in service.public_methods.values():
                message = descriptor.in_message
                ns = message.get_namespace()
                fields = []
                for name, cls in message._type_info.items():
                    field = _field(ns, name, cls)
                    if field is None:
                        break
                    fields.append(field)
                else:
                    tag = "{%s}%s" % (ns, message.get_type_name())
                    self.plans[tag] = _Plan(descriptor, fields)

    def read(self, body: bytes):
        """``(descriptor, args)`` of the request in *body*, or None: let spyne read it."""
        try:
            root = read(body)
        except Fault:
            return None
        if root.tag != _ENVELOPE or root.attrib or not _blank(root.text):
            return None
        children = list(root)
        if len(children) != 1:
            return None
        body_element = children[0]
        if body_element.tag != _BODY or body_element.attrib or not _blank(body_element.text) \
                or not _blank(body_element.tail):
            return None
        operations = list(body_element)
        if len(operations) != 1:
            return None
        op = operations[0]
        plan = self.plans.get(op.tag) if isinstance(op.tag, str) else None
        if plan is None or op.attrib or not _blank(op.text) or not _blank(op.tail):
            return None
        fields = plan.fields
        args: list = [None] * len(fields)
        seen = -1
        names = plan.names
        for child in op:
            i = names.get(child.tag) if isinstance(child.tag, str) else None
            if i is None or i <= seen or child.attrib or len(child) or not _blank(child.tail):
                return None
            seen = i
            _, kind, max_len, _, low, high = fields[i]
            text = child.text
            if kind == _TEXT:
                value = "" if text is None else text
                if max_len is not None and len(value) > max_len:
                    return None
            else:
                if text is None or not _INT.fullmatch(text):
                    return None
                value = int(text)
                if not low <= value <= high:
                    return None
            args[i] = value
        for value, field in zip(args, fields):
            if value is None and field[3]:
                return None
        return plan.descriptor, args


def _blank(text: str | None) -> bool:
    return text is None or _BLANK.fullmatch(text) is not None


__all__ = ["CompiledReader", "SOAP11_ENV"]
