"""Media: where the platform's own children pull a stream, and who may watch live HLS (issue 16; §7.5.5, §10.2).

The packagers and recorders of :mod:`kandian.media` never dial a camera.
They pull through the platform's own RTSP relay, exactly as a player does,
with a fresh one-time token (:meth:`Media.source_url`): purpose ``relay``
(the relay's own kind, consumed by :meth:`kandian.core.play.Play.authorize_relay`),
no user, valid 60 s, used at once.  So the relay's checks — stream open,
device online, the per-device stream cap (§10.2 453), the dial policy, the
device's own token check over its link (§7.5.5) — hold for them too, and a
stream proxy (:mod:`.proxies`) is pulled the same way as a camera.

Live HLS (``/live/{DevID}/{ChannelNo}/{StreamType}/``) is authorized like a
play URL: a principal who may view the device (:mod:`.access`), or a signed,
expiring URL (:meth:`Media.live_url`, :meth:`Media.signed`) for embedding.
"""

from __future__ import annotations

from collections.abc import Callable

from twisted.internet import defer

from ..playurl import format_play_url
from .errors import BadValue, DeviceOffline, NoRoute, NoSuchChannel, NoSuchDevice, StreamClosed

STREAM_TYPES = (1, 2)  # §8.7: 1 main stream, 2 sub stream
SIGN_PURPOSE = "live"
MAX_TTL = 7 * 86400  # a signed live URL lives at most a week


def live_path(dev_id: str, channel_no: int, stream_type: int) -> str:
    """The directory of one stream's live HLS: ``/live/DevID/ChannelNo/StreamType/``."""
    return "/live/%s/%d/%d/" % (dev_id, channel_no, stream_type)


class Media:
    def __init__(self, store, router, clock, *, keys, access, relay_address: Callable[[], tuple[str, int] | None],
                 portal_base: Callable[[], str | None] = lambda: None):
        """*store* has ``relay`` and ``tokens``; *router* an IDeviceRouter (``online``);
        *relay_address()* where this node's RTSP relay answers its own children
        ((host, port), None while it has none); *portal_base()* the portal's
        ``http://host:port`` for the URLs handed out (None: the portal is off)."""
        self.store = store
        self.router = router
        self.clock = clock
        self.keys = keys
        self.access = access
        self.relay_address = relay_address
        self.portal_base = portal_base
        self.sources = 0  # source URLs handed out

    @defer.inlineCallbacks
    def check_stream(self, dev_id: str, channel_no: int, stream_type: int):
        """Raise BadValue, NoSuchDevice, NoSuchChannel, StreamClosed or
        DeviceOffline unless the stream exists, is open and its device online."""
        _check_numbers(channel_no, stream_type)
        target = yield self.store.relay.target(dev_id, channel_no, stream_type)
        if target is None:
            raise NoSuchDevice("no device %s" % (dev_id,))
        if not target.channel_exists:
            raise NoSuchChannel("%s has no channel %d" % (dev_id, channel_no))
        if target.proxy_url and (channel_no, stream_type) != (0, 1):
            raise NoSuchChannel("a stream proxy has one stream: channel 0, stream type 1")
        if not target.stream_enabled:
            raise StreamClosed("%s channel %d stream %d is closed" % (dev_id, channel_no, stream_type))
        if not self.router.online(dev_id):
            raise DeviceOffline("%s is offline" % (dev_id,))

    @defer.inlineCallbacks
    def source_url(self, dev_id: str, channel_no: int, stream_type: int):
        """An ``rtsp://`` URL of the stream on this node's relay with a fresh
        one-time token, for a child process to pull at once.  Fails as
        :meth:`check_stream` does, or NoRoute when the relay is off."""
        yield self.check_stream(dev_id, channel_no, stream_type)
        address = self.relay_address()
        if not address or not address[1]:
            raise NoRoute("the RTSP relay is off ([rtsp] listen): no media can be pulled")
        token = yield self.store.tokens.issue(dev_id, channel_no, stream_type=stream_type, purpose="relay",
                                              account="media", now=self.clock.seconds())
        self.sources += 1
        return format_play_url(address[0], address[1], dev_id, channel_no, token, stream_type=stream_type)

    # -- live HLS: who may watch

    def may_watch(self, principal, dev_id: str) -> defer.Deferred:
        """Fires when *principal* may view *dev_id*; NotBound, NoSuchDevice or Forbidden otherwise."""
        return self.access.device(principal, dev_id, "view")

    def sign(self, dev_id: str, channel_no: int, stream_type: int, expires: int) -> str:
        return self.keys.sign(SIGN_PURPOSE, live_path(dev_id, channel_no, stream_type), expires)

    def signed(self, dev_id: str, channel_no: int, stream_type: int, expires: str | None,
               signature: str | None) -> bool:
        """Whether ``?exp=&sig=`` sign this stream's live directory and have not expired."""
        if not expires or not signature or not expires.isdigit() or len(expires) > 12 or len(signature) > 64:
            return False
        return self.keys.verify(SIGN_PURPOSE, live_path(dev_id, channel_no, stream_type), int(expires), signature,
                                self.clock.seconds())

    @defer.inlineCallbacks
    def live_url(self, principal, dev_id: str, channel_no: int, stream_type: int, ttl: int = 3600):
        """A signed live HLS URL (``…/index.m3u8?exp=&sig=``) valid *ttl* s, for
        a principal who may view the device (the compatibility APIs hand it
        out).  BadValue for a bad stream or ttl, NoRoute with the portal off."""
        _check_numbers(channel_no, stream_type)
        if not isinstance(ttl, int) or not 0 < ttl <= MAX_TTL:
            raise BadValue("ttl must be 1..%d seconds" % MAX_TTL)
        yield self.may_watch(principal, dev_id)
        base = self.portal_base()
        if not base:
            raise NoRoute("the portal is off ([portal] listen): no live HLS")
        expires = int(self.clock.seconds()) + ttl
        return "%s%sindex.m3u8?exp=%d&sig=%s" % (base, live_path(dev_id, channel_no, stream_type), expires,
                                                  self.sign(dev_id, channel_no, stream_type, expires))


def _check_numbers(channel_no, stream_type) -> None:
    if not isinstance(channel_no, int) or not 0 <= channel_no <= 255:
        raise BadValue("ChannelNo must be 0..255")
    if stream_type not in STREAM_TYPES:
        raise NoSuchChannel("no stream type %r (1 main, 2 sub)" % (stream_type,))
