"""Live video through the platform with real software on both ends.

The camera is a simulated device (its link to the platform) in front of a
real RTSP server (GStreamer, kandian/sim/gst_camera.py) — the device checks
each hashtoken with the platform over its link before it streams, as §7.5.5
asks.  The player is ffprobe/ffmpeg.  The URL comes from VideoPlay over SOAP.
"""

import json

from twisted.internet import defer, reactor
from twisted.internet.endpoints import TCP4ServerEndpoint

from kandian.sim.camera import camera_front
from kandian.sim.link import connect_device
from kandian.sim.state import Addresses, DeviceState

from . import camera
from .mcu_helpers import McuTestCase
from .test_device_integration import eventually

A = "13800000001"
CAM = "81100000001"


def ffprobe(url):
    """(exit code, JSON or stderr) of ffprobe over RTP/TCP."""
    return camera.ffprobe(url).addCallback(
        lambda r: (r.code, json.dumps(r.info) if r.code == 0 else r.stderr))


def ffmpeg_frames(url, frames=25):
    return camera.ffmpeg_pull(url, frames=frames).addCallback(lambda r: (r.code, r.stderr))


class LiveVideoTests(McuTestCase):
    @defer.inlineCallbacks
    def setUp(self):
        yield super().setUp()
        media = yield camera.start_camera(self, width=320, height=240, fps=15, bitrate=500)
        front = camera_front(reactor, None, media.url)
        port = yield TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(front)
        self.addCleanup(port.stopListening)
        self.addCleanup(lambda: [s.close("test over") for s in list(front.sessions)])
        yield self.devices.add(CAM, "key", channels=1)
        state = DeviceState(CAM, "key", addresses=Addresses(LocalIP="127.0.0.1",
                                                            RtspLocalPort=port.getHost().port))
        self.link = yield connect_device(reactor, ("127.0.0.1", self.port("device")), state, clock=self.sim_clock)
        self.addCleanup(self.link.close)
        yield self.link.logged_in()
        yield self.link.report_ability()
        front.authorizer.link = self.link
        self.session = yield self.user(A)
        yield self.bind(A, CAM)

    @defer.inlineCallbacks
    def video_play(self):
        answer = yield self.soap.VideoPlay(Account=A, LoginSession=self.session, DevID=CAM, ChannelNo=0,
                                           StreamType=2)
        self.assertEqual(answer["Result"], 0)
        return answer

    @defer.inlineCallbacks
    def test_ffprobe_sees_h264_through_the_relay(self):
        answer = yield self.video_play()
        code, output = yield ffprobe(answer["RelayPlayUrl"])
        self.assertEqual(code, 0, output)
        [video] = [s for s in json.loads(output)["streams"] if s["codec_type"] == "video"]
        self.assertEqual((video["codec_name"], video["width"], video["height"]), ("h264", 320, 240))
        self.assertGreater(self.service.platform.relay_stats.bytes_to_client, 0)

    @defer.inlineCallbacks
    def test_ffmpeg_pulls_frames_through_the_relay(self):
        answer = yield self.video_play()
        code, output = yield ffmpeg_frames(answer["RelayPlayUrl"])
        self.assertEqual(code, 0, output)
        yield eventually(lambda: self.service.platform.relay_stats.active == 0, "session ended")

    @defer.inlineCallbacks
    def test_the_device_checks_its_own_url_with_the_platform(self):
        answer = yield self.video_play()
        code, output = yield ffprobe(answer["LocalPlayUrl"])
        self.assertEqual(code, 0, output)
        code, output = yield ffprobe(answer["LocalPlayUrl"])
        self.assertNotEqual(code, 0)
        self.assertIn("401", output)

    @defer.inlineCallbacks
    def test_replayed_expired_and_forged_tokens_get_401(self):
        answer = yield self.video_play()
        url = answer["RelayPlayUrl"]
        code, output = yield ffprobe(url)
        self.assertEqual(code, 0, output)
        code, output = yield ffprobe(url)
        self.assertIn("401", output)

        answer = yield self.video_play()
        self.clock.advance(60)
        code, output = yield ffprobe(answer["RelayPlayUrl"])
        self.assertIn("401", output)

        head, _, _ = answer["RelayPlayUrl"].rpartition("hashtoken=")
        code, output = yield ffprobe(head + "hashtoken=" + "0" * 32)
        self.assertIn("401", output)
        refusals = self.service.platform.relay_stats.refusals
        self.assertEqual(sum(n for (status, _), n in refusals.items() if status == 401), 3)

    @defer.inlineCallbacks
    def test_another_device_or_channel_401_and_offline_503(self):
        """The token is checked first: one issued for another stream is 401
        whether or not the named device or channel exists (no enumeration)."""
        answer = yield self.video_play()
        url = answer["RelayPlayUrl"]
        for wrong in [url.replace("devid=" + CAM, "devid=81199999999"), url.replace("channelno=0", "channelno=7")]:
            code, output = yield ffprobe(wrong)
            self.assertIn("401", output)
        self.link.close()
        yield eventually(lambda: not self.service.platform.links.online(CAM), "offline")
        code, output = yield ffprobe(url)
        self.assertIn("503", output)
