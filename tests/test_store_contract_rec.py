"""The store contract of platform recording: schedules (spec 002's courses) and recorded pieces.

Each case runs against real PostgreSQL and against :class:`kandian.store.fake.FakeStore`.
"""

from twisted.internet import defer

from kandian.core.errors import NoSuchChannel, ScheduleOverlap
from kandian.store.recordings import RecordingFilter

from .store_contract import StoreContract, contract

DEV, OTHER = "81100000001", "81100000002"
HOUR = 3600


class SchedulesContract(StoreContract):
    @defer.inlineCallbacks
    def devices(self):
        yield self.store.devices.add(DEV, "k", channels=2)
        yield self.store.devices.add(OTHER, "k")

    @defer.inlineCallbacks
    def test_add_list_get_delete(self):
        yield self.devices()
        a = yield self.store.recordings.add_schedule(DEV, 0, 3, 10 * HOUR, HOUR, self.now)
        b = yield self.store.recordings.add_schedule(DEV, 0, 1, 9 * HOUR, 60, self.now)
        c = yield self.store.recordings.add_schedule(DEV, 1, 3, 10 * HOUR, HOUR, self.now)
        d = yield self.store.recordings.add_schedule(OTHER, 0, 0, 0, 86399, self.now)
        self.assertEqual((a.dev_id, a.channel_no, a.weekday, a.start, a.duration, a.end), (DEV, 0, 3, 36000, 3600, 39600))
        self.assertEqual((a.created_at, a.updated_at), (self.now, self.now))
        self.assertEqual(len({a.schedule_id, b.schedule_id, c.schedule_id, d.schedule_id}), 4)
        self.assertEqual((yield self.store.recordings.schedules(DEV, 0)), [b, a])
        self.assertEqual((yield self.store.recordings.schedules(DEV)), [b, a, c])
        self.assertEqual((yield self.store.recordings.schedules()), [b, a, c, d])
        self.assertEqual((yield self.store.recordings.schedule(c.schedule_id)), c)
        self.assertTrue((yield self.store.recordings.delete_schedule(c.schedule_id)))
        self.assertFalse((yield self.store.recordings.delete_schedule(c.schedule_id)))
        self.assertIsNone((yield self.store.recordings.schedule(c.schedule_id)))

    @defer.inlineCallbacks
    def test_overlap_is_refused_per_channel_and_weekday_touching_is_not(self):
        yield self.devices()
        a = yield self.store.recordings.add_schedule(DEV, 0, 3, 10 * HOUR, HOUR, self.now)
        for start, duration in [(10 * HOUR, 1), (9 * HOUR, HOUR + 1), (10 * HOUR + 3599, 10), (9 * HOUR, 3 * HOUR)]:
            yield self.assertFailure(self.store.recordings.add_schedule(DEV, 0, 3, start, duration, self.now),
                                     ScheduleOverlap)
        yield self.store.recordings.add_schedule(DEV, 0, 3, 9 * HOUR, HOUR, self.now)  # ends where a starts
        yield self.store.recordings.add_schedule(DEV, 0, 3, 11 * HOUR, HOUR, self.now)  # starts where a ends
        yield self.store.recordings.add_schedule(DEV, 0, 4, 10 * HOUR, HOUR, self.now)  # another day
        yield self.store.recordings.add_schedule(DEV, 1, 3, 10 * HOUR, HOUR, self.now)  # another channel
        self.assertEqual(len((yield self.store.recordings.schedules(DEV, 0))), 4)
        self.assertEqual((yield self.store.recordings.schedule(a.schedule_id)), a)

    @defer.inlineCallbacks
    def test_no_such_channel_and_impossible_windows(self):
        yield self.devices()
        yield self.assertFailure(self.store.recordings.add_schedule(DEV, 2, 0, 0, 60, self.now), NoSuchChannel)
        yield self.assertFailure(self.store.recordings.add_schedule("81100000009", 0, 0, 0, 60, self.now),
                                 NoSuchChannel)
        for weekday, start, duration in [(7, 0, 60), (0, 86399, 1), (0, 0, 0), (0, 23 * HOUR, HOUR)]:
            self.assertRaises(ValueError, self.store.recordings.add_schedule, DEV, 0, weekday, start, duration,
                              self.now)

    @defer.inlineCallbacks
    def test_update_moves_a_window_checking_the_others(self):
        yield self.devices()
        a = yield self.store.recordings.add_schedule(DEV, 0, 3, 10 * HOUR, HOUR, self.now)
        b = yield self.store.recordings.add_schedule(DEV, 0, 3, 12 * HOUR, HOUR, self.now)
        moved = yield self.store.recordings.update_schedule(a.schedule_id, 3, 10 * HOUR + 1800, HOUR, self.now + 5)
        self.assertEqual((moved.start, moved.updated_at, moved.created_at), (10 * HOUR + 1800, self.now + 5, self.now))
        yield self.assertFailure(self.store.recordings.update_schedule(a.schedule_id, 3, 11 * HOUR + 1, HOUR,
                                                                       self.now), ScheduleOverlap)
        yield self.store.recordings.update_schedule(b.schedule_id, 3, 12 * HOUR, 2 * HOUR, self.now)
        self.assertIsNone((yield self.store.recordings.update_schedule(999999, 3, 0, 60, self.now)))


class RecordingsContract(StoreContract):
    @defer.inlineCallbacks
    def piece(self, dev=DEV, channel=0, run_id=None, seq=0, at=None, node="test", schedule_id=None):
        at = self.now if at is None else at
        recording_id = yield self.store.recordings.begin(node, dev, channel, 1, schedule_id, run_id, seq,
                                                         "recordings/%s/%d/r_%d.ts" % (dev, channel, seq), at)
        return recording_id

    @defer.inlineCallbacks
    def test_a_run_of_pieces_written_finished_and_described(self):
        first = yield self.piece()
        r = yield self.store.recordings.get(first)
        self.assertEqual((r.run_id, r.seq, r.complete, r.ended_at, r.size, r.segments, r.snapshot, r.node),
                         (first, 0, False, None, 0, None, None, "test"))
        self.assertEqual((r.dev_id, r.channel_no, r.stream_type, r.started_at), (DEV, 0, 1, self.now))
        second = yield self.piece(run_id=first, seq=1, at=self.now + 300)
        yield self.assertFailure(self.piece(run_id=first, seq=1), Exception)
        self.assertTrue((yield self.store.recordings.finish(first, self.now + 300, 300.5, 1000)))
        self.assertTrue((yield self.store.recordings.describe(first, [(0, 600, 2.0), (600, 400, 298.5)],
                                                              "recordings/x.jpg")))
        r = yield self.store.recordings.get(first)
        self.assertEqual((r.complete, r.ended_at, r.duration, r.size), (True, self.now + 300, 300.5, 1000))
        self.assertEqual((r.segments, r.snapshot), (((0, 600, 2.0), (600, 400, 298.5)), "recordings/x.jpg"))
        self.assertEqual([p.recording_id for p in (yield self.store.recordings.run(first))], [first, second])
        self.assertEqual((yield self.store.recordings.unfinished("test")),
                         [(yield self.store.recordings.get(second))])
        self.assertEqual((yield self.store.recordings.unfinished("elsewhere")), [])
        self.assertEqual((yield self.store.recordings.usage("test")), (2, 1000))
        yield self.store.recordings.discard(second)
        self.assertIsNone((yield self.store.recordings.get(second)))
        self.assertFalse((yield self.store.recordings.finish(second, self.now, 1, 1)))

    @defer.inlineCallbacks
    def test_pages_by_device_channel_time_and_user(self):
        yield self.store.devices.add(DEV, "k", channels=2)
        yield self.store.devices.add(OTHER, "k")
        user_id = yield self.store.users.add("13800000001", "scrypt$x")
        yield self.store.bindings.bind(user_id, OTHER, 4)
        a = yield self.piece(at=self.now)
        b = yield self.piece(at=self.now + 300, seq=1, run_id=a)
        c = yield self.piece(channel=1, at=self.now + 100)
        d = yield self.piece(dev=OTHER, at=self.now + 50)
        for rid in (a, c, d):
            yield self.store.recordings.finish(rid, self.now + 300 if rid == a else self.now + 400, 300, 10)

        def ids(page):
            return (page[0], [r.recording_id for r in page[1]])
        everything = yield self.store.recordings.page(RecordingFilter(), 0, 10)
        self.assertEqual(ids(everything), (4, [b, c, d, a]))
        self.assertEqual(ids((yield self.store.recordings.page(RecordingFilter(), 1, 2))), (4, [c, d]))
        self.assertEqual(ids((yield self.store.recordings.page(RecordingFilter(dev_id=DEV), 0, 10))), (3, [b, c, a]))
        self.assertEqual(ids((yield self.store.recordings.page(RecordingFilter(dev_id=DEV, channel_no=0), 0, 10))),
                         (2, [b, a]))
        # pieces that overlap [since, until): a ends at now+300, b is still being written
        self.assertEqual(ids((yield self.store.recordings.page(RecordingFilter(dev_id=DEV, channel_no=0,
                                                                               since=self.now + 300), 0, 10))),
                         (1, [b]))
        self.assertEqual(ids((yield self.store.recordings.page(RecordingFilter(until=self.now + 100), 0, 10))),
                         (2, [d, a]))
        self.assertEqual(ids((yield self.store.recordings.page(RecordingFilter(user_id=user_id), 0, 10))), (1, [d]))

    @defer.inlineCallbacks
    def test_claim_hides_a_complete_piece_and_not_one_being_written(self):
        a = yield self.piece()
        b = yield self.piece(run_id=a, seq=1)
        yield self.store.recordings.finish(a, self.now + 300, 300, 10)
        claimed = yield self.store.recordings.claim(a)
        self.assertEqual((claimed.recording_id, claimed.complete), (a, True))
        self.assertIsNone((yield self.store.recordings.get(a)))
        self.assertIsNone((yield self.store.recordings.claim(a)))
        self.assertEqual([r.recording_id for r in (yield self.store.recordings.run(a))], [b])
        self.assertEqual((yield self.store.recordings.page(RecordingFilter(), 0, 10))[0], 1)
        writing = yield self.store.recordings.claim(b)
        self.assertEqual((writing.recording_id, writing.complete), (b, False))
        self.assertIsNotNone((yield self.store.recordings.get(b)))
        yield self.store.recordings.remove(a)
        self.assertIsNone((yield self.store.recordings.claim(a)))

    @defer.inlineCallbacks
    def test_expired_claims_old_complete_pieces_of_this_node_and_those_left_deleting(self):
        old = yield self.piece(at=self.now - 10 * 86400)
        left = yield self.piece(at=self.now - 86400, seq=1, run_id=old)
        new = yield self.piece(at=self.now - 100, seq=2, run_id=old)
        writing = yield self.piece(at=self.now - 20 * 86400, seq=3, run_id=old)
        theirs = yield self.piece(at=self.now - 10 * 86400, node="other")
        for rid, end in ((old, -10 * 86400 + 300), (left, -86400 + 300), (new, 0), (theirs, -10 * 86400 + 300)):
            yield self.store.recordings.finish(rid, self.now + end, 300, 1)
        yield self.store.recordings.claim(left)
        found = yield self.store.recordings.expired("test", self.now - 5 * 86400, 10)
        self.assertEqual([r.recording_id for r in found], [old, left])
        self.assertIsNone((yield self.store.recordings.get(old)))
        self.assertEqual([r.recording_id for r in (yield self.store.recordings.expired("test", self.now - 5 * 86400,
                                                                                          1))], [old])
        self.assertIsNotNone((yield self.store.recordings.get(new)))
        self.assertIsNotNone((yield self.store.recordings.get(writing)))
        self.assertIsNotNone((yield self.store.recordings.get(theirs)))

    @defer.inlineCallbacks
    def test_a_deleted_schedule_leaves_its_recordings(self):
        yield self.store.devices.add(DEV, "k")
        s = yield self.store.recordings.add_schedule(DEV, 0, 3, 0, 60, self.now)
        a = yield self.piece(schedule_id=s.schedule_id)
        self.assertEqual((yield self.store.recordings.get(a)).schedule_id, s.schedule_id)
        yield self.store.recordings.delete_schedule(s.schedule_id)
        self.assertIsNone((yield self.store.recordings.get(a)).schedule_id)
        b = yield self.piece(schedule_id=s.schedule_id, seq=1, run_id=a)
        self.assertIsNone((yield self.store.recordings.get(b)).schedule_id)


RealSchedules, FakeSchedules = contract(SchedulesContract)
RealRecordings, FakeRecordings = contract(RecordingsContract)
