"""Play: the §15 routes, the play URLs, HashTokens and the relay's authorization (§7.5.5, §7.5.23, §8.7, §10, §15).

One rule says where a device can be reached (:func:`device_address`), and
both users of it build on it: VideoPlay/RecordPlay (:meth:`Play.video`,
:meth:`Play.record`) answer the app one URL per route, each with its own
one-time token, and the relay (:meth:`Play.authorize_relay`) dials the
device's addresses that the dial policy admits.  Every URL is written by
:func:`kandian.playurl.format_play_url`.

A token is bound to one device, channel and stream type (or file), valid for
60 s and consumed once (the store's conditional UPDATE): "client" tokens are
verified by the device over its link (:meth:`Play.device_token`), "relay"
tokens by the relay.  The relay checks the token before it looks the device
up, so a guesser cannot tell a known DevID from an unknown one, and a source
that failed too many checks is stopped (:class:`kandian.throttle.FailureThrottle`)
before any query.  Refusals are :mod:`kandian.core.errors`.
"""

from __future__ import annotations

import collections
import re
from collections.abc import Callable
from typing import NamedTuple

from twisted.internet import defer
from twisted.logger import Logger

from ..dialpolicy import DialPolicy
from ..logs import peer_text
from ..playurl import PlayUrl, format_play_url
from .errors import (
    BadValue,
    DeviceOffline,
    NoRoute,
    NoSuchChannel,
    NoSuchDevice,
    StreamClosed,
    TokenRefused,
    TooManyFailures,
    TooManyStreams,
)

log = Logger()

ROUTES = ("local", "upnp", "turn")  # the device's own routes, in §15's order
STREAM_TYPES = (1, 2)  # §8.7: 1 main stream, 2 sub stream
# a play URL's filename= of a recording the platform made (kandian.core.playsessions), not one on the device
PLATFORM_RECORDING = "platform:"
_TOKEN = re.compile(r"[0-9A-Za-z]{1,64}")


def device_address(route: str, device) -> tuple[str, int] | None:
    """The (host, port) at which *device* (a row with the §7.5.3 address
    columns) serves RTSP on *route*, or None: no address reported
    (empty, ``0.0.0.0``, port 0), or a UPnP mapping the platform did not reach."""
    if route == "local":
        host, port = device.local_ip, device.rtsp_local_port
    elif route == "upnp":
        host, port = (device.upnp_ip, device.rtsp_upnp_port) if device.upnp_reachable else (None, None)
    elif route == "turn":
        host, port = device.turn_relay_ip, device.rtsp_turn_relay_port
    else:
        return None
    if not host or host == "0.0.0.0" or not port:
        return None
    return host, port


class PlayUrls(NamedTuple):
    """§8.7's URLs; "" where the route cannot work."""

    local: str
    upnp: str
    turn: str
    relay: str


class RelayGrant(NamedTuple):
    """Where the relay fetches a stream: (host, port, URL with a fresh client token), in order."""

    dev_id: str
    upstreams: list[tuple[str, int, str]]


class Play:
    def __init__(self, store, router, clock, *, relay_address: Callable[[], tuple[str, int | None]] = lambda: None,
                 order=ROUTES, max_streams: int = 4, may_dial=None, throttle=None,
                 proxy_source: Callable[[str], tuple[str, int] | None] = lambda url: None,
                 recording_source: Callable[[int], tuple[str, int, str] | None] = lambda recording_id: None):
        """*store* has the ``tokens`` and ``relay`` components; *router* is an
        :class:`~kandian.core.interfaces.IDeviceRouter` (``online``, ``peer_ip``);
        *relay_address()* the relay's public (host, port), None or a port of
        None while it has none; *order* the routes the relay tries; *may_dial(host,
        link_peer_ip)* the dial policy (default: only the device's own link
        address); *throttle* a FailureThrottle for failed relay token checks."""
        self.store = store
        self.router = router
        self.clock = clock
        self.relay_address = relay_address
        self.order = order
        self.max_streams = max_streams
        self.may_dial = may_dial if may_dial is not None else DialPolicy()
        self.throttle = throttle
        self.proxy_source = proxy_source
        self.recording_source = recording_source
        self.streams: collections.Counter = collections.Counter()  # DevID → relayed streams
        self.policy_refused = 0  # device-reported addresses the dial policy kept the relay from

    def now(self) -> float:
        return self.clock.seconds()

    # -- §8.7 VideoPlay, RecordPlay

    def video(self, device, channel_no: int, stream_type: int, *, client_ip: str | None, account: str = "",
              user_id: int | None = None) -> defer.Deferred:
        """The URLs of one live stream of *device* (bound to the asking account,
        its channel checked): NoSuchChannel for a stream type §8.7 does not
        have, DeviceOffline."""
        if stream_type not in STREAM_TYPES:
            return defer.fail(NoSuchChannel("no stream type %s" % (stream_type,)))
        return self._urls(device, channel_no, client_ip, account, user_id, stream_type=stream_type)

    def record(self, device, channel_no: int, file_name: str, *, client_ip: str | None, account: str = "",
               user_id: int | None = None) -> defer.Deferred:
        """The URLs of one recording (§7.5.23): BadValue for no file name, DeviceOffline."""
        if not file_name.strip():
            return defer.fail(BadValue("FileName must not be empty"))
        return self._urls(device, channel_no, client_ip, account, user_id, file_name=file_name)

    @defer.inlineCallbacks
    def relay_url(self, dev_id: str, channel_no: int, *, stream_type: int | None = None, file_name: str | None = None,
                  user_id: int | None = None, account: str = ""):
        """``(RelayPlayUrl, its token)`` of one live stream or one recording on
        the device, for a caller that checked access itself (the play sessions
        of the compatibility APIs); NoRoute while the relay has no address."""
        relay = self.relay_address()
        if not relay or not relay[0] or not relay[1]:
            raise NoRoute("the relay has no address")
        token = yield self.store.tokens.issue(dev_id, channel_no, stream_type=stream_type, file_name=file_name,
                                              user_id=user_id, account=account, purpose="relay", now=self.now())
        return format_play_url(relay[0], relay[1], dev_id, channel_no, token, stream_type=stream_type,
                               file_name=file_name), token

    def routes(self, device, client_ip: str | None) -> dict[str, tuple[str, int] | None]:
        """§15's candidates for an app at *client_ip*, in the order of §8.7's answer."""
        relay = self.relay_address()
        return {
            # step 1: only when the app and the device share a public address
            "local": device_address("local", device) if client_ip and device.public_ip == client_ip else None,
            "upnp": device_address("upnp", device),
            "turn": device_address("turn", device),
            "relay": relay if relay and relay[0] and relay[1] else None,
        }

    @defer.inlineCallbacks
    def _urls(self, device, channel_no, client_ip, account, user_id, **stream):
        dev_id = device.dev_id
        if not self.router.online(dev_id):
            raise DeviceOffline("%s is offline" % (dev_id,))
        candidates = self.routes(device, client_ip)
        routes = [route for route, address in candidates.items() if address]
        tokens = yield self.store.tokens.issue_many(
            dev_id, channel_no, ["relay" if route == "relay" else "client" for route in routes],
            user_id=user_id, account=account, now=self.now(), **stream)
        urls = dict.fromkeys(candidates, "")
        for route, token in zip(routes, tokens):
            host, port = candidates[route]
            urls[route] = format_play_url(host, port, dev_id, channel_no, token, **stream)
        return PlayUrls(**urls)

    # -- §7.5.5, §7.5.23: the device asks whether a client's token is good

    @defer.inlineCallbacks
    def device_token(self, token: str, dev_id: str, channel_no: int, *, stream_type: int | None = None,
                     file_name: str | None = None):
        """Consume a "client" token for exactly this stream or file; TokenRefused otherwise."""
        valid = yield self.store.tokens.consume(token, dev_id, channel_no, stream_type=stream_type,
                                                file_name=file_name, now=self.now())
        if not valid:
            raise TokenRefused("token refused (channel %s, %s)" % (
                channel_no, "stream type %s" % stream_type if file_name is None else "file %s" % peer_text(file_name)))

    # -- §10.2: the relay

    @defer.inlineCallbacks
    def authorize_relay(self, play: PlayUrl, source: str):
        """A :class:`RelayGrant` for the stream *play* names, asked from the
        address *source*.  Raises, in this order: TokenRefused (no token),
        TooManyFailures (the source failed too often; no query made),
        TokenRefused (unknown, expired, used, another stream's, not a relay
        token), NoSuchDevice, NoSuchChannel, StreamClosed, DeviceOffline,
        TooManyStreams, NoRoute.  Each grant is given back with :meth:`release`."""
        dev_id, channel_no, stream_type, file_name = play.dev_id, play.channel_no, play.stream_type, play.file_name
        if not play.token:
            raise TokenRefused("no hashtoken")
        throttle = self.throttle
        if throttle is not None and not throttle.allowed(source, dev_id):
            raise TooManyFailures("too many failed token checks from this address",
                                  throttle.retry_after(source, dev_id))
        valid = _TOKEN.fullmatch(play.token) is not None
        if valid:
            valid = yield self.store.tokens.consume(play.token, dev_id, channel_no, stream_type=stream_type,
                                                    file_name=file_name, now=self.now(), purpose="relay")
        if not valid:
            if throttle is not None:
                throttle.failed(source, dev_id)
            raise TokenRefused("bad, expired or used hashtoken")
        if throttle is not None:
            throttle.succeeded(source, dev_id)
        if file_name is not None and file_name.startswith(PLATFORM_RECORDING):
            return self._recording_grant(dev_id, file_name)
        target = yield self.store.relay.target(dev_id, channel_no, stream_type)
        if target is None:
            raise NoSuchDevice("no such device")
        if not target.channel_exists or stream_type not in (None, *STREAM_TYPES):
            raise NoSuchChannel("no such channel or stream")
        if target.proxy_url and (channel_no, stream_type) != (0, 1):
            raise NoSuchChannel("a stream proxy has one stream: channel 0, stream type 1")
        if not target.stream_enabled:
            raise StreamClosed("stream closed")
        if not self.router.online(dev_id):
            raise DeviceOffline("device offline")
        if self.streams[dev_id] >= self.max_streams:
            raise TooManyStreams("too many streams")
        if target.proxy_url:
            return self._proxy_grant(dev_id, target.proxy_url)
        addresses = self._dialable(dev_id, target)
        if not addresses:
            raise NoRoute("device reported no address the relay can use")
        fresh = yield self.store.tokens.issue(dev_id, channel_no, stream_type=stream_type, file_name=file_name,
                                              purpose="client", now=self.now())
        self.streams[dev_id] += 1
        return RelayGrant(dev_id, [(host, port, format_play_url(host, port, dev_id, channel_no, fresh,
                                                                stream_type=stream_type, file_name=file_name))
                                   for host, port in addresses])

    def _recording_grant(self, dev_id: str, file_name: str) -> RelayGrant:
        """A platform recording's grant (the compatibility APIs' play sessions): the platform's own file
        server plays it, whether the device is online or not; not counted against the device's streams."""
        number = file_name[len(PLATFORM_RECORDING):]
        source = self.recording_source(int(number)) if number.isdigit() and len(number) <= 18 else None
        if source is None:
            raise NoRoute("no file server for platform recordings ([media] file_server)")
        return RelayGrant(file_name, [source])

    def _proxy_grant(self, dev_id: str, url: str) -> RelayGrant:
        """A stream proxy's grant: its source URL as it is (no token: it is not a camera of ours)."""
        source = self.proxy_source(url)
        if source is None:
            self.policy_refused += 1
            log.info("RTSP relay: stream proxy {dev_id}'s source is not allowed ([media] proxy_allow): not dialled",
                     dev_id=dev_id)
            raise NoRoute("the stream proxy's source may not be dialled")
        self.streams[dev_id] += 1
        return RelayGrant(dev_id, [(source[0], source[1], url)])

    def _dialable(self, dev_id: str, target) -> list[tuple[str, int]]:
        peer_ip = self.router.peer_ip(dev_id)
        addresses = []
        for route in self.order:
            address = device_address(route, target)
            if address is None:
                continue
            if not self.may_dial(address[0], peer_ip):
                self.policy_refused += 1
                log.info("RTSP relay: {dev_id}'s {route} address {host} is not the device's own and not allowed:"
                         " not dialled", dev_id=dev_id, route=route, host=peer_text(address[0]))
                continue
            addresses.append(address)
        return addresses

    def release(self, dev_id: str) -> None:
        """A relayed stream of *dev_id* ended."""
        self.streams[dev_id] -= 1
        if self.streams[dev_id] <= 0:
            del self.streams[dev_id]

    def purge_tokens(self) -> defer.Deferred:
        """Forget tokens long expired."""
        return self.store.tokens.purge(self.now())
