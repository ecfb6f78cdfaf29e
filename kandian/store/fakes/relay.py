"""The in-memory ``relay`` component: :class:`kandian.store.relay.RelayStore` (§10.2, §15) without SQL.

Reads the shared tables ``device`` (DevID → dict of the table's columns),
``channel`` ((DevID, ChannelNo) → dict) and ``stream_profile``
((DevID, ChannelNo, StreamType) → dict with ``enabled``).
"""

from __future__ import annotations

from twisted.internet import defer

from ..relay import RelayTarget

_ADDRESS_COLUMNS = ("local_ip", "rtsp_local_port", "upnp_ip", "rtsp_upnp_port", "upnp_reachable",
                    "turn_relay_ip", "rtsp_turn_relay_port")


class FakeRelay:
    def __init__(self, store):
        self.tables = store.tables

    def target(self, dev_id: str, channel_no: int, stream_type: int | None):
        device = self.tables.get("device", {}).get(dev_id)
        if device is None:
            return defer.succeed(None)
        profile = self.tables.get("stream_profile", {}).get((dev_id, channel_no, stream_type))
        return defer.succeed(RelayTarget(
            dev_id, (dev_id, channel_no) in self.tables.get("channel", {}),
            True if profile is None else profile.get("enabled", True),
            *(device.get(column) for column in _ADDRESS_COLUMNS), self.tables.get("stream_proxy", {}).get(dev_id)))
