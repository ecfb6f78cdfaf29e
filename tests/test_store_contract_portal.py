"""The contract of the portal's store components — operators, api_tokens, fleet, user_admin, stats — fake and PostgreSQL."""

import json
import zoneinfo

from twisted.internet import defer

from kandian.core.errors import AccountExists, AlreadyBound
from kandian.device import messages as m
from kandian.portal.views import Times
from kandian.store.fleet import DeviceFilter
from kandian.store.links import Addresses

from .store_contract import StoreContract, contract

A, B, C = "13800000001", "13800000002", "13800000003"
CAM, CAM2, CAM3 = "81100000001", "81200000002", "81100000003"
ZONE = "Asia/Shanghai"


class OperatorsContract(StoreContract):
    @defer.inlineCallbacks
    def test_add_credentials_list_delete(self):
        o = yield self.store.operators.add("ops", "scrypt$x", "viewer")
        yield self.assertFailure(self.store.operators.add("ops", "scrypt$y"), AccountExists)
        self.assertEqual(tuple((yield self.store.operators.credentials("ops"))), (o, "scrypt$x", "viewer"))
        self.assertIsNone((yield self.store.operators.credentials("nobody")))
        self.assertTrue((yield self.store.operators.set_password_hash("ops", "scrypt$z")))
        self.assertFalse((yield self.store.operators.set_password_hash("nobody", "scrypt$z")))
        self.assertEqual((yield self.store.operators.credentials("ops")).password_hash, "scrypt$z")
        yield self.store.operators.add("alice", "scrypt$a")
        self.assertEqual([(x.name, x.role) for x in (yield self.store.operators.list())],
                         [("alice", "admin"), ("ops", "viewer")])
        self.assertTrue((yield self.store.operators.delete("ops")))
        self.assertFalse((yield self.store.operators.delete("ops")))


class ApiTokensContract(StoreContract):
    @defer.inlineCallbacks
    def test_open_owner_expire_revoke(self):
        o = yield self.store.operators.add("ops", "scrypt$x")
        u = yield self.store.users.add(A, "scrypt$a")
        yield self.store.api_tokens.open("h1", "operator", o, "c1", "127.0.0.1", self.now, self.now + 100)
        yield self.store.api_tokens.open("h2", "user", u, "c2", None, self.now, self.now + 100)
        owner = yield self.store.api_tokens.owner("h1", self.now + 1)
        self.assertEqual(tuple(owner), ("operator", o, "ops", "admin", "c1", self.now + 100))
        owner = yield self.store.api_tokens.owner("h2", self.now + 1)
        self.assertEqual(tuple(owner)[:5], ("user", u, A, "user", "c2"))
        self.assertIsNone((yield self.store.api_tokens.owner("h1", self.now + 100)))  # expired
        self.assertIsNone((yield self.store.api_tokens.owner("nope", self.now)))
        yield self.store.api_tokens.revoke("h1", self.now + 2)
        self.assertIsNone((yield self.store.api_tokens.owner("h1", self.now + 3)))
        # a suspended user's token is not live
        yield self.store.user_admin.set_status(u, "suspended", self.now)
        self.assertIsNone((yield self.store.api_tokens.owner("h2", self.now + 3)))
        yield self.store.user_admin.set_status(u, "active", self.now)
        self.assertIsNotNone((yield self.store.api_tokens.owner("h2", self.now + 3)))
        yield self.store.api_tokens.revoke_user(u, self.now + 4)
        self.assertIsNone((yield self.store.api_tokens.owner("h2", self.now + 5)))
        yield self.store.api_tokens.purge(self.now + 1000)


class FleetContract(StoreContract):
    @defer.inlineCallbacks
    def fleet(self):
        yield self.store.devices.add(CAM, "k1", model="DS-2CD", channels=2)
        yield self.store.devices.add(CAM2, "k2", model="DH-IPC")
        yield self.store.devices.add(CAM3, "k3", model="DS-2CD", dev_type=3, channels=4)
        yield self.store.links.logged_in(CAM2, "V1.5_20140101", Addresses(local_ip="192.168.1.9", rtsp_local_port=554),
                                         0, 1, "10.1.2.3", 4000, self.now)
        a = yield self.store.users.add(A, "scrypt$a")
        b = yield self.store.users.add(B, "scrypt$b")
        yield self.store.bindings.bind(a, CAM, 4)
        yield self.store.user_admin.share(b, CAM, False, self.now)
        yield self.store.bindings.bind(b, CAM2, 4)
        return a, b

    @defer.inlineCallbacks
    def test_page_filters_sorts(self):
        a, b = yield self.fleet()
        total, rows = yield self.store.fleet.page(DeviceFilter(), "dev_id", False, 0, 50)
        self.assertEqual((total, [r.dev_id for r in rows]), (3, [CAM, CAM3, CAM2]))
        self.assertEqual([(r.channels, r.owner, r.manufacturer_no) for r in rows],
                         [(2, A, "811"), (4, None, "811"), (1, B, "812")])
        self.assertEqual(rows[0].manufacturer, "海康")
        total, rows = yield self.store.fleet.page(DeviceFilter(online=True), "dev_id", False, 0, 50)
        self.assertEqual((total, [r.dev_id for r in rows]), (1, [CAM2]))
        self.assertEqual(rows[0].dev_ver, "V1.5_20140101")
        total, rows = yield self.store.fleet.page(DeviceFilter(online=False, model="DS-2CD"), "dev_id", True, 0, 50)
        self.assertEqual([r.dev_id for r in rows], [CAM3, CAM])
        total, rows = yield self.store.fleet.page(DeviceFilter(q="0003"), "dev_id", False, 0, 50)
        self.assertEqual([r.dev_id for r in rows], [CAM3])
        total, rows = yield self.store.fleet.page(DeviceFilter(q="dh-"), "dev_id", False, 0, 50)
        self.assertEqual([r.dev_id for r in rows], [CAM2])
        total, rows = yield self.store.fleet.page(DeviceFilter(q="%"), "dev_id", False, 0, 50)
        self.assertEqual(total, 0)
        total, rows = yield self.store.fleet.page(DeviceFilter(manufacturer_no="812"), "dev_id", False, 0, 50)
        self.assertEqual([r.dev_id for r in rows], [CAM2])
        total, rows = yield self.store.fleet.page(DeviceFilter(dev_ver="V1.5_20140101"), "dev_id", False, 0, 50)
        self.assertEqual([r.dev_id for r in rows], [CAM2])
        # pages
        total, rows = yield self.store.fleet.page(DeviceFilter(), "dev_id", False, 1, 1)
        self.assertEqual((total, [r.dev_id for r in rows]), (3, [CAM3]))
        # never seen sorts last either way
        total, rows = yield self.store.fleet.page(DeviceFilter(), "last_seen_at", True, 0, 50)
        self.assertEqual([r.dev_id for r in rows], [CAM2, CAM, CAM3])
        total, rows = yield self.store.fleet.page(DeviceFilter(), "last_seen_at", False, 0, 50)
        self.assertEqual([r.dev_id for r in rows], [CAM2, CAM, CAM3])
        # a user's own and shared devices, with how they are bound
        total, rows = yield self.store.fleet.page(DeviceFilter(user_id=b), "dev_id", False, 0, 50)
        self.assertEqual([(r.dev_id, r.share_flag, r.can_control) for r in rows], [(CAM, 1, False), (CAM2, 0, True)])
        total, rows = yield self.store.fleet.page(DeviceFilter(user_id=a), "dev_id", False, 0, 50)
        self.assertEqual([(r.dev_id, r.share_flag, r.can_control) for r in rows], [(CAM, 0, True)])

    @defer.inlineCallbacks
    def test_page_json_is_the_page_as_the_portal_shows_it(self):
        """The portal's hot list (items built by the store as JSON) answers what :meth:`page` answers, each row
        as the portal's Python view would render it: times as ISO 8601 in the platform's zone."""
        a, b = yield self.fleet()
        times = Times(zoneinfo.ZoneInfo(ZONE))
        cases = [(DeviceFilter(), "dev_id", False, 0, 50), (DeviceFilter(online=True), "dev_id", False, 0, 50),
                 (DeviceFilter(online=False, model="DS-2CD"), "dev_id", True, 0, 50),
                 (DeviceFilter(q="dh-"), "name", False, 0, 50), (DeviceFilter(q="%"), "dev_id", False, 0, 50),
                 (DeviceFilter(), "dev_id", False, 1, 1), (DeviceFilter(), "last_seen_at", True, 0, 50),
                 (DeviceFilter(user_id=b), "dev_id", False, 0, 50), (DeviceFilter(user_id=a), "model", True, 0, 5)]
        for case in cases:
            total, rows = yield self.store.fleet.page(*case)
            total_json, items = yield self.store.fleet.page_json(*case, ZONE)
            expected = [(r.dev_id, r.online, {
                "dev_id": r.dev_id, "name": r.name, "dev_type": r.dev_type, "model": r.model,
                "manufacturer_no": r.manufacturer_no, "manufacturer": r.manufacturer, "dev_ver": r.dev_ver,
                "channels": r.channels, "last_seen_at": times.out(r.last_seen_at),
                "created_at": times.out(r.created_at), "owner": r.owner,
                "access": None if r.share_flag is None else
                ("own" if r.share_flag == 0 else "control" if r.can_control else "view")}) for r in rows]
            self.assertEqual((total_json, [(d, o, json.loads(i)) for d, o, i in items]), (total, expected), case)
        self.assertIsNotNone(expected[0][2]["created_at"])
        _, items = yield self.store.fleet.page_json(DeviceFilter(online=True), "dev_id", False, 0, 50, ZONE)
        self.assertEqual(json.loads(items[0][2])["last_seen_at"], times.out(self.now))
        self.assertTrue(json.loads(items[0][2])["last_seen_at"].endswith("+08:00"))

    @defer.inlineCallbacks
    def test_detail_update_delete_exceptions(self):
        yield self.fleet()
        self.assertIsNone((yield self.store.fleet.detail("81100009999")))
        yield self.store.links.ability(CAM2, m.AbilityUpRequest(
            DevID=CAM2, ChannelNum=2, PTZFlag=1, EStoreFlag=0, LocalStoreFlag=1, MotionDetectionFlag=1,
            InfraredDetectionFlag=0, ManualAlarmFlag=0, DIDOAlarmFlag=1, DIDONum=1,
            Video=(m.Video(StreamType=1, FrameSize=5), m.Video(StreamType=2, FrameSize=2))))
        detail = yield self.store.fleet.detail(CAM2)
        self.assertEqual(detail.summary.dev_id, CAM2)
        self.assertTrue(detail.summary.online)
        self.assertEqual((detail.addresses["local_ip"], detail.addresses["rtsp_local_port"],
                          detail.addresses["public_ip"], detail.addresses["public_port"]),
                         ("192.168.1.9", 554, "10.1.2.3", 4000))
        self.assertEqual(detail.abilities["ptz_flag"], True)
        self.assertEqual(detail.abilities["dido_num"], 1)
        self.assertEqual([c.channel_no for c in detail.channels], [0, 1])
        self.assertEqual(detail.videos, [(1, 5), (2, 2)])
        self.assertEqual([n for n, _ in detail.didos], [0])
        self.assertEqual(detail.last_login_at, self.now)
        detail = yield self.store.fleet.detail(CAM)
        self.assertEqual(detail.shares, [(B, False)])
        self.assertEqual(detail.summary.owner, A)
        self.assertTrue((yield self.store.fleet.update(CAM, name="门口", model="X1")))
        self.assertFalse((yield self.store.fleet.update("81100009999", name="x")))
        with self.assertRaises(ValueError):
            yield self.store.fleet.update(CAM, online=True)
        detail = yield self.store.fleet.detail(CAM)
        self.assertEqual((detail.summary.name, detail.summary.model), ("门口", "X1"))
        yield self.store.links.exception(CAM, 0, 11, "upgrade failed", self.now)
        yield self.store.links.exception(CAM2, None, 12, "upnp", self.now + 1)
        total, rows = yield self.store.fleet.exceptions(None, 0, 10)
        self.assertEqual((total, [(r.dev_id, r.exception_type) for r in rows]), (2, [(CAM2, 12), (CAM, 11)]))
        total, rows = yield self.store.fleet.exceptions(CAM, 0, 10)
        self.assertEqual([(r.channel_no, r.desc, r.at) for r in rows], [(0, "upgrade failed", self.now)])
        self.assertTrue((yield self.store.fleet.delete(CAM)))
        self.assertFalse((yield self.store.fleet.delete(CAM)))
        self.assertIsNone((yield self.store.fleet.detail(CAM)))
        total, _ = yield self.store.fleet.exceptions(CAM, 0, 10)
        self.assertEqual(total, 0)
        self.assertEqual((yield self.store.user_admin.get(A)).devices, 0)

    @defer.inlineCallbacks
    def test_alarms(self):
        a, b = yield self.fleet()
        first = yield self.store.alarms.add(CAM, 0, 1, "motion", None, "", self.now)
        second = yield self.store.alarms.add(CAM2, 0, 4, "dido", 1, "", self.now + 10)
        third = yield self.store.alarms.add(CAM, 1, 2, "", None, "", self.now + 20)
        total, rows = yield self.store.fleet.alarms(None, None, None, None, 0, 10)
        self.assertEqual((total, [r.alarm_id for r in rows]), (3, [third, second, first]))
        self.assertEqual(tuple(rows[1]), (second, CAM2, CAM2, 0, 4, "dido", 1, self.now + 10))
        total, rows = yield self.store.fleet.alarms(a, None, None, None, 0, 10)
        self.assertEqual([r.alarm_id for r in rows], [third, first])
        total, rows = yield self.store.fleet.alarms(b, CAM2, None, None, 0, 10)
        self.assertEqual([r.alarm_id for r in rows], [second])
        total, rows = yield self.store.fleet.alarms(None, None, self.now + 5, self.now + 15, 0, 10)
        self.assertEqual([r.alarm_id for r in rows], [second])
        total, rows = yield self.store.fleet.alarms(None, None, None, None, 1, 1)
        self.assertEqual((total, [r.alarm_id for r in rows]), (3, [second]))
        self.assertEqual((yield self.store.fleet.alarm(first)).desc, "motion")
        self.assertIsNone((yield self.store.fleet.alarm(99999)))

    @defer.inlineCallbacks
    def test_manufacturers(self):
        yield self.fleet()
        listed = yield self.store.fleet.manufacturers()
        self.assertIn(("811", "海康", 2), listed)
        self.assertIn(("812", "大华", 1), listed)
        self.assertTrue((yield self.store.fleet.add_manufacturer("901", "新厂")))
        self.assertFalse((yield self.store.fleet.add_manufacturer("901", "新厂二")))
        self.assertIn(("901", "新厂二", 0), (yield self.store.fleet.manufacturers()))
        with self.assertRaises(ValueError):
            yield self.store.fleet.add_manufacturer("9x1", "bad")


class UserAdminContract(StoreContract):
    @defer.inlineCallbacks
    def test_page_status_max_delete(self):
        a = yield self.store.users.add(A, "scrypt$a")
        b = yield self.store.users.add(B, "scrypt$b", 2)
        yield self.store.users.add(C, "scrypt$c")
        yield self.store.devices.add(CAM, "k")
        yield self.store.bindings.bind(a, CAM, 4)
        total, rows = yield self.store.user_admin.page(None, None, "mobile", False, 0, 2)
        self.assertEqual((total, [r.mobile for r in rows]), (3, [A, B]))
        total, rows = yield self.store.user_admin.page("0002", None, "mobile", False, 0, 10)
        self.assertEqual([(r.mobile, r.max_devices) for r in rows], [(B, 2)])
        total, rows = yield self.store.user_admin.page(None, None, "devices", True, 0, 10)
        self.assertEqual([(r.mobile, r.devices) for r in rows], [(A, 1), (B, 0), (C, 0)])
        s = yield self.store.sessions.open(b, "A-1.0", None, self.now)
        self.assertTrue((yield self.store.user_admin.set_status(b, "suspended", self.now)))
        self.assertFalse((yield self.store.user_admin.set_status(999, "suspended", self.now)))
        self.assertIsNone((yield self.store.users.active(B)))
        self.assertIsNone((yield self.store.sessions.check(B, s, self.now, 1800)))
        total, rows = yield self.store.user_admin.page(None, "suspended", "mobile", False, 0, 10)
        self.assertEqual([r.mobile for r in rows], [B])
        yield self.store.user_admin.set_status(b, "active", self.now)
        self.assertFalse((yield self.store.sessions.check(B, s, self.now, 1800)).live)  # ended, not revived
        self.assertTrue((yield self.store.user_admin.set_max_devices(b, 9)))
        self.assertEqual((yield self.store.user_admin.get(B)).max_devices, 9)
        self.assertEqual((yield self.store.user_admin.by_id(a)).mobile, A)
        self.assertIsNone((yield self.store.user_admin.get("13899999999")))
        self.assertTrue((yield self.store.user_admin.delete(a)))
        self.assertFalse((yield self.store.user_admin.delete(a)))
        self.assertIsNone((yield self.store.user_admin.get(A)))
        # the device stays, unbound
        yield self.store.bindings.bind(b, CAM, 9)

    @defer.inlineCallbacks
    def test_shares(self):
        a = yield self.store.users.add(A, "scrypt$a")
        b = yield self.store.users.add(B, "scrypt$b")
        c = yield self.store.users.add(C, "scrypt$c")
        yield self.store.devices.add(CAM, "k")
        yield self.store.bindings.bind(a, CAM, 4)
        yield self.store.user_admin.share(b, CAM, False, self.now)
        yield self.store.bindings.share(c, CAM)  # the MCU's kind of share: may control
        yield self.assertFailure(self.store.user_admin.share(a, CAM, True, self.now), AlreadyBound)
        self.assertEqual((yield self.store.user_admin.access(a, CAM)), (0, True))
        self.assertEqual((yield self.store.user_admin.access(b, CAM)), (1, False))
        self.assertEqual((yield self.store.user_admin.access(c, CAM)), (1, True))
        self.assertIsNone((yield self.store.user_admin.access(a, CAM2)))
        self.assertEqual([(s.mobile, s.can_control) for s in (yield self.store.user_admin.shares(CAM))],
                         [(B, False), (C, True)])
        self.assertEqual([(x.dev_id, x.share_flag, x.can_control) for x in (yield self.store.user_admin.bindings(b))],
                         [(CAM, 1, False)])
        self.assertFalse((yield self.store.user_admin.unshare(a, CAM)))  # the owner is not a share
        self.assertTrue((yield self.store.user_admin.unshare(b, CAM)))
        self.assertFalse((yield self.store.user_admin.unshare(b, CAM)))
        self.assertEqual([s.mobile for s in (yield self.store.user_admin.shares(CAM))], [C])


class StatsContract(StoreContract):
    @defer.inlineCallbacks
    def test_record_samples_days(self):
        # self.now = 2027-01-15 08:00:00 UTC = 16:00 in Shanghai
        u = yield self.store.users.add(A, "scrypt$a")
        yield self.store.devices.add(CAM, "k")
        yield self.store.devices.add(CAM2, "k")
        yield self.store.links.logged_in(CAM, "V1.5_1", Addresses(), 0, 0, "10.0.0.1", 1, self.now)
        yield self.store.sessions.open(u, "A-1.0", None, self.now - 3600)
        yield self.store.sessions.open(u, "A-1.0", None, self.now - 86400)  # yesterday
        yield self.store.api_tokens.open("h", "user", u, "c", None, self.now, self.now + 60)
        yield self.store.alarms.add(CAM, 0, 1, "", None, "", self.now - 60)
        yield self.store.tokens.issue_many(CAM, 0, ["client", "relay"], stream_type=2, now=self.now)
        yield self.store.stats.record(self.now, ZONE)
        days = yield self.store.stats.days("2027-01-01", "2027-01-31")
        self.assertEqual([tuple(d) for d in days], [("2027-01-15", 2, 1, 1, 1)])
        # counts only grow within a day: a purge of tokens does not lower plays
        yield self.store.tokens.purge(self.now + 10 * 86400)
        yield self.store.stats.record(self.now + 60, ZONE)
        days = yield self.store.stats.days("2027-01-15", "2027-01-15")
        self.assertEqual(days[0].plays, 1)
        samples = yield self.store.stats.samples(self.now - 1, self.now + 61)
        self.assertEqual([(s.at, s.devices, s.online, s.users) for s in samples],
                         [(self.now, 2, 1, 1), (self.now + 60, 2, 1, 1)])
        self.assertEqual(len((yield self.store.stats.samples(self.now - 1, self.now + 61, limit=1))), 1)
        totals = yield self.store.stats.totals()
        self.assertEqual(tuple(totals), (2, 1, 1, 0))
        yield self.store.stats.purge(self.now + 1)
        self.assertEqual(len((yield self.store.stats.samples(0, self.now + 100))), 1)


RealOperators, FakeOperators = contract(OperatorsContract)
RealApiTokens, FakeApiTokens = contract(ApiTokensContract)
RealFleet, FakeFleet = contract(FleetContract)
RealUserAdmin, FakeUserAdmin = contract(UserAdminContract)
RealStats, FakeStats = contract(StatsContract)
