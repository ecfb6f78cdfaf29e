"""Recording schedules and recordings over the REST API against the running platform (real PostgreSQL),
played back by real clients: ffmpeg/ffprobe read the VOD playlist and the MP4 over HTTP; and
``kandianctl recording list|delete`` as a child process."""

import os

from twisted.internet import defer

from kandian.core.recordings import RecordingLayout

from . import camera, procs
from .portal_helpers import PortalTestCase
from .test_ctl import kandianctl
from .test_device_integration import eventually
from .test_media_vod import record_pieces
from .test_twistd import write_config

A, B = "13800000001", "13800000002"
CAM, CAM2 = "81100000001", "81200000002"


class RecordingApiTestCase(PortalTestCase):
    timeout = 180

    @defer.inlineCallbacks
    def setUp(self):
        self.root = os.path.abspath(self.mktemp())
        self.settings = {"files": "root = %s\n" % self.root, "media": "retention_days = 2\n"}
        yield super().setUp()
        self.recordings = self.core.recordings

    @defer.inlineCallbacks
    def a_run(self, dev_id=CAM, pieces=3, started=None, close_last=True):
        """Pieces recorded as the recorder records them (ffmpeg's segment muxer), begun and closed."""
        started = self.clock.seconds() if started is None else started
        folder, listed = yield record_pieces(self, seconds=4 * pieces - 2, segment=4)
        pattern = self.recordings.run_pattern(dev_id, 0, started)
        os.makedirs(os.path.dirname(self.recordings.layout.absolute(pattern)), exist_ok=True)
        ids, run_id = [], None
        for seq, (name, start, end) in enumerate(listed):
            path = pattern % seq
            os.replace(os.path.join(folder, name), self.recordings.layout.absolute(path))
            rid = yield self.recordings.begin(dev_id, 0, 1, None, run_id, seq, path, started + float(start))
            run_id = run_id or rid
            if seq < len(listed) - 1 or close_last:
                yield self.recordings.close(rid, path, started + float(start), float(end) - float(start))
            ids.append(rid)
        return ids


class ScheduleApiTests(RecordingApiTestCase):
    @defer.inlineCallbacks
    def test_add_list_get_delete_with_spec_002_rules(self):
        owner = yield self.user(A)
        looker = yield self.user(B)
        yield self.camera(CAM, owner=A, online=False, channels=2)
        yield self.bind(B, CAM, share_flag=1, control=False)
        base = "/api/v1/devices/%s/channels/1/schedules" % CAM
        made = yield self.post(base, {"weekday": 3, "start": "10:30:30", "duration": 3600}, owner)
        self.assertEqual(made.code, 201, made)
        body = made.json
        self.assertEqual({k: body[k] for k in ("dev_id", "channel_no", "weekday", "start", "duration", "end")},
                         {"dev_id": CAM, "channel_no": 1, "weekday": 3, "start": "10:30:30", "duration": 3600,
                          "end": "11:30:30"})
        for window, status, code in [
                ({"weekday": 3, "start": "11:00:00", "duration": 60}, 409, "overlap"),
                ({"weekday": 3, "start": "23:00:00", "duration": 3600}, 422, "crosses_midnight"),
                ({"weekday": 7, "start": "10:00:00", "duration": 60}, 422, "invalid"),
                ({"weekday": 3, "start": "10:00", "duration": "60"}, 422, "invalid")]:
            answer = yield self.post(base, window, owner)
            self.assertEqual((answer.code, answer.json["error"]), (status, code), window)
        answer = yield self.post(base, {"weekday": 1, "start": "10:00:00", "duration": 60}, looker)
        self.assertEqual((answer.code, answer.json["error"]), (403, "forbidden"))
        answer = yield self.post("/api/v1/devices/%s/channels/5/schedules" % CAM,
                                 {"weekday": 1, "start": "10:00:00", "duration": 60}, owner)
        self.assertEqual(answer.code, 404)
        listed = yield self.get(base, looker)
        self.assertEqual([s["id"] for s in listed.json["items"]], [body["id"]])
        one = yield self.get("%s/%d" % (base, body["id"]), looker)
        self.assertEqual(one.json, body)
        wrong = yield self.get("/api/v1/devices/%s/channels/0/schedules/%d" % (CAM, body["id"]), owner)
        self.assertEqual(wrong.code, 404)
        stranger = yield self.user("13800000009")
        self.assertEqual((yield self.get(base, stranger)).code, 404)
        gone = yield self.call("DELETE", "%s/%d" % (base, body["id"]), token=owner)
        self.assertEqual(gone.code, 204)
        self.assertEqual((yield self.get(base, owner)).json["items"], [])


class RecordingApiTests(RecordingApiTestCase):
    @defer.inlineCallbacks
    def test_listed_played_seeked_downloaded_and_deleted(self):
        owner = yield self.user(A)
        yield self.camera(CAM, owner=A, online=False)
        first, second, third = yield self.a_run(close_last=False)
        # pieces being written are listed, complete false
        listed = yield self.get("/api/v1/recordings?devid=%s&channel=0" % CAM, owner)
        self.assertEqual(listed.code, 200, listed)
        items = listed.json["items"]
        self.assertEqual([(r["id"], r["complete"]) for r in items], [(third, False), (second, True), (first, True)])
        self.assertEqual(items[1]["vod"], "/api/v1/recordings/%d/index.m3u8" % second)
        self.assertIsNone(items[0]["vod"])
        # the playlist spans the run (signed piece URLs), starting at the piece asked for
        playlist = yield self.get("/api/v1/recordings/%d/index.m3u8" % second, owner)
        self.assertEqual(playlist.code, 200, playlist)
        self.assertEqual(playlist.header(b"content-type"), "application/vnd.apple.mpegurl")
        text = playlist.data.decode()
        self.assertIn("#EXT-X-PLAYLIST-TYPE:EVENT", text)  # the last piece is still being written
        self.assertIn("/api/v1/recordings/%d/media.ts?exp=" % first, text)
        self.assertIn("#EXT-X-START:TIME-OFFSET=", text)
        self.assertIn("#EXT-X-BYTERANGE:", text)
        rows = self.service.platform.store.recordings
        last = yield rows.get(third)
        yield self.recordings.close(third, last.path, last.started_at)
        # a player with nothing but the signed URL: ffmpeg reads the VOD (every piece, by byte ranges)
        session = yield self.core.api_auth.session(owner)
        url = yield self.recordings.vod_url(session.principal, first)
        played = yield camera.run_player([camera.require("ffprobe"), "-v", "error", "-count_packets",
                                          "-select_streams", "v:0", "-show_entries",
                                          "stream=nb_read_packets:format=duration", "-of", "compact", url], 60)
        self.assertEqual(played[0], 0, played[2])
        out = played[1].decode()
        packets = int(out.split("nb_read_packets=")[1].split("|")[0].split()[0])
        self.assertTrue(240 <= packets <= 260, out)  # 10 s at 25 frames a second, three pieces
        # seeking: ffmpeg starts 7 s in (fetching from the range that holds it) and shows the 3 s left
        seek = yield camera.run_player([camera.require("ffmpeg"), "-nostdin", "-v", "error", "-ss", "7", "-i",
                                        url, "-map", "0:v", "-f", "null", "-", "-progress", "pipe:1"], 60)
        self.assertEqual(seek[0], 0, seek[2])
        frames = int([line for line in seek[1].decode().splitlines() if line.startswith("frame=")][-1][6:])
        self.assertTrue(65 <= frames <= 85, frames)
        # a piece answers byte ranges
        media = yield self.get("/api/v1/recordings/%d/media.ts" % second, owner,
                               headers={b"range": [b"bytes=0-187"]})
        self.assertEqual((media.code, len(media.data), media.data[:1]), (206, 188, b"\x47"))
        unsigned = yield self.get("/api/v1/recordings/%d/media.ts" % second)
        self.assertEqual(unsigned.code, 401)
        forged = yield self.get("/api/v1/recordings/%d/media.ts?exp=99999999999&sig=AAAA" % second)
        self.assertEqual(forged.code, 401)
        snapshot = yield self.get("/api/v1/recordings/%d/snapshot.jpg" % second, owner)
        self.assertEqual((snapshot.code, snapshot.data[:3]), (200, b"\xff\xd8\xff"))
        # one MP4, made on the first download
        download = yield self.get("/api/v1/recordings/%d/download" % second, owner)
        self.assertEqual(download.code, 200, download)
        self.assertIn("attachment", download.header(b"content-disposition"))
        saved = os.path.join(self.root, "got.mp4")
        with open(saved, "wb") as f:
            f.write(download.data)
        probe = yield camera.ffprobe(saved)
        self.assertEqual(probe.code, 0, probe.stderr)
        self.assertEqual([s["codec_name"] for s in probe.info["streams"]], ["h264"])
        # delete: file and row together
        piece = yield rows.get(second)
        files = [self.recordings.layout.absolute(p) for p in (piece.path, piece.snapshot,
                                                               RecordingLayout.mp4_of(piece.path))]
        self.assertTrue(all(os.path.exists(f) for f in files))
        gone = yield self.call("DELETE", "/api/v1/recordings/%d" % second, token=owner)
        self.assertEqual(gone.code, 204)
        self.assertFalse(any(os.path.exists(f) for f in files))
        self.assertEqual((yield self.get("/api/v1/recordings/%d" % second, owner)).code, 404)
        after = yield self.get("/api/v1/recordings/%d/index.m3u8" % first, owner)
        self.assertIn("#EXT-X-DISCONTINUITY", after.data.decode())

    @defer.inlineCallbacks
    def test_who_sees_and_deletes(self):
        owner = yield self.user(A)
        looker = yield self.user(B)
        stranger = yield self.user("13800000009")
        viewer = yield self.operator("look", "viewer")
        yield self.camera(CAM, owner=A, online=False)
        yield self.camera(CAM2, online=False)
        yield self.bind(B, CAM, share_flag=1, control=False)
        mine, = yield self.a_run(pieces=1)
        theirs, = yield self.a_run(dev_id=CAM2, pieces=1)
        for token, expected in [(owner, [mine]), (looker, [mine]), (stranger, []), (viewer, [theirs, mine])]:
            listed = yield self.get("/api/v1/recordings", token)
            self.assertEqual(sorted(r["id"] for r in listed.json["items"]), sorted(expected))
        self.assertEqual((yield self.get("/api/v1/recordings/%d" % mine, stranger)).code, 404)
        self.assertEqual((yield self.get("/api/v1/recordings?devid=%s" % CAM, stranger)).code, 404)
        self.assertEqual((yield self.get("/api/v1/recordings/%d/index.m3u8" % mine, stranger)).code, 404)
        for token in (looker, viewer):
            answer = yield self.call("DELETE", "/api/v1/recordings/%d" % mine, token=token)
            self.assertEqual(answer.code, 403)
        bad = yield self.get("/api/v1/recordings?from=yesterday", owner)
        self.assertEqual(bad.code, 422)

    @defer.inlineCallbacks
    def test_retention_deletes_old_pieces(self):
        yield self.camera(CAM, online=False)
        old = yield self.a_run(pieces=1, started=self.clock.seconds() - 3 * 86400)
        new = yield self.a_run(pieces=1)
        path = self.recordings.layout.absolute((yield self.service.platform.store.recordings.get(old[0])).path)
        self.clock.advance(600)  # the retention job's period

        @defer.inlineCallbacks
        def purged():
            rows = yield self.db.runQuery("SELECT recording_id FROM recording ORDER BY 1")
            return [r[0] for r in rows] == new
        yield eventually(purged, "the old piece deleted")
        self.assertFalse(os.path.exists(path))
        self.assertEqual(self.recordings.purged, 1)


class RecordingCtlTests(RecordingApiTestCase):
    @defer.inlineCallbacks
    def test_list_and_delete(self):
        yield self.camera(CAM, online=False)
        first, second = yield self.a_run(pieces=2)
        config = write_config(self.mktemp(), self.mktemp(), dsn=self.dsn)
        with open(config, "a") as f:
            f.write("[files]\nroot = %s\n" % self.root)
        code, out = yield kandianctl(config, "recording", "list", "--devid", CAM)
        self.assertEqual(code, 0, out)
        lines = out.splitlines()
        self.assertEqual(lines[0].split(), ["ID", "DEVID", "CHANNEL", "START", "END", "SECONDS", "MB", "STATE",
                                            "FILE"])
        self.assertEqual([line.split()[0] for line in lines[1:]], [str(second), str(first)])
        piece = yield self.service.platform.store.recordings.get(first)
        self.assertIn(self.recordings.layout.absolute(piece.path), lines[2])
        code, out = yield kandianctl(config, "recording", "delete", str(first), "999999")
        self.assertEqual(code, 1, out)
        self.assertIn("recording %d deleted" % first, out)
        self.assertIn("999999", out)
        self.assertFalse(os.path.exists(self.recordings.layout.absolute(piece.path)))
        self.assertIsNone((yield self.service.platform.store.recordings.get(first)))
        self.assertTrue(procs.command("kandianctl"))
