"""Platform recording end to end: the recorder in the running platform records a GStreamer camera behind a
simulated device (and a stream proxy channel) through the platform's own relay, by the schedules set over
the REST API; real players check what it wrote (ffprobe on the pieces, on the signed VOD playlist).

The domain clock is a task.Clock: a window set around its "now" is in progress (recording starts at
once, no clock moves), and advancing the clock to the window's end stops the recording.  ffmpeg cuts
real pieces of ``[media] segment_seconds = 2`` meanwhile, on the real reactor.
"""

import datetime
import json
import os
import signal

from twisted.internet import defer, reactor
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.web.client import readBody

from kandian.core.recordings import RECORDING_FAILED
from kandian.sim.camera import camera_front
from kandian.sim.link import connect_device
from kandian.sim.state import Addresses, DeviceState

from . import camera
from .portal_helpers import PortalTestCase
from .test_device_integration import eventually
from .test_media_live import ffmpeg_children

A = "13800000001"
CAM = "81100000001"
SEGMENT = 2  # [media] segment_seconds in these tests
ENDS_IN = 5  # the window ends this many seconds of the domain clock after "now"
WAIT = 6000  # eventually() tries (10 ms each): a minute


class RecorderTestCase(PortalTestCase):
    timeout = 240
    media_settings = ""
    rtsp_settings = ""
    device = True  # the camera behind a simulated device (else: only its RTSP server, for a proxy)
    online_at_start = True
    ends_in = ENDS_IN

    @defer.inlineCallbacks
    def setUp(self):
        self.root = os.path.abspath(self.mktemp())
        self.settings = {"files": "root = %s\n" % self.root,
                         "media": "segment_seconds = %d\n%s" % (SEGMENT, self.media_settings),
                         "rtsp": self.rtsp_settings}
        yield super().setUp()
        self.platform = self.service.platform
        self.recorder = self.platform.recorder
        self.layout = self.core.recordings.layout
        self.media = yield camera.start_camera(self, width=320, height=240, fps=15, bitrate=400)
        if self.device:
            self.owner = yield self.user(A)
            yield self.attach_camera(online=self.online_at_start)
        self.addCleanup(self.no_ffmpeg_left)

    @defer.inlineCallbacks
    def attach_camera(self, online=True):
        """CAM (owned by A) with its RTSP front on the camera; its simulated device's link when *online*."""
        if not hasattr(self, "front"):
            self.front = camera_front(reactor, None, self.media.url)
            port = yield TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(self.front)
            self.front_port = port.getHost().port
            self.addCleanup(port.stopListening)
            self.addCleanup(lambda: [s.close("test over") for s in list(self.front.sessions)])
            yield self.camera(CAM, owner=A, online=False)
        if online:
            state = DeviceState(CAM, "key", addresses=Addresses(LocalIP="127.0.0.1", RtspLocalPort=self.front_port))
            self.link = yield connect_device(reactor, ("127.0.0.1", self.port("device")), state, clock=self.sim_clock)
            self.addCleanup(self.link.close)
            yield self.link.logged_in()
            yield self.link.report_ability()
            yield eventually(lambda: self.online(CAM), "online")
            self.front.authorizer.link = self.link

    @defer.inlineCallbacks
    def no_ffmpeg_left(self):
        yield self.recorder.stop()
        self.assertEqual(ffmpeg_children(), [])

    def window(self, ends_in=None):
        """A window of today that began a minute ago and ends *ends_in* s from now (domain clock)."""
        ends_in = self.ends_in if ends_in is None else ends_in
        moment = datetime.datetime.fromtimestamp(self.clock.seconds(), self.service.config.platform.timezone)
        now = moment.hour * 3600 + moment.minute * 60 + moment.second
        self.assertTrue(60 <= now < 86399 - ends_in, moment)  # the test's clock is not near midnight
        return {"weekday": (moment.weekday() + 1) % 7, "start": _hms(now - 60), "duration": 60 + ends_in}

    @defer.inlineCallbacks
    def schedule(self, token, dev_id=CAM, channel_no=0):
        answer = yield self.post("/api/v1/devices/%s/channels/%d/schedules" % (dev_id, channel_no), self.window(),
                                 token)
        self.assertEqual(answer.code, 201, answer)
        return answer.json

    @defer.inlineCallbacks
    def rows(self, dev_id=CAM):
        """The recording rows of *dev_id*, by run and piece."""
        rows = yield self.db.runQuery(
            "SELECT recording_id, run_id, seq, complete, path, snapshot, duration, size FROM recording"
            " WHERE dev_id = %s ORDER BY run_id, seq", (dev_id,))
        return [dict(zip(("id", "run_id", "seq", "complete", "path", "snapshot", "duration", "size"), r))
                for r in rows]

    def complete(self, count, dev_id=CAM):
        """Fires with the rows once *count* pieces are complete."""
        def enough():
            return self.rows(dev_id).addCallback(
                lambda rows: rows if sum(r["complete"] for r in rows) >= count else None)
        return eventually(enough, "%d pieces complete" % count, tries=WAIT)

    def ended(self):
        """The window's end on the domain clock."""
        self.clock.advance(self.ends_in)
        return self.stopped()

    @defer.inlineCallbacks
    def stopped(self):
        """Once no channel records any more, no ffmpeg is left and the last pieces are closed."""
        yield eventually(lambda: self.recorder.active == 0 and not ffmpeg_children(), "recording stopped",
                         tries=WAIT)
        yield self.recorder.settled()

    @defer.inlineCallbacks
    def check_piece(self, row):
        """ffprobe reads the piece on disk: the camera's H.264, about SEGMENT s; its snapshot is a JPEG."""
        probe = yield camera.ffprobe(self.layout.absolute(row["path"]))
        self.assertEqual(probe.code, 0, probe.stderr)
        [video] = [s for s in probe.info["streams"] if s["codec_type"] == "video"]
        self.assertEqual((video["codec_name"], video["width"], video["height"]), ("h264", 320, 240))
        self.assertTrue(0 < row["duration"] < SEGMENT * 3, row)
        self.assertEqual(row["size"], os.path.getsize(self.layout.absolute(row["path"])))
        with open(self.layout.absolute(row["snapshot"]), "rb") as f:
            self.assertEqual(f.read(3), b"\xff\xd8\xff")

    @defer.inlineCallbacks
    def vod_seconds(self, token, recording_id):
        """ffprobe on the signed VOD playlist of *recording_id*'s run: (its duration, video packets read)."""
        session = yield self.core.api_auth.session(token)
        url = yield self.core.recordings.vod_url(session.principal, recording_id)
        code, out, err = yield camera.run_player(
            [camera.require("ffprobe"), "-v", "error", "-count_packets", "-select_streams", "v:0",
             "-show_entries", "stream=nb_read_packets,codec_name:format=duration", "-of", "json", url], 60)
        self.assertEqual(code, 0, err)
        info = json.loads(out)
        [stream] = info["streams"]
        self.assertEqual(stream["codec_name"], "h264")
        return float(info["format"]["duration"]), int(stream["nb_read_packets"])

    @defer.inlineCallbacks
    def metrics(self):
        response = yield self.agent.request(b"GET", b"http://127.0.0.1:%d/metrics" % self.port("admin"))
        return (yield readBody(response)).decode()

    @defer.inlineCallbacks
    def exceptions(self, token):
        answer = yield self.get("/api/v1/devices/%s/exceptions" % CAM, token)
        self.assertEqual(answer.code, 200, answer)
        return [e for e in answer.json["items"] if e["exception_type"] == RECORDING_FAILED]


def _hms(seconds):
    return "%02d:%02d:%02d" % (seconds // 3600, seconds // 60 % 60, seconds % 60)


class RecordingTests(RecorderTestCase):
    @defer.inlineCallbacks
    def test_a_window_in_progress_records_at_once_until_its_end(self):
        made = yield self.schedule(self.owner)
        # at once, without the clock moving: a piece being written is listed
        listed = yield eventually(lambda: self.get("/api/v1/recordings?devid=%s&channel=0" % CAM, self.owner)
                                  .addCallback(lambda a: a.json["items"]), "a piece listed", tries=WAIT)
        self.assertEqual([(r["complete"], r["schedule_id"], r["stream_type"]) for r in listed],
                         [(False, made["id"], 1)])
        self.assertEqual((self.recorder.active, len(ffmpeg_children())), (1, 1))
        # pieces close one after another: complete, indexed, each with its snapshot, the next one begun
        rows = yield self.complete(3)
        [writing] = [r for r in rows if not r["complete"]]
        self.assertEqual(writing["seq"], max(r["seq"] for r in rows))
        for row in rows:
            if row["complete"]:
                yield self.check_piece(row)
        listed = yield self.get("/api/v1/recordings?devid=%s" % CAM, self.owner)
        first = listed.json["items"][-1]
        self.assertTrue(first["complete"] and first["snapshot"] and first["vod"], first)
        snapshot = yield self.get(first["snapshot"], self.owner)
        self.assertEqual((snapshot.code, snapshot.data[:3]), (200, b"\xff\xd8\xff"))

        # the window's end: ffmpeg stops (SIGTERM), the last piece is finished and closed
        yield self.ended()
        rows = yield self.rows()
        self.assertTrue(rows and all(r["complete"] for r in rows), rows)
        self.assertEqual({r["run_id"] for r in rows}, {rows[0]["id"]})
        self.assertEqual([r["seq"] for r in rows], list(range(len(rows))))
        for row in rows:
            yield self.check_piece(row)
        self.assertEqual((self.recorder.stats.pieces, self.recorder.stats.runs), (len(rows), 1))
        self.assertEqual(self.recorder.stats.process.killed, 0)  # it stopped on SIGTERM
        # the VOD playlist spans the run: a player reads every piece
        duration, packets = yield self.vod_seconds(self.owner, rows[0]["id"])
        recorded = sum(r["duration"] for r in rows)
        self.assertLess(abs(duration - recorded), 1.0, (duration, recorded))
        self.assertLess(abs(packets - recorded * 15), 20, (packets, recorded))
        metrics = yield self.metrics()
        for line in ["kandian_recordings_active 0.0", "kandian_recording_runs_total 1.0",
                     "kandian_recording_pieces_total %d.0" % len(rows),
                     'kandian_recording_processes_total{event="started"} 1.0']:
            self.assertIn(line, metrics)
        # outside the window nothing starts again
        yield self.recorder.plan()
        self.assertEqual((self.recorder.active, self.recorder.stats.process.started), (0, 1))

    @defer.inlineCallbacks
    def test_a_crashed_ffmpeg_is_a_new_run(self):
        yield self.schedule(self.owner)
        yield self.complete(1)
        [channel] = self.recorder.channels.values()
        pid = channel.supervisor.pid
        os.kill(pid, signal.SIGKILL)
        yield eventually(lambda: channel.supervisor.pid not in (None, pid), "restarted", tries=WAIT)

        def two_runs():
            return self.rows().addCallback(
                lambda rows: rows if any(r["complete"] and r["run_id"] != rows[0]["run_id"] for r in rows) else None)
        yield eventually(two_runs, "a piece of the second run", tries=WAIT)
        yield self.ended()
        rows = yield self.rows()
        self.assertEqual(len({r["run_id"] for r in rows}), 2)
        self.assertTrue(all(r["complete"] for r in rows), rows)
        self.assertEqual((self.recorder.stats.runs, self.recorder.stats.process.crashes), (2, 1))

    @defer.inlineCallbacks
    def test_the_platform_stopping_closes_the_piece_being_written(self):
        yield self.schedule(self.owner)
        yield self.complete(1)
        [pid] = ffmpeg_children()
        yield self.recorder.stop()
        self.assertFalse(camera.alive(pid))
        rows = yield self.rows()
        self.assertTrue(rows and all(r["complete"] for r in rows), rows)


class DiskFullTests(RecorderTestCase):
    @defer.inlineCallbacks
    def test_free_space_under_min_free_stops_cleanly_with_an_exception_row(self):
        ops = yield self.operator("ops", "viewer")
        yield self.schedule(self.owner)
        yield self.complete(1)
        # the disk fills up: less free space under [files] root than [media] min_free (checked before each piece)
        stat = os.statvfs(self.root)
        self.recorder.min_free = stat.f_bavail * stat.f_frsize + 2**40
        yield eventually(lambda: self.recorder.active == 0 and not ffmpeg_children(), "recording stopped",
                         tries=WAIT)
        [row] = yield eventually(lambda: self.exceptions(ops), "an exception row", tries=WAIT)
        self.assertEqual(row["channel_no"], 0)
        self.assertIn("platform recording stopped:", row["desc"])
        self.assertIn("min_free", row["desc"])
        self.assertEqual(self.recorder.stats.failures, 1)
        # what was written is kept, closed, whole
        yield self.recorder.channels[(CAM, 0)].done
        rows = yield self.rows()
        self.assertTrue(rows and all(r["complete"] for r in rows), rows)
        for row in rows:
            yield self.check_piece(row)
        # not started again for the rest of its window, even with space back
        self.recorder.min_free = 0
        yield self.recorder.plan()
        self.assertEqual((self.recorder.active, self.recorder.stats.process.started), (0, 1))
        self.assertEqual(self.recorder.stats.process.killed, 0)
        metrics = yield self.metrics()
        self.assertIn("kandian_recording_failures_total 1.0", metrics)


class FullAtTheStartTests(RecorderTestCase):
    media_settings = "min_free = 1000000T\n"

    @defer.inlineCallbacks
    def test_no_ffmpeg_no_piece_one_exception_row(self):
        ops = yield self.operator("ops", "viewer")
        yield self.schedule(self.owner)
        [row] = yield eventually(lambda: self.exceptions(ops), "an exception row", tries=WAIT)
        self.assertIn("min_free", row["desc"])
        self.assertEqual(self.recorder.stats.process.started, 0)
        self.assertEqual((yield self.rows()), [])
        # the resync every minute does not try again within the window (nor add rows)
        yield self.recorder.plan()
        self.assertEqual((self.recorder.stats.process.started, self.recorder.stats.failures), (0, 1))
        self.assertEqual(len((yield self.exceptions(ops))), 1)


class ProxyRecordingTests(RecorderTestCase):
    device = False

    @defer.inlineCallbacks
    def test_a_stream_proxy_is_recorded_like_a_camera(self):
        admin = yield self.operator("admin")
        answer = yield self.post("/api/v1/proxies", {"url": self.media.url, "name": "门口"}, token=admin)
        self.assertEqual(answer.code, 201, answer)
        dev_id = answer.json["dev_id"]
        yield self.schedule(admin, dev_id=dev_id)
        rows = yield self.complete(2, dev_id=dev_id)
        yield self.ended()
        rows = yield self.rows(dev_id)
        self.assertTrue(len(rows) >= 2 and all(r["complete"] for r in rows), rows)
        for row in rows:
            yield self.check_piece(row)
            self.assertTrue(row["path"].startswith("recordings/%s/0/" % dev_id), row)
        duration, _ = yield self.vod_seconds(admin, rows[0]["id"])
        recorded = sum(r["duration"] for r in rows)
        self.assertLess(abs(duration - recorded), 1.0, (duration, recorded))


class PastThePerAddressCapTests(RecorderTestCase):
    """Every channel is pulled through this node's relay from loopback: the relay's per-address cap
    (1 here, 32 by default) does not bound how many channels the node records."""

    rtsp_settings = "max_connections_per_address = 1\n"

    @defer.inlineCallbacks
    def test_two_channels_record_at_once_past_a_per_address_cap_of_one(self):
        yield self.schedule(self.owner)
        admin = yield self.operator("admin")
        answer = yield self.post("/api/v1/proxies", {"url": self.media.url, "name": "门口"}, token=admin)
        self.assertEqual(answer.code, 201, answer)
        proxy = answer.json["dev_id"]
        yield self.schedule(admin, dev_id=proxy)
        yield self.complete(2)
        yield self.complete(2, dev_id=proxy)
        self.assertEqual((self.recorder.active, self.recorder.stats.process.crashes), (2, 0))
        self.assertEqual(self.platform.listener_limits["rtsp"].refused, {})
        yield self.ended()
        for dev_id in (CAM, proxy):
            rows = yield self.rows(dev_id)
            self.assertEqual({r["run_id"] for r in rows}, {rows[0]["id"]}, dev_id)  # one run: never restarted


class OfflineAtTheStartTests(RecorderTestCase):
    online_at_start = False
    ends_in = 600

    @defer.inlineCallbacks
    def test_recorded_from_the_resync_after_the_camera_comes_online(self):
        yield self.schedule(self.owner)
        yield self.recorder.plan()
        self.assertEqual((self.recorder.channels, self.recorder.stats.process.started), ({}, 0))
        yield self.attach_camera()
        self.clock.advance(self.recorder.resync)
        yield self.complete(1)
        rows = yield self.rows()
        yield self.check_piece([r for r in rows if r["complete"]][0])
        self.assertEqual(self.recorder.stats.process.started, 1)
