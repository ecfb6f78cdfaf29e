"""Who may play what through the platform's relay (§10.2, §15; PRODUCT.md "RTSP relay").

The first request of a relay connection names the stream and carries the
RelayPlayUrl's HashToken.  In order:

* 404 — not ``/realplay``, or no such device, channel or stream type;
* 401 — the token is missing, unknown, expired, already used, issued for
  another stream, or not a relay token (§7.5.5: one use, 60 s);
* 403 — the stream is closed (``stream_profile.enabled``);
* 503 — the device is offline, or none of its addresses answers;
* 453 — the device already has ``max_streams_per_device`` relayed streams.

A token is consumed only once the stream is known to exist, so a mistyped
channel does not burn it.  On success the relay gets the device's addresses
in the configured order (local, UPnP when found reachable, TURN relay), each
with a fresh one-time token for the device to verify over its link.
"""

from __future__ import annotations

import collections
from urllib.parse import quote, urlencode

from twisted.internet import defer

from .url import parse_rtsp_url
from .relay import Refused, Upstream


class PlatformAuthorizer:
    def __init__(self, store, tokens, links, clock, *, order=("local", "upnp", "turn"), max_streams: int = 4):
        self.store = store
        self.tokens = tokens
        self.links = links
        self.clock = clock
        self.order = order
        self.max_streams = max_streams
        self.streams: collections.Counter = collections.Counter()  # DevID → relayed streams

    @defer.inlineCallbacks
    def authorize(self, request, peer):
        try:
            url = parse_rtsp_url(request.uri)
        except ValueError:
            raise Refused(404, "not an rtsp URL") from None
        if url.path.rstrip("/") != "/realplay":
            raise Refused(404, "unknown path")
        query = url.query
        dev_id = query.get("devid", "")
        file_name = query.get("filename") or None
        try:
            channel_no = int(query.get("channelno", ""))
            stream_type = None if file_name else int(query.get("streamtype", ""))
        except ValueError:
            raise Refused(404, "no such channel or stream") from None
        token = query.get("hashtoken", "")
        target = yield self.store.target(dev_id, channel_no, stream_type)
        if target is None:
            raise Refused(404, "no such device")
        if not target.channel_exists or stream_type not in (None, 1, 2):
            raise Refused(404, "no such channel or stream")
        if not token:
            raise Refused(401, "no hashtoken")
        valid = yield self.tokens.consume(token, dev_id, channel_no, stream_type=stream_type,
                                          file_name=file_name, now=self.clock.seconds(), purpose="relay")
        if not valid:
            raise Refused(401, "bad, expired or used hashtoken")
        if not target.stream_enabled:
            raise Refused(403, "stream closed")
        if not self.links.online(dev_id):
            raise Refused(503, "device offline")
        if self.streams[dev_id] >= self.max_streams:
            raise Refused(453, "too many streams")
        addresses = [address for address in (self._address(route, target) for route in self.order) if address]
        if not addresses:
            raise Refused(503, "device reported no address the relay can use")
        fresh = yield self.tokens.issue(dev_id, channel_no, stream_type=stream_type, file_name=file_name,
                                        purpose="client", now=self.clock.seconds())
        params = [("devid", dev_id), ("channelno", str(channel_no))]
        params.append(("filename", file_name) if file_name else ("streamtype", str(stream_type)))
        params.append(("hashtoken", fresh))
        query_text = urlencode(params, quote_via=quote)
        self.streams[dev_id] += 1
        return Upstream(dev_id, [(host, port, "rtsp://%s:%d/realplay?%s" % (_host(host), port, query_text))
                                 for host, port in addresses])

    def release(self, key: str) -> None:
        self.streams[key] -= 1
        if self.streams[key] <= 0:
            del self.streams[key]

    @staticmethod
    def _address(route: str, target):
        if route == "local":
            address = (target.local_ip, target.rtsp_local_port)
        elif route == "upnp":
            address = (target.upnp_ip, target.rtsp_upnp_port) if target.upnp_reachable else (None, None)
        elif route == "turn":
            address = (target.turn_relay_ip, target.rtsp_turn_relay_port)
        else:
            return None
        host, port = address
        if not host or host == "0.0.0.0" or not port:
            return None
        return host, port


def _host(host: str) -> str:
    return "[%s]" % host if ":" in host else host
