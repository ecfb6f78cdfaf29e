"""kandian.core.accounts and kandian.core.bindings over the fake store and task.Clock."""

from twisted.internet import defer, task
from twisted.trial import unittest

from kandian.core import errors
from kandian.core.accounts import Accounts
from kandian.core.bindings import Bindings
from kandian.core.credentials import PasswordChecker
from kandian.group.client import NoGroupPlatform
from kandian.passwords import verify_password
from kandian.store.fake import FakeStore
from kandian.throttle import FailureThrottle

from .mcu_helpers import DeliveringSms
from .test_store_contract_acc import add_device

A, B = "13800000001", "13800000002"
CAM = "81100000001"
TIMEOUT = 1800.0


def cheap_hash(password):
    return "scrypt$test$" + password


def cheap_verify(password, stored):
    return stored == cheap_hash(password)


class CoreTestCase(unittest.TestCase):
    def setUp(self):
        self.clock = task.Clock()
        self.clock.advance(1_800_000_000)
        self.store = FakeStore()
        self.throttle = FailureThrottle(self.clock.seconds, per_address=5, per_account=3, window=600)
        self.sms = DeliveringSms()
        self.accounts = Accounts(
            self.store, self.clock, passwords=PasswordChecker(self.clock, verify=cheap_verify),
            throttle=self.throttle, sms=self.sms, session_timeout=TIMEOUT,
            version_floors={"A": "A-1.0", "I": "", "W": ""}, sms_interval=60, sms_daily_limit=5,
            hash_password=cheap_hash)
        self.bindings = Bindings(self.store, self.clock, throttle=self.throttle,
                                 group=NoGroupPlatform(), session_timeout=TIMEOUT)


class AccountsTests(CoreTestCase):
    @defer.inlineCallbacks
    def test_add_stores_only_the_scrypt_hash(self):
        accounts = Accounts(self.store, self.clock, passwords=None, throttle=None, sms=None, session_timeout=0,
                            version_floors={}, sms_interval=0, sms_daily_limit=0)
        yield accounts.add(A, "correct horse", max_devices=6)
        found = yield self.store.users.active(A)
        self.assertTrue(found.password_hash.startswith("scrypt$"))
        self.assertTrue(verify_password("correct horse", found.password_hash))
        self.assertEqual(found.max_devices, 6)
        yield self.assertFailure(accounts.add(A, "pw2"), errors.AccountExists)
        yield self.assertFailure(accounts.add("not-a-number", "pw"), errors.BadValue)
        yield self.assertFailure(accounts.add(B, ""), errors.BadValue)

    @defer.inlineCallbacks
    def test_login_refusals_and_the_session(self):
        yield self.accounts.add(A, "pw")
        yield self.assertFailure(self.accounts.login(B, "pw", "A-1.0", "10.0.0.1"), errors.NoSuchAccount)
        yield self.assertFailure(self.accounts.login(A, "no", "A-1.0", "10.0.0.1"), errors.WrongPassword)
        yield self.assertFailure(self.accounts.login(A, "pw", "A-0.9", "10.0.0.1"), errors.VersionTooLow)
        login = yield self.accounts.login(A, "pw", "A-1.0", "10.0.0.1")
        self.assertEqual((login.max_devices, login.devices), (4, []))
        self.assertIsInstance((yield self.accounts.user(A, login.session)), int)
        yield self.assertFailure(self.accounts.user(A, "other"), errors.SessionExpired)
        yield self.assertFailure(self.accounts.user(B, login.session), errors.NoSuchAccount)
        self.clock.advance(TIMEOUT + 1)
        yield self.assertFailure(self.accounts.devices(A, login.session), errors.SessionExpired)
        login = yield self.accounts.login(A, "pw", "A-1.0", "10.0.0.1")
        yield self.accounts.logout(A, login.session)
        yield self.assertFailure(self.accounts.logout(A, login.session), errors.SessionExpired)

    @defer.inlineCallbacks
    def test_a_guessing_address_is_stopped_before_the_check(self):
        yield self.accounts.add(A, "pw")
        for _ in range(3):
            yield self.assertFailure(self.accounts.login(A, "no", "A-1.0", "10.0.0.9"), errors.WrongPassword)
        stopped = yield self.assertFailure(self.accounts.login(A, "pw", "A-1.0", "10.0.0.9"),
                                           errors.TooManyFailures)
        self.assertGreater(stopped.retry_after, 0)
        yield self.accounts.login(A, "pw", "A-1.0", "10.0.0.1")  # the owner elsewhere

    @defer.inlineCallbacks
    def test_a_repeated_login_is_one_store_call_while_the_account_stays_as_verified(self):
        user_id = yield self.accounts.add(A, "pw", max_devices=6)
        yield add_device(self.store, CAM, channels=1)
        yield self.store.bindings.bind(user_id, CAM, 6)
        checks = []
        active = self.store.users.active
        self.store.users.active = lambda mobile: checks.append(mobile) or active(mobile)
        first = yield self.accounts.login(A, "pw", "A-1.0", "10.0.0.1")
        again = yield self.accounts.login(A, "pw", "A-1.0", "10.0.0.1")
        self.assertEqual(checks, [A])  # the second login did not read the account
        self.assertNotEqual(first.session, again.session)
        self.assertEqual((again.max_devices, [c.dev_id for c in again.devices]), (6, [CAM]))
        self.assertEqual((yield self.accounts.user(A, again.session)), user_id)
        # a wrong password, or a version below the floor, is refused as ever
        yield self.assertFailure(self.accounts.login(A, "no", "A-1.0", "10.0.0.1"), errors.WrongPassword)
        yield self.assertFailure(self.accounts.login(A, "pw", "A-0.9", "10.0.0.1"), errors.VersionTooLow)
        # the password changed: the old one no longer opens a session, the new one does
        yield self.store.users.set_password_hash(user_id, cheap_hash("new"), self.clock.seconds())
        yield self.assertFailure(self.accounts.login(A, "pw", "A-1.0", "10.0.0.2"), errors.WrongPassword)
        yield self.accounts.login(A, "new", "A-1.0", "10.0.0.2")
        yield self.accounts.login(A, "new", "A-1.0", "10.0.0.2")
        # the account closed: no session either
        yield self.accounts.cancel(A)
        yield self.assertFailure(self.accounts.login(A, "new", "A-1.0", "10.0.0.2"), errors.NoSuchAccount)

    @defer.inlineCallbacks
    def test_sms_password(self):
        yield self.accounts.add(A, "pw")
        yield self.accounts.sms_password(A)
        [(mobile, text)] = self.sms.sent
        password = "".join(c for c in text if c.isdigit())
        yield self.accounts.login(A, password, "A-1.0", None)
        yield self.assertFailure(self.accounts.sms_password(A), errors.SmsNotSent)  # rate limit
        yield self.assertFailure(self.accounts.sms_password(B), errors.SmsNotSent)
        self.accounts.sms = type("Silent", (), {"delivers": False})()
        self.clock.advance(61)
        yield self.assertFailure(self.accounts.sms_password(A), errors.SmsNotSent)

    @defer.inlineCallbacks
    def test_device_list_shows_the_links_view_of_online(self):
        yield self.accounts.add(A, "pw")
        yield add_device(self.store, CAM, channels=1)
        user = yield self.store.users.active(A)
        yield self.store.bindings.bind(user.user_id, CAM, 4)
        self.accounts.online = lambda dev_id: dev_id == CAM
        login = yield self.accounts.login(A, "pw", "A-1.0", None)
        self.assertEqual([(c.dev_id, c.online) for c in login.devices], [(CAM, True)])


class BindingsTests(CoreTestCase):
    @defer.inlineCallbacks
    def setUp(self):
        super().setUp()
        yield self.accounts.add(A, "pw", max_devices=1)
        yield self.accounts.add(B, "pw")
        self.a = (yield self.accounts.login(A, "pw", "A-1.0", None)).session
        self.b = (yield self.accounts.login(B, "pw", "A-1.0", None)).session
        yield add_device(self.store, CAM, "k1", channels=1)

    @defer.inlineCallbacks
    def test_the_access_check(self):
        yield self.assertFailure(self.bindings.device(A, self.a, CAM), errors.NotBound)
        yield self.bindings.add(A, self.a, CAM, "k1", None)
        device = yield self.bindings.device(A, self.a, CAM, 0)
        self.assertEqual((device.dev_id, device.share_flag), (CAM, 0))
        yield self.assertFailure(self.bindings.device(A, self.a, CAM, 1), errors.NoSuchChannel)
        yield self.assertFailure(self.bindings.device(A, self.a, CAM, -1), errors.NoSuchChannel)
        yield self.assertFailure(self.bindings.device(A, "x", CAM, 1), errors.SessionExpired)
        yield self.assertFailure(self.bindings.device("1", self.a, CAM), errors.NoSuchAccount)

    @defer.inlineCallbacks
    def test_add_share_delete(self):
        yield self.assertFailure(self.bindings.add(A, self.a, "nope", "k", None), errors.NoSuchDevice)
        yield self.assertFailure(self.bindings.add(A, self.a, "81199999999", "k", None), errors.UnknownToGroup)
        yield self.assertFailure(self.bindings.add(A, self.a, CAM, "wrong", None), errors.WrongDevKey)
        yield self.bindings.add(A, self.a, CAM, "k1", None)
        yield self.assertFailure(self.bindings.add(B, self.b, CAM, "k1", None), errors.AlreadyBound)
        yield self.bindings.share(A, self.a, CAM, B)
        yield self.assertFailure(self.bindings.share(A, self.a, CAM, B), errors.AlreadyBound)
        yield self.assertFailure(self.bindings.share(B, self.b, CAM, A), errors.SharedDevice)
        yield self.assertFailure(self.bindings.delete(B, self.b, CAM, "k1"), errors.SharedDevice)
        yield self.assertFailure(self.bindings.delete(A, self.a, CAM, "k2"), errors.WrongDevKey)
        reset = []
        self.bindings.online = lambda dev_id: True
        self.bindings.reset = lambda dev_id: reset.append(dev_id) or defer.succeed(None)
        yield self.bindings.delete(A, self.a, CAM, "k1")
        self.assertEqual(reset, [CAM])
        yield self.assertFailure(self.bindings.device(B, self.b, CAM), errors.NotBound)

    @defer.inlineCallbacks
    def test_over_the_limit(self):
        yield self.bindings.add(A, self.a, CAM, "k1", None)
        yield add_device(self.store, "81100000002", "k2")
        yield self.assertFailure(self.bindings.add(A, self.a, "81100000002", "k2", None), errors.OverLimit)

    @defer.inlineCallbacks
    def test_devkey_guessing_is_stopped(self):
        for _ in range(3):
            yield self.assertFailure(self.bindings.add(A, self.a, CAM, "guess", "10.0.0.9"), errors.WrongDevKey)
        yield self.assertFailure(self.bindings.add(A, self.a, CAM, "k1", "10.0.0.9"), errors.TooManyFailures)
