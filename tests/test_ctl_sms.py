"""``kandianctl sms list``, ``user set --alarm-sms``, ``device send-key``: a child process against real PostgreSQL."""

from twisted.internet import defer

from kandian.store.connector import Store

from .pg import DatabaseTestCase
from .test_ctl import kandianctl
from .test_twistd import write_config

A = "13800138000"
CAM = "81100000001"
NOW = 1_800_000_000.0


class SmsCommandTests(DatabaseTestCase):
    @defer.inlineCallbacks
    def setUp(self):
        yield super().setUp()
        self.store = Store(self.db)
        self.bare = write_config(self.mktemp(), self.mktemp(), dsn=self.dsn)
        self.config = write_config(self.mktemp(), self.mktemp(), dsn=self.dsn)
        with open(self.config, "a") as f:
            f.write("[sms]\ngateway = tcp:127.0.0.1:9\naccount = sp0001\n")

    @defer.inlineCallbacks
    def test_user_set_alarm_sms(self):
        yield self.store.users.add(A, "scrypt$x")
        code, out = yield kandianctl(self.bare, "user", "set", A, "--alarm-sms", "off")
        self.assertEqual((code, out), (0, "user %s: alarm SMS off\n" % A))
        rows = yield self.db.runQuery("SELECT alarm_sms FROM app_user")
        self.assertEqual(rows, [(False,)])
        code, out = yield kandianctl(self.bare, "user", "set", A, "--alarm-sms", "on")
        self.assertEqual(code, 0, out)
        rows = yield self.db.runQuery("SELECT alarm_sms FROM app_user")
        self.assertEqual(rows, [(True,)])
        for args, expected in [
            (["user", "set", "13999999999", "--alarm-sms", "off"], (1, "kandianctl: no user 13999999999\n")),
            (["user", "set", A], (1, "kandianctl: nothing to set: give --max-devices N or --alarm-sms on|off\n")),
        ]:
            self.assertEqual((yield kandianctl(self.bare, *args)), expected)
        code, out = yield kandianctl(self.bare, "user", "set", A, "--alarm-sms", "maybe")
        self.assertEqual(code, 2, out)

    @defer.inlineCallbacks
    def test_device_send_key(self):
        code, out = yield kandianctl(self.bare, "device", "send-key", CAM)
        self.assertEqual((code, out), (1, "kandianctl: no SMS gateway configured\n"))
        code, out = yield kandianctl(self.config, "device", "send-key", CAM)
        self.assertEqual((code, out), (1, "kandianctl: no device %s\n" % CAM))
        yield self.store.devices.add(CAM, "Secret-Key-1")
        code, out = yield kandianctl(self.config, "device", "send-key", CAM)
        self.assertEqual((code, out), (1, "kandianctl: device %s has no owner\n" % CAM))
        user_id = yield self.store.users.add(A, "scrypt$x")
        yield self.store.bindings.bind(user_id, CAM, 4)
        code, out = yield kandianctl(self.config, "device", "send-key", CAM)
        rows = yield self.db.runQuery("SELECT message_id, mobile, kind, status, body FROM sms_outbox")
        [(message_id, mobile, kind, status, body)] = rows
        self.assertEqual((code, out), (0, "DevKey of %s queued to %s (message %d)\n" % (CAM, A, message_id)))
        self.assertEqual((mobile, kind, status), (A, "devkey", "queued"))
        self.assertIn("Secret-Key-1", body)
        code, out = yield kandianctl(self.config, "sms", "list")
        self.assertEqual(code, 0, out)
        self.assertNotIn("Secret-Key", out)
        # once a minute per device
        code, out = yield kandianctl(self.config, "device", "send-key", CAM)
        self.assertEqual(code, 1, out)
        self.assertIn("less than 60 s ago", out)

    @defer.inlineCallbacks
    def test_sms_list(self):
        outbox = self.store.outbox
        queued = yield outbox.queue(A, "排队中的短信", "message", NOW, NOW + 3600)
        delivered = yield outbox.queue(A, "delivered one", "alarm", NOW, NOW + 3600)
        refused = yield outbox.queue("13800138001", "refused one", "message", NOW, NOW + 3600)
        yield outbox.claim("n1", NOW + 1, 10, 600)
        yield outbox.submitted([(delivered, ["0" * 20])], "n1", NOW + 2)
        yield outbox.report([("0" * 20, "DELIVRD", "000")], NOW + 3)
        yield outbox.finish([(refused, "failed", "gateway status 47 (非法接收用户号码（DestTermId）)")], "n1", NOW + 2)
        yield outbox.retry([(queued, NOW + 10, "gateway unavailable (outcome unknown)")], "n1", NOW + 2)
        code, out = yield kandianctl(self.bare, "sms", "list")
        self.assertEqual(code, 0, out)
        lines = out.splitlines()
        self.assertEqual(lines[0].split(), ["ID", "MOBILE", "KIND", "STATUS", "ATTEMPTS", "CREATED", "UPDATED",
                                            "REASON", "TEXT"])
        self.assertEqual([line.split()[:5] for line in lines[1:]], [
            [str(refused), "13800138001", "message", "failed", "1"],
            [str(delivered), A, "alarm", "delivered", "1"],
            [str(queued), A, "message", "queued", "1"]])
        self.assertIn("gateway status 47", lines[1])
        self.assertIn("排队中的短信", lines[3])
        code, out = yield kandianctl(self.bare, "sms", "list", "--status", "delivered")
        self.assertEqual([line.split()[0] for line in out.splitlines()[1:]], [str(delivered)])
        code, out = yield kandianctl(self.bare, "sms", "list", "--status", "lost")
        self.assertEqual(code, 2, out)
