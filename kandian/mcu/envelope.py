"""SOAP 1.1 response envelopes for the MCU operations (§8), written directly.

Serializing with spyne, or even building the same tree with lxml, would be
most of McuLogin's and RefreshDevList's CPU (docs/benchmarks.md, "SOAP").
The answers are made of three shapes only (integers, strings, arrays of
small records), so each operation's answer is
compiled once, from the contract's spyne classes, into a list of fixed tags,
and a call only escapes and joins the values: byte for byte what spyne
writes (``tests/test_mcu_envelope.py`` holds it to that) — elements in the
contract's order, ``None`` left out, an empty list as an empty wrapper, text
escaped as libxml2 escapes it.  A character XML cannot carry (a control
character) is dropped where lxml would raise.  Records are read by attribute
name, so a handler may answer with spyne objects or with plain named tuples
of the same field names.  spyne still parses and validates requests, writes
faults and the WSDL.

Each answer's fields are written by functions generated once from those tags
(:func:`_writer`: one straight-line function per record or list, the
record's fields read in order, no loop over the field table, no recursion
through it); :func:`_write` walks the field table generically and stays as
their reference (``tests/test_mcu_envelope.py`` holds the two to the same
bytes).  A 10-camera DevList was most of McuLogin's answer CPU written by the
walk (docs/benchmarks.md, "SOAP").
"""

from __future__ import annotations

import itertools
import re

from spyne.model.complex import Array, ComplexModelBase

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

_SIMPLE, _RECORD, _ARRAY = 0, 1, 2


# anything _escape changes: most values (numbers, IDs, URLs, names) have none of it
_CHANGED = re.compile("[^\t\n\x20-\x25\x27-\x3b\x3d\x3f-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _escape(value) -> str:
    kind = type(value)
    if kind is int:
        return str(value)
    if kind is str:
        if _CHANGED.search(value) is None:
            return value
    elif value is True or value is False:
        return "true" if value else "false"
    else:
        value = str(value)  # other numbers; a str subclass is escaped like any text
    if _NOT_XML.search(value):
        value = _NOT_XML.sub("", value)
    if "&" in value:
        value = value.replace("&", "&amp;")
    if "<" in value:
        value = value.replace("<", "&lt;")
    if ">" in value:
        value = value.replace(">", "&gt;")
    if "\r" in value:
        value = value.replace("\r", "&#13;")
    return value


def _field(name: str, cls) -> tuple:
    """(name, kind, "<tns:X>", "</tns:X>", "<tns:X/>", what is inside)"""
    tags = ("<tns:%s>" % name, "</tns:%s>" % name, "<tns:%s/>" % name)
    if isinstance(cls, type) and issubclass(cls, Array):
        ((item_name, item_cls),) = cls._type_info.items()
        return (name, _ARRAY) + tags + (_field(item_name, item_cls),)
    if isinstance(cls, type) and issubclass(cls, ComplexModelBase):
        return (name, _RECORD) + tags + (_record(cls),)
    return (name, _SIMPLE) + tags + (None,)


def _record(cls) -> list[tuple]:
    return [_field(name, field_cls) for name, field_cls in cls._type_info.items()]


def _write(out: list, field: tuple, value) -> None:
    name, kind, start, end, empty, inner = field
    if kind == _SIMPLE:
        out.append(start + _escape(value) + end)
    elif kind == _RECORD:
        out.append(start)
        mark = len(out)
        for sub in inner:
            sub_value = getattr(value, sub[0], None)
            if sub_value is not None:
                _write(out, sub, sub_value)
        _close(out, mark, end, empty)
    else:
        out.append(start)
        mark = len(out)
        for item in value:
            if item is not None:
                _write(out, inner, item)
        _close(out, mark, end, empty)


def _close(out: list, mark: int, end: str, empty: str) -> None:
    """An element with nothing written inside is ``<tns:X/>``, as lxml writes it."""
    if len(out) == mark:
        out[-1] = empty
    else:
        out.append(end)


def _writer(field: tuple, namespace: dict):
    """A function ``(out, value)`` writing *field*'s element for a non-None *value*, as :func:`_write` does:
    generated once per record or list of the contract, with the tags as constants."""
    name, kind, start, end, empty, inner = field
    if kind == _SIMPLE:
        def simple(out: list, value) -> None:
            out.append(start + _escape(value) + end)
        return simple
    number = next(_numbers)
    lines = ["def write_%d(out, value):" % number, "    append = out.append", "    append(%r)" % start,
             "    mark = len(out)"]
    if kind == _RECORD:
        names = [sub[0] for sub in inner]
        values = ", ".join("v%d" % i for i in range(len(names)))
        # the fields of a named tuple or a spyne object by attribute; any other record as _write reads it
        lines += ["    try:",
                  "        %s, = %s," % (values, ", ".join("value.%s" % n for n in names)),
                  "    except AttributeError:",
                  "        %s, = %s," % (values, ", ".join("getattr(value, %r, None)" % n for n in names))]
        for i, sub in enumerate(inner):
            lines += ["    if v%d is not None:" % i] + ["        " + line for line in _statements(sub, "v%d" % i,
                                                                                            namespace)]
    else:
        lines += ["    for x in value:", "        if x is not None:"]
        lines += ["            " + line for line in _statements(inner, "x", namespace)]
    lines += ["    if len(out) == mark:", "        out[-1] = %r" % empty, "    else:", "        append(%r)" % end]
    namespace.update(_escape=_escape, _plain=_CHANGED.search)
    exec("\n".join(lines) + "\n", namespace)  # noqa: S102 - only the contract's names and reprs of fixed tags
    return namespace["write_%d" % number]


def _statements(field: tuple, var: str, namespace: dict) -> list[str]:
    """Lines writing *field* for the non-None value in *var* inside a generated writer."""
    if field[1] != _SIMPLE:
        writer = _writer(field, namespace)
        namespace["w_%d" % id(writer)] = writer
        return ["w_%d(out, %s)" % (id(writer), var)]
    start, end = field[2], field[3]
    # _escape's two commonest cases inline: an int (a flag, a channel: the element of 0-255 written
    # once, here), and text with nothing to escape
    table = "t_%d" % next(_numbers)
    namespace[table] = {n: start + str(n) + end for n in range(_SMALL)}.get
    return ["kind = type(%s)" % var,
            "if kind is int:",
            "    append(%s(%s) or %r + str(%s) + %r)" % (table, var, start, var, end),
            "elif kind is str and _plain(%s) is None:" % var,
            "    append(%r + %s + %r)" % (start, var, end),
            "else:",
            "    append(%r + _escape(%s) + %r)" % (start, var, end)]


_numbers = itertools.count()
_SMALL = 256


class _Answer:
    """One operation's compiled answer."""

    def __init__(self, out_message, ns: str):
        self.fields = _record(out_message)
        namespace: dict = {}
        self.writers = [_writer(field, namespace) for field in self.fields]
        self.single = len(self.fields) == 1
        name = out_message.get_type_name()
        self.head = ("<?xml version='1.0' encoding='UTF-8'?>\n"
                     '<soap11env:Envelope xmlns:soap11env="%s" xmlns:tns="%s">'
                     "<soap11env:Body><tns:%s>" % (SOAP_ENV, ns, name))
        self.tail = "</tns:%s></soap11env:Body></soap11env:Envelope>" % (name,)
        self.empty = ("<?xml version='1.0' encoding='UTF-8'?>\n"
                      '<soap11env:Envelope xmlns:soap11env="%s" xmlns:tns="%s">'
                      "<soap11env:Body><tns:%s/></soap11env:Body></soap11env:Envelope>" % (SOAP_ENV, ns, name))

    def write(self, result) -> bytes:
        values = (result,) if self.single else result
        out = [self.head]
        for writer, value in zip(self.writers, values):
            if value is not None:
                writer(out, value)
        if len(out) == 1:
            return self.empty.encode("utf-8")
        out.append(self.tail)
        return "".join(out).encode("utf-8")


_compiled: dict = {}


def response(descriptor, result, ns: str) -> bytes:
    """The envelope of *descriptor*'s answer *result* (a tuple in the contract's
    order, or the Result alone for a one-output operation)."""
    key = (descriptor.out_message, ns)
    answer = _compiled.get(key)
    if answer is None:
        answer = _compiled[key] = _Answer(descriptor.out_message, ns)
    return answer.write(result)
