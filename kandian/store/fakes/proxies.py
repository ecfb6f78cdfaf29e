"""In memory: :class:`kandian.store.proxies.ProxyStore` (tables stream_proxy, device, channel)."""

from __future__ import annotations

import secrets

from twisted.internet import defer

from ..proxies import MODEL, PREFIX, Proxy
from .devices import new_device


class FakeProxies:
    def __init__(self, store):
        self.node = store.node
        self.tables = store.tables
        self.proxy = self.tables.setdefault("stream_proxy", {})
        self.device = self.tables.setdefault("device", {})
        self.channel = self.tables.setdefault("channel", {})
        self._next = 0

    def add(self, url: str, name: str):
        self._next += 1
        dev_id = "%s%08d" % (PREFIX, self._next)
        self.device[dev_id] = new_device(dev_id, secrets.token_hex(16), model=MODEL, name=name, channel_num=1)
        self.channel[dev_id, 0] = name
        self.proxy[dev_id] = url
        return defer.succeed(dev_id)

    def list(self):
        return defer.succeed([Proxy(dev_id, self.device[dev_id]["name"], url, self.device[dev_id]["online"])
                              for dev_id, url in sorted(self.proxy.items()) if dev_id in self.device])

    def set_url(self, dev_id: str, url: str):
        found = dev_id in self.proxy
        if found:
            self.proxy[dev_id] = url
        return defer.succeed(found)

    def set_online(self, dev_id: str, online: bool, now: float):
        row = self.device.get(dev_id)
        if row is not None and row["model"] == MODEL:
            if online and not row["online"]:
                row["last_login_at"] = now
            if online:
                row["last_seen_at"] = now
            row.update(online=online, node=self.node)
        return defer.succeed(None)
