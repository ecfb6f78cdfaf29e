"""Devices and channels as the device-cloud video API describes them (spec/001 §1, §2, §8, §9, §15; tables
device_profile, device, channel, stream_profile, device_exception).

A device's title is ``device.name``, its auth_info is kept as given in
``device_profile`` with its text as the DevKey; a channel's title is
``channel.name``.  A device created without a DevID is numbered here:
``<prefix><8 digits>`` from a sequence, skipping numbers taken otherwise.
Times are answered as POSIX seconds.
"""

from __future__ import annotations

import json
from typing import NamedTuple

import attrs
import psycopg2
from twisted.internet import defer

from .devices import DEV_ID, DeviceExists
from .fleet import DeviceException
from .prepared import Statement

PROFILE_FIELDS = ("description", "private", "protocol", "tags", "location", "area", "auth_info", "other", "url")
_JSON_FIELDS = ("location", "auth_info", "other")


class ChannelExists(Exception):
    pass


class IdentityTaken(Exception):
    """Another device has that sn or mac."""


class Profile(NamedTuple):
    dev_id: str
    title: str
    description: str
    private: bool
    protocol: str
    tags: list
    location: object  # the JSON given, or None
    area: str | None
    auth_info: object  # the JSON given, or None (the DevKey then)
    other: object
    url: str | None
    sn: str | None
    mac: str | None
    online: bool
    created_at: float
    last_login_at: float | None
    channel_count: int
    dev_key: str
    dev_ver: str | None
    key_salt: str | None  # None until the device has a profile


class ChannelRow(NamedTuple):
    channel_no: int
    name: str
    description: str


@attrs.frozen
class ProfileFilter:
    key_words: str | None = None  # left match of the DevID or the title
    tag: str | None = None
    online: bool | None = None
    private: bool | None = None
    dev_ids: tuple | None = None
    auth_info: object = None  # JSON compared as JSON
    begin: float | None = None  # created at or after
    end: float | None = None  # created before
    title: str | None = None  # left match, any case


def _like(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _epoch(column: str) -> str:
    return "extract(epoch FROM %s)::float8" % column


_PROFILE = (
    "SELECT d.dev_id, d.name, coalesce(p.description, ''), coalesce(p.private, false),"
    " coalesce(p.protocol, 'RTMP'), coalesce(p.tags, '{}'), p.location, p.area, p.auth_info, p.other, p.url,"
    " p.sn, p.mac, d.online, " + _epoch("d.created_at") + ", " + _epoch("d.last_login_at") + ","
    " (SELECT count(*) FROM channel c WHERE c.dev_id = d.dev_id)::int, d.dev_key, d.dev_ver, p.key_salt"
    " FROM device d LEFT JOIN device_profile p USING (dev_id)")

_SALT = Statement("SELECT key_salt FROM device_profile WHERE dev_id = %s")
_GET = Statement(_PROFILE + " WHERE d.dev_id = %s")


def _where(f: ProfileFilter) -> tuple[str, list]:
    where, args = [], []
    if f.key_words:
        where.append("(d.dev_id LIKE %s OR d.name ILIKE %s)")
        args += [_like(f.key_words)] * 2
    if f.title:
        where.append("d.name ILIKE %s")
        args.append(_like(f.title))
    if f.tag is not None:
        where.append("%s = ANY (p.tags)")
        args.append(f.tag)
    if f.online is not None:
        where.append("d.online = %s")
        args.append(f.online)
    if f.private is not None:
        where.append("coalesce(p.private, false) = %s")
        args.append(f.private)
    if f.dev_ids is not None:
        where.append("d.dev_id = ANY (%s)")
        args.append(list(f.dev_ids))
    if f.auth_info is not None:
        where.append("coalesce(p.auth_info, to_jsonb(d.dev_key)) = %s::jsonb")
        args.append(json.dumps(f.auth_info))
    if f.begin is not None:
        where.append("d.created_at >= to_timestamp(%s)")
        args.append(f.begin)
    if f.end is not None:
        where.append("d.created_at < to_timestamp(%s)")
        args.append(f.end)
    return (" WHERE " + " AND ".join(where)) if where else "", args


def _profile(row) -> Profile:
    return Profile(*row[:5], list(row[5]), *row[6:])


def _column_value(name: str, value):
    return json.dumps(value) if name in _JSON_FIELDS and value is not None else value


class ProfileStore:
    def __init__(self, db):
        self.db = db

    def create(self, dev_id: str | None, prefix: str, dev_key: str, title: str, fields: dict, *, salt: str,
               created_via: str, now: float, sn: str | None = None, mac: str | None = None,
               channels: int = 1) -> defer.Deferred:
        """Provision a device (*dev_id*, or the next free ``<prefix><8 digits>``) with *channels*
        channels and its profile; the DevID.  Raises DeviceExists, IdentityTaken, ValueError."""
        unknown = set(fields) - set(PROFILE_FIELDS)
        if unknown:
            return defer.fail(ValueError("not a profile field: %s" % ", ".join(sorted(unknown))))
        if dev_id is not None and not DEV_ID.match(dev_id):
            return defer.fail(ValueError("DevID must be 11 digits (§7.2): %r" % (dev_id,)))
        if dev_id is None and (len(prefix) != 3 or not prefix.isdigit()):
            return defer.fail(ValueError("the DevID prefix is three digits"))
        if not dev_key or not 1 <= channels <= 256:
            return defer.fail(ValueError("a DevKey and 1 to 256 channels"))
        names = sorted(fields)

        @defer.inlineCallbacks
        def interaction(cursor):
            if sn is not None or mac is not None:
                yield cursor.execute("SELECT 1 FROM device_profile WHERE sn = %s OR mac = %s", (sn, mac))
                if (yield cursor.fetchall()):
                    raise IdentityTaken("sn or mac taken")
            number = dev_id
            while True:
                if dev_id is None:
                    yield cursor.execute("SELECT lpad(nextval('api_device_seq')::text, 8, '0')")
                    number = prefix + (yield cursor.fetchall())[0][0]
                yield cursor.execute(
                    "INSERT INTO device (dev_id, dev_key, name, manufacturer_no, provisioned_by, channel_num,"
                    " created_at) VALUES (%s, %s, %s, (SELECT manufacturer_no FROM manufacturer"
                    "  WHERE manufacturer_no = substr(%s, 1, 3)), 'operator', %s, to_timestamp(%s))"
                    " ON CONFLICT (dev_id) DO NOTHING RETURNING 1",
                    (number, dev_key, title, number, channels, now))
                if (yield cursor.fetchall()):
                    break
                if dev_id is not None:
                    raise DeviceExists("device %s already exists" % (dev_id,))
            yield cursor.execute(
                "INSERT INTO channel (dev_id, channel_no) SELECT %s, n FROM generate_series(0, %s - 1) n",
                (number, channels))
            yield cursor.execute(
                "INSERT INTO device_profile (dev_id, key_salt, created_via, sn, mac"
                + "".join(", " + n for n in names) + ") VALUES (%s, %s, %s, %s, %s"
                + ", %s" * len(names) + ")",
                (number, salt, created_via, sn, mac) + tuple(_column_value(n, fields[n]) for n in names))
            return number

        d = self.db.runInteraction(interaction)

        def taken(failure):
            failure.trap(psycopg2.errors.UniqueViolation)
            raise IdentityTaken("sn or mac taken")
        return d.addErrback(taken)

    @defer.inlineCallbacks
    def by_identity(self, sn: str | None, mac: str | None):
        """The DevID of the device registered with *sn* (or *mac*), or None."""
        rows = yield self.db.runQuery("SELECT dev_id FROM device_profile WHERE sn = %s OR mac = %s", (sn, mac))
        return rows[0][0] if rows else None

    @defer.inlineCallbacks
    def get(self, dev_id: str):
        rows = yield self.db.runQuery(_GET, (dev_id,))
        return _profile(rows[0]) if rows else None

    @defer.inlineCallbacks
    def page(self, f: ProfileFilter, offset: int, limit: int):
        """(total, [Profile]) by DevID."""
        condition, args = _where(f)
        total = yield self.db.runQuery(
            "SELECT count(*) FROM device d LEFT JOIN device_profile p USING (dev_id)" + condition, tuple(args))
        rows = yield self.db.runQuery(_PROFILE + condition + " ORDER BY d.dev_id LIMIT %s OFFSET %s",
                                      tuple(args) + (limit, offset))
        return total[0][0], [_profile(r) for r in rows]

    @defer.inlineCallbacks
    def update(self, dev_id: str, *, title: str | None = None, dev_key: str | None = None, fields: dict,
               salt: str):
        """Change the title, the DevKey and profile *fields* given; True if the device exists.
        A device without a profile gets one (with *salt*)."""
        unknown = set(fields) - set(PROFILE_FIELDS)
        if unknown:
            raise ValueError("not a profile field: %s" % ", ".join(sorted(unknown)))
        names = sorted(fields)

        @defer.inlineCallbacks
        def interaction(cursor):
            sets, args = [], []
            if title is not None:
                sets.append("name = %s")
                args.append(title)
            if dev_key is not None:
                sets.append("dev_key = %s")
                args.append(dev_key)
            yield cursor.execute("UPDATE device SET " + ", ".join(sets + ["dev_id = dev_id"])
                                 + " WHERE dev_id = %s RETURNING 1", tuple(args) + (dev_id,))
            if not (yield cursor.fetchall()):
                return False
            yield cursor.execute("INSERT INTO device_profile (dev_id, key_salt, created_via) VALUES (%s, %s, 'lazy')"
                                 " ON CONFLICT (dev_id) DO NOTHING", (dev_id, salt))
            if names:
                yield cursor.execute(
                    "UPDATE device_profile SET " + ", ".join("%s = %%s" % n for n in names) + " WHERE dev_id = %s",
                    tuple(_column_value(n, fields[n]) for n in names) + (dev_id,))
            return True

        return (yield self.db.runInteraction(interaction))

    @defer.inlineCallbacks
    def key_salt(self, dev_id: str):
        """The salt of the device's API key, or None (no such device, or no profile yet)."""
        rows = yield self.db.runQuery(_SALT, (dev_id,))
        return rows[0][0] if rows else None

    @defer.inlineCallbacks
    def ensure_salt(self, dev_id: str, salt: str):
        """The device's salt, *salt* if it had none; None when there is no such device."""
        rows = yield self.db.runQuery(
            "WITH made AS (INSERT INTO device_profile (dev_id, key_salt, created_via)"
            " SELECT dev_id, %s, 'lazy' FROM device WHERE dev_id = %s ON CONFLICT (dev_id) DO NOTHING"
            " RETURNING key_salt)"
            " SELECT key_salt FROM made UNION ALL SELECT key_salt FROM device_profile WHERE dev_id = %s",
            (salt, dev_id, dev_id))
        return rows[0][0] if rows else None

    @defer.inlineCallbacks
    def versions(self, limit: int = 1000):
        """The DevVers devices reported (§7.5.1), each once, at most *limit*."""
        rows = yield self.db.runQuery("SELECT DISTINCT dev_ver FROM device WHERE dev_ver IS NOT NULL LIMIT %s",
                                      (limit,))
        return [r[0] for r in rows]

    # -- channels (§2)

    @defer.inlineCallbacks
    def channels(self, dev_id: str):
        """[ChannelRow] by ChannelNo, or None for an unknown device."""
        rows = yield self.db.runQuery(
            "SELECT d.dev_id, c.channel_no, c.name, c.description FROM device d"
            " LEFT JOIN channel c USING (dev_id) WHERE d.dev_id = %s ORDER BY c.channel_no", (dev_id,))
        if not rows:
            return None
        return [ChannelRow(*r[1:]) for r in rows if r[1] is not None]

    @defer.inlineCallbacks
    def add_channels(self, dev_id: str, channels: list):
        """Add every (ChannelNo, name, description) or none: ChannelExists if one is there; False for an
        unknown device."""

        @defer.inlineCallbacks
        def interaction(cursor):
            yield cursor.execute("SELECT 1 FROM device WHERE dev_id = %s FOR UPDATE", (dev_id,))
            if not (yield cursor.fetchall()):
                return False
            for channel_no, name, description in channels:
                yield cursor.execute(
                    "INSERT INTO channel (dev_id, channel_no, name, description) VALUES (%s, %s, %s, %s)"
                    " ON CONFLICT DO NOTHING RETURNING 1", (dev_id, channel_no, name, description))
                if not (yield cursor.fetchall()):
                    raise ChannelExists("%s has channel %s" % (dev_id, channel_no))
            return True

        return (yield self.db.runInteraction(interaction))

    @defer.inlineCallbacks
    def modify_channel(self, dev_id: str, channel_no: int, name: str, description: str | None):
        rows = yield self.db.runQuery(
            "UPDATE channel SET name = %s, description = coalesce(%s, description)"
            " WHERE dev_id = %s AND channel_no = %s RETURNING 1", (name, description, dev_id, channel_no))
        return bool(rows)

    @defer.inlineCallbacks
    def delete_channel(self, dev_id: str, channel_no: int):
        rows = yield self.db.runQuery("DELETE FROM channel WHERE dev_id = %s AND channel_no = %s RETURNING 1",
                                      (dev_id, channel_no))
        return bool(rows)

    @defer.inlineCallbacks
    def set_streams(self, dev_id: str, channel_no: int, enabled: bool):
        """Open or close both streams of a channel (§10.2: a closed one answers 403); False: no such channel."""
        rows = yield self.db.runQuery(
            "INSERT INTO stream_profile (dev_id, channel_no, stream_type, enabled)"
            " SELECT c.dev_id, c.channel_no, t, %s FROM channel c, (VALUES (1), (2)) s (t)"
            " WHERE c.dev_id = %s AND c.channel_no = %s"
            " ON CONFLICT (dev_id, channel_no, stream_type) DO UPDATE SET enabled = excluded.enabled,"
            " updated_at = now() RETURNING 1", (enabled, dev_id, channel_no))
        return bool(rows)

    # -- status and messages (§8, §9)

    @defer.inlineCallbacks
    def online(self, dev_ids: list):
        """{DevID: online} of the devices among *dev_ids* that exist."""
        rows = yield self.db.runQuery("SELECT dev_id, online FROM device WHERE dev_id = ANY (%s)", (list(dev_ids),))
        return dict(rows)

    @defer.inlineCallbacks
    def exceptions(self, dev_id: str, since: float, until: float, offset: int, limit: int):
        """(total, [DeviceException]) of one device received in [since, until), oldest first."""
        where = " WHERE dev_id = %s AND received_at >= to_timestamp(%s) AND received_at < to_timestamp(%s)"
        args = (dev_id, since, until)
        total = yield self.db.runQuery("SELECT count(*) FROM device_exception" + where, args)
        rows = yield self.db.runQuery(
            "SELECT exception_id, dev_id, channel_no, exception_type, exception_desc, " + _epoch("received_at")
            + " FROM device_exception" + where + " ORDER BY received_at, exception_id LIMIT %s OFFSET %s",
            args + (limit, offset))
        return total[0][0], [DeviceException(*r) for r in rows]
