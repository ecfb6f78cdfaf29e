"""spec/002's courses (recording schedules) and records (platform recordings) on the running service:
the file's example URLs in both styles, its fields and codes; records downloaded as MP4, their snapshots,
played back from their player page's VOD playlist (ffprobe and ffmpeg over HTTP), deleted."""

from __future__ import annotations

import os

from twisted.internet import defer, reactor
from twisted.web.client import Agent, readBody

from . import camera as camera_tools
from .test_cloudmonitor import FILES, ON, CloudmonitorTestCase
from .test_media_vod import record_pieces

CAM = "81100000001"
CAMERA = 81100000001000  # channel 0
CAMERA1 = 81100000001001  # channel 1


@defer.inlineCallbacks
def a_run(testcase, dev_id=CAM, channel_no=0, pieces=2):
    """Pieces recorded as the recorder records them, begun and closed (tests/test_portal_recordings.py)."""
    recordings = testcase.service.platform.core.recordings
    started = testcase.clock.seconds() - 3600
    folder, listed = yield record_pieces(testcase, seconds=4 * pieces - 2, segment=4)
    pattern = recordings.run_pattern(dev_id, channel_no, started)
    os.makedirs(os.path.dirname(recordings.layout.absolute(pattern)), exist_ok=True)
    ids, run_id = [], None
    for seq, (name, start, end) in enumerate(listed):
        path = pattern % seq
        os.replace(os.path.join(folder, name), recordings.layout.absolute(path))
        rid = yield recordings.begin(dev_id, channel_no, 1, None, run_id, seq, path, started + float(start))
        run_id = run_id or rid
        yield recordings.close(rid, path, started + float(start), float(end) - float(start))
        ids.append(rid)
    return ids


class CoursesAndRecordsTestCase(CloudmonitorTestCase):
    timeout = 180

    @defer.inlineCallbacks
    def setUp(self):
        self.root = os.path.abspath(self.mktemp())
        self.settings = {"cloudmonitor": ON, "media": FILES, "files": "root = %s\n" % self.root}
        yield super().setUp()

    def a_run(self, dev_id=CAM, channel_no=0, pieces=2):
        return a_run(self, dev_id, channel_no, pieces)

    @defer.inlineCallbacks
    def fetch(self, url: str):
        response = yield Agent(reactor).request(b"GET", url.encode())
        return response, (yield readBody(response))


class CourseTests(CoursesAndRecordsTestCase):
    @defer.inlineCallbacks
    def test_add_list_mod_del_as_the_file_spells_them(self):
        # §3.15's example: elapsed_sec
        answer = yield self.get("add_course", camera_id=CAMERA, week_id=3, elapsed_sec=3600, start_time="10:30:30")
        self.assertEqual(list(answer[1]), ["err_code", "err_msg", "course_id", "camera_id", "transmit"])
        course = answer[1]["course_id"]
        self.assertEqual(answer[1]["camera_id"], CAMERA)
        listed = yield self.both("list_course", camera_id=CAMERA, cur=1, per=10)
        self.assertEqual(list(listed), ["err_code", "err_msg", "total_num", "max_page", "cur_page", "per_page",
                                        "data"])
        self.assertEqual([listed[k] for k in ("total_num", "max_page", "cur_page", "per_page")], [1, 1, "1", "10"])
        [item] = listed["data"]
        self.assertEqual(list(item), ["course_id", "camera_id", "repeat_id", "week_id", "elapse_sec", "elapsed_sec",
                                      "start_time", "end_time", "created", "updated"])
        self.assertEqual((item["course_id"], item["repeat_id"], item["week_id"], item["elapse_sec"],
                          item["elapsed_sec"]), (course, 2, 3, 3600, 3600))
        self.assertRegex(item["start_time"], r"^\d{4}-\d\d-\d\d 10:30:30$")
        self.assertEqual(item["end_time"][11:], "11:30:30")
        # §3.16's example: elapse_sec
        answer = yield self.get("mod_course", "path", course_id=course, camera_id=CAMERA, week_id=4, elapse_sec=600,
                                start_time="08:00:00")
        self.assertEqual(answer[1], {"err_code": 0, "err_msg": "OK", "course_id": course, "camera_id": CAMERA,
                                     "transmit": "OK"})
        listed = yield self.both("list_course", camera_id=CAMERA)
        self.assertEqual((listed["data"][0]["week_id"], listed["data"][0]["start_time"][11:]), (4, "08:00:00"))
        windows = yield self.core.schedules.all()
        self.assertEqual([(w.dev_id, w.channel_no, w.weekday, w.start, w.duration) for w in windows],
                         [(CAM, 0, 4, 8 * 3600, 600)])
        # §3.17: a list
        other = (yield self.get("add_course", camera_id=CAMERA1, week_id=0, elapsed_sec=60, start_time="00:00:00"))
        answer = yield self.get("del_course", course_id="%d,%d" % (course, other[1]["course_id"]))
        self.assertEqual(answer[1], {"err_code": 0, "err_msg": "OK", "transmit": "OK"})
        self.assertEqual((yield self.core.schedules.all()), [])

    @defer.inlineCallbacks
    def test_the_files_codes(self):
        base = dict(camera_id=CAMERA, week_id=3, elapsed_sec=3600, start_time="10:30:30")
        yield self.get("add_course", **base)
        for change, code in [({"start_time": "11:00:00"}, 1012),  # overlaps 10:30:30-11:30:30
                             ({"start_time": "23:30:00"}, 1013),  # past 23:59:59
                             ({"start_time": "10:30"}, 1011), ({"start_time": "25:00:00"}, 1011),
                             ({"start_time": ""}, 1011), ({"week_id": 7}, 1011), ({"week_id": ""}, 1011),
                             ({"elapsed_sec": 0}, 1009), ({"elapsed_sec": "x"}, 1009),
                             ({"camera_id": CAMERA + 5}, 1010), ({"camera_id": ""}, 1010)]:
            self.assertEqual((yield self.code("add_course", **dict(base, **change))), code, change)
        self.assertEqual((yield self.code("list_course", camera_id=CAMERA + 5)), 1010)
        course = (yield self.both("list_course", camera_id=CAMERA))["data"][0]["course_id"]
        self.assertEqual((yield self.code("mod_course", course_id=course, camera_id=CAMERA1, week_id=3,
                                          elapse_sec=60, start_time="10:00:00")), 1010)  # another camera's id
        self.assertEqual((yield self.code("mod_course", course_id=course + 1, camera_id=CAMERA, week_id=3,
                                          elapse_sec=60, start_time="10:00:00")), 1010)
        self.assertEqual((yield self.code("del_course", course_id="%d,%d" % (course, course + 1))), 1010)
        self.assertEqual(len((yield self.core.schedules.all())), 1)  # nothing deleted


class RecordTests(CoursesAndRecordsTestCase):
    @defer.inlineCallbacks
    def test_list_download_snapshot_delete(self):
        ids = yield self.a_run()
        listed = yield self.both("list_record", cur=1, per=10)
        self.assertEqual(list(listed), ["err_code", "err_msg", "total_num", "max_page", "cur_page", "per_page",
                                        "storage_addr", "data"])
        self.assertEqual([listed[k] for k in ("total_num", "cur_page", "per_page")], [2, "1", "10"])
        newest = listed["data"][0]
        self.assertEqual(list(newest), ["record_id", "gather_id", "camera_id", "camera_name", "file_fdfs",
                                        "image_fdfs", "file_size", "duration", "disptime", "clicks", "created",
                                        "updated"])
        self.assertEqual((newest["record_id"], newest["gather_id"], newest["camera_id"]),
                         (ids[-1], 81100000001, CAMERA))
        self.assertIsInstance(newest["file_size"], str)
        self.assertEqual((newest["duration"], newest["disptime"]), ("2", "00:02"))  # the run's 2 s last piece
        response, data = yield self.fetch(listed["storage_addr"] + newest["file_fdfs"])
        self.assertEqual(response.code, 200)
        download = os.path.abspath(self.mktemp()) + ".mp4"
        with open(download, "wb") as f:
            f.write(data)
        probe = yield camera_tools.run_player([camera_tools.require("ffprobe"), "-v", "error", "-show_streams",
                                               "-of", "json", download], 30)
        self.assertEqual(probe[0], 0, probe[2])
        self.assertIn(b'"codec_name": "h264"', probe[1])
        response, data = yield self.fetch(listed["storage_addr"] + newest["image_fdfs"])
        self.assertEqual((response.code, data[:2]), (200, b"\xff\xd8"))  # a JPEG
        answer = yield self.get("del_record", record_id=",".join(str(i) for i in ids))
        self.assertEqual(answer[1], {"err_code": 0, "err_msg": "OK"})
        self.assertEqual((yield self.both("list_record"))["total_num"], 0)
        self.assertEqual((yield self.code("del_record", record_id=ids[0])), 1010)

    @defer.inlineCallbacks
    def test_play_record_is_a_player_page_with_its_vod(self):
        ids = yield self.a_run(pieces=3)
        answer = yield self.both("play_record", record_id=ids[0], width=640, height=360)
        self.assertEqual(list(answer), ["err_code", "err_msg", "play_url"])
        self.assertEqual((yield self.both("list_record", per=10))["data"][-1]["clicks"], 2)
        response, page = yield self.fetch(answer["play_url"])
        self.assertEqual(response.code, 200, page)
        self.assertIn(b'width="640" height="360"', page)
        vod = page.split(b'data-vod="')[1].split(b'"')[0].decode().replace("&amp;", "&")
        playlist_url = "http://127.0.0.1:%d%s" % (self.port("cloudmonitor"), vod)
        response, playlist = yield self.fetch(playlist_url)
        self.assertEqual(response.code, 200, playlist)
        self.assertIn(b"#EXT-X-ENDLIST", playlist)
        self.assertEqual(playlist.count(b"#EXT-X-BYTERANGE"), playlist.count(b"media.ts"))
        pull = yield camera_tools.run_player([camera_tools.require("ffmpeg"), "-nostdin", "-v", "error", "-i",
                                              playlist_url, "-f", "null", "-"], 60)
        self.assertEqual(pull[0], 0, pull[2])
        for bad in (answer["play_url"].replace("sig=", "sig=x"), playlist_url.replace("sig=", "sig=x")):
            response, _ = yield self.fetch(bad)
            self.assertEqual(response.code, 403, bad)
        for params, code in [({"record_id": 999999}, 1010), ({"record_id": ""}, 1010),
                             ({"record_id": ids[0], "height": 99999}, 1009)]:
            self.assertEqual((yield self.code("play_record", **params)), code, params)

    @defer.inlineCallbacks
    def test_deleting_a_cameras_channel_deletes_its_records_and_courses(self):
        yield self.a_run(channel_no=1)
        kept = yield self.a_run(channel_no=0, pieces=1)
        yield self.get("add_course", camera_id=CAMERA1, week_id=1, elapsed_sec=60, start_time="01:00:00")
        answer = yield self.get("del_camera", camera_id=CAMERA1)
        self.assertEqual(answer[1], {"err_code": 0, "err_msg": "OK"})
        self.assertEqual([r["record_id"] for r in (yield self.both("list_record"))["data"]], kept)
        self.assertEqual((yield self.core.schedules.all()), [])
        self.assertEqual((yield self.code("get_camera_status", camera_id=CAMERA1)), 0)  # the channel stays
