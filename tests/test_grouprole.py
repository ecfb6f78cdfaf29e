"""kandian as the group platform ([group_role]) over real HTTP, with real PostgreSQL:
POST /cms answered to kandian's own province client (every Result of every §6 table),
POST /redirect (§5, §6.6), §9 over SOAP with zeep and suds, and bad input on each path."""

from lxml import etree
from twisted.internet import defer, reactor, threads
from twisted.web.client import Agent, readBody
from twisted.web.http_headers import Headers

from kandian.core import errors
from kandian.core.clients import ClientReleases, Release
from kandian.group import messages as m
from kandian.group.client import GroupClient

from .test_register import Body, ServiceTestCase

CAM, CAM2 = "81100000001", "81200000002"
A = "13800000001"


class GroupRoleTestCase(ServiceTestCase):
    settings = {"group_role": "listen = tcp:0:interface=127.0.0.1\nstun_address = stun.example:3478\n"}

    @defer.inlineCallbacks
    def setUp(self):
        yield super().setUp()
        self.role = self.service.platform.core.group_role
        yield self.role.add_province("3100", "01", "s3cret", name="上海电信", dev_url="http://p1.example/register")
        yield self.role.add_province("4400", "01", "other", mcu_url="http://p2.example/mcu")

    def url(self, path=b"/cms"):
        return b"http://127.0.0.1:%d%s" % (self.port("group_role"), path)

    def client(self, province_no="3100", cms_no="01", password="s3cret"):
        return GroupClient(reactor, self.url().decode(), province_no=province_no, cms_no=cms_no,
                           cms_password=password, timeout=10)

    @defer.inlineCallbacks
    def post(self, body, path=b"/cms", method=b"POST"):
        response = yield Agent(reactor).request(method, self.url(path),
                                                Headers({b"content-type": [b"text/xml;charset=UTF-8"]}),
                                                Body(body) if body is not None else None)
        data = yield readBody(response)
        return response.code, data

    @defer.inlineCallbacks
    def ask(self, request):
        """A §6 request through the province's client: its answer, whatever the Result."""
        answer = yield self.client().exchange(request)
        return answer

    def who(self, **kw):
        return dict(dict(ProvinceNo="3100", CmsNo="01", CmsPassword="s3cret"), **kw)

    @defer.inlineCallbacks
    def redirect(self, dev_id=CAM, key="k1"):
        code, data = yield self.post(m.RedirectRequest(ManufacturerNo=dev_id[:3], Mode="DS-2CD", DevType=1,
                                                       DevID=dev_id, DevKey=key).to_xml(), b"/redirect")
        return code, m.decode(data, [m.RedirectResponse])


class CmsResultTests(GroupRoleTestCase):
    @defer.inlineCallbacks
    def test_every_request_checks_the_province_first(self):
        requests = [
            m.AddressReportRequest(**self.who(), CmsVer="1.0", McuUrl="http://p/mcu", DevUrl="http://p/register"),
            m.UserOpenRequest(**self.who(), MobileTel=A, IpcamNum=4),
            m.UserChangeRequest(**self.who(), MobileTel=A, IpcamNum=4),
            m.UserCancelRequest(**self.who(), MobileTel=A),
            m.DeviceUseRequest(**self.who(), DevID=CAM, DevKey="k"),
        ]
        for request in requests:
            unknown = yield self.ask(request.__class__(**{**_fields(request), "CmsNo": "09"}))
            wrong = yield self.ask(request.__class__(**{**_fields(request), "CmsPassword": "guess"}))
            self.assertEqual((type(unknown), unknown.Result, wrong.Result), (m.RESPONSE_OF[type(request)], 1, 2))

    @defer.inlineCallbacks
    def test_address_report(self):
        yield self.role.set_client("android", "A-2.1", "http://d.example/a.apk")
        yield self.role.set_client("windows", "1.3", "http://d.example/w.exe")
        releases = yield self.client().address_report("http://p1.example/mcu", "http://p1.example/register")
        self.assertEqual(releases, ClientReleases(android=Release("A-2.1", "http://d.example/a.apk"),
                                                  windows=Release("W-1.3", "http://d.example/w.exe")))
        province = yield self.role.store.group_role.province("3100", "01")
        self.assertEqual((province.mcu_url, province.cms_ver), ("http://p1.example/mcu", "1.0"))
        # a report whose URLs are not URLs: 255, nothing kept
        answer = yield self.ask(m.AddressReportRequest(**self.who(), CmsVer="1.0", McuUrl="x", DevUrl="y"))
        self.assertEqual(answer, m.AddressReportResponse(Result=255))
        self.assertEqual((yield self.role.store.group_role.province("3100", "01")).mcu_url, "http://p1.example/mcu")

    @defer.inlineCallbacks
    def test_users(self):
        client = self.client()
        yield self.assertFailure(client.user_change(A, 2), errors.NoSuchAccount)  # 3
        yield self.assertFailure(client.user_cancel(A), errors.NoSuchAccount)  # 3
        yield client.user_open(A, 4)  # 0
        yield client.user_change(A, 6)
        self.assertEqual((yield self.role.users("3100", "01")), [(A, 6)])
        yield client.user_cancel(A)
        self.assertEqual((yield self.role.users("3100", "01")), [])
        # a MobileTel that is no number: 255
        answer = yield self.ask(m.UserOpenRequest(**self.who(), MobileTel="abc", IpcamNum=1))
        self.assertEqual(answer.Result, 255)

    @defer.inlineCallbacks
    def test_device_use(self):
        client = self.client()
        error = yield self.assertFailure(client.device_usage(CAM, "k1"), errors.UnknownToGroup)  # 3
        self.assertEqual(error.result, 3)
        yield self.redirect(CAM, "k1")
        yield self.assertFailure(client.device_usage(CAM, "nope"), errors.WrongDevKey)  # 4
        yield client.device_usage(CAM, "k1")  # 0
        other = yield self.ask(m.DeviceUseRequest(ProvinceNo="4400", CmsNo="01", CmsPassword="other", DevID=CAM,
                                                  DevKey="k1"))
        self.assertEqual(other.Result, 255)  # another province's device

    @defer.inlineCallbacks
    def test_refusals_of_the_province_reach_the_client_as_group_unavailable(self):
        error = yield self.assertFailure(self.client(password="guess").user_open(A, 1), errors.GroupUnavailable)
        self.assertEqual(error.result, 2)
        self.assertNotIn("guess", str(error))
        error = yield self.assertFailure(self.client(cms_no="77").address_report("http://a/", "http://b/"),
                                         errors.GroupUnavailable)
        self.assertEqual(error.result, 1)

    @defer.inlineCallbacks
    def test_a_guessing_address_is_stopped(self):
        for _ in range(5):
            answer = yield self.ask(m.UserOpenRequest(**self.who(CmsPassword="guess"), MobileTel=A, IpcamNum=1))
            self.assertEqual(answer.Result, 2)
        # the throttle answers before the password is checked, the right one included
        answer = yield self.ask(m.UserOpenRequest(**self.who(), MobileTel=A, IpcamNum=1))
        self.assertEqual(answer.Result, 255)
        self.assertEqual((yield self.role.users("3100", "01")), [])
        rows = yield self.db.runQuery("SELECT password_hash FROM province")
        self.assertTrue(all(r[0].startswith("scrypt$") and "s3cret" not in r[0] for r in rows))


def _fields(message):
    import attrs
    return attrs.asdict(message)


class RedirectTests(GroupRoleTestCase):
    @defer.inlineCallbacks
    def test_401_until_a_province_claims_the_device_then_its_dev_url(self):
        code, answer = yield self.redirect()
        self.assertEqual((code, answer.Result, answer.DevID, answer.LcmsUrl, answer.StunIP), (401, 1, CAM, None, None))
        rows = yield self.db.runQuery("SELECT dev_id, dev_key, manufacturer_no, model, province_no FROM group_device")
        self.assertEqual(rows, [(CAM, "k1", "811", "DS-2CD", None)])
        code, answer = yield self.redirect(key="impostor")
        self.assertEqual((code, answer.Result), (401, 255))
        yield self.client().device_usage(CAM, "k1")
        code, answer = yield self.redirect()
        self.assertEqual((code, answer.Result, answer.LcmsUrl), (200, 0, "http://p1.example/register"))
        self.assertEqual((answer.StunIP, answer.StunPort, answer.BackupStunIP, answer.BackupStunPort),
                         ("stun.example", 3478, "stun.example", 3478))

    @defer.inlineCallbacks
    def test_a_dev_id_of_no_manufacturer_is_not_stored(self):
        code, answer = yield self.redirect("99900000001")
        self.assertEqual((code, answer.Result), (401, 1))
        code, answer = yield self.redirect("8110000000")  # ten digits
        self.assertEqual((code, answer.Result), (401, 1))
        rows = yield self.db.runQuery("SELECT count(*) FROM group_device")
        self.assertEqual(rows, [(0,)])

    @defer.inlineCallbacks
    def test_the_spec_sample_as_firmware_sends_it(self):
        from .test_group_messages import REDIRECT_SAMPLE
        code, data = yield self.post(REDIRECT_SAMPLE, b"/redirect")
        self.assertEqual(code, 401)
        self.assertEqual(m.decode(data, [m.RedirectResponse]).Result, 1)


class BadInputTests(GroupRoleTestCase):
    @defer.inlineCallbacks
    def test_each_path_refuses_what_is_not_its_document(self):
        cases = [
            (b"/cms", b"not xml at all", 400),
            (b"/cms", b"<USER_OPEN_REQ><ProvinceNo>3100</ProvinceNo></USER_OPEN_REQ>", 400),  # fields missing
            (b"/cms", m.RedirectRequest(DevID=CAM, DevKey="k").to_xml(), 400),  # a device's request
            (b"/redirect", m.UserCancelRequest(**self.who(), MobileTel=A).to_xml(), 400),
            (b"/cms", b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                      b"<USER_CANCEL_REQ><ProvinceNo>&x;</ProvinceNo></USER_CANCEL_REQ>", 400),
            (b"/redirect", b'<?xml version="1.0" encoding="GBK"?><REDIRECT_REQ/>', 400),
            (b"/cms/more", m.UserCancelRequest(**self.who(), MobileTel=A).to_xml(), 404),
            (b"/nothing", b"", 404),
        ]
        for path, body, expected in cases:
            code, data = yield self.post(body, path)
            self.assertEqual(code, expected, (path, body[:40], data))
            self.assertNotIn(b"Traceback", data)
            self.assertNotIn(b"root:", data)
        code, _ = yield self.post(None, b"/cms", method=b"GET")
        self.assertEqual(code, 405)
        stats = self.service.platform.group_role_stats
        self.assertEqual(stats.bad_input["malformed"], 6)
        self.assertEqual((stats.bad_input["path"], stats.bad_input["method"]), (1, 1))
        self.assertEqual((yield self.role.users("3100", "01")), [])

    @defer.inlineCallbacks
    def test_oversize_is_refused_before_it_is_read(self):
        body = b"<USER_OPEN_REQ>" + b" " * (65 * 1024) + b"</USER_OPEN_REQ>"
        code, _ = yield self.post(body)
        self.assertEqual(code, 413)

    @defer.inlineCallbacks
    def test_the_province_client_refuses_what_is_not_an_answer(self):
        # a group platform URL that is not the /cms endpoint answers 404: the client says so, unavailable
        client = GroupClient(reactor, self.url(b"/elsewhere").decode(), province_no="3100", cms_no="01",
                             cms_password="s3cret")
        error = yield self.assertFailure(client.user_open(A, 1), errors.GroupUnavailable)
        self.assertIn("HTTP 404", str(error))
        self.assertIsNone(error.result)
        self.assertEqual(client.stats.exchanges[("USER_OPEN_REQ", "unavailable")], 1)

    @defer.inlineCallbacks
    def test_metrics(self):
        yield self.client().user_open(A, 1)
        yield self.post(b"junk")
        response = yield Agent(reactor).request(b"GET", b"http://127.0.0.1:%d/metrics" % self.port("admin"))
        text = (yield readBody(response)).decode()
        self.assertIn('kandian_group_role_answers_total{message="USER_OPEN_REQ",result="0"} 1.0', text)
        self.assertIn('kandian_group_role_bad_input_total{reason="malformed"} 1.0', text)
        self.assertIn('kandian_connections{listener="group_role"}', text)


class SoapTests(GroupRoleTestCase):
    @defer.inlineCallbacks
    def zeep(self):
        import zeep
        client = yield threads.deferToThread(zeep.Client, self.url(b"/group?wsdl").decode())
        return client

    @defer.inlineCallbacks
    def test_zeep_check_client_upgrade_and_platform_list(self):
        yield self.role.set_client("android", "A-2.1", "http://d.example/a.apk")
        yield self.role.store.group_role.reported("3100", "01", "1.0", "http://p1.example/mcu",
                                                  "http://p1.example/register", 0)
        client = yield self.zeep()
        old = yield threads.deferToThread(client.service.CheckClientUpgrade, MobileTel=A, CmsUrl="http://p1/mcu",
                                          CmsName="x", Version="A-2.0")
        self.assertEqual((old.Result, old.UpdateUrl), (1, "http://d.example/a.apk"))
        current = yield threads.deferToThread(client.service.CheckClientUpgrade, Version="A-2.1")
        self.assertEqual((current.Result, current.UpdateUrl), (0, None))
        ios = yield threads.deferToThread(client.service.CheckClientUpgrade, Version="I-0.1")
        self.assertEqual(ios.Result, 0)
        listed = yield threads.deferToThread(client.service.GetPlatformList, Version="A-2.1")
        self.assertEqual([(c.CmsName, c.CmsUrl) for c in listed],
                         [("上海电信", "http://p1.example/mcu"), ("4400-01", "http://p2.example/mcu")])

    @defer.inlineCallbacks
    def test_suds_reads_the_wsdl(self):
        from suds.client import Client
        yield self.role.set_client("ios", "I-3.0", "http://d.example/i")
        client = yield threads.deferToThread(Client, self.url(b"/group?wsdl").decode(), cache=None)
        answer = yield threads.deferToThread(client.service.CheckClientUpgrade, None, None, None, "I-2.9")
        self.assertEqual((answer.Result, answer.UpdateUrl), (1, "http://d.example/i"))

    @defer.inlineCallbacks
    def test_bad_requests_are_faults(self):
        import zeep
        client = yield self.zeep()
        with self.assertRaises(zeep.exceptions.Fault) as cm:
            yield threads.deferToThread(client.service.CheckClientUpgrade, Version="android-two")
        self.assertEqual(cm.exception.code.split(":")[-1], "Client.ValueError")
        code, data = yield self.post(b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "e">]><x>&e;</x>', b"/group")
        self.assertEqual(code, 500)
        fault = etree.fromstring(data).find(".//faultcode")
        self.assertIn("Client", fault.text)
