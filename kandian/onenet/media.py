"""spec/001 §4 live play: play addresses (§4.1), the device push address (§4.4) — over :mod:`kandian.core.apiplay`.

kandian has no RTMP or FLV: ``protocol_type`` 0, 3 and 4 answer §4.1's
errno 1.  ``protocol_type`` 5 (kandian's own value) answers the RTSP relay:
``type`` ``rtsp``, ``addr`` the relay, ``accessToken`` a one-time HashToken
(§7.5.5: 60 s, one play) and ``url`` the whole URL to play (the relay's
URL, not §4.1's ``/live/…`` composition).  Devices do not push streams to
the platform (§4.4): the platform pulls them through the relay.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from twisted.internet import defer

from ..core import errors
from . import results, views
from .api import Reply, Route

RTSP = 5
HLS, HTTPS_HLS = 1, 2
NO_RTMP = {0: "rtmp", 3: "flv", 4: "https-flv"}


class MediaHandlers:
    def __init__(self, core, *, cover_address):
        """*cover_address()*: this listener's public ``host:port`` (§4.1's ``coveraddr``)."""
        self.core = core
        self.cover_address = cover_address

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/ipc/video/play_address", self.play_address, errors=results.PLAY,
                  internal=results.PLAY_INTERNAL),
            Route("GET", "/ipc/video/get_push_address", self.push_address),
        ]

    @defer.inlineCallbacks
    def play_address(self, call):
        q = call.query
        dev_id = views.device_id(q)
        channel_no = views.channel_no(q)
        kind = views.integer(q, "protocol_type", HLS, low=0, high=5)
        timeout = views.integer(q, "timeout", -1, low=-1, high=10 * 365 * 86400 * 1000)
        del timeout  # the relay's tokens live 60 s whatever is asked
        if kind in NO_RTMP:
            raise errors.NotAvailable("no %s here: protocol_type 1 (hls) or 5 (rtsp)" % NO_RTMP[kind])
        if kind in (HLS, HTTPS_HLS):
            raise errors.NotAvailable("no HLS packager on this platform yet: protocol_type 5 (rtsp)")
        url = yield self.core.api_play.relay_url(call.grant, dev_id, channel_no, 1)
        parts = urlsplit(url)
        token = parse_qs(parts.query).get("hashtoken", [""])[0]
        return Reply({"data": {"addr": parts.netloc, "accessToken": token, "type": "rtsp", "url": url,
                               "coveraddr": self.cover_address()}})

    def push_address(self, call):
        dev_id = views.device_id(call.query)
        call.grant.device(dev_id)
        raise errors.NotAvailable("devices do not push streams here; the platform pulls them (§4.1)")
