"""spec/000 end to end: ffmpeg plays mvb's PlayUrl and the API pauses, moves and speeds it up mid-play.

The camera is a simulated device (its link; its §7.5.22 storage) in front of
GStreamer's RTSP server, whose recordings are one real H.264 clip, seekable
(kandian/sim/gst_camera.py ``--recording``).  The player is ffmpeg writing
the MD5 of every decoded frame (``-f framemd5``): what it shows is compared
with the clip's own frames, so a pause that really paused the camera, a new
position and the first PLAY's start offset are seen in the pictures
themselves.  The live stream is checked with ffprobe.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

from twisted.internet import defer, error, protocol, reactor, task
from twisted.internet.endpoints import TCP4ServerEndpoint

from kandian.cloudmonitor import STORAGE as PLAYER
from kandian.mvb import codec
from kandian.playurl import parse_play_url
from kandian.sim.camera import camera_front
from kandian.sim.link import connect_device
from kandian.sim.state import Addresses, DeviceState

from . import camera
from .mcu_helpers import PASSWORD
from .test_cloudmonitor_records import a_run
from .test_device_integration import eventually
from .test_mvb import FILES, ON, MvbTestCase

A = "13800000001"
CAM = "81100000001"
FPS = 25
_clip: dict = {}


def clip() -> defer.Deferred:
    """(path, [frame MD5]) of a 60 s 320x240 test clip, a key frame a second; made once."""
    if _clip:
        return defer.succeed((_clip["path"], _clip["md5"]))
    where = tempfile.mkdtemp(prefix="kandian-mvb-clip-")
    atexit.register(shutil.rmtree, where, True)
    path = os.path.join(where, "clip.mp4")
    ffmpeg = camera.require("ffmpeg")

    @defer.inlineCallbacks
    def make():
        code, _, err = yield camera.run_player(
            [ffmpeg, "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=%d" % FPS,
             "-t", "60", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-profile:v", "baseline", "-g", str(FPS),
             "-movflags", "+faststart", path], 120)
        assert code == 0, err
        code, out, err = yield camera.run_player(
            [ffmpeg, "-nostdin", "-v", "error", "-i", path, "-f", "framemd5", "-"], 120)
        assert code == 0, err
        _clip.update(path=path, md5=md5s(out))
        return path, _clip["md5"]
    return make()


def md5s(out: bytes) -> list[str]:
    return [line.rsplit(b",", 1)[1].strip().decode() for line in out.splitlines()
            if line and not line.startswith(b"#")]


class FramePlayer(protocol.ProcessProtocol):
    """ffmpeg playing a URL and printing each decoded frame's MD5 as it comes."""

    def __init__(self):
        self.buffer = b""
        self.frames: list[str] = []
        self.err = b""
        self.ended: defer.Deferred = defer.Deferred()

    def outReceived(self, data):
        self.buffer += data
        *lines, self.buffer = self.buffer.split(b"\n")
        self.frames += md5s(b"\n".join(lines))

    def errReceived(self, data):
        self.err += data

    def processEnded(self, reason):
        self.ended.callback(getattr(reason.value, "exitCode", None))

    @classmethod
    def start(cls, testcase, url: str):
        player = cls()
        args = [camera.require("ffmpeg"), "-nostdin", "-v", "error", "-rtsp_transport", "tcp",
                "-timeout", "10000000", "-i", url, "-map", "0:v", "-fps_mode", "passthrough", "-f", "framemd5", "-"]
        reactor.spawnProcess(player, args[0], args, env=dict(os.environ))

        def stop():
            if not player.ended.called:
                try:
                    player.transport.signalProcess("KILL")
                except error.ProcessExitedAlready:
                    pass
            return player.ended
        testcase.addCleanup(stop)
        return player

    @defer.inlineCallbacks
    def wait_frames(self, count: int, timeout: float = 30):
        for _ in range(int(timeout * 20)):
            if len(self.frames) >= count:
                return
            if self.ended.called:
                break
            yield task.deferLater(reactor, 0.05, lambda: None)
        raise AssertionError("ffmpeg showed %d frames, not %d:\n%s" % (len(self.frames), count,
                                                                       self.err.decode("utf-8", "replace")))


def sleep(seconds: float) -> defer.Deferred:
    return task.deferLater(reactor, seconds, lambda: None)


def runs(received: list[str], reference: list[str]) -> list[tuple[int, int]]:
    """(index in the clip, length) of each run of consecutive clip frames in *received*
    (frames not in the clip — decoded without their key frame — end a run)."""
    where = {md5: n for n, md5 in enumerate(reference)}
    found: list[tuple[int, int]] = []
    for md5 in received:
        n = where.get(md5)
        if n is None:
            continue
        if found and found[-1][0] + found[-1][1] == n:
            found[-1] = (found[-1][0], found[-1][1] + 1)
        else:
            found.append((n, 1))
    return found


class EndToEndTests(MvbTestCase):
    settings = {"mvb": ON, "rtsp": "media_timeout = 30\n", "media": FILES}

    @defer.inlineCallbacks
    def setUp(self):
        path, self.reference = yield clip()
        yield super(MvbTestCase, self).setUp()  # the camera comes from here, with its media source
        media = yield camera.start_camera(self, width=320, height=240, fps=15, bitrate=500, recording=path)
        front = camera_front(reactor, None, media.url, recording_url=media.base + "/record")
        port = yield TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(front)
        self.addCleanup(port.stopListening)
        self.addCleanup(lambda: [s.close("test over") for s in list(front.sessions)])
        yield self.devices.add(CAM, "key", channels=1)
        state = DeviceState(CAM, "key", addresses=Addresses(LocalIP="127.0.0.1", RtspLocalPort=port.getHost().port))
        self.link = yield connect_device(reactor, ("127.0.0.1", self.port("device")), state, clock=self.sim_clock)
        self.addCleanup(self.link.close)
        yield self.link.logged_in()
        yield self.link.report_ability()
        yield eventually(lambda: self.online(CAM), "online")
        front.authorizer.link = self.link
        yield self.users.add(A, PASSWORD, 4)
        yield self.bind(A, CAM)
        self.sessions = self.service.platform.core.play_sessions

    @defer.inlineCallbacks
    def steer(self, action: str, session: str, *extra: tuple[str, str]):
        body = codec.encode_request([("RequestID", "7"), ("session", session), *extra], "GB2312")
        _, answer, _ = yield self.call(action, body)
        self.assertEqual((answer.status, answer.session), (0, session), (action, answer))

    @defer.inlineCallbacks
    def test_a_recording_starts_at_begintime_pauses_moves_and_speeds_up(self):
        # the device's file of 18:00 (15 minutes, the clip) from 18:00:10
        _, answer, _ = yield self.call("play", self.play_body(BeginTime="2026-11-18T18:00:10",
                                                              EndTime="2026-11-18T18:15:00"))
        self.assertEqual(answer.status, 0, answer)
        self.assertEqual(parse_play_url(answer.play_url).file_name, CAM + "_0_20261118180000.mp4")
        session = answer.session
        player = FramePlayer.start(self, answer.play_url)
        yield player.wait_frames(40)
        [(start, length), *_] = runs(player.frames, self.reference)
        self.assertTrue(9 * FPS <= start <= 10 * FPS, start)  # from the key frame at or before 10 s
        self.assertGreaterEqual(length, 30)

        # pause: nothing reaches the player, and the camera itself stops (the pictures go on where they were)
        yield self.steer("pauseplay", session)
        stats = self.service.platform.relay_stats
        sent, held = stats.bytes_to_client, stats.bytes_held
        shown = len(player.frames)
        yield sleep(1.5)
        self.assertEqual(stats.bytes_to_client, sent)
        self.assertLess(stats.bytes_held - held, 32 * 1024)  # at most what was under way as it paused
        yield self.steer("resumeplay", session)
        yield player.wait_frames(shown + 40)
        self.assertEqual(len(runs(player.frames, self.reference)), 1, runs(player.frames, self.reference))

        # a new position: 18:00:40, 40 s into the file
        yield self.steer("changeplayposition", session, ("BeginTime", "2026-11-18T18:00:40"))
        shown = len(player.frames)
        yield player.wait_frames(shown + 60)
        last_start, last_length = runs(player.frames[shown:], self.reference)[-1]
        self.assertTrue(39 * FPS <= last_start <= 41 * FPS + 10, last_start)
        self.assertGreaterEqual(last_length, 30)

        # twice as fast: the camera says so, and goes on showing the clip
        yield self.steer("changespeed", session, ("Speed", "2.0"))
        session_state = self.sessions.get(int(session))
        answer = session_state.steering.last_answer
        self.assertEqual(float(answer.get("Scale", "1")) * float(answer.get("Speed", "1")), 2.0, answer)
        shown = len(player.frames)
        yield player.wait_frames(shown + 40)
        self.assertGreaterEqual(runs(player.frames[shown:], self.reference)[-1][1], 20)

        # stopplay ends the player's stream, and the URL is spent
        yield self.steer("stopplay", session)
        code = yield player.ended
        self.assertIsNotNone(code)
        probe = yield camera.ffprobe(session_state.url)
        self.assertIn("401", probe.stderr)

    @defer.inlineCallbacks
    def test_live_plays_and_pauses(self):
        _, answer, _ = yield self.call("play", self.play_body())
        probe = yield camera.ffprobe(answer.play_url)
        self.assertEqual(probe.code, 0, probe.stderr)
        [video] = [s for s in probe.info["streams"] if s["codec_type"] == "video"]
        self.assertEqual((video["codec_name"], video["width"], video["height"]), ("h264", 320, 240))
        # the player left: the session ended with it
        yield eventually(lambda: self.sessions.get(int(answer.session)).ended, "ended")

        _, answer, _ = yield self.call("play", self.play_body())
        player = FramePlayer.start(self, answer.play_url)
        yield player.wait_frames(20)
        yield self.steer("pauseplay", answer.session)
        stats = self.service.platform.relay_stats
        sent = stats.bytes_to_client
        yield sleep(1.0)
        self.assertEqual(stats.bytes_to_client, sent)
        shown = len(player.frames)
        yield self.steer("resumeplay", answer.session)
        yield player.wait_frames(shown + 20)



class PlatformRecordingTests(MvbTestCase):
    """A recording the platform made plays through the relay from the platform's own file server — the
    camera may be offline — and pauses, moves and speeds up like the camera's own recordings."""

    timeout = 180

    @defer.inlineCallbacks
    def setUp(self):
        self.root = os.path.abspath(self.mktemp())
        self.settings = {"mvb": ON, "media": FILES, "files": "root = %s\n" % self.root,
                         "rtsp": "media_timeout = 30\n"}
        yield super(MvbTestCase, self).setUp()
        yield self.camera(CAM, online=False)
        yield self.users.add(A, PASSWORD, 4)
        yield self.bind(A, CAM)
        self.ids = yield a_run(self, CAM, 0, pieces=3)  # 4 + 4 + 2 s, an hour ago
        self.sessions = self.service.platform.core.play_sessions
        concat = os.path.join(os.path.abspath(self.mktemp()) + ".txt")
        recordings = self.service.platform.core.recordings
        with open(concat, "w") as f:
            for rid in self.ids:
                row = yield recordings.get(PLAYER, rid)
                f.write("file '%s'\n" % recordings.media_path(row))
        code, out, err = yield camera.run_player([camera.require("ffmpeg"), "-nostdin", "-v", "error", "-f", "concat",
                                                  "-safe", "0", "-i", concat, "-f", "framemd5", "-"], 60)
        self.assertEqual(code, 0, err)
        self.reference = md5s(out)
        first = yield recordings.get(PLAYER, self.ids[0])
        self.started = first.started_at

    def when(self, seconds: float) -> str:
        return codec.format_when(self.started + seconds, self.service.config.platform.timezone)

    steer = EndToEndTests.steer

    @defer.inlineCallbacks
    def test_plays_pauses_moves_speeds_up_with_the_camera_offline(self):
        body = codec.encode_request([("RequestID", "1"), ("DeviceID", CAM), ("DeviceChn", "0"), ("DeviceUser", A),
                                     ("DevicePass", PASSWORD), ("BeginTime", self.when(5)),
                                     ("EndTime", self.when(20))], "GB2312")
        _, answer, _ = yield self.call("play", body)
        self.assertEqual(answer.status, 0, answer)
        self.assertEqual(parse_play_url(answer.play_url).file_name, "platform:%d" % self.ids[1])
        session = answer.session
        player = FramePlayer.start(self, answer.play_url)
        yield player.wait_frames(20)
        [(start, _), *_] = runs(player.frames, self.reference)
        self.assertTrue(4 * FPS <= start <= 5 * FPS, start)  # the key frame at or before 5 s of the run

        yield self.steer("pauseplay", session)
        stats = self.service.platform.relay_stats
        sent, shown = stats.bytes_to_client, runs(player.frames, self.reference)[-1]
        yield sleep(1.5)
        self.assertEqual(stats.bytes_to_client, sent)
        yield self.steer("resumeplay", session)
        yield player.wait_frames(len(player.frames) + 10)
        found = runs(player.frames, self.reference)
        resumed = found[-1]
        # the frames under way as it paused reach the player on resume (kandian.rtsp.relay's hold)
        last_shown = max((n + length for n, length in found[:-1]), default=resumed[0])
        stopped_at = shown[0] + shown[1]
        # had the file server not paused, the player would be given a second and a half more on resume
        self.assertLessEqual(last_shown, stopped_at + FPS // 2, found)
        # it goes on from a key frame at or before the last frame shown: not a frame skipped
        self.assertTrue(stopped_at - 2 * FPS <= resumed[0] <= last_shown, (shown, found))

        yield self.steer("changeplayposition", session, ("BeginTime", self.when(9)))
        shown = len(player.frames)
        yield player.wait_frames(shown + 10)
        moved = runs(player.frames[shown:], self.reference)[-1][0]
        self.assertTrue(8 * FPS <= moved <= 9 * FPS, moved)

        yield self.steer("changespeed", session, ("Speed", "2.0"))
        steering = self.sessions.get(int(session)).steering
        self.assertEqual(steering.last_answer.get("Scale"), "2.000")
        yield self.steer("stopplay", session)
        yield player.ended
