"""core.media (issue 16): the media layer's stream sources through the relay, and signed live HLS URLs
(FakeStore + task.Clock)."""

from urllib.parse import parse_qs, urlparse

from twisted.internet import task
from twisted.trial import unittest

from kandian.core import errors as e
from kandian.core.access import Access, Principal
from kandian.core.keys import Keys
from kandian.core.media import Media, live_path
from kandian.core.play import Play
from kandian.playurl import PlayUrl, parse_play_url
from kandian.store.fake import FakeStore

from .test_play import Router
from .test_store_contract_play import put_device

CAM = "81100000001"
OPS = Principal("operator", 1, "ops", "admin")
STRANGER = Principal("user", 99, "13800000099", "user")


class MediaTests(unittest.TestCase):
    def setUp(self):
        self.clock = task.Clock()
        self.clock.advance(1_800_000_000)
        self.store = FakeStore()
        self.router = Router()
        self.router.peers[CAM] = "127.0.0.1"
        put_device(self.store, CAM, channels=2, closed=[(1, 2)], local_ip="127.0.0.1", rtsp_local_port=8000)
        self.keys = Keys(self.store.secrets)
        self.successResultOf(self.keys.load())
        self.relay = ("127.0.0.1", 18554)
        self.media = Media(self.store, self.router, self.clock, keys=self.keys, access=Access(self.store),
                           relay_address=lambda: self.relay, portal_base=lambda: "http://203.0.113.5:8592")
        self.play = Play(self.store, self.router, self.clock, relay_address=lambda: ("x", 1),
                         may_dial=lambda host, peer: True)

    def test_a_source_is_the_relay_with_a_one_time_relay_token(self):
        url = self.successResultOf(self.media.source_url(CAM, 0, 1))
        self.assertTrue(url.startswith("rtsp://127.0.0.1:18554/realplay?"), url)
        play = parse_play_url(url)
        self.assertEqual(play._replace(token=""), PlayUrl(CAM, 0, 1, None, ""))
        # the relay takes it once, and dials the camera with a token of its own
        grant = self.successResultOf(self.play.authorize_relay(play, "127.0.0.1"))
        self.assertEqual(grant.upstreams[0][:2], ("127.0.0.1", 8000))
        self.failureResultOf(self.play.authorize_relay(play, "127.0.0.1"), e.TokenRefused)

    def test_a_source_token_lives_a_minute(self):
        play = parse_play_url(self.successResultOf(self.media.source_url(CAM, 0, 2)))
        self.clock.advance(60)
        self.failureResultOf(self.play.authorize_relay(play, "127.0.0.1"), e.TokenRefused)

    def test_no_source_for_what_cannot_play(self):
        for args, error in [((CAM, 0, 3), e.NoSuchChannel), (("81199999999", 0, 1), e.NoSuchDevice),
                            ((CAM, 5, 1), e.NoSuchChannel), ((CAM, 1, 2), e.StreamClosed),
                            ((CAM, -1, 1), e.BadValue), ((CAM, "0", 1), e.BadValue)]:
            self.failureResultOf(self.media.source_url(*args), error)
        del self.router.peers[CAM]
        self.failureResultOf(self.media.source_url(CAM, 0, 1), e.DeviceOffline)
        self.router.peers[CAM] = "127.0.0.1"
        self.relay = None
        self.failureResultOf(self.media.source_url(CAM, 0, 1), e.NoRoute)
        self.assertEqual(self.media.sources, 0)
        self.assertEqual(self.store.tables.get("hash_token", {}), {})

    def test_a_signed_live_url(self):
        self.store.tables.setdefault("device", {})[CAM].update(dev_id=CAM)
        self.store.fleet.device[CAM] = self.store.tables["device"][CAM]
        url = self.successResultOf(self.media.live_url(OPS, CAM, 0, 1, ttl=600))
        parsed = urlparse(url)
        self.assertEqual((parsed.scheme, parsed.netloc, parsed.path),
                         ("http", "203.0.113.5:8592", live_path(CAM, 0, 1) + "index.m3u8"))
        query = {k: v[0] for k, v in parse_qs(parsed.query).items()}
        self.assertEqual(int(query["exp"]), 1_800_000_600)
        self.assertTrue(self.media.signed(CAM, 0, 1, query["exp"], query["sig"]))
        # another stream, another expiry, a forged or missing signature: no
        self.assertFalse(self.media.signed(CAM, 0, 2, query["exp"], query["sig"]))
        self.assertFalse(self.media.signed(CAM, 1, 1, query["exp"], query["sig"]))
        self.assertFalse(self.media.signed(CAM, 0, 1, str(int(query["exp"]) + 1), query["sig"]))
        self.assertFalse(self.media.signed(CAM, 0, 1, query["exp"], "A" * 24))
        for exp, sig in [(None, query["sig"]), (query["exp"], None), ("-1", query["sig"]), ("9" * 40, "x")]:
            self.assertFalse(self.media.signed(CAM, 0, 1, exp, sig))
        self.clock.advance(600)
        self.assertFalse(self.media.signed(CAM, 0, 1, query["exp"], query["sig"]))

    def test_a_live_url_only_for_who_may_view(self):
        self.failureResultOf(self.media.live_url(STRANGER, CAM, 0, 1), e.NotBound)
        self.failureResultOf(self.media.live_url(OPS, CAM, 0, 1, ttl=0), e.BadValue)
        self.failureResultOf(self.media.live_url(OPS, CAM, 0, 1, ttl=8 * 86400), e.BadValue)
        self.failureResultOf(self.media.live_url(OPS, CAM, 0, 9), e.NoSuchChannel)
