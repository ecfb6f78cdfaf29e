"""The SMGP client's behaviour, kandian.sms.client, one PDU at a time.

The gateway end is a ``StringTransport`` read and written with the codec; time
is a ``task.Clock``.  The same faults over real TCP against the shipped fake
ISMG are in ``tests/test_sms_gateway.py``.
"""

from __future__ import annotations

from hypothesis import given, settings, strategies as st
from twisted.application.internet import backoffPolicy
from twisted.internet import defer, task
from twisted.internet.error import ConnectionDone, ConnectionRefusedError
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from kandian.sms import smgp
from kandian.sms.client import SmgpClient
from kandian.sms.errors import GatewayUnavailable, SmgpRejected
from tests.strategies import chunked

ACCOUNT, SECRET = "sp0001", "s3cret"
MOBILE = "13800138000"


class Gateway:
    """The ISMG end of one connection."""

    def __init__(self, protocol):
        self.protocol = protocol
        self.transport = StringTransport()
        self.decoder = smgp.PduDecoder()
        self.closed = False
        protocol.makeConnection(self.transport)

    def read(self) -> list:
        data = self.transport.value()
        self.transport.clear()
        return list(self.decoder.feed(data))

    def send(self, *pdus) -> None:
        for pdu in pdus:
            self.protocol.dataReceived(pdu.to_wire())
        self.settle()

    @property
    def asked_to_close(self) -> bool:
        return self.transport.disconnecting or self.transport.disconnected

    def settle(self) -> None:
        """What the reactor does after loseConnection: connectionLost."""
        if self.asked_to_close and not self.closed:
            self.drop()

    def drop(self) -> None:
        self.closed = True
        self.protocol.connectionLost(Failure(ConnectionDone()))

    def login(self, status: int = 0) -> smgp.Login:
        (login,) = self.read()
        auth = smgp.authenticator_server(status, login.authenticator, SECRET) if status == 0 else b"\0" * 16
        self.send(smgp.LoginResp(login.sequence_id, status, auth))
        return login

    def answer(self, submit: smgp.Submit, status: int = 0, msg_id: bytes | None = None) -> bytes:
        msg_id = msg_id or bytes.fromhex("0100610101080000%04d" % submit.sequence_id)
        self.send(smgp.SubmitResp(submit.sequence_id, msg_id, status))
        return msg_id


@implementer(IStreamClientEndpoint)
class Endpoint:
    """Connects every attempt to a new Gateway at once, or refuses it."""

    def __init__(self):
        self.gateways: list[Gateway] = []
        self.refuse = False
        self.attempts = 0

    def connect(self, factory):
        self.attempts += 1
        if self.refuse:
            return defer.fail(ConnectionRefusedError())
        gateway = Gateway(factory.buildProtocol(None))
        self.gateways.append(gateway)
        return defer.succeed(gateway.protocol)

    @property
    def last(self) -> Gateway:
        return self.gateways[-1]


class ClientTestCase(SynchronousTestCase):
    window = 16
    rate = 10_000.0

    def setUp(self):
        self.clock = task.Clock()
        self.clock.advance(1735704000)  # 2025-01-01 12:00 CST
        self.endpoint = Endpoint()
        self.reports: list[tuple[str, str, str]] = []
        self.report_result = None
        self.client = self.make_client()

    def make_client(self, **kw) -> SmgpClient:
        options = dict(account=ACCOUNT, password=SECRET, sp_number="106590001", service_id="KANDIAN",
                       window=self.window, rate=self.rate, on_report=self.on_report,
                       retry_policy=backoffPolicy(1.0, 60.0, 2.0, jitter=lambda: 0))
        options.update(kw)
        return SmgpClient(None, self.clock, self.endpoint, **options)

    def on_report(self, msg_id, stat, err):
        self.reports.append((msg_id, stat, err))
        return self.report_result

    def start(self) -> Gateway:
        self.client.startService()
        gateway = self.endpoint.last
        gateway.login()
        self.assertTrue(self.client.connected)
        return gateway

    def stop(self):
        d = self.client.stopService()
        for gateway in self.endpoint.gateways:
            if not gateway.closed:
                for pdu in gateway.read():
                    if isinstance(pdu, smgp.Exit):
                        gateway.send(smgp.ExitResp(pdu.sequence_id))
                gateway.settle()
        self.successResultOf(d)
        self.assertEqual(self.clock.getDelayedCalls(), [])


class LoginTests(ClientTestCase):
    def test_login(self):
        self.client.startService()
        (login,) = self.endpoint.last.read()
        self.assertEqual((login.client_id, login.login_mode, login.client_version), (ACCOUNT, 2, 0x30))
        self.assertEqual(login.timestamp, 101120000)  # 01-01 12:00:00 China time
        self.assertEqual(login.authenticator, smgp.authenticator_client(ACCOUNT, SECRET, 101120000))
        self.assertFalse(self.client.connected)
        self.endpoint.last.send(smgp.LoginResp(login.sequence_id, 0,
                                               smgp.authenticator_server(0, login.authenticator, SECRET)))
        self.assertTrue(self.client.connected)
        self.assertEqual(self.client.stats.logins, {0: 1})
        self.stop()

    def test_submit_before_login(self):
        self.failureResultOf(self.client.submit(MOBILE, "hi"), GatewayUnavailable)
        self.client.startService()
        self.failureResultOf(self.client.submit(MOBILE, "hi"), GatewayUnavailable)
        self.stop()

    def test_refused_login_retries_with_backoff(self):
        """Status 21: the link is closed and tried again after 2, 4, 8 … s (factor 2)."""
        self.client.startService()
        self.endpoint.last.login(status=21)
        self.assertTrue(self.endpoint.last.closed)
        self.assertFalse(self.client.connected)
        self.assertEqual(self.client.stats.logins, {21: 1})
        for delay in [2.0, 4.0, 8.0]:
            self.clock.advance(delay - 0.001)
            self.assertEqual(self.endpoint.attempts, len(self.endpoint.gateways))
            attempts = self.endpoint.attempts
            self.clock.advance(0.001)
            self.assertEqual(self.endpoint.attempts, attempts + 1)
            self.endpoint.last.login(status=21)
        self.clock.advance(16)
        self.endpoint.last.login()
        self.assertTrue(self.client.connected)
        self.stop()

    def test_outage_logged_once_per_reason(self):
        from twisted.internet.testing import EventLoggingObserver
        from twisted.logger import formatEvent, globalLogPublisher

        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)

        def lines(text):
            return sum(text in formatEvent(e) for e in events)

        self.client.startService()
        self.endpoint.last.login(status=21)
        for delay in [2, 4, 8]:
            self.clock.advance(delay)
            self.endpoint.last.login(status=21)
        self.assertEqual(lines("refused the login"), 1)
        self.assertEqual(self.client.stats.logins[21], 4)
        self.clock.advance(16)
        self.endpoint.last.login()
        self.endpoint.last.drop()
        for status in [21, 0]:
            (retry,) = self.clock.getDelayedCalls()
            self.clock.advance(retry.getTime() - self.clock.seconds())
            self.endpoint.last.login(status=status)
        self.assertEqual(lines("refused the login"), 2)  # again after a login in between
        self.stop()

    def test_backoff_resets_once_the_gateway_answers(self):
        gateway = self.start()
        gateway.drop()
        self.clock.advance(2)  # first retry after 2 s
        gateway = self.endpoint.last
        gateway.login()
        d = self.client.submit(MOBILE, "hi")
        (submit,) = gateway.read()
        gateway.answer(submit)
        self.successResultOf(d)
        gateway.drop()
        attempts = self.endpoint.attempts
        self.clock.advance(2)
        self.assertEqual(self.endpoint.attempts, attempts + 1)
        self.stop()

    def test_connection_refused_retries(self):
        self.endpoint.refuse = True
        self.client.startService()
        self.clock.advance(2)
        self.clock.advance(4)
        self.assertEqual(self.endpoint.attempts, 3)
        self.assertEqual(self.client.stats.connect_failures, 3)
        self.endpoint.refuse = False
        self.clock.advance(8)
        self.endpoint.last.login()
        self.assertTrue(self.client.connected)
        self.stop()

    def test_default_backoff(self):
        """1 s, 2 s, 4 s … 60 s, each with up to a second of jitter."""
        self.client = self.make_client(retry_policy=None)
        self.endpoint.refuse = True
        self.client.startService()
        delays = []
        for _ in range(8):
            (call,) = self.clock.getDelayedCalls()
            delays.append(call.getTime() - self.clock.seconds())
            self.clock.advance(delays[-1])
        for delay, base in zip(delays, [1, 2, 4, 8, 16, 32, 60, 60]):
            self.assertTrue(base <= delay < base + 1, (delay, base))
        self.successResultOf(self.client.stopService())

    def test_from_config(self):
        from twisted.internet.testing import MemoryReactor

        from kandian import config
        from kandian.sms.client import from_config

        reactor = MemoryReactor()
        self.assertIsNone(from_config(reactor, config.load(None, reactor).sms))
        sms = config.parse("[sms]\ngateway = tcp:127.0.0.1:9890\naccount = sp0001\npassword = pw\n"
                           "sp_number = 10659\nservice_id = K\nwindow = 4\nrate = 20\n", "k.ini", reactor).sms
        client = from_config(reactor, sms, clock=self.clock)
        self.assertEqual((client.account, client.password, client.sp_number, client.service_id, client.window,
                          client.rate), ("sp0001", "pw", "10659", "K", 4, 20.0))
        client.startService()
        self.assertEqual([(host, port) for host, port, *_ in reactor.tcpClients], [("127.0.0.1", 9890)])
        self.successResultOf(client.stopService())
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_login_timeout(self):
        self.client.startService()
        self.endpoint.last.read()
        self.clock.advance(30)
        self.endpoint.last.settle()
        self.assertTrue(self.endpoint.last.transport.disconnected)
        self.assertEqual(self.client.stats.logins, {"timeout": 1})
        self.clock.advance(2)
        self.assertEqual(self.endpoint.attempts, 2)
        self.endpoint.last.login()
        self.stop()

    def test_authenticator_server_mismatch_is_tolerated(self):
        self.client.startService()
        (login,) = self.endpoint.last.read()
        self.endpoint.last.send(smgp.LoginResp(login.sequence_id, 0, b"\0" * 16))
        self.assertTrue(self.client.connected)
        self.assertEqual(self.client.stats.bad_input["authenticator_server"], 1)
        self.stop()

    def test_stop_while_connecting_or_waiting(self):
        self.endpoint.refuse = True
        self.client.startService()
        self.successResultOf(self.client.stopService())
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_bad_settings(self):
        self.assertRaises(ValueError, self.make_client, account="toolong_id")
        self.assertRaises(ValueError, self.make_client, sp_number="号码")
        self.assertRaises(ValueError, self.make_client, service_id="x" * 11)
        self.assertRaises(ValueError, self.make_client, window=0)
        self.assertRaises(ValueError, self.make_client, rate=0)


class SubmitTests(ClientTestCase):
    def test_one_part(self):
        gateway = self.start()
        d = self.client.submit(MOBILE, "您的新密码是 123456", valid_until=self.clock.seconds() + 3600)
        (submit,) = gateway.read()
        self.assertEqual(submit.dest_term_ids, (MOBILE,))
        self.assertEqual(submit.msg_content, "您的新密码是 123456".encode("utf-16-be"))
        self.assertEqual((submit.msg_format, submit.msg_type, submit.need_report), (8, 6, 1))
        self.assertEqual((submit.src_term_id, submit.service_id), ("106590001", "KANDIAN"))
        self.assertEqual(submit.valid_time, "250101130000032+")
        self.assertEqual(submit.tlvs, ())
        msg_id = gateway.answer(submit)
        self.assertEqual(self.successResultOf(d), [msg_id.hex()])
        self.stop()

    def test_long_text_in_parts(self):
        gateway = self.start()
        text = "您的摄像头“店门口”于2025-01-01 12:00检测到移动侦测报警，" * 5
        d = self.client.submit(MOBILE, text)
        submits = gateway.read()
        self.assertEqual(len(submits), 3)
        references = set()
        payload = b""
        for number, submit in enumerate(submits, 1):
            self.assertEqual([(t.tag, t.value) for t in submit.tlvs],
                             [(smgp.TP_UDHI, b"\1"), (smgp.PK_TOTAL, b"\3"), (smgp.PK_NUMBER, bytes([number]))])
            concat, chunk = smgp.parse_udh(submit.msg_content)
            self.assertEqual((concat.total, concat.number), (3, number))
            references.add(concat.reference)
            payload += chunk
        self.assertEqual(len(references), 1)
        self.assertEqual(payload.decode("utf-16-be"), text)
        ids = [gateway.answer(submit) for submit in reversed(submits)][::-1]
        self.assertEqual(self.successResultOf(d), [i.hex() for i in ids])
        self.stop()

    def test_concatenation_reference_changes(self):
        gateway = self.start()
        results = [self.client.submit(MOBILE, "长" * 100) for _ in range(2)]
        submits = gateway.read()
        refs = [smgp.parse_udh(s.msg_content)[0].reference for s in submits]
        self.assertEqual(len(set(refs)), 2)
        self.assertEqual(refs[0], refs[1])
        for submit in submits:
            gateway.answer(submit)
        self.assertEqual([len(self.successResultOf(d)) for d in results], [2, 2])
        self.stop()

    def test_rejected_part_stops_the_rest(self):
        self.client = self.make_client(window=1)
        gateway = self.start()
        d = self.client.submit(MOBILE, "长" * 200)  # 3 parts, one at a time
        (first,) = gateway.read()
        gateway.answer(first, status=47)
        self.assertEqual(self.failureResultOf(d, SmgpRejected).value.status, 47)
        self.assertEqual(gateway.read(), [])  # parts 2 and 3 never sent
        self.assertEqual(self.client.stats.submit_status, {47: 1})
        self.stop()

    def test_bad_input_fails_at_once(self):
        self.start()
        for mobile, text in [("", "x"), ("1" * 22, "x"), ("手机", "x"), (MOBILE, "\ud800"), (MOBILE, "字" * 20000)]:
            self.failureResultOf(self.client.submit(mobile, text), ValueError)
        self.stop()

    def test_window(self):
        self.client = self.make_client(window=3)
        gateway = self.start()
        results = [self.client.submit(MOBILE, "m%d" % i) for i in range(5)]
        first = gateway.read()
        self.assertEqual(len(first), 3)
        self.assertEqual(self.client.queued, 2)
        gateway.answer(first[1])
        (fourth,) = gateway.read()
        self.assertEqual(fourth.msg_content, "m3".encode("utf-16-be"))
        for submit in [first[0], first[2], fourth]:
            gateway.answer(submit)
        (fifth,) = gateway.read()
        gateway.answer(fifth)
        self.assertEqual([len(self.successResultOf(d)) for d in results], [1] * 5)
        self.stop()

    def test_rate(self):
        """rate 4/s: a burst of one, then one Submit every 0.25 s."""
        self.client = self.make_client(rate=4)
        gateway = self.start()
        results = [self.client.submit(MOBILE, "m%d" % i) for i in range(4)]
        sent = []
        for _ in range(4):
            submits = gateway.read()
            sent.append(len(submits))
            for submit in submits:
                gateway.answer(submit)
            self.clock.advance(0.25)
        self.assertEqual(sent, [1, 1, 1, 1])
        for d in results:
            self.successResultOf(d)
        self.stop()

    def test_rate_burst(self):
        """A tenth of a second's worth goes out at once."""
        self.client = self.make_client(rate=40)
        gateway = self.start()
        results = [self.client.submit(MOBILE, "m%d" % i) for i in range(8)]
        sent = []
        for _ in range(2):
            submits = gateway.read()
            sent.append(len(submits))
            for submit in submits:
                gateway.answer(submit)
            self.clock.advance(0.125)
        self.assertEqual(sent, [4, 4])
        for d in results:
            self.successResultOf(d)
        self.stop()

    def test_timeout_while_gateway_talks(self):
        """No Submit_Resp for one message, but the gateway answers others: only it fails."""
        gateway = self.start()
        late = self.client.submit(MOBILE, "late")
        (lost,) = gateway.read()
        self.clock.advance(10)
        ok = self.client.submit(MOBILE, "ok")
        (answered,) = gateway.read()
        gateway.answer(answered)
        self.clock.advance(20)
        self.failureResultOf(late, GatewayUnavailable)
        self.successResultOf(ok)
        self.assertFalse(gateway.asked_to_close)
        self.assertEqual(self.client.stats.submit_timeouts, 1)
        gateway.answer(lost)  # too late: counted, ignored
        self.assertEqual(self.client.stats.bad_input["unexpected"], 1)
        self.stop()

    def test_silent_gateway_closes_the_link(self):
        gateway = self.start()
        results = [self.client.submit(MOBILE, "m%d" % i) for i in range(3)]
        gateway.read()
        self.clock.advance(30)
        self.assertTrue(gateway.transport.disconnected)
        gateway.settle()
        for d in results:
            self.failureResultOf(d, GatewayUnavailable)
        self.assertEqual(self.client.stats.links_closed["silent"], 1)
        self.assertFalse(self.client.connected)
        self.clock.advance(2)
        self.endpoint.last.login()
        self.stop()

    def test_connection_lost_fails_queued_and_in_flight(self):
        self.client = self.make_client(window=1)
        gateway = self.start()
        results = [self.client.submit(MOBILE, "m%d" % i) for i in range(3)]
        gateway.drop()
        for d in results:
            self.assertIn("lost", str(self.failureResultOf(d, GatewayUnavailable).value))
        self.failureResultOf(self.client.submit(MOBILE, "after"), GatewayUnavailable)
        self.clock.advance(2)
        self.endpoint.last.login()
        self.stop()

    def test_callback_may_submit_again(self):
        """The outbox sends its next message from the previous one's callback."""
        gateway = self.start()
        chained = []
        d = self.client.submit(MOBILE, "first")
        d.addCallback(lambda ids: chained.append(self.client.submit(MOBILE, "second")))
        gateway.answer(gateway.read()[0])
        (second,) = gateway.read()
        gateway.answer(second)
        self.successResultOf(chained[0])
        self.stop()


class ActiveTestTests(ClientTestCase):
    def test_answers_the_gateway(self):
        gateway = self.start()
        gateway.send(smgp.ActiveTest(77))
        self.assertEqual(gateway.read(), [smgp.ActiveTestResp(77)])
        self.assertEqual(self.client.stats.active_tests_answered, 1)
        self.stop()

    def test_sends_when_idle(self):
        gateway = self.start()
        self.clock.advance(59)
        self.assertEqual(gateway.read(), [])
        self.clock.advance(1)
        (test,) = gateway.read()
        self.assertIsInstance(test, smgp.ActiveTest)
        gateway.send(smgp.ActiveTestResp(test.sequence_id))
        self.clock.advance(60)
        self.assertIsInstance(gateway.read()[0], smgp.ActiveTest)
        self.assertFalse(gateway.asked_to_close)
        self.clock.advance(30)  # the second one unanswered
        self.assertTrue(gateway.transport.disconnected)
        gateway.settle()
        self.stop()

    def test_traffic_postpones_it(self):
        gateway = self.start()
        self.clock.advance(40)
        gateway.send(smgp.ActiveTest(5))
        self.clock.advance(40)
        self.assertEqual(gateway.read(), [smgp.ActiveTestResp(5)])
        self.clock.advance(20)
        self.assertIsInstance(gateway.read()[0], smgp.ActiveTest)
        self.stop()


class ReportTests(ClientTestCase):
    def deliver(self, gateway, content, is_report=1, sequence=900):
        msg_id = b"\x55" * 10
        gateway.send(smgp.Deliver(sequence, msg_id, is_report, 0, "20250101120100", MOBILE, "106590001", content))
        return msg_id

    def test_report_then_deliver_resp(self):
        gateway = self.start()
        report = smgp.StatusReport(bytes.fromhex("01006101011200000001"), "DELIVRD", "000")
        msg_id = self.deliver(gateway, report.to_bytes())
        self.assertEqual(self.reports, [("01006101011200000001", "DELIVRD", "000")])
        self.assertEqual(gateway.read(), [smgp.DeliverResp(900, msg_id, 0)])
        self.assertEqual(self.client.stats.reports, {"DELIVRD": 1})
        self.stop()

    def test_deliver_resp_waits_for_the_handler(self):
        gateway = self.start()
        self.report_result = defer.Deferred()
        msg_id = self.deliver(gateway, smgp.StatusReport(b"\1" * 10, "UNDELIV", "012").to_bytes())
        self.assertEqual(self.reports, [("01" * 10, "UNDELIV", "012")])
        self.assertEqual(gateway.read(), [])
        self.report_result.callback(None)
        self.assertEqual(gateway.read(), [smgp.DeliverResp(900, msg_id, 0)])
        self.stop()

    def test_failing_handler_asks_for_redelivery(self):
        gateway = self.start()
        self.report_result = defer.fail(RuntimeError("database down"))
        msg_id = self.deliver(gateway, smgp.StatusReport(b"\1" * 10, "DELIVRD").to_bytes())
        self.assertEqual(gateway.read(), [smgp.DeliverResp(900, msg_id, 1)])
        self.assertEqual(self.client.stats.report_failures, 1)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.stop()

    def test_unreadable_report(self):
        gateway = self.start()
        msg_id = self.deliver(gateway, b"stat:DELIVRD")
        self.assertEqual(gateway.read(), [smgp.DeliverResp(900, msg_id, 10)])
        self.assertEqual(self.reports, [])
        self.assertEqual(self.client.stats.bad_input["bad_report"], 1)
        self.assertFalse(gateway.asked_to_close)
        self.stop()

    def test_message_from_a_phone(self):
        gateway = self.start()
        msg_id = self.deliver(gateway, "收到".encode("utf-16-be"), is_report=0)
        self.assertEqual(gateway.read(), [smgp.DeliverResp(900, msg_id, 0)])
        self.assertEqual((self.reports, self.client.stats.mo_received), ([], 1))
        self.stop()

    def test_report_after_link_lost_is_not_answered(self):
        gateway = self.start()
        self.report_result = defer.Deferred()
        self.deliver(gateway, smgp.StatusReport(b"\1" * 10, "DELIVRD").to_bytes())
        gateway.drop()
        self.report_result.callback(None)
        self.assertEqual(gateway.read(), [])
        self.stop()


class BadGatewayTests(ClientTestCase):
    def test_garbage_closes_the_link(self):
        gateway = self.start()
        d = self.client.submit(MOBILE, "x")
        gateway.read()
        gateway.protocol.dataReceived(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        self.assertTrue(gateway.transport.disconnected)
        gateway.settle()
        self.failureResultOf(d, GatewayUnavailable)
        self.assertEqual(self.client.stats.bad_input["bad_length"], 1)
        self.assertEqual(self.client.stats.links_closed["bad_input"], 1)
        self.clock.advance(2)
        self.assertEqual(self.endpoint.attempts, 2)
        self.endpoint.last.login()
        self.stop()

    def test_bad_body_closes_the_link(self):
        gateway = self.start()
        gateway.protocol.dataReceived(bytes.fromhex("0000000d 80000002 00000001 00"))
        self.assertTrue(gateway.transport.disconnected)
        self.assertEqual(self.client.stats.bad_input["bad_pdu"], 1)
        gateway.settle()
        self.stop()

    def test_truncated_pdu_then_silence(self):
        gateway = self.start()
        d = self.client.submit(MOBILE, "x")
        (submit,) = gateway.read()
        gateway.protocol.dataReceived(smgp.SubmitResp(submit.sequence_id, b"\1" * 10, 0).to_wire()[:20])
        self.clock.advance(30)
        self.assertTrue(gateway.transport.disconnected)
        gateway.settle()
        self.failureResultOf(d, GatewayUnavailable)
        self.stop()

    def test_unexpected_pdus_are_counted(self):
        gateway = self.start()
        gateway.send(smgp.Submit(3, [MOBILE], b""), smgp.UnknownPdu(7, 4, b""), smgp.DeliverResp(5, b"\0" * 10, 0))
        self.assertEqual(self.client.stats.bad_input["unexpected"], 3)
        self.assertFalse(gateway.asked_to_close)
        self.stop()

    def test_gateway_exit(self):
        gateway = self.start()
        gateway.send(smgp.Exit(12))
        self.assertEqual(gateway.read(), [smgp.ExitResp(12)])
        self.assertTrue(gateway.closed)
        self.assertFalse(self.client.connected)
        self.clock.advance(2)
        self.endpoint.last.login()
        self.stop()


class StopTests(ClientTestCase):
    def test_stop_waits_for_in_flight_then_exits(self):
        self.client = self.make_client(window=2)
        gateway = self.start()
        results = [self.client.submit(MOBILE, "m%d" % i) for i in range(3)]
        in_flight = gateway.read()
        d = self.client.stopService()
        self.failureResultOf(results[2], GatewayUnavailable)  # queued: never sent
        self.assertFalse(self.client.connected)
        self.failureResultOf(self.client.submit(MOBILE, "late"), GatewayUnavailable)
        self.assertEqual(gateway.read(), [])
        gateway.answer(in_flight[0])
        self.assertEqual(gateway.read(), [])
        gateway.answer(in_flight[1])
        (exit_,) = gateway.read()
        self.assertIsInstance(exit_, smgp.Exit)
        self.assertNoResult(d)
        gateway.send(smgp.ExitResp(exit_.sequence_id))
        self.successResultOf(d)
        self.successResultOf(results[0])
        self.successResultOf(results[1])
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual(self.endpoint.attempts, 1)

    def test_exit_unanswered(self):
        gateway = self.start()
        d = self.client.stopService()
        (exit_,) = gateway.read()
        self.clock.advance(5)
        self.assertTrue(gateway.transport.disconnected)
        gateway.settle()
        self.successResultOf(d)
        self.assertEqual(self.clock.getDelayedCalls(), [])


class MetricsTests(ClientTestCase):
    def test_families(self):
        from prometheus_client import CollectorRegistry, generate_latest
        from prometheus_client.parser import text_string_to_metric_families

        from kandian.admin.metrics import sms_metrics

        gateway = self.start()
        d = self.client.submit(MOBILE, "x")
        gateway.answer(gateway.read()[0], status=75)
        self.failureResultOf(d, SmgpRejected)
        gateway.protocol.dataReceived(b"\0\0\0\0")
        gateway.settle()

        class Collector:
            def collect(inner):
                return sms_metrics(self.client)

        registry = CollectorRegistry(auto_describe=False)
        registry.register(Collector())
        samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
                   for family in text_string_to_metric_families(generate_latest(registry).decode())
                   for s in family.samples}
        self.assertEqual(samples[("kandian_sms_gateway_connected", ())], 0)
        self.assertEqual(samples[("kandian_sms_logins_total", (("status", "0"),))], 1)
        self.assertEqual(samples[("kandian_sms_submits_total", ())], 1)
        self.assertEqual(samples[("kandian_sms_submit_responses_total", (("status", "75"),))], 1)
        self.assertEqual(samples[("kandian_sms_bad_input_total", (("reason", "bad_length"),))], 1)
        self.assertEqual(samples[("kandian_sms_links_closed_total", (("why", "bad_input"),))], 1)
        self.clock.advance(2)
        self.endpoint.last.login()
        self.stop()


class SegmentationTests(ClientTestCase):
    @given(st.data())
    @settings(max_examples=60)
    def test_any_segmentation(self, data):
        """However TCP cuts the gateway's bytes, the same answers, reports and replies come out."""
        case = self
        self.setUp()  # a fresh client and clock for each example
        gateway = case.start()
        results = [case.client.submit(MOBILE, "第%d条" % i) for i in range(3)]
        submits = gateway.read()
        report = smgp.StatusReport(bytes.fromhex("01006101011200000001"), "DELIVRD")
        stream = b"".join(p.to_wire() for p in [
            *(smgp.SubmitResp(s.sequence_id, bytes([i]) * 10, 0) for i, s in enumerate(submits)),
            smgp.Deliver(40, b"\x07" * 10, 1, 0, "", MOBILE, "", report.to_bytes()),
            smgp.ActiveTest(41),
        ])
        for chunk in data.draw(chunked(stream)):
            gateway.protocol.dataReceived(chunk)
        self.assertEqual([case.successResultOf(d) for d in results], [[(bytes([i]) * 10).hex()] for i in range(3)])
        self.assertEqual(case.reports, [("01006101011200000001", "DELIVRD", "000")])
        self.assertEqual(gateway.read(), [smgp.DeliverResp(40, b"\x07" * 10, 0), smgp.ActiveTestResp(41)])
        case.stop()
