"""The real service tree on loopback: store first, then every listener."""

import json
import socket

from twisted.internet import defer, protocol, reactor
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.trial import unittest
from twisted.web.client import Agent, readBody

from kandian import config
from kandian.service import KandianService
from kandian.store.service import StoreError

from .pg import DatabaseTestCase

LISTENERS = ("device", "register", "mcu", "rtsp", "admin", "ftp", "portal")


def test_config(dsn, **sections):
    text = "[database]\ndsn = %s\n" % (dsn,)
    for name in LISTENERS:
        text += "[%s]\nlisten = %s\n" % (name, sections.get(name, "tcp:0:interface=127.0.0.1"))
    return config.parse(text, "test.ini", reactor)


class _Probe(protocol.Protocol):
    def __init__(self, send=b""):
        self.send = send
        self.received = b""
        self.closed = defer.Deferred()

    def connectionMade(self):
        if self.send:
            self.transport.write(self.send)

    def dataReceived(self, data):
        self.received += data

    def connectionLost(self, reason):
        self.closed.callback(self.received)


class ServiceTreeTests(DatabaseTestCase):
    @defer.inlineCallbacks
    def start(self, **sections):
        svc = KandianService(test_config(self.dsn, **sections), reactor)
        svc.startService()
        self.addCleanup(lambda: svc.stopService() if svc.running else None)
        yield svc.ready
        return svc

    @defer.inlineCallbacks
    def test_every_listener_accepts_a_connection(self):
        svc = yield self.start()
        self.assertEqual(sorted(svc.listeners), sorted(LISTENERS))
        greetings = {
            "register": b"GET / HTTP/1.0\r\n\r\n",
            "mcu": b"GET / HTTP/1.0\r\n\r\n",
            "admin": b"GET /nothing HTTP/1.0\r\n\r\n",
            "rtsp": b"OPTIONS rtsp://x/ RTSP/1.0\r\nCSeq: 7\r\n\r\n",
            "ftp": b"QUIT\r\n",
        }
        for name, listener in svc.listeners.items():
            port = listener.port.getHost().port
            probe = _Probe(greetings.get(name, b""))
            yield connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", port), probe)
            if name == "rtsp":
                # RTSP keeps the connection: wait for the answer, then hang up
                while b"\r\n\r\n" not in probe.received:
                    yield _later(0.01)
                self.assertTrue(probe.received.startswith(b"RTSP/1.0 "))
                self.assertIn(b"CSeq: 7", probe.received)
                probe.transport.loseConnection()
                yield probe.closed
                continue
            if name in ("device",):
                probe.transport.loseConnection()
            answer = yield probe.closed
            if name in ("register", "mcu", "admin"):
                self.assertTrue(answer.startswith(b"HTTP/1."), (name, answer[:40]))
            if name == "ftp":
                self.assertEqual(answer, b"220 kandian FTP ready\r\n221 Goodbye.\r\n")

    @defer.inlineCallbacks
    def test_health_answers_from_the_database(self):
        svc = yield self.start()
        port = svc.listeners["admin"].port.getHost().port
        response = yield Agent(reactor).request(b"GET", b"http://127.0.0.1:%d/health" % port)
        body = yield readBody(response)
        self.assertEqual(response.code, 200)
        self.assertEqual(json.loads(body)["store"], "ok")

    @defer.inlineCallbacks
    def test_stop_closes_every_listener(self):
        svc = yield self.start()
        ports = [l.port.getHost().port for l in svc.listeners.values()]
        yield svc.stopService()
        for port in ports:
            refused = yield connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", port),
                                            _Probe()).addCallbacks(lambda _: False, lambda _: True)
            self.assertTrue(refused, port)
        self.assertIsNone(svc.store.db)

    @defer.inlineCallbacks
    def test_a_port_in_use_fails_start_up(self):
        busy = socket.socket()
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        self.addCleanup(busy.close)
        svc = KandianService(test_config(self.dsn, rtsp="tcp:%d:interface=127.0.0.1" % busy.getsockname()[1]),
                             reactor)
        svc.startService()
        [failure] = yield svc.ready.addCallbacks(lambda _: None, lambda f: [f])
        self.assertIn("[rtsp] listen = tcp:%d" % busy.getsockname()[1], str(failure.value))
        self.assertIn("Address already in use", str(failure.value))
        yield svc.stopService()


class UnreachableDatabaseTests(unittest.TestCase):
    @defer.inlineCallbacks
    def test_unreachable_dsn_fails_with_one_line_and_no_password(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            closed_port = s.getsockname()[1]
        dsn = "host=127.0.0.1 port=%d dbname=kandian user=k password=topsecret" % closed_port
        svc = KandianService(test_config(dsn), reactor)
        svc.startService()
        [failure] = yield svc.ready.addCallbacks(lambda _: None, lambda f: [f])
        failure.trap(StoreError)
        message = str(failure.value)
        self.assertIn("database unreachable", message)
        self.assertIn("port=%d" % closed_port, message)
        self.assertNotIn("topsecret", message)
        self.assertNotIn("\n", message)
        self.assertEqual(svc.listeners, {})
        yield svc.stopService()


def _later(seconds):
    from twisted.internet import task
    return task.deferLater(reactor, seconds, lambda: None)


class _Held(protocol.Protocol):
    """A connection that closes only when the test says so."""


class ListenerStopTests(unittest.TestCase):
    """Listener.stopService on a task.Clock: no polling, the grace, then abort."""

    def listener(self, factory_of):
        from twisted.internet.address import IPv4Address
        from twisted.internet.endpoints import TCP4ServerEndpoint
        from twisted.internet.task import Clock
        from twisted.internet.testing import MemoryReactorClock, StringTransport

        from kandian.service import Listener

        self.clock = Clock()
        factory = factory_of(protocol.Factory.forProtocol(_Held))
        listener = Listener("test", "tcp:0", TCP4ServerEndpoint(MemoryReactorClock(), 0), factory, clock=self.clock)
        listener.startService()
        held = []
        for port in (40001, 40002):
            p = listener.tracked.buildProtocol(IPv4Address("TCP", "192.0.2.1", port))
            p.makeConnection(StringTransport())
            held.append(p)
        return listener, held

    def limiting(self, wrapped):
        from kandian import limits

        return limits.LimitingFactory(wrapped, limits.ListenerLimit("test", 10), self.clock)

    def close(self, p):
        p.connectionLost(protocol.connectionDone)

    def test_stop_ends_when_the_last_connection_closes(self):
        for factory_of in (self.limiting, lambda f: f):
            listener, (a, b) = self.listener(factory_of)
            d = listener.stopService()
            self.assertEqual([p.transport.disconnecting for p in (a, b)], [True, True])
            self.assertNoResult(d)
            self.close(a)
            self.assertNoResult(d)
            self.close(b)
            self.successResultOf(d)
            self.assertEqual(self.clock.getDelayedCalls(), [])
            self.assertEqual([p.transport.disconnected for p in (a, b)], [False, False])  # nothing aborted

    def test_stragglers_are_aborted_after_the_grace(self):
        for factory_of in (self.limiting, lambda f: f):
            listener, (a, b) = self.listener(factory_of)
            d = listener.stopService()
            self.close(a)
            self.clock.advance(listener.close_grace - 0.001)
            self.assertNoResult(d)
            self.assertFalse(b.transport.disconnected)
            self.clock.advance(0.001)
            self.successResultOf(d)
            self.assertTrue(b.transport.disconnected)  # StringTransport.abortConnection
            self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_nothing_open_stops_at_once(self):
        listener, held = self.listener(self.limiting)
        for p in held:
            self.close(p)
        self.successResultOf(listener.stopService())
        self.assertEqual(self.clock.getDelayedCalls(), [])
