"""What the RTSP relay asks the store (§10.2, §15): does the stream exist, is
it open, where can the device be reached."""

from __future__ import annotations

from typing import NamedTuple

from twisted.internet import defer


class RelayTarget(NamedTuple):
    dev_id: str
    channel_exists: bool
    stream_enabled: bool
    local_ip: str | None
    rtsp_local_port: int | None
    upnp_ip: str | None
    rtsp_upnp_port: int | None
    upnp_reachable: bool | None
    turn_relay_ip: str | None
    rtsp_turn_relay_port: int | None
    proxy_url: str | None = None  # a stream proxy's source (kandian.store.proxies)


class RelayStore:
    def __init__(self, db):
        self.db = db

    @defer.inlineCallbacks
    def target(self, dev_id: str, channel_no: int, stream_type: int | None):
        """The device's addresses and whether the channel (and stream) exist
        and are open; None for an unknown device."""
        rows = yield self.db.runQuery(
            "SELECT d.dev_id,"
            " EXISTS (SELECT 1 FROM channel c WHERE c.dev_id = d.dev_id AND c.channel_no = %s),"
            " coalesce((SELECT p.enabled FROM stream_profile p WHERE p.dev_id = d.dev_id"
            "   AND p.channel_no = %s AND p.stream_type = %s), true),"
            " d.local_ip, d.rtsp_local_port, d.upnp_ip, d.rtsp_upnp_port, d.upnp_reachable,"
            " d.turn_relay_ip, d.rtsp_turn_relay_port,"
            " (SELECT s.url FROM stream_proxy s WHERE s.dev_id = d.dev_id)"
            " FROM device d WHERE d.dev_id = %s", (channel_no, channel_no, stream_type, dev_id))
        return RelayTarget(*rows[0]) if rows else None
