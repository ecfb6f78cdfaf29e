"""Who may do what on the MCU web service, and what bad input gets."""

from lxml import etree
from twisted.internet import defer, reactor
from twisted.web.client import Agent, readBody
from twisted.web.http_headers import Headers

from kandian.mcu.api import McuService

from .mcu_helpers import McuTestCase
from .test_register import Body

OPERATIONS = list(McuService.public_methods)

A, B = "13800000001", "13800000002"
CAM = "81100000001"

SAMPLE_ARGUMENTS = {
    "DevID": CAM, "DevKey": "key", "ChannelNo": 0, "StreamType": 1, "PtzDirection": 1, "FrameSize": 3,
    "FrameRate": 15, "RateType": 1, "BitRate": 4, "AudioInput": 0, "SSID": "shop", "Security": 4,
    "Password": "wlan", "AlarmType": 1, "AlarmFlag": 1, "DIDONo": 0, "NewName": "x", "PageNo": 1,
    "StartTime": "20261118000000", "EndTime": "20261118235959", "FileName": "81100000001_0_20261118000000.ts",
}
WITHOUT_DEVICE = {"GetSmsPassword", "McuLogin", "McuLogout", "RefreshDevList", "CheckClientUpgrade"}
WITHOUT_SESSION = {"GetSmsPassword", "McuLogin", "CheckClientUpgrade"}


def arguments(operation, account, session):
    names = list(McuService.public_methods[operation].in_message._type_info)
    args = {name: SAMPLE_ARGUMENTS[name] for name in names if name not in ("Account", "LoginSession")}
    return dict(Account=account, LoginSession=session, **args)


class AuthorizationTests(McuTestCase):
    @defer.inlineCallbacks
    def setUp(self):
        yield super().setUp()
        self.session_a = yield self.user(A)
        self.session_b = yield self.user(B)
        self.link = yield self.camera(CAM, key="key")
        yield self.bind(A, CAM)

    @defer.inlineCallbacks
    def test_every_device_operation_refuses_another_users_device(self):
        checked = []
        for operation in OPERATIONS:
            if operation in WITHOUT_DEVICE:
                continue
            answer = yield getattr(self.soap, operation)(**arguments(operation, B, self.session_b))
            # AddDevice of a device bound to somebody else is §8.5's "already bound"
            self.assertEqual(answer["Result"], 6 if operation == "AddDevice" else 3, operation)
            checked.append(operation)
        self.assertEqual(len(checked), len(OPERATIONS) - len(WITHOUT_DEVICE))
        # nothing reached the device, nothing changed
        self.assertEqual(self.link.commands_received, [])
        rows = yield self.db.runQuery("SELECT count(*) FROM user_device WHERE dev_id = %s", (CAM,))
        self.assertEqual(rows, [(1,)])

    @defer.inlineCallbacks
    def test_every_session_operation_refuses_a_session_of_another_account(self):
        for operation in OPERATIONS:
            if operation in WITHOUT_SESSION:
                continue
            answer = yield getattr(self.soap, operation)(**arguments(operation, B, self.session_a))
            self.assertEqual(answer["Result"], 2, operation)
        self.assertEqual(self.link.commands_received, [])

    @defer.inlineCallbacks
    def test_the_owner_may(self):
        answer = yield self.soap.PtzControl(**arguments("PtzControl", A, self.session_a))
        self.assertEqual(answer["Result"], 0)


ENVELOPE = ('<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
            'xmlns:m="urn:kandian:mcu"><soapenv:Body>%s</soapenv:Body></soapenv:Envelope>')


class BadInputTests(McuTestCase):
    @defer.inlineCallbacks
    def post(self, body: bytes, method=b"POST", path=b"/mcu"):
        response = yield Agent(reactor).request(
            method, b"http://127.0.0.1:%d%s" % (self.port("mcu"), path),
            Headers({b"content-type": [b"text/xml; charset=utf-8"]}), Body(body) if body is not None else None)
        data = yield readBody(response)
        return response.code, data

    @defer.inlineCallbacks
    def assertFault(self, body, code):
        status, data = yield self.post(body)
        self.assertEqual(status, 500, data)
        self.assertNotIn(b"Traceback", data)
        fault = etree.fromstring(data).find(".//faultcode")
        self.assertEqual(fault.text.split(":")[-1], code, data)
        return data

    def test_not_xml(self):
        return self.assertFault(b"McuLogin?Account=1", "Client.XMLSyntaxError")

    def test_not_an_envelope(self):
        return self.assertFault(b"<McuLogin/>", "Client.SoapError")

    def test_unknown_operation(self):
        # the body is validated against the WSDL's schema before dispatch
        return self.assertFault((ENVELOPE % "<m:FormatDisk><m:DevID>1</m:DevID></m:FormatDisk>").encode(),
                                "Client.SchemaValidationError")

    def test_missing_parameter(self):
        return self.assertFault((ENVELOPE % "<m:McuLogin><m:Account>1</m:Account></m:McuLogin>").encode(),
                                "Client.SchemaValidationError")

    def test_mistyped_parameter(self):
        call = ("<m:PtzControl><m:Account>1</m:Account><m:LoginSession>s</m:LoginSession><m:DevID>d</m:DevID>"
                "<m:ChannelNo>zero</m:ChannelNo><m:PtzDirection>1</m:PtzDirection></m:PtzControl>")
        return self.assertFault((ENVELOPE % call).encode(), "Client.SchemaValidationError")

    @defer.inlineCallbacks
    def test_entities_are_refused(self):
        body = ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
                + ENVELOPE % "<m:McuLogin><m:Account>&e;</m:Account><m:Password>p</m:Password>"
                             "<m:Version>A-1.0</m:Version></m:McuLogin>").encode()
        data = yield self.assertFault(body, "Client.EntitiesNotAllowed")
        self.assertNotIn(b"root:", data)

    @defer.inlineCallbacks
    def test_the_specs_encoding_declaration_is_tolerated(self):
        body = ('\ufeff<?xml version="1.0" encoding=" UTF-8" ?>'
                + ENVELOPE % "<m:McuLogin><m:Account>13999999999</m:Account><m:Password>p</m:Password>"
                             "<m:Version>A-1.0</m:Version></m:McuLogin>").encode("utf-8")
        status, data = yield self.post(body)
        self.assertEqual(status, 200, data)
        self.assertIn(b"<tns:Result>1</tns:Result>", data)

    @defer.inlineCallbacks
    def test_oversize_body(self):
        status, _ = yield self.post(b"<x>" + b"a" * 300_000 + b"</x>")
        self.assertEqual(status, 413)

    @defer.inlineCallbacks
    def test_wsdl_and_other_gets(self):
        status, wsdl = yield self.post(None, method=b"GET", path=b"/mcu?wsdl")
        self.assertEqual(status, 200)
        document = etree.fromstring(wsdl)
        operations = {op.get("name") for op in document.iter("{http://schemas.xmlsoap.org/wsdl/}operation")}
        self.assertEqual(operations, set(OPERATIONS))
        self.assertIn(b'location="http://127.0.0.1:%d/mcu"' % self.port("mcu"), wsdl)
        status, _ = yield self.post(None, method=b"GET")
        self.assertEqual(status, 405)

    @defer.inlineCallbacks
    def test_the_service_keeps_answering(self):
        yield self.test_not_xml()
        yield self.test_entities_are_refused()
        session = yield self.user(A)
        answer = yield self.soap.RefreshDevList(Account=A, LoginSession=session)
        self.assertEqual(answer["Result"], 0)
        self.assertGreaterEqual(sum(self.service.platform.soap.faults.values()), 2)
