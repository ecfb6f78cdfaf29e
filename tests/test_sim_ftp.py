"""The simulator's FTP (kandian.sim.ftp) against a stock ``twisted.protocols.ftp`` server on loopback,
and with the running platform and its own FTP listener: alarm pictures, firmware upgrades driven by
a campaign, log uploads.
"""

import hashlib
import os

from twisted.cred.checkers import InMemoryUsernamePasswordDatabaseDontUse
from twisted.cred.portal import Portal
from twisted.internet import defer, reactor
from twisted.protocols.ftp import CommandFailed, FTPFactory, FTPRealm
from twisted.trial import unittest

from kandian.sim.ftp import DeviceFtp, TooLarge, download, sample_jpeg, upload
from kandian.sim.link import connect_device
from kandian.sim.state import DeviceState, FtpServer
from kandian.store.devices import DeviceStore

from . import procs
from .test_device_integration import DeviceTestCase, eventually

DEV = "81100000001"
OLD, NEW = "V1.5_20131210", "V1.6_20240101"


class StockFtp:
    """A stock Twisted FTP server: *accounts* (name → password), homes under *root*."""

    def __init__(self, root, accounts):
        self.root = root
        self.checker = InMemoryUsernamePasswordDatabaseDontUse()
        for account, password in accounts.items():
            self.add(account, password)
        factory = FTPFactory(Portal(FTPRealm(root, userHome=root), [self.checker]))
        factory.allowAnonymous = False
        self.port = reactor.listenTCP(0, factory, interface="127.0.0.1")

    def server(self, account, password):
        return FtpServer("127.0.0.1", self.port.getHost().port, account, password)

    def add(self, account, password):
        self.checker.addUser(account, password)  # str, as the FTP server compares them
        for sub in ("pictures", "logs"):
            os.makedirs(os.path.join(self.root, account, sub), exist_ok=True)

    def path(self, account, *parts):
        return os.path.join(self.root, account, *parts)

    def stop(self):
        return self.port.stopListening()


class ClientTests(unittest.TestCase):
    def setUp(self):
        self.ftp = StockFtp(os.path.abspath(self.mktemp()), {DEV: "s3cret"})
        self.addCleanup(self.ftp.stop)
        self.server = self.ftp.server(DEV, "s3cret")

    @defer.inlineCallbacks
    def test_upload_then_download_the_same_bytes(self):
        data = os.urandom(300_000)
        yield upload(reactor, self.server, "pictures/%s_0_20260101120000.JPG" % DEV, data)
        with open(self.ftp.path(DEV, "pictures", "%s_0_20260101120000.JPG" % DEV), "rb") as f:
            self.assertEqual(f.read(), data)
        size, digest = yield download(reactor, self.server, "pictures/%s_0_20260101120000.JPG" % DEV)
        self.assertEqual((size, digest), (len(data), hashlib.sha256(data).hexdigest()))

    @defer.inlineCallbacks
    def test_refusals_fail_the_operation(self):
        yield self.assertFailure(download(reactor, self.server, "firmware/none.bin"), CommandFailed)
        wrong = self.ftp.server(DEV, "guess")
        failure = yield self.assertFailure(upload(reactor, wrong, "pictures/x.JPG", b"x"), Exception)
        self.assertIn("530", str(failure))
        self.assertFalse(os.path.exists(self.ftp.path(DEV, "pictures", "x.JPG")))

    @defer.inlineCallbacks
    def test_a_download_longer_than_the_limit_is_refused(self):
        with open(self.ftp.path(DEV, "big.bin"), "wb") as f:
            f.write(b"\0" * 100_000)
        yield self.assertFailure(download(reactor, self.server, "big.bin", limit=50_000), TooLarge)
        size, _ = yield download(reactor, self.server, "big.bin", limit=100_000)
        self.assertEqual(size, 100_000)
        # the stock server logs the data connection aborted under it as an error of its own
        self.flushLoggedErrors(Exception)

    @defer.inlineCallbacks
    def test_the_sample_picture_is_a_jpeg_of_the_size_asked(self):
        picture = sample_jpeg(200_000)
        self.assertEqual((len(picture), picture[:3], picture[-2:]), (200_000, b"\xff\xd8\xff", b"\xff\xd9"))
        # a real decoder reads it: a 1x1 image
        path = os.path.abspath(self.mktemp())
        with open(path, "wb") as f:
            f.write(picture)
        code, out = yield procs.run(["ffprobe", "-v", "error", "-show_entries", "stream=width,height", "-of", "csv",
                                     path])
        self.assertEqual((code, out.strip()), (0, "stream,1,1"))


class WithThePlatformTests(DeviceTestCase):
    """The running platform, its own FTP listener included: the simulator's
    pictures, firmware downloads and log uploads through it, driven by the core."""

    @defer.inlineCallbacks
    def setUp(self):
        self.files = os.path.abspath(self.mktemp())
        self.settings = {"ftp": "passive_ports =\n", "files": "root = %s\n" % self.files,
                         "firmware": "poll_interval = 5\n"}
        yield super().setUp()
        self.core = self.service.platform.core
        self.image = os.urandom(50_000)
        self.digest = hashlib.sha256(self.image).hexdigest()

    @defer.inlineCallbacks
    def device(self, dev_id=DEV, upgrade_failure=None, digests=None):
        """A provisioned device logged in with FTP behaviour, knowing its FTP login as REGISTER_RES gives it."""
        yield DeviceStore(self.db).add(dev_id, "key", model="C1")
        login = yield self.core.files.credentials(dev_id)
        state = DeviceState(dev_id, "key", dev_ver=OLD, model="C1", upgrade_failure=upgrade_failure,
                            ftp_server=FtpServer(login.ip, login.port, login.account, login.password))
        device_ftp = DeviceFtp(reactor, self.sim_clock, digests={NEW: self.digest} if digests is None else digests,
                               retries=0, picture=sample_jpeg(20_000))
        link = yield self.link(state, device_ftp)
        return state, device_ftp, link

    @defer.inlineCallbacks
    def link(self, state, device_ftp):
        link = yield connect_device(reactor, ("127.0.0.1", self.port("device")), state, clock=self.sim_clock,
                                    ftp=device_ftp)
        self.addCleanup(link.close)
        yield link.logged_in()
        # LOGIN_RES goes out before the login's row is written, and a round sends only to devices the store
        # shows online
        yield eventually(lambda: self.online(state.dev_id), "%s online in the store" % state.dev_id)
        return link

    @defer.inlineCallbacks
    def catalogue(self):
        source = os.path.join(os.path.abspath(self.mktemp()), "c1.bin")
        os.makedirs(os.path.dirname(source))
        with open(source, "wb") as f:
            f.write(self.image)
        firmware = yield self.core.firmware.add(source, "811", "C1", NEW)
        return firmware

    def round(self):
        self.clock.advance(self.service.config.firmware.poll_interval)

    @defer.inlineCallbacks
    def states(self, campaign_id):
        status = yield self.core.upgrades.status(campaign_id)
        return {t.dev_id: (t.state, t.reason) for t in status.targets}

    @defer.inlineCallbacks
    def test_an_alarm_uploads_its_picture_then_notifies(self):
        state, device_ftp, link = yield self.device()
        answer = yield device_ftp.alarm(link, 0, 1, desc="motion")
        self.assertEqual(answer.Result, 0)
        yield eventually(lambda: device_ftp.counters["pictures"] == 1, "uploaded and notified")
        alarm_id, name = (yield self.db.runQuery("SELECT alarm_id, file_name FROM alarm WHERE dev_id = %s",
                                                 (DEV,)))[0]
        self.assertRegex(name, r"^%s_0_\d{14}\.JPG$" % DEV)
        picture = yield eventually(lambda: self.core.alarms.picture(alarm_id), "the picture linked to its alarm")
        self.assertEqual((picture.path, picture.size), (os.path.join(self.files, "pictures", DEV, name), 20_000))
        with open(picture.path, "rb") as f:
            self.assertEqual(hashlib.sha256(f.read()).hexdigest(), picture.sha256)

    @defer.inlineCallbacks
    def test_a_campaign_upgrades_a_device_that_checks_reboots_and_logs_in_with_the_new_version(self):
        state, device_ftp, link = yield self.device()
        firmware = yield self.catalogue()
        started = yield self.core.upgrades.start(firmware.firmware_id)
        self.round()
        yield link.when_closed()  # downloaded, checked, rebooted
        self.assertEqual((state.dev_ver, device_ftp.counters["upgrades"]), (NEW, 1))
        request, = [r for cmd, r in link.commands_received if cmd == 0x6D]
        login = yield self.core.files.credentials(DEV)
        self.assertEqual((request.FtpFileName, request.FtpAccount, request.FtpPassword),
                         ("c1.bin", DEV, login.password))
        states = yield self.states(started.campaign_id)
        self.assertEqual(states[DEV], ("downloaded", ""))  # the FTP server saw the whole image go
        link = yield self.link(state, device_ftp)
        yield eventually(lambda: self.states(started.campaign_id).addCallback(lambda s: s[DEV][0] == "done"),
                         "done")
        # the outcome, reported after the reboot (§7.5.17), is stored and fails nothing
        rows = yield eventually(lambda: self.db.runQuery(
            "SELECT exception_type, exception_desc FROM device_exception WHERE dev_id = %s", (DEV,)))
        self.assertEqual(rows, [(0, "upgraded from %s to %s" % (OLD, NEW))])
        self.round()
        yield eventually(lambda: self.service.platform.store.upgrades.campaign(started.campaign_id).addCallback(
            lambda c: c.state == "finished"), "finished")
        # the upgrade is over: the image is no longer this device's to fetch
        yield self.assertFailure(download(reactor, state.ftp_server, "c1.bin"), Exception)

    @defer.inlineCallbacks
    def test_devices_told_to_fail_fail_each_in_its_way(self):
        devices = {}
        for n, mode in enumerate(("corrupt", "refuse", "silent"), start=1):
            dev_id = "8110000000%d" % n
            devices[dev_id] = yield self.device(dev_id, upgrade_failure=mode)
        firmware = yield self.catalogue()
        started = yield self.core.upgrades.start(firmware.firmware_id, max_failures=5)
        self.round()
        states = yield eventually(lambda: self.states(started.campaign_id).addCallback(
            lambda s: s if s["81100000001"][0] == "failed" else None), "the corrupt image reported")
        self.assertTrue(states["81100000001"][1].startswith("EXCEPTION 11: image of 50000 bytes failed its check"),
                        states)
        self.assertEqual(states["81100000002"], ("failed", "UPGRADE_RES Result 1"))
        yield eventually(lambda: self.states(started.campaign_id).addCallback(
            lambda s: s["81100000003"][0] == "downloaded"), "the silent one downloaded")
        self.clock.advance(self.service.config.firmware.upgrade_timeout + 1)
        states = yield eventually(lambda: self.states(started.campaign_id).addCallback(
            lambda s: s if s["81100000003"][0] == "failed" else None), "the silent one timed out")
        self.assertEqual(states["81100000003"][1], "no login with the new firmware within 1800 s")
        for dev_id, (state, _, _) in devices.items():
            self.assertEqual(state.dev_ver, OLD, dev_id)

    @defer.inlineCallbacks
    def test_log_upload_request_reaches_the_device_which_uploads(self):
        state, device_ftp, link = yield self.device()
        request_id = yield self.core.devlogs.request(DEV)
        self.round()
        request = yield eventually(lambda: self.core.devlogs.request_state(request_id).addCallback(
            lambda r: r if r.state == "sent" else None), "sent")
        self.assertEqual(request.reason, "")
        files = yield eventually(lambda: self.core.devlogs.files(DEV), "the log recorded")
        log_file, = files
        self.assertRegex(log_file.file_name, r"^%s_\d{14}\.log$" % DEV)
        path = self.core.devlogs.path(DEV, log_file.file_name)
        with open(path, "rb") as f:
            data = f.read()
        self.assertIn(b"DevVer " + OLD.encode(), data)
        self.assertEqual((log_file.size, log_file.sha256), (len(data), hashlib.sha256(data).hexdigest()))
