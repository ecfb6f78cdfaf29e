"""The real peers of the RTSP relay's end-to-end tests, checked without kandian.

A GStreamer RTSP server (``kandian/sim/gst_camera.py``) stands for the
camera; ffprobe and ffmpeg, over RTP interleaved in the RTSP TCP connection,
stand for the phone app and the PC client. If these tests fail, the relay's
end-to-end tests cannot be trusted, whatever they say.
"""

from __future__ import annotations

from twisted.internet import defer, reactor, task
from twisted.trial import unittest

from tests.camera import alive, descendants, ffmpeg_pull, ffprobe, require, run_player, start_camera


def only_video(testcase, result):
    testcase.assertEqual(result.code, 0, result.stderr)
    streams = result.info["streams"]
    testcase.assertEqual([s["codec_type"] for s in streams], ["video"], streams)
    return streams[0]


class CameraSourceTests(unittest.TestCase):
    timeout = 90

    @defer.inlineCallbacks
    def test_starts_and_names_its_stream(self):
        camera = yield start_camera(self)
        self.assertTrue(camera.url.startswith("rtsp://127.0.0.1:"), camera.url)
        self.assertGreater(camera.port, 0)
        self.assertEqual(camera.path, "/stream")
        self.assertTrue(alive(camera.pid))

    @defer.inlineCallbacks
    def test_ffprobe_over_tcp_sees_h264_at_the_configured_size(self):
        camera = yield start_camera(self, width=320, height=240, fps=15)
        stream = only_video(self, (yield ffprobe(camera.url)))
        self.assertEqual(stream["codec_name"], "h264")
        self.assertEqual((stream["width"], stream["height"]), (320, 240))
        self.assertEqual(stream["r_frame_rate"], "15/1")
        self.assertEqual(stream.get("has_b_frames", 0), 0)  # zerolatency: no reordering

    @defer.inlineCallbacks
    def test_ffmpeg_decodes_25_frames(self):
        camera = yield start_camera(self)
        result = yield ffmpeg_pull(camera.url, frames=25)
        self.assertEqual(result.code, 0, result.stderr)
        self.assertGreaterEqual(result.info["frames"], 25, result.info)
        self.assertEqual(result.info["progress"], "end")

    @defer.inlineCallbacks
    def test_realplay_url_with_query_is_served(self):
        # GStreamer finds the mount by the URL's path; the query (the spec's
        # devid/channelno/streamtype/hashtoken) is ignored by this camera.
        camera = yield start_camera(self)
        url = camera.realplay_url("12345678901234567890", "a" * 32,
                                  channelno=1, streamtype=1)
        self.assertIn("/realplay?devid=12345678901234567890&", url)
        stream = only_video(self, (yield ffprobe(url)))
        self.assertEqual(stream["codec_name"], "h264")
        self.assertEqual((stream["width"], stream["height"]), (640, 360))
        result = yield ffmpeg_pull(url, frames=25, decode=False)
        self.assertEqual(result.code, 0, result.stderr)
        self.assertGreaterEqual(result.info["frames"], 25)

    @defer.inlineCallbacks
    def test_unknown_path_is_404(self):
        camera = yield start_camera(self)
        result = yield ffprobe(camera.base + "/nothing-here")
        self.assertNotEqual(result.code, 0)
        self.assertIn("404", result.stderr)

    @defer.inlineCallbacks
    def test_two_players_at_once_share_the_stream(self):
        camera = yield start_camera(self)
        results = yield defer.gatherResults([
            ffmpeg_pull(camera.url, frames=25),
            ffmpeg_pull(camera.realplay_url("dev", "token-2"), frames=25),
        ])
        for result in results:
            self.assertEqual(result.code, 0, result.stderr)
            self.assertGreaterEqual(result.info["frames"], 25, result.info)
        self.assertEqual(descendants(camera.pid), [])  # no helper processes

    @defer.inlineCallbacks
    def test_bitrate_is_about_the_configured_one(self):
        camera = yield start_camera(self, bitrate=2000)
        # 75 frames at 25 fps: 3 s of video, written as raw H.264
        code, out, err = yield run_player(
            [require("ffmpeg"), "-nostdin", "-v", "error", "-rtsp_transport", "tcp",
             "-i", camera.url, "-frames:v", "75", "-c", "copy", "-f", "h264", "-"], timeout=30)
        self.assertEqual(code, 0, err)
        kbps = len(out) * 8 / 3.0 / 1000
        self.assertTrue(1400 < kbps < 2600, "%.0f kbit/s" % kbps)

    @defer.inlineCallbacks
    def test_stops_cleanly_while_playing(self):
        camera = yield start_camera()
        player = ffmpeg_pull(camera.url, frames=100000, decode=False, timeout=30)
        yield task.deferLater(reactor, 1.5, lambda: None)
        self.assertFalse(player.called, "the player ended early")
        under = descendants(camera.pid)
        code = yield camera.stop()
        self.assertEqual(code, 0, camera.output)
        self.assertFalse(alive(camera.pid))
        self.assertEqual([pid for pid in under if alive(pid)], [])
        # the player sees the end of the stream and exits by itself
        result = yield player
        self.assertEqual(result.code, 0, result.stderr)
        self.assertGreater(result.info["frames"], 10)
