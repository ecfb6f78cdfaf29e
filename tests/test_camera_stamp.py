"""The wall-clock stamp of the test camera's ``--clock`` frames (``kandian/sim/stamp.py``), the measure behind
glass-to-glass latency (``bench/media.py``): the codec's properties, its browser twin read in Chromium, and the
real camera's frames read back through ffmpeg."""

from __future__ import annotations

import os
import random
import shutil
import time

from hypothesis import given, strategies as st
from twisted.internet import defer, threads
from twisted.trial import unittest

from kandian.sim import stamp
from tests.camera import require, run_player, start_camera

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

codes = st.integers(0, stamp.MODULUS - 1)
widths = st.integers(4 * stamp.BITS, 1920)


def noisy(band: bytes, seed: int, amount: int) -> bytes:
    """*band* with every pixel moved by up to ±*amount*, as a lossy encoder's noise."""
    rng = random.Random(seed)
    return bytes(min(255, max(0, b + rng.randint(-amount, amount))) for b in band)


class StampCodecTests(unittest.TestCase):
    @given(codes, widths, st.integers(0, 255))
    def test_a_band_reads_back_as_its_code(self, code, width, background):
        band = stamp.encode(code, width, background)
        self.assertEqual(len(band), width * stamp.BAND_ROWS)
        self.assertEqual(stamp.decode(band, width), code)

    @given(codes, st.sampled_from([320, 640, 1280]), st.integers(0, 2**16))
    def test_noise_below_the_threshold_does_not_change_the_code(self, code, width, seed):
        self.assertEqual(stamp.decode(noisy(stamp.encode(code, width), seed, 60), width), code)

    @given(codes, st.integers(4 * stamp.BITS, 800), st.integers(0, 64), st.integers(0, 3))
    def test_a_band_inside_wider_rows_of_rgba_reads_back(self, code, width, padding, channel):
        band = stamp.encode(code, width)
        stride = (width + padding) * 4
        rgba = bytearray(stride * stamp.BAND_ROWS)
        for y in range(stamp.BAND_ROWS):
            for x in range(width):
                rgba[y * stride + 4 * x:y * stride + 4 * x + 3] = bytes([band[y * width + x]]) * 3
        self.assertEqual(stamp.decode(bytes(rgba), width, stride, 4), code)

    @given(st.integers(0, 255), widths)
    def test_a_flat_band_is_no_code(self, value, width):
        self.assertIsNone(stamp.decode(bytes([value]) * (width * stamp.BAND_ROWS), width))

    @given(codes, st.integers(0, stamp.BITS - 1))
    def test_a_bit_that_disagrees_with_its_check_is_no_code(self, code, bit):
        width = 640
        band = bytearray(stamp.encode(code, width))
        left, block = stamp.geometry(width)
        x = left + bit * block
        for y in range(stamp.HALF, stamp.BAND_ROWS):  # the check row's block made equal to the bit's
            band[y * width + x:y * width + x + block] = band[x:x + block]
        self.assertIsNone(stamp.decode(bytes(band), width))

    @given(st.floats(1e9, 4e9), st.floats(0, 40 * 86400))
    def test_unwrap_gives_back_the_time_read_within_40_days(self, made, age):
        made_ms = int(made * 1000)
        now_ms = made_ms + age * 1000
        self.assertEqual(stamp.unwrap(stamp.stamp_ms(made), now_ms), made_ms)

    def test_too_narrow_or_short_input_is_an_error(self):
        self.assertRaises(ValueError, stamp.geometry, 4 * stamp.BITS - 1)
        self.assertRaises(ValueError, stamp.encode, stamp.MODULUS, 640)
        self.assertRaises(ValueError, stamp.decode, bytes(640 * (stamp.BAND_ROWS - 1)), 640)


class StampInTheBrowserTests(unittest.TestCase):
    """``DECODE_JS`` in Chromium reads what ``encode`` wrote, through a canvas as the bench's page does."""

    timeout = 60

    def setUp(self):
        if not os.path.exists(CHROMIUM):
            raise AssertionError("chromium is not installed: run `make system-deps`")

    @defer.inlineCallbacks
    def test_the_browser_reader_agrees_with_the_python_one(self):
        cases = [(code, width) for code, width in
                 [(0, 640), (stamp.MODULUS - 1, 640), (0x5A5AA5A5, 320), (int(time.time() * 1000) % stamp.MODULUS, 700),
                  (123456789, 128)]]
        draw = """([bands, width]) => {
          const c = document.createElement("canvas"); c.width = width; c.height = %d;
          const g = c.getContext("2d");
          return bands.map((band) => {
            const img = g.createImageData(width, %d);
            for (let i = 0; i < band.length; i++) {
              img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = band[i]; img.data[4 * i + 3] = 255;
            }
            g.putImageData(img, 0, 0);
            return decodeStamp(g.getImageData(0, 0, width, %d));
          });
        }""" % ((stamp.BAND_ROWS,) * 3)

        def run():
            from playwright.sync_api import sync_playwright

            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
                try:
                    page = browser.new_page()
                    page.add_script_tag(content=stamp.DECODE_JS)
                    read = []
                    for code, width in cases:
                        band = list(stamp.encode(code, width))
                        read += page.evaluate(draw, [[band, [16] * len(band)], width])
                    return read
                finally:
                    browser.close()

        read = yield threads.deferToThread(run)
        expected = []
        for code, _ in cases:
            expected += [code, None]
        self.assertEqual(read, expected)


class ClockCameraTests(unittest.TestCase):
    """The real camera with ``--clock``: ffmpeg decodes its H.264 and every frame's band reads as a time."""

    timeout = 90

    @defer.inlineCallbacks
    def band_of_frames(self, camera, width, frames):
        args = [require("ffmpeg"), "-nostdin", "-hide_banner", "-v", "error", "-rtsp_transport", "tcp",
                "-timeout", "10000000", "-i", camera.url, "-frames:v", str(frames),
                "-vf", "crop=%d:%d:0:0" % (width, stamp.BAND_ROWS), "-f", "rawvideo", "-pix_fmt", "gray", "pipe:1"]
        code, out, err = yield run_player(args, 60)
        self.assertEqual(code, 0, err)
        size = width * stamp.BAND_ROWS
        self.assertEqual(len(out), size * frames)
        return [stamp.decode(out[i:i + size], width) for i in range(0, len(out), size)]

    @defer.inlineCallbacks
    def check_stamps(self, width, height, fps, bitrate):
        before_ms = time.time() * 1000
        camera = yield start_camera(self, width=width, height=height, fps=fps, bitrate=bitrate, clock=True)
        codes = yield self.band_of_frames(camera, width, 2 * fps)
        after_ms = time.time() * 1000
        self.assertNotIn(None, codes)
        made = [stamp.unwrap(code, after_ms) for code in codes]
        # made while the camera ran, one after the other
        self.assertTrue(before_ms - 1 <= made[0] and made[-1] <= after_ms, (before_ms, made, after_ms))
        self.assertEqual(made, sorted(set(made)), made)

    def test_every_frame_at_640_and_2_mbit_carries_its_making_time(self):
        return self.check_stamps(640, 360, 25, 2000)

    def test_every_frame_at_320_and_400_kbit_carries_its_making_time(self):
        return self.check_stamps(320, 240, 15, 400)

    @defer.inlineCallbacks
    def test_without_clock_there_is_no_stamp(self):
        camera = yield start_camera(self, width=320, height=240, fps=15)
        codes = yield self.band_of_frames(camera, 320, 5)
        self.assertEqual(codes, [None] * 5)
