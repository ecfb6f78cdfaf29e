"""The name and path rules of the FTP view (kandian.ftp.paths, kandian.core.files), as properties.

Whatever path a device sends, it lands in its own area directory under the
root with the name it gave, or is refused with 550 (NotHere) or 553
(BadFileName) — nothing else, and never outside its tree.
"""

from __future__ import annotations

import os
from zoneinfo import ZoneInfo

from hypothesis import given, strategies as st
from twisted.protocols import ftp
from twisted.trial import unittest

from kandian.core import errors
from kandian.core.files import Layout, format_picture_name, log_name, picture_name
from kandian.ftp import paths

from .strategies import DEV_IDS, ftp_paths, path_segments, picture_names

TZ = ZoneInfo("Asia/Shanghai")
ROOT = "/srv/kandian/files"
DEV = "81100000001"


def resolve(path: str, cwd=()):
    """What the server does with a STOR argument: Twisted's segments, then the view."""
    try:
        segments = ftp.toSegments(list(cwd), path)
    except ftp.InvalidPath:
        raise paths.NotHere(path) from None
    return paths.upload(segments, DEV, TZ)


class PictureNameTests(unittest.SynchronousTestCase):
    @given(picture_names())
    def test_round_trip(self, picture):
        name, dev_id, channel, when = picture
        parsed = picture_name(name, TZ)
        self.assertEqual((parsed.dev_id, parsed.channel_no, parsed.taken_at), (dev_id, channel, when))

    @given(st.text(max_size=48))
    def test_anything_else_is_bad_file_name(self, name):
        try:
            parsed = picture_name(name, TZ)
        except errors.BadFileName:
            return
        self.assertEqual(format_picture_name(parsed.dev_id, parsed.channel_no, parsed.taken_at, TZ,
                                             name.rsplit(".", 1)[1]), name)

    def test_examples(self):
        self.assertEqual(picture_name("81100000001_2_20260101083000.JPEG", TZ).channel_no, 2)
        for bad in ("81100000001_0_20261301083000.jpg",   # month 13
                    "81100000001_0_2026010108300.jpg",    # 13 digits
                    "8110000001_0_20260101083000.jpg",    # 10-digit DevID
                    "81100000001_0_20260101083000.png", "81100000001_0_20260101083000.jpg/x",
                    "81100000001_0_20260101083000.jpg ", "../81100000001_0_20260101083000.jpg"):
            self.assertRaises(errors.BadFileName, picture_name, bad, TZ)

    @given(st.text(max_size=200))
    def test_log_names_are_one_plain_segment(self, name):
        try:
            self.assertEqual(log_name(name), name)
        except errors.BadFileName:
            return
        self.assertNotIn("/", name)
        self.assertFalse(name.startswith((".", "-")))
        self.assertNotIn("..", name)
        self.assertLessEqual(len(name), 128)
        self.assertTrue(name.isascii() and name.isprintable() and " " not in name)


class ViewTests(unittest.SynchronousTestCase):
    @given(ftp_paths, st.lists(st.sampled_from(["pictures", "logs", "firmware"]), max_size=1))
    def test_an_upload_lands_in_its_own_area_or_is_refused(self, path, cwd):
        try:
            target = resolve(path, cwd)
        except (paths.NotHere, errors.BadFileName):
            return
        layout = Layout(ROOT)
        where = layout.file(target.area, DEV, target.name)
        self.assertEqual(os.path.dirname(where), os.path.join(ROOT, target.area, DEV))
        self.assertEqual(os.path.normpath(where), where)
        self.assertEqual(os.path.basename(where), target.name)
        self.assertIn(target.area, ("pictures", "logs"))
        if target.area == "pictures":
            picture = picture_name(target.name, TZ)
            self.assertEqual((picture.dev_id, picture.channel_no), (DEV, target.channel_no))
        else:
            self.assertEqual(log_name(target.name), target.name)

    @given(picture_names(), st.sampled_from(["", "/", "pictures/", "/pictures/", "/logs/../pictures/"]))
    def test_a_picture_of_its_own_goes_to_pictures_from_the_root_or_pictures(self, picture, prefix):
        name, dev_id, channel, _ = picture
        if dev_id == DEV:
            self.assertEqual(resolve(prefix + name),
                             paths.Upload("pictures", name, channel, picture_name(name, TZ)))
        else:
            self.assertRaises(errors.BadFileName, resolve, prefix + name)

    @given(picture_names(dev_ids=st.just(DEV)))
    def test_other_places_are_550(self, picture):
        name = picture[0]
        for path in ("/firmware/" + name, "/pictures/%s/%s" % (DEV, name), "/pictures/81100000002/" + name,
                     "/../" + name, "/pictures/../../" + name, "/other/" + name, "/pictures", "/logs", "/firmware",
                     "/"):
            self.assertRaises(paths.NotHere, resolve, path)

    def test_logs_go_to_logs_from_the_root_or_logs(self):
        self.assertEqual(resolve("/logs/boot.log"), paths.Upload("logs", "boot.log", None))
        self.assertEqual(resolve("boot.log"), paths.Upload("logs", "boot.log", None))
        self.assertRaises(errors.BadFileName, resolve, "/logs/.profile")
        self.assertRaises(errors.BadFileName, resolve, "/pictures/boot.log")

    @given(st.lists(path_segments, max_size=4))
    def test_downloads_name_one_segment(self, segments):
        try:
            name = paths.download(segments)
        except paths.NotHere:
            return
        self.assertEqual(name, segments[-1])
        self.assertIn(segments[:-1], ([], ["firmware"]))

    @given(st.lists(path_segments, max_size=3))
    def test_directories(self, segments):
        try:
            where = paths.directory(segments)
        except paths.NotHere:
            self.assertNotIn(segments, ([], ["pictures"], ["logs"], ["firmware"]))
            return
        self.assertEqual(where, "/".join(segments))


class LayoutTests(unittest.SynchronousTestCase):
    @given(DEV_IDS, st.sampled_from(["pictures", "logs"]), path_segments)
    def test_no_name_leaves_its_directory(self, dev_id, area, name):
        layout = Layout(ROOT)
        try:
            where = layout.file(area, dev_id, name)
        except ValueError:
            return
        self.assertEqual(os.path.dirname(where), os.path.join(ROOT, area, dev_id))

    def test_only_devids_and_areas(self):
        layout = Layout(ROOT)
        for area, dev_id in (("tmp", DEV), ("firmware", DEV), ("pictures", "../x"), ("pictures", "")):
            self.assertRaises(ValueError, layout.area, area, dev_id)
        self.assertEqual(layout.firmware(7, "fw.bin"), ROOT + "/firmware/7/fw.bin")
        self.assertRaises(ValueError, layout.firmware, 7, "../fw.bin")
