"""``kandianctl`` as an operator runs it: a child process against real PostgreSQL."""

import os

from twisted.internet import defer
from twisted.trial import unittest

from kandian.passwords import verify_password
from kandian.store.migrate import available

from . import procs
from .pg import DatabaseTestCase
from .test_twistd import write_config

LATEST = available()[-1].version


def kandianctl(config_path, *args):
    return procs.run([procs.command("kandianctl"), "--config", config_path, *args])


class OnADsnTests(DatabaseTestCase):
    def setUp(self):
        d = super().setUp()
        d.addCallback(lambda _: setattr(self, "config", write_config(self.mktemp(), self.mktemp(), dsn=self.dsn)))
        return d

    @defer.inlineCallbacks
    def test_user_add_then_list(self):
        code, out = yield kandianctl(self.config, "user", "add", "13800138000", "--password", "pa55-word",
                                     "--max-devices", "7")
        self.assertEqual((code, out), (0, "user 13800138000 added\n"))
        code, out = yield kandianctl(self.config, "user", "list")
        self.assertEqual(code, 0, out)
        header, row = out.splitlines()
        self.assertEqual(header.split(), ["MOBILE", "MAX_DEVICES", "DEVICES", "STATUS", "CREATED"])
        self.assertEqual(row.split()[:4], ["13800138000", "7", "0", "active"])
        rows = yield self.db.runQuery("SELECT password_hash FROM app_user")
        self.assertNotIn("pa55-word", rows[0][0])
        self.assertTrue(verify_password("pa55-word", rows[0][0]))

    @defer.inlineCallbacks
    def test_device_add_then_list(self):
        code, out = yield kandianctl(self.config, "device", "add", "81100000001", "--key", "K3Y",
                                     "--type", "3", "--model", "DS-7608", "--channels", "8")
        self.assertEqual((code, out), (0, "device 81100000001 added\n"))
        code, out = yield kandianctl(self.config, "device", "list")
        self.assertEqual(code, 0, out)
        lines = out.splitlines()
        self.assertEqual(lines[0].split()[:5], ["DEVID", "TYPE", "MODEL", "MANUFACTURER", "CHANNELS"])
        self.assertEqual(lines[1].split()[:6], ["81100000001", "NVR", "DS-7608", "海康", "8", "no"])

    @defer.inlineCallbacks
    def test_failures_are_one_line_and_non_zero(self):
        yield kandianctl(self.config, "user", "add", "13800138000", "--password", "x")
        for args, expected in [
            (["user", "add", "13800138000", "--password", "y"], "kandianctl: user 13800138000 already exists\n"),
            (["device", "add", "123", "--key", "k"], "kandianctl: DevID must be 11 digits (§7.2): '123'\n"),
        ]:
            code, out = yield kandianctl(self.config, *args)
            self.assertEqual((code, out), (1, expected))

    @defer.inlineCallbacks
    def test_operator_add_list_password_del(self):
        code, out = yield kandianctl(self.config, "operator", "add", "ops-li", "--password", "pa55-word",
                                     "--role", "viewer")
        self.assertEqual((code, out), (0, "operator ops-li added (viewer)\n"))
        rows = yield self.db.runQuery("SELECT password_hash, role FROM operator WHERE name = 'ops-li'")
        self.assertTrue(verify_password("pa55-word", rows[0][0]))
        self.assertEqual(rows[0][1], "viewer")
        code, out = yield kandianctl(self.config, "operator", "list")
        self.assertEqual(code, 0, out)
        self.assertEqual(out.splitlines()[1].split()[:2], ["ops-li", "viewer"])
        code, out = yield kandianctl(self.config, "operator", "password", "ops-li", "--password", "n3w-pass")
        self.assertEqual(code, 0, out)
        rows = yield self.db.runQuery("SELECT password_hash FROM operator")
        self.assertTrue(verify_password("n3w-pass", rows[0][0]))
        for args, expected in [
            (["operator", "add", "ops-li", "--password", "x"], "kandianctl: operator ops-li already exists\n"),
            (["operator", "add", "13800000000", "--password", "x"], "a letter"),
            (["operator", "password", "nobody", "--password", "x"], "kandianctl: no operator nobody\n"),
        ]:
            code, out = yield kandianctl(self.config, *args)
            self.assertEqual(code, 1)
            self.assertIn(expected, out)
        code, out = yield kandianctl(self.config, "operator", "del", "ops-li")
        self.assertEqual((code, out), (0, "operator ops-li removed\n"))

    @defer.inlineCallbacks
    def test_usage_errors_exit_2(self):
        code, out = yield kandianctl(self.config, "device", "add", "81100000001")
        self.assertEqual(code, 2)
        self.assertIn("--key", out)

    @defer.inlineCallbacks
    def test_migrate_is_idempotent(self):
        code, out = yield kandianctl(self.config, "migrate")
        self.assertEqual((code, out), (0, "schema at version %d; nothing to apply\n" % LATEST))


class BadConfigTests(unittest.TestCase):
    @defer.inlineCallbacks
    def test_missing_config_file(self):
        path = os.path.abspath(self.mktemp())
        code, out = yield kandianctl(path, "user", "list")
        self.assertEqual((code, out), (1, "kandianctl: config error: %s: config file not found\n" % path))


class OnTheEmbeddedDefaultTests(unittest.TestCase):
    @defer.inlineCallbacks
    def test_commands_start_and_stop_their_own_server(self):
        data_dir = os.path.abspath(self.mktemp())
        config = write_config(self.mktemp(), data_dir)
        code, out = yield kandianctl(config, "migrate")
        self.assertEqual((code, out), (0, "applied %s; schema at version %d\n" % (", ".join("%04d" % m.version for m in available()), LATEST)))
        code, out = yield kandianctl(config, "user", "add", "13900000000", "--password", "pw")
        self.assertEqual(code, 0, out)
        code, out = yield kandianctl(config, "user", "list")
        self.assertIn("13900000000", out)
        self.assertEqual(procs.postgres_processes(os.path.join(data_dir, "postgres")), [])
