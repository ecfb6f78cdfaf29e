"""The relay's rules over loopback TCP, with a scripted camera upstream.

End-to-end runs with a real RTSP server and ffmpeg are in test_rtsp_e2e; here
a small scripted camera lets each rule be checked exactly: URL rewriting both
ways, TCP-only transport, media passthrough, TEARDOWN, refusals, timeouts.
"""

import socket
import struct

from twisted.internet import defer, protocol, reactor, task
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP4ServerEndpoint, connectProtocol
from twisted.trial import unittest

from kandian.rtsp.message import Interleaved, Request, Response, RTSPDecoder
from kandian.rtsp.relay import Refused, RelayFactory, Upstream

CAMERA_HOST = "127.0.0.1"


class ScriptedCamera(protocol.Protocol):
    """Answers like a camera; its base URL and address appear in its answers."""

    def connectionMade(self):
        self.factory.connections.append(self)
        self.decoder = RTSPDecoder()
        self.requests = []

    def dataReceived(self, data):
        for event in self.decoder.feed(data):
            if isinstance(event, Request):
                self.requests.append(event)
                self.answer(event)
            else:
                self.factory.media_from_client.append(event)

    def answer(self, request):
        base = self.factory.base
        headers = [("CSeq", str(request.cseq))]
        body = b""
        if request.method == "DESCRIBE":
            headers += [("Content-Base", base + "/"), ("Content-Type", "application/sdp")]
            body = ("v=0\r\no=- 1 1 IN IP4 %s\r\ns=cam\r\nc=IN IP4 %s\r\nt=0 0\r\n"
                    "m=video 0 RTP/AVP 96\r\na=control:%s/trackID=0\r\n" % (CAMERA_HOST, CAMERA_HOST, base)).encode()
        elif request.method == "SETUP":
            headers += [("Transport", request.headers.get("Transport") + ";source=" + CAMERA_HOST),
                        ("Session", "CAFE;timeout=60")]
        elif request.method == "PLAY":
            headers += [("Session", "CAFE"), ("RTP-Info", "url=%s/trackID=0;seq=1;rtptime=0" % base)]
        self.transport.write(Response(200, "OK", headers, body).to_bytes())
        if request.method == "PLAY":
            for n in range(self.factory.frames):
                self.transport.write(Interleaved(0, bytes([n % 256]) * 1400).to_bytes())
        if request.method == "TEARDOWN":
            self.transport.loseConnection()


class Authorizer:
    def __init__(self, upstream=None, refusal=None):
        self.upstream = upstream
        self.refusal = refusal
        self.requests = []
        self.released = []

    def authorize(self, request, peer):
        self.requests.append(request)
        if self.refusal:
            return defer.fail(self.refusal)
        return defer.succeed(self.upstream)

    def release(self, key):
        self.released.append(key)


class Player(protocol.Protocol):
    """A client speaking raw RTSP and collecting what comes back."""

    def __init__(self):
        self.decoder = RTSPDecoder()
        self.responses = []
        self.media = b""
        self.closed = defer.Deferred()
        self.cseq = 0

    def dataReceived(self, data):
        for event in self.decoder.feed(data):
            if isinstance(event, Response):
                self.responses.append(event)
            else:
                self.media += event.to_bytes()

    def connectionLost(self, reason):
        self.closed.callback(None)

    def send(self, method, uri, headers=()):
        self.cseq += 1
        self.transport.write(Request(method, uri, [("CSeq", str(self.cseq)), *headers]).to_bytes())


@defer.inlineCallbacks
def wait_for(predicate, tries=300):
    for _ in range(tries):
        if predicate():
            return
        yield task.deferLater(reactor, 0.01, lambda: None)
    raise AssertionError("condition never held")


@defer.inlineCallbacks
def wait_for_value(get, tries=300):
    for _ in range(tries):
        value = get()
        if value:
            return value
        yield task.deferLater(reactor, 0.01, lambda: None)
    raise AssertionError("no value came")


class RelayTests(unittest.TestCase):
    frames = 50

    @defer.inlineCallbacks
    def setUp(self):
        camera = protocol.Factory.forProtocol(ScriptedCamera)
        camera.connections, camera.media_from_client, camera.frames = [], [], self.frames
        self.camera = camera
        port = yield TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(camera)
        self.addCleanup(port.stopListening)
        camera.base = "rtsp://127.0.0.1:%d/realplay?devid=81100000001&hashtoken=UPSTREAM" % port.getHost().port
        self.clock = task.Clock()
        self.authorizer = Authorizer(Upstream("81100000001", [("127.0.0.1", port.getHost().port, camera.base)]))
        self.factory = RelayFactory(self.authorizer, reactor, self.clock)
        relay = yield TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(self.factory)
        self.addCleanup(relay.stopListening)
        self.relay_port = relay.getHost().port
        self.base = "rtsp://127.0.0.1:%d/realplay?devid=81100000001&hashtoken=CLIENT" % self.relay_port

    @defer.inlineCallbacks
    def player(self):
        player = yield connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", self.relay_port), Player())
        self.addCleanup(lambda: player.transport.loseConnection())
        return player

    @defer.inlineCallbacks
    def play(self, player):
        player.send("DESCRIBE", self.base, [("Accept", "application/sdp")])
        yield wait_for(lambda: len(player.responses) == 1)
        player.send("SETUP", self.base + "/trackID=0", [("Transport", "RTP/AVP/TCP;unicast;interleaved=0-1")])
        yield wait_for(lambda: len(player.responses) == 2)
        player.send("PLAY", self.base + "/", [("Session", "CAFE")])
        yield wait_for(lambda: len(player.responses) == 3)

    @defer.inlineCallbacks
    def test_urls_are_rewritten_both_ways_and_the_camera_hidden(self):
        player = yield self.player()
        yield self.play(player)
        describe, setup, play = player.responses
        self.assertEqual(describe.headers.get("Content-Base"), self.base + "/")
        sdp = describe.body.decode()
        self.assertIn("a=control:%s/trackID=0" % self.base, sdp)
        self.assertNotIn("UPSTREAM", sdp + str(describe.headers.items()) + str(play.headers.items()))
        self.assertEqual(play.headers.get("RTP-Info"), "url=%s/trackID=0;seq=1;rtptime=0" % self.base)
        camera = self.camera.connections[0]
        self.assertEqual([r.uri for r in camera.requests],
                         [self.camera.base, self.camera.base + "/trackID=0", self.camera.base + "/"])
        self.assertEqual([r.cseq for r in camera.requests], [1, 2, 3])
        self.assertEqual(len(self.authorizer.requests), 1)

    @defer.inlineCallbacks
    def test_media_passes_through_intact(self):
        player = yield self.player()
        yield self.play(player)
        expected = b"".join(Interleaved(0, bytes([n % 256]) * 1400).to_bytes() for n in range(self.frames))
        yield wait_for(lambda: len(player.media) >= len(expected))
        self.assertEqual(player.media, expected)
        self.assertGreaterEqual(self.factory.stats.bytes_to_client, len(expected))
        # RTCP from the client reaches the camera
        player.transport.write(Interleaved(1, b"\x81\xc9rr").to_bytes())
        yield wait_for(lambda: self.camera.media_from_client)
        self.assertEqual(self.camera.media_from_client[0].to_bytes(), Interleaved(1, b"\x81\xc9rr").to_bytes())

    @defer.inlineCallbacks
    def test_a_player_that_stops_reading_gets_everything_in_order_when_it_reads_again(self):
        """More media than the sockets hold, then an answer: sent at once or buffered, nothing is
        lost or reordered, and the camera is held back meanwhile."""
        self.camera.frames = 6000  # ~8.4 MB
        player = yield self.player()
        player.send("DESCRIBE", self.base, [("Accept", "application/sdp")])
        yield wait_for(lambda: len(player.responses) == 1)
        player.send("SETUP", self.base + "/trackID=0", [("Transport", "RTP/AVP/TCP;unicast;interleaved=0-1")])
        yield wait_for(lambda: len(player.responses) == 2)
        player.transport.pauseProducing()
        player.send("PLAY", self.base + "/", [("Session", "CAFE")])
        [session] = yield wait_for_value(lambda: list(self.factory.sessions))
        yield wait_for(lambda: session.transport.producerPaused, tries=3000)  # the relay's buffer to it is full
        player.send("OPTIONS", self.base)
        player.transport.resumeProducing()
        expected = b"".join(Interleaved(0, bytes([n % 256]) * 1400).to_bytes() for n in range(6000))
        yield wait_for(lambda: len(player.responses) == 4, tries=3000)
        self.assertEqual([r.cseq for r in player.responses], [1, 2, 3, 4])
        self.assertEqual(player.media, expected)

    @defer.inlineCallbacks
    def test_media_for_a_player_that_reset_its_connection_goes_to_twisted_which_ends_the_session(self):
        """Media is sent straight to the player's socket while nothing waits in the transport's buffer; a
        send that fails (the player reset its connection: ECONNRESET, then EPIPE) hands the media to
        ``transport.write``, whose own send finds the loss: the session ends, the camera's side is closed.
        The relay is not reading the player here (as while the camera's side is backed up), so only a
        send can find the reset."""
        player = yield self.player()
        yield self.play(player)
        [session] = list(self.factory.sessions)
        camera = self.camera.connections[0]
        session.transport.pauseProducing()
        player.transport.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        player.transport.loseConnection()
        yield player.closed  # its socket closed with SO_LINGER 0: a reset, on loopback already at the relay
        self.assertEqual(session.transport._tempDataLen, 0)
        frame = Interleaved(0, b"late" * 100).to_bytes()
        session.media(frame)  # before the reactor reads the reset from the relay's socket
        self.assertEqual(session.transport._tempDataLen, len(frame))  # the send failed: left to write()
        yield wait_for(lambda: not camera.transport.connected)
        self.assertEqual((self.factory.stats.active, self.authorizer.released), (0, ["81100000001"]))

    @defer.inlineCallbacks
    def test_udp_only_setup_gets_461_and_mixed_offers_keep_tcp(self):
        player = yield self.player()
        player.send("DESCRIBE", self.base)
        yield wait_for(lambda: len(player.responses) == 1)
        player.send("SETUP", self.base + "/trackID=0", [("Transport", "RTP/AVP;unicast;client_port=5000-5001")])
        yield wait_for(lambda: len(player.responses) == 2)
        self.assertEqual((player.responses[1].code, player.responses[1].cseq), (461, 2))
        self.assertIn(b"TCP", player.responses[1].body)
        player.send("SETUP", self.base + "/trackID=0",
                    [("Transport", "RTP/AVP;unicast;client_port=5000-5001,RTP/AVP/TCP;unicast;interleaved=0-1")])
        yield wait_for(lambda: len(player.responses) == 3)
        camera = self.camera.connections[0]
        self.assertEqual([r.method for r in camera.requests], ["DESCRIBE", "SETUP"])
        self.assertEqual(camera.requests[1].headers.get("Transport"), "RTP/AVP/TCP;unicast;interleaved=0-1")

    @defer.inlineCallbacks
    def test_playback_controls_pass_through(self):
        """§10.1: Range (seek) and Scale (speed) on PLAY, PAUSE, and the
        GET_PARAMETER/OPTIONS keep-alives reach the camera unchanged."""
        player = yield self.player()
        yield self.play(player)
        player.send("PAUSE", self.base + "/", [("Session", "CAFE")])
        player.send("PLAY", self.base + "/", [("Session", "CAFE"), ("Range", "npt=120.5-"), ("Scale", "0.5")])
        player.send("GET_PARAMETER", self.base + "/", [("Session", "CAFE")])
        player.send("OPTIONS", self.base)
        yield wait_for(lambda: len(player.responses) == 7)
        camera = self.camera.connections[0]
        play = camera.requests[4]
        self.assertEqual([r.method for r in camera.requests[3:]], ["PAUSE", "PLAY", "GET_PARAMETER", "OPTIONS"])
        self.assertEqual((play.headers.get("Range"), play.headers.get("Scale")), ("npt=120.5-", "0.5"))
        self.assertEqual([r.cseq for r in player.responses], list(range(1, 8)))

    @defer.inlineCallbacks
    def test_teardown_closes_both_sides(self):
        player = yield self.player()
        yield self.play(player)
        player.send("TEARDOWN", self.base + "/", [("Session", "CAFE")])
        yield player.closed
        self.assertEqual(player.responses[-1].code, 200)
        self.assertEqual(self.authorizer.released, ["81100000001"])
        self.assertEqual(self.factory.stats.active, 0)

    @defer.inlineCallbacks
    def test_the_camera_closing_closes_the_client(self):
        player = yield self.player()
        yield self.play(player)
        self.camera.connections[0].transport.loseConnection()
        yield player.closed

    @defer.inlineCallbacks
    def test_the_client_closing_closes_the_camera(self):
        player = yield self.player()
        yield self.play(player)
        camera = self.camera.connections[0]
        player.transport.loseConnection()
        yield wait_for(lambda: not camera.transport.connected)

    @defer.inlineCallbacks
    def test_refusal_is_answered_with_the_requests_cseq_then_closed(self):
        self.authorizer.refusal = Refused(401, "bad token")
        player = yield self.player()
        player.send("OPTIONS", self.base)
        yield player.closed
        self.assertEqual([(r.code, r.cseq) for r in player.responses], [(401, 1)])
        self.assertEqual(self.factory.stats.refusals[(401, "bad token")], 1)
        self.assertEqual(self.camera.connections, [])

    @defer.inlineCallbacks
    def test_unreachable_upstream_is_503(self):
        self.authorizer.upstream = Upstream("81100000001", [("127.0.0.1", 1, "rtsp://127.0.0.1:1/x")])
        player = yield self.player()
        player.send("DESCRIBE", self.base)
        yield player.closed
        self.assertEqual(player.responses[0].code, 503)
        self.assertEqual(self.authorizer.released, ["81100000001"])

    @defer.inlineCallbacks
    def test_garbage_and_http_get_answers(self):
        for data, code in [(b"\x00\x01garbage\r\n\r\n", 400), (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 505)]:
            player = yield self.player()
            player.transport.write(data)
            yield player.closed
            self.assertEqual(player.responses[0].code, code)

    @defer.inlineCallbacks
    def test_no_media_while_playing_closes(self):
        self.camera.frames = 0
        player = yield self.player()
        yield self.play(player)
        self.clock.advance(self.factory.media_timeout / 2)
        self.assertTrue(player.transport.connected)
        self.clock.advance(self.factory.media_timeout)
        yield player.closed
        self.assertEqual(self.clock.getDelayedCalls(), [])

    @defer.inlineCallbacks
    def test_idle_connection_closes(self):
        player = yield self.player()
        self.clock.advance(self.factory.idle_timeout)
        yield player.closed
        self.assertEqual(self.clock.getDelayedCalls(), [])

    @defer.inlineCallbacks
    def test_each_side_is_the_others_producer(self):
        player = yield self.player()
        yield self.play(player)
        [session] = list(self.factory.sessions)
        self.assertIs(session.transport.producer, session.upstream.transport)
        self.assertIs(session.upstream.transport.producer, session.transport)

    @defer.inlineCallbacks
    def test_a_control_before_the_query_reaches_the_camera_with_the_cameras_query(self):
        """GStreamer puts the control before the query (``…/realplay/stream=0?devid=…``): the camera
        gets its own query (its token), never the client's."""
        player = yield self.player()
        player.send("DESCRIBE", self.base)
        yield wait_for(lambda: len(player.responses) == 1)
        path, _, query = self.base.partition("?")
        player.send("SETUP", "%s/stream=0?%s" % (path, query), [("Transport", "RTP/AVP/TCP;unicast;interleaved=0-1")])
        yield wait_for(lambda: len(player.responses) == 2)
        camera_path, _, camera_query = self.camera.base.partition("?")
        setup = self.camera.connections[0].requests[1]
        self.assertNotIn("CLIENT", setup.uri)
        self.assertEqual(setup.uri, "%s/stream=0?%s" % (camera_path, camera_query))


class RefusalLogTests(unittest.TestCase):
    """A guesser makes every connection a refusal: counted each time, logged once a minute per source."""

    def test_refusals_from_one_source_are_logged_once_a_minute(self):
        from twisted.internet.address import IPv4Address
        from twisted.internet.testing import EventLoggingObserver, StringTransport
        from twisted.logger import globalLogPublisher

        clock = task.Clock()
        factory = RelayFactory(Authorizer(refusal=Refused(401, "bad, expired or used hashtoken")), reactor, clock)
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)

        def guess(host):
            relay = factory.buildProtocol(IPv4Address("TCP", host, 40000))
            transport = StringTransport(peerAddress=IPv4Address("TCP", host, 40000))
            relay.makeConnection(transport)
            relay.dataReceived(b"DESCRIBE rtsp://platform/realplay?devid=1&hashtoken=x RTSP/1.0\r\nCSeq: 1\r\n\r\n")
            self.assertTrue(transport.value().startswith(b"RTSP/1.0 401 "))
            relay.connectionLost(None)

        def refusal_lines():
            return [e for e in events if "refused" in e.get("log_format", "")]
        for _ in range(100):
            guess("198.51.100.7")
        guess("203.0.113.9")
        self.assertEqual(len(refusal_lines()), 2)  # one per source
        self.assertEqual(factory.stats.refusals[(401, "bad, expired or used hashtoken")], 101)
        clock.advance(61)
        guess("198.51.100.7")
        [*_, last] = refusal_lines()
        self.assertEqual(last["more"], "; 99 more from it since the last line")
        for call in clock.getDelayedCalls():
            call.cancel()


class DialTests(unittest.TestCase):
    """The upstream's candidates are dialled in turn, for a client that is still there."""

    def test_no_further_candidate_is_dialled_once_the_client_left(self):
        from twisted.internet.testing import MemoryReactorClock, StringTransport
        from twisted.test.iosim import ConnectionCompleter

        memory = MemoryReactorClock()
        authorizer = Authorizer(Upstream("81100000001", [("10.0.0.9", 554, "rtsp://10.0.0.9/x"),
                                                         ("10.0.0.5", 554, "rtsp://10.0.0.5/x")]))
        factory = RelayFactory(authorizer, memory, memory)
        relay = factory.buildProtocol(None)
        transport = StringTransport()
        relay.makeConnection(transport)
        relay.dataReceived(b"DESCRIBE rtsp://relay/realplay?devid=1&hashtoken=x RTSP/1.0\r\nCSeq: 1\r\n\r\n")
        self.assertEqual([c[0] for c in memory.tcpClients], ["10.0.0.9"])
        relay.connectionLost(None)
        ConnectionCompleter(memory).failOnce()
        self.assertEqual(memory.tcpClients, [])
        self.assertEqual(authorizer.released, ["81100000001"])
        self.assertEqual(sum(factory.stats.refusals.values()), 0)
