"""In memory: :class:`kandian.store.files.FileStore` (device_file, picture, alarm.picture_id, ftp_generation).

Alarms are the rows of :class:`kandian.store.fakes.alarms.FakeAlarms` (dicts
in the ``alarm`` table, which gain a ``picture_id``); the device's generation
is a column of the fake ``device`` table.
"""

from __future__ import annotations

import itertools

from twisted.internet import defer

from ...core.errors import NoSuchDevice
from ..files import LINK_WINDOW, AlarmRow, Expired, StoredPicture, Upload, _checked


class FakeFiles:
    def __init__(self, store):
        self.tables = store.tables
        self.device = self.tables.setdefault("device", {})
        self.alarm = self.tables.setdefault("alarm", [])
        self.device_file = self.tables.setdefault("device_file", {})  # (dev_id, area, name) → (size, sha256, at)
        self.picture = self.tables.setdefault("picture_row", {})  # picture_id → dict
        self._ids = itertools.count(1)

    def account(self, dev_id):
        row = self.device.get(dev_id)
        if row is None:
            return defer.succeed(None)
        return defer.succeed((row.get("ftp_generation", 0),
                              sum(v[0] for k, v in self.device_file.items() if k[0] == dev_id)))

    def accounts(self, dev_ids):
        rows = {}
        for dev_id in dev_ids:
            row = self.device.get(dev_id)
            if row is not None:
                rows[dev_id] = (row.get("ftp_generation", 0),
                                sum(v[0] for k, v in self.device_file.items() if k[0] == dev_id))
        return defer.succeed(rows)

    def rotate(self, dev_id):
        row = self.device.get(dev_id)
        if row is None:
            return defer.fail(NoSuchDevice(dev_id))
        row["ftp_generation"] = row.get("ftp_generation", 0) + 1
        return defer.succeed(row["ftp_generation"])

    def stored(self, dev_id, area, file_name, size, sha256, now, *, channel_no=None, taken_at=None):
        return self.stored_many([Upload(dev_id, area, file_name, size, sha256, now, channel_no, taken_at)])

    def stored_many(self, uploads):
        try:
            uploads = _checked(uploads)
        except ValueError as e:
            return defer.fail(e)
        if any(u.dev_id not in self.device for u in uploads):
            return defer.fail(ValueError("no such device (foreign key)"))
        for u in uploads:
            self.device_file[u.dev_id, u.area, u.file_name] = (u.size, u.sha256, u.now)
            if u.area == "pictures":
                p = self._picture(u.dev_id, u.file_name)
                if p is None:
                    p = self._new_picture(u.dev_id, u.channel_no, u.file_name, u.taken_at, u.now)
                elif p["taken_at"] is None:
                    p["taken_at"] = u.taken_at
                self._link_alarms(p)
        return defer.succeed(None)

    def notified(self, dev_id, channel_no, file_name, taken_at, now):
        p = self._picture(dev_id, file_name)
        if p is None:
            p = self._new_picture(dev_id, channel_no, file_name, taken_at, now)
            p["notified_at"] = now
        else:
            p["notified_at"] = p["notified_at"] if p["notified_at"] is not None else now
            p["taken_at"] = taken_at if taken_at is not None else p["taken_at"]
        self._link_alarms(p)
        return defer.succeed((dev_id, "pictures", file_name) in self.device_file)

    def link_alarm(self, alarm_id):
        a = self._alarm(alarm_id)
        if a is None:
            return defer.succeed(None)
        best = None
        for p in self.picture.values():
            if p["dev_id"] != a["dev_id"]:
                continue
            named = bool(a["file_name"]) and p["file_name"] == a["file_name"]
            near = p["channel_no"] == a["channel_no"] and abs(p["received_at"] - a["at"]) <= LINK_WINDOW
            if named or near:
                key = (not named, abs(p["received_at"] - a["at"]), -p["picture_id"])
                if best is None or key < best[0]:
                    best = (key, p["picture_id"])
        a["picture_id"] = best[1] if best is not None else None
        return defer.succeed(a["picture_id"])

    def alarm_picture(self, alarm_id):
        a = self._alarm(alarm_id)
        p = self.picture.get(a.get("picture_id")) if a is not None else None
        if p is None:
            return defer.succeed(None)
        on_disk = self.device_file.get((p["dev_id"], "pictures", p["file_name"]))
        if on_disk is None:
            return defer.succeed(None)
        return defer.succeed(StoredPicture(p["dev_id"], p["file_name"], on_disk[0], on_disk[1], p["taken_at"]))

    def alarms(self, dev_id=None, limit=50):
        rows = [a for a in self.alarm if dev_id is None or a["dev_id"] == dev_id]
        rows.sort(key=lambda a: (a["at"], a["alarm_id"]), reverse=True)
        out = []
        for a in rows[:limit]:
            p = self.picture.get(a.get("picture_id"))
            name = p["file_name"] if p is not None else None
            out.append(AlarmRow(a["alarm_id"], a["dev_id"], a["channel_no"], a["alarm_type"], a["at"], name,
                                p is not None and (a["dev_id"], "pictures", name) in self.device_file))
        return defer.succeed(out)

    # -- helpers

    def _alarm(self, alarm_id):
        return next((a for a in self.alarm if a["alarm_id"] == alarm_id), None)

    def expired(self, before, limit):
        old = sorted((at, key) for key, (_, _, at) in self.device_file.items() if at < before)[:limit]
        logs = self.tables.setdefault("device_log", {})
        gone = []
        for _, (dev_id, area, file_name) in old:
            del self.device_file[dev_id, area, file_name]
            if area == "pictures":
                p = self._picture(dev_id, file_name)
                if p is not None:
                    self._drop_picture(p)
            else:
                logs.pop((dev_id, file_name), None)
            gone.append(Expired(dev_id, area, file_name))
        return defer.succeed(gone)

    def unsent_pictures(self, before, limit):
        old = sorted((p["received_at"], p["picture_id"]) for p in self.picture.values()
                     if p["received_at"] < before and (p["dev_id"], "pictures", p["file_name"]) not in self.device_file)
        for _, picture_id in old[:limit]:
            self._drop_picture(self.picture[picture_id])
        return defer.succeed(len(old[:limit]))

    def _drop_picture(self, p):
        del self.picture[p["picture_id"]]
        for a in self.alarm:
            if a.get("picture_id") == p["picture_id"]:
                a["picture_id"] = None

    def _picture(self, dev_id, file_name):
        return next((p for p in self.picture.values() if (p["dev_id"], p["file_name"]) == (dev_id, file_name)), None)

    def _new_picture(self, dev_id, channel_no, file_name, taken_at, now):
        picture_id = next(self._ids)
        p = self.picture[picture_id] = dict(picture_id=picture_id, dev_id=dev_id, channel_no=channel_no,
                                            file_name=file_name, taken_at=taken_at, received_at=now,
                                            notified_at=None)
        return p

    def _link_alarms(self, p):
        for a in self.alarm:
            if a["dev_id"] != p["dev_id"]:
                continue
            named = bool(a["file_name"]) and a["file_name"] == p["file_name"]
            near = (a.get("picture_id") is None and a["channel_no"] == p["channel_no"]
                    and abs(a["at"] - p["received_at"]) <= LINK_WINDOW)
            if named or near:
                a["picture_id"] = p["picture_id"]
