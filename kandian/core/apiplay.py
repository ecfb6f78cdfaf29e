"""Play addresses for the compatibility APIs (spec/001 §4; §10, §15 of the platform's relay, live HLS).

An API key is not an app account: there is no binding to check, only the
key's reach (a :class:`~.devicekeys.Grant`).  :meth:`ApiPlay.relay_url` is
the relay's URL of one live stream with a fresh one-time relay token (§7.5.5,
valid 60 s, consumed by the first play), after the checks the relay would
make first: the device and channel exist, the stream is open, the device is
online (:meth:`ApiPlay.ready`).  :meth:`ApiPlay.live_url` is the signed live
HLS URL (:meth:`kandian.core.media.Media.live_url`) of a stream whose play
token the interface has checked: the token was the key's say-so.
"""

from __future__ import annotations

from twisted.internet import defer

from . import errors
from .access import Principal
from .devicekeys import Grant
from .play import STREAM_TYPES

# whom Media.live_url sees for a play token handed out to a key (it may view any device the token names)
TOKEN_VIEWER = Principal("operator", 0, "api-play-token", "viewer")


class ApiPlay:
    def __init__(self, store, play, media=None, router=None):
        """*play*: :class:`kandian.core.play.Play`; *media*: :class:`kandian.core.media.Media` (live HLS);
        *router*: an IDeviceRouter (who is online)."""
        self.store = store
        self.play = play
        self.media = media
        self.router = router

    @defer.inlineCallbacks
    def target(self, grant: Grant, dev_id: str, channel_no: int, stream_type: int = 1):
        """The relay's view of the stream (:class:`kandian.store.relay.RelayTarget`), checked:
        NoSuchDevice, NoSuchChannel, StreamClosed."""
        grant.device(dev_id)
        if stream_type not in STREAM_TYPES:
            raise errors.BadValue("stream type is 1 (main) or 2 (sub)")
        target = yield self.store.relay.target(dev_id, channel_no, stream_type)
        if target is None:
            raise errors.NoSuchDevice("no device %s" % (dev_id,))
        if not target.channel_exists:
            raise errors.NoSuchChannel("%s has no channel %s" % (dev_id, channel_no))
        if not target.stream_enabled:
            raise errors.StreamClosed("channel %s of %s is closed" % (channel_no, dev_id))
        return target

    @defer.inlineCallbacks
    def ready(self, grant: Grant, dev_id: str, channel_no: int, stream_type: int = 1):
        """:meth:`target`, and DeviceOffline unless the device is online."""
        target = yield self.target(grant, dev_id, channel_no, stream_type)
        if self.router is not None and not self.router.online(dev_id):
            raise errors.DeviceOffline("%s is offline" % (dev_id,))
        return target

    def live_url(self, dev_id: str, channel_no: int, stream_type: int = 1, ttl: int = 3600):
        """The signed live HLS playlist URL on the portal; NotAvailable without live HLS."""
        if self.media is None:
            return defer.fail(errors.NotAvailable("no live HLS on this platform"))
        return self.media.live_url(TOKEN_VIEWER, dev_id, channel_no, stream_type, ttl)

    @defer.inlineCallbacks
    def relay_url(self, grant: Grant, dev_id: str, channel_no: int, stream_type: int = 1):
        """The RelayPlayUrl of the stream; DeviceOffline, NotAvailable (no relay listener)."""
        target = yield self.target(grant, dev_id, channel_no, stream_type)
        if self.play.routes(target, None)["relay"] is None:
            raise errors.NotAvailable("the platform has no RTSP relay")
        urls = yield self.play.video(target, channel_no, stream_type, client_ip=None, account=grant.name[:64])
        return urls.relay
