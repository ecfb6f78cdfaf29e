"""FTP in the running platform: REGISTER_RES credentials, a camera's alarm and its picture, kandianctl, the portal.

The whole service on loopback and real PostgreSQL, the shipped simulator as
the camera (registration and link), ftplib as its FTP client, kandianctl as
a child process, the portal's REST API serving the picture.
"""

from __future__ import annotations

import ftplib
import io
import os

from prometheus_client.parser import text_string_to_metric_families
from twisted.internet import defer, reactor, threads
from twisted.web.client import Agent, readBody

from kandian.core.files import format_picture_name
from kandian.sim.register import register
from kandian.sim.state import DeviceState

from . import procs
from .portal_helpers import PortalTestCase
from .test_device_integration import DeviceTestCase
from .test_ftp_clients import JPEG

DEV = "81100000001"


class FtpServiceTests(DeviceTestCase):
    register_settings = "auto_provision = true\n"

    @defer.inlineCallbacks
    def setUp(self):
        self.root = os.path.abspath(self.mktemp())
        self.settings = {"ftp": "passive_ports =\n", "files": "root = %s\n" % self.root}
        yield super().setUp()
        self.state = DeviceState(DEV, "key-1", channel_num=2)

    @defer.inlineCallbacks
    def registered(self):
        result = yield register(reactor, "http://127.0.0.1:%d/register" % self.port("register"), self.state)
        self.assertEqual(result.response.Result, 0)
        return result.response

    def upload(self, answer, name, data=JPEG, password=None):
        def run():
            with ftplib.FTP() as f:
                f.connect(answer.FtpIP, answer.FtpPort, timeout=30)
                f.login(answer.FtpAccount, password or answer.FtpPassword)
                return f.storbinary("STOR " + name, io.BytesIO(data))
        return threads.deferToThread(run)

    def kandianctl(self, *args):
        path = self.mktemp()
        with open(path, "w") as f:
            f.write("[database]\ndsn = %s\n[files]\nroot = %s\n" % (self.dsn, self.root))
        return procs.run([procs.command("kandianctl"), "--config", path, *args])

    @defer.inlineCallbacks
    def test_a_camera_registers_raises_an_alarm_and_its_picture_arrives(self):
        answer = yield self.registered()
        self.assertEqual((answer.FtpIP, answer.FtpPort, answer.FtpAccount), ("127.0.0.1", self.port("ftp"), DEV))
        link = yield self.connect(self.state)
        yield link.send_alarm(1, 1)
        alarm = self.service.platform.core.alarms
        [(alarm_id,)] = yield self.db.runQuery("SELECT alarm_id FROM alarm")
        self.assertIsNone((yield alarm.picture(alarm_id)))
        # the snapshot the camera took, uploaded with the credentials of REGISTER_RES, then notified
        self.clock.advance(5)
        self.sim_clock.advance(5)
        name = format_picture_name(DEV, 1, self.clock.seconds(), self.service.config.platform.timezone)
        self.assertEqual((yield self.upload(answer, name)), "226 Transfer Complete.")
        yield link.send_picture(1, file_name=name)
        picture = yield alarm.picture(alarm_id)
        self.assertEqual(picture.path, os.path.join(self.root, "pictures", DEV, name))
        self.assertEqual((picture.size, picture.taken_at), (len(JPEG), self.clock.seconds()))
        with open(picture.path, "rb") as f:
            self.assertEqual(f.read(), JPEG)
        [(notified,)] = yield self.db.runQuery("SELECT notified_at IS NOT NULL FROM picture")
        self.assertTrue(notified)

        code, out = yield self.kandianctl("alarm", "list", "--devid", DEV)
        self.assertEqual(code, 0, out)
        header, row = out.splitlines()
        self.assertEqual(header.split(), ["ALARM", "DEVID", "CHANNEL", "TYPE", "TIME", "PICTURE"])
        self.assertEqual(row.split()[:4], [str(alarm_id), DEV, "1", "motion"])
        self.assertEqual(row.split()[-1], picture.path)

        metrics = yield self.scrape()
        self.assertEqual(metrics[("kandian_ftp_logins_total", (("outcome", "ok"),))], 1)
        self.assertEqual(metrics[("kandian_ftp_transfers_total",
                                  (("area", "pictures"), ("direction", "in"), ("outcome", "ok")))], 1)
        self.assertEqual(metrics[("kandian_ftp_bytes_total", (("direction", "in"),))], len(JPEG))

    @defer.inlineCallbacks
    def test_rotate_ftp_retires_the_old_password(self):
        old = yield self.registered()
        self.assertEqual((yield self.upload(old, "boot.log", b"x")), "226 Transfer Complete.")
        code, out = yield self.kandianctl("device", "rotate-ftp", DEV)
        self.assertEqual(code, 0, out)
        self.assertIn("generation 1", out)
        yield self.assertFailure(self.upload(old, "boot.log", b"x"), ftplib.error_perm)
        new = yield self.registered()
        self.assertNotEqual(new.FtpPassword, old.FtpPassword)
        self.assertEqual((yield self.upload(new, "boot.log", b"y")), "226 Transfer Complete.")
        code, out = yield self.kandianctl("device", "rotate-ftp", "81100000009")
        self.assertEqual((code, out), (1, "kandianctl: no such device: 81100000009\n"))

    @defer.inlineCallbacks
    def scrape(self):
        response = yield Agent(reactor).request(b"GET", b"http://127.0.0.1:%d/metrics" % self.port("admin"))
        text = (yield readBody(response)).decode()
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(text) for s in family.samples}


class PortalPictureTests(PortalTestCase):
    """The portal's ``GET /api/v1/alarms/{id}/picture`` over a picture that came by FTP."""

    @defer.inlineCallbacks
    def setUp(self):
        self.settings = {"ftp": "passive_ports =\n", "files": "root = %s\n" % os.path.abspath(self.mktemp())}
        yield super().setUp()

    @defer.inlineCallbacks
    def test_the_owner_gets_the_bytes_the_camera_uploaded(self):
        owner = yield self.user("13800000001")
        link = yield self.camera(DEV, owner="13800000001")
        yield link.send_alarm(0, 1)
        [(alarm_id,)] = yield self.db.runQuery("SELECT alarm_id FROM alarm")
        answer = yield self.get("/api/v1/alarms/%d/picture" % alarm_id, owner)
        self.assertEqual((answer.code, answer.json["error"]), (404, "no_picture"))
        ftp = yield self.core.files.credentials(DEV)

        def upload():
            with ftplib.FTP() as f:
                f.connect(ftp.ip, ftp.port, timeout=30)
                f.login(ftp.account, ftp.password)
                f.storbinary("STOR /pictures/" + name, io.BytesIO(JPEG))

        name = format_picture_name(DEV, 0, self.clock.seconds(), self.service.config.platform.timezone)
        yield threads.deferToThread(upload)
        yield link.send_picture(0, file_name=name)
        answer = yield self.get("/api/v1/alarms/%d/picture" % alarm_id, owner)
        self.assertEqual((answer.code, answer.header(b"content-type"), answer.data), (200, "image/jpeg", JPEG))
