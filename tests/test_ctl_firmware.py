"""``kandianctl firmware …``, ``upgrade …`` and ``device logs`` as an operator runs them:
a child process against real PostgreSQL, no daemon running."""

import hashlib
import os

from twisted.internet import defer

from kandian.store.connector import Store

from .pg import DatabaseTestCase
from .test_ctl import kandianctl
from .test_twistd import write_config

NEW = "V1.6_20240101"


class FirmwareCommandTests(DatabaseTestCase):
    def setUp(self):
        d = super().setUp()

        def configured(_):
            self.data_dir = os.path.abspath(self.mktemp())
            self.config = write_config(self.mktemp(), self.data_dir, dsn=self.dsn)
            self.image = os.path.join(os.path.abspath(self.mktemp()), "ipc-c1.bin")
            os.makedirs(os.path.dirname(self.image))
            self.data = os.urandom(100_000)
            with open(self.image, "wb") as f:
                f.write(self.data)
        return d.addCallback(configured)

    def add(self, version=NEW, model="C1", image=None):
        return kandianctl(self.config, "firmware", "add", image or self.image, "--manufacturer", "811",
                          "--model", model, "--version", version)

    @defer.inlineCallbacks
    def devices(self, *dev_ids, model="C1"):
        for dev_id in dev_ids:
            code, out = yield kandianctl(self.config, "device", "add", dev_id, "--key", "k", "--model", model)
            self.assertEqual(code, 0, out)

    @defer.inlineCallbacks
    def test_firmware_add_copies_the_image_and_lists_it(self):
        code, out = yield self.add()
        digest = hashlib.sha256(self.data).hexdigest()
        self.assertEqual((code, out), (0, "firmware 1 added: 811 C1 %s ipc-c1.bin, 100000 bytes, sha256 %s\n"
                                       % (NEW, digest)))
        with open(os.path.join(self.data_dir, "files", "firmware", "1", "ipc-c1.bin"), "rb") as f:
            self.assertEqual(f.read(), self.data)
        code, out = yield kandianctl(self.config, "firmware", "list")
        header, row = out.splitlines()
        self.assertEqual(header.split(), ["ID", "MANUFACTURER", "MODEL", "VERSION", "FILE", "SIZE", "SHA256", "ADDED"])
        self.assertEqual(row.split()[:7], ["1", "811", "C1", NEW, "ipc-c1.bin", "100000", digest])

    @defer.inlineCallbacks
    def test_firmware_add_refusals_are_one_line(self):
        yield self.add()
        for args, expected in [
            ((NEW,), "kandianctl: firmware 811 C1 %s exists\n" % NEW),
            (("1.6",), "kandianctl: version '1.6' is not a DevVer such as V1.5_20131210 (§7.5.1)\n"),
            ((NEW, "C1", "/nonexistent.bin"), "kandianctl: /nonexistent.bin: not a file\n"),
        ]:
            code, out = yield self.add(*args)
            self.assertEqual((code, out), (1, expected))
        self.assertEqual(os.listdir(os.path.join(self.data_dir, "files", "firmware")), ["1"])

    @defer.inlineCallbacks
    def test_a_campaign_is_written_listed_paused_resumed_cancelled(self):
        yield self.add()
        yield self.devices("81100000001", "81100000002")
        yield self.devices("81100000003", model="C2")
        code, out = yield kandianctl(self.config, "upgrade", "start", "--firmware", "1", "--batch", "10",
                                     "--max-failures", "2")
        self.assertEqual((code, out), (0, "campaign 1 started: firmware 1 to 2 devices, 10 at a time,"
                                          " pausing past 2 failures\n"))
        code, out = yield kandianctl(self.config, "upgrade", "start", "--firmware", "1", "--devices",
                                     "81100000003")
        self.assertEqual((code, out), (1, "kandianctl: firmware 1 is for 811 C1; not 81100000003 (811 C2)\n"))
        code, out = yield kandianctl(self.config, "upgrade", "start", "--firmware", "1")
        self.assertEqual(code, 1)
        self.assertIn("no device to upgrade", out)
        code, out = yield kandianctl(self.config, "upgrade", "status", "1")
        self.assertEqual(code, 0, out)
        lines = out.splitlines()
        self.assertTrue(lines[0].startswith("campaign 1: running; firmware 1 (811 C1 %s, ipc-c1.bin); batch 10,"
                                            " max failures 2" % NEW), lines[0])
        self.assertEqual(lines[1], "pending 2, sent 0, downloaded 0, done 0, failed 0")
        self.assertEqual(lines[2].split(), ["DEVID", "STATE", "FROM", "SENT", "DOWNLOADED", "FINISHED", "REASON"])
        self.assertEqual([line.split()[:2] for line in lines[3:]], [["81100000001", "pending"],
                                                                   ["81100000002", "pending"]])
        for action, expected in (("pause", "paused"), ("resume", "resumed"), ("cancel", "cancelled")):
            code, out = yield kandianctl(self.config, "upgrade", action, "1")
            self.assertEqual((code, out), (0, "campaign 1 %s\n" % expected))
        code, out = yield kandianctl(self.config, "upgrade", "resume", "1")
        self.assertEqual((code, out), (1, "kandianctl: campaign 1 is over\n"))
        code, out = yield kandianctl(self.config, "upgrade", "status", "7")
        self.assertEqual((code, out), (1, "kandianctl: no campaign 7\n"))
        code, out = yield kandianctl(self.config, "upgrade", "list")
        header, row = out.splitlines()
        self.assertEqual(row.split()[:10], ["1", "1", "cancelled", "10", "2", "2", "0", "0", "0", "2"])

    @defer.inlineCallbacks
    def test_device_logs_without_a_daemon_queues_and_lists(self):
        yield self.devices("81100000001")
        store = Store(self.db)
        yield store.devlogs.stored("81100000001", "81100000001_20260101.log", 1234, "ab" * 32, 1_800_000_000)
        code, out = yield kandianctl(self.config, "device", "logs", "81100000001", "--wait", "0.5")
        self.assertEqual(code, 0, out)
        lines = out.splitlines()
        self.assertEqual(lines[0], "log request 1: queued: the daemon sends it when the device is online")
        self.assertEqual(lines[1].split(), ["FILE", "SIZE", "SHA256", "RECEIVED", "PATH"])
        self.assertEqual(lines[2].split()[:3], ["81100000001_20260101.log", "1234", "ab" * 32])
        self.assertEqual(lines[2].split()[-1], os.path.join(self.data_dir, "files", "logs", "81100000001",
                                                            "81100000001_20260101.log"))
        rows = yield self.db.runQuery("SELECT dev_id, state FROM device_log_request")
        self.assertEqual(rows, [("81100000001", "pending")])
        code, out = yield kandianctl(self.config, "device", "logs", "81100000001", "--no-request")
        self.assertEqual((code, len(out.splitlines())), (0, 2))
        code, out = yield kandianctl(self.config, "device", "logs", "81100000009")
        self.assertEqual((code, out), (1, "kandianctl: no device 81100000009\n"))
