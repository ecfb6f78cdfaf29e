"""The relay steering a player's stream for its play session (kandian.rtsp.steer), with a scripted camera.

The player (a raw RTSP client) and the camera (a scripted RTSP server) are
real TCP peers on loopback; the session is a recorder of what the relay
tells it.  End to end with GStreamer and ffmpeg: tests/test_mvb_e2e.py.
"""

from twisted.internet import defer
from twisted.trial import unittest
from zope.interface.verify import verifyObject

from kandian.core.errors import DeviceOffline, DeviceRefused
from kandian.core.interfaces import IStreamSteering
from kandian.rtsp import relay
from kandian.rtsp.message import Interleaved, Response
from kandian.rtsp.relay import Upstream
from kandian.rtsp.steer import CSEQ_BASE

from . import test_rtsp_relay as relay_tests
from .test_rtsp_relay import ScriptedCamera, wait_for


class SteerableCamera(ScriptedCamera):
    """Answers the relay's own PLAY and PAUSE too; sends a burst of frames after each PLAY."""

    def answer(self, request):
        factory = self.factory
        if request.method == "PAUSE":
            if factory.silent:
                return
            self.transport.write(Response(200, "OK", [("CSeq", str(request.cseq)), ("Session", "CAFE")]).to_bytes())
            for n in range(factory.frames_after_pause):  # a camera that cannot really pause
                self.transport.write(Interleaved(0, b"P" * 100).to_bytes())
            return
        if request.method == "PLAY" and request.cseq >= CSEQ_BASE:
            if factory.silent:
                return
            if factory.refuse:
                self.transport.write(Response.for_request(request, factory.refuse).to_bytes())
                return
            headers = [("CSeq", str(request.cseq)), ("Session", "CAFE")]
            for name in ("Range", "Scale"):
                if request.headers.get(name):
                    headers.append((name, request.headers.get(name)))
            self.transport.write(Response(200, "OK", headers).to_bytes())
            for n in range(5):
                self.transport.write(Interleaved(0, b"R" * 100).to_bytes())
            return
        super().answer(request)


class Session:
    """Records what the relay tells a play session (kandian.core.interfaces.IPlaySession)."""

    def __init__(self, client_play=(None, None)):
        self.steering = None
        self.calls = []
        self._client_play = client_play

    def attached(self, steering):
        self.steering = steering
        self.calls.append("attached")

    def client_play(self):
        self.calls.append("client_play")
        return self._client_play

    def played(self):
        self.calls.append("played")

    def detached(self):
        self.calls.append("detached")


class SteeringTests(unittest.TestCase):
    frames = 3
    player = relay_tests.RelayTests.player
    play = relay_tests.RelayTests.play

    @defer.inlineCallbacks
    def setUp(self):
        yield relay_tests.RelayTests.setUp(self)
        self.camera.protocol = SteerableCamera
        self.camera.silent, self.camera.refuse, self.camera.frames_after_pause = False, 0, 0
        self.session = Session()
        self.authorizer.upstream = Upstream(*self.authorizer.upstream[:2], self.session)

    @defer.inlineCallbacks
    def playing(self):
        player = yield self.player()
        yield self.play(player)
        yield wait_for(lambda: "played" in self.session.calls)
        return player

    @defer.inlineCallbacks
    def test_pause_then_play_with_scale_and_range_in_the_players_session(self):
        player = yield self.playing()
        steering = self.session.steering
        verifyObject(IStreamSteering, steering)
        self.assertEqual(self.session.calls, ["attached", "client_play", "played"])
        yield steering.pause()
        answer = yield steering.play(2.0, 30)
        self.assertEqual(answer, {"Range": "npt=30.000-", "Scale": "2.000"})
        camera = self.camera.connections[0]
        pause, play = camera.requests[3:]
        self.assertEqual((pause.method, pause.uri, pause.session_id), ("PAUSE", self.camera.base + "/", "CAFE"))
        self.assertEqual((play.method, play.uri, play.session_id), ("PLAY", self.camera.base + "/", "CAFE"))
        self.assertEqual((play.headers.get("Scale"), play.headers.get("Range")), ("2.000", "npt=30.000-"))
        self.assertEqual([r.cseq for r in camera.requests[3:]], [CSEQ_BASE, CSEQ_BASE + 1])
        # the relay's own answers never reach the player, its media again does
        yield wait_for(lambda: player.media.count(b"R" * 100) == 5)
        self.assertEqual([r.cseq for r in player.responses], [1, 2, 3])

    @defer.inlineCallbacks
    def test_where_the_stream_is(self):
        yield self.playing()
        steering = self.session.steering
        self.assertIsNone(steering.position())  # the camera's answer to the player's PLAY had no Range
        yield steering.play(2.0, 30)
        self.clock.advance(5)
        self.assertEqual(steering.position(), 40.0)
        self.assertEqual(steering.last_answer, {"Range": "npt=30.000-", "Scale": "2.000"})
        yield steering.pause()
        self.clock.advance(5)
        self.assertEqual(steering.position(), 40.0)

    @defer.inlineCallbacks
    def paused_and_resumed(self, while_paused=lambda player: None):
        """The player of a session paused while the camera sent 4 frames more (P…), then resumed (R…)."""
        self.camera.frames_after_pause = 4
        player = yield self.playing()
        steering = self.session.steering
        yield wait_for(lambda: len(player.media) >= 3 * 1404)
        yield steering.pause()
        yield wait_for(lambda: self.factory.stats.bytes_held == 4 * 104)
        while_paused(player)
        yield steering.play()
        yield wait_for(lambda: b"R" * 100 in player.media)
        return player

    @defer.inlineCallbacks
    def test_paused_the_player_receives_nothing(self):
        player = yield self.paused_and_resumed(lambda player: self.assertNotIn(b"P" * 100, player.media))
        # what was under way as the camera paused comes first: the pictures go on where they stopped
        self.assertEqual(player.media.count(b"P" * 100), 4)
        self.assertLess(player.media.rindex(b"P" * 100), player.media.index(b"R" * 100))

    @defer.inlineCallbacks
    def test_a_camera_that_does_not_pause_has_its_media_dropped(self):
        self.patch(relay, "HOLD_LIMIT", 3 * 104)
        player = yield self.paused_and_resumed()
        self.assertNotIn(b"P" * 100, player.media)

    @defer.inlineCallbacks
    def test_the_players_first_play_carries_the_sessions_start(self):
        self.session._client_play = (0.5, 125.25)
        yield self.playing()
        play = self.camera.connections[0].requests[2]
        self.assertEqual((play.headers.get("Scale"), play.headers.get("Range")), ("0.500", "npt=125.250-"))

    @defer.inlineCallbacks
    def test_a_refusal_carries_the_rtsp_status(self):
        yield self.playing()
        self.camera.refuse = 457
        failure = yield self.assertFailure(self.session.steering.play(None, 99999), DeviceRefused)
        self.assertEqual(failure.result, 457)
        self.assertFalse(self.factory.sessions.pop().hold_media)

    @defer.inlineCallbacks
    def test_no_answer_within_the_timeout(self):
        yield self.playing()
        self.camera.silent = True
        d = self.session.steering.pause()
        self.clock.advance(self.factory.request_timeout)
        failure = yield self.assertFailure(d, DeviceRefused)
        self.assertIsNone(failure.result)

    @defer.inlineCallbacks
    def test_the_stream_ending_fails_what_is_outstanding_and_detaches(self):
        player = yield self.playing()
        self.camera.silent = True
        d = self.session.steering.pause()
        player.transport.loseConnection()
        yield self.assertFailure(d, DeviceOffline)
        yield wait_for(lambda: "detached" in self.session.calls)
        yield self.assertFailure(self.session.steering.play(), DeviceOffline)

    @defer.inlineCallbacks
    def test_before_the_player_plays_nothing_is_sent(self):
        player = yield self.player()
        player.send("DESCRIBE", self.base)
        yield wait_for(lambda: self.session.steering is not None)
        yield self.assertFailure(self.session.steering.pause(), DeviceRefused)
        self.assertEqual([r.method for r in self.camera.connections[0].requests], ["DESCRIBE"])

    @defer.inlineCallbacks
    def test_close_ends_both_sides(self):
        player = yield self.playing()
        self.session.steering.close("stopplay")
        yield player.closed
        yield wait_for(lambda: not self.factory.sessions)
        self.assertEqual(self.session.calls[-1], "detached")

