"""Platform recording in a real browser: headless Chromium (Debian's) plays the HLS VOD of recorded pieces with
hls.js, seeks across pieces, and the user manages recording windows and deletes a piece (harness of
tests/test_portal_browser.py; a screenshot of each journey's last page under ``_trial_temp``)."""

from twisted.internet import defer

from .test_portal_browser import PHONE, BrowserTestCase
from .test_portal_recordings import RecordingApiTestCase

A = "13800000001"
CAM = "81100000001"

# mean and spread of the pixels of the frame on screen (a black or empty frame: both near 0)
FRAME = """() => {
  const v = document.getElementById('vod');
  const c = document.createElement('canvas');
  c.width = 64; c.height = 48;
  const g = c.getContext('2d');
  g.drawImage(v, 0, 0, 64, 48);
  const d = g.getImageData(0, 0, 64, 48).data;
  let sum = 0, sq = 0, n = 0;
  for (let i = 0; i < d.length; i += 4) { const y = (d[i] + d[i + 1] + d[i + 2]) / 3; sum += y; sq += y * y; n++; }
  const mean = sum / n;
  return [mean, Math.sqrt(sq / n - mean * mean)];
}"""


class RecordingJourneys(BrowserTestCase, RecordingApiTestCase):
    timeout = 240

    @defer.inlineCallbacks
    def test_user_plans_recording_plays_seeks_and_deletes(self):
        yield self.core.accounts.add(A, "s3cret-pass")
        yield self.camera(CAM, owner=A, online=False)
        first, second, third = yield self.a_run(pieces=3)
        seen = {}

        def steps(page):
            page.on("dialog", lambda dialog: dialog.accept())
            self.log_in(page, A)
            page.wait_for_selector("#cameras a[data-devid='%s']" % CAM)
            page.click("#cameras a[data-devid='%s']" % CAM)
            page.wait_for_selector("#schedule-form")
            page.select_option("#schedule-form select[name=weekday]", "3")
            page.fill("#schedule-form input[name=start]", "10:30:00")
            page.fill("#schedule-form input[name=minutes]", "90")
            page.click("#schedule-form button[type=submit]")
            page.wait_for_selector("#schedules td:has-text('周三')")
            assert "10:30:00–12:00:00" in page.inner_text("#schedules")
            page.click("#schedule-form button[type=submit]")  # the same window again overlaps
            # (the toast of the window just added may still show: wait for the refusal's own)
            page.wait_for_selector("#toast.show:has-text('重叠')")
            held = self.on_reactor(lambda: self.core.schedules.all())
            assert [(s.weekday, s.start, s.duration) for s in held] == [(3, 37800, 5400)], held
            # the recordings: three pieces, each with its snapshot
            page.click("nav a[href='#/recordings']")
            page.wait_for_selector("#recordings tr[data-recording='%d']" % third)
            assert page.locator("#recordings tbody tr[data-recording]").count() == 3
            page.wait_for_function("() => [...document.querySelectorAll('#recordings img.thumb')]"
                                   ".every(i => i.complete && i.naturalWidth > 0)")
            assert page.evaluate("MediaSource.isTypeSupported('video/mp4; codecs=\"avc1.42E01E\"')"), \
                "this Chromium cannot play H.264"
            # play the second piece: the run plays from it, frames decode and are not black
            page.click("#recordings tr[data-recording='%d'] a.play" % second)
            page.wait_for_selector("#vod")
            page.wait_for_function("() => { const v = document.getElementById('vod'); "
                                   "return v.currentTime > 5 && v.readyState >= 2; }", timeout=30_000)
            seen["start"] = page.evaluate("document.getElementById('vod').currentTime")
            mean, spread = page.evaluate(FRAME)
            seen["frame"] = (mean, spread)
            assert mean > 20 and spread > 10, (mean, spread)
            # seek back into the first piece, then forward into the third
            page.evaluate("document.getElementById('vod').currentTime = 1")
            page.wait_for_function("() => { const v = document.getElementById('vod'); "
                                   "return !v.seeking && v.currentTime >= 1 && v.currentTime < 4 && v.readyState >= 2; }")
            page.evaluate("document.getElementById('vod').currentTime = 8.5")
            page.wait_for_function("() => { const v = document.getElementById('vod'); "
                                   "return !v.seeking && v.currentTime >= 8.5 && v.readyState >= 2; }")
            mean, spread = page.evaluate(FRAME)
            assert mean > 20 and spread > 10, (mean, spread)
            page.screenshot(path=self.shots + "/playing.png")
            # delete the first piece
            page.click("nav a[href='#/recordings']")
            page.wait_for_selector("#recordings tr[data-recording='%d']" % first)
            page.click("#recordings tr[data-recording='%d'] button:has-text('删除')" % first)
            page.wait_for_selector("#recordings tr[data-recording='%d']" % first, state="detached")
            assert page.locator("#recordings tbody tr[data-recording]").count() == 2
        yield self.journey(steps, viewport=PHONE)
        self.assertTrue(3.5 < seen["start"], seen)
        rows = yield self.db.runQuery("SELECT recording_id FROM recording ORDER BY 1")
        self.assertEqual([r[0] for r in rows], [second, third])
        self.assertShot()
