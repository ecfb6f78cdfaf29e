"""``kandianctl province|client|group|user set|del`` as an operator runs them: child processes against real PostgreSQL."""

from twisted.internet import defer

from kandian.passwords import verify_password

from .pg import DatabaseTestCase
from .test_ctl import kandianctl
from .test_twistd import write_config

A = "13800138000"


class GroupRoleCommandsTests(DatabaseTestCase):
    def setUp(self):
        d = super().setUp()
        d.addCallback(lambda _: setattr(self, "config", write_config(self.mktemp(), self.mktemp(), dsn=self.dsn)))
        return d

    @defer.inlineCallbacks
    def test_provinces(self):
        code, out = yield kandianctl(self.config, "province", "add", "01", "--province-no", "3100", "--password",
                                     "s3cret", "--mcu-url", "http://p1.example:8590/mcu", "--dev-url",
                                     "http://p1.example:8589/register", "--name", "上海")
        self.assertEqual((code, out), (0, "province 3100/01 added\n"))
        rows = yield self.db.runQuery("SELECT password_hash FROM province")
        self.assertTrue(verify_password("s3cret", rows[0][0]))
        code, out = yield kandianctl(self.config, "province", "list")
        header, row = out.splitlines()
        self.assertEqual(header.split(), ["PROVINCE_NO", "CMS_NO", "NAME", "MCU_URL", "DEV_URL", "USERS", "DEVICES",
                                          "REPORTED"])
        self.assertEqual(row.split(), ["3100", "01", "上海", "http://p1.example:8590/mcu",
                                       "http://p1.example:8589/register", "0", "0", "-"])
        for args, expected in (
            (["province", "add", "01", "--province-no", "3100", "--password", "x"],
             "kandianctl: province 3100/01 exists already\n"),
            (["province", "add", "1", "--province-no", "3100", "--password", "x"],
             "kandianctl: CmsNo is 2 digits: '1'\n"),
            (["province", "add", "02", "--province-no", "3100", "--password", "x", "--dev-url", "p1:8589"],
             "kandianctl: DevUrl must be an http:// or https:// URL: 'p1:8589'\n"),
        ):
            code, out = yield kandianctl(self.config, *args)
            self.assertEqual((code, out), (1, expected))

    @defer.inlineCallbacks
    def test_clients(self):
        code, out = yield kandianctl(self.config, "client", "set", "android", "--version", "2.1", "--url",
                                     "http://d.example/a.apk")
        self.assertEqual((code, out), (0, "android client A-2.1 at http://d.example/a.apk\n"))
        code, out = yield kandianctl(self.config, "client", "list")
        self.assertEqual(out.splitlines()[1].split(), ["android", "A-2.1", "http://d.example/a.apk"])
        code, out = yield kandianctl(self.config, "client", "set", "ios", "--version", "A-2.1", "--url", "http://x")
        self.assertEqual((code, out), (1, "kandianctl: not a ios client version such as I-2.1: 'A-2.1'\n"))
        code, out = yield kandianctl(self.config, "client", "set", "symbian", "--version", "1", "--url", "http://x")
        self.assertEqual(code, 2)


class UserCommandsTests(DatabaseTestCase):
    def setUp(self):
        d = super().setUp()
        d.addCallback(lambda _: setattr(self, "config", write_config(self.mktemp(), self.mktemp(), dsn=self.dsn)))
        return d

    @defer.inlineCallbacks
    def test_set_and_del_without_a_group_platform(self):
        yield kandianctl(self.config, "user", "add", A, "--password", "pw")
        code, out = yield kandianctl(self.config, "user", "set", A, "--max-devices", "9")
        self.assertEqual((code, out), (0, "user %s: max devices 9\n" % A))
        rows = yield self.db.runQuery("SELECT max_devices FROM app_user")
        self.assertEqual(rows, [(9,)])
        code, out = yield kandianctl(self.config, "user", "del", A)
        self.assertEqual((code, out), (0, "user %s cancelled\n" % A))
        code, out = yield kandianctl(self.config, "user", "del", A)
        self.assertEqual((code, out), (1, "kandianctl: no account %s\n" % A))
        code, out = yield kandianctl(self.config, "user", "set", A)
        self.assertEqual((code, out), (1, "kandianctl: nothing to set: give --max-devices N or --alarm-sms on|off\n"))
        # no group platform: nothing queued, and the group commands say so
        code, out = yield kandianctl(self.config, "group", "pending")
        self.assertEqual(out.splitlines()[1:], [])
        code, out = yield kandianctl(self.config, "group", "retry")
        self.assertEqual((code, out), (1, "kandianctl: no group platform: [group] url is empty\n"))
        code, out = yield kandianctl(self.config, "group", "status")
        self.assertEqual((code, out.splitlines()[0]), (0, "group platform: none ([group] url is empty)"))
