"""In memory: :class:`kandian.store.apifiles.ApiFileStore` (api_picture, api_object, what device_file holds).

A picture belongs to the device dict it was stored for, as profiles do
(:mod:`.profiles`): deleting the device deletes its pictures.
"""

from __future__ import annotations

from twisted.internet import defer

from ..apifiles import NameTaken, ObjectRow, PictureRow, Usage


class FakeApiFiles:
    def __init__(self, store):
        self.tables = store.tables
        self.device = self.tables.setdefault("device", {})
        self.channel = self.tables.setdefault("channel", {})
        self.pictures_table = self.tables.setdefault("api_picture", {})  # (dev_id, channel_no, name) → (device, row)
        self.objects_table = self.tables.setdefault("api_object", {})  # name → ObjectRow
        self.device_file = self.tables.setdefault("device_file", {})  # (dev_id, area, name) → (size, sha, at)

    def _live(self):
        return {k: row for k, (device, row) in self.pictures_table.items()
                if self.device.get(k[0]) is device and k[:2] in self.channel}

    def add_picture(self, row: PictureRow):
        key = (row.dev_id, row.channel_no, row.name)
        if key[:2] not in self.channel:
            return defer.succeed(False)
        if key in self._live():
            return defer.fail(NameTaken("picture %s" % (row.name,)))
        self.pictures_table[key] = (self.device[row.dev_id], row)
        return defer.succeed(True)

    def picture(self, dev_id, channel_no, name):
        return defer.succeed(self._live().get((dev_id, channel_no, name)))

    def pictures(self, dev_id, channel_no, since, until, offset, limit):
        rows = [r for k, r in self._live().items() if k[:2] == (dev_id, channel_no)
                and (since is None or r.created_at >= since) and (until is None or r.created_at <= until)]
        rows.sort(key=lambda r: (r.created_at, r.name))
        return defer.succeed((len(rows), rows[offset:offset + limit]))

    def delete_picture(self, dev_id, channel_no, name):
        row = self._live().get((dev_id, channel_no, name))
        if row is not None:
            del self.pictures_table[dev_id, channel_no, name]
        return defer.succeed(row)

    def add_object(self, row: ObjectRow):
        if row.name in self.objects_table:
            return defer.fail(NameTaken("object %s" % (row.name,)))
        self.objects_table[row.name] = row
        return defer.succeed(None)

    def object(self, name):
        return defer.succeed(self.objects_table.get(name))

    def objects(self, prefix, offset, limit):
        rows = sorted((r for r in self.objects_table.values() if not prefix or r.name.startswith(prefix)),
                      key=lambda r: r.name)
        return defer.succeed((len(rows), rows[offset:offset + limit]))

    def delete_object(self, name):
        return defer.succeed(self.objects_table.pop(name, None) is not None)

    # -- recordings' names

    def _videos(self):
        table = self.tables.setdefault("api_video", {})  # recording_id → (device row, dev_id, channel_no, name)
        return {k: v for k, v in table.items() if self.device.get(v[1]) is v[0]}

    def video_names(self, recording_ids):
        live = self._videos()
        return defer.succeed({i: live[i][3] for i in recording_ids if i in live})

    def rename_video(self, recording_id, dev_id, channel_no, name):
        if dev_id not in self.device:
            return defer.fail(ValueError("no such device (foreign key)"))
        self.tables.setdefault("api_video", {})[recording_id] = (self.device[dev_id], dev_id, channel_no, name)
        return defer.succeed(None)

    def videos_named(self, dev_id, channel_no, name, limit):
        return defer.succeed(sorted(i for i, v in self._videos().items() if v[1:] == (dev_id, channel_no, name))[
            :limit])

    def forget_videos(self, recording_ids):
        table = self.tables.setdefault("api_video", {})
        for i in recording_ids:
            table.pop(i, None)
        return defer.succeed(None)

    def _device_bytes(self, dev_id):
        return (sum(v[0] for k, v in self.device_file.items() if k[0] == dev_id)
                + sum(r.size for k, r in self._live().items() if k[0] == dev_id))

    def used(self):
        return defer.succeed(sum(v[0] for k, v in self.device_file.items() if k[0] in self.device)
                             + sum(r.size for r in self._live().values())
                             + sum(r.size for r in self.objects_table.values()))

    def usage(self, dev_id, name, offset, limit):
        rows = [Usage(d, row["name"], self._device_bytes(d)) for d, row in sorted(self.device.items())
                if (not dev_id or d == dev_id) and (not name or name.lower() in row["name"].lower())]
        return defer.succeed((len(rows), rows[offset:offset + limit]))
