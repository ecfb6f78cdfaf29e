"""Stream proxy channels end to end: ``kandianctl channel add-proxy`` (a child process) prints the DevID,
the running platform finds the source answering and shows the proxy online, and its channel 0 stream 1
plays through the relay (ffprobe) and live HLS (ffmpeg as an HLS client) from a GStreamer RTSP server."""

import json

from twisted.internet import defer

from . import camera, procs
from .portal_helpers import PortalTestCase
from .test_device_integration import eventually
from .test_twistd import write_config


class ProxyTests(PortalTestCase):
    timeout = 120

    @defer.inlineCallbacks
    def setUp(self):
        yield super().setUp()
        self.media = yield camera.start_camera(self, width=320, height=240, fps=15, bitrate=400)
        self.proxies = self.service.platform.proxies
        self.addCleanup(lambda: self.service.platform.live.stop())

    def tick(self):
        """The next check of every proxy's source (every [media] proxy_check_interval on the domain clock)."""
        self.clock.advance(self.service.config.media.proxy_check_interval)

    @defer.inlineCallbacks
    def test_added_by_kandianctl_online_and_playing(self):
        config = write_config(self.mktemp(), self.mktemp(), dsn=self.dsn)
        code, out = yield procs.run([procs.command("kandianctl"), "--config", config, "channel", "add-proxy",
                                     "--url", self.media.url, "--name", "门口"])
        self.assertEqual(code, 0, out)
        self.assertRegex(out, r"^990[0-9]{8}\n$")
        dev_id = out.strip()
        self.tick()
        yield eventually(lambda: self.proxies.online(dev_id), "online", tries=2000)
        yield eventually(lambda: self.online(dev_id), "online in the database")

        # through the relay, as a camera's stream is
        url = yield self.core.media.source_url(dev_id, 0, 1)
        probe = yield camera.ffprobe(url)
        self.assertEqual(probe.code, 0, probe.stderr)
        [video] = [s for s in probe.info["streams"] if s["codec_type"] == "video"]
        self.assertEqual((video["codec_name"], video["width"], video["height"]), ("h264", 320, 240))

        # live HLS, for an operator
        token = yield self.operator("ops", "viewer")
        listed = yield self.get("/api/v1/proxies", token=token)
        self.assertEqual([(p["dev_id"], p["name"], p["online"]) for p in listed.json["items"]], [(dev_id, "门口", True)])
        args = [camera.require("ffmpeg"), "-nostdin", "-v", "error", "-headers", "Authorization: Bearer %s\r\n" % token,
                "-i", self.url("/live/%s/0/1/index.m3u8" % dev_id).decode(), "-frames:v", "10", "-f", "null", "-"]
        code, _, err = yield camera.run_player(args, 60)
        self.assertEqual(code, 0, err)
        answer = yield self.get("/live/%s/0/2/index.m3u8" % dev_id, token=token)
        self.assertEqual(answer.code, 404)

        # the source stops answering: offline at the next check
        yield self.service.platform.live.stop()
        yield self.media.stop()
        self.tick()
        yield eventually(lambda: not self.proxies.online(dev_id), "offline", tries=2000)
        yield eventually(lambda: defer.maybeDeferred(self.online, dev_id).addCallback(lambda v: not v), "offline row")

    @defer.inlineCallbacks
    def test_the_rest_api_adds_only_allowed_sources(self):
        admin = yield self.operator("admin")
        for url in ["rtsp://10.0.0.1/x", "rtsp://169.254.169.254/", "rtsp://camera.example/x",
                    "rtsp://u:p@127.0.0.1/x", "http://127.0.0.1/x"]:
            answer = yield self.post("/api/v1/proxies", {"url": url, "name": "n"}, token=admin)
            self.assertEqual((answer.code, answer.json["error"]), (422, "invalid"), url)
        viewer = yield self.operator("eye", "viewer")
        answer = yield self.post("/api/v1/proxies", {"url": self.media.url, "name": "n"}, token=viewer)
        self.assertEqual(answer.code, 403)
        answer = yield self.post("/api/v1/proxies", {"url": self.media.url, "name": "收银台"}, token=admin)
        self.assertEqual(answer.code, 201, answer)
        dev_id = answer.json["dev_id"]
        self.assertTrue(self.proxies.online(dev_id))  # checked at once
        device = yield self.get("/api/v1/devices/%s" % dev_id, token=admin)
        self.assertEqual((device.json["dev_id"], device.json["online"]), (dev_id, True))
        live = yield self.get("/api/v1/devices/%s/live?ttl=60" % dev_id, token=admin)
        self.assertEqual(live.code, 200)
        self.assertIn("/live/%s/0/1/index.m3u8?exp=" % dev_id, live.json["url"])
        self.assertEqual(json.loads(json.dumps(live.json))["url"].count("sig="), 1)
