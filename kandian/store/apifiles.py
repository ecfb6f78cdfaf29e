"""Pictures and objects stored through the device-cloud video API (spec/001 §5, §16, §18; tables api_picture,
api_object, device_file).

The files themselves are the core's (:mod:`kandian.core.apifiles`); here are
their rows: name, size, SHA-256, description, time.  Times are POSIX seconds.
"""

from __future__ import annotations

from typing import NamedTuple

import psycopg2
from twisted.internet import defer


class NameTaken(Exception):
    pass


class PictureRow(NamedTuple):
    dev_id: str
    channel_no: int
    name: str
    format: str
    size: int
    sha256: str
    description: str
    created_at: float


class ObjectRow(NamedTuple):
    name: str
    size: int
    sha256: str
    description: str
    created_at: float


class Usage(NamedTuple):
    dev_id: str
    name: str
    used: int  # bytes: FTP uploads and API pictures


_PICTURE = ("SELECT dev_id, channel_no, name, format, size, sha256, description,"
            " extract(epoch FROM created_at)::float8 FROM api_picture")
_OBJECT = "SELECT name, size, sha256, description, extract(epoch FROM created_at)::float8 FROM api_object"


def _unique(failure, what):
    failure.trap(psycopg2.errors.UniqueViolation)
    raise NameTaken(what)


class ApiFileStore:
    def __init__(self, db):
        self.db = db

    # -- pictures (§5)

    def add_picture(self, row: PictureRow) -> defer.Deferred:
        """Record a picture; NameTaken when the channel has one of that name; False: no such channel."""
        d = self.db.runQuery(
            "INSERT INTO api_picture (dev_id, channel_no, name, format, size, sha256, description, created_at)"
            " SELECT dev_id, channel_no, %s, %s, %s, %s, %s, to_timestamp(%s) FROM channel"
            " WHERE dev_id = %s AND channel_no = %s RETURNING 1",
            (row.name, row.format, row.size, row.sha256, row.description, row.created_at, row.dev_id,
             row.channel_no))
        return d.addCallbacks(bool, _unique, errbackArgs=("picture %s" % (row.name,),))

    @defer.inlineCallbacks
    def picture(self, dev_id: str, channel_no: int, name: str):
        rows = yield self.db.runQuery(_PICTURE + " WHERE dev_id = %s AND channel_no = %s AND name = %s",
                                      (dev_id, channel_no, name))
        return PictureRow(*rows[0]) if rows else None

    @defer.inlineCallbacks
    def pictures(self, dev_id: str, channel_no: int, since: float | None, until: float | None, offset: int,
                 limit: int):
        """(total, [PictureRow]) oldest first, taken in [since, until]."""
        where, args = " WHERE dev_id = %s AND channel_no = %s", [dev_id, channel_no]
        if since is not None:
            where += " AND created_at >= to_timestamp(%s)"
            args.append(since)
        if until is not None:
            where += " AND created_at <= to_timestamp(%s)"
            args.append(until)
        total = yield self.db.runQuery("SELECT count(*) FROM api_picture" + where, tuple(args))
        rows = yield self.db.runQuery(_PICTURE + where + " ORDER BY created_at, name LIMIT %s OFFSET %s",
                                      tuple(args) + (limit, offset))
        return total[0][0], [PictureRow(*r) for r in rows]

    @defer.inlineCallbacks
    def delete_picture(self, dev_id: str, channel_no: int, name: str):
        """The deleted PictureRow, or None."""
        rows = yield self.db.runQuery(
            "DELETE FROM api_picture WHERE dev_id = %s AND channel_no = %s AND name = %s"
            " RETURNING dev_id, channel_no, name, format, size, sha256, description,"
            " extract(epoch FROM created_at)::float8", (dev_id, channel_no, name))
        return PictureRow(*rows[0]) if rows else None

    # -- objects (§16)

    def add_object(self, row: ObjectRow) -> defer.Deferred:
        d = self.db.runOperation(
            "INSERT INTO api_object (name, size, sha256, description, created_at)"
            " VALUES (%s, %s, %s, %s, to_timestamp(%s))", (row.name, row.size, row.sha256, row.description,
                                                           row.created_at))
        return d.addErrback(_unique, "object %s" % (row.name,))

    @defer.inlineCallbacks
    def object(self, name: str):
        rows = yield self.db.runQuery(_OBJECT + " WHERE name = %s", (name,))
        return ObjectRow(*rows[0]) if rows else None

    @defer.inlineCallbacks
    def objects(self, prefix: str | None, offset: int, limit: int):
        """(total, [ObjectRow]) by name, those starting with *prefix*."""
        where, args = "", ()
        if prefix:
            where, args = " WHERE starts_with(name, %s)", (prefix,)
        total = yield self.db.runQuery("SELECT count(*) FROM api_object" + where, args)
        rows = yield self.db.runQuery(_OBJECT + where + " ORDER BY name LIMIT %s OFFSET %s", args + (limit, offset))
        return total[0][0], [ObjectRow(*r) for r in rows]

    @defer.inlineCallbacks
    def delete_object(self, name: str):
        rows = yield self.db.runQuery("DELETE FROM api_object WHERE name = %s RETURNING 1", (name,))
        return bool(rows)

    # -- recordings' names (§6.4)

    @defer.inlineCallbacks
    def video_names(self, recording_ids: list):
        """{recording_id: name} of those renamed."""
        rows = yield self.db.runQuery("SELECT recording_id, name FROM api_video WHERE recording_id = ANY (%s)",
                                      (list(recording_ids),))
        return dict(rows)

    def rename_video(self, recording_id: int, dev_id: str, channel_no: int, name: str) -> defer.Deferred:
        return self.db.runOperation(
            "INSERT INTO api_video (recording_id, dev_id, channel_no, name) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (recording_id) DO UPDATE SET name = excluded.name", (recording_id, dev_id, channel_no,
                                                                               name))

    @defer.inlineCallbacks
    def videos_named(self, dev_id: str, channel_no: int, name: str, limit: int):
        """The recording ids of the channel renamed *name* (at most *limit*)."""
        rows = yield self.db.runQuery(
            "SELECT recording_id FROM api_video WHERE dev_id = %s AND channel_no = %s AND name = %s"
            " ORDER BY recording_id LIMIT %s", (dev_id, channel_no, name, limit))
        return [r[0] for r in rows]

    def forget_videos(self, recording_ids: list) -> defer.Deferred:
        return self.db.runOperation("DELETE FROM api_video WHERE recording_id = ANY (%s)", (list(recording_ids),))

    # -- storage used (§18)

    @defer.inlineCallbacks
    def used(self):
        """Bytes stored: device uploads, API pictures, objects."""
        rows = yield self.db.runQuery(
            "SELECT (SELECT coalesce(sum(size), 0) FROM device_file)::bigint"
            " + (SELECT coalesce(sum(size), 0) FROM api_picture)::bigint"
            " + (SELECT coalesce(sum(size), 0) FROM api_object)::bigint")
        return rows[0][0]

    @defer.inlineCallbacks
    def usage(self, dev_id: str | None, name: str | None, offset: int, limit: int):
        """(total, [Usage]) by DevID: each device's bytes (uploads and API pictures)."""
        where, args = [], []
        if dev_id:
            where.append("d.dev_id = %s")
            args.append(dev_id)
        if name:
            where.append("d.name ILIKE %s")
            args.append("%" + name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
        condition = (" WHERE " + " AND ".join(where)) if where else ""
        total = yield self.db.runQuery("SELECT count(*) FROM device d" + condition, tuple(args))
        rows = yield self.db.runQuery(
            "SELECT d.dev_id, d.name,"
            " (SELECT coalesce(sum(size), 0) FROM device_file f WHERE f.dev_id = d.dev_id)::bigint"
            " + (SELECT coalesce(sum(size), 0) FROM api_picture p WHERE p.dev_id = d.dev_id)::bigint"
            " FROM device d" + condition + " ORDER BY d.dev_id LIMIT %s OFFSET %s", tuple(args) + (limit, offset))
        return total[0][0], [Usage(*r) for r in rows]
