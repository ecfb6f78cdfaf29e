"""Two kandian daemons over real HTTP on loopback, each on its own PostgreSQL database: one a
province ([group] url), one the group platform ([group_role] listen), with a switch in
front of the group platform that the tests turn off and on.  Through them: the address
report and its clients, users opened/changed/cancelled with kandianctl, a device only
the group knows — redirected, added by its user, registering and logging in at the
province — and the group platform down while the province keeps working."""

from __future__ import annotations

import io

from twisted.internet import defer, protocol, reactor, task, threads
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.protocols import portforward

from kandian.ctl import CommandError, _parser, run
from kandian.service import KandianService
from kandian.sim.fleet import Fleet

from .mcu_helpers import PASSWORD, Soap
from .pg import DatabaseTestCase, create_database, drop_database, dsn_for
from .test_device_integration import eventually
from .test_register import service_config

A = "13800000001"
CAM = "81100000001"
GROUP_SETTINGS = "province_no = 3100\ncms_no = 01\ncms_password = s3cret\n"


class Switch(protocol.Factory):
    """A TCP port forwarding to the group platform while ``up``; when down, it
    closes every new connection at once (the group platform is unreachable)."""

    def __init__(self, port: int):
        self.up = True
        self.forward = portforward.ProxyFactory("127.0.0.1", port)

    def buildProtocol(self, addr):
        return self.forward.buildProtocol(addr) if self.up else None


class TwoDaemonsTestCase(DatabaseTestCase):
    @defer.inlineCallbacks
    def setUp(self):
        yield super().setUp()  # self.dsn: the province's database
        group_db = create_database()
        self.addCleanup(drop_database, group_db)
        self.group = yield self.daemon(service_config(dsn_for(group_db), group_role=(
            "listen = tcp:0:interface=127.0.0.1\nstun_address = 127.0.0.1:3478\n")))
        self.role = self.group.platform.core.group_role
        yield self.role.add_province("3100", "01", "s3cret", name="测试省")
        yield self.role.set_client("android", "A-2.1", "http://downloads.example/mcu-2.1.apk")
        self.switch = Switch(self.port(self.group, "group_role"))
        listening = yield TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(self.switch)
        self.addCleanup(listening.stopListening)
        self.group_url = "http://127.0.0.1:%d/cms" % listening.getHost().port
        self.redirect_url = "http://127.0.0.1:%d/redirect" % listening.getHost().port
        self.group_settings = "url = %s\n%s" % (self.group_url, GROUP_SETTINGS)

    @defer.inlineCallbacks
    def daemon(self, config):
        clock = task.Clock()
        clock.advance(reactor.seconds())
        service = KandianService(config, reactor, clock=clock)
        service.startService()
        self.addCleanup(service.stopService)
        yield service.ready
        return service

    @defer.inlineCallbacks
    def start_province(self):
        self.province = yield self.daemon(service_config(self.dsn, group=self.group_settings))
        self.clock = self.province.clock
        self.clock.advance(0)  # the address report at start
        self.config_path = self.mktemp()
        with open(self.config_path, "w") as f:
            f.write("[database]\ndsn = %s\n[group]\n%s" % (self.dsn, self.group_settings))

    @staticmethod
    def port(service, name):
        return service.listeners[name].port.getHost().port

    @defer.inlineCallbacks
    def kandianctl(self, *argv):
        out = io.StringIO()
        yield run(reactor, _parser().parse_args(["--config", self.config_path, *argv]), out)
        return out.getvalue()

    def group_users(self):
        return self.role.users("3100", "01")

    @defer.inlineCallbacks
    def login(self, mobile=A):
        self.soap = yield Soap.connect(self.port(self.province, "mcu"))
        answer = yield self.soap.McuLogin(Account=mobile, Password=PASSWORD, Version="A-2.0")
        self.assertEqual(answer["Result"], 0)
        return answer["LoginSession"]

    def fleet(self, **kw):
        fleet = Fleet(reactor, count=1, first_devid=CAM, key_pattern="key-{devid}", redirect_url=self.redirect_url,
                      status_every=None, **kw)
        self.addCleanup(fleet.stop)
        fleet.start()
        return fleet


class ProvinceAndGroupTests(TwoDaemonsTestCase):
    @defer.inlineCallbacks
    def test_the_address_report_and_the_clients_it_brings(self):
        yield self.start_province()
        reported = yield eventually(lambda: self.role.store.group_role.province("3100", "01").addCallback(
            lambda p: p if p.reported_at else None), "address report")
        self.assertEqual((reported.mcu_url, reported.dev_url, reported.cms_ver),
                         ("http://127.0.0.1:%d/mcu" % self.port(self.province, "mcu"),
                          "http://127.0.0.1:%d/register" % self.port(self.province, "register"), "1.0"))
        link = self.province.platform.core.group
        yield eventually(lambda: link.releases.android, "clients kept")
        # §9.1 at the province, from what the group named; and GetPlatformList at the group
        soap = yield Soap.connect(self.port(self.province, "mcu"))
        old = yield soap.CheckClientUpgrade(Version="A-2.0")
        self.assertEqual((old["Result"], old["UpdateUrl"]), (1, "http://downloads.example/mcu-2.1.apk"))
        current = yield soap.CheckClientUpgrade(Version="A-2.1", MobileTel=A)
        self.assertEqual(current["Result"], 0)
        platforms = yield self.role.platforms()
        self.assertEqual(platforms, [("测试省", reported.mcu_url)])
        out = yield self.kandianctl("group", "status")
        self.assertIn("Result 0", out)
        self.assertIn("A-2.1", out)
        # the province reports again every report_interval (3600 s by default)
        exchanges = self.province.platform.group_stats.exchanges
        self.assertEqual(exchanges[("ADDRESS_REPORT_REQ", "0")], 1)
        self.clock.advance(3599)
        self.assertEqual(exchanges[("ADDRESS_REPORT_REQ", "0")], 1)
        self.clock.advance(1)
        yield eventually(lambda: exchanges[("ADDRESS_REPORT_REQ", "0")] == 2, "second report")

    @defer.inlineCallbacks
    def test_users_opened_changed_and_cancelled_with_kandianctl(self):
        yield self.start_province()
        out = yield self.kandianctl("user", "add", A, "--password", PASSWORD, "--max-devices", "4")
        self.assertEqual(out, "user %s added\ngroup platform: open of %s accepted\n" % (A, A))
        self.assertEqual((yield self.group_users()), [(A, 4)])
        out = yield self.kandianctl("user", "set", A, "--max-devices", "6")
        self.assertIn("change of %s accepted" % A, out)
        self.assertEqual((yield self.group_users()), [(A, 6)])
        out = yield self.kandianctl("user", "del", A)
        self.assertIn("cancel of %s accepted" % A, out)
        self.assertEqual((yield self.group_users()), [])
        self.assertEqual((yield self.kandianctl("group", "pending")).splitlines()[1:], [])

    @defer.inlineCallbacks
    def test_a_device_only_the_group_knows(self):
        yield self.start_province()
        yield self.kandianctl("user", "add", A, "--password", PASSWORD)
        session = yield self.login()
        # never powered on: the group does not know it (§6.5 Result 3 → §8.5 Result 3)
        answer = yield self.soap.AddDevice(Account=A, LoginSession=session, DevID=CAM, DevKey="key-" + CAM)
        self.assertEqual(answer["Result"], 3)
        # powered on: it asks the group, which stores it and answers 401 (no province claimed it)
        fleet = self.fleet()
        yield eventually(lambda: fleet.counters.redirect_refused, "refused by the group")
        self.assertEqual(fleet.counters.registered, 0)
        device = yield self.role.store.group_role.device(CAM)
        self.assertEqual((device.dev_key, device.province_no), ("key-" + CAM, None))
        # a wrong key is the group's 4, §8.5's 4
        answer = yield self.soap.AddDevice(Account=A, LoginSession=session, DevID=CAM, DevKey="wrong")
        self.assertEqual(answer["Result"], 4)
        answer = yield self.soap.AddDevice(Account=A, LoginSession=session, DevID=CAM, DevKey="key-" + CAM)
        self.assertEqual(answer["Result"], 0)
        rows = yield self.db.runQuery("SELECT d.provisioned_by, u.mobile FROM device d JOIN user_device b"
                                      " USING (dev_id) JOIN app_user u USING (user_id) WHERE dev_id = %s", (CAM,))
        self.assertEqual(rows, [("group", A)])
        self.assertEqual((yield self.role.store.group_role.device(CAM)).province_no, "3100")
        # powered on again: redirected to the province, registers there and logs in
        self.assertEqual(fleet.power_cycle(), 1)
        yield fleet.all_online()
        self.assertEqual((fleet.counters.redirected, fleet.counters.registered), (1, 1))
        yield eventually(lambda: self.province.platform.links.online(CAM), "online at the province")
        listed = yield self.soap.RefreshDevList(Account=A, LoginSession=session)
        self.assertEqual([(d["DevID"], d["OnLine"]) for d in listed["DevList"]["Dev"]], [(CAM, 1)])

    @defer.inlineCallbacks
    def test_the_group_down_the_province_keeps_working_and_the_change_lands_later(self):
        self.switch.up = False
        yield self.start_province()
        out = yield self.kandianctl("user", "add", A, "--password", PASSWORD, "--max-devices", "3")
        self.assertIn("user %s added\ngroup platform: open of %s not accepted (" % (A, A), out)
        self.assertIn("queued, see kandianctl group pending", out)
        pending = (yield self.kandianctl("group", "pending")).splitlines()
        self.assertEqual(pending[0].split()[:6], ["ID", "KIND", "MOBILE", "IPCAM_NUM", "QUEUED", "ATTEMPTS"])
        self.assertEqual(len(pending), 2)
        self.assertEqual(pending[1].split()[1:4], ["open", A, "3"])
        # the province works on its own: the user logs in; an unknown device cannot be asked about: 255
        session = yield self.login()
        answer = yield self.soap.AddDevice(Account=A, LoginSession=session, DevID=CAM, DevKey="k")
        self.assertEqual(answer["Result"], 255)
        self.assertEqual((yield self.group_users()), [])
        # back: the daemon's next attempt delivers it, and the address report is retried too
        # (kandianctl queued and tried it on the reactor's time, the daemon runs on its clock)
        self.switch.up = True
        self.clock.advance(reactor.seconds() + 30 - self.clock.seconds())
        yield eventually(self.group_users, "the open delivered")
        self.assertEqual((yield self.group_users()), [(A, 3)])
        yield eventually(lambda: self.province.platform.core.group.pending().addCallback(lambda p: not p),
                         "nothing pending")
        yield eventually(lambda: self.role.store.group_role.province("3100", "01").addCallback(
            lambda p: p.reported_at), "address report")
        yield threads.deferToThread(lambda: None)  # let zeep's thread pool settle

    @defer.inlineCallbacks
    def test_kandianctl_retry_and_drop(self):
        self.switch.up = False
        yield self.start_province()
        yield self.kandianctl("user", "add", A, "--password", PASSWORD)
        yield self.kandianctl("user", "set", A, "--max-devices", "9")
        out = yield self.kandianctl("group", "retry")
        self.assertIn("1 sent, 0 accepted, 2 still pending", out)  # the change waits behind the open
        ids = [line.split()[0] for line in (yield self.kandianctl("group", "pending")).splitlines()[1:]]
        self.switch.up = True
        out = yield self.kandianctl("group", "drop", ids[0])
        self.assertEqual(out, "change %s dropped\n" % ids[0])
        # a change of a user the group never opened goes again as an open, with today's number
        out = yield self.kandianctl("group", "retry", ids[1])
        self.assertEqual(out, "2 sent, 1 accepted, 0 still pending\nchange of %s: the group platform does not"
                              " know the user; sent again as an open\n" % A)
        self.assertEqual((yield self.group_users()), [(A, 9)])
        error = yield self.assertFailure(self.kandianctl("group", "retry", ids[1]), CommandError)
        self.assertEqual(str(error), "no pending change %s" % ids[1])


class MisconfiguredProvinceTests(TwoDaemonsTestCase):
    @defer.inlineCallbacks
    def test_a_wrong_cms_password(self):
        self.group_settings = self.group_settings.replace("cms_password = s3cret", "cms_password = wrong")
        yield self.start_province()
        link = self.province.platform.core.group
        yield eventually(lambda: link.last_report, "the address report answered")
        self.assertEqual(link.last_report.result, 2)
        out = yield self.kandianctl("group", "status")
        self.assertIn("Result 2", out)
        self.assertNotIn("wrong", out)
        # the group refuses this province: user changes stay queued with its Result, AddDevice is 255
        out = yield self.kandianctl("user", "add", A, "--password", PASSWORD)
        self.assertIn("refuses our CmsPassword ([group] cms_password)", out)
        (change,) = yield link.pending()
        self.assertEqual((change.kind, change.last_result), ("open", 2))
        session = yield self.login()
        answer = yield self.soap.AddDevice(Account=A, LoginSession=session, DevID=CAM, DevKey="k")
        self.assertEqual(answer["Result"], 255)
        rows = yield self.db.runQuery("SELECT count(*) FROM device")
        self.assertEqual(rows, [(0,)])
