"""Who may play what through the platform's relay (§10.2, §15; PRODUCT.md "RTSP relay").

The first request of a relay connection names the stream and carries the
RelayPlayUrl's HashToken.  In order:

* 404 — not ``/realplay`` (a path says nothing about any device);
* 400 — a query no client of ours sends: a parameter twice, a control
  character (``%00``), an escape that is not UTF-8, a DevID, ChannelNo or
  StreamType that is not a small number — answered before any database query;
* 503 with ``Retry-After`` — the source address made too many failed token
  checks lately (:class:`kandian.throttle.FailureThrottle`, per address and per
  DevID from that address); answered without a database query;
* 401 — the token is missing, unknown, expired, already used, issued for
  another stream, or not a relay token (§7.5.5: one use, 60 s);
* 404 — (only after a valid token) no such device, channel or stream type;
* 403 — the stream is closed (``stream_profile.enabled``);
* 503 — the device is offline, or none of its addresses answers;
* 453 — the device already has ``max_streams_per_device`` relayed streams.

The token is checked before the device is looked up, so a guesser cannot
tell a known DevID from an unknown one.  A token is bound to one device,
channel and stream and consumed only by a request for exactly that stream
(one conditional UPDATE), so a mistyped channel does not burn it.  On success
the relay gets the device's addresses in the configured order (local, UPnP
when found reachable, TURN relay) that the dial policy admits
(:mod:`kandian.dialpolicy`: the device's own link address, a configured TURN
relay or an allowed network — a refused address is skipped like an
unreachable one), each with a fresh one-time token for the device to verify
over its link.
"""

from __future__ import annotations

import collections
import math
import re
from urllib.parse import quote, urlencode

from twisted.internet import defer
from twisted.logger import Logger

from ..dialpolicy import DialPolicy
from ..logs import peer_text
from ..store.pool import DatabaseUnavailable
from .relay import Refused, Upstream
from .url import parse_rtsp_url, strict_query

log = Logger()


def _unavailable(failure):
    failure.trap(DatabaseUnavailable)  # the pool logged the outage once
    raise Refused(503, "database unavailable")

_DEV_ID = re.compile(r"[0-9]{1,32}")
_SMALL_NUMBER = re.compile(r"[0-9]{1,9}")  # fits the store's integer columns
_TOKEN = re.compile(r"[0-9A-Za-z]{1,64}")


class PlatformAuthorizer:
    def __init__(self, store, tokens, links, clock, *, order=("local", "upnp", "turn"), max_streams: int = 4,
                 may_dial=None, throttle=None):
        """*may_dial(host, link_peer_ip)* is the dial policy (default: only the
        device's own link address); *throttle* a
        :class:`~kandian.throttle.FailureThrottle` for failed token checks, or None."""
        self.store = store
        self.tokens = tokens
        self.links = links
        self.clock = clock
        self.order = order
        self.max_streams = max_streams
        self.may_dial = may_dial if may_dial is not None else DialPolicy()
        self.throttle = throttle
        self.streams: collections.Counter = collections.Counter()  # DevID → relayed streams
        self.policy_refused = 0  # device-reported addresses the dial policy kept the relay from

    def authorize(self, request, peer):
        return self._authorize(request, peer).addErrback(_unavailable)

    @defer.inlineCallbacks
    def _authorize(self, request, peer):
        try:
            url = parse_rtsp_url(request.uri)
        except ValueError:
            raise Refused(404, "not an rtsp URL") from None
        if url.path.rstrip("/") != "/realplay":
            raise Refused(404, "unknown path")
        dev_id, channel_no, stream_type, file_name, token = _stream(url.raw_query)
        source = getattr(peer, "host", None) or "?"
        if not token:
            raise Refused(401, "no hashtoken")
        if self.throttle is not None and not self.throttle.allowed(source, dev_id):
            wait = max(1, math.ceil(self.throttle.retry_after(source, dev_id)))
            raise Refused(503, "too many failed token checks from this address",
                          headers=[("Retry-After", str(wait))])
        valid = _TOKEN.fullmatch(token) is not None
        if valid:
            valid = yield self.tokens.consume(token, dev_id, channel_no, stream_type=stream_type,
                                              file_name=file_name, now=self.clock.seconds(), purpose="relay")
        if not valid:
            if self.throttle is not None:
                self.throttle.failed(source, dev_id)
            raise Refused(401, "bad, expired or used hashtoken")
        if self.throttle is not None:
            self.throttle.succeeded(source, dev_id)
        target = yield self.store.target(dev_id, channel_no, stream_type)
        if target is None:
            raise Refused(404, "no such device")
        if not target.channel_exists or stream_type not in (None, 1, 2):
            raise Refused(404, "no such channel or stream")
        if not target.stream_enabled:
            raise Refused(403, "stream closed")
        if not self.links.online(dev_id):
            raise Refused(503, "device offline")
        if self.streams[dev_id] >= self.max_streams:
            raise Refused(453, "too many streams")
        peer_ip = self.links.peer_ip(dev_id)
        addresses = []
        for route in self.order:
            address = self._address(route, target)
            if address is None:
                continue
            if not self.may_dial(address[0], peer_ip):
                self.policy_refused += 1
                log.info("RTSP relay: {dev_id}'s {route} address {host} is not the device's own and not allowed:"
                         " not dialled", dev_id=dev_id, route=route, host=peer_text(address[0]))
                continue
            addresses.append(address)
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


def _stream(raw_query: str) -> tuple[str, int, int | None, str | None, str]:
    """(DevID, ChannelNo, StreamType or None, FileName or None, HashToken) of
    a play URL's query; :class:`Refused` 400 when it is malformed."""
    try:
        query = strict_query(raw_query)
    except ValueError as e:
        raise Refused(400, "bad query: %s" % (e,)) from None
    dev_id = query.get("devid", "")
    file_name = query.get("filename") or None
    channel_text = query.get("channelno", "")
    stream_text = query.get("streamtype", "")
    if not _DEV_ID.fullmatch(dev_id):
        raise Refused(400, "bad query: devid is not a DevID")
    if not _SMALL_NUMBER.fullmatch(channel_text):
        raise Refused(400, "bad query: channelno is not a channel number")
    if file_name is None and not _SMALL_NUMBER.fullmatch(stream_text):
        raise Refused(400, "bad query: streamtype is not a stream type")
    stream_type = None if file_name else int(stream_text)
    return dev_id, int(channel_text), stream_type, file_name, query.get("hashtoken", "")


def _host(host: str) -> str:
    return "[%s]" % host if ":" in host else host
