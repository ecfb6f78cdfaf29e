"""The real peers of the RTSP relay's end-to-end tests, checked without kandian.

A GStreamer RTSP server (``kandian/sim/gst_camera.py``) stands for the
camera; ffprobe and ffmpeg, over RTP interleaved in the RTSP TCP connection,
stand for the phone app and the PC client. If these tests fail, the relay's
end-to-end tests cannot be trusted, whatever they say.
"""

from __future__ import annotations

import json

from twisted.internet import defer, reactor, task
from twisted.trial import unittest

from tests import procs
from tests.camera import (
    CAMERA_SCRIPT,
    SYSTEM_PYTHON,
    alive,
    descendants,
    ffmpeg_pull,
    ffprobe,
    require,
    run_player,
    start_camera,
)


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


# Run by the system Python (which has gi): the camera's own Feeder and appsrc (kandian/sim/gst_camera.py),
# the source put where a starting pipeline leaves it for a moment — the clock handed out, its base time
# not yet set — then played.  Prints what the sink got first.
FEEDER_CHECK = r"""
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("gst_camera", sys.argv[1])
cam = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cam)
import gi
gi.require_version("Gst", "1.0")
from gi.repository import GLib, Gst
Gst.init(None)
pipeline = Gst.parse_launch(cam.clock_source(128, 48, 15) + " ! appsink name=sink sync=false")
source, sink = pipeline.get_by_name(cam.CLOCK_SOURCE), pipeline.get_by_name("sink")
feeder = cam.Feeder(source, cam.ClockPicture(cam.load_stamp(), 128, 48), 15, GLib, Gst)
pipeline.set_state(Gst.State.PAUSED)  # a live source: no preroll
source.set_clock(Gst.SystemClock.obtain())  # the clock, before the base time
feeder.tick()
queued_early = source.get_property("current-level-buffers")
pipeline.set_state(Gst.State.PLAYING)
playing = source.get_state(10 * Gst.SECOND)[1] == Gst.State.PLAYING  # a source changes state at once
feeder.tick()
sample = sink.emit("try-pull-sample", 10 * Gst.SECOND)
feeder.stop()
pipeline.set_state(Gst.State.NULL)
print(json.dumps({"queued_early": queued_early, "playing": playing,
                  "first_pts": sample.get_buffer().pts / Gst.SECOND if sample is not None else None}))
"""


class ClockFeederTests(unittest.TestCase):
    """The ``--clock`` camera's frames (a ``Feeder`` pushing into an ``appsrc``) carry running times."""

    timeout = 60

    @defer.inlineCallbacks
    def test_a_frame_made_while_the_pipeline_starts_to_play_is_not_stamped_with_the_clocks_absolute_time(self):
        """A frame pushed after the source has the clock but before it has its base time was stamped with the
        clock's absolute time (the machine's uptime): the camera's sink waited hours for it, holding the
        pipeline's only streaming thread, and a player got RTCP but no RTP.  Such a frame is not pushed;
        the first frame the sink gets is stamped within a minute of the start (its running time)."""
        code, output = yield procs.run([require(SYSTEM_PYTHON), "-I", "-c", FEEDER_CHECK, CAMERA_SCRIPT])
        self.assertEqual(code, 0, output)
        result = json.loads(output.strip().splitlines()[-1])
        self.assertTrue(result["playing"], result)
        self.assertEqual(result["queued_early"], 0, result)
        self.assertIsNotNone(result["first_pts"], result)
        self.assertLess(result["first_pts"], 60, result)
