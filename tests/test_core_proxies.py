"""core.proxies (issue 16): stream proxy channels — the URL policy (no SSRF), online while the source
answers, the router that knows them, and the relay's grant for them (FakeStore + task.Clock)."""

from twisted.internet import defer, task
from twisted.trial import unittest

from kandian.core import errors as e
from kandian.core.access import Principal
from kandian.core.media import Media
from kandian.core.play import Play
from kandian.core.proxies import Proxies, WithProxies, parse_source
from kandian.dialpolicy import networks
from kandian.playurl import PlayUrl
from kandian.store.fake import FakeStore

from .test_play import Router

ADMIN = Principal("operator", 1, "ops", "admin")
VIEWER = Principal("operator", 2, "eye", "viewer")
USER = Principal("user", 3, "13800000001", "user")


class SourceUrlTests(unittest.TestCase):
    def test_an_rtsp_url_to_an_ip_literal(self):
        self.assertEqual(parse_source("rtsp://127.0.0.1/stream"), ("127.0.0.1", 554))
        self.assertEqual(parse_source("rtsp://[::1]:8554/a?b=c"), ("::1", 8554))

    def test_what_is_refused(self):
        for url in ["http://127.0.0.1/x", "rtsp://camera.local/x", "rtsp://localhost:554/x",
                    "rtsp://admin:pw@127.0.0.1/x", "rtsp://127.0.0.1:99999/x", "rtsp://127.0.0.1/a b",
                    "rtsp://127.0.0.1/\x00", "rtsp://127.0.0.1/" + "a" * 1000, "", None, "rtsp:///x",
                    "rtsp://127.0.0.1/摄像机"]:
            self.assertRaises(e.BadValue, parse_source, url)


class ProxiesTests(unittest.TestCase):
    def setUp(self):
        self.clock = task.Clock()
        self.clock.advance(1_800_000_000)
        self.store = FakeStore()
        self.answering = {"127.0.0.1"}
        self.asked = []
        self.proxies = Proxies(self.store, self.clock, check=self.check, interval=30)

    def check(self, host, port, url):
        self.asked.append((host, port, url))
        return defer.succeed(host in self.answering)

    def test_loopback_only_unless_allowed(self):
        self.failureResultOf(self.proxies.add("rtsp://10.1.2.3/x", "n"), e.BadValue)
        self.failureResultOf(self.proxies.add("rtsp://169.254.169.254/latest", "n"), e.BadValue)
        self.successResultOf(self.proxies.add("rtsp://127.0.0.5/x", "n"))
        lab = Proxies(self.store, self.clock, allow=networks("10.1.0.0/16"))
        self.successResultOf(lab.add("rtsp://10.1.2.3/x", "n"))
        self.failureResultOf(lab.add("rtsp://127.0.0.1/x", "n"), e.BadValue)
        self.assertIsNone(lab.source("rtsp://127.0.0.1/x"))
        self.assertEqual(lab.source("rtsp://10.1.2.3/x"), ("10.1.2.3", 554))

    def test_names_and_who_may_add(self):
        for name in ["", " ", "x" * 65, "a\nb", None]:
            self.failureResultOf(self.proxies.add("rtsp://127.0.0.1/x", name), e.BadValue)
        self.failureResultOf(self.proxies.add("rtsp://127.0.0.1/x", "n", VIEWER), e.Forbidden)
        self.failureResultOf(self.proxies.add("rtsp://127.0.0.1/x", "n", USER), e.Forbidden)
        self.failureResultOf(self.proxies.list(USER), e.Forbidden)
        dev_id = self.successResultOf(self.proxies.add(" rtsp://127.0.0.1/x ", " 门口 ", ADMIN))
        [p] = self.successResultOf(self.proxies.list(VIEWER))
        self.assertEqual((p.dev_id, p.name, p.url), (dev_id, "门口", "rtsp://127.0.0.1/x"))

    def test_online_while_the_source_answers(self):
        self.successResultOf(self.proxies.start())
        dev_id = self.successResultOf(self.proxies.add("rtsp://127.0.0.1/x", "n"))
        router = WithProxies(Router(), self.proxies)
        self.assertTrue(router.online(dev_id))
        self.assertTrue(self.store.tables["device"][dev_id]["online"])
        self.answering.clear()
        self.clock.advance(29)
        self.assertTrue(router.online(dev_id))
        self.clock.advance(1)
        self.assertFalse(router.online(dev_id))
        self.assertFalse(self.store.tables["device"][dev_id]["online"])
        self.failureResultOf(router.call(dev_id, object()), e.DeviceRefused)
        self.proxies.stop()
        self.assertFalse(self.clock.getDelayedCalls())

    def test_a_source_the_policy_now_forbids_is_not_even_probed(self):
        dev_id = self.successResultOf(Proxies(self.store, self.clock, allow=networks("10.0.0.0/8")).add(
            "rtsp://10.0.0.7/x", "n"))
        self.successResultOf(self.proxies.start())  # loopback only now
        self.assertEqual(self.asked, [])
        self.assertFalse(self.proxies.online(dev_id))
        self.proxies.stop()

    def test_the_relay_dials_the_source_itself(self):
        self.successResultOf(self.proxies.start())
        dev_id = self.successResultOf(self.proxies.add("rtsp://127.0.0.1:9554/stream", "n"))
        router = WithProxies(Router(), self.proxies)
        play = Play(self.store, router, self.clock, proxy_source=self.proxies.source)
        media = Media(self.store, router, self.clock, keys=None, access=None, relay_address=lambda: ("127.0.0.1", 1))
        url = self.successResultOf(media.source_url(dev_id, 0, 1))
        from kandian.playurl import parse_play_url
        grant = self.successResultOf(play.authorize_relay(parse_play_url(url), "127.0.0.1"))
        self.assertEqual(grant.upstreams, [("127.0.0.1", 9554, "rtsp://127.0.0.1:9554/stream")])
        self.failureResultOf(media.source_url(dev_id, 0, 2), e.NoSuchChannel)
        token = self.successResultOf(self.store.tokens.issue(dev_id, 0, stream_type=2, purpose="relay", now=self.clock.seconds()))
        self.failureResultOf(play.authorize_relay(PlayUrl(dev_id, 0, 2, None, token), "127.0.0.1"), e.NoSuchChannel)
        # the policy is asked again at each dial
        strict = Play(self.store, router, self.clock, proxy_source=lambda url: None)
        url = self.successResultOf(media.source_url(dev_id, 0, 1))
        self.failureResultOf(strict.authorize_relay(parse_play_url(url), "127.0.0.1"), e.NoRoute)
        self.proxies.stop()
