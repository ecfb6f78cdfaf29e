"""The group platform's bodies (§5 REDIRECT_REQ/RES, §6.1–§6.5): the spec's samples, round trips, bad input."""

from hypothesis import given, strategies as st
from twisted.trial.unittest import SynchronousTestCase

from kandian.group import messages as m
from kandian.xmlwire import MAX_DOCUMENT_SIZE

from .strategies import bodies, mutated

# §5's samples, as firmware copies them: the declaration with a space in the
# encoding, padding around values, a BOM
REDIRECT_SAMPLE = ("\ufeff<?xml version=\"1.0\" encoding=\" UTF-8\" ?>\r\n<REDIRECT_REQ>\r\n"
                   "  <ManufacturerNo> 811 </ManufacturerNo>\r\n  <Mode>DS-2CD2</Mode>\r\n  <DevType>1</DevType>\r\n"
                   "  <DevID>81100000001</DevID>\r\n  <DevKey>key-1</DevKey>\r\n</REDIRECT_REQ>\r\n").encode("utf-8")
REDIRECT_RES_SAMPLE = (b"<?xml version=\"1.0\" encoding=\" UTF-8\" ?>\n<REDIRECT_RES>\n<Result>0</Result>\n"
                       b"<DevID>81100000001</DevID>\n<LcmsUrl>http://province.example:8589/register</LcmsUrl>\n"
                       b"<StunIP>stun.example</StunIP>\n<StunPort>3478</StunPort>\n"
                       b"<BackupStunIP>stun2.example</BackupStunIP>\n<BackupStunPort>3479</BackupStunPort>\n"
                       b"</REDIRECT_RES>")


class SampleTests(SynchronousTestCase):
    def test_redirect_request_as_firmware_sends_it(self):
        asked = m.decode(REDIRECT_SAMPLE, [m.RedirectRequest])
        self.assertEqual(asked, m.RedirectRequest(ManufacturerNo="811", Mode="DS-2CD2", DevType=1,
                                                  DevID="81100000001", DevKey="key-1"))
        self.assertNotIn("key-1", repr(asked))

    def test_redirect_response(self):
        answer = m.decode(REDIRECT_RES_SAMPLE, [m.RedirectResponse])
        self.assertEqual((answer.Result, answer.LcmsUrl, answer.StunIP, answer.StunPort, answer.BackupStunPort),
                         (0, "http://province.example:8589/register", "stun.example", 3478, 3479))

    def test_names_and_order_of_the_spec_tables(self):
        expected = {
            "REDIRECT_REQ": ["ManufacturerNo", "Mode", "DevType", "DevID", "DevKey"],
            "REDIRECT_RES": ["Result", "DevID", "LcmsUrl", "StunIP", "StunPort", "BackupStunIP", "BackupStunPort"],
            "ADDRESS_REPORT_REQ": ["ProvinceNo", "CmsNo", "CmsPassword", "CmsVer", "McuUrl", "DevUrl"],
            "ADDRESS_REPORT_RES": ["Result", "McuAndroidUrl", "McuAndroidVer", "McuIosUrl", "McuIosVer",
                                   "McuWinUrl", "McuWinVer"],
            "USER_OPEN_REQ": ["ProvinceNo", "CmsNo", "CmsPassword", "MobileTel", "IpcamNum"],
            "USER_OPEN_RES": ["Result"],
            "USER_CHANGE_REQ": ["ProvinceNo", "CmsNo", "CmsPassword", "MobileTel", "IpcamNum"],
            "USER_CHANGE_RES": ["Result"],
            "USER_CANCEL_REQ": ["ProvinceNo", "CmsNo", "CmsPassword", "MobileTel"],
            "USER_CANCEL_RES": ["Result"],
            "DEVICE_USE_REQ": ["ProvinceNo", "CmsNo", "CmsPassword", "DevID", "DevKey"],
            "DEVICE_USE_RES": ["Result"],
        }
        import attrs
        self.assertEqual({cls.ROOT: [a.name for a in attrs.fields(cls)] for cls in m.ALL}, expected)

    def test_the_wire_form(self):
        request = m.UserChangeRequest(ProvinceNo="3100", CmsNo="01", CmsPassword="pw", MobileTel="13800000001",
                                      IpcamNum=6)
        self.assertEqual(request.to_xml(), b'<?xml version="1.0" encoding="UTF-8"?><USER_CHANGE_REQ>'
                         b"<ProvinceNo>3100</ProvinceNo><CmsNo>01</CmsNo><CmsPassword>pw</CmsPassword>"
                         b"<MobileTel>13800000001</MobileTel><IpcamNum>6</IpcamNum></USER_CHANGE_REQ>")
        self.assertNotIn("pw", repr(request))

    def test_a_cms_request_is_told_by_its_root(self):
        for cls in m.CMS_REQUESTS.values():
            self.assertIn(cls, m.RESPONSE_OF)
        body = b"<USER_CANCEL_REQ><ProvinceNo>3100</ProvinceNo><CmsNo>01</CmsNo><CmsPassword>p</CmsPassword>" \
               b"<MobileTel>13800000001</MobileTel><Extra>ignored</Extra></USER_CANCEL_REQ>"
        self.assertIsInstance(m.decode(body, m.CMS_REQUESTS.values()), m.UserCancelRequest)

    def test_optional_answers_may_be_left_out(self):
        answer = m.decode(b"<ADDRESS_REPORT_RES><Result>2</Result></ADDRESS_REPORT_RES>", [m.AddressReportResponse])
        self.assertEqual(answer, m.AddressReportResponse(Result=2))


class RoundTripTests(SynchronousTestCase):
    @given(st.sampled_from(m.ALL).flatmap(bodies))
    def test_every_message(self, message):
        self.assertEqual(m.decode(message.to_xml(), [type(message)]), message)


CMS = tuple(m.CMS_REQUESTS.values())


class BadInputTests(SynchronousTestCase):
    def assertRefused(self, data, classes=CMS, *fragments):
        with self.assertRaises(m.MessageError) as cm:
            m.decode(data, classes)
        for fragment in fragments:
            self.assertIn(fragment, str(cm.exception))

    def test_another_root(self):
        self.assertRefused(b"<REGISTER_REQ><DevID>1</DevID></REGISTER_REQ>", m.CMS_REQUESTS.values(),
                           "got <REGISTER_REQ>")
        self.assertRefused(b"<USER_OPEN_RES><Result>0</Result></USER_OPEN_RES>", [m.UserCancelResponse])

    def test_missing_and_mistyped(self):
        self.assertRefused(b"<USER_OPEN_REQ><ProvinceNo>3100</ProvinceNo></USER_OPEN_REQ>", m.CMS_REQUESTS.values(),
                           "CmsNo")
        self.assertRefused(b"<USER_OPEN_REQ><ProvinceNo>3100</ProvinceNo><CmsNo>01</CmsNo><CmsPassword>p"
                           b"</CmsPassword><MobileTel>1</MobileTel><IpcamNum>-1</IpcamNum></USER_OPEN_REQ>")
        self.assertRefused(b"<DEVICE_USE_RES><Result>zero</Result></DEVICE_USE_RES>", [m.DeviceUseResponse])

    def test_xxe_and_entities(self):
        for body in (
            b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            b"<REDIRECT_REQ><DevID>&x;</DevID><DevKey>k</DevKey></REDIRECT_REQ>",
            b'<!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
            b"<REDIRECT_REQ><DevID>&b;</DevID><DevKey>k</DevKey></REDIRECT_REQ>",
        ):
            self.assertRefused(body, [m.RedirectRequest], "DOCTYPE")

    def test_not_xml_another_encoding_and_oversize(self):
        self.assertRefused(b"", [m.RedirectRequest])
        self.assertRefused(b"\x00\x01garbage<", [m.RedirectRequest])
        self.assertRefused(b'<?xml version="1.0" encoding="GB2312"?><REDIRECT_REQ/>', [m.RedirectRequest],
                           "encoding")
        big = b"<REDIRECT_REQ><DevKey>" + b"k" * MAX_DOCUMENT_SIZE + b"</DevKey></REDIRECT_REQ>"
        self.assertRefused(big, [m.RedirectRequest], "exceeds")

    def test_values_over_their_bounds(self):
        self.assertRefused(b"<REDIRECT_REQ><DevID>" + b"1" * 65 + b"</DevID><DevKey>k</DevKey></REDIRECT_REQ>",
                           [m.RedirectRequest])

    @given(st.binary(max_size=200))
    def test_random_bytes_raise_only_the_codecs_error(self, data):
        try:
            m.decode(data, m.ALL)
        except m.MessageError:
            pass

    @given(st.sampled_from(m.ALL).flatmap(bodies).flatmap(lambda message: mutated(message.to_xml())))
    def test_mutated_documents_raise_only_the_codecs_error(self, data):
        try:
            m.decode(data, m.ALL)
        except m.MessageError:
            pass
