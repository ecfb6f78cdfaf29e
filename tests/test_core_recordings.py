"""kandian.core.schedules and kandian.core.recordings over the in-memory store (FakeStore + task.Clock),
with the real ffmpeg/ffprobe tools on pieces ffmpeg's segment muxer cut."""

import datetime
import os
import zoneinfo

from twisted.internet import defer, reactor, task
from twisted.trial import unittest

from kandian.core import errors
from kandian.core.access import Access, Principal
from kandian.core.keys import Keys
from kandian.core.recordings import RECORDING_FAILED, RecordingLayout, Recordings
from kandian.core.schedules import Schedules, check_window, format_start, occurrences, parse_start
from kandian.media.tools import RecordingTools
from kandian.store.fake import FakeStore

from . import camera
from .test_media_vod import record_pieces

TZ = zoneinfo.ZoneInfo("Asia/Shanghai")
DEV, OTHER = "81100000001", "81100000002"
# Wednesday 2027-01-13 10:00:00 in Shanghai
NOW = datetime.datetime(2027, 1, 13, 10, 0, tzinfo=TZ).timestamp()
ADMIN = Principal("operator", 1, "ops", "admin")
VIEWER = Principal("operator", 2, "look", "viewer")


class Windows(unittest.TestCase):
    def test_start_times(self):
        self.assertEqual(parse_start("10:30:30"), 37830)
        self.assertEqual(parse_start("00:00"), 0)
        self.assertEqual(format_start(86399), "23:59:59")
        for bad in ("24:00:00", "9:00:00", "10:60:00", "10:00:60", "", None, 3600.0, "10:00:00 "):
            self.assertRaises(errors.BadValue, parse_start, bad)

    def test_spec_rules(self):
        self.assertEqual(check_window(3, "10:30:30", 3600), (3, 37830, 3600))
        self.assertEqual(check_window(0, "00:00:00", 86399), (0, 0, 86399))
        # spec 002: an end past 23:59:59 is a task across midnight
        self.assertRaises(errors.CrossesMidnight, check_window, 3, "23:00:00", 3600)
        self.assertRaises(errors.CrossesMidnight, check_window, 3, "00:00:00", 86400)
        for weekday, start, duration in [(7, "10:00:00", 60), (-1, "10:00:00", 60), (True, "10:00:00", 60),
                                         ("3", "10:00:00", 60), (3, "10:00:00", 0), (3, "10:00:00", 1.5),
                                         (3, "10:00:00", "60"), (3, "10:00:00", True)]:
            self.assertRaises(errors.BadValue, check_window, weekday, start, duration)

    def test_occurrences_in_the_platform_zone_sunday_zero(self):
        class S:
            def __init__(self, schedule_id, weekday, start, duration):
                self.schedule_id, self.dev_id, self.channel_no = schedule_id, DEV, 0
                self.weekday, self.start, self.duration = weekday, start, duration
        wednesday = S(1, 3, 9 * 3600, 7200)  # 09:00–11:00, in progress at NOW
        sunday = S(2, 0, 0, 60)
        found = occurrences([wednesday, sunday], NOW, NOW + 7 * 86400, TZ)
        self.assertEqual([(o.schedule_id, o.start - NOW, o.end - NOW) for o in found], [
            (1, -3600, 3600), (2, 4 * 86400 - 10 * 3600, 4 * 86400 - 10 * 3600 + 60), (1, 7 * 86400 - 3600,
                                                                                      7 * 86400 + 3600)])
        self.assertEqual(occurrences([wednesday], NOW + 3600, NOW + 86400, TZ), [])


class CoreTestCase(unittest.TestCase):
    @defer.inlineCallbacks
    def setUp(self):
        self.clock = task.Clock()
        self.clock.advance(NOW)
        self.store = FakeStore(node="here")
        yield self.store.devices.add(DEV, "k", channels=2)
        yield self.store.devices.add(OTHER, "k")
        self.owner = self.user((yield self.store.users.add("13800000001", "scrypt$a")))
        self.looker = self.user((yield self.store.users.add("13800000002", "scrypt$b")))
        self.stranger = self.user((yield self.store.users.add("13800000003", "scrypt$c")))
        yield self.store.bindings.bind(self.owner.id, DEV, 4)
        yield self.store.user_admin.share(self.looker.id, DEV, False, 0)
        self.access = Access(self.store)
        self.schedules = Schedules(self.store, self.clock, self.access, TZ)
        self.keys = Keys(self.store.secrets)
        yield self.keys.load()
        self.root = os.path.abspath(self.mktemp())
        self.layout = RecordingLayout(self.root)
        self.layout.prepare()
        self.tools = RecordingTools(reactor, ffmpeg=camera.require("ffmpeg"), ffprobe=camera.require("ffprobe"))
        self.recordings = Recordings(self.store, self.clock, self.access, self.keys, self.tools, self.layout,
                                     node="here", zone=TZ, retention_days=7, base_url=lambda: "http://portal:1")

    @staticmethod
    def user(user_id):
        return Principal("user", user_id, str(user_id), "user")


class ScheduleTests(CoreTestCase):
    @defer.inlineCallbacks
    def test_who_may_add_list_and_delete(self):
        changed = []
        self.schedules.subscribe(lambda dev_id, channel_no: changed.append((dev_id, channel_no)))
        made = yield self.schedules.add(self.owner, DEV, 1, 3, "10:30:30", 3600)
        self.assertEqual((made.channel_no, made.weekday, made.start, made.duration), (1, 3, 37830, 3600))
        self.assertEqual(changed, [(DEV, 1)])
        yield self.assertFailure(self.schedules.add(self.looker, DEV, 0, 3, "10:00:00", 60), errors.Forbidden)
        yield self.assertFailure(self.schedules.add(VIEWER, DEV, 0, 3, "10:00:00", 60), errors.Forbidden)
        yield self.assertFailure(self.schedules.add(self.stranger, DEV, 0, 3, "10:00:00", 60), errors.NotBound)
        yield self.assertFailure(self.schedules.add(ADMIN, DEV, 2, 3, "10:00:00", 60), errors.NoSuchChannel)
        yield self.assertFailure(self.schedules.add(ADMIN, DEV, 1, 3, "11:00:00", 60), errors.ScheduleOverlap)
        yield self.assertFailure(self.schedules.add(ADMIN, DEV, 1, 3, "23:30:00", 3600), errors.CrossesMidnight)
        self.assertEqual((yield self.schedules.list(self.looker, DEV)), [made])
        self.assertEqual((yield self.schedules.list(VIEWER, DEV, "1")), [made])
        self.assertEqual((yield self.schedules.list(self.owner, DEV, 0)), [])
        yield self.assertFailure(self.schedules.list(self.stranger, DEV), errors.NotBound)
        yield self.assertFailure(self.schedules.delete(self.looker, made.schedule_id), errors.Forbidden)
        yield self.assertFailure(self.schedules.delete(self.stranger, made.schedule_id), errors.NoSuchSchedule)
        yield self.assertFailure(self.schedules.delete(self.owner, made.schedule_id, DEV, 0), errors.NoSuchSchedule)
        yield self.assertFailure(self.schedules.delete(self.owner, "x"), errors.NoSuchSchedule)
        moved = yield self.schedules.update(self.owner, made.schedule_id, 4, "08:00:00", 60)
        self.assertEqual((moved.weekday, moved.start), (4, 8 * 3600))
        yield self.schedules.delete(self.owner, str(made.schedule_id), DEV, "1")
        self.assertEqual((yield self.schedules.all()), [])
        self.assertEqual(changed, [(DEV, 1)] * 3)


class RecordingTests(CoreTestCase):
    timeout = 120

    @defer.inlineCallbacks
    def a_run(self, pieces=3, dev_id=DEV, started=NOW):
        """A run as the recorder leaves it: pieces begun, written by ffmpeg, closed (the last one left open)."""
        pattern = self.recordings.run_pattern(dev_id, 0, started)
        folder, listed = yield record_pieces(self, seconds=4 * pieces - 2, segment=4)
        os.makedirs(os.path.dirname(self.layout.absolute(pattern)), exist_ok=True)
        ids, run_id = [], None
        for seq, (name, start, end) in enumerate(listed):
            path = pattern % seq
            os.replace(os.path.join(folder, name), self.layout.absolute(path))
            rid = yield self.recordings.begin(dev_id, 0, 1, None, run_id, seq, path, started + float(start))
            run_id = run_id or rid
            ids.append((rid, path, started + float(start), float(end) - float(start)))
        for rid, path, at, seconds in ids[:-1]:
            kept = yield self.recordings.close(rid, path, at, seconds)
            self.assertTrue(kept)
        return [rid for rid, _, _, _ in ids]

    @defer.inlineCallbacks
    def test_a_run_is_listed_played_and_deleted_files_and_rows_together(self):
        first, second, third = yield self.a_run()
        page = yield self.recordings.list(self.owner, DEV)
        self.assertEqual([(r.recording_id, r.complete) for r in page.items],
                         [(third, False), (second, True), (first, True)])
        piece = yield self.recordings.get(self.looker, second)
        self.assertTrue(piece.segments and piece.snapshot)
        self.assertTrue(os.path.exists(self.recordings.snapshot_path(piece)))
        vod = yield self.recordings.vod(piece)
        self.assertEqual([p.recording_id for p in vod.pieces], [first, second])
        self.assertFalse(vod.ended)
        self.assertTrue(3.5 < vod.start_offset < 4.5, vod.start_offset)
        yield self.assertFailure(self.recordings.vod((yield self.recordings.get(ADMIN, third))),
                                 errors.RecordingInProgress)
        # the last piece closes: the run has ended
        rows = self.store.recordings.rows
        kept = yield self.recordings.close(third, rows[third]["path"], rows[third]["started_at"])
        self.assertTrue(kept)
        self.assertTrue((yield self.recordings.vod(piece)).ended)
        # strangers see nothing; a read-only share may not delete
        self.assertEqual((yield self.recordings.list(self.stranger)).total, 0)
        yield self.assertFailure(self.recordings.list(self.stranger, DEV), errors.NotBound)
        yield self.assertFailure(self.recordings.get(self.stranger, first), errors.NoSuchRecording)
        yield self.assertFailure(self.recordings.delete(self.looker, first), errors.Forbidden)
        yield self.assertFailure(self.recordings.delete(VIEWER, first), errors.Forbidden)
        files = [self.layout.absolute(p) for p in (piece.path, piece.snapshot)]
        mp4 = yield self.recordings.download_path(self.owner, second)
        self.assertTrue(mp4.endswith(".mp4") and os.path.exists(mp4))
        yield self.recordings.delete(self.owner, second)
        self.assertFalse(any(os.path.exists(f) for f in files + [mp4]))
        yield self.assertFailure(self.recordings.get(ADMIN, second), errors.NoSuchRecording)
        yield self.assertFailure(self.recordings.delete(ADMIN, second), errors.NoSuchRecording)
        vod = yield self.recordings.vod((yield self.recordings.get(ADMIN, first)))
        self.assertEqual([p.recording_id for p in vod.pieces], [first, third])

    @defer.inlineCallbacks
    def test_a_piece_being_written_is_not_deleted_nor_downloaded(self):
        _, _, third = yield self.a_run()
        yield self.assertFailure(self.recordings.delete(ADMIN, third), errors.RecordingInProgress)
        yield self.assertFailure(self.recordings.download_path(ADMIN, third), errors.RecordingInProgress)
        self.assertIsNotNone((yield self.recordings.get(ADMIN, third)))

    @defer.inlineCallbacks
    def test_downloads_at_once_share_one_remux(self):
        first, _ = yield self.a_run(pieces=2)
        remuxes = []
        real = self.tools.remux
        self.tools.remux = lambda *a: remuxes.append(a) or real(*a)
        paths = yield defer.gatherResults([self.recordings.download_path(ADMIN, first) for _ in range(3)])
        self.assertEqual(len(set(paths)), 1)
        self.assertEqual(len(remuxes), 1)
        yield self.recordings.download_path(ADMIN, first)
        self.assertEqual(len(remuxes), 1)

    @defer.inlineCallbacks
    def test_signed_urls(self):
        first, _ = yield self.a_run(pieces=2)
        url = yield self.recordings.vod_url(self.owner, first, ttl=60)
        self.assertTrue(url.startswith("http://portal:1/api/v1/recordings/%d/index.m3u8?exp=" % first), url)
        exp, sig = url.split("exp=")[1].split("&sig=")
        self.assertTrue(self.recordings.signed(str(first), exp, sig))
        self.assertFalse(self.recordings.signed(str(first + 1), exp, sig))
        self.assertFalse(self.recordings.signed(str(first), str(int(exp) + 1), sig))
        self.assertFalse(self.recordings.signed("x", exp, sig))
        self.assertEqual((yield self.recordings.unsigned_get(first, exp, sig)).recording_id, first)
        self.clock.advance(61)
        self.assertFalse(self.recordings.signed(str(first), exp, sig))
        yield self.assertFailure(self.recordings.unsigned_get(first, exp, sig), errors.NotAuthenticated)
        yield self.assertFailure(self.recordings.vod_url(self.stranger, first), errors.NoSuchRecording)

    @defer.inlineCallbacks
    def test_retention_deletes_old_pieces_and_finishes_claimed_ones(self):
        old = yield self.a_run(pieces=2, started=NOW - 8 * 86400)
        new = yield self.a_run(pieces=2, started=NOW - 86400)
        gone = self.store.recordings.rows[old[0]]["path"]
        # a deletion a crash cut short: claimed, file still there
        claimed = yield self.store.recordings.claim(new[0])
        done = yield self.recordings.purge()
        self.assertEqual(done, 2)
        self.assertFalse(os.path.exists(self.layout.absolute(gone)))
        self.assertFalse(os.path.exists(self.layout.absolute(claimed.path)))
        self.assertEqual(sorted(self.store.recordings.rows), sorted([old[1], new[1]]))
        self.assertEqual((yield self.recordings.purge()), 0)

    @defer.inlineCallbacks
    def test_close_discards_an_empty_piece_and_recover_closes_what_a_crash_left(self):
        first, second = yield self.a_run(pieces=2)
        empty = yield self.recordings.begin(DEV, 0, 1, None, first, 2, "recordings/%s/0/x_0002.ts" % DEV, NOW + 8)
        self.assertEqual((yield self.recordings.recover()), 2)
        self.assertNotIn(empty, self.store.recordings.rows)
        piece = yield self.recordings.get(ADMIN, second)
        self.assertTrue(piece.complete and piece.segments and piece.snapshot)
        self.assertTrue(1 < piece.duration < 3, piece.duration)

    @defer.inlineCallbacks
    def test_a_failure_is_an_exception_row(self):
        yield self.recordings.failed(DEV, 1, "No space left on device")
        [(dev_id, channel_no, kind, desc, at)] = self.store.links.exceptions
        self.assertEqual((dev_id, channel_no, kind, at), (DEV, 1, RECORDING_FAILED, NOW))
        self.assertIn("No space left on device", desc)

    def test_layout_stays_under_the_root(self):
        pattern = self.layout.run_pattern(DEV, 1, NOW, TZ)
        self.assertTrue(pattern.startswith("recordings/%s/1/20270113/100000-" % DEV), pattern)
        self.assertNotEqual(pattern, self.layout.run_pattern(DEV, 1, NOW, TZ))
        self.assertRaises(ValueError, self.layout.absolute, "../x")
        self.assertRaises(ValueError, self.layout.run_pattern, "../../etc", 1, NOW, TZ)
