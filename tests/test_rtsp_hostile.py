"""The RTSP relay and the UPnP probe against hostile peers (issue 10: SSRF,
slowloris, bad queries, device enumeration, token guessing, slow readers).

Integration cases run the whole service on loopback with real PostgreSQL and
the shipped simulator as the device; 127.0.0.2 (also loopback on Linux) plays
"some other host" — an internal service the device should not reach, or a
second client address.  Timer cases drive the relay with StringTransport and
MemoryReactorClock.
"""

import secrets

from hypothesis import HealthCheck, Phase, given, settings, strategies as st
from twisted.internet import defer, protocol, reactor, task
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP4ServerEndpoint, connectProtocol
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.logger import globalLogPublisher
from twisted.trial import unittest

from kandian.rtsp.message import Interleaved, Request, RTSPDecoder
from kandian.rtsp.relay import RelayFactory, Upstream
from kandian.sim.link import connect_device
from kandian.sim.state import Addresses, DeviceState
from kandian.store.devices import DeviceStore

from .test_device_integration import DeviceTestCase, eventually
from .test_rtsp_relay import Authorizer, Player, ScriptedCamera, wait_for

CAM = "81100000001"
OTHER_HOST = "127.0.0.2"


def collect(strategy, n):
    """*n* examples of *strategy* (hypothesis' generation, run outside it so
    each can be tried against the live service)."""
    found = []

    @settings(max_examples=n, database=None, derandomize=True, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def gather(value):
        found.append(value)

    gather()
    return found


class Listener(protocol.Protocol):
    """Something listening where a device points: records what it gets and
    answers per the factory's ``mode``: silent, close at once, or HTTP."""

    def connectionMade(self):
        self.factory.connections.append(self)
        if self.factory.mode == "close":
            self.transport.loseConnection()

    def dataReceived(self, data):
        self.factory.received += data
        if self.factory.mode == "http":
            self.transport.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            self.transport.loseConnection()


@defer.inlineCallbacks
def listener(test, host, mode="silent"):
    factory = protocol.Factory.forProtocol(Listener)
    factory.connections, factory.received, factory.mode = [], b"", mode
    port = yield TCP4ServerEndpoint(reactor, 0, interface=host).listen(factory)
    test.addCleanup(port.stopListening)
    factory.port = port.getHost().port
    return factory


# -- the live service

class HostileRelayCase(DeviceTestCase):
    @defer.inlineCallbacks
    def setUp(self):
        yield super().setUp()
        yield DeviceStore(self.db).add(CAM, "key", channels=1)

    @defer.inlineCallbacks
    def go_online(self, bind=None, **addresses):
        state = DeviceState(CAM, "key", addresses=Addresses(**addresses))
        link = yield connect_device(reactor, ("127.0.0.1", self.port("device")), state, clock=self.sim_clock,
                                    bind_address=bind)
        self.addCleanup(link.close)
        yield link.logged_in()
        yield link.report_ability()
        yield eventually(lambda: self.service.platform.links.online(CAM), "online")
        return link

    def relay_token(self, channel_no=0, stream_type=2):
        return self.service.platform.tokens.issue(CAM, channel_no, stream_type=stream_type, purpose="relay",
                                                  now=self.clock.seconds())

    def url(self, query):
        return "rtsp://127.0.0.1:%d/realplay?%s" % (self.port("rtsp"), query)

    def play_url(self, token, dev_id=CAM, channel_no=0):
        return self.url("devid=%s&channelno=%d&streamtype=2&hashtoken=%s" % (dev_id, channel_no, token))

    @defer.inlineCallbacks
    def ask(self, uri, method="DESCRIBE", bind=None, wait_close=True):
        """The relay's answer to one request on a new connection."""
        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", self.port("rtsp"),
                                      bindAddress=(bind, 0) if bind else None)
        player = yield connectProtocol(endpoint, Player())
        self.addCleanup(player.transport.loseConnection)
        player.send(method, uri)
        yield wait_for(lambda: player.responses or player.closed.called, tries=1000)
        return player.responses[0] if player.responses else None


class DialPolicyServiceTests(HostileRelayCase):
    @defer.inlineCallbacks
    def test_an_internal_service_at_another_address_is_not_dialled(self):
        inside = yield listener(self, OTHER_HOST, "close")
        yield self.go_online(LocalIP=OTHER_HOST, RtspLocalPort=inside.port)
        answer = yield self.ask(self.play_url((yield self.relay_token())))
        self.assertEqual((inside.connections, inside.received), ([], b""))
        self.assertEqual(answer.code, 503)
        self.assertEqual(self.service.platform.relay_authorizer.policy_refused, 1)

    @defer.inlineCallbacks
    def test_localhost_is_never_resolved(self):
        inside = yield listener(self, "127.0.0.1", "close")
        yield self.go_online(LocalIP="localhost", RtspLocalPort=inside.port)
        answer = yield self.ask(self.play_url((yield self.relay_token())))
        self.assertEqual(inside.connections, [])
        self.assertEqual(answer.code, 503)

    @defer.inlineCallbacks
    def test_an_unconfigured_turn_relay_is_not_dialled(self):
        inside = yield listener(self, OTHER_HOST, "close")
        yield self.go_online(TurnRelayIP=OTHER_HOST, RtspTurnRelayPort=inside.port)
        answer = yield self.ask(self.play_url((yield self.relay_token())))
        self.assertEqual(inside.connections, [])
        self.assertEqual(answer.code, 503)

    @defer.inlineCallbacks
    def test_the_devices_own_address_is_dialled_and_a_non_rtsp_answer_is_502(self):
        inside = yield listener(self, "127.0.0.1", "http")
        yield self.go_online(LocalIP="127.0.0.1", RtspLocalPort=inside.port)
        answer = yield self.ask(self.play_url((yield self.relay_token())))
        self.assertIn(b"DESCRIBE", inside.received)
        self.assertEqual((answer.code, answer.cseq), (502, 1))

    @defer.inlineCallbacks
    def test_an_upstream_closing_at_once_is_502(self):
        inside = yield listener(self, "127.0.0.1", "close")
        yield self.go_online(LocalIP="127.0.0.1", RtspLocalPort=inside.port)
        answer = yield self.ask(self.play_url((yield self.relay_token())))
        self.assertEqual(len(inside.connections), 1)
        self.assertEqual((answer.code, answer.cseq), (502, 1))

    @defer.inlineCallbacks
    def test_the_upnp_probe_does_not_scan_other_hosts(self):
        inside = yield listener(self, OTHER_HOST)
        link = yield self.go_online()
        yield link.set_addresses(UpnpIP=OTHER_HOST, RtspUpnpPort=inside.port)
        yield eventually(lambda: self.device_row("upnp_ip", dev_id=CAM).addCallback(lambda r: r[0] == OTHER_HOST),
                         "addresses stored")
        yield eventually(lambda: self.service.platform.probe.refused == 1, "probe refused")
        row = yield self.device_row("upnp_reachable", dev_id=CAM)
        self.assertIsNot(row[0], True)
        self.assertEqual(inside.connections, [])


class TurnRelayTests(HostileRelayCase):
    register_settings = "turn_address = %s:3478\n" % OTHER_HOST

    @defer.inlineCallbacks
    def test_a_configured_turn_relay_is_dialled(self):
        relay = yield listener(self, OTHER_HOST, "close")
        yield self.go_online(TurnRelayIP=OTHER_HOST, RtspTurnRelayPort=relay.port)
        answer = yield self.ask(self.play_url((yield self.relay_token())))
        self.assertEqual(len(relay.connections), 1)
        self.assertEqual(answer.code, 502)


class UpstreamAllowTests(HostileRelayCase):
    settings = {"rtsp": "upstream_allow = %s/32\n" % OTHER_HOST}

    @defer.inlineCallbacks
    def test_upstream_allow_admits_a_lab_network(self):
        lab = yield listener(self, OTHER_HOST, "http")
        yield self.go_online(LocalIP=OTHER_HOST, RtspLocalPort=lab.port)
        answer = yield self.ask(self.play_url((yield self.relay_token())))
        self.assertIn(b"DESCRIBE", lab.received)
        self.assertEqual(answer.code, 502)


class QueryTests(HostileRelayCase):
    settings = {"throttle": "failures_per_address = 1000000\nfailures_per_account = 1000000\n"}

    BAD = [
        "devid=%00&channelno=0&streamtype=2&hashtoken=ab",
        "devid=81100000001&channelno=0&streamtype=2&hashtoken=%00",
        "devid=81100000001&channelno=0&filename=a%00b&hashtoken=ab",
        "devid=%ff%fe&channelno=0&streamtype=2&hashtoken=ab",
        "devid=81100000001&channelno=99999999999999999999999999&streamtype=2&hashtoken=ab",
        "devid=81100000001&channelno=0&streamtype=99999999999999999999&hashtoken=ab",
        "devid=81100000001&channelno=-1&streamtype=2&hashtoken=ab",
        "devid=81100000001&channelno=%D9%A1&streamtype=2&hashtoken=ab",  # an Arabic-Indic digit
        "devid=81100000001&devid=81100000002&channelno=0&streamtype=2&hashtoken=ab",
        "devid=81100000001&channelno=0&streamtype=2&hashtoken=ab&hashtoken=cd",
        "devid=81100000001&channelno=0&streamtype=2&hashtoken=%zz",
        "devid=" + "8" * 5000 + "&channelno=0&streamtype=2&hashtoken=ab",
    ]

    @defer.inlineCallbacks
    def test_bad_queries_are_400(self):
        yield self.go_online()
        for query in self.BAD:
            answer = yield self.ask(self.url(query))
            self.assertEqual((answer.code, answer.cseq), (400, 1), query[:80])

    @defer.inlineCallbacks
    def test_property_any_query_is_answered_4xx_or_2xx(self):
        """Whatever the query, a defined status; never a 5xx (nor a traceback,
        which trial would report as a logged error)."""
        yield self.go_online(LocalIP="127.0.0.1", RtspLocalPort=1)
        valid = yield self.relay_token()
        values = st.one_of(st.sampled_from(["%00", "%ff", "%", "%zz", "%26", "%3D", "/", "?", "%25", "",
                                            CAM, valid, "9" * 30, "-1", "0", "2", "%D9%A1", "1e3"]),
                           st.text("0123456789abcdefXYZ%+-._~:/", max_size=8),
                           st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zs")), max_size=4))
        names = st.one_of(st.sampled_from(["devid", "channelno", "streamtype", "filename", "hashtoken"]),
                          st.text("abcdefghijklmnopqrstuvwxyz%0", max_size=6))
        pairs = st.lists(st.tuples(names, st.sampled_from(["=", ""]), values), max_size=7)
        base = [("devid", CAM), ("channelno", "0"), ("streamtype", "2"), ("hashtoken", "0" * 32)]

        def mutate(changes, extra):
            params = list(base)
            for index, value in changes:
                params[index] = (params[index][0], value)
            return "&".join("%s=%s" % param for param in params + extra)

        mutated = st.builds(mutate, st.lists(st.tuples(st.integers(0, 3), values), min_size=1, max_size=2),
                            st.lists(st.tuples(names, values), max_size=2))
        queries = st.one_of(mutated, pairs.map(lambda ps: "&".join(n + eq + v for n, eq, v in ps)),
                            st.lists(values, max_size=10).map("".join))
        for query in collect(queries, 200):
            answer = yield self.ask(self.url(query))
            self.assertIsNotNone(answer, query)
            self.assertTrue(200 <= answer.code < 500 or (answer.code == 503 and "hashtoken=" + valid in query),
                            (answer.code, query))


class EnumerationTests(HostileRelayCase):
    @defer.inlineCallbacks
    def test_a_bad_token_is_401_whether_or_not_the_device_exists(self):
        yield self.go_online()
        known = yield self.ask(self.play_url("0" * 32))
        unknown = yield self.ask(self.play_url("0" * 32, dev_id="81199999999"))
        self.assertEqual((known.code, unknown.code), (401, 401))
        token = yield self.relay_token()
        other_channel = yield self.ask(self.play_url(token, channel_no=5))
        self.assertEqual(other_channel.code, 401)

    @defer.inlineCallbacks
    def test_404_only_after_a_valid_token(self):
        yield self.go_online()
        token = yield self.relay_token(channel_no=7)  # a token for a channel the device does not have
        answer = yield self.ask(self.play_url(token, channel_no=7))
        self.assertEqual(answer.code, 404)


class TokenThrottleTests(HostileRelayCase):
    settings = {"throttle": "failures_per_address = 5\nfailures_per_account = 5\nwindow = 600\n"}

    @defer.inlineCallbacks
    def test_a_guessing_address_is_stopped_without_queries_and_the_owner_is_not(self):
        camera = protocol.Factory.forProtocol(ScriptedCamera)
        camera.connections, camera.media_from_client, camera.frames, camera.base = [], [], 0, "rtsp://cam/x"
        port = yield TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(camera)
        self.addCleanup(port.stopListening)
        yield self.go_online(LocalIP="127.0.0.1", RtspLocalPort=port.getHost().port)
        tokens = self.service.platform.tokens
        consumed = []
        real = tokens.consume
        tokens.consume = lambda *a, **kw: (consumed.append(a), real(*a, **kw))[1]
        self.addCleanup(setattr, tokens, "consume", real)
        codes = []
        for _ in range(8):
            answer = yield self.ask(self.play_url(secrets.token_hex(16)), bind=OTHER_HOST)
            codes.append(answer.code)
            retry_after = answer.headers.get("Retry-After")
        self.assertEqual(codes, [401] * 5 + [503] * 3)
        self.assertTrue(0 < int(retry_after) <= 600)
        self.assertEqual(len(consumed), 5)
        # the owner, elsewhere, still plays
        answer = yield self.ask(self.play_url((yield self.relay_token())))
        self.assertEqual(answer.code, 200)
        # and the guesser's window ends
        self.clock.advance(600)
        answer = yield self.ask(self.play_url(secrets.token_hex(16)), bind=OTHER_HOST)
        self.assertEqual(answer.code, 401)


# -- timers, with a memory reactor

class SlowlorisTests(unittest.TestCase):
    def setUp(self):
        self.reactor = MemoryReactorClock()
        self.authorizer = Authorizer(Upstream(CAM, [("127.0.0.1", 554, "rtsp://127.0.0.1:554/realplay?x=1")]))
        self.factory = RelayFactory(self.authorizer, self.reactor, self.reactor)  # request_timeout 10 s

    def connect(self):
        client = self.factory.buildProtocol(None)
        transport = StringTransport()
        client.makeConnection(transport)
        return client, transport

    def trickle(self, client, transport, data, every=3.0):
        """Send *data* a byte every *every* seconds until it ends or the relay closes; the seconds taken."""
        taken = 0.0
        for byte in data:
            if transport.disconnecting:
                break
            client.dataReceived(bytes([byte]))
            self.reactor.advance(every)
            taken += every
        return taken

    def answers(self, transport):
        return [event for event in RTSPDecoder().feed(transport.value())]

    def test_a_trickled_first_request_is_closed_at_the_deadline(self):
        client, transport = self.connect()
        taken = self.trickle(client, transport, b"OPTIONS rtsp://relay/realplay?devid=1 RTSP/1.0\r\nCSeq: 1\r\n\r\n")
        self.assertTrue(transport.disconnecting)
        self.assertLessEqual(taken, 12)
        self.assertEqual([r.code for r in self.answers(transport)], [408])
        self.assertEqual(self.authorizer.requests, [])
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    def test_a_silent_connection_is_closed_at_the_deadline(self):
        client, transport = self.connect()
        self.reactor.advance(9)
        self.assertFalse(transport.disconnecting)
        self.reactor.advance(1)
        self.assertTrue(transport.disconnecting)

    def relaying(self):
        client, transport = self.connect()
        client.dataReceived(Request("OPTIONS", "rtsp://relay/realplay?x=1", [("CSeq", "1")]).to_bytes())
        [(_, _, upstream_factory, _, _)] = self.reactor.tcpClients
        upstream = upstream_factory.buildProtocol(None)
        upstream_transport = StringTransport()
        upstream.makeConnection(upstream_transport)
        self.assertEqual(client.state, "relaying")
        return client, transport

    def test_a_trickled_later_request_is_closed_at_its_deadline(self):
        client, transport = self.relaying()
        self.reactor.advance(30)  # a quiet client is fine (the idle timeout is 60 s)
        self.assertFalse(transport.disconnecting)
        taken = self.trickle(client, transport, b"GET_PARAMETER rtsp://relay/realplay?x=1 RTSP/1.0\r\nCSeq: 2\r\n\r\n")
        self.assertTrue(transport.disconnecting)
        self.assertLessEqual(taken, 12)
        self.assertEqual(self.factory.stats.refusals[(408, "request timeout")], 1)

    def test_whole_requests_at_any_pace_are_fine(self):
        client, transport = self.relaying()
        for cseq in range(2, 8):
            client.dataReceived(b"GET_PARAMETER rtsp://relay/realplay?x=1 RTSP/1.0\r\n")
            self.reactor.advance(9)
            client.dataReceived(b"CSeq: %d\r\n\r\n" % cseq)
            self.reactor.advance(9)
        self.assertFalse(transport.disconnecting)


# -- the relay's own rules over loopback, with a scripted camera

class RelayEdgeTests(unittest.TestCase):
    @defer.inlineCallbacks
    def setUp(self):
        camera = protocol.Factory.forProtocol(ScriptedCamera)
        camera.connections, camera.media_from_client, camera.frames = [], [], 0
        self.camera = camera
        port = yield TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(camera)
        self.addCleanup(port.stopListening)
        self.camera_port = port.getHost().port
        camera.base = "rtsp://127.0.0.1:%d/realplay?devid=%s&hashtoken=UPSTREAM" % (port.getHost().port, CAM)
        self.clock = task.Clock()
        self.authorizer = Authorizer(Upstream(CAM, [("127.0.0.1", port.getHost().port, camera.base)]))
        self.factory = RelayFactory(self.authorizer, reactor, self.clock)
        relay = yield TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(self.factory)
        self.addCleanup(relay.stopListening)
        self.base = "rtsp://127.0.0.1:%d/realplay?devid=%s&hashtoken=CLIENT" % (relay.getHost().port, CAM)
        self.relay_port = relay.getHost().port
        self.events = []
        globalLogPublisher.addObserver(self.events.append)
        self.addCleanup(globalLogPublisher.removeObserver, self.events.append)

    @defer.inlineCallbacks
    def player(self):
        player = yield connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", self.relay_port), Player())
        self.addCleanup(player.transport.loseConnection)
        return player

    @defer.inlineCallbacks
    def test_client_frames_before_a_setup_are_dropped(self):
        player = yield self.player()
        player.send("DESCRIBE", self.base)
        player.transport.write(Interleaved(0, b"GET /admin HTTP/1.0\r\n\r\n").to_bytes())
        yield wait_for(lambda: len(player.responses) == 1)
        player.transport.write(Interleaved(1, b"POST /x HTTP/1.0\r\n\r\n").to_bytes())
        player.send("SETUP", self.base + "/trackID=0", [("Transport", "RTP/AVP/TCP;unicast;interleaved=0-1")])
        yield wait_for(lambda: len(player.responses) == 2)
        self.assertEqual(self.camera.media_from_client, [])
        self.assertEqual(self.factory.stats.client_frames_dropped, 2)
        player.transport.write(Interleaved(1, b"\x81\xc9rr").to_bytes())  # RTCP after SETUP passes
        yield wait_for(lambda: self.camera.media_from_client)

    @defer.inlineCallbacks
    def test_a_name_from_the_authorizer_is_not_resolved(self):
        self.authorizer.upstream = Upstream(CAM, [("localhost", self.camera_port, "rtsp://localhost/x")])
        player = yield self.player()
        player.send("DESCRIBE", self.base)
        yield player.closed
        self.assertEqual(player.responses[0].code, 503)
        self.assertEqual(self.camera.connections, [])

    @defer.inlineCallbacks
    def test_a_client_that_stops_reading_is_logged_as_such(self):
        self.camera.frames = 30000  # ~42 MB: more than the sockets hold
        player = yield self.player()
        player.send("DESCRIBE", self.base)
        yield wait_for(lambda: len(player.responses) == 1)
        player.send("SETUP", self.base + "/trackID=0", [("Transport", "RTP/AVP/TCP;unicast;interleaved=0-1")])
        yield wait_for(lambda: len(player.responses) == 2)
        player.transport.pauseProducing()  # the player stops reading
        player.send("PLAY", self.base + "/", [("Session", "CAFE")])
        [session] = yield eventually(lambda: list(self.factory.sessions), "relaying")
        yield wait_for(lambda: session.playing and session.transport.producerPaused, tries=3000)
        self.clock.advance(self.factory.media_timeout)
        self.clock.advance(self.factory.media_timeout)
        self.assertEqual(session.state, "closed")
        ended = [e for e in self.events if e.get("log_format", "").startswith("RTSP relay session for")]
        self.assertEqual(len(ended), 1)
        self.assertIn("client not reading", ended[0]["why"])
        self.assertEqual(self.factory.stats.slow_clients, 1)
