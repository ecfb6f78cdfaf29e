"""kandian.core.retention: pictures and device logs older than [files] retention_days go, rows and files
(FakeStore — the store's side is in the files contract, against PostgreSQL too — + task.Clock + a real files root)."""

from __future__ import annotations

import os

from twisted.internet import defer, task
from twisted.trial import unittest

from kandian.core import retention
from kandian.core.files import Layout
from kandian.core.retention import FileRetention
from kandian.store.fake import FakeStore

DEV = "81100000001"
SHA = "cd" * 32
DAY = 86400.0
NOW = 1_800_000_000


class FileRetentionTests(unittest.TestCase):
    def setUp(self):
        self.clock = task.Clock()
        self.clock.advance(NOW)
        self.store = FakeStore()
        self.successResultOf(self.store.devices.add(DEV, "key"))
        self.layout = Layout(self.mktemp())
        self.layout.prepare(NOW)
        self.retention = FileRetention(self.store, self.layout, self.clock, 30, blocking=defer.maybeDeferred)

    def land(self, area, name, at, channel_no=None):
        path = self.layout.file(area, DEV, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(b"x")
        os.utime(path, (at, at))
        self.successResultOf(self.store.files.stored(DEV, area, name, 1, SHA, at, channel_no=channel_no))
        return path

    def test_older_than_the_setting_go_files_and_rows(self):
        old_pic = self.land("pictures", DEV + "_0_20261101080000.jpg", NOW - 31 * DAY, 0)
        new_pic = self.land("pictures", DEV + "_0_20261201080000.jpg", NOW - 29 * DAY, 0)
        old_log = self.land("logs", "boot.log", NOW - 40 * DAY)
        self.assertEqual(self.successResultOf(self.retention.purge()), 2)
        self.assertEqual([os.path.exists(p) for p in (old_pic, new_pic, old_log)], [False, True, False])
        self.assertEqual(self.successResultOf(self.store.files.account(DEV))[1], 1)
        self.assertEqual((self.retention.purged, self.retention.rows), (2, 2))
        self.clock.advance(2 * DAY)
        self.assertEqual(self.successResultOf(self.retention.purge()), 1)
        self.assertFalse(os.path.exists(new_pic))

    def test_a_file_written_again_after_the_cut_stays(self):
        path = self.land("logs", "boot.log", NOW - 40 * DAY)
        os.utime(path, (NOW, NOW))  # landed again between the rows' deletion and the removal
        self.assertEqual(self.successResultOf(self.retention.purge()), 0)
        self.assertTrue(os.path.exists(path))

    def test_a_file_already_gone_is_no_error(self):
        path = self.land("logs", "boot.log", NOW - 40 * DAY)
        os.unlink(path)
        self.assertEqual(self.successResultOf(self.retention.purge()), 0)
        self.assertEqual(self.retention.rows, 1)

    def test_batches_until_done(self):
        self.patch(retention, "BATCH", 2)
        paths = [self.land("logs", "l%d.log" % i, NOW - 40 * DAY + i) for i in range(5)]
        self.successResultOf(self.store.files.notified(DEV, 0, DEV + "_0_20261101080000.jpg", None, NOW - 40 * DAY))
        self.assertEqual(self.successResultOf(self.retention.purge()), 5)
        self.assertFalse(any(os.path.exists(p) for p in paths))
        self.assertEqual(self.retention.rows, 6)

    def test_0_keeps_everything(self):
        path = self.land("logs", "boot.log", NOW - 4000 * DAY)
        self.retention.days = 0
        self.assertEqual(self.successResultOf(self.retention.purge()), 0)
        self.assertTrue(os.path.exists(path))
