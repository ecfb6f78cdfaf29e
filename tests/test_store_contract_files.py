"""The store contract of the FTP slice: uploads on disk, FTP generations, pictures and their alarms.

Each case runs against real PostgreSQL and against :class:`kandian.store.fake.FakeStore`.
"""

from twisted.internet import defer

from kandian.core.errors import NoSuchDevice
from kandian.store.files import LINK_WINDOW, Expired, Upload

from .store_contract import StoreContract, contract

DEV, OTHER = "81100000001", "81100000002"
SHA = "ab" * 32
PIC = DEV + "_0_20270115080000.jpg"


class FilesContract(StoreContract):
    @defer.inlineCallbacks
    def devices(self):
        yield self.store.devices.add(DEV, "k", channels=2)
        yield self.store.devices.add(OTHER, "k")

    def alarm(self, at, channel=0, alarm_type=1, file_name=""):
        return self.store.alarms.add(DEV, channel, alarm_type, "", None, file_name, at)

    @defer.inlineCallbacks
    def test_generation_starts_at_0_and_rotates(self):
        yield self.devices()
        self.assertEqual((yield self.store.files.account(DEV)), (0, 0))
        self.assertIsNone((yield self.store.files.account("81100000009")))
        self.assertEqual((yield self.store.files.rotate(DEV)), 1)
        self.assertEqual((yield self.store.files.rotate(DEV)), 2)
        self.assertEqual((yield self.store.files.account(DEV))[0], 2)
        self.assertEqual((yield self.store.files.account(OTHER))[0], 0)
        yield self.assertFailure(self.store.files.rotate("81100000009"), NoSuchDevice)

    @defer.inlineCallbacks
    def test_many_accounts_in_one_lookup_without_the_unknown(self):
        yield self.devices()
        yield self.store.files.rotate(OTHER)
        yield self.store.files.stored(DEV, "logs", "a.log", 100, SHA, self.now)
        self.assertEqual((yield self.store.files.accounts([DEV, "81100000009", OTHER])),
                         {DEV: (0, 100), OTHER: (1, 0)})
        self.assertEqual((yield self.store.files.accounts([])), {})

    @defer.inlineCallbacks
    def test_usage_sums_a_devices_files_and_a_replaced_file_counts_once(self):
        yield self.devices()
        self.assertEqual((yield self.store.files.account(DEV))[1], 0)
        yield self.store.files.stored(DEV, "logs", "a.log", 100, SHA, self.now)
        yield self.store.files.stored(DEV, "pictures", PIC, 50, SHA, self.now, channel_no=0)
        yield self.store.files.stored(OTHER, "logs", "a.log", 7, SHA, self.now)
        self.assertEqual((yield self.store.files.account(DEV))[1], 150)
        yield self.store.files.stored(DEV, "logs", "a.log", 10, SHA, self.now + 1)
        self.assertEqual((yield self.store.files.account(DEV))[1], 60)
        self.assertEqual((yield self.store.files.account(OTHER))[1], 7)
        yield self.assertFailure(self.store.files.stored(DEV, "firmware", "x", 1, SHA, self.now), ValueError)
        yield self.assertFailure(self.store.files.stored(DEV, "pictures", PIC, 1, SHA, self.now), ValueError)

    @defer.inlineCallbacks
    def test_many_at_once_the_last_of_a_name_wins_and_pictures_link(self):
        yield self.devices()
        first = yield self.alarm(self.now, channel=0)
        second = yield self.alarm(self.now, channel=1)
        pic1 = DEV + "_1_20270115080000.jpg"
        yield self.store.files.stored_many([
            Upload(DEV, "logs", "a.log", 1, SHA, self.now),
            Upload(DEV, "pictures", PIC, 10, SHA, self.now, 0, None),
            Upload(OTHER, "logs", "a.log", 5, SHA, self.now),
            Upload(DEV, "pictures", pic1, 20, SHA, self.now, 1, None),
            Upload(DEV, "logs", "a.log", 3, SHA, self.now),
        ])
        self.assertEqual((yield self.store.files.account(DEV))[1], 33)
        self.assertEqual((yield self.store.files.account(OTHER))[1], 5)
        self.assertEqual((yield self.store.files.alarm_picture(first)).file_name, PIC)
        self.assertEqual((yield self.store.files.alarm_picture(second)).file_name, pic1)
        # one record no row can take fails the lot, and nothing of it is kept
        yield self.assertFailure(self.store.files.stored_many([
            Upload(DEV, "logs", "b.log", 1, SHA, self.now), Upload("81100000009", "logs", "b.log", 1, SHA, self.now)]),
            Exception)
        self.assertEqual((yield self.store.files.account(DEV))[1], 33)

    @defer.inlineCallbacks
    def test_picture_after_its_alarm(self):
        yield self.devices()
        alarm_id = yield self.alarm(self.now)
        self.assertIsNone((yield self.store.files.alarm_picture(alarm_id)))
        yield self.store.files.stored(DEV, "pictures", PIC, 1234, SHA, self.now + 5, channel_no=0,
                                      taken_at=self.now - 1)
        picture = yield self.store.files.alarm_picture(alarm_id)
        self.assertEqual(tuple(picture), (DEV, PIC, 1234, SHA, self.now - 1))

    @defer.inlineCallbacks
    def test_picture_before_its_alarm(self):
        yield self.devices()
        self.assertFalse((yield self.store.files.notified(DEV, 0, PIC, self.now, self.now)))  # not uploaded yet
        alarm_id = yield self.alarm(self.now + 20)
        self.assertEqual((yield self.store.files.link_alarm(alarm_id)) is not None, True)
        self.assertIsNone((yield self.store.files.alarm_picture(alarm_id)))  # linked, not on disk
        yield self.store.files.stored(DEV, "pictures", PIC, 9, SHA, self.now + 30, channel_no=0)
        picture = yield self.store.files.alarm_picture(alarm_id)
        self.assertEqual((picture.file_name, picture.size, picture.taken_at), (PIC, 9, self.now))
        self.assertTrue((yield self.store.files.notified(DEV, 0, PIC, None, self.now + 31)))

    @defer.inlineCallbacks
    def test_only_within_the_window_and_on_its_channel(self):
        yield self.devices()
        late = yield self.alarm(self.now + LINK_WINDOW + 1)
        other_channel = yield self.alarm(self.now, channel=1)
        yield self.store.files.stored(DEV, "pictures", PIC, 9, SHA, self.now, channel_no=0)
        self.assertIsNone((yield self.store.files.alarm_picture(late)))
        self.assertIsNone((yield self.store.files.alarm_picture(other_channel)))
        # an alarm stored later within the window takes it
        near = yield self.alarm(self.now + LINK_WINDOW, alarm_type=2)
        yield self.store.files.link_alarm(near)
        self.assertEqual((yield self.store.files.alarm_picture(near)).file_name, PIC)

    @defer.inlineCallbacks
    def test_an_alarm_takes_the_picture_it_names_before_a_nearer_one(self):
        yield self.devices()
        named = DEV + "_0_20270115075900.jpg"
        yield self.store.files.stored(DEV, "pictures", named, 1, SHA, self.now - 50, channel_no=0)
        yield self.store.files.stored(DEV, "pictures", PIC, 2, SHA, self.now, channel_no=0)
        alarm_id = yield self.alarm(self.now, file_name=named)
        yield self.store.files.link_alarm(alarm_id)
        self.assertEqual((yield self.store.files.alarm_picture(alarm_id)).file_name, named)
        # and a picture named by an alarm linked to another one by time takes it over
        third = DEV + "_0_20270115080010.jpg"
        other = yield self.alarm(self.now, alarm_type=3, file_name=third)
        yield self.store.files.link_alarm(other)
        self.assertEqual((yield self.store.files.alarm_picture(other)).file_name, PIC)
        yield self.store.files.stored(DEV, "pictures", third, 3, SHA, self.now + 10, channel_no=0)
        self.assertEqual((yield self.store.files.alarm_picture(other)).file_name, third)

    @defer.inlineCallbacks
    def test_nearest_picture_wins(self):
        yield self.devices()
        yield self.store.files.stored(DEV, "pictures", DEV + "_0_20270115075930.jpg", 1, SHA, self.now - 30,
                                      channel_no=0)
        yield self.store.files.stored(DEV, "pictures", PIC, 2, SHA, self.now + 5, channel_no=0)
        alarm_id = yield self.alarm(self.now)
        yield self.store.files.link_alarm(alarm_id)
        self.assertEqual((yield self.store.files.alarm_picture(alarm_id)).file_name, PIC)
        self.assertIsNone((yield self.store.files.link_alarm(10**9)))

    @defer.inlineCallbacks
    def test_alarm_list_shows_pictures(self):
        yield self.devices()
        first = yield self.alarm(self.now)
        second = yield self.alarm(self.now + 100)
        yield self.store.files.notified(DEV, 0, PIC, None, self.now + 101)  # linked, not on disk
        yield self.store.files.stored(OTHER, "logs", "x.log", 1, SHA, self.now)
        rows = yield self.store.files.alarms()
        self.assertEqual([(r.alarm_id, r.picture, r.picture_on_disk) for r in rows],
                         [(second, PIC, False), (first, None, False)])
        self.assertEqual(rows[0].at, self.now + 100)
        yield self.store.files.stored(DEV, "pictures", PIC, 2, SHA, self.now + 102, channel_no=0)
        rows = yield self.store.files.alarms(DEV, limit=1)
        self.assertEqual([(r.alarm_id, r.dev_id, r.channel_no, r.picture_on_disk) for r in rows],
                         [(second, DEV, 0, True)])
        self.assertEqual((yield self.store.files.alarms(OTHER)), [])

    @defer.inlineCallbacks
    def test_retention_takes_the_oldest_files_with_their_rows(self):
        yield self.devices()
        old_pic, new_pic = DEV + "_0_20270115080000.jpg", DEV + "_0_20270116080000.jpg"
        alarm_id = yield self.alarm(self.now - 1000)
        yield self.store.files.stored(DEV, "pictures", old_pic, 10, SHA, self.now - 1000, channel_no=0)
        yield self.store.files.stored(DEV, "pictures", new_pic, 20, SHA, self.now, channel_no=0)
        yield self.store.files.stored(OTHER, "logs", "old.log", 5, SHA, self.now - 900)
        yield self.store.devlogs.stored(OTHER, "old.log", 5, SHA, self.now - 900)
        yield self.store.files.stored(OTHER, "logs", "older.log", 6, SHA, self.now - 950)
        yield self.store.devlogs.stored(OTHER, "older.log", 6, SHA, self.now - 950)
        self.assertEqual((yield self.store.files.alarm_picture(alarm_id)).file_name, old_pic)
        # oldest first, at most *limit*
        gone = yield self.store.files.expired(self.now - 10, 2)
        self.assertEqual(gone, [Expired(DEV, "pictures", old_pic), Expired(OTHER, "logs", "older.log")])
        self.assertIsNone((yield self.store.files.alarm_picture(alarm_id)))
        self.assertEqual((yield self.store.files.account(DEV))[1], 20)
        self.assertEqual([f.file_name for f in (yield self.store.devlogs.files(OTHER))], ["old.log"])
        self.assertEqual((yield self.store.files.expired(self.now - 10, 100)), [Expired(OTHER, "logs", "old.log")])
        self.assertEqual((yield self.store.files.account(OTHER))[1], 0)
        self.assertEqual((yield self.store.files.expired(self.now - 10, 100)), [])
        rows = yield self.store.files.alarms(DEV)
        self.assertEqual([(r.alarm_id, r.picture) for r in rows], [(alarm_id, None)])  # the alarm stays

    @defer.inlineCallbacks
    def test_retention_takes_pictures_announced_and_never_sent(self):
        yield self.devices()
        yield self.store.files.notified(DEV, 0, PIC, None, self.now - 1000)
        yield self.store.files.notified(DEV, 1, DEV + "_1_20270115080000.jpg", None, self.now)
        yield self.store.files.stored(DEV, "pictures", DEV + "_0_20270114080000.jpg", 1, SHA, self.now - 2000,
                                      channel_no=0)
        self.assertEqual((yield self.store.files.unsent_pictures(self.now - 10, 100)), 1)  # not the uploaded one
        self.assertEqual((yield self.store.files.unsent_pictures(self.now - 10, 100)), 0)
        alarm_id = yield self.alarm(self.now - 1000)
        self.assertIsNone((yield self.store.files.link_alarm(alarm_id)))  # PIC's row is gone
        self.assertEqual(len((yield self.store.files.expired(self.now - 10, 100))), 1)


RealFiles, FakeFiles = contract(FilesContract)
