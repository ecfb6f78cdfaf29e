"""Live HLS end to end: a GStreamer camera behind a simulated device, the platform's relay, one ffmpeg
packager per stream, and real HLS clients (ffmpeg reading the playlist over HTTP, Twisted's Agent)."""

import os
import re

from twisted.internet import defer, reactor
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.web.client import readBody

from kandian.sim.camera import camera_front
from kandian.sim.state import Addresses

from . import camera
from .portal_helpers import PortalTestCase
from .test_device_integration import eventually

A, B = "13800000001", "13800000002"
CAM = "81100000001"
LIVE = "/live/%s/0/1/index.m3u8" % CAM


def ffmpeg_children():
    """PIDs of the ffmpeg processes this test process started (its children, read from /proc)."""
    found = []
    for pid in camera.descendants(os.getpid()):
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                if b"ffmpeg" in f.read().split(b"\0")[0]:
                    found.append(pid)
        except OSError:
            pass
    return found


class LiveTestCase(PortalTestCase):
    timeout = 120
    settings = {"media": "idle_timeout = 3\nstart_timeout = 20\n"}
    camera_clock = False  # the camera's --clock: each frame's making time burnt in (kandian/sim/stamp.py); not
    # "clock", which the service test case sets to its task.Clock (always true: every live test ran --clock)

    @defer.inlineCallbacks
    def setUp(self):
        yield super().setUp()
        self.media = yield camera.start_camera(self, width=320, height=240, fps=15, bitrate=400, clock=self.camera_clock)
        front = camera_front(reactor, None, self.media.url)
        port = yield TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(front)
        self.addCleanup(port.stopListening)
        self.addCleanup(lambda: [s.close("test over") for s in list(front.sessions)])
        self.token = yield self.user(A)
        self.link = yield self.camera(CAM, owner=A, addresses=Addresses(LocalIP="127.0.0.1",
                                                                       RtspLocalPort=port.getHost().port))
        front.authorizer.link = self.link
        self.live = self.service.platform.live
        self.addCleanup(self.no_ffmpeg_left)

    @defer.inlineCallbacks
    def no_ffmpeg_left(self):
        yield self.live.stop()
        self.assertEqual(ffmpeg_children(), [])

    def auth(self, token=None):
        return {b"authorization": [b"Bearer " + (token or self.token).encode()]}

    @defer.inlineCallbacks
    def pull(self, url, headers=None, frames=10):
        """ffmpeg as an HLS client: decode *frames* frames of *url*."""
        args = [camera.require("ffmpeg"), "-nostdin", "-hide_banner", "-v", "error"]
        if headers:
            args += ["-headers", headers]
        args += ["-i", url, "-frames:v", str(frames), "-f", "null", "-"]
        code, _, err = yield camera.run_player(args, 60)
        return code, err


class LiveHlsTests(LiveTestCase):
    @defer.inlineCallbacks
    def test_a_viewer_plays_the_camera(self):
        answer = yield self.get(LIVE, headers=self.auth())
        self.assertEqual(answer.code, 200, answer)
        self.assertEqual(answer.header(b"content-type"), "application/vnd.apple.mpegurl")
        playlist = answer.data.decode()
        self.assertIn("#EXT-X-INDEPENDENT-SEGMENTS", playlist)
        segments = re.findall(r"^(seg\d+\.ts)$", playlist, re.M)
        self.assertTrue(segments, playlist)
        segment = yield self.get("/live/%s/0/1/%s" % (CAM, segments[-1]), headers=self.auth())
        self.assertEqual((segment.code, segment.header(b"content-type")), (200, "video/mp2t"))
        self.assertEqual(segment.data[:1], b"\x47")  # an MPEG-TS packet
        code, err = yield self.pull(self.url(LIVE).decode(), "Authorization: Bearer %s\r\n" % self.token)
        self.assertEqual(code, 0, err)
        self.assertEqual(self.live.stats.started, 1)
        # pulled through the platform's relay with a relay token (no direct dial of the camera)
        self.assertEqual(self.service.platform.relay_stats.sessions, 1)
        self.assertGreater(self.service.platform.relay_stats.bytes_to_client, 0)
        [took] = self.live.stats.first_segment_seconds
        self.assertLess(took, self.service.config.media.start_timeout)
        status = yield self.get("/live/%s/0/1/status" % CAM, headers=self.auth())
        self.assertEqual(status.json["state"], "live")
        response = yield self.agent.request(b"GET", b"http://127.0.0.1:%d/metrics" % self.port("admin"))
        metrics = (yield readBody(response)).decode()
        for line in ["kandian_live_streams 1.0", "kandian_live_started_total 1.0",
                     'kandian_media_processes_total{event="started"} 1.0']:
            self.assertIn(line, metrics)

    @defer.inlineCallbacks
    def test_the_first_segment_starts_at_the_first_picture(self):
        """What ffmpeg read while probing the stream goes into the first segment (no -fflags nobuffer): it
        begins within one key-frame interval (the camera's: 15 frames, 1 s) of the first packet ffmpeg read.
        Dropping those packets makes it begin at the key frame after the probe, a second or more later,
        and a first viewer wait a whole segment more."""
        answer = yield self.get(LIVE, headers=self.auth())
        self.assertEqual(answer.code, 200, answer)
        first = re.findall(r"^(seg\d+\.ts)$", answer.data.decode(), re.M)[0]
        [packager] = self.live.packagers.values()
        path = os.path.join(packager.directory, first)
        code, out, err = yield camera.run_player(
            [camera.require("ffprobe"), "-v", "error", "-show_entries", "format=start_time", "-of",
             "default=nw=1:nk=1", path], 20)
        self.assertEqual(code, 0, err)
        # ffmpeg's MPEG-TS output starts its clock at 1.4 s (its mux delay); the input's first packet is 0
        start = float(out.decode().strip()) - 1.4
        self.assertGreaterEqual(start, -0.01)
        self.assertLess(start, 1.0)

    @defer.inlineCallbacks
    def test_one_packager_for_many_viewers_stopped_when_they_leave(self):
        answers = yield defer.gatherResults([self.get(LIVE, headers=self.auth()) for _ in range(4)])
        self.assertEqual([a.code for a in answers], [200] * 4)
        self.assertEqual((self.live.stats.started, self.live.running, len(ffmpeg_children())), (1, 1, 1))
        [packager] = self.live.packagers.values()
        directory = packager.directory
        self.assertTrue(os.listdir(directory))
        # nobody asks any more: stopped after idle_timeout, its files gone, no ffmpeg left
        yield eventually(lambda: self.live.running == 0, "idle stop", tries=2000)
        yield eventually(lambda: not ffmpeg_children(), "ffmpeg gone", tries=2000)
        yield eventually(lambda: not os.path.exists(directory), "files gone")
        self.assertEqual(self.live.stats.idle_stopped, 1)
        # a new viewer starts it again
        answer = yield self.get(LIVE, headers=self.auth())
        self.assertEqual(answer.code, 200)
        self.assertEqual(self.live.stats.started, 2)

    @defer.inlineCallbacks
    def test_a_crashed_packager_is_restarted(self):
        answer = yield self.get(LIVE, headers=self.auth())
        self.assertEqual(answer.code, 200)
        [packager] = self.live.packagers.values()
        pid = packager.supervisor.pid
        os.kill(pid, 9)
        yield eventually(lambda: packager.supervisor.pid not in (None, pid), "restarted", tries=2000)
        self.assertEqual(self.live.stats.process.crashes, 1)
        code, err = yield self.pull(self.url(LIVE).decode(), "Authorization: Bearer %s\r\n" % self.token)
        self.assertEqual(code, 0, err)

    @defer.inlineCallbacks
    def test_a_camera_going_offline_ends_the_stream_clearly(self):
        answer = yield self.get(LIVE, headers=self.auth())
        self.assertEqual(answer.code, 200)
        self.link.close()
        yield eventually(lambda: self.live.status(next(iter(self.live.packagers)))["state"] == "offline",
                         "offline state", tries=2000)
        status = yield self.get("/live/%s/0/1/status" % CAM, headers=self.auth())
        self.assertEqual(status.json["state"], "offline")
        answer = yield self.get(LIVE, headers=self.auth())
        self.assertEqual((answer.code, answer.json["error"], answer.json["state"]), (503, "device_offline", "offline"))
        yield eventually(lambda: not ffmpeg_children(), "ffmpeg gone", tries=2000)

    @defer.inlineCallbacks
    def test_the_platform_stopping_leaves_no_ffmpeg(self):
        answer = yield self.get(LIVE, headers=self.auth())
        self.assertEqual(answer.code, 200)
        [pid] = ffmpeg_children()
        yield self.live.stop()
        self.assertFalse(camera.alive(pid))


class LiveAccessTests(LiveTestCase):
    @defer.inlineCallbacks
    def test_who_may_watch(self):
        answer = yield self.get(LIVE)
        self.assertEqual((answer.code, answer.json["error"]), (401, "unauthenticated"))
        other = yield self.user(B)
        answer = yield self.get(LIVE, headers=self.auth(other))
        self.assertEqual((answer.code, answer.json["error"]), (404, "not_found"))
        answer = yield self.get(LIVE, headers=self.auth("forged"))
        self.assertEqual(answer.code, 401)
        ops = yield self.operator("ops", "viewer")
        answer = yield self.get(LIVE, headers=self.auth(ops))
        self.assertEqual(answer.code, 200)
        self.assertEqual(self.live.stats.started, 1)
        for path in ["/live/%s/0/3/index.m3u8" % CAM, "/live/%s/7/1/index.m3u8" % CAM, "/live/../etc/passwd",
                     "/live/%s/0/1/seg1.ts/../../x" % CAM, "/live/%s/0/1/other.txt" % CAM]:
            answer = yield self.get(path, headers=self.auth())
            self.assertEqual(answer.code, 404, path)
        answer = yield self.get("/live/%s/0/1/seg1.ts" % CAM, headers=self.auth())
        self.assertEqual((answer.code, answer.json["error"]), (404, "gone"))

    @defer.inlineCallbacks
    def test_a_signed_url_for_embedding(self):
        from kandian.core.access import Principal

        url = yield self.core.media.live_url(Principal("user", 1, A, "user"), CAM, 0, 1, ttl=300)
        path = url.split("://", 1)[1].split("/", 1)[1]
        answer = yield self.get("/" + path)
        self.assertEqual(answer.code, 200, answer)
        self.assertEqual(answer.header(b"access-control-allow-origin"), "*")
        query = path.partition("?")[2]
        segments = re.findall(r"^seg\d+\.ts\?(.*)$", answer.data.decode(), re.M)
        self.assertTrue(segments and all(s == query for s in segments), answer.data)
        code, err = yield self.pull(self.url("/" + path).decode())
        self.assertEqual(code, 0, err)
        # the signature is this stream's, and expires
        answer = yield self.get("/" + path.replace("/0/1/", "/0/2/"))
        self.assertEqual(answer.code, 401)
        answer = yield self.get("/" + path.replace("sig=", "sig=x"))
        self.assertEqual(answer.code, 401)
        self.clock.advance(300)
        answer = yield self.get("/" + path)
        self.assertEqual(answer.code, 401)
