"""spec/002's player page in headless Chromium: ``play_camera``'s URL, framed by an integrator's page of
another origin, plays the camera's live HLS (a GStreamer test camera behind a simulated device): the
video's clock advances, a decoded frame is not black, the page heartbeats every 12 s and says when the
camera goes offline.  The journey leaves a screenshot (journey.png)."""

import json
import os

from twisted.internet import defer, reactor, threads
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.web import resource, server, static
from twisted.web.client import Agent, readBody

from .test_cloudmonitor_records import a_run
from .test_media_browser import FRAME
from .test_media_live import CAM, LiveTestCase
from .test_portal_browser import CHROMIUM, BrowserTestCase

ON = "listen = tcp:0:interface=127.0.0.1\n"


class PlayerPageTests(LiveTestCase, BrowserTestCase):
    timeout = 180
    settings = {**LiveTestCase.settings, "cloudmonitor": ON,
                "media": LiveTestCase.settings["media"] + "file_server = tcp:0:interface=127.0.0.1\n"}

    @defer.inlineCallbacks
    def api(self, path: str) -> dict:
        response = yield Agent(reactor).request(b"GET", b"http://127.0.0.1:%d%s" % (self.port("cloudmonitor"),
                                                                                    path.encode()))
        return json.loads((yield readBody(response)))

    @defer.inlineCallbacks
    def play_url(self) -> str:
        unionid, _ = yield self.core.apikeys.add("school")
        token = (yield self.api("/api/v1/access_token?unionid=" + unionid))["token"]
        answer = yield self.api("/api/v1/play_camera/token/%s/camera_id/%s000/width/640/height/360"
                                % (token, CAM))
        self.assertEqual(answer["err_code"], 0, answer)
        return answer["play_url"]

    @defer.inlineCallbacks
    def integrator(self, play_url: str) -> str:
        """The URL of an integrator's page (another origin: its own port) framing *play_url*."""
        page = static.Data(('<!doctype html><meta charset="utf-8"><h1>school</h1>'
                            '<iframe id="player" src="%s" width="660" height="380"></iframe>' % play_url).encode(),
                           "text/html; charset=utf-8")
        root = resource.Resource()
        root.putChild(b"", page)
        port = yield TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(server.Site(root))
        self.addCleanup(port.stopListening)
        return "http://127.0.0.1:%d/" % port.getHost().port

    @defer.inlineCallbacks
    def framed(self, play_url: str, steps):
        """Run *steps(page, frame)* with the player framed by a page of another origin."""
        shots = self.shots
        outer = yield self.integrator(play_url)

        def run():
            from playwright.sync_api import sync_playwright

            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox",
                                                                           "--autoplay-policy=no-user-gesture-required"])
                try:
                    page = browser.new_page(viewport={"width": 800, "height": 500})
                    page.set_default_timeout(15_000)
                    errors, heartbeats = [], []
                    page.on("pageerror", lambda e: errors.append(str(e)))
                    page.on("request", lambda r: heartbeats.append(r.url) if "/heartbeat?" in r.url else None)
                    try:
                        page.goto(outer)
                        frame = page.frame_locator("#player")
                        frame.locator("video").wait_for()
                        steps(page, page.frames[1], heartbeats)
                    finally:
                        page.screenshot(path=os.path.join(shots, "journey.png"), full_page=True)
                    assert not errors, errors
                finally:
                    browser.close()
        yield threads.deferToThread(run)

    @defer.inlineCallbacks
    def test_the_player_page_plays_framed_and_heartbeats(self):
        play_url = yield self.play_url()

        def steps(page, frame, heartbeats):
            frame.wait_for_selector("#state[data-state='live']", state="attached", timeout=40_000)
            first = frame.evaluate("document.getElementById('video').currentTime")
            frame.wait_for_function("t => document.getElementById('video').currentTime > t + 1.0", arg=first,
                                    timeout=20_000)
            picture = frame.evaluate(FRAME.replace("live-video", "video"))
            assert (picture["width"], picture["height"]) == (320, 240), picture
            assert picture["bright"] > 50 and picture["max"] > 200, picture
            size = frame.evaluate("[document.getElementById('video').width, document.getElementById('video').height]")
            assert size == [640, 360], size
            page.wait_for_timeout(13_000)  # the file's 12 s heartbeat
            assert heartbeats, "no heartbeat"
            assert frame.evaluate("document.getElementById('video').currentTime") > first + 5
        yield self.framed(play_url, steps)
        self.assertShot()
        self.assertEqual(self.live.stats.started, 1)

    @defer.inlineCallbacks
    def test_the_page_says_when_the_camera_goes_offline(self):
        play_url = yield self.play_url()

        def steps(page, frame, heartbeats):
            frame.wait_for_selector("#state[data-state='live']", state="attached", timeout=40_000)
            self.on_reactor(self.link.close)
            frame.wait_for_selector("#state[data-state='offline']", timeout=30_000)
            assert "离线" in frame.inner_text("#state")
        yield self.framed(play_url, steps)
        self.assertShot()


class RecordPageTests(BrowserTestCase):
    """play_record's page plays a platform recording (VOD) framed by another origin's page."""

    timeout = 180
    framed = PlayerPageTests.framed
    integrator = PlayerPageTests.integrator
    api = PlayerPageTests.api

    @defer.inlineCallbacks
    def setUp(self):
        self.root = os.path.abspath(self.mktemp())
        self.settings = {"cloudmonitor": ON, "files": "root = %s\n" % self.root,
                         "media": "file_server = tcp:0:interface=127.0.0.1\n"}
        yield super().setUp()

    @defer.inlineCallbacks
    def test_the_record_page_plays_and_seeks(self):
        yield self.service.platform.store.devices.add(CAM, "key", channels=1)
        ids = yield a_run(self, CAM, 0, pieces=3)
        unionid, _ = yield self.core.apikeys.add("school")
        token = (yield self.api("/api/v1/access_token?unionid=" + unionid))["token"]
        answer = yield self.api("/api/v1/play_record?token=%s&record_id=%d&width=640&height=360" % (token, ids[0]))
        self.assertEqual(answer["err_code"], 0, answer)

        def steps(page, frame, heartbeats):
            frame.wait_for_selector("#state[data-state='live']", state="attached", timeout=40_000)
            frame.wait_for_function("() => document.getElementById('video').currentTime > 1.0", timeout=20_000)
            picture = frame.evaluate(FRAME.replace("live-video", "video"))
            assert (picture["width"], picture["height"]) == (320, 240), picture
            assert picture["max"] > 200, picture
            duration = frame.evaluate("document.getElementById('video').duration")
            assert 9 <= duration <= 11, duration  # the run's three pieces: 4 + 4 + 2 s
            frame.evaluate("document.getElementById('video').currentTime = 7.5")
            frame.wait_for_function("() => document.getElementById('video').currentTime > 8.0", timeout=20_000)
            assert not heartbeats  # a recording needs none
        yield self.framed(answer["play_url"], steps)
        self.assertShot()
