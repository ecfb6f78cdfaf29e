"""In memory: :class:`kandian.store.devlogs.DeviceLogStore` (tables device_log_request, device_log)."""

from __future__ import annotations

import datetime

from twisted.internet import defer

from ...core.errors import NoSuchDevice
from ..devlogs import LogFile, LogRequest


def _at(now):
    return None if now is None else datetime.datetime.fromtimestamp(now, datetime.UTC)


class FakeDeviceLogs:
    def __init__(self, store):
        self.node = store.node
        self.device = store.tables.setdefault("device", {})
        self.requests: dict[int, dict] = store.tables.setdefault("device_log_request", {})
        self.logs: dict[tuple[str, str], tuple] = store.tables.setdefault("device_log", {})

    def request(self, dev_id, now):
        if dev_id not in self.device:
            return defer.fail(NoSuchDevice(dev_id))
        request_id = max(self.requests, default=0) + 1
        self.requests[request_id] = dict(request_id=request_id, dev_id=dev_id, state="pending", reason="",
                                         node=None, requested_at=now, handled_at=None)
        return defer.succeed(request_id)

    def _row(self, r):
        return LogRequest(*(_at(r[f]) if f.endswith("_at") else r[f] for f in LogRequest._fields))

    def get(self, request_id):
        r = self.requests.get(request_id)
        return defer.succeed(None if r is None else self._row(r))

    def ready(self, limit):
        found = [self._row(r) for _, r in sorted(self.requests.items())
                 if r["state"] == "pending" and self.device.get(r["dev_id"], {}).get("online")
                 and self.device[r["dev_id"]]["node"] == self.node]
        return defer.succeed(found[:limit])

    def take(self, request_id, now):
        r = self.requests.get(request_id)
        if r is None or r["state"] != "pending":
            return defer.succeed(False)
        r.update(state="sending", node=self.node, handled_at=now)
        return defer.succeed(True)

    def settle(self, request_id, state, reason, now):
        if state not in ("sent", "refused", "pending"):
            return defer.fail(ValueError("a request settles as sent, refused or pending, not %r" % (state,)))
        r = self.requests.get(request_id)
        if r is None or r["state"] != "sending":
            return defer.succeed(False)
        r.update(state=state, reason=reason, handled_at=now, node=None if state == "pending" else r["node"])
        return defer.succeed(True)

    def expire(self, requested_before, reason, now):
        count = 0
        for r in self.requests.values():
            if r["state"] in ("pending", "sending") and r["requested_at"] < requested_before:
                r.update(state="expired", reason=reason, handled_at=now)
                count += 1
        return defer.succeed(count)

    def stored(self, dev_id, file_name, size, sha256, now):
        if dev_id not in self.device:
            return defer.fail(NoSuchDevice(dev_id))
        self.logs[dev_id, file_name] = (size, sha256, now)
        return defer.succeed(None)

    def files(self, dev_id):
        mine = [(now, name, size, sha) for (dev, name), (size, sha, now) in self.logs.items() if dev == dev_id]
        mine.sort(key=lambda f: (-f[0], f[1]))
        return defer.succeed([LogFile(dev_id, name, size, sha, _at(now)) for now, name, size, sha in mine])
