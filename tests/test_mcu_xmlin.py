"""kandian.mcu.xmlin: SOAP request bodies read as UTF-8 only, within limits, sans-IO."""

from hypothesis import given, settings, strategies as st
from spyne import Fault
from twisted.trial import unittest

from kandian.mcu import xmlin

from .strategies import xml_of_shape, xml_shapes


class LimitTests(unittest.TestCase):
    @given(xml_shapes)
    def test_accepted_exactly_within_every_limit(self, shape):
        depth = shape["depth"] if shape["depth"] >= 2 else 1
        # the innermost element's siblings sit one level deeper
        deepest = depth + (1 if shape["siblings"] else 0)
        within = (deepest <= xmlin.MAX_DEPTH and depth + shape["siblings"] <= xmlin.MAX_ELEMENTS
                  and shape["attributes"] <= xmlin.MAX_ATTRIBUTES and shape["namespaces"] <= xmlin.MAX_NAMESPACES)
        body = xml_of_shape(**shape)
        if within:
            root = xmlin.read(body)
            self.assertEqual(sum(1 for _ in root.iter()), depth + shape["siblings"])
        else:
            with self.assertRaises(xmlin.LimitExceeded) as caught:
                xmlin.read(body)
            self.assertEqual(caught.exception.faultcode, "Client.XMLLimitExceeded")

    @given(st.binary(max_size=200))
    def test_any_bytes_are_a_tree_or_a_client_fault(self, body):
        try:
            xmlin.read(body)
        except Fault as e:
            self.assertTrue(e.faultcode.startswith("Client."), e.faultcode)

    def test_the_parsers_are_reused_after_a_refusal(self):
        self.assertRaises(xmlin.LimitExceeded, xmlin.read, xml_of_shape(3, 0, 40, 0))
        self.assertEqual(xmlin.read(b"<a><b/></a>").tag, "a")


class EncodingTests(unittest.TestCase):
    def assertFault(self, body, code):
        with self.assertRaises(Fault) as caught:
            xmlin.read(body)
        self.assertEqual(caught.exception.faultcode, code)

    def test_utf8_with_or_without_bom_and_the_specs_declaration(self):
        for body in ['<?xml version="1.0" encoding=" UTF-8" ?><a>收</a>'.encode(),
                     '\ufeff<?xml version="1.0" encoding="utf8"?><a>收</a>'.encode(),
                     "<a>收</a>".encode()]:
            self.assertEqual(xmlin.read(body).text, "收")

    def test_other_encodings_are_refused(self):
        self.assertFault('<?xml version="1.0" encoding="gb2312"?><a>收</a>'.encode("gb2312"),
                         "Client.EncodingNotSupported")
        self.assertFault("<a>收</a>".encode("utf-16"), "Client.EncodingNotSupported")
        self.assertFault("<a>收</a>".encode("utf-32"), "Client.EncodingNotSupported")
        self.assertFault("<a>收</a>".encode("utf-16-le"), "Client.XMLSyntaxError")
        self.assertFault("<a>收</a>".encode("gb2312"), "Client.XMLSyntaxError")

    def test_dtds_and_entities_are_refused(self):
        self.assertFault(b'<!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>', "Client.EntitiesNotAllowed")


def _read_counting_first(body: bytes):
    """xmlin.read as it was: the counting pass always, then the tree."""
    from lxml import etree

    body = xmlin._utf8_only(body)
    if xmlin._DTD.search(body):
        raise Fault("Client.EntitiesNotAllowed", "DTDs and entities are not accepted")
    counter, counting, building = xmlin._parsers()
    counter.__init__()
    try:
        etree.fromstring(body, counting)
        return etree.fromstring(body, building)
    except etree.XMLSyntaxError as e:
        raise Fault("Client.XMLSyntaxError", str(e)) from None


def _outcome(read, body):
    from lxml import etree

    try:
        return etree.tostring(read(body))
    except Fault as e:
        return (type(e), e.faultcode, e.faultstring)


# shapes around the limits the byte counts bound, with markup-looking text, comments and CDATA that
# move the counts without making elements
_near_limits = st.fixed_dictionaries({
    "depth": st.integers(1, 36) | st.integers(28, 36), "siblings": st.integers(0, 8),
    "attributes": st.integers(0, 36) | st.integers(30, 36), "namespaces": st.integers(0, 3) | st.just(0)})
_noise = st.lists(st.sampled_from(["<!-- < </ = xmlns -->", "<![CDATA[</x> <y> a=b xmlns]]>", "a=b", "&lt;c&gt;",
                                   "xmlns", "<?pi x=y?>", "<z/>", "<", "</", "="]), max_size=6)


class SkippedCountTests(unittest.TestCase):
    @settings(max_examples=400)
    @given(_near_limits, _noise, st.integers(0, 10 ** 6))
    def test_same_tree_or_fault_as_counting_first(self, shape, noise, where):
        body = xml_of_shape(**shape).decode()
        for piece in noise:
            # inside the root element's content, or anywhere (then mostly not well-formed)
            first = body.find(">") + 1
            at = first if where % 2 else where % (len(body) + 1)
            body = body[:at] + piece + body[at:]
            where //= 7
        self.assertEqual(_outcome(xmlin.read, body.encode()), _outcome(_read_counting_first, body.encode()))

    def test_every_shape_at_the_bounds(self):
        for depth in range(xmlin.MAX_DEPTH - 3, xmlin.MAX_DEPTH + 3):
            for attributes in range(xmlin.MAX_ATTRIBUTES - 3, xmlin.MAX_ATTRIBUTES + 3):
                for namespaces in range(3):
                    for siblings in range(3):
                        body = xml_of_shape(depth, siblings, attributes, namespaces)
                        self.assertEqual(_outcome(xmlin.read, body), _outcome(_read_counting_first, body),
                                         (depth, siblings, attributes, namespaces))
        many = b"<r" + b"".join(b' xmlns:n%d="u"' % i for i in range(xmlin.MAX_NAMESPACES + 1)) + b"/>"
        self.assertEqual(_outcome(xmlin.read, many), _outcome(_read_counting_first, many))
        self.assertEqual(_outcome(xmlin.read, many)[1], "Client.XMLLimitExceeded")

    def test_an_ordinary_request_is_parsed_once(self):
        counter = xmlin._parsers()[0]
        counter.__init__()
        body = (b'<?xml version="1.0" encoding="utf-8"?>\n<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/'
                b'envelope/" xmlns:m="urn:kandian:mcu"><e:Body><m:VideoPlay><m:Account>1</m:Account>'
                b"<m:ChannelNo>0</m:ChannelNo></m:VideoPlay></e:Body></e:Envelope>")
        self.assertEqual(xmlin.read(body).tag, "{http://schemas.xmlsoap.org/soap/envelope/}Envelope")
        self.assertEqual(counter.elements, 0)
        self.assertTrue(xmlin._below_limits(body))
        # one element past the depth limit's bound: counted (and within the limits)
        deep = b"<a>" * (xmlin.MAX_DEPTH + 1) + b"</a>" * (xmlin.MAX_DEPTH + 1)
        self.assertFalse(xmlin._below_limits(deep))
        self.assertRaises(xmlin.LimitExceeded, xmlin.read, deep)
        self.assertEqual(counter.elements, xmlin.MAX_DEPTH + 1)
