"""Play addresses for the compatibility APIs (spec/001 §4; §10, §15 of the platform's relay).

An API key is not an app account: there is no binding to check, only the
key's reach (a :class:`~.devicekeys.Grant`).  :meth:`ApiPlay.relay_url` is
the relay's URL of one live stream with a fresh one-time relay token (§7.5.5,
valid 60 s, consumed by the first play), after the checks the relay would
make first: the device and channel exist, the stream is open, the device is online.
"""

from __future__ import annotations

from twisted.internet import defer

from . import errors
from .devicekeys import Grant
from .play import STREAM_TYPES


class ApiPlay:
    def __init__(self, store, play):
        """*play*: :class:`kandian.core.play.Play`."""
        self.store = store
        self.play = play

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
    def relay_url(self, grant: Grant, dev_id: str, channel_no: int, stream_type: int = 1):
        """The RelayPlayUrl of the stream; DeviceOffline, NotAvailable (no relay listener)."""
        target = yield self.target(grant, dev_id, channel_no, stream_type)
        if self.play.routes(target, None)["relay"] is None:
            raise errors.NotAvailable("the platform has no RTSP relay")
        urls = yield self.play.video(target, channel_no, stream_type, client_ip=None, account=grant.name[:64])
        return urls.relay
