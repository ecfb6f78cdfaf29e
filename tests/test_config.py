"""kandian.config: defaults, the documented file, and one clear line per error."""

import os

import attrs
from twisted.internet.testing import MemoryReactor
from twisted.trial import unittest

from kandian import config
from kandian.config import ConfigError

ETC = os.path.join(os.path.dirname(__file__), os.pardir, "etc", "kandian.ini")


class DefaultsTests(unittest.SynchronousTestCase):
    def test_no_file_means_product_defaults(self):
        c = config.load(None, MemoryReactor())
        self.assertEqual(c.listeners(), {
            "device": "tcp:8588", "register": "tcp:8589", "mcu": "tcp:8590",
            "rtsp": "tcp:8554", "admin": "tcp:8591:interface=127.0.0.1", "ftp": "tcp:2121",
            "portal": "tcp:8592"})
        self.assertEqual(c.database.dsn, "")
        self.assertEqual(c.platform.timezone.key, "Asia/Shanghai")
        self.assertEqual((c.device.login_timeout, c.device.heartbeat_timeout, c.device.command_timeout),
                         (30, 360, 10))
        self.assertIs(c.register.auto_provision, False)
        self.assertEqual(c.mcu.session_timeout, 1800)

    def test_shipped_file_documents_every_key_with_its_default(self):
        with open(ETC, encoding="utf-8") as f:
            text = f.read()
        shipped = config.parse(text, ETC, MemoryReactor())
        self.assertEqual(attrs.evolve(shipped, path=None), config.Config())
        for section, cls in config.SECTIONS.items():
            self.assertIn("[%s]" % section, text)
            for field in attrs.fields(cls):
                self.assertRegex(text, r"(?m)^%s =( |$)" % field.name, "%s.%s" % (section, field.name))

    def test_values_are_typed(self):
        c = config.parse("[device]\nlogin_timeout = 5\n[register]\nauto_provision = on\n"
                         "[platform]\ntimezone = UTC\n", "k.ini", MemoryReactor())
        self.assertEqual(c.device.login_timeout, 5)
        self.assertIs(c.register.auto_provision, True)
        self.assertEqual(c.platform.timezone.key, "UTC")

    def test_describe_dsn_never_shows_the_password(self):
        text = config.describe_dsn("host=db.example port=5432 user=k password=hunter2 dbname=k")
        self.assertNotIn("hunter2", text)
        self.assertIn("host=db.example", text)


class ErrorTests(unittest.SynchronousTestCase):
    def assertOneLine(self, text, *fragments):
        with self.assertRaises(ConfigError) as cm:
            config.parse(text, "site.ini", MemoryReactor())
        message = str(cm.exception)
        self.assertNotIn("\n", message)
        self.assertTrue(message.startswith("site.ini: "), message)
        for fragment in fragments:
            self.assertIn(fragment, message)
        return message

    def test_missing_file(self):
        with self.assertRaises(ConfigError) as cm:
            config.load(self.mktemp())
        self.assertIn("config file not found", str(cm.exception))

    def test_unknown_section(self):
        self.assertOneLine("[devices]\nlisten = tcp:1\n", "unknown section [devices]")

    def test_unknown_key(self):
        self.assertOneLine("[device]\nheartbeat = 5\n", "unknown key 'heartbeat'", "[device]")

    def test_bad_integer(self):
        self.assertOneLine("[device]\nlogin_timeout = soon\n", "login_timeout", "'soon'", "not an integer")

    def test_zero_timeout(self):
        self.assertOneLine("[mcu]\nsession_timeout = 0\n", "session_timeout", "greater than 0")

    def test_bad_boolean(self):
        self.assertOneLine("[register]\nauto_provision = maybe\n", "auto_provision", "'maybe'")

    def test_bad_zone(self):
        self.assertOneLine("[platform]\ntimezone = Mars/Olympus\n", "timezone", "unknown time zone")

    def test_bad_endpoint_type(self):
        self.assertOneLine("[rtsp]\nlisten = udp:8554\n", "[rtsp] listen = 'udp:8554'", "bad endpoint")

    def test_bad_endpoint_port(self):
        self.assertOneLine("[device]\nlisten = tcp:eighty\n", "[device] listen", "bad endpoint")

    def test_tls_endpoint_with_missing_key_file(self):
        self.assertOneLine("[mcu]\nlisten = ssl:8443:privateKey=/nonexistent/key.pem\n",
                           "[mcu] listen", "/nonexistent/key.pem")

    def test_two_listeners_on_one_endpoint(self):
        self.assertOneLine("[rtsp]\nlisten = tcp:8588\n", "same endpoint as [device]")

    def test_bad_dsn(self):
        self.assertOneLine("[database]\ndsn = host='unterminated\n", "[database] dsn", "not a libpq")

    def test_not_ini(self):
        self.assertOneLine("listen = tcp:1\n", "not a valid INI file")


class SmsSectionTests(unittest.SynchronousTestCase):
    def test_defaults(self):
        sms = config.load(None, MemoryReactor()).sms
        self.assertEqual((sms.gateway, sms.window, sms.rate, sms.alarm_sms_interval), ("", 16, 50, 300))

    def test_gateway(self):
        c = config.parse("[sms]\ngateway = tcp:10.0.0.5:8890\naccount = sp0001\npassword = s3cret\n"
                         "sp_number = 106590001\nservice_id = KANDIAN\nwindow = 8\nrate = 200\n",
                         "k.ini", MemoryReactor())
        self.assertEqual((c.sms.gateway, c.sms.account, c.sms.window, c.sms.rate),
                         ("tcp:10.0.0.5:8890", "sp0001", 8, 200))
        self.assertNotIn("s3cret", repr(c))

    def test_errors(self):
        for text, fragment in [
            ("[sms]\ngateway = nonsense:1\naccount = a\n", "[sms] gateway = 'nonsense:1': bad endpoint"),
            ("[sms]\ngateway = tcp:10.0.0.5:8890\n", "[sms] account is required"),
            ("[sms]\naccount = sp00000001\n", "at most 8 ASCII characters"),
            ("[sms]\nsp_number = 一〇六\n", "at most 21 ASCII characters"),
            ("[sms]\nwindow = 0\n", "must be greater than 0"),
        ]:
            with self.assertRaises(ConfigError) as cm:
                config.parse(text, "site.ini", MemoryReactor())
            self.assertIn(fragment, str(cm.exception))
class GroupSettingsTests(unittest.SynchronousTestCase):
    def test_no_group_platform_and_no_group_role_by_default(self):
        c = config.load(None, MemoryReactor())
        self.assertEqual((c.group.url, c.group.report_interval, c.group_role.listen), ("", 3600, ""))
        self.assertNotIn("group_role", c.listeners())

    def test_the_group_role_listens_when_set(self):
        c = config.parse("[group_role]\nlisten = tcp:8593\nstun_address = stun.example:3478\n", "g.ini",
                         MemoryReactor())
        self.assertEqual(c.listeners()["group_role"], "tcp:8593")
        self.assertEqual(c.group_role.stun_address, ("stun.example", 3478))

    def test_a_group_platform_needs_who_this_province_is(self):
        c = config.parse("[group]\nurl = https://group.example/cms\nprovince_no = 3100\ncms_no = 01\n"
                         "cms_password = pw\n", "g.ini", MemoryReactor())
        self.assertEqual((c.group.url, c.group.province_no, c.group.cms_no), ("https://group.example/cms", "3100",
                                                                              "01"))
        with self.assertRaises(ConfigError) as cm:
            config.parse("[group]\nurl = http://group.example/cms\ncms_no = 01\n", "g.ini", MemoryReactor())
        self.assertEqual(str(cm.exception), "g.ini: [group] url is set: province_no, cms_password must be set too")

    def test_bad_group_values(self):
        for text, fragment in (("[group]\nurl = ftp://group.example/\n", "not an http"),
                               ("[group]\nurl = http://group example/cms\n", "not an http"),
                               ("[group]\nprovince_no = 31\n", "must be 4 digits"),
                               ("[group]\ncms_no = 1a\n", "must be 2 digits"),
                               ("[group]\nmcu_url = /mcu\n", "not an http"),
                               ("[group_role]\nlisten = udp:1\n", "bad endpoint")):
            with self.assertRaises(ConfigError) as cm:
                config.parse(text, "g.ini", MemoryReactor())
            self.assertIn(fragment, str(cm.exception))

    def test_the_old_switch_says_what_replaced_it(self):
        with self.assertRaises(ConfigError) as cm:
            config.parse("[mcu]\ngroup_platform = accept\n", "old.ini", MemoryReactor())
        self.assertIn("[mcu] group_platform is no longer a setting", str(cm.exception))
        self.assertIn("[group] url", str(cm.exception))
