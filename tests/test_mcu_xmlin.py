"""kandian.mcu.xmlin: SOAP request bodies read as UTF-8 only, within limits, sans-IO."""

from hypothesis import given, strategies as st
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
