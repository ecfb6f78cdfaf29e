"""The contract of the group components (fake and PostgreSQL): the province's outbox
of user changes and kept §6.1 answer (store.group), the group platform's own tables
(store.group_role), and the users component's changes that queue for the group."""

from twisted.internet import defer

from kandian.core.errors import AccountExists, NoSuchAccount, NoSuchDevice, ProvinceExists
from kandian.store.group import Report

from .store_contract import StoreContract, contract

A, B = "13800000001", "13800000002"
CAM, CAM2 = "81100000001", "81200000002"


class GroupOutboxContract(StoreContract):
    @defer.inlineCallbacks
    def queued(self):
        changes = yield self.store.group.pending()
        return [(c.kind, c.mobile, c.ipcam_num) for c in changes]

    @defer.inlineCallbacks
    def test_user_changes_queue_in_their_transaction(self):
        yield self.store.users.add(A, "scrypt$a", 4, group_at=self.now)
        yield self.store.users.add(B, "scrypt$b", 2)  # no group platform: nothing queued
        yield self.assertFailure(self.store.users.add(A, "scrypt$c", 9, group_at=self.now), AccountExists)
        yield self.store.users.set_max_devices(A, 6, group_at=self.now)
        yield self.store.users.set_max_devices(B, 3)
        yield self.assertFailure(self.store.users.set_max_devices("13899999999", 1, group_at=self.now),
                                 NoSuchAccount)
        yield self.store.users.cancel(A, group_at=self.now)
        yield self.assertFailure(self.store.users.cancel(A, group_at=self.now), NoSuchAccount)
        self.assertEqual((yield self.queued()), [("open", A, 4), ("change", A, 6), ("cancel", A, None)])
        self.assertIsNone((yield self.store.users.active(A)))
        self.assertEqual((yield self.store.users.active(B)).max_devices, 3)
        # a cancelled number can be opened again
        yield self.store.users.add(A, "scrypt$d", 1, group_at=self.now)
        self.assertEqual(len((yield self.queued())), 4)

    @defer.inlineCallbacks
    def test_only_the_oldest_change_of_a_number_is_claimed_and_claims_are_leases(self):
        yield self.store.users.add(A, "scrypt$a", 4, group_at=self.now)
        yield self.store.users.set_max_devices(A, 5, group_at=self.now)
        yield self.store.users.add(B, "scrypt$b", 2, group_at=self.now + 10)
        claimed = yield self.store.group.claim(self.now, lease=60)
        self.assertEqual([(c.kind, c.mobile, c.attempts) for c in claimed], [("open", A, 1)])
        # leased: nobody else gets it, and A's change waits behind it
        self.assertEqual((yield self.store.group.claim(self.now + 5, lease=60)), [])
        # B is due at now+10, the lease of A's open runs out at now+60
        later = yield self.store.group.claim(self.now + 60, lease=60)
        self.assertEqual([(c.kind, c.mobile, c.attempts) for c in later], [("open", A, 2), ("open", B, 1)])
        yield self.store.group.failed(later[0].change_id, self.now + 500, 255, "Result 255")
        yield self.store.group.delivered(later[1].change_id)
        self.assertEqual((yield self.store.group.claim(self.now + 499, lease=60)), [])
        pending = yield self.store.group.pending()
        self.assertEqual([(c.kind, c.attempts, c.next_attempt_at, c.last_result, c.last_error) for c in pending],
                         [("open", 2, self.now + 500, 255, "Result 255"), ("change", 0, self.now, None, "")])
        again = yield self.store.group.claim(self.now + 500, lease=60, mobile=B)
        self.assertEqual(again, [])
        again = yield self.store.group.claim(self.now + 500, lease=60, mobile=A)
        self.assertEqual([c.kind for c in again], ["open"])
        yield self.store.group.delivered(again[0].change_id)
        last = yield self.store.group.claim(self.now + 500, lease=60, limit=5)
        self.assertEqual([(c.kind, c.ipcam_num) for c in last], [("change", 5)])
        # a change the group lost the user of is sent again as an open
        yield self.store.group.failed(last[0].change_id, self.now + 500, 3, "no such user", kind="open")
        self.assertEqual((yield self.queued()), [("open", A, 5)])

    @defer.inlineCallbacks
    def test_retry_and_drop(self):
        yield self.store.users.add(A, "scrypt$a", 4, group_at=self.now)
        yield self.store.users.add(B, "scrypt$b", 4, group_at=self.now)
        first, second = yield self.store.group.pending()
        yield self.store.group.failed(first.change_id, self.now + 3600, None, "unreachable")
        yield self.store.group.failed(second.change_id, self.now + 3600, None, "unreachable")
        self.assertEqual((yield self.store.group.retry(self.now + 1, first.change_id)), 1)
        self.assertEqual([c.mobile for c in (yield self.store.group.claim(self.now + 1, 60))], [A])
        self.assertEqual((yield self.store.group.retry(self.now + 2)), 2)
        self.assertEqual((yield self.store.group.retry(self.now + 2, 999999)), 0)
        self.assertTrue((yield self.store.group.drop(second.change_id)))
        self.assertFalse((yield self.store.group.drop(second.change_id)))
        self.assertEqual([c.mobile for c in (yield self.store.group.pending())], [A])

    @defer.inlineCallbacks
    def test_the_last_report(self):
        self.assertIsNone((yield self.store.group.report()))
        first = Report(self.now, 0, "http://a/1.apk", "A-1.1", "", "", "http://w/1.exe", "W-1.0")
        yield self.store.group.save_report(first)
        self.assertEqual((yield self.store.group.report()), first)
        second = first._replace(reported_at=self.now + 3600, result=2)
        yield self.store.group.save_report(second)
        self.assertEqual((yield self.store.group.report()), second)


class GroupRoleContract(StoreContract):
    @defer.inlineCallbacks
    def test_provinces_and_their_reports(self):
        yield self.store.group_role.add_province("3100", "01", "scrypt$x", name="上海", mcu_url="http://m/mcu")
        yield self.store.group_role.add_province("3100", "02", "scrypt$y")
        yield self.assertFailure(self.store.group_role.add_province("3100", "01", "scrypt$z"), ProvinceExists)
        found = yield self.store.group_role.province("3100", "01")
        self.assertEqual(tuple(found), ("3100", "01", "scrypt$x", "上海", "http://m/mcu", "", "", None, 0, 0))
        self.assertIsNone((yield self.store.group_role.province("3100", "03")))
        yield self.store.group_role.reported("3100", "01", "1.0", "http://p/mcu", "http://p/register", self.now)
        found = yield self.store.group_role.province("3100", "01")
        self.assertEqual((found.cms_ver, found.mcu_url, found.dev_url, found.reported_at),
                         ("1.0", "http://p/mcu", "http://p/register", self.now))
        listed = yield self.store.group_role.provinces()
        self.assertEqual([(p.province_no, p.cms_no) for p in listed], [("3100", "01"), ("3100", "02")])

    @defer.inlineCallbacks
    def test_users_per_province(self):
        role = self.store.group_role
        yield role.add_province("3100", "01", "scrypt$x")
        yield role.add_province("4400", "01", "scrypt$y")
        yield role.open_user("3100", "01", A, 4, self.now)
        yield role.open_user("3100", "01", A, 5, self.now)  # again: its IpcamNum
        yield role.open_user("3100", "01", B, 1, self.now)
        self.assertTrue((yield role.change_user("3100", "01", B, 2, self.now)))
        self.assertFalse((yield role.change_user("4400", "01", B, 2, self.now)))  # another province's user
        self.assertEqual((yield role.users("3100", "01")), [(A, 5), (B, 2)])
        self.assertTrue((yield role.cancel_user("3100", "01", A)))
        self.assertFalse((yield role.cancel_user("3100", "01", A)))
        self.assertEqual((yield role.users("3100", "01")), [(B, 2)])
        self.assertEqual((yield role.province("3100", "01")).users, 1)

    @defer.inlineCallbacks
    def test_devices_are_stored_when_they_ask_and_claimed_by_one_province(self):
        role = self.store.group_role
        yield role.add_province("3100", "01", "scrypt$x", dev_url="http://p1/register")
        yield role.add_province("3100", "02", "scrypt$y")
        first = yield role.asked(CAM, "k1", "DS-2CD", 1, self.now)
        self.assertEqual(first, (("k1", False, "", True)))
        # the first key stays the device's key
        again = yield role.asked(CAM, "other", "DS-2CD", 1, self.now + 1)
        self.assertEqual(again, ("k1", False, "", False))
        yield self.assertFailure(role.asked("99900000001", "k", "", 1, self.now), NoSuchDevice)
        self.assertIsNone((yield role.device("99900000001")))
        self.assertEqual(tuple((yield role.device(CAM))), (CAM, "k1", None, None))
        self.assertTrue((yield role.claim(CAM, "3100", "01", self.now)))
        self.assertTrue((yield role.claim(CAM, "3100", "01", self.now)))  # the same province again
        self.assertFalse((yield role.claim(CAM, "3100", "02", self.now)))
        self.assertFalse((yield role.claim(CAM2, "3100", "01", self.now)))  # never asked
        self.assertEqual((yield role.asked(CAM, "k1", "", None, self.now)), ("k1", True, "http://p1/register", False))
        self.assertEqual(tuple((yield role.device(CAM))), (CAM, "k1", "3100", "01"))
        self.assertEqual((yield role.province("3100", "01")).devices, 1)

    @defer.inlineCallbacks
    def test_client_releases(self):
        role = self.store.group_role
        self.assertEqual((yield role.releases()), {})
        yield role.set_release("android", "A-2.0", "http://d/a.apk", self.now)
        yield role.set_release("android", "A-2.1", "http://d/a21.apk", self.now)
        yield role.set_release("ios", "I-3.0", "http://d/i", self.now)
        self.assertEqual((yield role.releases()), {"android": ("A-2.1", "http://d/a21.apk"),
                                                   "ios": ("I-3.0", "http://d/i")})


RealGroupOutbox, FakeGroupOutbox = contract(GroupOutboxContract)
RealGroupRole, FakeGroupRole = contract(GroupRoleContract)
