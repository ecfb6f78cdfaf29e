"""The portal's camera page plays live HLS in headless Chromium (hls.js vendored in the package), from a
GStreamer test camera behind a simulated device: the video's clock advances, a decoded frame is not
black, and a camera going offline is said on the page.  Each journey leaves a screenshot (journey.png)."""

import time

from twisted.internet import defer

from kandian.sim import stamp

from .test_media_live import CAM, LiveTestCase
from .test_portal_browser import BrowserTestCase

A = "13800000001"

FRAME = """() => {
  const v = document.getElementById("live-video");
  const c = document.createElement("canvas");
  c.width = v.videoWidth; c.height = v.videoHeight;
  const g = c.getContext("2d");
  g.drawImage(v, 0, 0);
  const px = g.getImageData(0, 0, c.width, c.height).data;
  let bright = 0, max = 0;
  for (let i = 0; i < px.length; i += 4) {
    const y = (px[i] + px[i + 1] + px[i + 2]) / 3;
    if (y > 128) bright++;
    if (y > max) max = y;
  }
  return { width: c.width, height: c.height, bright, max };
}"""


class CameraPageTests(LiveTestCase, BrowserTestCase):
    timeout = 180

    @defer.inlineCallbacks
    def test_the_camera_page_plays_live_video(self):
        def steps(page):
            self.log_in(page, A)
            page.wait_for_selector("#cameras a[data-devid='%s']" % CAM)
            page.click("#cameras a[data-devid='%s']" % CAM)
            page.wait_for_selector("#live-state[data-state='live']", timeout=40_000)
            first = page.evaluate("document.getElementById('live-video').currentTime")
            page.wait_for_function("t => document.getElementById('live-video').currentTime > t + 1.0", arg=first,
                                   timeout=20_000)
            frame = page.evaluate(FRAME)
            assert (frame["width"], frame["height"]) == (320, 240), frame
            assert frame["bright"] > 50 and frame["max"] > 200, frame  # the test pattern's white ball
            assert "直播中" in page.inner_text("#live-state")
        yield self.journey(steps)
        self.assertShot()
        self.assertEqual(self.live.stats.started, 1)

    @defer.inlineCallbacks
    def test_the_page_says_when_the_camera_goes_offline(self):
        def steps(page):
            self.log_in(page, A)
            page.wait_for_selector("#cameras a[data-devid='%s']" % CAM)
            page.click("#cameras a[data-devid='%s']" % CAM)
            page.wait_for_selector("#live-state[data-state='live']", timeout=40_000)
            self.on_reactor(self.link.close)
            page.wait_for_selector("#live-state[data-state='offline']", timeout=30_000)
            assert "离线" in page.inner_text("#live-state")
        yield self.journey(steps)
        self.assertShot()


class StampedCameraPageTests(LiveTestCase, BrowserTestCase):
    """What bench/media.py's glass-to-glass reader relies on, on the real page: a camera burning its clock into
    its frames, every frame the page presents read back (requestVideoFrameCallback, canvas, the JS decoder)."""

    timeout = 180
    camera_clock = True

    @defer.inlineCallbacks
    def test_the_page_presents_frames_stamped_with_their_making_time(self):
        before_ms = time.time() * 1000

        def steps(page):
            self.log_in(page, A)
            page.wait_for_selector("#cameras a[data-devid='%s']" % CAM)
            page.click("#cameras a[data-devid='%s']" % CAM)
            page.evaluate(stamp.watch_js("live-video"))
            page.wait_for_function("() => window.__stamps.length >= 15", timeout=40_000, polling=50)
            return page.evaluate("() => [window.__stamps, window.__unread]")
        seen = []
        yield self.journey(lambda page: seen.append(steps(page)))
        after_ms = time.time() * 1000
        [(stamps, unread)] = seen
        self.assertEqual(unread, 0)
        made = [stamp.unwrap(code, display) for display, code, _ in stamps]
        # made while the test ran (a misread band gives a time anywhere in 49 days), one after another
        self.assertTrue(before_ms - 1 <= made[0] and made[-1] <= after_ms, (before_ms, made, after_ms))
        self.assertEqual(made, sorted(set(made)), made)
        self.assertShot()
