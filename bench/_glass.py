"""Glass-to-glass latency readers for ``bench/media.py`` (imported as a sibling module).

The camera (``gst_camera.py --clock``) burns ``time.time()`` at each frame's making into the frame's top rows
(``kandian/sim/stamp.py``).  A reader decodes the video as a viewer does, reads the stamp back from every
frame it gets and notes the wall clock then: latency = read time − stamp, same machine, same clock.

* :class:`FfmpegReader`: ffmpeg as an HLS client of the platform's live playlist, decoding and piping only the
  band (``-vf crop``, ``gray`` rawvideo) to this process, which decodes each frame's stamp as it arrives.  Two
  ways: ``asap`` (each segment decoded as soon as ffmpeg's demuxer has it: the newest frames' age) and
  ``native`` (``-re``: paced at the video's own rate from where ffmpeg's HLS demuxer starts, 3 segments from
  the end — what a simple player such as ffplay shows).
* :func:`browser_round`: headless Chromium on the portal's camera page (the page's own hls.js settings), a
  ``requestVideoFrameCallback`` loop drawing the band onto a canvas and decoding it in JS
  (``stamp.DECODE_JS``); latency = the frame's expected display time (``performance.timeOrigin +
  expectedDisplayTime``) − stamp.
"""

from __future__ import annotations

import os
import shutil
import time

from kandian.sim import stamp

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

COLLECT_JS = stamp.watch_js("live-video")  # the portal's camera page's <video>


def ffmpeg_command(ffmpeg: str, url: str, token: str, native: bool) -> list[str]:
    return ([ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error"] + (["-re"] if native else [])
            + ["-headers", "Authorization: Bearer %s\r\n" % token, "-threads", "1", "-i", url,
               "-map", "0:v:0", "-vf", "crop=iw:%d:0:0" % stamp.BAND_ROWS, "-f", "rawvideo", "-pix_fmt", "gray",
               "-flush_packets", "1", "pipe:1"])


def make_reader(width: int):
    """A Twisted ``ProcessProtocol`` class collecting (read time, latency s) of each frame from ffmpeg's pipe."""
    from twisted.internet import defer, protocol

    size = width * stamp.BAND_ROWS

    class FfmpegReader(protocol.ProcessProtocol):
        def __init__(self):
            self.buffer = b""
            self.samples: list[tuple[float, float]] = []
            self.unread = 0
            self.started = time.time()
            self.first: float | None = None
            self.err = b""
            self.ended = defer.Deferred()

        def outReceived(self, data):
            self.buffer += data
            while len(self.buffer) >= size:
                band, self.buffer = self.buffer[:size], self.buffer[size:]
                now = time.time()
                code = stamp.decode(band, width)
                if code is None:
                    self.unread += 1
                    continue
                if self.first is None:
                    self.first = now - self.started
                self.samples.append((now, (now * 1000 - stamp.unwrap(code, now * 1000)) / 1000))

        def errReceived(self, data):
            self.err = (self.err + data)[-2000:]

        def processEnded(self, reason):
            self.ended.callback(None)

    return FfmpegReader


def browser_round(base: str, account: str, password: str, dev_id: str, warmup: float, seconds: float,
                  started) -> dict:
    """One page load of the portal's camera page for *dev_id* (in a thread: Playwright's sync API).

    *started()* is called just before the page asks for the stream (to start the other readers with it).
    Returns the first frame's time after that and the latencies of the frames shown over *seconds* after
    *warmup*."""
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        raise RuntimeError("chromium is not installed: make system-deps")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(30_000)
            page.goto(base + "/")
            page.wait_for_selector("#login")
            page.fill("input[name=account]", account)
            page.fill("input[name=password]", password)
            page.click("#login button[type=submit]")
            page.wait_for_selector("#devices")
            started()
            t0 = time.time()
            page.evaluate("h => { location.hash = h; }", "#/device/" + dev_id)
            page.evaluate(COLLECT_JS)  # (evaluate: the portal's CSP bars inline scripts)
            page.wait_for_function("() => window.__stamps.length > 0", timeout=30_000, polling=20)
            first_display_ms, _, _ = page.evaluate("() => window.__stamps[0]")
            page.wait_for_timeout(warmup * 1000)
            page.evaluate("() => { window.__stamps = []; window.__unread = 0; window.__stalls = 0; }")
            page.wait_for_timeout(seconds * 1000)
            stamps = page.evaluate("() => window.__stamps")
            unread, stalls = page.evaluate("() => [window.__unread, window.__stalls]")
            dropped = page.evaluate("() => document.getElementById('live-video').getVideoPlaybackQuality()"
                                    ".droppedVideoFrames")
        finally:
            browser.close()
    latencies = [(display - stamp.unwrap(code, display)) / 1000 for display, code, _ in stamps]
    skew = sorted(display - now for display, _, now in stamps)
    return {"display_minus_now_ms": round(skew[len(skew) // 2]) if skew else None,
            "first_frame_s": first_display_ms / 1000 - t0, "latencies": latencies, "unread": unread, "stalls": stalls,
            "dropped_frames": dropped}
