"""The SMGP client against the shipped fake ISMG over real TCP on loopback.

Every fault of issue 13's list that the gateway can cause: garbage or
truncated PDUs, a gateway that stops answering, refuses the login or drops
the link mid-window.  Bytes travel through loopback sockets on the real
reactor; the client's and the fake's timers run on one ``task.Clock``
advanced by hand, so timeouts and backoffs are exact.
"""

from __future__ import annotations

import re
import sys

from twisted.application.internet import backoffPolicy
from twisted.internet import defer, reactor, task
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.trial.unittest import TestCase

from kandian.sim.smgp import FakeIsmg
from kandian.sms import smgp
from kandian.sms.client import SmgpClient
from kandian.sms.errors import GatewayUnavailable, SmgpRejected

from .procs import kill, spawn
from .test_device_integration import eventually

ACCOUNT, SECRET = "sp0001", "s3cret"
MOBILE = "13800138000"


class GatewayTestCase(TestCase):
    @defer.inlineCallbacks
    def setUp(self):
        self.clock = task.Clock()
        self.clock.advance(1735704000)
        self.ismg = FakeIsmg(self.clock, accounts={ACCOUNT: SECRET}, report_delay=5)
        self.port = yield self.ismg.listen(reactor)
        self.reports: list[tuple[str, str, str]] = []
        self.report_errors = 0
        self.client = self.make_client()
        self.addCleanup(self.cleanup)

    def make_client(self, **kw) -> SmgpClient:
        options = dict(account=ACCOUNT, password=SECRET, sp_number="106590001", service_id="KANDIAN",
                       window=16, rate=100_000, on_report=self.on_report,
                       retry_policy=backoffPolicy(1.0, 60.0, 2.0, jitter=lambda: 0))
        options.update(kw)
        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", self.port.getHost().port)
        return SmgpClient(reactor, self.clock, endpoint, **options)

    def on_report(self, msg_id, stat, err):
        if self.report_errors:
            self.report_errors -= 1
            raise RuntimeError("store unavailable")
        self.reports.append((msg_id, stat, err))

    @defer.inlineCallbacks
    def cleanup(self):
        if self.client.running:
            stopping = self.client.stopService()
            while not stopping.called:
                self.clock.advance(1)
                yield task.deferLater(reactor, 0.01, lambda: None)
        self.ismg.stop()
        self.ismg.disconnect()
        yield eventually(lambda: not self.ismg.sessions, "fake ISMG links closed")
        yield self.port.stopListening()
        self.assertEqual(self.clock.getDelayedCalls(), [])

    @defer.inlineCallbacks
    def start(self):
        self.client.startService()
        yield eventually(lambda: self.client.connected, "logged in")

    @defer.inlineCallbacks
    def reconnect(self, after: float):
        """The link is gone: the next attempt comes *after* seconds (the backoff)."""
        yield eventually(lambda: self.client._link is None, "link closed")
        self.clock.advance(after)
        yield eventually(lambda: self.client.connected, "logged in again")


class HappyPathTests(GatewayTestCase):
    @defer.inlineCallbacks
    def test_window_and_reports(self):
        """40 messages with answers 1 s late: never more than 16 unanswered, all
        reported delivered, every report acknowledged."""
        yield self.start()
        self.ismg.faults.answer_delay = 1
        results = [self.client.submit("1380013%04d" % i, "第%d条告警" % i) for i in range(40)]
        for sent in (16, 32, 40):
            yield eventually(lambda: self.ismg.received_pdus["Submit"] == sent, "%d submits" % sent)
            self.assertEqual(self.client.queued, 40 - sent)
            self.clock.advance(1)
        ids = yield defer.gatherResults(results)
        self.assertEqual((self.ismg.max_outstanding, self.ismg.window_exceeded), (16, 0))
        self.assertEqual(sorted(i for (i,) in ids), sorted(r.msg_id for r in self.ismg.received))
        self.assertEqual([t.text for t in self.ismg.texts], ["第%d条告警" % i for i in range(40)])
        self.clock.advance(5)
        yield eventually(lambda: len(self.ismg.reports_acked) == 40, "reports acknowledged")
        self.assertEqual(sorted(r[0] for r in self.reports), sorted(i for (i,) in ids))
        self.assertEqual({r[1:] for r in self.reports}, {("DELIVRD", "000")})

    @defer.inlineCallbacks
    def test_long_text_reaches_the_phone_whole(self):
        yield self.start()
        text = "【看店】您的摄像头“收银台”于2025-01-01 12:00:00发生移动侦测告警 📷，查看图片：" \
               "https://portal.example.cn/alarm/12345?exp=1735707600&sig=0123456789abcdef0123456789abcdef"
        ids = yield self.client.submit(MOBILE, text)
        self.assertEqual(len(ids), 3)
        (whole,) = self.ismg.texts
        self.assertEqual((whole.dest, whole.text, list(whole.msg_ids)), (MOBILE, text, ids))

    @defer.inlineCallbacks
    def test_refusals(self):
        yield self.start()
        self.ismg.faults.reject[MOBILE] = 47
        failure = yield self.assertFailure(self.client.submit(MOBILE, "x"), SmgpRejected)
        self.assertEqual(failure.status, 47)
        expired = self.client.submit("13900139000", "x", valid_until=self.clock.seconds() - 60)
        failure = yield self.assertFailure(expired, SmgpRejected)
        self.assertEqual(failure.status, 37)
        ids = yield self.client.submit("13900139000", "x", valid_until=self.clock.seconds() + 60)
        self.assertEqual(len(ids[0]), 20)
        self.assertTrue(self.client.connected)

    @defer.inlineCallbacks
    def test_undelivered_report(self):
        yield self.start()
        self.ismg.faults.report_stat[MOBILE] = ("UNDELIV", "012")
        (msg_id,) = yield self.client.submit(MOBILE, "x")
        self.clock.advance(5)
        yield eventually(lambda: self.reports, "report")
        self.assertEqual(self.reports, [(msg_id, "UNDELIV", "012")])

    @defer.inlineCallbacks
    def test_active_test_both_ways(self):
        yield self.start()
        self.assertEqual(self.ismg.send_active_test(), 1)
        yield eventually(lambda: self.ismg.active_tests_answered == 1, "client answered")
        self.clock.advance(60)
        yield eventually(lambda: self.ismg.received_pdus["ActiveTest"] == 1, "client asked")
        yield eventually(lambda: self.client.stats.bad_input == {} and self.client._link._pending == {},
                         "answer received")
        self.clock.advance(30)
        self.assertTrue(self.client.connected)

    @defer.inlineCallbacks
    def test_stop_says_exit(self):
        yield self.start()
        yield self.client.stopService()
        self.assertEqual(self.ismg.exits, 1)
        self.assertFalse(self.client.connected)


class LoginFaultTests(GatewayTestCase):
    @defer.inlineCallbacks
    def test_wrong_password(self):
        self.client = self.make_client(password="wrong")
        self.client.startService()
        yield eventually(lambda: self.client.stats.logins[21] == 1, "refused")
        yield eventually(lambda: self.client._link is None, "link closed")
        self.assertEqual(self.ismg.logins, [(ACCOUNT, 21)])
        self.clock.advance(2)
        yield eventually(lambda: self.client.stats.logins[21] == 2, "refused again")
        self.assertFalse(self.client.connected)
        self.assertEqual(self.client.stats.connects, 2)

    @defer.inlineCallbacks
    def test_refused_then_admitted(self):
        self.ismg.faults.refuse_login = 2  # 超过最大连接数
        self.client.startService()
        yield eventually(lambda: self.client.stats.logins[2] == 1, "refused")
        self.ismg.faults.refuse_login = None
        yield self.reconnect(2)
        self.assertEqual([status for _, status in self.ismg.logins], [2, 0])

    @defer.inlineCallbacks
    def test_gateway_down_then_up(self):
        port = self.port.getHost().port
        yield self.port.stopListening()
        self.client.startService()
        yield eventually(lambda: self.client.stats.connect_failures == 1, "refused connection")
        self.port = yield self.ismg.listen(reactor, "tcp:%d:interface=127.0.0.1" % port)
        self.clock.advance(2)
        yield eventually(lambda: self.client.connected, "logged in")


class LinkFaultTests(GatewayTestCase):
    @defer.inlineCallbacks
    def test_drop_mid_window(self):
        """The gateway closes the link on the 5th Submit with 4 accepted but not
        answered: all 10 fail as unavailable (outcome unknown); after the
        reconnect the 4 accepted ones are still reported."""
        yield self.start()
        self.ismg.faults.answer_delay = 1
        self.ismg.faults.drop_after = 5
        results = [self.client.submit("1380013%04d" % i, "m%d" % i) for i in range(10)]
        for d in results:
            yield self.assertFailure(d, GatewayUnavailable)
        self.assertEqual(len(self.ismg.received), 4)
        self.assertEqual(self.client.stats.links_closed, {})  # the gateway closed it
        yield self.reconnect(2)
        self.ismg.faults.answer_delay = 0
        ids = yield self.client.submit(MOBILE, "again")
        self.clock.advance(5)
        yield eventually(lambda: len(self.reports) == 5, "reports of the accepted ones")
        self.assertEqual(sorted(r[0] for r in self.reports), sorted([r.msg_id for r in self.ismg.received]))
        self.assertIn(ids[0], [r[0] for r in self.reports])

    @defer.inlineCallbacks
    def test_gateway_stops_answering(self):
        yield self.start()
        self.ismg.faults.silent = True
        d = self.client.submit(MOBILE, "x")
        yield eventually(lambda: self.ismg.ignored, "submit read")
        self.clock.advance(30)
        yield self.assertFailure(d, GatewayUnavailable)
        self.assertEqual(self.client.stats.links_closed["silent"], 1)
        # still silent: the new link's Login is not answered either
        yield eventually(lambda: self.client._link is None, "link closed")
        self.clock.advance(2)
        yield eventually(lambda: self.ismg.received_pdus["Login"] == 2, "second login sent")
        self.clock.advance(30)
        yield eventually(lambda: self.client.stats.logins["timeout"] == 1, "login timed out")
        self.ismg.faults.silent = False
        yield self.reconnect(4)
        yield self.client.submit(MOBILE, "y")

    @defer.inlineCallbacks
    def test_garbage(self):
        yield self.start()
        self.ismg.send_raw(b"\x00\x00\x00\x05garbage")
        yield eventually(lambda: self.client.stats.links_closed["bad_input"] == 1, "closed on garbage")
        self.assertEqual(self.client.stats.bad_input["bad_length"], 1)
        yield self.reconnect(2)
        self.ismg.send_raw(bytes.fromhex("00000011 80000002 00000001") + b"short")  # Submit_Resp of 5 octets
        yield eventually(lambda: self.client.stats.bad_input["bad_pdu"] == 1, "closed on a bad body")
        yield self.reconnect(4)

    @defer.inlineCallbacks
    def test_truncated_pdu_then_close(self):
        yield self.start()
        self.ismg.faults.answer_delay = 1
        d = self.client.submit(MOBILE, "x")
        yield eventually(lambda: self.ismg.received, "accepted")
        self.ismg.send_raw(smgp.SubmitResp(1, b"\0" * 10, 0).to_wire()[:17])
        self.ismg.disconnect()
        yield self.assertFailure(d, GatewayUnavailable)
        yield self.reconnect(2)

    @defer.inlineCallbacks
    def test_truncated_pdu_then_silence(self):
        yield self.start()
        self.ismg.faults.silent = True
        self.ismg.send_raw(smgp.ActiveTest(9).to_wire()[:7])
        self.clock.advance(60)  # idle: Active_Test, unanswered
        yield eventually(lambda: self.ismg.received_pdus["ActiveTest"] == 1, "active test sent")
        self.clock.advance(30)
        yield eventually(lambda: self.client.stats.links_closed["silent"] == 1, "closed")
        self.ismg.faults.silent = False
        yield self.reconnect(2)


class ReportFaultTests(GatewayTestCase):
    @defer.inlineCallbacks
    def test_handler_failure_means_redelivery(self):
        yield self.start()
        self.report_errors = 1
        (msg_id,) = yield self.client.submit(MOBILE, "x")
        self.clock.advance(5)
        yield eventually(lambda: self.ismg.reports_refused, "refused once")
        self.assertEqual(self.ismg.reports_refused, [(msg_id, 1)])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.clock.advance(5)
        yield eventually(lambda: self.ismg.reports_acked == [msg_id], "delivered again, acknowledged")
        self.assertEqual(self.reports, [(msg_id, "DELIVRD", "000")])

    @defer.inlineCallbacks
    def test_unreadable_report(self):
        yield self.start()
        self.ismg.deliver_raw(b"id:nonsense")
        yield eventually(lambda: self.ismg.deliver_resps, "answered")
        self.assertEqual(self.ismg.deliver_resps[0][1], 10)
        self.assertTrue(self.client.connected)

    @defer.inlineCallbacks
    def test_report_waits_for_reconnect(self):
        """A report due while the link is down arrives after the next login."""
        yield self.start()
        (msg_id,) = yield self.client.submit(MOBILE, "x")
        self.ismg.disconnect()
        yield eventually(lambda: self.client._link is None, "link closed")
        self.clock.advance(5)  # report due, no link; the retry comes at 2 s … already passed
        yield eventually(lambda: self.client.connected, "logged in again")
        yield eventually(lambda: self.reports, "report after login")
        self.assertEqual(self.reports, [(msg_id, "DELIVRD", "000")])


class CommandLineTests(TestCase):
    @defer.inlineCallbacks
    def test_python_m_kandian_sim_smgp(self):
        child = spawn([sys.executable, "-m", "kandian.sim.smgp", "--listen", "tcp:0:interface=127.0.0.1",
                       "--account", "%s:%s" % (ACCOUNT, SECRET), "--reject", "13900000000:47"])
        self.addCleanup(kill, child)
        output = yield child.wait_for(b"listening on")
        port = int(re.search(rb"listening on 127\.0\.0\.1:(\d+)", output).group(1))
        client = SmgpClient(reactor, reactor, "tcp:127.0.0.1:%d" % port, account=ACCOUNT, password=SECRET,
                            sp_number="10659", service_id="TEST")
        client.startService()
        yield eventually(lambda: client.connected, "logged in to the CLI's gateway")
        ids = yield client.submit(MOBILE, "你好")
        self.assertEqual(len(ids), 1)
        yield self.assertFailure(client.submit("13900000000", "x"), SmgpRejected)
        yield client.stopService()
        child.transport.signalProcess("TERM")
        yield child.ended
