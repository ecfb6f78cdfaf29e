"""Play (§7.5.5, §7.5.23, §8.7, §10.2, §15): the play-URL format, the core's routes, tokens and
relay authorization (FakeStore + task.Clock), the RTSP status table, and VideoPlay's routes on the wire."""

from urllib.parse import urlparse

from hypothesis import given, strategies as st
from twisted.internet import defer, task
from twisted.trial import unittest

from kandian.core import errors as e
from kandian.core.play import Play, device_address
from kandian.playurl import BadPlayQuery, NotPlayUrl, PlayUrl, format_play_url, parse_play_url
from kandian.rtsp.authorize import PlatformAuthorizer, refusal
from kandian.rtsp.message import Request
from kandian.store.fake import FakeStore
from kandian.throttle import FailureThrottle

from .mcu_helpers import McuTestCase
from .test_store_contract_play import put_device

CAM = "81100000001"

# -- the format

dev_ids = st.text("0123456789", min_size=1, max_size=32)
channels = st.integers(0, 999_999_999)
# what strict_query lets through: printable text (a device's file names are)
file_names = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=60).filter(str.isprintable)
tokens = st.text("0123456789abcdefABCDEF", max_size=64)
hosts = st.sampled_from(["127.0.0.1", "192.168.1.20", "::1", "2001:db8::7", "relay.example.net"])


# any text, and text mostly of characters quote() leaves as they are, with some it escapes
_query_values = st.one_of(st.text(max_size=40), st.text(st.sampled_from("aZz09_.~-/ %&=?+#:@é中\x00"), max_size=12))


class PlayUrlFormatTests(unittest.TestCase):
    @given(hosts, st.integers(1, 65535), dev_ids, channels, tokens,
           st.one_of(st.tuples(st.sampled_from([1, 2]), st.none()), st.tuples(st.none(), file_names)),
           st.sampled_from(["", "/", "/trackID=1"]))
    def test_what_is_formatted_parses_back(self, host, port, dev_id, channel_no, token, stream, suffix):
        stream_type, file_name = stream
        url = format_play_url(host, port, dev_id, channel_no, token, stream_type=stream_type, file_name=file_name)
        self.assertEqual(parse_play_url(url + suffix), PlayUrl(dev_id, channel_no, stream_type, file_name, token))
        parsed = urlparse(url)
        self.assertEqual((parsed.hostname, parsed.port, parsed.path), (host.lower(), port, "/realplay"))

    @given(_query_values, st.integers(-10, 10**12), _query_values, _query_values, st.booleans())
    def test_the_query_is_urlencode_of_its_four_parameters(self, dev_id, channel_no, token, file_name, live):
        from urllib.parse import quote, urlencode

        stream = ("streamtype", "2") if live else ("filename", file_name)
        url = format_play_url("h", 554, dev_id, channel_no, token, stream_type=2 if live else None,
                              file_name=None if live else file_name)
        self.assertEqual(url, "rtsp://h:554/realplay?" + urlencode(
            [("devid", dev_id), ("channelno", str(channel_no)), stream, ("hashtoken", token)], quote_via=quote))

    def test_a_url_names_a_stream_or_a_file(self):
        self.assertRaises(ValueError, format_play_url, "h", 554, CAM, 0, "t")
        self.assertRaises(ValueError, format_play_url, "h", 554, CAM, 0, "t", stream_type=1, file_name="a")

    def test_urls_that_name_no_stream(self):
        for uri in ["http://h/realplay?devid=1", "rtsp://h/live?devid=1&channelno=0&streamtype=1", "*"]:
            self.assertRaises(NotPlayUrl, parse_play_url, uri)

    def test_queries_no_client_sends(self):
        for query in ["devid=1&devid=2&channelno=0&streamtype=1", "devid=1%00&channelno=0&streamtype=1",
                      "devid=abc&channelno=0&streamtype=1", "devid=1&channelno=-1&streamtype=1",
                      "devid=1&channelno=0", "devid=1&channelno=0&streamtype=1234567890", "devid=1&channelno=%ff"]:
            self.assertRaises(BadPlayQuery, parse_play_url, "rtsp://h/realplay?" + query)

    def test_no_token_is_read_as_empty(self):
        self.assertEqual(parse_play_url("rtsp://h/realplay/?devid=1&channelno=2&streamtype=3"),
                         PlayUrl("1", 2, 3, None, ""))


# -- the core

class Router:
    def __init__(self):
        self.peers = {}

    def online(self, dev_id):
        return dev_id in self.peers

    def peer_ip(self, dev_id):
        return self.peers.get(dev_id)


def device(**columns):
    row = dict(dev_id=CAM, public_ip="198.51.100.1", local_ip="192.168.1.20", rtsp_local_port=554, upnp_ip=None,
               rtsp_upnp_port=None, upnp_reachable=None, turn_relay_ip=None, rtsp_turn_relay_port=None)
    row.update(columns)
    return type("Device", (), row)


class CoreCase(unittest.TestCase):
    def setUp(self):
        self.clock = task.Clock()
        self.clock.advance(1_800_000_000)
        self.store = FakeStore()
        self.router = Router()
        self.router.peers[CAM] = "192.168.1.20"
        self.throttle = FailureThrottle(self.clock.seconds, per_address=5, per_account=5, window=600)
        self.play = Play(self.store, self.router, self.clock, relay_address=lambda: ("relay.example.net", 8554),
                         max_streams=2, throttle=self.throttle)
        put_device(self.store, CAM, channels=2, closed=[(1, 1)], local_ip="192.168.1.20", rtsp_local_port=554,
                   upnp_ip="203.0.113.7", rtsp_upnp_port=20554, upnp_reachable=True)

    def assertRefused(self, d, error):
        return self.failureResultOf(d, error).value


class RouteTests(unittest.TestCase):
    def test_an_address_not_reported_is_no_route(self):
        for columns in [dict(local_ip="0.0.0.0"), dict(local_ip=""), dict(rtsp_local_port=0), dict(local_ip=None)]:
            self.assertIsNone(device_address("local", device(**columns)), columns)
        self.assertEqual(device_address("local", device()), ("192.168.1.20", 554))
        self.assertIsNone(device_address("upnp", device(upnp_ip="203.0.113.7", rtsp_upnp_port=1)))
        self.assertEqual(device_address("upnp", device(upnp_ip="203.0.113.7", rtsp_upnp_port=1, upnp_reachable=True)),
                         ("203.0.113.7", 1))
        self.assertIsNone(device_address("turn", device(turn_relay_ip="0.0.0.0", rtsp_turn_relay_port=1)))
        self.assertIsNone(device_address("elsewhere", device()))


class VideoPlayCoreTests(CoreCase):
    def test_section_15_routes_each_with_its_own_token(self):
        urls = self.successResultOf(self.play.video(device(), 0, 2, client_ip="198.51.100.1", account="a"))
        self.assertEqual(urls.upnp, urls.turn, "")  # no reachable mapping, no TURN relay
        local, relay = parse_play_url(urls.local), parse_play_url(urls.relay)
        self.assertEqual(local._replace(token=""), PlayUrl(CAM, 0, 2, None, ""))
        self.assertTrue(urls.relay.startswith("rtsp://relay.example.net:8554/realplay?"))
        # the app's token is the device's to verify, once; the relay's is not
        self.assertIsNone(self.successResultOf(self.play.device_token(local.token, CAM, 0, stream_type=2)))
        self.assertRefused(self.play.device_token(local.token, CAM, 0, stream_type=2), e.TokenRefused)
        self.assertRefused(self.play.device_token(relay.token, CAM, 0, stream_type=2), e.TokenRefused)

    def test_local_only_for_an_app_behind_the_device_public_address(self):
        urls = self.successResultOf(self.play.video(device(), 0, 2, client_ip="203.0.113.99"))
        self.assertEqual(urls.local, "")
        urls = self.successResultOf(self.play.video(device(local_ip="0.0.0.0"), 0, 2, client_ip="198.51.100.1"))
        self.assertEqual(urls.local, "")

    def test_a_token_lives_60_s(self):
        urls = self.successResultOf(self.play.video(device(), 0, 1, client_ip="198.51.100.1"))
        self.clock.advance(60)
        self.assertRefused(self.play.device_token(parse_play_url(urls.local).token, CAM, 0, stream_type=1),
                           e.TokenRefused)

    def test_recordings(self):
        urls = self.successResultOf(self.play.record(device(), 1, "录像 1.ts", client_ip="198.51.100.1"))
        token = parse_play_url(urls.local).token
        self.assertRefused(self.play.device_token(token, CAM, 1, file_name="录像 2.ts"), e.TokenRefused)
        self.successResultOf(self.play.device_token(token, CAM, 1, file_name="录像 1.ts"))
        self.assertRefused(self.play.record(device(), 1, "  ", client_ip=None), e.BadValue)

    def test_refusals(self):
        self.assertRefused(self.play.video(device(), 0, 3, client_ip=None), e.NoSuchChannel)
        del self.router.peers[CAM]
        self.assertRefused(self.play.video(device(), 0, 2, client_ip=None), e.DeviceOffline)
        self.assertEqual(self.store.tables["hash_token"], {})

    def test_no_relay_url_while_the_relay_has_no_port(self):
        self.play.relay_address = lambda: ("relay.example.net", None)
        urls = self.successResultOf(self.play.video(device(), 0, 2, client_ip=None))
        self.assertEqual(urls.relay, "")


class RelayAuthorizationTests(CoreCase):
    def relay_token(self, channel_no=0, stream_type=2, file_name=None, dev_id=CAM):
        return self.successResultOf(self.store.tokens.issue(dev_id, channel_no, stream_type=stream_type,
                                                            file_name=file_name, purpose="relay",
                                                            now=self.clock.seconds()))

    def authorize(self, token, channel_no=0, stream_type=2, file_name=None, source="198.51.100.1", dev_id=CAM):
        return self.play.authorize_relay(PlayUrl(dev_id, channel_no, stream_type, file_name, token), source)

    def test_a_grant_dials_the_admitted_addresses_with_a_fresh_client_token(self):
        grant = self.successResultOf(self.authorize(self.relay_token()))
        # the UPnP address is not the device's link address: the dial policy keeps the relay from it
        self.assertEqual([(host, port) for host, port, _ in grant.upstreams], [("192.168.1.20", 554)])
        self.assertEqual(self.play.policy_refused, 1)
        upstream = parse_play_url(grant.upstreams[0][2])
        self.assertEqual(upstream._replace(token=""), PlayUrl(CAM, 0, 2, None, ""))
        self.successResultOf(self.play.device_token(upstream.token, CAM, 0, stream_type=2))
        self.assertEqual(self.play.streams[CAM], 1)

    def test_the_token_comes_first_and_is_used_once(self):
        self.assertRefused(self.authorize(""), e.TokenRefused)
        self.assertRefused(self.authorize("not-a-token!"), e.TokenRefused)
        token = self.relay_token()
        self.assertRefused(self.authorize(token, channel_no=1), e.TokenRefused)  # another stream: not burnt
        self.successResultOf(self.authorize(token))
        self.assertRefused(self.authorize(token), e.TokenRefused)
        client = self.successResultOf(self.store.tokens.issue(CAM, 0, stream_type=2, now=self.clock.seconds()))
        self.assertRefused(self.authorize(client), e.TokenRefused)  # an app's token is not the relay's

    def test_a_guessing_source_is_stopped_before_any_query(self):
        for _ in range(5):
            self.assertRefused(self.authorize("0" * 32, source="192.0.2.9"), e.TokenRefused)
        consumed = []
        self.store.tokens.consume = lambda *a, **kw: consumed.append(a)
        stopped = self.assertRefused(self.authorize(self.relay_token(), source="192.0.2.9"), e.TooManyFailures)
        self.assertTrue(0 < stopped.retry_after <= 600)
        self.assertEqual(consumed, [])

    def test_after_the_token_the_device_and_its_stream(self):
        self.assertRefused(self.authorize(self.relay_token(dev_id="81100000002"), dev_id="81100000002"),
                           e.NoSuchDevice)
        self.assertRefused(self.authorize(self.relay_token(channel_no=5), channel_no=5), e.NoSuchChannel)
        self.assertRefused(self.authorize(self.relay_token(stream_type=3), stream_type=3), e.NoSuchChannel)
        self.assertRefused(self.authorize(self.relay_token(1, 1), 1, 1), e.StreamClosed)
        grant = self.successResultOf(self.authorize(self.relay_token(1, None, "a.ts"), 1, None, "a.ts"))
        self.assertEqual(parse_play_url(grant.upstreams[0][2]).file_name, "a.ts")

    def test_offline_too_many_streams_and_no_route(self):
        for _ in range(2):
            self.successResultOf(self.authorize(self.relay_token()))
        self.assertRefused(self.authorize(self.relay_token()), e.TooManyStreams)
        self.play.release(CAM)
        self.successResultOf(self.authorize(self.relay_token()))
        self.play.release(CAM)
        self.play.release(CAM)
        self.router.peers[CAM] = "10.9.9.9"  # the link comes from elsewhere: no reported address is its own
        self.assertRefused(self.authorize(self.relay_token()), e.NoRoute)
        del self.router.peers[CAM]
        self.assertRefused(self.authorize(self.relay_token()), e.DeviceOffline)

    def test_expired_tokens_are_purged(self):
        self.relay_token()
        self.clock.advance(3600 + 61)
        self.successResultOf(self.play.purge_tokens())
        self.assertEqual(self.store.tables["hash_token"], {})


class RtspStatusTests(unittest.TestCase):
    def test_one_table(self):
        cases = [(NotPlayUrl("x"), 404), (BadPlayQuery("x"), 400), (e.TokenRefused("x"), 401),
                 (e.NoSuchDevice("x"), 404), (e.NoSuchChannel("x"), 404), (e.StreamClosed("x"), 403),
                 (e.DeviceOffline("x"), 503), (e.NoRoute("x"), 503), (e.TooManyStreams("x"), 453),
                 (e.DatabaseUnavailable("x"), 503)]
        for error, code in cases:
            self.assertEqual((refusal(error).code, refusal(error).headers), (code, []), error)
        stopped = refusal(e.TooManyFailures("guessing", 12.2))
        # the reason is a metric label: the same for every stopped source
        self.assertEqual((stopped.code, stopped.headers, stopped.why), (503, [("Retry-After", "13")], "guessing"))
        self.assertIsNone(refusal(KeyError("x")))

    def test_the_adapter_answers_a_malformed_url_without_the_core(self):
        class Peer:
            host = "192.0.2.1"

        authorizer = PlatformAuthorizer(None)
        for uri, code in [("rtsp://h/live", 404), ("rtsp://h/realplay?devid=x&channelno=0&streamtype=1", 400)]:
            failure = self.failureResultOf(authorizer.authorize(Request("DESCRIBE", uri), Peer()))
            self.assertEqual(failure.value.code, code)

    def test_a_grant_is_an_upstream(self):
        clock, store, router = task.Clock(), FakeStore(), Router()
        router.peers[CAM] = "192.168.1.20"
        put_device(store, CAM, local_ip="192.168.1.20", rtsp_local_port=554)
        token = self.successResultOf(store.tokens.issue(CAM, 0, stream_type=1, purpose="relay", now=0))
        authorizer = PlatformAuthorizer(Play(store, router, clock))
        upstream = self.successResultOf(authorizer.authorize(
            Request("DESCRIBE", "rtsp://h/realplay?devid=%s&channelno=0&streamtype=1&hashtoken=%s" % (CAM, token)),
            None))
        self.assertEqual((upstream.key, [c[:2] for c in upstream.candidates]), (CAM, [("192.168.1.20", 554)]))
        authorizer.release(CAM)
        self.assertEqual(authorizer.play.streams, {})


# -- on the wire

class VideoPlayRouteTests(McuTestCase):
    @defer.inlineCallbacks
    def test_an_address_the_device_did_not_report_is_no_url(self):
        session = yield self.user("13800000001")
        link = yield self.camera(CAM)
        yield self.bind("13800000001", CAM)
        # "0.0.0.0" is §7.5.3's "none": a UPnP mapping found reachable at it, or a LAN address of it,
        # is no URL for the app (the relay never dialled them either)
        yield link.set_addresses(LocalIP="0.0.0.0", UpnpIP="0.0.0.0", RtspUpnpPort=20554)
        yield self.db.runOperation("UPDATE device SET upnp_reachable = true")
        answer = yield self.soap.VideoPlay(Account="13800000001", LoginSession=session, DevID=CAM, ChannelNo=0,
                                           StreamType=2)
        self.assertEqual(answer["Result"], 0)
        self.assertEqual((answer["LocalPlayUrl"] or "", answer["UpnpPlayUrl"] or ""), ("", ""))
        self.assertTrue(answer["RelayPlayUrl"])
