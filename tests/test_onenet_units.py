"""The ``[onenet]`` listener's pieces without sockets: the query reader, times, the errno table, signed URLs and
tokens, the router, and the API-key grants over the in-memory store."""

import datetime
import io
import os
import zoneinfo

from hypothesis import given, strategies as st
from twisted.internet import defer, task
from twisted.trial import unittest

from kandian.core import errors
from kandian.core.access import Principal
from kandian.core.apifiles import ApiFiles
from kandian.core.devicekeys import DeviceKeys, Grant, KeyAuth
from kandian.core.keys import Keys
from kandian.onenet import api, results, views
from kandian.onenet.signing import Signer
from kandian.store.fake import FakeStore
from kandian.throttle import FailureThrottle

ZONE = zoneinfo.ZoneInfo("Asia/Shanghai")


class QueryTests(unittest.SynchronousTestCase):
    @given(st.binary(max_size=200))
    def test_any_query_is_read_or_refused_400(self, raw):
        try:
            query = api._query(raw)
        except api.ApiError as e:
            self.assertEqual(e.code, results.BAD_REQUEST)
        else:
            self.assertTrue(all(isinstance(k, str) and isinstance(v, str) for k, v in query.items()))

    @given(st.dictionaries(st.text(min_size=1, max_size=8).filter(str.isprintable),
                           st.text(max_size=20).filter(str.isprintable), max_size=5))
    def test_what_a_client_encodes_is_read_back(self, values):
        from urllib.parse import urlencode
        wanted = {k.strip(): v for k, v in values.items()}
        if len(wanted) != len(values) or "" in wanted:
            return
        self.assertEqual(api._query(urlencode(values).encode("ascii")), wanted)

    def test_control_characters_and_long_values(self):
        for raw in (b"a=%00", b"a=%ff", b"a=" + b"x" * 5000, b"a=%E2%80%A8", b"\xff=1"):
            self.assertRaises(api.ApiError, api._query, raw)
        self.assertEqual(api._query(b"device_id+=1&a=&&b=%E5%9B%BE"), {"device_id": "1", "a": "", "b": "图"})


class TimesTests(unittest.SynchronousTestCase):
    times = views.Times(ZONE)

    @given(st.datetimes(min_value=datetime.datetime(1971, 1, 1), max_value=datetime.datetime(2999, 12, 31)))
    def test_moments_round_trip(self, moment):
        text = moment.strftime("%Y-%m-%d %H:%M:%S")
        self.assertEqual(self.times.out(self.times.parse(text, "t")), text)

    def test_days(self):
        start = self.times.parse("2019-12-31", "start_time")
        end = self.times.parse("2019-12-31", "end_time", end=True)
        self.assertEqual((self.times.out(start), self.times.out(end)), ("2019-12-31 00:00:00", "2020-01-01 00:00:00"))
        for bad in ("2019-13-01", "31/12/2019", "2019-12-31 25:00:00", ""):
            self.assertRaises(errors.BadValue, self.times.parse, bad, "t")

    def test_numbers_as_the_file_writes_them(self):
        self.assertEqual((views.dev_number("81100000001"), views.dev_number("01100000001")),
                         (81100000001, "01100000001"))
        self.assertEqual(views.page_info(7, 1, 50), {"total_num": 7, "page_total": 1, "page_size": 50,
                                                     "current_page": 1})
        self.assertEqual(views.channel_no({"channel_id": "3"}), 2)
        for bad in ({"channel_id": "0"}, {"channel_id": "x"}, {}):
            self.assertRaises(errors.BadValue, views.channel_no, bad)
        self.assertRaises(errors.NoSuchDevice, views.device_id, {"device_id": "abc"})


class ResultsTests(unittest.SynchronousTestCase):
    def test_every_domain_error_has_a_code(self):
        for name in errors.__all__:
            cls = getattr(errors, name)
            if isinstance(cls, type) and issubclass(cls, errors.DomainError):
                self.assertIsNotNone(results.lookup_code(cls), name)

    def test_the_file_s_codes(self):
        self.assertEqual(results.code_for(errors.NotAuthenticated("x")), (401, 401, "auth failed", False))
        self.assertEqual(results.code_for(errors.DeviceTimeout("x")).errno, 504)
        self.assertEqual(results.code_for(errors.DeviceRefused("x", 3)).errno, 502)
        self.assertEqual(results.code_for(errors.NoSuchChannel("x"), results.CHANNELS).errno, 17)
        self.assertEqual(results.code_for(errors.DeviceOffline("x"), results.PLAY), (200, 4, "device not online",
                                                                                     False))
        self.assertIsNone(results.code_for(KeyError("x")))

    def test_the_envelope(self):
        self.assertEqual(api.envelope(0, "succ", {"data": {"a": "图"}}),
                         '{"errno":0,"error":"succ","data":{"a":"图"}}'.encode())
        self.assertEqual(api.envelope(0, None, {"trans_enc": 0}), b'{"errno":0,"trans_enc":0}')


class RouterTests(unittest.SynchronousTestCase):
    def test_match(self):
        def h(call):
            return None
        router = api.Router([api.Route("GET", "/devices", h), api.Route("POST", "/devices", h, body="json"),
                             api.Route("GET", "/devices/{device_id}", h),
                             api.Route("PUT", "/up", h, body="raw", max_body=10)])
        route, params = router.match("GET", "/devices/811")
        self.assertEqual((route.method, params), ("GET", {"device_id": "811"}))
        self.assertEqual(router.match("DELETE", "/devices"), (None, ["GET", "POST"]))
        self.assertEqual(router.match("GET", "/devices/"), (None, None))
        self.assertEqual(router.match("GET", "/nope"), (None, None))
        self.assertEqual(router.max_body(b"PUT", b"/up?x=1"), 10)
        self.assertEqual(router.max_body(b"GET", b"/up"), api.MAX_JSON)
        self.assertEqual(router.max_body(b"PUT", b"/%ff"), api.MAX_JSON)


class SigningTests(unittest.TestCase):
    def setUp(self):
        self.clock = task.Clock()
        self.clock.advance(1_800_000_000)
        self.store = FakeStore()
        self.keys = Keys(self.store.secrets)
        self.successResultOf(self.keys.load())
        self.signer = Signer(self.keys, self.clock, lambda https: "https://h:1" if https else "http://h:1", 60)

    def test_urls(self):
        url = self.signer.url("/p/1")
        self.assertTrue(url.startswith("http://h:1/p/1?exp=1800000060&sig="))
        query = dict(part.split("=", 1) for part in url.split("?", 1)[1].split("&"))
        self.signer.check("/p/1", query)
        self.assertRaises(errors.Forbidden, self.signer.check, "/p/2", query)
        self.assertRaises(errors.Forbidden, self.signer.check, "/p/1", dict(query, exp="1800000061"))
        self.assertRaises(errors.Forbidden, self.signer.check, "/p/1", {})
        self.clock.advance(60)
        self.assertRaises(errors.Forbidden, self.signer.check, "/p/1", query)
        self.assertTrue(self.signer.url("/p", https=True).startswith("https://h:1/p?"))

    def test_tokens(self):
        token = self.signer.token("live", "811/0", 10)
        self.signer.check_token("live", "811/0", token)
        for bad in ("", token + "x", "1.2", self.signer.token("vod", "811/0", 10)):
            self.assertRaises(errors.Forbidden, self.signer.check_token, "live", "811/0", bad)
        forever = self.signer.token("live", "811/0", -1)
        self.clock.advance(365 * 86400)
        self.signer.check_token("live", "811/0", forever)
        self.assertRaises(errors.Forbidden, self.signer.check_token, "live", "811/0", token)


class ApiKeys:
    def __init__(self, keys):
        self.keys = keys

    def check(self, key):
        return defer.succeed(self.keys.get(key))


class GrantTests(unittest.TestCase):
    def setUp(self):
        self.clock = task.Clock()
        self.store = FakeStore()
        keys = Keys(self.store.secrets)
        self.successResultOf(keys.load())
        self.device_keys = DeviceKeys(self.store, keys)
        self.throttle = FailureThrottle(self.clock.seconds, per_address=100, per_account=3)
        self.auth = KeyAuth(self.device_keys, ApiKeys({"m": ("ops", True), "p": ("cm", False)}),
                            throttle=self.throttle)
        self.successResultOf(self.store.devices.add("81100000001", "k"))
        self.successResultOf(self.store.devices.add("81100000002", "k"))

    def test_grants(self):
        master = self.successResultOf(self.auth.authenticate("m", "1.2.3.4"))
        self.assertEqual((master.name, master.master, master.dev_id, master.principal.name),
                         ("ops", True, None, "apikey:ops"))
        master.device("81100000001")
        self.assertIsNone(master.scope())
        plain = self.successResultOf(self.auth.authenticate("p", "1.2.3.4"))
        self.assertRaises(errors.Forbidden, plain.device, "81100000001")
        self.assertRaises(errors.Forbidden, plain.scope)
        key = self.successResultOf(self.device_keys.key("81100000001"))
        self.assertEqual(self.successResultOf(self.device_keys.key("81100000001")), key)
        device = self.successResultOf(self.auth.authenticate(key, "1.2.3.4"))
        self.assertEqual((device.master, device.dev_id, device.scope()), (False, "81100000001", "81100000001"))
        device.device("81100000001")
        self.assertRaises(errors.Forbidden, device.device, "81100000002")
        self.assertRaises(errors.Forbidden, device.require_master)
        self.failureResultOf(self.device_keys.key("81100000009"), errors.NoSuchDevice)

    def test_a_key_for_another_device_or_incarnation_fails(self):
        key = self.successResultOf(self.device_keys.key("81100000001"))
        other = "81100000002" + key[11:]
        self.failureResultOf(self.auth.authenticate(other, "a"), errors.NotAuthenticated)
        self.successResultOf(self.store.fleet.delete("81100000001"))
        self.successResultOf(self.store.devices.add("81100000001", "k"))
        self.failureResultOf(self.auth.authenticate(key, "b"), errors.NotAuthenticated)
        self.assertNotEqual(self.successResultOf(self.device_keys.key("81100000001")), key)

    def test_a_checked_key_is_remembered_a_few_seconds(self):
        cached = DeviceKeys(self.store, self.device_keys.keys, self.clock, cache_seconds=10)
        key = self.successResultOf(cached.key("81100000001"))
        self.assertEqual(self.successResultOf(cached.check(key)), "81100000001")
        self.successResultOf(self.store.fleet.delete("81100000001"))  # on another node, say
        self.assertEqual(self.successResultOf(cached.check(key)), "81100000001")
        self.clock.advance(10)
        self.assertIsNone(self.successResultOf(cached.check(key)))
        self.successResultOf(self.store.devices.add("81100000001", "k"))
        key = self.successResultOf(cached.key("81100000001"))
        self.assertEqual(self.successResultOf(cached.check(key)), "81100000001")
        cached.forget("81100000001")  # deleted here: at once
        self.successResultOf(self.store.fleet.delete("81100000001"))
        self.assertIsNone(self.successResultOf(cached.check(key)))

    def test_guessers_are_stopped_before_the_store_is_asked(self):
        for _ in range(3):
            self.failureResultOf(self.auth.authenticate("guess", "6.6.6.6"), errors.NotAuthenticated)
        failure = self.failureResultOf(self.auth.authenticate("m", "6.6.6.6"), errors.TooManyFailures)
        self.assertGreater(failure.value.retry_after, 0)
        self.successResultOf(self.auth.authenticate("m", "7.7.7.7"))
        self.failureResultOf(self.auth.authenticate("", "7.7.7.7"), errors.NotAuthenticated)
        self.failureResultOf(self.auth.authenticate("x" * 300, "7.7.7.7"), errors.NotAuthenticated)
        self.assertEqual(self.auth.failures, 4)  # no key at all is not a guess


class ApiFilesTests(unittest.TestCase):
    """kandian.core.apifiles over the in-memory store and a real directory (its thread work run inline)."""

    def setUp(self):
        self.clock = task.Clock()
        self.store = FakeStore()
        self.successResultOf(self.store.devices.add("81100000001", "k"))
        self.root = os.path.abspath(self.mktemp())
        self.files = ApiFiles(self.store, self.clock, self.root, max_size=100, fsync=False,
                              to_thread=lambda f, *a: defer.maybeDeferred(f, *a))

    def master(self):
        return Grant("ops", True, None, Principal("operator", 0, "apikey:ops", "admin"))

    def test_an_upload_over_the_cap_leaves_nothing(self):
        self.failureResultOf(self.files.add_picture(self.master(), "81100000001", 0, "jpg", "p", "",
                                                    io.BytesIO(b"x" * 101)), errors.FileTooLarge)
        self.failureResultOf(self.files.put_object(self.master(), "o", "", io.BytesIO(b"x" * 101)),
                             errors.FileTooLarge)
        leftovers = [files for _, _, files in os.walk(self.root) if files]
        self.assertEqual(leftovers, [])
        row = self.successResultOf(self.files.add_picture(self.master(), "81100000001", 0, "png", "p", "d",
                                                          io.BytesIO(b"x" * 100)))
        self.assertEqual(row.size, 100)
        with open(self.files.picture_path(row), "rb") as f:
            self.assertEqual(f.read(), b"x" * 100)

    def test_a_picture_of_a_channel_that_is_not_there_leaves_no_file(self):
        self.failureResultOf(self.files.add_picture(self.master(), "81100000001", 5, "jpg", "p", "",
                                                    io.BytesIO(b"x")), errors.NoSuchChannel)
        self.assertEqual([files for _, _, files in os.walk(self.root) if files], [])
