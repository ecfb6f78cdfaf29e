"""SOAP 1.1 response envelopes for the MCU operations, written with lxml directly.

spyne's serializer costs 1.9 ms for a 10-entry DevList — 70 % of McuLogin's
and RefreshDevList's CPU (docs/benchmarks.md, "SOAP").  The answers here are
made of three shapes only (integers, strings, arrays of small records), so
this module writes them itself, byte for byte as spyne does (a test holds it
to that): elements in the contract's order, ``None`` left out, an empty list
as an empty wrapper.  spyne still parses and validates requests, writes
faults and the WSDL.
"""

from __future__ import annotations

from lxml import etree
from spyne.model.complex import Array, ComplexModelBase

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
_NSMAP = {"soap11env": SOAP_ENV, "tns": None}


def _fields(cls) -> list[tuple[str, type]]:
    return list(cls._type_info.items())


def _emit(parent, tag: str, cls, value, ns: str) -> None:
    if value is None:
        return
    element = etree.SubElement(parent, "{%s}%s" % (ns, tag))
    if isinstance(cls, type) and issubclass(cls, Array):
        ((item_tag, item_cls),) = cls._type_info.items()
        for item in value:
            _emit(element, item_tag, item_cls, item, ns)
    elif isinstance(cls, type) and issubclass(cls, ComplexModelBase):
        for name, field_cls in _fields(cls):
            _emit(element, name, field_cls, getattr(value, name, None), ns)
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    else:
        element.text = str(value)


def response(descriptor, result, ns: str) -> bytes:
    """The envelope of *descriptor*'s answer *result* (a tuple in the contract's
    order, or the Result alone for a one-output operation)."""
    out_message = descriptor.out_message
    fields = _fields(out_message)
    values = (result,) if len(fields) == 1 else result
    envelope = etree.Element("{%s}Envelope" % SOAP_ENV, nsmap={"soap11env": SOAP_ENV, "tns": ns})
    body = etree.SubElement(envelope, "{%s}Body" % SOAP_ENV)
    answer = etree.SubElement(body, "{%s}%s" % (ns, out_message.get_type_name()))
    for (name, cls), value in zip(fields, values):
        _emit(answer, name, cls, value, ns)
    return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")
