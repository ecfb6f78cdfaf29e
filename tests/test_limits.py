"""Connection caps, the open-file plan and the HTTP request deadline (issue 10, defect 7: slowloris).

Unit tests drive the factories and channels with ``StringTransport`` and a
``task.Clock``; one test holds real loopback sockets against a capped port,
and one runs the whole service with every other listener at its cap and a
simulated camera still logging in.
"""

from __future__ import annotations

import collections

from hypothesis import given, strategies as st
from twisted.internet import defer, protocol, reactor, task
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.testing import EventLoggingObserver, StringTransport
from twisted.logger import globalLogPublisher
from twisted.trial import unittest
from twisted.web import resource

from kandian import config, limits, web
from kandian.config import ConfigError
from kandian.service import KandianService, StartupError
from kandian.sim.link import connect_device
from kandian.sim.state import DeviceState
from kandian.store.devices import DeviceStore

from .pg import DatabaseTestCase
from .strategies import chunked


def v4(host, port=40000):
    return IPv4Address("TCP", host, port)


class _Held(protocol.Protocol):
    lost = 0

    def connectionLost(self, reason=None):
        type(self).lost += 1


def capped(max_connections=3, per_address=0, answer=b""):
    clock = task.Clock()
    limit = limits.ListenerLimit("test", max_connections, per_address)
    return limits.LimitingFactory(protocol.Factory.forProtocol(_Held), limit, clock, answer), clock


def connect(factory, addr):
    p = factory.buildProtocol(addr)
    t = StringTransport(peerAddress=addr)
    p.makeConnection(t)
    return p, t


class LimitingFactoryTests(unittest.SynchronousTestCase):
    def test_total_cap_refuses_at_accept_and_frees_on_close(self):
        factory, _ = capped(max_connections=2)
        a, _ = connect(factory, v4("10.0.0.1"))
        connect(factory, v4("10.0.0.2"))
        refused, t = connect(factory, v4("10.0.0.3"))
        self.assertNotIsInstance(refused, _Held)
        self.assertTrue(t.disconnecting)
        self.assertEqual(factory.limit.refused, {"total": 1})
        a.connectionLost(None)
        self.assertEqual(factory.limit.open, 1)
        again, t = connect(factory, v4("10.0.0.3"))
        self.assertIsInstance(again, _Held)
        self.assertFalse(t.disconnecting)
        self.assertEqual(len(factory.connections), 2)

    def test_per_address_cap_counts_ipv6_by_its_64(self):
        factory, _ = capped(max_connections=100, per_address=2)
        for host in ("2001:db8:1:2::1", "2001:db8:1:2:ffff::9"):
            p, _ = connect(factory, IPv6Address("TCP", host, 1))
            self.assertIsInstance(p, _Held)
        refused, t = connect(factory, IPv6Address("TCP", "2001:db8:1:2::77", 1))
        self.assertTrue(t.disconnecting)
        other, _ = connect(factory, IPv6Address("TCP", "2001:db8:1:3::1", 1))
        self.assertIsInstance(other, _Held)
        self.assertEqual(factory.limit.refused, {"per_address": 1})
        self.assertEqual(factory.per_source, {"2001:db8:1:2::/64": 2, "2001:db8:1:3::/64": 1})

    def test_zero_per_address_means_no_per_address_cap(self):
        factory, _ = capped(max_connections=50, per_address=0)
        for _ in range(50):
            self.assertIsInstance(connect(factory, v4("127.0.0.1"))[0], _Held)
        self.assertEqual(factory.limit.refused, {})

    def test_an_exempt_source_passes_the_per_address_cap_but_not_the_total(self):
        limit = limits.ListenerLimit("test", 5, 1)
        factory = limits.LimitingFactory(protocol.Factory.forProtocol(_Held), limit, task.Clock(),
                                         exempt={"127.0.0.1"})
        for _ in range(3):
            self.assertIsInstance(connect(factory, v4("127.0.0.1"))[0], _Held)
        self.assertIsInstance(connect(factory, v4("10.0.0.9"))[0], _Held)
        self.assertNotIsInstance(connect(factory, v4("10.0.0.9"))[0], _Held)
        self.assertIsInstance(connect(factory, v4("127.0.0.1"))[0], _Held)
        self.assertNotIsInstance(connect(factory, v4("127.0.0.1"))[0], _Held)
        self.assertEqual(limit.refused, {"per_address": 1, "total": 1})

    def test_the_relay_exempts_the_address_its_own_media_children_dial_it_from(self):
        """The recorder, HLS packagers and stream proxies pull through this node's relay: capped
        like an outside peer, a node would record at most [rtsp] max_connections_per_address channels."""
        from kandian.service import own_sources

        for listen, exempt in (("tcp:554", "127.0.0.1"), ("tcp:554:interface=0.0.0.0", "127.0.0.1"),
                               ("tcp:554:interface=10.1.2.3", "10.1.2.3"),
                               ("tcp:554:interface=\\:\\:1", "::/64")):
            c = config.parse("[rtsp]\nlisten = %s\n" % listen, "test.ini", reactor)
            self.assertEqual(own_sources(c, "rtsp"), {exempt}, listen)
            self.assertEqual(own_sources(c, "mcu"), frozenset(), listen)

    def test_closed_connections_leave_no_trace(self):
        factory, _ = capped(max_connections=5, per_address=5)
        held = [connect(factory, v4("10.0.0.1"))[0] for _ in range(5)]
        for p in held:
            p.connectionLost(None)
            p.connectionLost(None)  # a second call does not count twice
        self.assertEqual((factory.limit.open, factory.per_source, factory.connections), (0, {}, set()))
        self.assertNotIn("connectionLost", vars(held[0]))

    def test_refused_peer_gets_the_busy_answer_then_is_aborted_if_it_holds_on(self):
        factory, clock = capped(max_connections=1, answer=limits.HTTP_BUSY)
        connect(factory, v4("10.0.0.1"))
        refused, t = connect(factory, v4("10.0.0.2"))
        self.assertTrue(t.value().startswith(b"HTTP/1.1 503 "))
        self.assertTrue(t.disconnecting)
        clock.advance(factory.refusal_grace)
        self.assertTrue(t.disconnected)
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_refusals_logged_once_per_source_per_minute(self):
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        factory, clock = capped(max_connections=100, per_address=1)
        connect(factory, v4("10.0.0.1"))
        for _ in range(500):
            connect(factory, v4("10.0.0.1"))
        lines = [e for e in events if e.get("listener") == "test"]
        self.assertEqual(len(lines), 1)
        clock.advance(limits.LOG_INTERVAL)
        connect(factory, v4("10.0.0.1"))
        lines = [e for e in events if e.get("listener") == "test"]
        self.assertEqual(len(lines), 2)
        self.assertIn("499 more refused", lines[1]["more"])
        self.assertEqual(factory.limit.refused, {"per_address": 501})

    def test_total_refusals_logged_once_per_listener_whatever_the_sources(self):
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        factory, _ = capped(max_connections=1)
        connect(factory, v4("10.0.0.1"))
        for i in range(300):
            connect(factory, v4("10.1.%d.%d" % (i // 250, i % 250)))
        self.assertEqual(len([e for e in events if e.get("listener") == "test"]), 1)


_HOSTS = ["10.0.0.1", "10.0.0.2", "2001:db8::1", "2001:db8::2", "2001:db8:0:1::1"]


class LimitingFactoryPropertyTests(unittest.SynchronousTestCase):
    @given(st.lists(st.tuples(st.booleans(), st.integers(0, len(_HOSTS) - 1), st.integers(0, 20)), max_size=80),
           st.integers(1, 6), st.integers(0, 3))
    def test_counts_match_the_open_connections_and_never_pass_the_caps(self, steps, total, per_address):
        factory, _ = capped(total, per_address)
        held = []
        for opening, host, which in steps:
            if opening:
                p, _ = connect(factory, IPv6Address("TCP", _HOSTS[host], 1) if ":" in _HOSTS[host]
                               else v4(_HOSTS[host]))
                if isinstance(p, _Held):
                    held.append((p, _HOSTS[host]))
            elif held:
                p, _ = held.pop(which % len(held))
                p.connectionLost(None)
            self.assertEqual(factory.limit.open, len(held))
            self.assertLessEqual(len(held), total)
            self.assertEqual(set(factory.connections), {p for p, _ in held})
            by_source = collections.Counter(limits.source_key(h) for _, h in held)
            self.assertEqual(factory.per_source, dict(by_source))
            if per_address:
                self.assertLessEqual(max(by_source.values(), default=0), per_address)


class RateLimitedLogTests(unittest.SynchronousTestCase):
    def test_bounded_keys(self):
        clock = task.Clock()
        log = limits.RateLimitedLog(clock, interval=60, max_keys=3)
        self.assertEqual([log.due(k) for k in "abcd"], [0, 0, 0, None])
        clock.advance(60)
        self.assertEqual(log.due("d"), 0)  # expired keys swept to make room
        self.assertEqual(log.due("d"), None)


def conf(text=""):
    return config.parse(text, "site.ini", reactor)


class PlanTests(unittest.SynchronousTestCase):
    def test_device_link_gets_what_the_others_leave(self):
        c = conf()
        caps = limits.plan(c, 131072)
        others = sum(l.max_connections * l.fds_per_connection for n, l in caps.limits.items() if n != "device")
        self.assertEqual(caps.limits["rtsp"].fds_per_connection, 2)
        self.assertEqual(caps.limits["device"].max_connections,
                         131072 - c.platform.fd_reserve - c.database.pool_size - others)
        self.assertEqual(caps.limits["device"].max_per_address, 0)
        self.assertEqual(caps.warnings, [])
        self.assertEqual(list(caps.limits), list(c.listeners()))

    def test_a_configured_device_cap_that_fits_is_kept(self):
        caps = limits.plan(conf("[device]\nmax_connections = 5000\n"), 131072)
        self.assertEqual(caps.limits["device"].max_connections, 5000)

    def test_a_device_cap_that_does_not_fit_is_cut_with_one_warning(self):
        caps = limits.plan(conf("[device]\nmax_connections = 100000\n"), 20000)
        share = caps.limits["device"].max_connections
        self.assertLess(share, 20000)
        [warning] = caps.warnings
        self.assertIn("[device] max_connections = 100000", warning)
        self.assertIn("gets the %d left" % share, warning)

    def test_almost_nothing_left_is_a_one_line_config_error(self):
        with self.assertRaises(ConfigError) as cm:
            limits.plan(conf(), 1024)
        message = str(cm.exception)
        self.assertNotIn("\n", message)
        self.assertTrue(message.startswith("site.ini: the open-file limit 1024 leaves the device link 0"), message)
        self.assertIn("rtsp 2 x 256", message)

    def test_other_caps_never_eat_into_the_device_share(self):
        text = ("[platform]\nfd_reserve = 10\n[register]\nmax_connections = 3\n[mcu]\nmax_connections = 3\n"
                "[rtsp]\nmax_connections = 2\n[admin]\nmax_connections = 2\n[ftp]\nmax_connections = 2\n"
                "[portal]\nmax_connections = 2\n[device]\nmax_connections = 2\n")
        # rtsp and ftp connections hold 2 and 3 files each
        self.assertEqual(limits.plan(conf(text), 10 + 4 + 3 + 3 + 4 + 2 + 6 + 2 + 2).limits["device"].max_connections,
                         2)
        with self.assertRaises(ConfigError):
            limits.plan(conf(text), 10 + 4 + 3 + 3 + 4 + 2 + 6 + 2 + 1)

    def test_bad_values(self):
        for text in ("[mcu]\nmax_connections = 0\n", "[device]\nmax_connections_per_address = -1\n",
                     "[register]\nrequest_timeout = 0\n", "[platform]\nfd_reserve = x\n"):
            self.assertRaises(ConfigError, conf, text)

    def test_start_up_fails_before_the_store_starts(self):
        svc = KandianService(conf("[database]\ndsn = host=192.0.2.1 connect_timeout=1\n"), reactor, open_files=300)
        svc.startService()
        self.assertIsInstance(self.failureResultOf(svc.ready).value, StartupError)
        self.assertFalse(svc.store.running)


# -- the HTTP request deadline


class _Ok(resource.Resource):
    isLeaf = True

    def render_GET(self, request):
        return b"ok"


REQUEST = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


class RequestDeadlineTests(unittest.SynchronousTestCase):
    def setUp(self):
        self.clock = task.Clock()
        self.limit = limits.ListenerLimit("register", 10)
        self.site = web.site(_Ok(), request_timeout=10, idle_timeout=15, clock=self.clock, limit=self.limit)
        self.channel = self.site.buildProtocol(v4("10.0.0.9"))
        self.transport = StringTransport(peerAddress=v4("10.0.0.9"))
        self.channel.makeConnection(self.transport)

    def tearDown(self):
        if not self.transport.disconnected:
            self.channel.connectionLost(None)

    def test_trickled_request_is_closed_at_the_deadline_from_its_first_byte(self):
        for i, byte in enumerate(REQUEST[:-1]):
            if self.clock.seconds() >= 10:
                break
            self.assertFalse(self.transport.disconnecting, "open at %g s" % self.clock.seconds())
            self.channel.dataReceived(bytes([byte]))
            self.clock.advance(1)
        self.assertTrue(self.transport.disconnecting)
        self.assertTrue(self.transport.value().startswith(b"HTTP/1.1 408 "), self.transport.value())
        self.assertEqual(self.limit.request_timeouts, 1)
        self.clock.advance(self.channel.abortTimeout)
        self.assertTrue(self.transport.disconnected)

    def test_trickled_body_is_closed_too(self):
        self.channel.dataReceived(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
        for _ in range(9):
            self.clock.advance(1)
            self.channel.dataReceived(b"x")
        self.assertFalse(self.transport.disconnecting)
        self.clock.advance(1)
        self.assertTrue(self.transport.value().startswith(b"HTTP/1.1 408 "))

    def test_a_whole_request_in_time_is_answered_and_keeps_no_deadline(self):
        self.channel.dataReceived(REQUEST[:10])
        self.clock.advance(9)
        self.channel.dataReceived(REQUEST[10:])
        self.assertIn(b"200 OK", self.transport.value())
        self.clock.advance(5)
        self.assertFalse(self.transport.disconnecting)
        self.assertEqual(self.limit.request_timeouts, 0)

    def test_each_keep_alive_request_gets_its_own_deadline(self):
        self.channel.dataReceived(REQUEST)
        self.clock.advance(8)
        self.channel.dataReceived(REQUEST[:5])
        self.clock.advance(9)
        self.assertFalse(self.transport.disconnecting)
        self.clock.advance(1)
        self.assertTrue(self.transport.disconnecting)

    @given(st.data())
    def test_a_request_is_answered_if_and_only_if_it_arrives_whole_in_time(self, data):
        self.setUp()
        body = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
        chunks = data.draw(chunked(body))
        ticks = data.draw(st.lists(st.integers(0, 4), min_size=len(chunks), max_size=len(chunks)))
        closed_early = False
        for chunk, tick in zip(chunks, ticks):
            if self.transport.disconnecting:
                closed_early = True
                break
            self.channel.dataReceived(chunk)
            self.clock.advance(tick)
        # the deadline runs from the first byte to the last
        at = [sum(ticks[:i]) for i in range(len(chunks))]
        sent = [t for t, chunk in zip(at, chunks) if chunk]
        in_time = sent[-1] - sent[0] < 10
        answer = self.transport.value()
        if in_time:
            self.assertFalse(closed_early)
            self.assertIn(b" 405 ", answer.split(b"\r\n", 1)[0])  # _Ok has no render_POST: answered all the same
        else:
            self.assertTrue(answer.startswith(b"HTTP/1.1 408 "), answer[:40])
        self.tearDown()

    def test_pipelined_request_is_answered(self):
        self.channel.dataReceived(REQUEST * 2)
        self.assertEqual(self.transport.value().count(b"200 OK"), 2)
        self.clock.advance(14)
        self.assertFalse(self.transport.disconnecting)

    def test_idle_keep_alive_connection_is_closed(self):
        self.channel.dataReceived(REQUEST)
        self.clock.advance(14)
        self.assertFalse(self.transport.disconnecting)
        self.clock.advance(1)
        self.assertTrue(self.transport.disconnecting)
        self.assertEqual(self.limit.request_timeouts, 0)

    def test_no_bytes_at_all_is_the_idle_timeout(self):
        self.clock.advance(15)
        self.assertTrue(self.transport.disconnecting)
        self.assertEqual(self.transport.value(), b"")


# -- real sockets


class _Client(protocol.Protocol):
    def __init__(self):
        self.received = b""
        self.closed = defer.Deferred()

    def dataReceived(self, data):
        self.received += data

    def connectionLost(self, reason):
        self.closed.callback(self.received)


class _Echo(protocol.Protocol):
    def dataReceived(self, data):
        self.transport.write(data)


@defer.inlineCallbacks
def _open(port, bind="127.0.0.1", send=b""):
    client = _Client()
    yield connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", port, bindAddress=(bind, 0)), client)
    if send:
        client.transport.write(send)
    return client


@defer.inlineCallbacks
def _until(check):
    for _ in range(500):
        if check():
            return
        yield task.deferLater(reactor, 0.01, lambda: None)
    raise AssertionError("never happened")


class RealSocketTests(unittest.TestCase):
    @defer.inlineCallbacks
    def test_caps_on_a_loopback_port(self):
        limit = limits.ListenerLimit("echo", 3, 2)
        factory = limits.LimitingFactory(protocol.Factory.forProtocol(_Echo), limit, reactor, b"busy\r\n")
        port = reactor.listenTCP(0, factory, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        number = port.getHost().port
        a = yield _open(number)
        b = yield _open(number)
        yield _until(lambda: limit.open == 2)
        third = yield _open(number)  # a third from 127.0.0.1: over its per-address cap
        self.assertEqual((yield third.closed), b"busy\r\n")
        other = yield _open(number, bind="127.0.0.2", send=b"hi")
        yield _until(lambda: other.received == b"hi")
        fourth = yield _open(number, bind="127.0.0.3")  # total cap of 3
        self.assertEqual((yield fourth.closed), b"busy\r\n")
        self.assertEqual(limit.refused, {"per_address": 1, "total": 1})
        a.transport.loseConnection()
        yield a.closed
        yield _until(lambda: limit.open == 2)
        again = yield _open(number, send=b"back")
        yield _until(lambda: again.received == b"back")
        for client in (b, other, again):
            client.transport.loseConnection()
            yield client.closed
        yield _until(lambda: limit.open == 0)
        self.assertEqual(factory.per_source, {})


# -- the whole service: the device link keeps its share

CAPS = {"register": 3, "mcu": 3, "rtsp": 2, "admin": 2, "ftp": 2, "portal": 2}
RESERVE = 10
DEV_ID = "81100000001"


class DeviceShareTests(DatabaseTestCase):
    @defer.inlineCallbacks
    def setUp(self):
        yield super().setUp()
        self.clock = task.Clock()  # the domain clock: no link timeout fires unless moved
        self.clock.advance(1_795_000_000)
        text = "[platform]\nfd_reserve = %d\n[database]\ndsn = %s\n" % (RESERVE, self.dsn)
        for name in ("device", "register", "mcu", "rtsp", "admin", "ftp", "portal"):
            text += "[%s]\nlisten = tcp:0:interface=127.0.0.1\n" % name
            text += "max_connections = %d\n" % CAPS.get(name, 2)
            if name in ("register", "mcu", "admin"):
                # the held connections must outlive a slow test run
                text += "request_timeout = 3600\nidle_timeout = 3600\n"
        c = config.parse(text, "test.ini", reactor)
        others = sum(CAPS[n] * limits.FDS_PER_CONNECTION.get(n, 1) for n in CAPS)
        # an open-file limit that leaves the device link exactly two connections
        self.service = KandianService(c, reactor, clock=self.clock,
                                      open_files=RESERVE + c.database.pool_size + others + 2)
        self.service.startService()
        self.addCleanup(self.service.stopService)
        yield self.service.ready
        self.clients = []
        self.addCleanup(self._close_clients)

    @defer.inlineCallbacks
    def _close_clients(self):
        for client in self.clients:
            if client.transport.connected:
                client.transport.loseConnection()
                yield client.closed

    def port(self, name):
        return self.service.listeners[name].port.getHost().port

    @defer.inlineCallbacks
    def hold(self, name, send):
        client = yield _open(self.port(name), send=send)
        self.clients.append(client)
        return client

    @defer.inlineCallbacks
    def test_other_listeners_at_their_caps_and_a_device_still_logs_in(self):
        caps = self.service.platform.listener_limits
        self.assertEqual(caps["device"].max_connections, 2)
        # this node's media children reach the relay from loopback, past its per-address cap
        self.assertEqual({n: listener.factory.exempt for n, listener in self.service.listeners.items()
                          if listener.factory.exempt}, {"rtsp": {"127.0.0.1"}})
        # a slowloris on every HTTP listener and on the relay, up to each cap
        slow = {"register": b"POST /register HTTP/1.1\r\nHo", "mcu": b"POST /mcu HTTP/1.1\r\n",
                "admin": b"GET /health HTTP/1.1\r\n", "rtsp": b"OPTIONS rtsp://x/ RTSP/1.0\r\n"}
        for name, greeting in slow.items():
            for _ in range(CAPS[name]):
                yield self.hold(name, greeting)
            yield _until(lambda: caps[name].open == CAPS[name])
            over = yield _open(self.port(name))
            answer = yield over.closed
            if name != "rtsp":
                self.assertTrue(answer.startswith(b"HTTP/1.1 503 "), (name, answer))
            self.assertEqual(caps[name].refused["total"], 1, name)
        # the device link still has its share: a camera logs in
        yield DeviceStore(self.service.platform.db).add(DEV_ID, "key-1")
        sim_clock = task.Clock()
        link = yield connect_device(reactor, ("127.0.0.1", self.port("device")),
                                    DeviceState(DEV_ID, "key-1", channel_num=1), clock=sim_clock)
        self.addCleanup(link.close)
        answer = yield link.logged_in()
        self.assertEqual(answer.Result, 0)
        self.assertTrue(self.service.platform.links.online(DEV_ID))
        # and /metrics shows the refusals once a scrape gets a place
        self.clients[-1 - CAPS["rtsp"]].transport.loseConnection()  # one of the admin slowlorises
        yield _until(lambda: caps["admin"].open < CAPS["admin"])
        scrape = yield _open(self.port("admin"), send=b"GET /metrics HTTP/1.0\r\n\r\n")
        text = yield scrape.closed
        self.assertIn(b'kandian_connections_refused_total{listener="mcu",reason="total"} 1.0', text)
        self.assertIn(b'kandian_connections_max{listener="device"} 2.0', text)
        self.assertIn(b'kandian_connections{listener="register"} 3.0', text)
