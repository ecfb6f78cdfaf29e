"""In memory: :class:`kandian.store.firmware.FirmwareStore` (the firmware catalogue)."""

from __future__ import annotations

from twisted.internet import defer


class FakeFirmware:
    def __init__(self, store):
        self.firmware = store.tables.setdefault("firmware", [])

    def add(self, manufacturer_no, model, dev_ver, file_name, released_at, file_size=None, sha256=None):
        if any((f[0], f[1], f[2]) == (manufacturer_no, model, dev_ver) for f in self.firmware):
            return defer.fail(ValueError("firmware %s %s %s exists" % (manufacturer_no, model, dev_ver)))
        self.firmware.append((manufacturer_no, model, dev_ver, file_name, released_at, len(self.firmware)))
        return defer.succeed(None)

    def latest(self, manufacturer_no, model):
        mine = [f for f in self.firmware if (f[0], f[1]) == (manufacturer_no, model)]
        if not mine:
            return defer.succeed(None)
        newest = max(mine, key=lambda f: (f[4], f[5]))
        return defer.succeed((newest[2], newest[3]))
