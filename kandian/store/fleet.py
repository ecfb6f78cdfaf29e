"""Devices as operators and the portal see them: pages, detail, edits (tables device, channel, …).

§2.2 device and manufacturer management; the portal's device pages.  Pages
are filtered, sorted by a whitelisted column and limited in SQL; times are
answered as POSIX seconds.  ``user_id`` narrows a page to the devices bound
to (owned by or shared with) that user.
"""

from __future__ import annotations

from typing import NamedTuple

import attrs
import psycopg2
from twisted.internet import defer

from .prepared import Statement

CHANGES = "kandian_fleet"  # the NOTIFY channel of the list's changes (migration 0013)

# sort key → SQL expression; NULLs last whichever way
SORTS = {
    "dev_id": "d.dev_id", "name": "d.name", "model": "d.model", "dev_ver": "d.dev_ver",
    "online": "d.online", "last_seen_at": "d.last_seen_at", "created_at": "d.created_at",
    "manufacturer_no": "d.manufacturer_no",
}


@attrs.frozen
class DeviceFilter:
    online: bool | None = None
    q: str | None = None  # part of the DevID, the name or the model
    manufacturer_no: str | None = None
    model: str | None = None
    dev_ver: str | None = None
    user_id: int | None = None  # only devices bound to this user


class DeviceSummary(NamedTuple):
    dev_id: str
    name: str
    dev_type: int
    model: str
    manufacturer_no: str | None
    manufacturer: str | None
    dev_ver: str | None
    online: bool
    channels: int
    last_seen_at: float | None
    created_at: float | None
    owner: str | None  # the owner's mobile
    share_flag: int | None  # with a user_id filter: 0 own, 1 shared
    can_control: bool | None


class Channel(NamedTuple):
    channel_no: int
    name: str


class DeviceDetail(NamedTuple):
    summary: DeviceSummary
    provisioned_by: str
    addresses: dict  # as reported (§7.5.1, §7.5.3) and seen on the link's socket
    abilities: dict  # §7.5.2
    channels: list  # [Channel]
    videos: list  # [(StreamType, FrameSize)]
    didos: list  # [(DIDONo, name)]
    shares: list  # [(mobile, can_control)]
    registered_at: float | None
    last_login_at: float | None


class DeviceException(NamedTuple):
    exception_id: int
    dev_id: str
    channel_no: int | None
    exception_type: int
    desc: str
    at: float


def _epoch(column: str) -> str:
    return "extract(epoch FROM %s)::float8" % column


_SUMMARY = (
    "d.dev_id, d.name, d.dev_type, d.model, d.manufacturer_no, m.name, d.dev_ver, d.online,"
    " (SELECT count(*) FROM channel c WHERE c.dev_id = d.dev_id)::int, " + _epoch("d.last_seen_at") + ", "
    + _epoch("d.created_at") + ","
    " (SELECT u.mobile FROM user_device o JOIN app_user u USING (user_id)"
    "  WHERE o.dev_id = d.dev_id AND o.share_flag = 0)")

_DETAIL = Statement(
    "SELECT " + _SUMMARY + ", d.provisioned_by,"
    " d.upnp_ip, d.rtsp_upnp_port, d.upnp_reachable, " + _epoch("d.upnp_checked_at") + ","
    " d.local_ip, d.rtsp_local_port, d.turn_relay_ip, d.rtsp_turn_relay_port, host(d.public_ip), d.public_port,"
    " d.net_type, d.nat_type, d.cur_video_num,"
    " d.channel_num, d.ptz_flag, d.estore_flag, d.local_store_flag, d.motion_detection_flag,"
    " d.infrared_detection_flag, d.manual_alarm_flag, d.dido_alarm_flag, d.dido_num,"
    " " + _epoch("d.registered_at") + ", " + _epoch("d.last_login_at") + ","
    " coalesce((SELECT array_agg(ARRAY[c.channel_no::text, c.name] ORDER BY c.channel_no) FROM channel c"
    "  WHERE c.dev_id = d.dev_id), '{}'),"
    " coalesce((SELECT array_agg(ARRAY[v.stream_type, v.frame_size] ORDER BY v.stream_type, v.frame_size)"
    "  FROM video_capability v WHERE v.dev_id = d.dev_id), '{}'),"
    " coalesce((SELECT array_agg(ARRAY[x.dido_no::text, x.name] ORDER BY x.dido_no) FROM dido x"
    "  WHERE x.dev_id = d.dev_id), '{}'),"
    " coalesce((SELECT array_agg(ARRAY[u.mobile, s.can_control::text] ORDER BY u.mobile)"
    "  FROM user_device s JOIN app_user u USING (user_id) WHERE s.dev_id = d.dev_id AND s.share_flag = 1), '{}')"
    " FROM device d LEFT JOIN manufacturer m USING (manufacturer_no) WHERE d.dev_id = %s")

ADDRESS_KEYS = ("upnp_ip", "rtsp_upnp_port", "upnp_reachable", "upnp_checked_at", "local_ip", "rtsp_local_port",
                "turn_relay_ip", "rtsp_turn_relay_port", "public_ip", "public_port", "net_type", "nat_type",
                "cur_video_num")
ABILITY_KEYS = ("channel_num", "ptz_flag", "estore_flag", "local_store_flag", "motion_detection_flag",
                "infrared_detection_flag", "manual_alarm_flag", "dido_alarm_flag", "dido_num")
EDITABLE = ("name", "model", "dev_key", "dev_type")


class AlarmRow(NamedTuple):
    alarm_id: int
    dev_id: str
    name: str  # the device's name, or its DevID
    channel_no: int
    alarm_type: int
    desc: str
    dido_no: int | None
    at: float


_ALARM = ("SELECT a.alarm_id, a.dev_id, coalesce(nullif(d.name, ''), d.dev_id), a.channel_no, a.alarm_type,"
          " a.alarm_desc, a.dido_no, " + _epoch("a.alarm_time") + " FROM alarm a JOIN device d USING (dev_id)")


def _where(f: DeviceFilter) -> tuple[str, list]:
    where, args = [], []
    if f.user_id is not None:
        where.append("b.user_id = %s")
        args.append(f.user_id)
    if f.online is not None:
        where.append("d.online = %s")
        args.append(f.online)
    if f.q:
        pattern = "%" + f.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        where.append("(d.dev_id LIKE %s OR d.name ILIKE %s OR d.model ILIKE %s)")
        args += [pattern] * 3
    for column, value in (("manufacturer_no", f.manufacturer_no), ("model", f.model), ("dev_ver", f.dev_ver)):
        if value is not None:
            where.append("d.%s = %%s" % column)
            args.append(value)
    return (" WHERE " + " AND ".join(where)) if where else "", args


def _iso(column: str) -> str:
    # ISO 8601 in the session's TimeZone (set for the statement's run), as datetime.isoformat(timespec="seconds")
    return "to_char(%s, 'YYYY-MM-DD\"T\"HH24:MI:SSTZH:TZM')" % column


# a page's item as the portal's JSON (docs/rest-api.md "Devices"), less "online" (the caller's: the router knows
# a login before the stored flag does)
_ITEM_JSON = (
    "json_build_object('dev_id', d.dev_id, 'name', d.name, 'dev_type', d.dev_type, 'model', d.model,"
    " 'manufacturer_no', d.manufacturer_no, 'manufacturer', m.name, 'dev_ver', d.dev_ver,"
    " 'channels', (SELECT count(*) FROM channel c WHERE c.dev_id = d.dev_id)::int,"
    " 'last_seen_at', " + _iso("d.last_seen_at") + ", 'created_at', " + _iso("d.created_at") + ","
    " 'owner', (SELECT u.mobile FROM user_device o JOIN app_user u USING (user_id)"
    "  WHERE o.dev_id = d.dev_id AND o.share_flag = 0), 'access', %s)::text")


class Fleet:
    def __init__(self, db):
        self.db = db
        self._page_statements: dict = {}

    @defer.inlineCallbacks
    def page(self, f: DeviceFilter, sort: str, descending: bool, offset: int, limit: int):
        """(total, [DeviceSummary]) of the devices *f* selects; *sort* a key of SORTS.

        One round trip: the count, then the page's DevIDs chosen first (an
        index scan for the DevID order) so that only its rows pay for the
        summary's subqueries."""
        condition, args = _where(f)
        bound = " JOIN user_device b ON b.dev_id = d.dev_id" if f.user_id is not None else ""
        extra = ", b.share_flag, b.can_control" if f.user_id is not None else ", NULL::smallint, NULL::boolean"
        nulls = "" if sort == "dev_id" else " NULLS LAST"
        order = "%s %s%s, d.dev_id" % (SORTS[sort], "DESC" if descending else "ASC", nulls)
        mine = " JOIN user_device b ON b.dev_id = d.dev_id AND b.user_id = %s" if f.user_id is not None else ""
        rows = yield self.db.runQuery(
            "WITH total AS (SELECT count(*) AS n FROM device d" + bound + condition + "),"
            " page AS (SELECT d.dev_id, row_number() OVER () AS i FROM (SELECT d.dev_id FROM device d" + bound
            + condition + " ORDER BY " + order + " LIMIT %s OFFSET %s) d)"
            " SELECT total.n, p.* FROM total LEFT JOIN (SELECT page.i, " + _SUMMARY + extra + " FROM page"
            " JOIN device d USING (dev_id) LEFT JOIN manufacturer m USING (manufacturer_no)" + mine + ") p ON true"
            " ORDER BY p.i",
            tuple(args) * 2 + (limit, offset) + ((f.user_id,) if f.user_id is not None else ()))
        return rows[0][0], [DeviceSummary(*row[2:]) for row in rows if row[1] is not None]

    @defer.inlineCallbacks
    def page_json(self, f: DeviceFilter, sort: str, descending: bool, offset: int, limit: int, zone: str):
        """(total, [(dev_id, online, the item's JSON text without "online")]) of the page :meth:`page` answers,
        each item built by PostgreSQL (times as ISO 8601 in *zone*, an IANA name): the portal's hot list, whose
        rows then need no work in Python.  One prepared statement per filter's shape."""
        condition, args = _where(f)
        statement = self._page_statements.get((condition, sort, descending, f.user_id is not None))
        if statement is None:
            statement = self._page_statement(condition, sort, descending, f.user_id is not None)
        rows = yield self.db.runQuery(statement, (zone,) + tuple(args) * 2 + (limit, offset)
                                      + ((f.user_id,) if f.user_id is not None else ()))
        return rows[0][0], [(dev_id, online, item) for _, dev_id, online, item in rows if dev_id is not None]

    def _page_statement(self, condition: str, sort: str, descending: bool, mine: bool) -> Statement:
        bound = " JOIN user_device b ON b.dev_id = d.dev_id" if mine else ""
        access = ("CASE WHEN b.share_flag = 0 THEN 'own' WHEN b.can_control THEN 'control' ELSE 'view' END"
                  if mine else "NULL")
        nulls = "" if sort == "dev_id" else " NULLS LAST"
        order = "%s %s%s, d.dev_id" % (SORTS[sort], "DESC" if descending else "ASC", nulls)
        join = " JOIN user_device b ON b.dev_id = d.dev_id AND b.user_id = %s" if mine else ""
        statement = Statement(
            "WITH total AS (SELECT count(*) AS n FROM device d" + bound + condition + "),"
            " page AS (SELECT d.dev_id, row_number() OVER () AS i FROM (SELECT d.dev_id FROM device d" + bound
            + condition + " ORDER BY " + order + " LIMIT %s OFFSET %s) d)"
            " SELECT total.n, p.dev_id, p.online, p.item FROM total LEFT JOIN (SELECT page.i, d.dev_id, d.online, "
            + _ITEM_JSON % access + " AS item FROM page JOIN device d USING (dev_id)"
            " LEFT JOIN manufacturer m USING (manufacturer_no)" + join + ") p ON true ORDER BY p.i",
            local=("TimeZone",))
        if len(self._page_statements) < 4096:  # shapes: filters × sort keys × directions, a few hundred at most
            self._page_statements[(condition, sort, descending, mine)] = statement
        return statement

    def watch(self, on_change, on_reset):
        """Hear the list's changes (migration 0013's triggers: what :meth:`page_json` shows but online and
        last_seen_at) from any connection, at their commit: *on_change(payload)*; *on_reset(listening)* when the
        listening connection is lost (False) and when it listens again (True).  A
        :class:`kandian.store.listen.Listener`, closed with the database."""
        return self.db.listen(CHANGES, on_change, on_reset)

    @defer.inlineCallbacks
    def detail(self, dev_id: str):
        """The DeviceDetail, or None."""
        rows = yield self.db.runQuery(_DETAIL, (dev_id,))
        if not rows:
            return None
        row = rows[0]
        n = len(DeviceSummary._fields) - 2
        summary = DeviceSummary(*row[:n], None, None)
        rest = row[n:]
        addresses = dict(zip(ADDRESS_KEYS, rest[1:14]))
        abilities = dict(zip(ABILITY_KEYS, rest[14:23]))
        channels, videos, didos, shares = rest[25:29]
        return DeviceDetail(
            summary, rest[0], addresses, abilities, [Channel(int(no), name) for no, name in channels],
            [tuple(v) for v in videos], [(int(no), name) for no, name in didos],
            [(mobile, flag == "true") for mobile, flag in shares], rest[23], rest[24])

    @defer.inlineCallbacks
    def update(self, dev_id: str, **fields):
        """Set the EDITABLE *fields* given; True if the device exists."""
        unknown = set(fields) - set(EDITABLE)
        if unknown:
            raise ValueError("not editable: %s" % ", ".join(sorted(unknown)))
        if not fields:
            rows = yield self.db.runQuery("SELECT 1 FROM device WHERE dev_id = %s", (dev_id,))
            return bool(rows)
        names = sorted(fields)
        rows = yield self.db.runQuery(
            "UPDATE device SET " + ", ".join("%s = %%s" % name for name in names) + " WHERE dev_id = %s RETURNING 1",
            tuple(fields[name] for name in names) + (dev_id,))
        return bool(rows)

    @defer.inlineCallbacks
    def delete(self, dev_id: str):
        """Remove the device and everything of it (bindings, alarms, channels); True if it existed."""
        rows = yield self.db.runQuery("DELETE FROM device WHERE dev_id = %s RETURNING 1", (dev_id,))
        return bool(rows)

    @defer.inlineCallbacks
    def exceptions(self, dev_id: str | None, offset: int, limit: int):
        """(total, [DeviceException]) newest first, of one device or all."""
        where, args = ("WHERE dev_id = %s", (dev_id,)) if dev_id else ("", ())
        total = yield self.db.runQuery("SELECT count(*) FROM device_exception " + where, args)
        rows = yield self.db.runQuery(
            "SELECT exception_id, dev_id, channel_no, exception_type, exception_desc, "
            + _epoch("received_at") + " FROM device_exception " + where
            + " ORDER BY received_at DESC, exception_id DESC LIMIT %s OFFSET %s", args + (limit, offset))
        return total[0][0], [DeviceException(*row) for row in rows]

    # -- alarms (§7.5.34) as the portal lists them

    @defer.inlineCallbacks
    def alarms(self, user_id: int | None, dev_id: str | None, since: float | None, until: float | None,
               offset: int, limit: int):
        """(total, [AlarmRow]) newest first: of the devices bound to *user_id*
        (None: all), of one device, between *since* and *until* (POSIX seconds or None)."""
        where, args = [], []
        if user_id is not None:
            where.append("EXISTS (SELECT 1 FROM user_device b WHERE b.dev_id = a.dev_id AND b.user_id = %s)")
            args.append(user_id)
        if dev_id:
            where.append("a.dev_id = %s")
            args.append(dev_id)
        if since is not None:
            where.append("a.alarm_time >= to_timestamp(%s)")
            args.append(since)
        if until is not None:
            where.append("a.alarm_time <= to_timestamp(%s)")
            args.append(until)
        condition = (" WHERE " + " AND ".join(where)) if where else ""
        total = yield self.db.runQuery("SELECT count(*) FROM alarm a" + condition, tuple(args))
        rows = yield self.db.runQuery(
            _ALARM + condition + " ORDER BY a.alarm_time DESC, a.alarm_id DESC LIMIT %s OFFSET %s",
            tuple(args) + (limit, offset))
        return total[0][0], [AlarmRow(*row) for row in rows]

    @defer.inlineCallbacks
    def alarm(self, alarm_id: int):
        """The AlarmRow of *alarm_id*, or None."""
        rows = yield self.db.runQuery(_ALARM + " WHERE a.alarm_id = %s", (alarm_id,))
        return AlarmRow(*rows[0]) if rows else None

    # -- manufacturers (§7.2: a DevID's first three digits)

    @defer.inlineCallbacks
    def manufacturers(self):
        """[(manufacturer_no, name, devices)]."""
        rows = yield self.db.runQuery(
            "SELECT m.manufacturer_no, m.name, (SELECT count(*) FROM device d"
            " WHERE d.manufacturer_no = m.manufacturer_no)::int FROM manufacturer m ORDER BY 1")
        return [tuple(row) for row in rows]

    @defer.inlineCallbacks
    def add_manufacturer(self, manufacturer_no: str, name: str):
        """Add or rename; True if it was new."""
        try:
            rows = yield self.db.runQuery(
                "INSERT INTO manufacturer (manufacturer_no, name) VALUES (%s, %s)"
                " ON CONFLICT (manufacturer_no) DO UPDATE SET name = excluded.name RETURNING xmax = 0",
                (manufacturer_no, name))
        except psycopg2.errors.CheckViolation:
            raise ValueError("a manufacturer number is three digits") from None
        return bool(rows[0][0])

