"""The firmware catalogue (§7.5.17 UPGRADE_REQ, §8.14 GetFirmwareVersion, §8.15 NotifyUpgrade; table firmware)."""

from __future__ import annotations

from twisted.internet import defer


class FirmwareStore:
    def __init__(self, db):
        self.db = db

    def add(self, manufacturer_no: str, model: str, dev_ver: str, file_name: str, released_at: float,
            file_size: int | None = None, sha256: str | None = None) -> defer.Deferred:
        return self.db.runOperation(
            "INSERT INTO firmware (manufacturer_no, model, dev_ver, file_name, file_size, sha256, released_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, to_timestamp(%s))",
            (manufacturer_no, model, dev_ver, file_name, file_size, sha256, released_at))

    @defer.inlineCallbacks
    def latest(self, manufacturer_no: str | None, model: str):
        """(NewDevVer, FtpFileName) of the newest firmware for the model, or None."""
        rows = yield self.db.runQuery(
            "SELECT dev_ver, file_name FROM firmware WHERE manufacturer_no = %s AND model = %s"
            " ORDER BY released_at DESC, firmware_id DESC LIMIT 1", (manufacturer_no, model))
        return tuple(rows[0]) if rows else None
