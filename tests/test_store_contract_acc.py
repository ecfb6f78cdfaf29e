"""The contract of the store's users, sessions, bindings and sms_requests components (fake and PostgreSQL)."""

from twisted.internet import defer

from kandian.core.errors import AccountExists, AlreadyBound, OverLimit
from kandian.store.fake import FakeStore

from .store_contract import StoreContract, contract

A, B = "13800000001", "13800000002"
CAM, CAM2 = "81100000001", "81100000002"
TIMEOUT = 1800.0


def add_device(store, dev_id, key="key", channels=1):
    """A provisioned device with *channels* channels (the devices component is another slice's)."""
    if isinstance(store, FakeStore):
        store.tables.setdefault("device", {})[dev_id] = dict(dev_key=key, online=False, dev_type=1, model="",
                                                             channel_num=channels)
        for n in range(channels):
            store.tables.setdefault("channel", {})[(dev_id, n)] = dict(name="")
        return defer.succeed(None)
    return store.devices.add(dev_id, key, channels=channels)


class AccContract(StoreContract):
    @defer.inlineCallbacks
    def test_users(self):
        a = yield self.store.users.add(A, "scrypt$a", 6)
        yield self.assertFailure(self.store.users.add(A, "scrypt$b"), AccountExists)
        found = yield self.store.users.active(A)
        self.assertEqual(tuple(found), (a, "scrypt$a", 6, None))
        self.assertIsNone((yield self.store.users.active(B)))
        yield self.store.users.set_password_hash(a, "scrypt$new", self.now)
        self.assertEqual((yield self.store.users.active(A)).password_hash, "scrypt$new")
        yield self.store.users.add(B, "scrypt$b")
        listed = yield self.store.users.list()
        self.assertEqual([(u.mobile, u.max_devices, u.devices) for u in listed], [(A, 6, 0), (B, 4, 0)])

    @defer.inlineCallbacks
    def test_sessions_live_expire_and_end(self):
        a = yield self.store.users.add(A, "scrypt$a")
        yield self.store.users.add(B, "scrypt$b")
        s = yield self.store.sessions.open(a, "A-1.0", "127.0.0.1", self.now)
        self.assertEqual(tuple((yield self.store.sessions.check(A, s, self.now + 10, TIMEOUT))), (a, True))
        self.assertIsNone((yield self.store.sessions.check("13899999999", s, self.now, TIMEOUT)))
        # another account's session is not live for this one
        self.assertEqual(tuple((yield self.store.sessions.check(B, s, self.now, TIMEOUT)))[1], False)
        # use keeps it alive: touched at +1000, still live at +2500
        yield self.store.sessions.check(A, s, self.now + 1000, TIMEOUT)
        self.assertTrue((yield self.store.sessions.check(A, s, self.now + 2500, TIMEOUT)).live)
        self.assertFalse((yield self.store.sessions.check(A, s, self.now + 2501 + TIMEOUT, TIMEOUT)).live)
        s2 = yield self.store.sessions.open(a, "A-1.0", None, self.now)
        yield self.store.sessions.end(s2, self.now + 1)
        self.assertFalse((yield self.store.sessions.check(A, s2, self.now + 2, TIMEOUT)).live)

    @defer.inlineCallbacks
    def test_a_session_opened_for_a_verified_hash(self):
        a = yield self.store.users.add(A, "scrypt$a", 6)
        b = yield self.store.users.add(B, "scrypt$b")
        yield add_device(self.store, CAM, "k1", channels=2)
        yield self.store.bindings.bind(a, CAM, 6)
        opened = yield self.store.sessions.open_verified(a, A, "scrypt$a", "A-1.0", "127.0.0.1", self.now)
        session, max_devices, channels = opened
        self.assertEqual((max_devices, [(c.dev_id, c.channel_no, c.share_flag) for c in channels]),
                         (6, [(CAM, 0, 0), (CAM, 1, 0)]))
        self.assertEqual(tuple((yield self.store.sessions.check(A, session, self.now, TIMEOUT))), (a, True))
        session, max_devices, channels = yield self.store.sessions.open_verified(b, B, "scrypt$b", "A-1.0", None,
                                                                                 self.now)
        self.assertEqual((max_devices, channels), (4, []))
        self.assertTrue((yield self.store.sessions.check(B, session, self.now, TIMEOUT)).live)
        # another hash, another account's user, a changed password, a closed account: no session
        for user_id, account, stored in ((a, A, "scrypt$b"), (b, A, "scrypt$a"), (a, B, "scrypt$a")):
            self.assertIsNone((yield self.store.sessions.open_verified(user_id, account, stored, "A-1.0", None,
                                                                       self.now)))
        yield self.store.users.set_password_hash(a, "scrypt$new", self.now)
        self.assertIsNone((yield self.store.sessions.open_verified(a, A, "scrypt$a", "A-1.0", None, self.now)))
        self.assertIsNotNone((yield self.store.sessions.open_verified(a, A, "scrypt$new", "A-1.0", None, self.now)))
        yield self.store.users.cancel(B)
        self.assertIsNone((yield self.store.sessions.open_verified(b, B, "scrypt$b", "A-1.0", None, self.now)))

    @defer.inlineCallbacks
    def test_bindings_and_the_access_check(self):
        a = yield self.store.users.add(A, "scrypt$a", 1)
        b = yield self.store.users.add(B, "scrypt$b")
        yield add_device(self.store, CAM, "k1", channels=2)
        yield add_device(self.store, CAM2, "k2")
        self.assertEqual((yield self.store.bindings.key_and_binding(CAM, a)), ("k1", False))
        self.assertEqual((yield self.store.bindings.key_and_binding("81199999999", a)), (None, False))
        yield self.store.bindings.bind(a, CAM, 1)
        yield self.assertFailure(self.store.bindings.bind(a, CAM2, 1), OverLimit)
        yield self.assertFailure(self.store.bindings.bind(b, CAM, 4), AlreadyBound)
        self.assertEqual((yield self.store.bindings.key_and_binding(CAM, b)), ("k1", True))
        yield self.store.bindings.share(b, CAM)
        yield self.assertFailure(self.store.bindings.share(b, CAM), AlreadyBound)
        bound = yield self.store.bindings.bound(b, CAM)
        self.assertEqual((bound.user_id, bound.dev_id, bound.dev_key, bound.share_flag), (b, CAM, "k1", 1))
        self.assertIsNone((yield self.store.bindings.bound(b, CAM2)))

        s = yield self.store.sessions.open(b, "A-1.0", None, self.now)
        session, device = yield self.store.sessions.check_bound(B, s, CAM, 1, self.now, TIMEOUT)
        self.assertEqual((session.user_id, device.dev_id, device.user_id), (b, CAM, b))
        _, device = yield self.store.sessions.check_bound(B, s, CAM, 2, self.now, TIMEOUT)
        self.assertIsNone(device)  # no channel 2
        _, device = yield self.store.sessions.check_bound(B, s, CAM2, None, self.now, TIMEOUT)
        self.assertIsNone(device)  # not bound
        session, device = yield self.store.sessions.check_bound(B, "nope", CAM, None, self.now, TIMEOUT)
        self.assertEqual((session.live, device), (False, None))

        session, listed = yield self.store.sessions.check_listing(B, s, self.now, TIMEOUT)
        self.assertTrue(session.live)
        self.assertEqual([(c.dev_id, c.channel_no, c.name, c.share_flag) for c in listed],
                         [(CAM, 0, CAM, 1), (CAM, 1, CAM, 1)])
        session, none = yield self.store.sessions.check_listing(B, "nope", self.now, TIMEOUT)
        self.assertEqual((session.live, none), (False, []))
        s2, opened = yield self.store.sessions.open_listing(b, "A-1.0", None, self.now)
        self.assertEqual(opened, listed)
        self.assertTrue((yield self.store.sessions.check(B, s2, self.now, TIMEOUT)).live)

        s3 = yield self.store.sessions.open(a, "A-1.0", None, self.now)
        yield self.store.bindings.unbind_all(CAM)
        self.assertEqual((yield self.store.sessions.check_listing(A, s3, self.now, TIMEOUT))[1], [])
        self.assertEqual((yield self.store.sessions.check_listing(B, s2, self.now, TIMEOUT))[1], [])

    @defer.inlineCallbacks
    def test_sms_request_rate_limit(self):
        allow = self.store.sms_requests.allow
        self.assertTrue((yield allow(A, self.now, 60, 2)))
        self.assertFalse((yield allow(A, self.now + 30, 60, 2)))
        self.assertTrue((yield allow(B, self.now + 30, 60, 2)))
        self.assertTrue((yield allow(A, self.now + 61, 60, 2)))
        self.assertFalse((yield allow(A, self.now + 200, 60, 2)))  # two a day
        self.assertTrue((yield allow(A, self.now + 86400 + 1, 60, 2)))


RealAcc, FakeAcc = contract(AccContract)
