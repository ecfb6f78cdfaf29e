"""POST /register (§7.2) against the running service and real PostgreSQL."""

from twisted.internet import defer, reactor, task
from twisted.web.client import Agent, readBody
from twisted.web.http_headers import Headers
from twisted.web.iweb import IBodyProducer
from zope.interface import implementer

from kandian import config
from kandian.register.messages import RegisterRequest, RegisterResponse
from kandian.service import KandianService
from kandian.store.devices import DeviceStore

from .pg import DatabaseTestCase

LISTENERS = ("device", "register", "mcu", "rtsp", "admin", "ftp", "portal")
NOW = 1_795_000_000  # 2026-11-18 11:06:40 UTC, 19:06:40 in Asia/Shanghai


@implementer(IBodyProducer)
class Body:
    def __init__(self, data: bytes):
        self.data = data
        self.length = len(data)

    def startProducing(self, consumer):
        consumer.write(self.data)
        return defer.succeed(None)

    def stopProducing(self):
        pass

    def pauseProducing(self):
        pass

    def resumeProducing(self):
        pass


def service_config(dsn, **extra):
    """Every listener on a loopback tcp:0; *extra* adds lines to a section."""
    text = "[database]\ndsn = %s\n" % dsn
    for name in LISTENERS:
        text += "[%s]\nlisten = tcp:0:interface=127.0.0.1\n" % name
        text += extra.get(name, "")
    for name, lines in extra.items():
        if name not in LISTENERS:
            text += "[%s]\n%s" % (name, lines)
    return config.parse(text, "test.ini", reactor)


class ServiceTestCase(DatabaseTestCase):
    """A running KandianService on loopback, its domain clock a task.Clock."""

    register_settings = ""
    mcu_settings = ""
    settings: dict = {}  # section → INI lines, for any other section

    @defer.inlineCallbacks
    def setUp(self):
        yield super().setUp()
        self.clock = task.Clock()
        self.clock.advance(NOW)
        self.service = KandianService(
            service_config(self.dsn, **{**self.settings, "register": self.register_settings,
                                        "mcu": self.mcu_settings}), reactor,
            clock=self.clock)
        self.service.startService()
        self.addCleanup(self.service.stopService)
        yield self.service.ready

    def port(self, name):
        return self.service.listeners[name].port.getHost().port


class RegisterTestCase(ServiceTestCase):
    @defer.inlineCallbacks
    def post(self, body: bytes, method=b"POST", path=b"/register", headers=None):
        url = b"http://127.0.0.1:%d%s" % (self.port("register"), path)
        response = yield Agent(reactor).request(
            method, url, Headers(headers or {b"content-type": [b"text/xml;charset=UTF-8"]}),
            Body(body) if body is not None else None)
        data = yield readBody(response)
        return response, data

    @defer.inlineCallbacks
    def register(self, dev_id="81100000001", key="key-1", **fields):
        request = RegisterRequest(ManufacturerNo=dev_id[:3], Mode="DS-2CD2", DevType=1, DevID=dev_id, DevKey=key,
                                  **fields)
        response, data = yield self.post(request.to_xml())
        self.assertEqual(response.code, 200, data)
        self.assertEqual(response.headers.getRawHeaders(b"content-type"), [b"text/xml;charset=UTF-8"])
        return RegisterResponse.from_xml(data)

    @defer.inlineCallbacks
    def devices(self):
        rows = yield self.db.runQuery("SELECT dev_id, dev_key, model, provisioned_by FROM device ORDER BY 1")
        return rows


class RegistrationTests(RegisterTestCase):
    register_settings = "auto_provision = true\nturn_address = turn.example.cn:3478\n"

    @defer.inlineCallbacks
    def test_known_device_gets_every_address(self):
        yield DeviceStore(self.db).add("81100000001", "key-1")
        answer = yield self.register()
        self.assertEqual(answer.Result, 0)
        self.assertEqual(answer.DevID, "81100000001")
        self.assertEqual((answer.NatIP, answer.NatPort), ("127.0.0.1", self.port("device")))
        self.assertEqual((answer.BackupNatIP, answer.BackupNatPort), ("127.0.0.1", self.port("device")))
        self.assertEqual((answer.TurnIP, answer.TurnPort), ("turn.example.cn", 3478))
        self.assertEqual((answer.BackupTurnIP, answer.BackupTurnPort), ("turn.example.cn", 3478))
        self.assertEqual((answer.FtpIP, answer.FtpPort), ("127.0.0.1", self.port("ftp")))
        # the device's own FTP account: its DevID, and the password derived for it
        keys = self.service.platform.core.keys
        self.assertEqual((answer.FtpAccount, answer.FtpPassword), ("81100000001", keys.ftp_password("81100000001")))
        self.assertEqual(answer.Time, "20261118190640")
        rows = yield self.db.runQuery("SELECT registered_at IS NOT NULL, model FROM device")
        self.assertEqual(rows, [(True, "DS-2CD2")])

    @defer.inlineCallbacks
    def test_wrong_key_is_2(self):
        yield DeviceStore(self.db).add("81100000001", "key-1")
        answer = yield self.register(key="guess")
        self.assertEqual((answer.Result, answer.NatIP), (2, None))

    @defer.inlineCallbacks
    def test_unknown_device_with_a_known_prefix_is_provisioned(self):
        answer = yield self.register("81299999999", "fresh-key")
        self.assertEqual(answer.Result, 0)
        rows = yield self.devices()
        self.assertEqual(rows, [("81299999999", "fresh-key", "DS-2CD2", "register")])
        again = yield self.register("81299999999", "other-key")
        self.assertEqual(again.Result, 2)

    @defer.inlineCallbacks
    def test_unknown_prefix_or_bad_devid_is_1(self):
        for dev_id in ["99999999999", "8110000001", "811000000011", "8110000000a"]:
            answer = yield self.register(dev_id)
            self.assertEqual(answer.Result, 1, dev_id)
        rows = yield self.devices()
        self.assertEqual(rows, [])

    @defer.inlineCallbacks
    def test_spec_sample_with_its_quirks(self):
        body = ('\ufeff<?xml version="1.0" encoding=" UTF-8" ?>\n<REGISTER_REQ>\n'
                "  <ManufacturerNo> 811 </ManufacturerNo>\n  <Mode>DS-2CD3T</Mode>\n  <DevType>1</DevType>\n"
                "  <DevID> 81100000042 </DevID>\n  <DevKey>k42</DevKey>\n</REGISTER_REQ>\n").encode("utf-8")
        response, data = yield self.post(body)
        self.assertEqual(RegisterResponse.from_xml(data).Result, 0)
        rows = yield self.devices()
        self.assertEqual(rows, [("81100000042", "k42", "DS-2CD3T", "register")])


class DefaultProvisioningTests(RegisterTestCase):
    """auto_provision left at its default (off): registration claims nothing."""

    register_settings = "link_address = dev.example.cn:9000\nbackup_link_address = dev2.example.cn:9001\n"

    @defer.inlineCallbacks
    def test_unknown_device_with_a_known_prefix_is_1_and_nothing_is_written(self):
        answer = yield self.register("81299999999", "attacker-key")
        self.assertEqual(answer.Result, 1)
        rows = yield self.devices()
        self.assertEqual(rows, [])

    @defer.inlineCallbacks
    def test_configured_link_addresses(self):
        yield DeviceStore(self.db).add("81100000001", "key-1")
        answer = yield self.register()
        self.assertEqual((answer.NatIP, answer.NatPort, answer.BackupNatIP, answer.BackupNatPort),
                         ("dev.example.cn", 9000, "dev2.example.cn", 9001))
        self.assertIsNone(answer.TurnIP)


class BadRegistrationTests(RegisterTestCase):
    @defer.inlineCallbacks
    def assertRefused(self, code, *args, **kw):
        response, data = yield self.post(*args, **kw)
        self.assertEqual(response.code, code, data)
        rows = yield self.devices()
        self.assertEqual(rows, [])
        return data

    def test_not_xml(self):
        return self.assertRefused(400, b"DevID=81100000001&DevKey=k")

    def test_wrong_root(self):
        return self.assertRefused(400, b"<LOGIN_REQ><DevID>81100000001</DevID><DevKey>k</DevKey></LOGIN_REQ>")

    def test_missing_devkey(self):
        return self.assertRefused(400, b"<REGISTER_REQ><DevID>81100000001</DevID></REGISTER_REQ>")

    def test_entities(self):
        return self.assertRefused(400, b'<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
                                       b"<REGISTER_REQ><DevID>81100000001</DevID><DevKey>&b;</DevKey></REGISTER_REQ>")

    def test_get(self):
        return self.assertRefused(405, None, method=b"GET")

    def test_wrong_path(self):
        return self.assertRefused(404, b"<REGISTER_REQ/>", path=b"/register/x")

    def test_other_path(self):
        return self.assertRefused(404, b"<REGISTER_REQ/>", path=b"/")

    @defer.inlineCallbacks
    def test_oversize_body(self):
        body = b"<REGISTER_REQ><DevID>81100000001</DevID><DevKey>" + b"k" * 70000 + b"</DevKey></REGISTER_REQ>"
        yield self.assertRefused(413, body)
