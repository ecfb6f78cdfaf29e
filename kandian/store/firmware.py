"""The firmware catalogue (§7.5.17 UPGRADE_REQ, §8.14 GetFirmwareVersion, §8.15 NotifyUpgrade; table firmware).

A row names one image: manufacturer, model, DevVer, file name, size and
sha256.  The image itself lives on disk under ``[files] root``; :meth:`add`
takes a *place* callable that moves it there inside the inserting
transaction, so a row never names an image that was not placed.
"""

from __future__ import annotations

import datetime
from typing import NamedTuple

import psycopg2
from twisted.internet import defer

from ..core.errors import FirmwareExists


class Firmware(NamedTuple):
    firmware_id: int
    manufacturer_no: str
    model: str
    dev_ver: str
    file_name: str
    file_size: int | None
    sha256: str | None
    released_at: datetime.datetime


_COLUMNS = "firmware_id, manufacturer_no, model, dev_ver, file_name, file_size, sha256, released_at"


class FirmwareStore:
    def __init__(self, db):
        self.db = db

    @defer.inlineCallbacks
    def add(self, manufacturer_no: str, model: str, dev_ver: str, file_name: str, released_at: float,
            file_size: int | None = None, sha256: str | None = None, place=None):
        """The new row's firmware_id; *place(firmware_id)*, when given, runs
        before the commit (a failure there rolls the row back).  Fails
        FirmwareExists for a version the model has already."""

        @defer.inlineCallbacks
        def insert(cursor):
            yield cursor.execute(
                "INSERT INTO firmware (manufacturer_no, model, dev_ver, file_name, file_size, sha256, released_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, to_timestamp(%s)) RETURNING firmware_id",
                (manufacturer_no, model, dev_ver, file_name, file_size, sha256, released_at))
            firmware_id = cursor.fetchone()[0]
            if place is not None:
                place(firmware_id)
            return firmware_id

        try:
            firmware_id = yield self.db.runInteraction(insert)
        except psycopg2.errors.UniqueViolation:
            raise FirmwareExists("firmware %s %s %s exists" % (manufacturer_no, model, dev_ver)) from None
        except psycopg2.errors.ForeignKeyViolation:
            raise ValueError("unknown manufacturer %r (§7.2)" % (manufacturer_no,)) from None
        return firmware_id

    @defer.inlineCallbacks
    def get(self, firmware_id: int):
        rows = yield self.db.runQuery("SELECT %s FROM firmware WHERE firmware_id = %%s" % _COLUMNS, (firmware_id,))
        return Firmware(*rows[0]) if rows else None

    @defer.inlineCallbacks
    def list(self):
        rows = yield self.db.runQuery("SELECT %s FROM firmware ORDER BY firmware_id" % _COLUMNS)
        return [Firmware(*row) for row in rows]

    @defer.inlineCallbacks
    def for_model(self, manufacturer_no: str | None, model: str):
        """Every catalogued firmware of the model, oldest row first (the core picks by version)."""
        rows = yield self.db.runQuery(
            "SELECT %s FROM firmware WHERE manufacturer_no = %%s AND model = %%s ORDER BY firmware_id" % _COLUMNS,
            (manufacturer_no, model))
        return [Firmware(*row) for row in rows]
