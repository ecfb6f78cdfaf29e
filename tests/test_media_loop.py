"""MP4 files looped as live RTSP streams (kandian.media.loop), with real players: ffprobe and ffmpeg."""

from __future__ import annotations

import os
import struct

from twisted.internet import defer, reactor, task
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


def rtp_packets(media: bytes) -> list[tuple[int, int, int]]:
    """(seq, timestamp, ssrc) of each interleaved RTP packet in *media*."""
    found, at = [], 0
    while at + 4 <= len(media):
        assert media[at] == 0x24, media[at:at + 8]
        length = struct.unpack_from("!H", media, at + 2)[0]
        packet = media[at + 4:at + 4 + length]
        if len(packet) < length:
            break
        found.append(struct.unpack_from("!HII", packet, 2))
        at += 4 + length
    return found


class RecordingTests(unittest.TestCase):
    """A recording's pieces played back: seekable, a speed, paused, one continuous RTP stream."""

    timeout = 120

    @defer.inlineCallbacks
    def setUp(self):
        self.directory = os.path.abspath(self.mktemp())
        os.makedirs(self.directory)
        self.pieces = [os.path.join(self.directory, "piece%d.ts" % n) for n in range(2)]
        for piece in self.pieces:
            yield make_clip(piece, seconds=4)
        self.asked = []
        self.clock = task.Clock()
        self.server = LoopServer(reactor, self.directory, clock=self.clock, resolve_recording=self.resolve)
        port = yield TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(self.server)
        self.server.port = port.getHost().port
        self.addCleanup(port.stopListening)
        self.addCleanup(self.no_ffmpeg_left)

    @defer.inlineCallbacks
    def no_ffmpeg_left(self):
        yield self.server.stop()
        yield wait_for(lambda: not ffmpeg_children())

    def resolve(self, recording_id, exp, sig):
        self.asked.append((recording_id, exp, sig))
        if sig != "good":
            return defer.fail(ValueError("a bad signature"))
        return defer.succeed(([(piece, 4.0) for piece in self.pieces], 8.0))

    @defer.inlineCallbacks
    def test_ffprobe_plays_it_and_a_bad_signature_is_404(self):
        probe = yield camera.ffprobe(self.server.recording_url(7, "exp=1&sig=good"))
        self.assertEqual(probe.code, 0, probe.stderr)
        self.assertEqual(probe.info["streams"][0]["codec_name"], "h264")
        self.assertEqual(self.asked[0], (7, "1", "good"))
        probe = yield camera.ffprobe(self.server.recording_url(7, "exp=1&sig=bad"))
        self.assertIn("404", probe.stderr)

    @defer.inlineCallbacks
    def test_range_scale_and_pause_continue_one_rtp_stream(self):
        player = yield connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", self.server.port), Player())
        self.addCleanup(player.transport.loseConnection)
        url = self.server.recording_url(7, "exp=1&sig=good")
        player.send("DESCRIBE", url)
        yield wait_for(lambda: len(player.responses) == 1)
        self.assertIn(b"a=range:npt=0-8.000", player.responses[0].body)
        base = player.responses[0].headers.get("Content-Base")
        player.send("SETUP", base + "trackID=0", [("Transport", "RTP/AVP/TCP;unicast;interleaved=0-1")])
        yield wait_for(lambda: len(player.responses) == 2)
        session = [("Session", player.responses[1].session_id)]
        player.send("PLAY", base, session + [("Range", "npt=5.000-")])
        yield wait_for(lambda: len(player.responses) == 3)
        # from the key frame at or before 5 s (a second before: the pieces have one a second)
        self.assertEqual(player.responses[2].headers.get("Range"), "npt=4.000-8.000")
        yield wait_for(lambda: len(rtp_packets(player.media)) > 20, tries=1000)
        self.clock.advance(1.5)
        player.send("PAUSE", base, session)
        yield wait_for(lambda: len(player.responses) == 4)
        yield wait_for(lambda: not ffmpeg_children(), tries=1000)
        self.clock.advance(30)  # paused: the position stays
        player.send("PLAY", base, session + [("Scale", "2.0")])
        yield wait_for(lambda: len(player.responses) == 5)
        self.assertEqual([player.responses[4].headers.get(h) for h in ("Range", "Scale")],
                         ["npt=4.500-8.000", "2.000"])  # paused at 5.5 s: from a second before
        before = len(rtp_packets(player.media))
        yield wait_for(lambda: len(rtp_packets(player.media)) > before + 20, tries=1000)
        packets = rtp_packets(player.media)
        self.assertEqual(len({ssrc for _, _, ssrc in packets}), 1)
        self.assertEqual([(b[0] - a[0]) & 0xFFFF for a, b in zip(packets, packets[1:])], [1] * (len(packets) - 1))
        for bad, code in ([("Scale", "0")], 456), ([("Scale", "-1")], 456), ([("Range", "npt=9-")], 457):
            answered = len(player.responses) + 1
            player.send("PLAY", base, session + bad)
            yield wait_for(lambda answered=answered: len(player.responses) == answered)
            self.assertEqual(player.responses[-1].code, code, bad)
