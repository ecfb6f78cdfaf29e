"""kandian.core.playsessions: play sessions steered from outside the player (FakeStore + task.Clock)."""

from __future__ import annotations

import zoneinfo

from twisted.internet import defer, task
from twisted.trial import unittest

from kandian.core import errors
from kandian.core.access import Access, Principal
from kandian.core.play import Play
from kandian.core.playsessions import PlaySessions
from kandian.device import messages as m
from kandian.playurl import parse_play_url
from kandian.store.fake import FakeStore
from kandian.wiretime import parse_time

ZONE = zoneinfo.ZoneInfo("Asia/Shanghai")
CAM, OTHER = "81100000001", "81100000002"
A = "13800000001"
T0 = parse_time("20240301100000", ZONE).timestamp()  # 10:00, a quarter-hour file runs 10:00-10:15


class Router:
    def __init__(self):
        self.peers = {CAM: "127.0.0.1"}

    def online(self, dev_id):
        return dev_id in self.peers

    def peer_ip(self, dev_id):
        return self.peers.get(dev_id)


class Devices:
    """§7.5.22 as the simulator answers it: 15-minute files; *files* per page."""

    def __init__(self, router):
        self.router = router
        self.queries = []
        self.refuse = False

    def online(self, dev_id):
        return self.router.online(dev_id)

    def record_files(self, dev_id, channel_no, start, end, page):
        self.queries.append((start.strftime("%Y%m%d%H%M"), end.strftime("%Y%m%d%H%M"), page))
        if self.refuse:
            return defer.fail(errors.DeviceRefused("medium not ready", 1))
        first = (int(start.timestamp()) + 899) // 900 * 900
        starts = list(range(first, int(end.timestamp()), 900))
        files = tuple(m.RecordFile(FileName="%s_%d_%d.mp4" % (dev_id, channel_no, s), FileSize=1000,
                                   StartTime=_minute(s), EndTime=_minute(s + 900))
                      for s in starts[(page - 1) * 10:page * 10])
        return defer.succeed(m.FileQueryResponse(Result=0, DevID=dev_id, TotalRecordNum=len(starts), File=files))


def _minute(seconds):
    import datetime
    return datetime.datetime.fromtimestamp(seconds, ZONE).strftime("%Y%m%d%H%M")


class Steering:
    """A relayed stream as the core sees it (IStreamSteering), answering at once unless told otherwise."""

    def __init__(self):
        self.sent = []
        self.closed = None
        self.refuse = None

    def play(self, scale=None, position=None):
        self.sent.append(("PLAY", scale, position))
        if self.refuse is not None:
            return defer.fail(errors.DeviceRefused("no", self.refuse))
        return defer.succeed({})

    def pause(self):
        self.sent.append(("PAUSE",))
        if self.refuse is not None:
            return defer.fail(errors.DeviceRefused("no", self.refuse))
        return defer.succeed({})

    def close(self, why):
        self.closed = why

    def position(self):
        return 55.0


class PlaySessionsTests(unittest.TestCase):
    @defer.inlineCallbacks
    def setUp(self):
        self.store = FakeStore()
        self.clock = task.Clock()
        self.clock.advance(T0 + 3600)
        self.router = Router()
        self.devices = Devices(self.router)
        play = Play(self.store, self.router, self.clock, relay_address=lambda: ("198.51.100.9", 8554))
        self.sessions = PlaySessions(self.store, play, self.devices, Access(self.store), self.clock, timezone=ZONE,
                                     timeout=60, max_sessions=3)
        for dev_id in (CAM, OTHER):
            yield self.store.devices.add(dev_id, "key", channels=2)
        user_id = yield self.store.users.add(A, "scrypt$x")
        yield self.store.bindings.bind(user_id, CAM, 4)
        self.user = Principal("user", user_id, A, "user")
        self.play = play

    @defer.inlineCallbacks
    def test_a_live_session_is_a_relay_url_with_a_relay_token(self):
        session = yield self.sessions.open_live(self.user, CAM, 1, 2)
        url = parse_play_url(session.url)
        self.assertTrue(session.url.startswith("rtsp://198.51.100.9:8554/realplay?"))
        self.assertEqual((url.dev_id, url.channel_no, url.stream_type, url.token), (CAM, 1, 2, session.token))
        self.assertTrue(0 < session.id < 2**31)
        self.assertIs(self.sessions.get(session.id), session)
        self.assertIs(self.sessions.for_token(session.token), session)
        # the relay takes it (this device reported no address to dial), once
        yield self.assertFailure(self.play.authorize_relay(url, "203.0.113.5"), errors.NoRoute)
        yield self.assertFailure(self.play.authorize_relay(url, "203.0.113.5"), errors.TokenRefused)

    @defer.inlineCallbacks
    def test_refusals_before_a_token_is_issued(self):
        yield self.assertFailure(self.sessions.open_live(self.user, OTHER, 0), errors.NotBound)
        yield self.assertFailure(self.sessions.open_live(self.user, CAM, 7), errors.NoSuchChannel)
        yield self.assertFailure(self.sessions.open_live(self.user, CAM, 0, 3), errors.NoSuchChannel)
        del self.router.peers[CAM]
        yield self.assertFailure(self.sessions.open_live(self.user, CAM, 0), errors.DeviceOffline)
        self.assertEqual(self.store.tables.get("hash_token", {}), {})

    @defer.inlineCallbacks
    def test_sessions_are_capped(self):
        for _ in range(3):
            yield self.sessions.open_live(self.user, CAM, 0)
        yield self.assertFailure(self.sessions.open_live(self.user, CAM, 0), errors.TooManyStreams)

    @defer.inlineCallbacks
    def test_a_session_nobody_played_is_forgotten_after_the_timeout(self):
        session = yield self.sessions.open_live(self.user, CAM, 0)
        self.clock.advance(60)
        self.assertRaises(errors.NoSuchPlaySession, self.sessions.get, session.id)
        self.assertIsNone(self.sessions.for_token(session.token))

    @defer.inlineCallbacks
    def test_a_played_session_lives_while_its_player_does(self):
        session = yield self.sessions.open_live(self.user, CAM, 0)
        session.attached(Steering())
        self.clock.advance(3600)
        self.assertIs(self.sessions.get(session.id), session)
        session.detached()
        self.assertTrue(session.ended)
        yield self.assertFailure(self.sessions.pause(session.id), errors.NoSuchPlaySession)
        self.sessions.stop(session.id)  # stopping an ended session is fine
        self.clock.advance(60)
        self.assertRaises(errors.NoSuchPlaySession, self.sessions.get, session.id)

    @defer.inlineCallbacks
    def test_recording_plays_the_file_covering_the_begin_time_from_its_offset(self):
        session = yield self.sessions.open_recording(self.user, CAM, 0, T0 + 600, T0 + 1800)
        url = parse_play_url(session.url)
        self.assertEqual((url.stream_type, url.file_name), (None, "%s_0_%d.mp4" % (CAM, T0)))
        self.assertEqual((session.span.start, session.span.end), (T0, T0 + 900))
        # looked for from an hour before, so the file that began before the asked time is found
        self.assertEqual(self.devices.queries[0][:2], ("202403010910", "202403011030"))
        steering = Steering()
        session.attached(steering)
        self.assertEqual(session.client_play(), (None, 600.0))
        self.assertEqual(session.client_play(), (None, None))

    @defer.inlineCallbacks
    def test_no_recording_in_that_time(self):
        self.devices.queries.clear()
        yield self.assertFailure(self.sessions.open_recording(self.user, CAM, 0, T0 + 60, T0 + 60),
                                 errors.BadValue)
        self.devices.refuse = True
        yield self.assertFailure(self.sessions.open_recording(self.user, CAM, 0, T0, T0 + 60), errors.DeviceRefused)

    @defer.inlineCallbacks
    def test_recordings_lists_overlapping_files_across_pages(self):
        spans = yield self.sessions.recordings(self.user, CAM, 1, T0 + 100, T0 + 900 * 14)
        self.assertEqual([s.start for s in spans], [T0 + 900 * n for n in range(14)])
        self.assertEqual([q[2] for q in self.devices.queries], [1, 2])
        self.assertEqual(spans[0].file_name, "%s_1_%d.mp4" % (CAM, T0))
        yield self.assertFailure(self.sessions.recordings(self.user, OTHER, 0, T0, T0 + 60), errors.NotBound)

    @defer.inlineCallbacks
    def test_steering_before_the_player_plays_is_kept_for_its_play(self):
        session = yield self.sessions.open_recording(self.user, CAM, 0, T0 + 60, T0 + 900)
        yield self.sessions.change_speed(session.id, 2.0)
        yield self.sessions.change_position(session.id, T0 + 300)
        yield self.sessions.pause(session.id)
        steering = Steering()
        session.attached(steering)
        self.assertEqual(session.client_play(), (2.0, 300.0))
        session.played()
        self.assertEqual(steering.sent, [("PAUSE",)])
        yield self.sessions.resume(session.id)
        self.assertEqual(steering.sent[-1], ("PLAY", 2.0, None))

    @defer.inlineCallbacks
    def playing(self, recording=True):
        if recording:
            session = yield self.sessions.open_recording(self.user, CAM, 0, T0, T0 + 900)
        else:
            session = yield self.sessions.open_live(self.user, CAM, 0)
        steering = Steering()
        session.attached(steering)
        session.client_play()
        session.played()
        return session, steering

    @defer.inlineCallbacks
    def test_steering_a_playing_recording(self):
        session, steering = yield self.playing()
        yield self.sessions.change_speed(session.id, 4)
        yield self.sessions.change_position(session.id, T0 + 120)
        yield self.sessions.pause(session.id)
        yield self.sessions.pause(session.id)  # already paused: nothing sent
        yield self.sessions.change_position(session.id, T0 + 30)  # paused: kept
        yield self.sessions.resume(session.id)
        yield self.sessions.resume(session.id)
        # a new speed alone goes on from where the stream is (steering.position())
        self.assertEqual(steering.sent, [("PLAY", 4.0, 55.0), ("PLAY", 4.0, 120.0), ("PAUSE",), ("PLAY", 4.0, 30.0)])
        self.sessions.stop(session.id)
        self.assertEqual(steering.closed, "stopplay")
        yield self.assertFailure(self.sessions.resume(session.id), errors.NoSuchPlaySession)

    @defer.inlineCallbacks
    def test_bad_speeds_and_positions(self):
        session, steering = yield self.playing()
        for speed in (0, 0.0, 17, -17.5, float("nan"), "2", None, True):
            yield self.assertFailure(self.sessions.change_speed(session.id, speed), errors.BadValue)
        for when in (T0 - 1, T0 + 900, float("nan")):
            yield self.assertFailure(self.sessions.change_position(session.id, when), errors.NoRecording)
        self.assertEqual(steering.sent, [])
        yield self.assertFailure(self.sessions.pause(12345), errors.NoSuchPlaySession)

    @defer.inlineCallbacks
    def test_a_live_session_has_no_position_and_pauses_even_if_the_camera_cannot(self):
        session, steering = yield self.playing(recording=False)
        yield self.assertFailure(self.sessions.change_position(session.id, T0), errors.WrongPlayState)
        steering.refuse = 455
        yield self.sessions.pause(session.id)
        self.assertTrue(session.paused)
        yield self.sessions.resume(session.id)
        self.assertFalse(session.paused)
        failure = yield self.assertFailure(self.sessions.change_speed(session.id, 2.0), errors.WrongPlayState)
        self.assertIn("455", str(failure))
        self.assertEqual(session.speed, 1.0)

    @defer.inlineCallbacks
    def test_a_camera_that_does_not_answer(self):
        session, steering = yield self.playing()
        steering.refuse = None
        steering.play = lambda scale=None, position=None: defer.fail(errors.DeviceRefused("no answer"))
        yield self.assertFailure(self.sessions.change_speed(session.id, 2.0), errors.DeviceRefused)
        self.assertEqual(session.speed, 1.0)

    @defer.inlineCallbacks
    def test_a_stopped_session_closes_a_player_that_connects_late(self):
        session = yield self.sessions.open_live(self.user, CAM, 0)
        self.sessions.stop(session.id)
        steering = Steering()
        session.attached(steering)
        self.assertIn("stopped", steering.closed)


class PlatformRecordingTests(unittest.TestCase):
    """The platform's own recordings beside the device's (kandian.core.recordings over FakeStore)."""

    @defer.inlineCallbacks
    def setUp(self):
        from kandian.core.keys import Keys
        from kandian.core.recordings import RecordingLayout, Recordings

        self.store = FakeStore()
        self.clock = task.Clock()
        self.clock.advance(T0 + 7200)
        self.router = Router()
        self.devices = Devices(self.router)
        keys = Keys(self.store.secrets)
        yield keys.load()
        access = Access(self.store)
        self.sources = []
        play = Play(self.store, self.router, self.clock, relay_address=lambda: ("198.51.100.9", 8554),
                    recording_source=self.source)
        self.recordings = Recordings(self.store, self.clock, access, keys, None, RecordingLayout("/srv/files"),
                                     node="n", zone=ZONE, retention_days=0, base_url=lambda: None)
        self.sessions = PlaySessions(self.store, play, self.devices, access, self.clock, timezone=ZONE,
                                     recordings=self.recordings, keys=keys)
        self.play = play
        yield self.store.devices.add(CAM, "key", channels=1)
        user_id = yield self.store.users.add(A, "scrypt$x")
        yield self.store.bindings.bind(user_id, CAM, 4)
        self.user = Principal("user", user_id, A, "user")
        # a run of three 300 s pieces from 10:02 (the device's files are 10:00, 10:15 …), the last being written
        self.ids, run = [], None
        for seq in range(3):
            rid = yield self.store.recordings.begin("n", CAM, 0, 1, None, run, seq, "recordings/p%d.ts" % seq,
                                                    T0 + 120 + 300 * seq)
            run = run or rid
            if seq < 2:
                yield self.store.recordings.finish(rid, T0 + 420 + 300 * seq, 300.0, 1000)
            self.ids.append(rid)

    def source(self, recording_id):
        self.sources.append(recording_id)
        return ("127.0.0.1", 8597, "rtsp://127.0.0.1:8597/rec/%d?x" % recording_id)

    @defer.inlineCallbacks
    def test_listed_with_the_devices_oldest_first(self):
        spans = yield self.sessions.recordings(self.user, CAM, 0, T0, T0 + 900)
        self.assertEqual([(s.source, s.start) for s in spans],
                         [("device", T0), ("platform", T0 + 120), ("platform", T0 + 420)])
        self.assertEqual(spans[1].file_name, "platform:%d" % self.ids[0])

    @defer.inlineCallbacks
    def test_one_covering_the_time_is_played_without_asking_the_device(self):
        session = yield self.sessions.open_recording(self.user, CAM, 0, T0 + 500, T0 + 900)
        self.assertEqual(self.devices.queries, [])
        self.assertEqual(parse_play_url(session.url).file_name, "platform:%d" % self.ids[1])
        self.assertEqual((session.span.start, session.span.end), (T0 + 420, T0 + 720))  # its run's end on disk
        self.assertEqual(session.client_play(), (None, 80.0))
        # the relay fetches it from the file server, the device offline or not
        del self.router.peers[CAM]
        grant = yield self.play.authorize_relay(parse_play_url(session.url), "203.0.113.5")
        self.assertEqual((grant.dev_id, grant.upstreams), ("platform:%d" % self.ids[1],
                                                          [self.source(self.ids[1])]))
        self.play.release(grant.dev_id)
        self.assertEqual(dict(self.play.streams), {})

    @defer.inlineCallbacks
    def test_a_device_that_cannot_be_asked_adds_nothing(self):
        del self.router.peers[CAM]
        self.devices.refuse = True
        spans = yield self.sessions.recordings(self.user, CAM, 0, T0, T0 + 900)
        self.assertEqual([s.source for s in spans], ["platform", "platform"])
        yield self.assertFailure(self.sessions.recordings(self.user, CAM, 0, T0 - 86400, T0 - 3600),
                                 errors.DeviceRefused)

    @defer.inlineCallbacks
    def test_the_file_servers_signed_query(self):
        query = self.sessions.recording_query(self.ids[0])
        exp, sig = query.replace("exp=", "").split("&sig=")
        files, seconds = yield self.sessions.recording_files(self.ids[0], exp, sig)
        self.assertEqual(files, [("/srv/files/recordings/p0.ts", 300.0), ("/srv/files/recordings/p1.ts", 300.0)])
        self.assertEqual(seconds, 600.0)
        for bad in ((self.ids[1], exp, sig), (self.ids[0], exp, sig + "x"), (self.ids[0], "x", sig)):
            yield self.assertFailure(self.sessions.recording_files(*bad), errors.NotAuthenticated)
        self.clock.advance(60)
        yield self.assertFailure(self.sessions.recording_files(self.ids[0], exp, sig), errors.NotAuthenticated)

    @defer.inlineCallbacks
    def test_no_file_server_no_route(self):
        self.play.recording_source = lambda recording_id: None
        session = yield self.sessions.open_recording(self.user, CAM, 0, T0 + 500, T0 + 900)
        yield self.assertFailure(self.play.authorize_relay(parse_play_url(session.url), "203.0.113.5"),
                                 errors.NoRoute)
