"""kandian.mcu.compiled against spyne's own reading of the same requests (issue 19).

For every request, generated or a real client's: when the compiled reader
reads it, spyne reads the same operation with the same argument values (of
the same types); when spyne refuses it, the compiled reader does not read it
(the resource then hands it to spyne, which refuses it with its Fault).  And
the requests clients ordinarily send — zeep's, from the WSDL, for every
operation — are read by the compiled reader, not left to spyne.
"""

from __future__ import annotations

import os
import tempfile
from xml.sax.saxutils import escape

from hypothesis import given, settings, strategies as st
from spyne.interface.wsdl import Wsdl11
from spyne.server.http import HttpBase
from twisted.trial.unittest import SynchronousTestCase

from kandian.mcu.api import NS, application
from kandian.mcu.compiled import _NUMBER, CompiledReader
from kandian.mcu.soap import SOAP_CONTENT_TYPE, _MethodContext, _release

APP = application(None)
TRANSPORT = HttpBase(APP)
READER = CompiledReader(APP)
PLANS = sorted(READER.plans.values(), key=lambda plan: plan.descriptor.name)
ENV = "http://schemas.xmlsoap.org/soap/envelope/"


class _Request:
    method, path, uri = b"POST", b"/mcu", b"/mcu"

    def getHeader(self, name):
        return "text/xml; charset=utf-8"

    def getClientAddress(self):
        return None


def spyne_read(body: bytes):
    """What spyne makes of *body*: ("fault", code, string) or (operation, [args])."""
    ctx = _MethodContext(TRANSPORT, _Request(), SOAP_CONTENT_TYPE.decode())
    ctx.in_string = [body]
    p_ctx = TRANSPORT.generate_contexts(ctx)[0]
    try:
        if p_ctx.in_error is None:
            TRANSPORT.get_in_object(p_ctx)
        if p_ctx.in_error is not None:
            error = p_ctx.in_error
            return ("fault", str(getattr(error, "faultcode", type(error).__name__)),
                    str(getattr(error, "faultstring", error)))
        return p_ctx.descriptor.name, list(p_ctx.in_object)
    finally:
        if p_ctx is not ctx:
            _release(ctx)
        _release(p_ctx)


def compiled_read(body: bytes):
    out = READER.read(body)
    if out is None:
        return None
    descriptor, args = out
    return descriptor.name, args


def typed(read):
    return None if read is None else (read[0], [(type(v).__name__, v) for v in read[1]])


# -- generated requests ----------------------------------------------------------------------------

_CHARS = st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]) | st.sampled_from(" \t\n\r<>&'\"")
_NUMBERS = st.one_of(
    st.integers(-(2**31), 2**31 - 1).map(str),
    st.integers(-(2**40), 2**40).map(str),
    st.sampled_from(["2147483648", "-2147483649", "9999999999", "2147483647", "-2147483648"]),
    st.sampled_from(["", " 1", "1 ", "+2", "01", "-0", "1.0", "1e3", "x", "\n7\n", "٣", "0x10", "-"]),
)


def _value(kind: int, max_len: int | None):
    if kind == _NUMBER:
        return _NUMBERS
    size = max_len if max_len is not None else 64
    return st.one_of(st.text(_CHARS, max_size=size + 2), st.text(st.sampled_from("ab 1"), min_size=size - 1,
                                                                   max_size=size + 1))


@st.composite
def requests(draw) -> bytes:
    plan = draw(st.sampled_from(PLANS))
    parts = []
    for tag, kind, max_len, required, _, _ in plan.fields:
        name = tag.split("}")[1]
        presence = draw(st.sampled_from(["yes"] * 8 + ["no", "empty", "twice", "nil", "nested"]))
        if presence == "no":
            continue
        value = escape(draw(_value(kind, max_len)))
        element = {"yes": "<m:{0}>{1}</m:{0}>", "empty": "<m:{0}/>", "twice": "<m:{0}>{1}</m:{0}><m:{0}>{1}</m:{0}>",
                   "nil": '<m:{0} xsi:nil="true"/>', "nested": "<m:{0}><m:x>{1}</m:x></m:{0}>"}[presence]
        parts.append(element.format(name, value))
    shuffle = draw(st.sampled_from(["keep"] * 6 + ["swap", "unknown", "comment", "spaces"]))
    if shuffle == "swap" and len(parts) > 1:
        i = draw(st.integers(0, len(parts) - 2))
        parts[i], parts[i + 1] = parts[i + 1], parts[i]
    elif shuffle == "unknown":
        parts.insert(draw(st.integers(0, len(parts))), "<m:Unknown>1</m:Unknown>")
    elif shuffle == "comment":
        parts.insert(draw(st.integers(0, len(parts))), "<!-- c -->")
    elif shuffle == "spaces":
        parts = ["\n  " + p for p in parts]
    op = plan.descriptor.name
    inner = "<m:{0}>{1}</m:{0}>".format(op, "".join(parts))
    wrapper = draw(st.sampled_from(["plain", "plain", "header", "default-ns", "declaration", "bom", "body-attr",
                                    "other-ns", "two-ops", "text"]))
    head = ('<soapenv:Envelope xmlns:soapenv="%s" xmlns:m="%s" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">' % (ENV, NS))
    if wrapper == "header":
        body = head + "<soapenv:Header/><soapenv:Body>%s</soapenv:Body></soapenv:Envelope>" % inner
    elif wrapper == "default-ns":
        body = head + '<soapenv:Body><{0} xmlns="{1}">{2}</{0}></soapenv:Body></soapenv:Envelope>'.format(
            op, NS, "".join(parts).replace("<m:", "<").replace("</m:", "</"))
    elif wrapper == "body-attr":
        body = head + '<soapenv:Body m:x="1">%s</soapenv:Body></soapenv:Envelope>' % inner
    elif wrapper == "other-ns":
        body = head.replace(NS, "urn:other") + "<soapenv:Body>%s</soapenv:Body></soapenv:Envelope>" % inner
    elif wrapper == "two-ops":
        body = head + "<soapenv:Body>%s%s</soapenv:Body></soapenv:Envelope>" % (inner, inner)
    elif wrapper == "text":
        body = head + "<soapenv:Body>x%s</soapenv:Body></soapenv:Envelope>" % inner
    else:
        body = head + "<soapenv:Body>\n%s\n</soapenv:Body></soapenv:Envelope>" % inner
    data = body.encode("utf-8")
    if wrapper == "declaration":
        data = b'<?xml version="1.0" encoding=" UTF-8"?>\n' + data
    elif wrapper == "bom":
        data = b"\xef\xbb\xbf" + data
    return data


class AgainstSpyneTests(SynchronousTestCase):
    def check(self, body: bytes):
        mine, theirs = compiled_read(body), spyne_read(body)
        if theirs[0] == "fault":
            self.assertIsNone(mine, (body, theirs))
        elif mine is not None:
            self.assertEqual(typed(mine), typed(theirs), body)
        return mine, theirs

    @given(requests())
    @settings(max_examples=400, deadline=None)
    def test_generated_requests(self, body: bytes) -> None:
        self.check(body)

    @given(st.sampled_from(PLANS), st.data())
    @settings(max_examples=200, deadline=None)
    def test_canonical_requests_are_read_here(self, plan, data) -> None:
        """A request as a client writes it (every parameter in order, values of their type) is read by the
        compiled reader, with spyne's values."""
        parts = []
        for tag, kind, max_len, required, low, high in plan.fields:
            if not required and data.draw(st.booleans()):
                continue
            value = (str(data.draw(st.integers(low, high))) if kind == _NUMBER else
                     data.draw(st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]),
                                       max_size=max_len or 64)))
            parts.append("<m:{0}>{1}</m:{0}>".format(tag.split("}")[1], escape(value)))
        body = ('<soapenv:Envelope xmlns:soapenv="%s" xmlns:m="%s"><soapenv:Body><m:%s>%s</m:%s></soapenv:Body>'
                '</soapenv:Envelope>' % (ENV, NS, plan.descriptor.name, "".join(parts), plan.descriptor.name))
        mine, theirs = self.check(body.encode("utf-8"))
        self.assertIsNotNone(mine, body)

    def test_every_operation_with_text_is_compiled(self) -> None:
        self.assertIn("McuLogin", {plan.descriptor.name for plan in PLANS})
        self.assertIn("RefreshDevList", {plan.descriptor.name for plan in PLANS})
        self.assertIn("VideoPlay", {plan.descriptor.name for plan in PLANS})

    def test_zeep_requests(self) -> None:
        """zeep (a real SOAP client, from the WSDL) for every operation: read here, as spyne reads it."""
        import zeep
        from lxml import etree

        document = Wsdl11(APP.interface)
        document.build_interface_document("http://127.0.0.1:1/mcu")
        with tempfile.NamedTemporaryFile("wb", suffix=".wsdl", delete=False) as f:
            f.write(document.get_interface_document())
        self.addCleanup(os.unlink, f.name)
        client = zeep.Client(f.name)
        for plan in PLANS:
            kwargs = {}
            for tag, kind, max_len, required, _, _ in plan.fields:
                kwargs[tag.split("}")[1]] = 7 if kind == _NUMBER else "v&<é"[: max_len or 4]
            message = client.create_message(client.service, plan.descriptor.name, **kwargs)
            body = etree.tostring(message, xml_declaration=True, encoding="utf-8")
            mine, theirs = self.check(body)
            self.assertIsNotNone(mine, (plan.descriptor.name, body))

    def test_refusals(self) -> None:
        for body in [b"", b"<x/>", b"<!DOCTYPE x [<!ENTITY a 'b'>]><x>&a;</x>", b"\xff\xfe<x/>",
                     ('<soapenv:Envelope xmlns:soapenv="%s"><soapenv:Body><m:McuLogin xmlns:m="%s">'
                      "<m:Account>a</m:Account></m:McuLogin></soapenv:Body></soapenv:Envelope>" % (ENV, NS)).encode()]:
            mine, theirs = self.check(body)
            self.assertEqual(theirs[0], "fault")
            self.assertIsNone(mine)
