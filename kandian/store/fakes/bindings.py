"""The in-memory :class:`kandian.store.bindings.Bindings` (table ``user_device``).

Devices and channels are read from the shared tables ``device`` (dev_id →
its columns as a dict) and ``channel`` ((dev_id, channel_no) → {"name"}).
"""

from __future__ import annotations

from twisted.internet import defer

from ...core.errors import AlreadyBound, OverLimit
from ..bindings import BoundDevice, ListedChannel

_BOUND = BoundDevice._fields[4:]  # the device's columns after dev_id, dev_key, share_flag


def bound_device(tables, user_id: int, dev_id: str):
    flag = tables.setdefault("user_device", {}).get((user_id, dev_id))
    device = tables.setdefault("device", {}).get(dev_id)
    if flag is None or device is None:
        return None
    return BoundDevice(user_id, dev_id, device["dev_key"], flag, *(device.get(c) for c in _BOUND))


def device_list(tables, user_id: int) -> list:
    devices, channels = tables.setdefault("device", {}), tables.setdefault("channel", {})
    listed = []
    for (uid, dev_id), flag in tables.setdefault("user_device", {}).items():
        if uid != user_id or dev_id not in devices:
            continue
        d = devices[dev_id]
        for (cid, channel_no), channel in channels.items():
            if cid != dev_id:
                continue
            listed.append(ListedChannel(
                dev_id, channel_no, channel.get("name") or d.get("name") or dev_id, bool(d.get("online")),
                bool(d.get("ptz_flag")), flag, bool(d.get("motion_detection_flag")),
                bool(d.get("infrared_detection_flag")), bool(d.get("manual_alarm_flag")),
                bool(d.get("dido_alarm_flag")), sorted(d.get("videos", [])), sorted(d.get("didos", []))))
    listed.sort(key=lambda c: (c.share_flag, c.dev_id, c.channel_no))
    return listed


class FakeBindings:
    def __init__(self, store):
        self.tables = store.tables
        self.rows: dict[tuple[int, str], int] = store.tables.setdefault("user_device", {})  # → share_flag
        self.devices: dict[str, dict] = store.tables.setdefault("device", {})

    def _blocks(self, user_id, dev_id) -> bool:
        return any(d == dev_id and (flag == 0 or u == user_id) for (u, d), flag in self.rows.items())

    def bound(self, user_id: int, dev_id: str) -> defer.Deferred:
        return defer.succeed(bound_device(self.tables, user_id, dev_id))

    def key_and_binding(self, dev_id: str, user_id: int) -> defer.Deferred:
        device = self.devices.get(dev_id)
        if device is None:
            return defer.succeed((None, False))
        return defer.succeed((device["dev_key"], self._blocks(user_id, dev_id)))

    def bind(self, user_id: int, dev_id: str, max_devices: int) -> defer.Deferred:
        if self._blocks(user_id, dev_id):
            return defer.fail(AlreadyBound("%s for user %d" % (dev_id, user_id)))
        if sum(1 for (u, _), flag in self.rows.items() if u == user_id and flag == 0) >= max_devices:
            return defer.fail(OverLimit("%s for user %d" % (dev_id, user_id)))
        self.rows[(user_id, dev_id)] = 0
        return defer.succeed(None)

    def share(self, user_id: int, dev_id: str) -> defer.Deferred:
        if (user_id, dev_id) in self.rows:
            return defer.fail(AlreadyBound("%s for user %d" % (dev_id, user_id)))
        self.rows[(user_id, dev_id)] = 1
        return defer.succeed(None)

    def unbind_all(self, dev_id: str) -> defer.Deferred:
        for key in [k for k in self.rows if k[1] == dev_id]:
            del self.rows[key]
        return defer.succeed(None)
