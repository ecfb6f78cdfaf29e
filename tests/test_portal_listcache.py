"""The device list's cache (kandian.core.listcache) and what keeps it right: migration 0013's triggers, the
store's LISTEN connection (kandian.store.listen) and the portal (real PostgreSQL, real HTTP, the simulator)."""

import itertools
import os

from twisted.internet import defer, reactor, task
from twisted.trial import unittest

from kandian.core.listcache import ListCache
from kandian.sim.link import connect_device
from kandian.sim.state import DeviceState
from kandian.store.devices import DeviceStore
from kandian.store.fleet import CHANGES
from kandian.store.listen import Listener

from .pg import DatabaseTestCase
from .portal_helpers import PASSWORD, PortalTestCase
from .test_device_integration import eventually

CAM, CAM2 = "81100000001", "81100000002"
A = "13800000001"


class Query:
    """A store call the test answers by hand."""

    def __init__(self):
        self.calls = []

    def __call__(self):
        d = defer.Deferred()
        self.calls.append(d)
        return d


class ListCacheTests(unittest.TestCase):
    def setUp(self):
        self.clock = task.Clock()
        self.cache = ListCache(self.clock, ttl=1.0, size=3)
        self.cache.reset(True)

    def test_an_entry_lives_ttl_seconds(self):
        query = Query()
        first = self.cache.get("k", query)
        query.calls[0].callback("v1")
        self.assertEqual(self.successResultOf(first), "v1")
        self.clock.advance(0.9)
        self.assertEqual(self.successResultOf(self.cache.get("k", query)), "v1")
        self.assertEqual(len(query.calls), 1)
        self.clock.advance(0.1)
        again = self.cache.get("k", query)
        self.assertEqual(len(query.calls), 2)
        query.calls[1].callback("v2")
        self.assertEqual(self.successResultOf(again), "v2")

    def test_the_age_counts_from_the_query_start(self):
        query = Query()
        d = self.cache.get("k", query)
        self.clock.advance(0.6)
        query.calls[0].callback("v1")
        self.successResultOf(d)
        self.clock.advance(0.4)
        self.cache.get("k", query)
        self.assertEqual(len(query.calls), 2)

    def test_identical_misses_share_one_query(self):
        query = Query()
        waiting = [self.cache.get("k", query) for _ in range(5)]
        other = self.cache.get("other", query)
        self.assertEqual(len(query.calls), 2)
        query.calls[0].callback("v")
        self.assertEqual([self.successResultOf(d) for d in waiting], ["v"] * 5)
        self.assertNoResult(other)

    def test_a_failure_reaches_every_waiter_and_is_not_kept(self):
        query = Query()
        waiting = [self.cache.get("k", query) for _ in range(3)]
        query.calls[0].errback(ValueError("boom"))
        for d in waiting:
            self.failureResultOf(d, ValueError)
        self.cache.get("k", query)
        self.assertEqual(len(query.calls), 2)

    def test_bounded_least_recently_used_first(self):
        for key in "abc":
            self.cache.get(key, lambda key=key: defer.succeed(key))
        self.cache.get("a", lambda: defer.fail(AssertionError("a is cached")))  # a used: b is now the oldest
        self.cache.get("d", lambda: defer.succeed("d"))
        self.assertEqual(len(self.cache), 3)
        asked = []
        for key in "acd":
            self.cache.get(key, lambda key=key: asked.append(key) or defer.succeed(key))
        self.assertEqual(asked, [])
        self.cache.get("b", lambda: asked.append("b") or defer.succeed("b"))
        self.assertEqual(asked, ["b"])

    def test_a_change_drops_every_entry(self):
        self.cache.get("k", lambda: defer.succeed("old"))
        self.cache.changed("")
        self.assertEqual(self.successResultOf(self.cache.get("k", lambda: defer.succeed("new"))), "new")

    def test_a_query_begun_before_a_change_is_not_kept_nor_joined(self):
        query = Query()
        before = self.cache.get("k", query)
        self.cache.changed("")
        after = self.cache.get("k", query)  # must not wait for the query that may have read the old rows
        self.assertEqual(len(query.calls), 2)
        query.calls[0].callback("old")
        self.assertEqual(self.successResultOf(before), "old")
        self.assertNoResult(after)
        query.calls[1].callback("new")
        self.assertEqual(self.successResultOf(after), "new")
        self.assertEqual(self.successResultOf(self.cache.get("k", query)), "new")
        self.assertEqual(len(query.calls), 2)

    def test_nothing_is_kept_while_not_listening(self):
        self.cache.get("k", lambda: defer.succeed("v1"))
        self.cache.reset(False)
        query = Query()
        self.cache.get("k", query)
        self.cache.get("k", query)
        self.assertEqual(len(query.calls), 2)
        query.calls[0].callback("v")
        query.calls[1].callback("v")
        self.assertEqual(len(self.cache), 0)
        self.cache.reset(True)
        self.cache.get("k", query)
        self.assertEqual(len(query.calls), 3)

    def test_ttl_zero_keeps_nothing(self):
        cache = ListCache(self.clock, ttl=0)
        cache.reset(True)
        query = Query()
        cache.get("k", query)
        cache.get("k", query)
        self.assertEqual(len(query.calls), 2)


class Heard:
    """What a LISTEN on the list's channel heard, and when it listened."""

    def __init__(self):
        self.payloads = []
        self.resets = []

    def notified(self, payload):
        self.payloads.append(payload)

    def reset(self, listening):
        self.resets.append(listening)


class TriggerTests(DatabaseTestCase):
    """Which writes notify: what a page shows, not what a login or a heartbeat changes."""

    @defer.inlineCallbacks
    def setUp(self):
        yield super().setUp()
        self.heard = Heard()
        self.listener = self.db.listen(CHANGES, self.heard.notified, self.heard.reset)
        yield eventually(lambda: self.listener.listening, "listening")
        self.marks = 0

    @defer.inlineCallbacks
    def notifies(self, *statements):
        """Whether *statements* (each committed on its own, on the test's pool, another connection than the
        listener's) notified: a mark NOTIFYed after them arrives after whatever they sent (PostgreSQL delivers
        in commit order), so once it is heard, all is."""
        self.heard.payloads.clear()
        for statement in statements:
            yield self.db.runOperation(*statement) if isinstance(statement, tuple) else statement()
        self.marks += 1
        mark = "mark-%d" % self.marks
        yield self.db.runOperation("SELECT pg_notify(%s, %s)", (CHANGES, mark))
        yield eventually(lambda: mark in self.heard.payloads, mark)
        return self.heard.payloads[:-1] != []

    @defer.inlineCallbacks
    def test_what_a_page_shows_notifies(self):
        devices = DeviceStore(self.db)
        self.assertTrue((yield self.notifies(lambda: devices.add(CAM, "k", channels=1))))
        self.assertEqual(self.heard.payloads, ["", "mark-1"], "one transaction's notifications are one")
        yield self.db.runOperation("INSERT INTO app_user (mobile, password_hash) VALUES (%s, 'scrypt$x')", (A,))
        self.assertFalse((yield self.notifies()))
        for statement in [
            ("UPDATE device SET name = 'front door' WHERE dev_id = %s", (CAM,)),
            ("UPDATE device SET model = 'X9', dev_type = 2 WHERE dev_id = %s", (CAM,)),
            ("UPDATE device SET dev_ver = 'V2' WHERE dev_id = %s", (CAM,)),
            ("UPDATE device SET manufacturer_no = '812' WHERE dev_id = %s", (CAM,)),
            ("INSERT INTO channel (dev_id, channel_no) VALUES (%s, 5)", (CAM,)),
            ("DELETE FROM channel WHERE dev_id = %s AND channel_no = 5", (CAM,)),
            ("INSERT INTO user_device (user_id, dev_id) SELECT user_id, %s FROM app_user", (CAM,)),
            ("UPDATE user_device SET can_control = false", ()),
            ("UPDATE app_user SET mobile = '13800000009'", ()),
            ("DELETE FROM user_device", ()),
            ("UPDATE manufacturer SET name = 'x' WHERE manufacturer_no = '812'", ()),
            ("DELETE FROM device WHERE dev_id = %s", (CAM,)),
            ("TRUNCATE channel CASCADE", ()),
        ]:
            self.assertTrue((yield self.notifies(statement)), statement[0])

    @defer.inlineCallbacks
    def test_what_a_page_does_not_show_or_does_not_change_does_not_notify(self):
        yield DeviceStore(self.db).add(CAM, "k", channels=1)
        yield self.db.runOperation("UPDATE device SET dev_ver = 'V1', name = 'n' WHERE dev_id = %s", (CAM,))
        yield self.notifies()  # every notification of the above is in
        for statement in [
            ("UPDATE device SET online = true, last_seen_at = now(), local_ip = '10.0.0.2' WHERE dev_id = %s",
             (CAM,)),
            ("UPDATE device SET dev_ver = 'V1', name = 'n' WHERE dev_id = %s", (CAM,)),  # the same values
            ("INSERT INTO channel (dev_id, channel_no) VALUES (%s, 0) ON CONFLICT DO NOTHING", (CAM,)),
            ("DELETE FROM channel WHERE dev_id = %s AND channel_no >= 1", (CAM,)),
            ("UPDATE channel SET name = 'hall'", ()),
            ("UPDATE app_user SET status = 'suspended'", ()),
            ("BEGIN; UPDATE device SET name = 'rolled back'; ROLLBACK", ()),
        ]:
            self.assertFalse((yield self.notifies(statement)), statement[0])


class ListenerTests(DatabaseTestCase):
    @defer.inlineCallbacks
    def test_a_lost_connection_is_told_and_listens_again(self):
        heard = Heard()
        clock = task.Clock()
        listener = Listener(self.dsn, CHANGES, heard.notified, heard.reset, self.db.pool.reactor, clock=clock)
        self.addCleanup(listener.close)
        listener.start()
        yield eventually(lambda: heard.resets == [True], "listening")
        yield self.db.runOperation("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                                   " WHERE query = 'LISTEN kandian_fleet' AND datname = current_database()")
        yield eventually(lambda: heard.resets == [True, False], "the loss told")
        self.assertFalse(listener.listening)
        clock.advance(0)  # the pool's first reconnection
        yield eventually(lambda: heard.resets == [True, False, True], "listening again")
        yield self.db.runOperation("NOTIFY kandian_fleet, 'after'")
        yield eventually(lambda: heard.payloads == ["after"], "heard again")

    @defer.inlineCallbacks
    def test_an_unreachable_server_is_retried(self):
        heard = Heard()
        clock = task.Clock()
        role = "late_%d" % os.getpid()  # roles are the server's, not the test database's
        yield self.db.runOperation("DROP ROLE IF EXISTS %s" % role)
        yield self.db.runOperation("CREATE ROLE %s NOLOGIN" % role)
        self.addCleanup(lambda: self.db.runOperation("DROP ROLE %s" % role))
        listener = Listener(self.dsn + " user=" + role, CHANGES, heard.notified, heard.reset, self.db.pool.reactor,
                            clock=clock)
        self.addCleanup(listener.close)
        yield listener.start()
        self.assertEqual((heard.resets, listener.listening), ([], False))
        yield self.db.runOperation("ALTER ROLE %s LOGIN" % role)
        clock.advance(0)
        yield eventually(lambda: heard.resets == [True], "listening")


class ListTests(PortalTestCase):
    """GET /api/v1/devices from the cache: right after any node's change, live online, at most ttl old."""

    marks = itertools.count()

    @defer.inlineCallbacks
    def settled(self):
        """Once the platform heard every notification the test's connection sent so far (they arrive in commit
        order: a mark NOTIFYed now comes after them)."""
        cache = self.core.fleet.list_cache
        self.core.fleet.watch()  # as the first list does
        yield eventually(lambda: cache.enabled, "the platform listening")
        mark = "mark-%d" % next(self.marks)
        yield self.db.runOperation("SELECT pg_notify(%s, %s)", (CHANGES, mark))
        yield eventually(lambda: cache.last_notice == mark, mark)

    @defer.inlineCallbacks
    def names(self, token, query=""):
        answer = yield self.get("/api/v1/devices" + query, token)
        self.assertEqual(answer.code, 200, answer)
        return {d["dev_id"]: d["name"] for d in answer.json["items"]}

    @defer.inlineCallbacks
    def test_another_nodes_change_is_seen_once_notified(self):
        token = yield self.operator()
        yield self.camera(CAM, online=False)
        cache = self.core.fleet.list_cache
        yield self.settled()
        first = yield self.get("/api/v1/devices", token)
        self.assertIsNone(first.json["items"][0]["last_seen_at"])
        # last_seen_at does not notify: the cached page stays as it was (the platform's clock stands still)
        yield self.db.runOperation("UPDATE device SET last_seen_at = now() WHERE dev_id = %s", (CAM,))
        hits = cache.hits
        again = yield self.get("/api/v1/devices", token)
        self.assertEqual((again.json, cache.hits), (first.json, hits + 1))
        # a rename on another connection, as another node (or psql) would: heard, and the next list shows it
        yield self.db.runOperation("UPDATE device SET name = 'front door' WHERE dev_id = %s", (CAM,))
        yield eventually(lambda: self.names(token).addCallback(lambda n: n == {CAM: "front door"}), "renamed")
        yield DeviceStore(self.db).add(CAM2, "k")
        yield eventually(lambda: self.names(token).addCallback(lambda n: CAM2 in n), "added")
        page = yield self.get("/api/v1/devices", token)
        self.assertIsNotNone(page.json["items"][0]["last_seen_at"])

    @defer.inlineCallbacks
    def test_an_entry_lives_ttl_seconds(self):
        token = yield self.operator()
        yield self.camera(CAM, online=False)
        yield self.settled()
        first = yield self.get("/api/v1/devices", token)
        yield self.db.runOperation("UPDATE device SET last_seen_at = now() WHERE dev_id = %s", (CAM,))
        again = yield self.get("/api/v1/devices", token)
        self.assertIsNone(again.json["items"][0]["last_seen_at"])
        self.clock.advance(self.service.config.portal.list_cache_ttl)
        later = yield self.get("/api/v1/devices", token)
        self.assertIsNotNone(later.json["items"][0]["last_seen_at"])
        self.assertNotEqual(first.header(b"etag"), later.header(b"etag"))

    @defer.inlineCallbacks
    def test_online_stays_live(self):
        token = yield self.operator()
        yield self.camera(CAM, online=False)
        # the login sets this DevVer: as the stored one, it changes nothing shown (else it would notify)
        yield self.db.runOperation("UPDATE device SET dev_ver = %s", (DeviceState(CAM, "key").dev_ver,))
        cache = self.core.fleet.list_cache
        yield self.settled()
        first = yield self.get("/api/v1/devices", token)
        self.assertFalse(first.json["items"][0]["online"])
        link = yield connect_device(reactor, ("127.0.0.1", self.port("device")),
                                    DeviceState(CAM, "key"), clock=self.sim_clock)
        self.addCleanup(link.close)
        yield link.logged_in()
        hits = cache.hits
        now = yield self.get("/api/v1/devices", token)
        self.assertEqual(cache.hits, hits + 1, "answered from the cache")
        self.assertTrue(now.json["items"][0]["online"])

    @defer.inlineCallbacks
    def test_a_change_through_the_api_is_seen_at_once(self):
        token = yield self.operator()
        yield self.camera(CAM, online=False)
        yield self.settled()
        self.assertEqual((yield self.names(token)), {CAM: ""})
        self.assertEqual((yield self.names(token)), {CAM: ""})  # cached
        # the notification may reach this node after the answer reached the client: here it comes later still,
        # the listening connection unread until the list was answered
        listening = self.core.fleet._watching.pool.slots[0].connection
        reactor.removeReader(listening)
        try:
            answer = yield self.call("PATCH", "/api/v1/devices/" + CAM, {"name": "收银台"}, token)
            self.assertEqual(answer.code, 200)
            # the API's own write dropped the cache before it answered
            self.assertEqual((yield self.names(token)), {CAM: "收银台"})
        finally:
            reactor.addReader(listening)

    @defer.inlineCallbacks
    def test_a_write_that_changes_no_list_keeps_the_cache(self):
        token = yield self.operator()
        yield self.camera(CAM, online=False)
        cache = self.core.fleet.list_cache
        yield self.settled()
        yield self.names(token)
        drops = cache.drops
        # a PTZ command (refused here: the camera is offline) and a logout write nothing a page shows
        answer = yield self.call("POST", "/api/v1/devices/%s/commands/ptz" % CAM, {"ChannelNo": 0, "PtzDirection": 3},
                                 token)
        self.assertEqual(answer.code, 503, answer)
        other = yield self.login("ops")
        yield self.call("POST", "/api/v1/logout", None, other)
        hits = cache.hits
        yield self.names(token)
        self.assertEqual((cache.drops, cache.hits), (drops, hits + 1))
        # a device's edit does drop it (at its answer, and again when its notification comes)
        yield self.call("PATCH", "/api/v1/devices/" + CAM, {"name": "门口"}, token)
        self.assertGreater(cache.drops, drops)

    @defer.inlineCallbacks
    def test_a_users_list_is_their_own_and_follows_their_bindings(self):
        token = yield self.user(A)
        yield self.camera(CAM, online=False, owner=A)
        yield self.camera(CAM2, online=False)
        yield self.settled()
        self.assertEqual(set((yield self.names(token))), {CAM})
        yield self.bind(A, CAM2, share_flag=1)
        yield eventually(lambda: self.names(token).addCallback(lambda n: set(n) == {CAM, CAM2}), "shared")
        answer = yield self.get("/api/v1/devices", (yield self.login(A, PASSWORD)))
        self.assertEqual({d["dev_id"]: d["access"] for d in answer.json["items"]}, {CAM: "own", CAM2: "control"})


class LoginTests(PortalTestCase):
    """A device's login, ability report, heartbeat and going offline send no notification: the login path pays
    nothing for the cache, and the cache is not dropped by the fleet's comings and goings."""

    @defer.inlineCallbacks
    def test_a_login_notifies_nothing(self):
        heard = Heard()
        listener = self.db.listen(CHANGES, heard.notified, heard.reset)
        yield eventually(lambda: listener.listening, "listening")
        link = yield self.camera(CAM, channels=2)  # the first login sets dev_ver: that one is shown
        link.close()
        yield eventually(self.offline, "offline")
        yield self.db.runOperation("NOTIFY kandian_fleet, 'before'")
        yield eventually(lambda: "before" in heard.payloads, "before")
        del heard.payloads[:]
        link = yield self.camera_again(CAM, channels=2)
        yield link.heartbeat_now()
        yield link.report_ability()
        link.close()
        yield eventually(self.offline, "offline again")
        yield self.db.runOperation("NOTIFY kandian_fleet, 'after'")
        yield eventually(lambda: "after" in heard.payloads, "after")
        self.assertEqual(heard.payloads, ["after"])

    @defer.inlineCallbacks
    def camera_again(self, dev_id, channels):
        link = yield connect_device(reactor, ("127.0.0.1", self.port("device")),
                                    DeviceState(dev_id, "key", channel_num=channels), clock=self.sim_clock)
        self.addCleanup(link.close)
        yield link.logged_in()
        yield link.report_ability()
        yield eventually(lambda: self.online(dev_id), "online")
        return link
