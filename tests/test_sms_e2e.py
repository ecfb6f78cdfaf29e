"""SMS end to end: the running platform, real PostgreSQL, the shipped fake ISMG (kandian.sim.smgp)
over loopback TCP, the simulator as camera, zeep as the phone app.

The platform's domain clock (the outbox's timers, polls and backoffs) and the
fake ISMG's clock (validity checks, report delays) are one ``task.Clock``
advanced by hand; the SMGP client's own timers run on the reactor.  The
restart tests run ``twistd kandian`` as a child process and SIGKILL it.
"""

from __future__ import annotations

import collections
import ftplib
import io
import os
import re

from twisted.internet import defer, reactor, task, threads
from twisted.web.client import Agent, readBody

from kandian.core.files import format_picture_name
from kandian.service import KandianService
from kandian.sim.link import connect_device
from kandian.sim.smgp import FakeIsmg
from kandian.sim.state import DeviceState
from kandian.store.connector import Store
from kandian.store.service import connect

from . import pg, procs
from .mcu_helpers import Soap
from .test_device_integration import eventually
from .test_ftp_clients import JPEG
from .test_outage import allow_connections, kill_backends
from .test_register import NOW, service_config
from .test_twistd import twistd, write_config

ACCOUNT, SECRET = "sp0001", "s3cret"
A, B = "13800000001", "13800000002"
CAM = "81100000001"


def sms_settings(port: int, extra: str = "") -> str:
    return ("gateway = tcp:127.0.0.1:%d\naccount = %s\npassword = %s\nsp_number = 106590001\n"
            "service_id = KANDIAN\nrate = 100000\n%s" % (port, ACCOUNT, SECRET, extra))


class SmsServiceTestCase(pg.DatabaseTestCase):
    pool_size = 1
    sms_extra = ""
    report_delay = 1.0

    @defer.inlineCallbacks
    def setUp(self):
        yield super().setUp()
        self.clock = task.Clock()
        self.clock.advance(NOW)
        self.ismg = FakeIsmg(self.clock, accounts={ACCOUNT: SECRET}, report_delay=self.report_delay)
        self.ismg_port = yield self.ismg.listen(reactor)
        self.addCleanup(self.stop_ismg)
        self.store = Store(self.db)
        self.files_root = os.path.abspath(self.mktemp())
        self.services = []
        self.service = yield self.start_service()

    @defer.inlineCallbacks
    def stop_ismg(self):
        for service in self.services:
            if service.running:
                yield service.stopService()
        self.ismg.stop()
        self.ismg.disconnect()
        yield eventually(lambda: not self.ismg.sessions, "fake ISMG links closed")
        yield self.ismg_port.stopListening()

    @defer.inlineCallbacks
    def start_service(self, node: str = "127.0.0.1"):
        config = service_config(self.dsn, sms=sms_settings(self.ismg_port.getHost().port, self.sms_extra),
                                platform="public_host = %s\n" % node, ftp="passive_ports =\n",
                                files="root = %s\n" % self.files_root)
        service = KandianService(config, reactor, clock=self.clock)
        service.startService()
        self.services.append(service)
        yield service.ready
        yield eventually(lambda: service.platform.sms_sender.client.connected, "logged in to the gateway")
        return service

    def port(self, name, service=None):
        return (service or self.service).listeners[name].port.getHost().port

    @defer.inlineCallbacks
    def metrics(self) -> str:
        response = yield Agent(reactor).request(b"GET", b"http://127.0.0.1:%d/metrics" % self.port("admin"))
        body = yield readBody(response)
        return body.decode("utf-8")

    @defer.inlineCallbacks
    def states(self):
        rows = yield self.db.runQuery("SELECT status, count(*) FROM sms_outbox GROUP BY 1")
        return dict(rows)

    @defer.inlineCallbacks
    def settled(self, expected: dict, what: str, step: float = 1.0, tries: int = 1000):
        """Move the domain clock on (polls, report delays, backoffs) until the outbox's states are *expected*."""
        last = []

        @defer.inlineCallbacks
        def check():
            self.clock.advance(step)
            states = yield self.states()
            last[:] = [states]
            return states == expected
        try:
            yield eventually(check, what, tries=tries)
        except AssertionError:
            raise AssertionError("%s: the outbox stayed at %r" % (what, last)) from None

    @defer.inlineCallbacks
    def queue(self, count: int, mobile: str = A, prefix: str = "m"):
        """Messages queued by another process (kandianctl): the daemons find them by polling."""
        for n in range(count):
            yield self.store.outbox.queue(mobile, "%s%d" % (prefix, n), "message", self.clock.seconds(),
                                          self.clock.seconds() + 3600)

    def texts_to(self, mobile: str):
        return [t.text for t in self.ismg.texts if t.dest == mobile]


class AlarmSmsTests(SmsServiceTestCase):
    @defer.inlineCallbacks
    def test_an_alarm_reaches_the_owner_and_its_link_shows_the_alarm(self):
        user_id = yield self.store.users.add(A, "scrypt$x")
        yield self.store.devices.add(CAM, "key-1", channels=1)
        yield self.store.devices.rename_channel(CAM, 0, "前台")
        yield self.store.bindings.bind(user_id, CAM, 4)
        sim_clock = task.Clock()
        sim_clock.advance(NOW)
        link = yield connect_device(reactor, ("127.0.0.1", self.port("device")), DeviceState(CAM, "key-1"),
                                    clock=sim_clock)
        self.addCleanup(link.close)
        yield link.logged_in()
        answer = yield link.send_alarm(0, 1, desc="motion")
        self.assertEqual(answer.Result, 0)
        yield eventually(lambda: self.texts_to(A), "the alarm SMS at the gateway")
        [text] = self.texts_to(A)
        self.assertIn("您的摄像机“前台”于2026-11-18 19:06:40发生移动侦测报警", text)
        url = re.search(r"http://\S+", text).group(0)
        self.assertTrue(url.startswith("http://127.0.0.1:%d/alarm/" % self.port("portal")), url)
        yield self.settled({"delivered": 1}, "the status report recorded")
        response = yield Agent(reactor).request(b"GET", url.encode("ascii"))
        page = yield readBody(response)
        self.assertEqual(response.code, 200)
        self.assertIn("前台".encode(), page)
        self.assertIn(b"picture not yet received", page)
        # the camera's picture arrives over FTP: the same link shows it
        ftp = yield self.service.platform.core.files.credentials(CAM)
        name = format_picture_name(CAM, 0, NOW, self.service.config.platform.timezone)

        def upload():
            with ftplib.FTP() as f:
                f.connect(ftp.ip, ftp.port, timeout=30)
                f.login(ftp.account, ftp.password)
                f.storbinary("STOR /pictures/" + name, io.BytesIO(JPEG))
        yield threads.deferToThread(upload)
        yield link.send_picture(0, file_name=name)
        response = yield Agent(reactor).request(b"GET", url.encode("ascii"))
        page = yield readBody(response)
        self.assertNotIn(b"picture not yet received", page)
        self.assertIn(b"/picture.jpg?", page)
        picture = url.replace("?", "/picture.jpg?")
        response = yield Agent(reactor).request(b"GET", picture.encode("ascii"))
        self.assertEqual((response.code, (yield readBody(response))), (200, JPEG))
        # a second alarm within alarm_sms_interval is stored, not sent
        self.clock.advance(61)
        yield link.send_alarm(0, 1, desc="motion")
        rows = yield self.db.runQuery("SELECT count(*) FROM alarm")
        self.assertEqual(rows, [(2,)])
        self.assertEqual((yield self.states()), {"delivered": 1})


class PasswordTests(SmsServiceTestCase):
    @defer.inlineCallbacks
    def test_get_sms_password_through_the_gateway(self):
        yield self.service.platform.core.accounts.add(A, "old-password")
        soap = yield Soap.connect(self.port("mcu"))
        answer = yield soap.GetSmsPassword(MobileTel=A, Type=0)
        self.assertEqual(answer["Result"], 0)
        yield eventually(lambda: self.texts_to(A), "the password SMS at the gateway")
        new = re.search(r"\d{8}", self.texts_to(A)[0]).group(0)
        yield self.settled({"delivered": 1}, "delivered")
        listed = yield self.store.outbox.list()
        self.assertNotIn(new, repr(listed))
        results = []
        for password in ("old-password", new, "old-password", new):
            login = yield soap.McuLogin(Account=A, Password=password, Version="A-1.0")
            results.append(login["Result"])
        self.assertEqual(results, [0, 0, 2, 0])


class GatewayFaultTests(SmsServiceTestCase):
    sms_extra = "retry_delay = 5\n"

    @defer.inlineCallbacks
    def test_refused_numbers_fail_with_the_gateways_code(self):
        self.ismg.faults.reject[B] = 47
        yield self.queue(1, B)
        yield self.settled({"failed": 1}, "failed")
        [message] = yield self.store.outbox.list()
        self.assertIn("gateway status 47", message.reason)

    @defer.inlineCallbacks
    def test_a_drop_mid_window_loses_nothing(self):
        self.ismg.faults.answer_delay = 1.0
        self.ismg.faults.drop_after = 10
        yield self.queue(40)
        yield self.settled({"delivered": 40}, "all delivered after the drop", tries=3000)
        counts = collections.Counter(self.texts_to(A))
        self.assertEqual(set(counts), {"m%d" % n for n in range(40)})
        self.assertEqual(self.ismg.dropped and len(self.ismg.dropped), 1)

    @defer.inlineCallbacks
    def test_garbage_from_the_gateway_mid_window_loses_nothing(self):
        self.ismg.faults.answer_delay = 1.0
        yield self.queue(20)
        sender = self.service.platform.sms_sender
        yield eventually(lambda: (self.clock.advance(0.5), sender.stats.in_flight == 20)[1], "a window in flight")
        self.ismg.send_raw(b"\x00\x00\x00\x10garbage!" + bytes(range(40)))
        yield eventually(lambda: not sender.client.connected, "the link closed on garbage")
        yield self.settled({"delivered": 20}, "all delivered after the garbage", tries=3000)
        self.assertEqual(set(self.texts_to(A)), {"m%d" % n for n in range(20)})
        self.assertTrue(sender.stats.outcomes[("retry", "unavailable")])

    @defer.inlineCallbacks
    def test_a_login_refused_keeps_messages_queued_until_it_is_accepted(self):
        self.ismg.faults.refuse_login = 21
        self.ismg.disconnect()
        yield eventually(lambda: not self.service.platform.sms_sender.client.connected, "link lost")
        yield self.queue(3)
        for _ in range(5):
            self.clock.advance(1)
        self.assertEqual((yield self.states()), {"queued": 3})
        metrics = yield self.metrics()
        self.assertIn("kandian_sms_gateway_connected 0.0", metrics)
        self.ismg.faults.refuse_login = None
        yield eventually(lambda: self.service.platform.sms_sender.client.connected, "logged in again", tries=1000)
        yield self.settled({"delivered": 3}, "delivered")
        metrics = yield self.metrics()
        self.assertIn("kandian_sms_gateway_connected 1.0", metrics)
        self.assertIn('kandian_sms_outbox_outcomes_total{outcome="submitted"} 3.0', metrics)
        # queued by another process (kandianctl), so not counted by this node
        self.assertNotIn('kandian_sms_outbox_queued_total{kind=', metrics)


class TwoDaemonsTests(SmsServiceTestCase):
    @defer.inlineCallbacks
    def test_two_daemons_never_send_one_message_twice(self):
        other = yield self.start_service("127.0.0.2")
        yield self.queue(300)
        yield self.settled({"delivered": 300}, "all delivered", step=0.5, tries=3000)
        counts = collections.Counter(self.texts_to(A))
        self.assertEqual(len(counts), 300)
        self.assertEqual(set(counts.values()), {1})
        submitted = [s.platform.sms_sender.stats.submitted for s in (self.service, other)]
        self.assertTrue(all(submitted), submitted)


class PostgresOutageTests(SmsServiceTestCase):
    @defer.inlineCallbacks
    def test_postgresql_restarted_while_messages_are_queued(self):
        self.addCleanup(allow_connections, self.database, True)
        self.ismg.faults.answer_delay = 2.0
        yield self.queue(60)
        sender = self.service.platform.sms_sender
        yield eventually(lambda: (self.clock.advance(1), sender.stats.in_flight == 32)[1], "a window in flight")
        yield self.db.close()

        allow_connections(self.database, False)
        kill_backends(self.database)
        yield eventually(lambda: not self.service.platform.db.available, "outage noticed")
        for _ in range(10):  # Submit_Resps and status reports arrive while nothing can be written
            self.clock.advance(1)
            yield task.deferLater(reactor, 0.01, lambda: None)
        self.assertGreater(self.service.platform.outbox.unrecorded, 0)
        self.assertTrue(self.ismg.received)

        allow_connections(self.database, True)
        self.db = yield connect(self.dsn, 1, reactor)
        self.addCleanup(self.db.close)
        yield self.settled({"delivered": 60}, "all delivered after the outage", step=0.5, tries=3000)
        counts = collections.Counter(self.texts_to(A))
        self.assertEqual(len(counts), 60)
        self.assertEqual(set(counts.values()), {1})


class KilledDaemonTests(pg.DatabaseTestCase):
    """``twistd kandian`` SIGKILLed mid-drain and started again: nothing lost, nothing acknowledged sent twice."""

    @defer.inlineCallbacks
    def test_a_killed_daemon_restarted_loses_nothing_and_resends_nothing_acknowledged(self):
        ismg = FakeIsmg(reactor, accounts={ACCOUNT: SECRET}, report_delay=0.05)
        ismg.faults.answer_delay = 0.02
        port = yield ismg.listen(reactor)
        self.addCleanup(port.stopListening)
        self.addCleanup(ismg.disconnect)
        self.addCleanup(ismg.stop)
        config = write_config(self.mktemp(), self.mktemp(), dsn=self.dsn)
        with open(config, "a") as f:
            f.write("[sms]\n" + sms_settings(port.getHost().port, "window = 4\n"))
        store = Store(self.db)
        for n in range(300):
            yield store.outbox.queue(A, "k%d" % n, "message", reactor.seconds(), reactor.seconds() + 3600)

        @defer.inlineCallbacks
        def acknowledged():
            rows = yield self.db.runQuery("SELECT body FROM sms_outbox WHERE status IN ('submitted', 'delivered')")
            return {row[0] for row in rows}

        first = procs.spawn(twistd(config))
        self.addCleanup(procs.kill, first)
        yield first.wait_for(b"kandian ready", timeout=60)
        yield eventually(lambda: acknowledged().addCallback(lambda done: len(done) >= 60), "some acknowledged",
                         tries=3000)
        first.transport.signalProcess("KILL")
        yield first.ended
        before = yield acknowledged()
        self.assertLess(len(before), 300)

        second = procs.spawn(twistd(config))
        self.addCleanup(procs.kill, second)
        yield second.wait_for(b"kandian ready", timeout=60)

        @defer.inlineCallbacks
        def all_delivered():
            rows = yield self.db.runQuery("SELECT status, count(*) FROM sms_outbox GROUP BY 1")
            return dict(rows) == {"delivered": 300}
        yield eventually(all_delivered, "all delivered after the restart", tries=6000)
        second.transport.signalProcess("TERM")
        yield second.ended
        counts = collections.Counter(t.text for t in ismg.texts)
        self.assertEqual(set(counts), {"k%d" % n for n in range(300)})
        self.assertEqual([text for text in before if counts[text] != 1], [])
        self.assertIn(b"SMS this node held when it last stopped are queued again", second.output)

