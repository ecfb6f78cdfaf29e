"""In memory: :class:`kandian.store.firmware.FirmwareStore` (the firmware catalogue)."""

from __future__ import annotations

import datetime

from twisted.internet import defer

from ...core.errors import FirmwareExists
from ..firmware import Firmware
from .devices import MANUFACTURERS


class FakeFirmware:
    def __init__(self, store):
        self.firmware: dict[int, Firmware] = store.tables.setdefault("firmware", {})

    def add(self, manufacturer_no, model, dev_ver, file_name, released_at, file_size=None, sha256=None, place=None):
        if any((f.manufacturer_no, f.model, f.dev_ver) == (manufacturer_no, model, dev_ver)
               for f in self.firmware.values()):
            return defer.fail(FirmwareExists("firmware %s %s %s exists" % (manufacturer_no, model, dev_ver)))
        if manufacturer_no not in MANUFACTURERS:
            return defer.fail(ValueError("unknown manufacturer %r (§7.2)" % (manufacturer_no,)))
        firmware_id = max(self.firmware, default=0) + 1
        try:
            if place is not None:
                place(firmware_id)
        except Exception:
            return defer.fail()
        self.firmware[firmware_id] = Firmware(
            firmware_id, manufacturer_no, model, dev_ver, file_name, file_size, sha256,
            datetime.datetime.fromtimestamp(released_at, datetime.UTC))
        return defer.succeed(firmware_id)

    def get(self, firmware_id):
        return defer.succeed(self.firmware.get(firmware_id))

    def list(self):
        return defer.succeed([f for _, f in sorted(self.firmware.items())])

    def for_model(self, manufacturer_no, model):
        return defer.succeed([f for _, f in sorted(self.firmware.items())
                              if (f.manufacturer_no, f.model) == (manufacturer_no, model)])
