"""Devices and their channels (§7.2, §7.5.1–3; tables device, channel)."""

from __future__ import annotations

import re
from typing import NamedTuple

import psycopg2
from twisted.internet import defer

DEV_ID = re.compile(r"^[0-9]{11}$")
DEV_TYPES = {1: "IPC", 2: "DVR", 3: "NVR"}


class DeviceExists(Exception):
    pass


class Device(NamedTuple):
    dev_id: str
    dev_type: int
    model: str
    manufacturer: str | None
    channels: int
    online: bool
    dev_ver: str | None
    last_seen_at: object


class DeviceStore:
    def __init__(self, db):
        self.db = db

    @defer.inlineCallbacks
    def add(self, dev_id: str, dev_key: str, dev_type: int = 1, model: str = "",
            channels: int = 1, provisioned_by: str = "operator"):
        """Provision a device with *channels* channels numbered from 0."""
        if not DEV_ID.match(dev_id):
            raise ValueError("DevID must be 11 digits (§7.2): %r" % (dev_id,))
        if not dev_key:
            raise ValueError("DevKey must not be empty")
        if dev_type not in DEV_TYPES:
            raise ValueError("device type must be 1 (IPC), 2 (DVR) or 3 (NVR)")
        if not 1 <= channels <= 256:
            raise ValueError("channels must be between 1 and 256")

        @defer.inlineCallbacks
        def insert(cursor):
            yield cursor.execute(
                "INSERT INTO device (dev_id, dev_key, dev_type, model, manufacturer_no, provisioned_by,"
                " channel_num)"
                " VALUES (%s, %s, %s, %s, (SELECT manufacturer_no FROM manufacturer"
                "  WHERE manufacturer_no = substr(%s, 1, 3)), %s, %s)",
                (dev_id, dev_key, dev_type, model, dev_id, provisioned_by, channels))
            yield cursor.execute(
                "INSERT INTO channel (dev_id, channel_no) SELECT %s, n FROM generate_series(0, %s - 1) n",
                (dev_id, channels))

        try:
            yield self.db.runInteraction(insert)
        except psycopg2.errors.UniqueViolation:
            raise DeviceExists("device %s already exists" % (dev_id,)) from None

    @defer.inlineCallbacks
    def list(self):
        rows = yield self.db.runQuery(
            "SELECT d.dev_id, d.dev_type, d.model, m.name,"
            " (SELECT count(*) FROM channel c WHERE c.dev_id = d.dev_id),"
            " d.online, d.dev_ver, d.last_seen_at"
            " FROM device d LEFT JOIN manufacturer m USING (manufacturer_no) ORDER BY d.dev_id")
        return [Device(*row) for row in rows]

    # -- what the platform remembers of a device's answers (§8.9, §8.18), channel names (§8.17)

    def remember_stream(self, dev_id, channel_no, stream_type, frame_size, frame_rate, rate_type, bit_rate,
                        audio_input) -> defer.Deferred:
        return self.db.runOperation(
            "INSERT INTO stream_profile (dev_id, channel_no, stream_type, frame_size, frame_rate, rate_type,"
            " bit_rate, audio_input) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (dev_id, channel_no, stream_type) DO UPDATE SET frame_size = excluded.frame_size,"
            " frame_rate = excluded.frame_rate, rate_type = excluded.rate_type, bit_rate = excluded.bit_rate,"
            " audio_input = excluded.audio_input, updated_at = now()",
            (dev_id, channel_no, stream_type, frame_size, frame_rate, rate_type, bit_rate, audio_input))

    def remember_alarm_switch(self, dev_id, channel_no, alarm_type, dido_no, flag) -> defer.Deferred:
        return self.db.runOperation(
            "INSERT INTO alarm_switch (dev_id, channel_no, alarm_type, dido_no, alarm_flag)"
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (dev_id, channel_no, alarm_type, dido_no)"
            " DO UPDATE SET alarm_flag = excluded.alarm_flag, updated_at = now()",
            (dev_id, channel_no, alarm_type, dido_no or 0, flag))

    @defer.inlineCallbacks
    def rename_channel(self, dev_id: str, channel_no: int, name: str):
        """True if the device has that channel (now named *name*)."""
        rows = yield self.db.runQuery("UPDATE channel SET name = %s WHERE dev_id = %s AND channel_no = %s"
                                      " RETURNING 1", (name, dev_id, channel_no))
        return bool(rows)
