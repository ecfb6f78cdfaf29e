"""MP4 files looped as live RTSP streams (kandian.media.loop), with real players: ffprobe and ffmpeg."""

from __future__ import annotations

import os

from twisted.internet import defer, reactor
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP4ServerEndpoint, connectProtocol
from twisted.trial import unittest

from kandian.media.loop import LoopServer, name_of

from . import camera
from .test_media_live import ffmpeg_children
from .test_rtsp_relay import Player, wait_for

FPS = 25


@defer.inlineCallbacks
def make_clip(path: str, seconds: int = 2):
    """An H.264 MP4 of *seconds* of test pattern."""
    code, _, err = yield camera.run_player(
        [camera.require("ffmpeg"), "-nostdin", "-v", "error", "-f", "lavfi", "-i",
         "testsrc=size=320x240:rate=%d" % FPS, "-t", str(seconds), "-c:v", "libx264", "-pix_fmt", "yuv420p",
         "-g", str(FPS), path], 60)
    assert code == 0, err


class NameTests(unittest.TestCase):
    def test_one_segment_of_an_mp4(self):
        self.assertEqual(name_of("/mp4/a.mp4"), "a.mp4")
        self.assertEqual(name_of("/mp4/%E4%B8%80%E7%8F%AD.MP4/trackID=0"), "一班.MP4")
        for bad in ("/mp4/", "/mp4/a.avi", "/mp4/..%2Fx.mp4", "/mp4/.a.mp4", "/x/a.mp4", "/mp4/%00.mp4",
                    "/mp4/%ff.mp4"):
            self.assertIsNone(name_of(bad), bad)


class LoopTests(unittest.TestCase):
    timeout = 120

    @defer.inlineCallbacks
    def setUp(self):
        self.directory = os.path.abspath(self.mktemp())
        os.makedirs(self.directory)
        yield make_clip(os.path.join(self.directory, "clip.mp4"))
        with open(os.path.join(os.path.dirname(self.directory), "outside.mp4"), "wb") as f:
            f.write(b"not for you")
        self.server = LoopServer(reactor, self.directory)
        port = yield TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(self.server)
        self.server.port = port.getHost().port
        self.addCleanup(port.stopListening)
        self.addCleanup(self.server.stop)
        self.addCleanup(self.no_ffmpeg_left)

    @defer.inlineCallbacks
    def no_ffmpeg_left(self):
        yield self.server.stop()
        yield wait_for(lambda: not ffmpeg_children())

    @defer.inlineCallbacks
    def test_ffprobe_sees_the_files_h264(self):
        probe = yield camera.ffprobe(self.server.url("clip.mp4"))
        self.assertEqual(probe.code, 0, probe.stderr)
        [video] = probe.info["streams"]
        self.assertEqual((video["codec_name"], video["width"], video["height"]), ("h264", 320, 240))

    @defer.inlineCallbacks
    def test_it_plays_in_a_loop(self):
        # a 2 s file, 100 frames decoded: it went round twice
        pull = yield camera.ffmpeg_pull(self.server.url("clip.mp4"), frames=100, timeout=60)
        self.assertEqual(pull.code, 0, pull.stderr)
        self.assertEqual(pull.info["frames"], 100)
        self.assertGreater(self.server.stats.packets, 100)
        yield wait_for(lambda: not self.server.connections)

    @defer.inlineCallbacks
    def test_only_files_of_the_directory_and_only_rtp_over_tcp(self):
        for name in ("nothing.mp4", "..%2Foutside.mp4", "outside.mp4"):
            probe = yield camera.ffprobe(self.server.url("x")[:-1] + name)
            self.assertIn("404", probe.stderr, name)
        probe = yield camera.ffprobe(self.server.url("clip.mp4"), transport="udp")
        self.assertNotEqual(probe.code, 0)
        self.assertEqual(self.server.file_of(os.path.join(self.directory, "clip.mp4")), "clip.mp4")
        self.assertEqual(self.server.file_of("clip.mp4"), "clip.mp4")
        for bad in ("../outside.mp4", os.path.join(os.path.dirname(self.directory), "outside.mp4"), "x.mp4", ""):
            self.assertIsNone(self.server.file_of(bad), bad)

    @defer.inlineCallbacks
    def test_teardown_and_a_closed_connection_stop_its_ffmpeg(self):
        player = yield connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", self.server.port), Player())
        url = self.server.url("clip.mp4")
        player.send("DESCRIBE", url)
        yield wait_for(lambda: len(player.responses) == 1)
        self.assertIn(b"H264/90000", player.responses[0].body)
        player.send("SETUP", url + "/trackID=0", [("Transport", "RTP/AVP/TCP;unicast;interleaved=0-1")])
        yield wait_for(lambda: len(player.responses) == 2)
        session = player.responses[1].session_id
        player.send("PLAY", url, [("Session", session)])
        yield wait_for(lambda: len(player.media) > 10_000, tries=1000)
        self.assertEqual(len(ffmpeg_children()), 1)
        player.send("TEARDOWN", url, [("Session", session)])
        yield player.closed
        yield wait_for(lambda: not ffmpeg_children(), tries=1000)
        self.assertEqual([r.code for r in player.responses], [200, 200, 200, 200])
