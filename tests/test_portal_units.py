"""The portal's pieces alone: the CSV import codec and the policy rules (hypothesis properties), the router,
API tokens and access levels over the in-memory store with a task.Clock, and the command catalogue's arguments."""

import csv
import io

from hypothesis import given, strategies as st
from twisted.internet import defer, task
from twisted.trial import unittest

from kandian.core import errors
from kandian.core.access import Access, Principal
from kandian.core.apiauth import ApiAuth, Operators, token_hash
from kandian.core.commands import CATALOGUE, Commands, _arguments, request_fields
from kandian.core.policies import MAX_A_DAY, check_day, check_week, minutes
from kandian.device import messages as m
from kandian.portal import csvimport
from kandian.portal.router import Route, Router
from kandian.store.fake import FakeStore
from kandian.throttle import FailureThrottle

# -- the CSV import (a parser: round trip, any bytes refused only with its own error)

rows = st.lists(st.fixed_dictionaries({
    "dev_id": st.text("0123456789", min_size=1, max_size=11),
    "dev_key": st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=20)
    .map(str.strip).filter(lambda k: k and not k.startswith("#")),
    "dev_type": st.integers(1, 3), "model": st.text("ABCDEFXYZ-0123456789", max_size=8),
    "channels": st.integers(1, 256)}), max_size=20)


class CsvTests(unittest.SynchronousTestCase):
    @given(rows, st.booleans(), st.sampled_from(["\n", "\r\n"]))
    def test_round_trip(self, devices, header, newline):
        out = io.StringIO()
        writer = csv.writer(out, lineterminator=newline)
        if header:
            writer.writerow(["dev_id", "dev_key", "dev_type", "model", "channels"])
        for d in devices:
            writer.writerow([d["dev_id"], d["dev_key"], d["dev_type"], d["model"], d["channels"]])
        parsed = csvimport.parse(out.getvalue().encode("utf-8"))
        self.assertEqual([row for _, row in parsed], [{k: v for k, v in d.items() if v != ""} | {"model": d["model"]}
                                                      for d in devices])

    @given(st.binary(max_size=300))
    def test_any_bytes_parse_or_raise_csv_error(self, data):
        try:
            parsed = csvimport.parse(data)
        except csvimport.CsvError:
            return
        for line, row in parsed:
            self.assertIsInstance(line, int)
            self.assertIsInstance(row, dict)

    def test_header_order_comments_and_bad_lines(self):
        parsed = csvimport.parse("\ufeffdev_key,dev_id\n# a comment\n\nk1,81100000001\nk2,81100000002,extra\n"
                                 .encode("utf-8"))
        self.assertEqual(parsed, [(4, {"dev_key": "k1", "dev_id": "81100000001"}),
                                  (5, {"dev_key": "k2", "dev_id": "81100000002", "extra": ["extra"]})])
        self.assertRaises(csvimport.CsvError, csvimport.parse, b"dev_id,colour\n1,red\n")
        self.assertRaises(csvimport.CsvError, csvimport.parse, b"\xff\xfe")
        self.assertEqual(csvimport.parse(b"8110,k,abc\n"), [(1, {"dev_id": "8110", "dev_key": "k", "dev_type": "abc"})])


# -- the policy rules (§7.5.13, §7.5.24)

def week_policy(week, start, end):
    return m.WeekPolicy(StoreType=0, StreamType=1, Week=week, StartTime="%02d:%02d" % divmod(start, 60),
                        EndTime="%02d:%02d" % divmod(end, 60))


# up to 4 disjoint windows within a day, as sorted minute boundaries
disjoint = st.lists(st.integers(0, 24 * 60), min_size=2, max_size=2 * MAX_A_DAY, unique=True).map(sorted).map(
    lambda b: [(b[i], b[i + 1]) for i in range(0, len(b) - 1, 2)])


class PolicyTests(unittest.SynchronousTestCase):
    @given(disjoint, st.integers(1, 7))
    def test_disjoint_windows_pass_split_any_way(self, windows, week):
        policies = [week_policy(week, s, e) for s, e in windows if s < e]
        for cut in range(len(policies) + 1):
            check_week(policies[:cut], policies[cut:])

    @given(disjoint, st.integers(1, 7), st.data())
    def test_a_window_overlapping_another_is_refused(self, windows, week, data):
        policies = [week_policy(week, s, e) for s, e in windows if s < e]
        if not policies or len(policies) == MAX_A_DAY:
            return
        s, e = windows[0]
        inside = data.draw(st.integers(s, e - 1))
        new = week_policy(week, inside, data.draw(st.integers(inside + 1, 24 * 60)))
        with self.assertRaises(errors.BadValue):
            check_week(policies, [new])
        check_week(policies, [week_policy(week % 7 + 1, inside, inside + 1)])  # another day is not this one

    def test_five_a_day_is_too_many(self):
        four = [week_policy(2, 60 * h, 60 * h + 30) for h in range(4)]
        check_week(four[:2], four[2:])
        with self.assertRaises(errors.BadValue) as caught:
            check_week(four, [week_policy(2, 600, 630)])
        self.assertIn("at most 4", str(caught.exception))

    def test_times(self):
        self.assertEqual((minutes("00:00"), minutes("23:59"), minutes("24:00")), (0, 1439, 1440))
        for bad in ("24:01", "9:00", "12:60", "", "noon", "12:00:00"):
            self.assertRaises(errors.BadValue, minutes, bad)

    def test_picture_policies(self):
        point = m.DayPolicy(Interval=0, StartTime="09:00", EndTime="09:00")
        check_day(0, [], [point])
        self.assertRaises(errors.BadValue, check_day, 0, [point], [point])
        self.assertRaises(errors.BadValue, check_day, 0, [], [m.DayPolicy(Interval=5, StartTime="09:00",
                                                                           EndTime="09:00")])
        self.assertRaises(errors.BadValue, check_day, 1, [], [point])
        self.assertRaises(errors.BadValue, check_day, 2, [], [])
        check_day(1, [], [m.DayPolicy(Interval=60, StartTime="09:00", EndTime="10:00")])


# -- the router

class RouterTests(unittest.SynchronousTestCase):
    def test_match(self):
        def f(call):
            return None
        router = Router([Route("GET", "/devices", f), Route("GET", "/devices/{DevID}", f),
                         Route("PATCH", "/devices/{DevID}", f), Route("POST", "/devices/import", f)])
        self.assertEqual(router.match("GET", "/devices/81100000001")[1], {"DevID": "81100000001"})
        self.assertEqual(router.match("POST", "/devices/import")[0].template, "/devices/import")
        self.assertEqual(router.match("DELETE", "/devices/1"), (None, ["GET", "PATCH"]))
        self.assertEqual(router.match("GET", "/nothing"), (None, None))
        self.assertEqual(router.match("GET", "/devices//x"), (None, None))
        self.assertEqual(router.match("GET", "/devices/%E9%97%A8")[1], {"DevID": "门"})
        self.assertRaises(UnicodeDecodeError, router.match, "GET", "/devices/%FF")


# -- API tokens and access, over the in-memory store

def cheap_hash(password):
    return "scrypt$" + password


class Checker:
    def check(self, password, stored):
        return defer.succeed(stored == "scrypt$" + password)


class AuthTests(unittest.TestCase):
    def setUp(self):
        self.clock = task.Clock()
        self.clock.advance(1_800_000_000)
        self.store = FakeStore()
        self.throttle = FailureThrottle(self.clock.seconds, per_address=10, per_account=3, window=900)
        self.auth = ApiAuth(self.store, self.clock, passwords=Checker(), throttle=self.throttle, ttl=3600,
                            cache_seconds=10)
        self.operators = Operators(self.store, hash_password=cheap_hash)

    @defer.inlineCallbacks
    def test_login_session_cache_logout_expiry(self):
        yield self.operators.add("ops", "pw", "viewer")
        done = yield self.auth.login("ops", "pw", "10.0.0.1")
        self.assertEqual(done.principal, Principal("operator", 1, "ops", "viewer"))
        self.assertIn(token_hash(done.token), self.store.api_tokens.rows)
        session = yield self.auth.session(done.token)
        self.assertEqual(session.csrf, done.csrf)
        # revoked behind this node's back: still good from the cache for cache_seconds, then gone
        self.store.api_tokens.rows[token_hash(done.token)]["revoked_at"] = self.clock.seconds()
        yield self.auth.session(done.token)
        self.clock.advance(11)
        yield self.assertFailure(self.auth.session(done.token), errors.NotAuthenticated)
        again = yield self.auth.login("ops", "pw", "10.0.0.1")
        yield self.auth.logout(again.token)  # here: at once
        yield self.assertFailure(self.auth.session(again.token), errors.NotAuthenticated)
        third = yield self.auth.login("ops", "pw", "10.0.0.1")
        self.clock.advance(3601)
        yield self.assertFailure(self.auth.session(third.token), errors.NotAuthenticated)
        yield self.assertFailure(self.auth.session(None), errors.NotAuthenticated)

    @defer.inlineCallbacks
    def test_failures_throttle_before_any_check(self):
        yield self.operators.add("ops", "pw")
        for _ in range(3):
            yield self.assertFailure(self.auth.login("ops", "nope", "10.0.0.1"), errors.WrongPassword)
        yield self.assertFailure(self.auth.login("ops", "pw", "10.0.0.1"), errors.TooManyFailures)
        yield self.auth.login("ops", "pw", "10.0.0.2")  # the owner elsewhere is not stopped
        yield self.assertFailure(self.auth.login("nobody", "pw", "10.0.0.2"), errors.NoSuchAccount)
        yield self.assertFailure(self.auth.login("13800000001", "pw", "10.0.0.2"), errors.NoSuchAccount)
        self.assertEqual(self.auth.failures, 5)

    @defer.inlineCallbacks
    def test_operator_names(self):
        for bad in ("13800000001", "", "a b", "x" * 65, "名字"):
            yield self.assertFailure(self.operators.add(bad, "pw"), errors.BadValue)
        yield self.assertFailure(self.operators.add("ops", "pw", "root"), errors.BadValue)
        yield self.assertFailure(self.operators.add("ops", ""), errors.BadValue)


class AccessTests(unittest.TestCase):
    @defer.inlineCallbacks
    def setUp(self):
        self.store = FakeStore()
        self.access = Access(self.store)
        yield self.store.devices.add("81100000001", "k")
        self.owner = yield self.store.users.add("13800000001", "scrypt$a")
        self.viewer = yield self.store.users.add("13800000002", "scrypt$b")
        self.steerer = yield self.store.users.add("13800000003", "scrypt$c")
        self.stranger = yield self.store.users.add("13800000004", "scrypt$d")
        yield self.store.bindings.bind(self.owner, "81100000001", 4)
        yield self.store.user_admin.share(self.viewer, "81100000001", False, 0)
        yield self.store.user_admin.share(self.steerer, "81100000001", True, 0)

    def user(self, user_id):
        return Principal("user", user_id, str(user_id), "user")

    @defer.inlineCallbacks
    def test_levels(self):
        admin, viewer = Principal("operator", 1, "a", "admin"), Principal("operator", 2, "v", "viewer")
        expected = {  # principal → the levels allowed
            admin: {"view", "control", "own", "operator"}, viewer: {"view"},
            self.user(self.owner): {"view", "control", "own"}, self.user(self.steerer): {"view", "control"},
            self.user(self.viewer): {"view"}, self.user(self.stranger): set()}
        for principal, allowed in expected.items():
            for level in ("view", "control", "own", "operator"):
                d = self.access.device(principal, "81100000001", level)
                if level in allowed:
                    yield d
                else:
                    failure = yield self.assertFailure(d, errors.Forbidden, errors.NotBound)
                    if principal == self.user(self.stranger):
                        self.assertIsInstance(failure, errors.NotBound)  # not there, whatever the level
        yield self.assertFailure(self.access.device(admin, "81100000009"), errors.NoSuchDevice)
        yield self.assertFailure(self.access.device(self.user(self.owner), "81100000009"), errors.NotBound)


class CommandArgumentTests(unittest.TestCase):
    def test_arguments_are_the_spec_fields(self):
        add = CATALOGUE["add_record_policy"]
        built = _arguments(add.request, request_fields(add), {"ChannelNo": 1, "WeekPolicy": [
            {"StoreType": 0, "StreamType": 1, "Week": 2, "StartTime": "08:00", "EndTime": "09:00"}]})
        self.assertEqual(built["WeekPolicy"][0], m.WeekPolicy(StoreType=0, StreamType=1, Week=2, StartTime="08:00",
                                                              EndTime="09:00"))
        wifi = CATALOGUE["set_wifi"]
        self.assertEqual(_arguments(wifi.request, request_fields(wifi), {"SSID": "s", "Security": 0}),
                         {"SSID": "s", "Security": 0})
        for bad in ({"SSID": "s"}, {"SSID": 1, "Security": 0}, {"SSID": "s", "Security": 0, "x": 1},
                    {"SSID": "s", "Security": 1.5}):
            self.assertRaises(errors.BadValue, _arguments, wifi.request, request_fields(wifi), bad)

    @defer.inlineCallbacks
    def test_a_body_that_is_not_an_object(self):
        store = FakeStore()
        yield store.devices.add("81100000001", "k")
        commands = Commands(devices=None, access=Access(store))
        yield self.assertFailure(commands.run(Principal("operator", 1, "a", "admin"), "81100000001", "ptz", [1]),
                                 errors.BadValue)
        yield self.assertFailure(commands.run(Principal("operator", 1, "a", "admin"), "81100000001", "nope", {}),
                                 errors.NoSuchCommand)
