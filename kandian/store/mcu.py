"""What the MCU/CU web service reads and writes about devices (§8.8–§8.19).

The alarm pages of §8.19, channel aliases, firmware versions and the
remembered stream and alarm switches.  (Accounts, sessions and bindings are
:mod:`.users`, :mod:`.sessions` and :mod:`.bindings`.)  Every call that depends on time takes ``now`` (POSIX
seconds from the injected clock).
"""

from __future__ import annotations

from twisted.internet import defer

PAGE_SIZE = 10  # §8.19, §7.5.22: 10 per page


class McuStore:
    def __init__(self, db):
        self.db = db

    # -- channels, firmware

    @defer.inlineCallbacks
    def channel_exists(self, dev_id: str, channel_no: int):
        rows = yield self.db.runQuery("SELECT 1 FROM channel WHERE dev_id = %s AND channel_no = %s",
                                      (dev_id, channel_no))
        return bool(rows)

    @defer.inlineCallbacks
    def rename_channel(self, dev_id: str, channel_no: int, name: str):
        rows = yield self.db.runQuery("UPDATE channel SET name = %s WHERE dev_id = %s AND channel_no = %s"
                                      " RETURNING 1", (name, dev_id, channel_no))
        return bool(rows)

    @defer.inlineCallbacks
    def latest_firmware(self, manufacturer_no: str | None, model: str):
        """(NewDevVer, FtpFileName) of the newest firmware for the model, or None."""
        rows = yield self.db.runQuery(
            "SELECT dev_ver, file_name FROM firmware WHERE manufacturer_no = %s AND model = %s"
            " ORDER BY released_at DESC, firmware_id DESC LIMIT 1", (manufacturer_no, model))
        return rows[0] if rows else None

    def remember_alarm_switch(self, dev_id, channel_no, alarm_type, dido_no, flag) -> defer.Deferred:
        return self.db.runOperation(
            "INSERT INTO alarm_switch (dev_id, channel_no, alarm_type, dido_no, alarm_flag)"
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (dev_id, channel_no, alarm_type, dido_no)"
            " DO UPDATE SET alarm_flag = excluded.alarm_flag, updated_at = now()",
            (dev_id, channel_no, alarm_type, dido_no or 0, flag))

    def remember_stream(self, dev_id, channel_no, stream_type, answer) -> defer.Deferred:
        return self.db.runOperation(
            "INSERT INTO stream_profile (dev_id, channel_no, stream_type, frame_size, frame_rate, rate_type,"
            " bit_rate, audio_input) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (dev_id, channel_no, stream_type) DO UPDATE SET frame_size = excluded.frame_size,"
            " frame_rate = excluded.frame_rate, rate_type = excluded.rate_type, bit_rate = excluded.bit_rate,"
            " audio_input = excluded.audio_input, updated_at = now()",
            (dev_id, channel_no, stream_type, answer.FrameSize, answer.FrameRate, answer.RateType,
             answer.BitRate, answer.AudioInput))

    # -- alarms (§8.19)

    @defer.inlineCallbacks
    def alarms(self, user_id: int, dev_id: str | None, channel_no: int | None, start, end, page: int):
        """(total, rows of (DevName, AlarmType, DIDONoName, alarm_time)) newest first."""
        where = ["b.user_id = %s"]
        args: list = [user_id]
        if dev_id:
            where.append("a.dev_id = %s")
            args.append(dev_id)
            if channel_no is not None:
                where.append("a.channel_no = %s")
                args.append(channel_no)
        if start is not None:
            where.append("a.alarm_time >= %s")
            args.append(start)
        if end is not None:
            where.append("a.alarm_time <= %s")
            args.append(end)
        condition = " AND ".join(where)
        total = yield self.db.runQuery(
            "SELECT count(*) FROM alarm a JOIN user_device b USING (dev_id) WHERE " + condition, tuple(args))
        rows = yield self.db.runQuery(
            "SELECT coalesce(nullif(d.name, ''), d.dev_id), a.alarm_type, coalesce(x.name, ''), a.alarm_time"
            " FROM alarm a JOIN user_device b USING (dev_id) JOIN device d USING (dev_id)"
            " LEFT JOIN dido x ON x.dev_id = a.dev_id AND x.dido_no = a.dido_no"
            " WHERE " + condition + " ORDER BY a.alarm_time DESC, a.alarm_id DESC LIMIT %s OFFSET %s",
            tuple(args) + (PAGE_SIZE, (page - 1) * PAGE_SIZE))
        return total[0][0], rows
