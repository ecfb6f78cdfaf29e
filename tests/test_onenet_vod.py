"""spec/001 §6 video on demand and §13 recording over real HTTP against the running platform: pieces recorded as
the recorder records them (ffmpeg's segment muxer), listed, renamed, played by ffprobe from §6.1's hls_url with
§6.5's token, deleted; §13's configurations as the channel's recording windows."""

import os

from twisted.internet import defer

from kandian.core.access import Principal

from . import camera
from .onenet_helpers import OnenetTestCase
from .test_media_vod import record_pieces

DAY = 86399


class VodTestCase(OnenetTestCase):
    timeout = 180

    @defer.inlineCallbacks
    def setUp(self):
        self.root = os.path.abspath(self.mktemp())
        self.settings = dict(self.settings, files="root = %s\n" % self.root)
        yield super().setUp()
        self.recordings = self.core.recordings
        self.dev_id = yield self.create("door", auth_info="door-key")

    @defer.inlineCallbacks
    def a_run(self, pieces=3):
        started = self.clock.seconds()
        folder, listed = yield record_pieces(self, seconds=4 * pieces - 2, segment=4)
        pattern = self.recordings.run_pattern(self.dev_id, 0, started)
        os.makedirs(os.path.dirname(self.recordings.layout.absolute(pattern)), exist_ok=True)
        ids, run_id = [], None
        for seq, (name, start, end) in enumerate(listed):
            path = pattern % seq
            os.replace(os.path.join(folder, name), self.recordings.layout.absolute(path))
            rid = yield self.recordings.begin(self.dev_id, 0, 1, None, run_id, seq, path, started + float(start))
            run_id = run_id or rid
            yield self.recordings.close(rid, path, started + float(start), float(end) - float(start))
            ids.append(rid)
        return ids


class VideoTests(VodTestCase):
    @defer.inlineCallbacks
    def test_list_info_rename_play_delete(self):
        first, second, third = yield self.a_run()
        q = {"device_id": self.dev_id, "channel_id": 1}
        answer = yield self.get("/ipc/video/vod/get_video_list", dict(q, start_time="2026-11-18 00:00:00",
                                                                      page_start=1, page_size=2))
        self.assertSucc(answer)
        videos = answer.payload["videos"]
        self.assertEqual([v["videoid"] for v in videos], [str(third), str(second)])
        self.assertEqual(answer.json["page_info"], {"total_num": 3, "page_total": 2, "page_size": 2,
                                                    "current_page": 1})
        self.assertEqual(videos[1]["name"], "%s_1_20261118190644" % self.dev_id)
        self.assertEqual(videos[1]["start"], "2026-11-18 19:06:44")
        self.assertEqual(videos[1]["rtmp_url"], "")
        self.assertIsInstance(videos[1]["size"], int)

        info = yield self.get("/ipc/video/vod/get_video_info", dict(q, video_id=first))
        self.assertSucc(info)
        data = info.payload
        self.assertEqual((data["videoid"], data["start"], data["durtion"]), (str(first), "2026-11-18 19:06:40", "4"))
        self.assertIsInstance(data["size"], str)
        self.assertEqual(data["hls_url"], "http://127.0.0.1:%d/ipc/video/vod/play/%d/index.m3u8"
                         % (self.port("onenet"), first))

        # §6.4 rename; §6.2 filters by the name
        self.assertSucc((yield self.put("/ipc/video/vod/rename_video", dict(q, video_id=first), {"name": "11111"})))
        answer = yield self.get("/ipc/video/vod/get_video_list", dict(q, name="11111"))
        self.assertEqual([(v["videoid"], v["name"]) for v in answer.payload["videos"]], [(str(first), "11111")])

        # §6.5's token on §6.1's hls_url: ffprobe plays the run from the first piece (a redirect to the portal)
        token = (yield self.get("/ipc/video/vod/get_play_token", dict(q, video_id=first))).payload["token"]
        url = "%s?token=%s" % (data["hls_url"], token)
        played = yield camera.run_player([camera.require("ffprobe"), "-v", "error", "-show_entries",
                                          "format=duration", "-of", "csv=p=0", url], 60)
        self.assertEqual(played[0], 0, played[2])
        self.assertGreater(float(played[1].decode().strip()), 9.0)
        forged = "/ipc/video/vod/play/%d/index.m3u8?token=%s" % (second, token)
        self.assertErrno((yield self.get(forged, auth=False)), 403)

        # §6.3: each id deleted or not
        answer = yield self.post("/ipc/video/vod/delete_video", {"deviceid": self.dev_id, "channeled": 1},
                                 {"video": [{"videoId": str(second)}, {"videoId": "999999"}]})
        self.assertSucc(answer)
        self.assertEqual(answer.payload, [{"code": 0}, {"code": 1, "message": "not exist"}])
        self.assertErrno((yield self.get("/ipc/video/vod/get_video_info", dict(q, video_id=second))), 404)

        # errors: another channel's id, another device's key, a bad body
        self.assertErrno((yield self.get("/ipc/video/vod/get_video_info", dict(q, channel_id=2, video_id=first))),
                         404)
        other = yield self.create("other")
        key = yield self.device_key(other)
        self.assertErrno((yield self.get("/ipc/video/vod/get_video_list", q, key=key)), 403)
        self.assertErrno((yield self.post("/ipc/video/vod/delete_video", {"deviceid": self.dev_id}, {"video": 1})),
                         400)
        self.assertErrno((yield self.put("/ipc/video/vod/rename_video", dict(q, video_id=first), {"name": ""})), 400)

    @defer.inlineCallbacks
    def test_a_deleted_device_takes_its_videos_and_windows(self):
        ids = yield self.a_run(pieces=2)
        q = {"product_id": "1", "device_id": self.dev_id, "channel_id": 1}
        self.assertSucc((yield self.put("/api/record/record_config", dict(q, action=1))))
        paths = []
        for i in ids:
            row = yield self.service.platform.store.recordings.get(i)
            paths.append(self.recordings.layout.absolute(row.path))
        self.assertTrue(all(os.path.exists(p) for p in paths))
        self.assertSucc((yield self.delete("/devices/%s" % self.dev_id)))
        self.assertFalse(any(os.path.exists(p) for p in paths))
        for i in ids:
            self.assertIsNone((yield self.service.platform.store.recordings.get(i)))
        rows = yield self.db.runQuery("SELECT count(*) FROM recording_schedule WHERE dev_id = %s", (self.dev_id,))
        self.assertEqual(rows, [(0,)])


class RecordingConfigTests(VodTestCase):
    @defer.inlineCallbacks
    def windows(self):
        rows = yield self.core.schedules.list(Principal("operator", 0, "test", "admin"), self.dev_id, 0)
        return sorted((w.weekday, w.start, w.duration) for w in rows)

    @defer.inlineCallbacks
    def test_configurations_are_the_channel_s_windows(self):
        q = {"product_id": "1", "device_id": self.dev_id, "channel_id": 1}
        # §13.2 continuous: every day, all day
        self.assertSucc((yield self.put("/api/record/record_config", dict(q, action=1, cycle=1))))
        self.assertEqual((yield self.windows()), [(d, 0, DAY) for d in range(7)])
        # §13.1 refuses a start while recording
        self.assertErrno((yield self.get("/ipc/video/record/record_video", dict(q, action=1, expired=3))), 400)
        # a daily window
        self.assertSucc((yield self.put("/ipc/video/record/record_config",
                                        dict(q, action=0, start_time="08:00:00", end_time="18:30:00"))))
        self.assertEqual((yield self.windows()), [(d, 8 * 3600, 37800) for d in range(7)])
        # events are not recorded here; a bad window is refused and changes nothing
        self.assertErrno((yield self.put("/api/record/record_config", dict(q, action=2))), 400)
        self.assertErrno((yield self.put("/api/record/record_config", dict(q, action=0, start_time="18:00:00",
                                                                             end_time="08:00:00"))), 400)
        self.assertEqual(len((yield self.windows())), 7)
        # §13.4 with no type clears; §13.3 deletes
        self.assertSucc((yield self.put("/ipc/video/record/update_config", q)))
        self.assertEqual((yield self.windows()), [])
        self.assertSucc((yield self.put("/ipc/video/record/update_config", dict(q, type=1))))
        self.assertEqual(len((yield self.windows())), 7)
        self.assertSucc((yield self.delete("/ipc/video/record/delete_config", q)))
        self.assertEqual((yield self.windows()), [])
        # §13.1 start and stop
        self.assertSucc((yield self.get("/ipc/video/record/record_video", dict(q, action=1, expired=7))))
        self.assertEqual(len((yield self.windows())), 7)
        self.assertSucc((yield self.get("/ipc/video/record/record_video", dict(q, action=0))))
        self.assertEqual((yield self.windows()), [])
        self.assertErrno((yield self.get("/ipc/video/record/record_video", dict(q, action=0))), 400)
        # the file's errors
        for query in (dict(q, action=3), dict(q, product_id="2", action=1), dict(q, channel_id=2, action=1),
                      {"product_id": "1", "device_id": self.dev_id, "action": 1}):
            answer = yield self.put("/api/record/record_config", query)
            self.assertIn(answer.json["errno"], (400, 404), (query, answer))
