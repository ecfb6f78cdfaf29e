"""The relay's state machine and its connector, with no sockets (§10, §15 step 4).

Both sides are driven in memory with :mod:`twisted.test.iosim`: the player is
connected to a :class:`~kandian.rtsp.relay.ClientConnection`, and the relay's
``endpoints`` hand each dial to the test, which completes it with a scripted
camera over another pump, fails it, or leaves it pending.
"""

from twisted.internet import defer, error, protocol, task
from twisted.internet.address import IPv4Address
from twisted.python.failure import Failure
from twisted.test import iosim
from twisted.trial import unittest

from kandian.rtsp.message import Interleaved, Request, Response, RTSPDecoder
from kandian.rtsp.relay import TRANSITIONS, BadTransition, Refused, RelayFactory, State, Upstream

from .test_rtsp_relay import Authorizer

CAM = "81100000001"
CAMERA_BASE = "rtsp://10.0.0.5:554/realplay?devid=%s&hashtoken=UPSTREAM" % CAM
BASE = "rtsp://relay.example:8554/realplay?devid=%s&hashtoken=CLIENT" % CAM
TCP = [("Transport", "RTP/AVP/TCP;unicast;interleaved=0-1")]


class Camera(protocol.Protocol):
    """Answers each request 200 with its base in the answers; PLAY starts *frames* frames."""

    def __init__(self, base=CAMERA_BASE, frames=3):
        self.base = base
        self.frames = frames
        self.decoder = RTSPDecoder()
        self.requests = []
        self.media = []
        self.closed = False

    def dataReceived(self, data):
        for event in self.decoder.feed(data):
            if not isinstance(event, Request):
                self.media.append(event)
                continue
            self.requests.append(event)
            headers, body = [("CSeq", str(event.cseq))], b""
            if event.method == "DESCRIBE":
                headers += [("Content-Base", self.base + "/"), ("Content-Type", "application/sdp")]
                body = ("v=0\r\no=- 1 1 IN IP4 10.0.0.5\r\nc=IN IP4 10.0.0.5\r\n"
                        "m=video 0 RTP/AVP 96\r\na=control:%s/trackID=0\r\n" % self.base).encode()
            elif event.method == "SETUP":
                headers += [("Transport", event.headers.get("Transport")), ("Session", "CAFE")]
            elif event.method == "PLAY":
                headers += [("Session", "CAFE"), ("RTP-Info", "url=%s/trackID=0;seq=1" % self.base)]
            self.transport.write(Response(200, "OK", headers, body).to_bytes())
            if event.method == "PLAY":
                for n in range(self.frames):
                    self.transport.write(Interleaved(0, bytes([n]) * 100).to_bytes())

    def connectionLost(self, reason=protocol.connectionDone):
        self.closed = True


class Player(protocol.Protocol):
    def __init__(self):
        self.decoder = RTSPDecoder()
        self.responses = []
        self.media = []
        self.cseq = 0
        self.closed = False

    def dataReceived(self, data):
        for event in self.decoder.feed(data):
            (self.responses if isinstance(event, Response) else self.media).append(event)

    def connectionLost(self, reason=protocol.connectionDone):
        self.closed = True

    def send(self, method, uri, headers=()):
        self.cseq += 1
        self.transport.write(Request(method, uri, [("CSeq", str(self.cseq)), *headers]).to_bytes())


class Dial:
    """One dial of the relay, for the test to complete, fail or leave pending."""

    def __init__(self, host, port, factory):
        self.host, self.port, self.factory = host, port, factory
        self.deferred = defer.Deferred()

    def connect(self, camera, clock):
        upstream = self.factory.buildProtocol(IPv4Address("TCP", self.host, self.port))
        pump = iosim.connect(camera, iosim.makeFakeServer(camera), upstream, iosim.makeFakeClient(upstream),
                             greet=False, clock=clock)
        self.deferred.callback(upstream)
        return pump

    def fail(self, exception):
        self.deferred.errback(Failure(exception))


class Endpoints:
    """The relay's connector: ``endpoints(host, port)`` records each dial."""

    def __init__(self):
        self.dials: list[Dial] = []

    def __call__(self, host, port):
        endpoints = self

        class Endpoint:
            def connect(self, factory):
                dial = Dial(host, port, factory)
                endpoints.dials.append(dial)
                return dial.deferred

        return Endpoint()


class MachineTests(unittest.TestCase):
    def setUp(self):
        self.clock = task.Clock()
        self.endpoints = Endpoints()
        self.authorizer = Authorizer(Upstream(CAM, [("10.0.0.5", 554, CAMERA_BASE)]))
        self.factory = RelayFactory(self.authorizer, clock=self.clock, endpoints=self.endpoints)
        self.pumps = []

    def client(self):
        self.player = Player()
        self.relay = self.factory.buildProtocol(IPv4Address("TCP", "192.0.2.7", 40000))
        self.pumps.append(iosim.connect(self.relay, iosim.makeFakeServer(self.relay), self.player,
                                        iosim.makeFakeClient(self.player), greet=False, clock=self.clock))
        return self.player, self.relay

    def camera(self, camera=None, dial=0):
        camera = camera or Camera()
        self.pumps.append(self.endpoints.dials[dial].connect(camera, self.clock))
        return camera

    def flush(self):
        while any([pump.flush() for pump in self.pumps]):
            pass

    def relaying(self):
        player, relay = self.client()
        player.send("DESCRIBE", BASE)
        self.flush()
        camera = self.camera()
        self.flush()
        return player, relay, camera

    def test_the_transitions(self):
        self.assertEqual(set(TRANSITIONS), set(State))
        for state, targets in TRANSITIONS.items():
            self.assertNotIn(state, targets)
            self.assertEqual(state is State.CLOSED, not targets)
            for target in targets:
                self.assertTrue(state is not State.CLOSED)
        self.assertEqual(State.RELAYING, "relaying")  # the state reads as it did (a string)
        _, relay = self.client()
        self.assertRaises(BadTransition, relay._enter, State.RELAYING)
        self.assertIs(relay.state, State.NEW)

    def test_a_session_walks_the_states_and_dials_through_the_connector(self):
        player, relay = self.client()
        self.assertIs(relay.state, State.NEW)
        player.send("DESCRIBE", BASE)
        self.flush()
        self.assertIs(relay.state, State.CONNECTING)
        [dial] = self.endpoints.dials
        self.assertEqual((dial.host, dial.port), ("10.0.0.5", 554))
        camera = self.camera()
        self.flush()
        self.assertIs(relay.state, State.RELAYING)
        self.assertEqual((self.factory.stats.active, self.factory.sessions), (1, {relay}))
        player.send("SETUP", BASE + "/trackID=0", TCP)
        player.send("PLAY", BASE + "/", [("Session", "CAFE")])
        self.flush()
        self.assertEqual([r.uri for r in camera.requests],
                         [CAMERA_BASE, CAMERA_BASE + "/trackID=0", CAMERA_BASE + "/"])
        describe, setup, play = player.responses
        self.assertEqual(describe.headers.get("Content-Base"), BASE + "/")
        self.assertIn("a=control:%s/trackID=0" % BASE, describe.body.decode())
        self.assertNotIn("10.0.0.5", describe.body.decode())
        self.assertEqual(play.headers.get("RTP-Info"), "url=%s/trackID=0;seq=1" % BASE)
        self.assertEqual(player.media, [Interleaved(0, bytes([n]) * 100) for n in range(3)])
        player.send("TEARDOWN", BASE, [("Session", "CAFE")])
        self.flush()
        self.assertIs(relay.state, State.CLOSED)
        self.assertTrue(player.closed and camera.closed)
        self.assertEqual((self.factory.stats.active, self.factory.sessions), (0, set()))
        self.assertEqual(self.authorizer.released, [CAM])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_a_refusal_goes_from_authorizing_to_closed(self):
        self.authorizer.refusal = Refused(401, "bad, expired or used hashtoken")
        player, relay = self.client()
        player.send("DESCRIBE", BASE)
        self.flush()
        self.assertIs(relay.state, State.CLOSED)
        self.assertEqual([r.code for r in player.responses], [401])
        self.assertEqual(self.endpoints.dials, [])
        self.assertTrue(player.closed)

    def test_names_are_never_handed_to_the_connector(self):
        self.authorizer.upstream = Upstream(CAM, [("cam.example", 554, "rtsp://cam.example/x"),
                                                  ("10.0.0.5", 554, CAMERA_BASE)])
        self.relaying()
        self.assertEqual([(d.host, d.port) for d in self.endpoints.dials], [("10.0.0.5", 554)])

    def test_the_next_candidate_after_a_refused_dial(self):
        self.authorizer.upstream = Upstream(CAM, [("10.0.0.9", 554, "rtsp://10.0.0.9/x"),
                                                  ("10.0.0.5", 554, CAMERA_BASE)])
        player, relay = self.client()
        player.send("DESCRIBE", BASE)
        self.flush()
        self.endpoints.dials[0].fail(error.ConnectionRefusedError())
        self.assertEqual(len(self.endpoints.dials), 2)
        self.camera(dial=1)
        self.flush()
        self.assertIs(relay.state, State.RELAYING)
        self.assertEqual([r.code for r in player.responses], [200])

    def test_every_dial_timing_out_is_504_and_refused_503(self):
        for failure, code in [(error.TimeoutError(), 504), (error.ConnectionRefusedError(), 503)]:
            self.endpoints.dials.clear()
            player, relay = self.client()
            player.send("DESCRIBE", BASE)
            self.flush()
            self.endpoints.dials[0].fail(failure)
            self.flush()
            self.assertIs(relay.state, State.CLOSED)
            self.assertEqual([r.code for r in player.responses], [code])
            self.assertTrue(player.closed)

    def test_the_client_leaving_while_connecting(self):
        """The dial that completes afterwards is hung up; no session is counted, the key released once."""
        player, relay = self.client()
        player.send("DESCRIBE", BASE)
        self.flush()
        player.transport.loseConnection()
        self.flush()
        self.assertIs(relay.state, State.CLOSED)
        camera = self.camera()
        self.flush()
        self.assertTrue(camera.closed)
        self.assertEqual(camera.requests, [])
        self.assertEqual((self.factory.stats.sessions, self.factory.stats.active), (0, 0))
        self.assertEqual(self.authorizer.released, [CAM])

    def test_requests_queued_while_authorizing_reach_the_camera_in_order(self):
        pending = defer.Deferred()
        self.authorizer.authorize = lambda request, peer: pending
        player, relay = self.client()
        player.send("OPTIONS", BASE)
        player.send("DESCRIBE", BASE)
        self.flush()
        self.assertIs(relay.state, State.AUTHORIZING)
        self.clock.advance(self.factory.request_timeout * 2)  # the authorizer's slowness is not the client's
        self.assertIs(relay.state, State.AUTHORIZING)
        pending.callback(self.authorizer.upstream)
        camera = self.camera()
        self.flush()
        self.assertEqual([(r.method, r.uri) for r in camera.requests], [("OPTIONS", CAMERA_BASE),
                                                                        ("DESCRIBE", CAMERA_BASE)])
        self.assertEqual([r.cseq for r in player.responses], [1, 2])

    def test_the_camera_closing_closes_the_client_and_unanswered_requests_get_502(self):
        player, relay, camera = self.relaying()
        camera.dataReceived = lambda data: None  # hears nothing from now on
        player.send("SETUP", BASE + "/trackID=0", TCP)
        self.flush()
        camera.transport.loseConnection()
        self.flush()
        self.assertIs(relay.state, State.CLOSED)
        self.assertEqual([r.code for r in player.responses], [200, 502])
        self.assertTrue(player.closed)

    def test_a_control_before_the_query_is_rebased_both_ways(self):
        """GStreamer's track URL (``…/realplay/stream=0?query``) reaches the camera with the camera's query."""
        player, relay, camera = self.relaying()
        path, _, query = BASE.partition("?")
        camera_path, _, camera_query = CAMERA_BASE.partition("?")
        player.send("SETUP", "%s/stream=0?%s" % (path, query), TCP)
        self.flush()
        self.assertEqual(camera.requests[-1].uri, "%s/stream=0?%s" % (camera_path, camera_query))
        self.assertEqual(relay.rewriter.down("%s/stream=0?%s" % (camera_path, camera_query)),
                         "%s/stream=0?%s" % (path, query))

    def test_an_address_that_merely_starts_like_the_cameras_is_left_alone(self):
        player, relay, camera = self.relaying()
        other = "rtsp://10.0.0.5:5540/x"
        self.assertEqual(relay.rewriter.down("url=%s/trackID=0" % (other,)), "url=%s/trackID=0" % (other,))
        self.assertEqual(relay.rewriter.down("rtsp://10.0.0.5:554/other"), "rtsp://relay.example:8554/other")


class AuthorityTests(unittest.SynchronousTestCase):
    def test_authority(self):
        from kandian.rtsp.url import authority

        self.assertEqual(authority(CAMERA_BASE), "rtsp://10.0.0.5:554")
        self.assertEqual(authority("rtsp://[::1]:8554?x=1"), "rtsp://[::1]:8554")
        self.assertEqual(authority("rtsp://h"), "rtsp://h")
