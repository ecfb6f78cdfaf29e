"""What devices upload by FTP and the pictures of alarms (§7.5.27, §7.5.34, §7.5.35).

Tables ``device_file`` (the files on disk, whose sizes make the quota),
``picture`` (a picture by name: from its upload or its NOTIFY_PICTURE_REQ,
whichever came first), ``alarm.picture_id`` and ``device.ftp_generation``.

An alarm and its picture are linked in whichever transaction sees the second
of them: an alarm names its picture (ALARM_NOTIFY_REQ FileName) or, failing
that, takes the picture of its channel received nearest in time within
:data:`LINK_WINDOW` seconds.  Both sides take the device's ``alarm:`` advisory
lock (the one :func:`kandian.store.alarms.add_alarm` takes), so an alarm and a
picture arriving at once on two connections cannot miss each other.
"""

from __future__ import annotations

from typing import NamedTuple

from twisted.internet import defer

from ..core.errors import NoSuchDevice
from .prepared import Statement

LINK_WINDOW = 60  # §7.5.34: the picture the device snaps with an alarm
AREAS = ("pictures", "logs")


class StoredPicture(NamedTuple):
    """A picture on disk: where (its device and name), its size and digest, and
    when it was taken (POSIX seconds, from NOTIFY_PICTURE_REQ or its name; None if neither said)."""
    dev_id: str
    file_name: str
    size: int
    sha256: str
    taken_at: float | None


class Upload(NamedTuple):
    """A file a device uploaded, now on disk (a picture's *channel_no* and *taken_at* from its name)."""
    dev_id: str
    area: str
    file_name: str
    size: int
    sha256: str
    now: float
    channel_no: int | None = None
    taken_at: float | None = None


def _checked(uploads: list[Upload]) -> list[Upload]:
    """*uploads*, the last of each name kept; ValueError for one no row can take."""
    last: dict[tuple, Upload] = {}
    for u in uploads:
        if u.area not in AREAS:
            raise ValueError("no such area: %r" % (u.area,))
        if u.area == "pictures" and u.channel_no is None:
            raise ValueError("a picture needs its channel")
        last.pop((u.dev_id, u.area, u.file_name), None)
        last[u.dev_id, u.area, u.file_name] = u
    return list(last.values())


class AlarmRow(NamedTuple):
    """An alarm with the name of its picture (None: none linked)."""
    alarm_id: int
    dev_id: str
    channel_no: int
    alarm_type: int
    at: float
    picture: str | None
    picture_on_disk: bool


def _lock(cursor, dev_id: str):
    return cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", ("alarm:" + dev_id,))


# the picture side of a link: alarms that name the picture (whatever they had), and
# unlinked alarms of its channel within the window of its arrival; the pictures
# are a query (filled in with %) of their picture_ids
_LINK_ALARMS = (
    "UPDATE alarm a SET picture_id = p.picture_id FROM picture p"
    " WHERE p.picture_id IN (%s) AND a.dev_id = p.dev_id"
    " AND ((a.file_name <> '' AND a.file_name = p.file_name) OR (a.picture_id IS NULL AND a.channel_no = p.channel_no"
    "  AND a.alarm_time BETWEEN p.received_at - make_interval(secs => %%s)"
    "   AND p.received_at + make_interval(secs => %%s)))")


# every FTP login (prepared: kandian.store.prepared)
_ACCOUNT = Statement(
    "SELECT d.ftp_generation, (SELECT coalesce(sum(f.size), 0) FROM device_file f WHERE f.dev_id = d.dev_id)"
    " FROM device d WHERE d.dev_id = %s")
_ACCOUNTS = Statement(
    "SELECT d.dev_id, d.ftp_generation,"
    " (SELECT coalesce(sum(f.size), 0) FROM device_file f WHERE f.dev_id = d.dev_id)"
    " FROM device d WHERE d.dev_id = ANY(%s::text[])")


# an upload's record (FileStore.stored_many), prepared: one EXECUTE each, all in one round trip
_LOCK_DEVICES = Statement(
    # the devices' alarm locks, in one order (add_alarm takes one at a time: no cycle)
    "SELECT pg_advisory_xact_lock(hashtext('alarm:' || d))"
    " FROM (SELECT DISTINCT unnest(%s::text[]) AS d ORDER BY 1) AS x")
_STORE_FILES = Statement(
    "INSERT INTO device_file (dev_id, area, file_name, size, sha256, stored_at)"
    " SELECT d, a, f, s, h, to_timestamp(t)"
    " FROM unnest(%s::text[], %s::text[], %s::text[], %s::bigint[], %s::text[], %s::float8[])"
    "  AS v(d, a, f, s, h, t)"
    " ON CONFLICT (dev_id, area, file_name)"
    " DO UPDATE SET size = excluded.size, sha256 = excluded.sha256, stored_at = excluded.stored_at")
_STORE_PICTURES = Statement(
    "INSERT INTO picture (dev_id, channel_no, file_name, taken_at, received_at)"
    " SELECT d, c, f, to_timestamp(t), to_timestamp(n)"
    " FROM unnest(%s::text[], %s::integer[], %s::text[], %s::float8[], %s::float8[]) AS v(d, c, f, t, n)"
    " ON CONFLICT (dev_id, file_name) DO UPDATE SET"
    "  taken_at = coalesce(picture.taken_at, excluded.taken_at)")
_LINK_PICTURES = Statement(
    _LINK_ALARMS % ("SELECT p.picture_id FROM picture p JOIN unnest(%s::text[], %s::text[]) AS v(d, f)"
                    " ON p.dev_id = v.d AND p.file_name = v.f"))


_EXPIRED = Statement(
    # the oldest files before the cut, their picture and log rows with them (an alarm keeps its row, its
    # picture_id set to NULL); rows another node's purge holds are skipped, not waited for
    "WITH gone AS (DELETE FROM device_file WHERE (dev_id, area, file_name) IN ("
    "  SELECT dev_id, area, file_name FROM device_file WHERE stored_at < to_timestamp(%s)"
    "  ORDER BY stored_at LIMIT %s FOR UPDATE SKIP LOCKED)"
    "  RETURNING dev_id, area, file_name),"
    " pictures AS (DELETE FROM picture p USING gone g"
    "  WHERE g.area = 'pictures' AND p.dev_id = g.dev_id AND p.file_name = g.file_name),"
    " logs AS (DELETE FROM device_log l USING gone g"
    "  WHERE g.area = 'logs' AND l.dev_id = g.dev_id AND l.file_name = g.file_name)"
    " SELECT dev_id, area, file_name FROM gone")
_UNSENT_PICTURES = Statement(
    "WITH gone AS (DELETE FROM picture WHERE picture_id IN (SELECT p.picture_id FROM picture p"
    " WHERE p.received_at < to_timestamp(%s) AND NOT EXISTS (SELECT 1 FROM device_file f"
    "  WHERE f.dev_id = p.dev_id AND f.area = 'pictures' AND f.file_name = p.file_name)"
    " ORDER BY p.received_at LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING 1) SELECT count(*) FROM gone")


class Expired(NamedTuple):
    dev_id: str
    area: str
    file_name: str


class FileStore:
    def __init__(self, db):
        self.db = db

    # -- FTP accounts (core.keys derives the password from the generation)

    @defer.inlineCallbacks
    def account(self, dev_id: str):
        """(FTP password generation, bytes of its uploaded files on disk) of the
        device, or None for an unknown device: what an FTP login needs, in one query."""
        rows = yield self.db.runQuery(_ACCOUNT, (dev_id,))
        return (rows[0][0], int(rows[0][1])) if rows else None

    @defer.inlineCallbacks
    def accounts(self, dev_ids: list[str]):
        """:meth:`account` of many devices in one query: a dict of DevID →
        (generation, bytes on disk), without the unknown ones."""
        rows = yield self.db.runQuery(_ACCOUNTS, (list(dev_ids),))
        return {r[0]: (r[1], int(r[2])) for r in rows}

    @defer.inlineCallbacks
    def rotate(self, dev_id: str):
        """Move the generation on (the old password stops working); the new one. NoSuchDevice."""
        rows = yield self.db.runQuery(
            "UPDATE device SET ftp_generation = ftp_generation + 1 WHERE dev_id = %s RETURNING ftp_generation",
            (dev_id,))
        if not rows:
            raise NoSuchDevice(dev_id)
        return rows[0][0]

    # -- files on disk

    def stored(self, dev_id: str, area: str, file_name: str, size: int, sha256: str, now: float, *,
               channel_no: int | None = None, taken_at: float | None = None) -> defer.Deferred:
        """Record an upload now on disk (replacing one of that name).  A picture
        (area ``pictures``, with its *channel_no*) is also recorded as a picture
        and linked to its alarms."""
        return self.stored_many([Upload(dev_id, area, file_name, size, sha256, now, channel_no, taken_at)])

    def stored_many(self, uploads: list[Upload]) -> defer.Deferred:
        """:meth:`stored` for each of *uploads*, in one transaction (one round
        trip: a multi-statement query is one implicit transaction, here of
        prepared statements); the last of two of one name wins."""
        try:
            uploads = _checked(uploads)
        except ValueError as e:
            return defer.fail(e)
        pictures = [u for u in uploads if u.area == "pictures"]
        statements = [
            (_LOCK_DEVICES, ([u.dev_id for u in uploads],)),
            (_STORE_FILES, ([u.dev_id for u in uploads], [u.area for u in uploads], [u.file_name for u in uploads],
                            [u.size for u in uploads], [u.sha256 for u in uploads], [u.now for u in uploads])),
        ]
        if pictures:
            names = ([p.dev_id for p in pictures], [p.file_name for p in pictures])
            statements += [
                (_STORE_PICTURES, (names[0], [p.channel_no for p in pictures], names[1],
                                   [p.taken_at for p in pictures], [p.now for p in pictures])),
                (_LINK_PICTURES, names + (LINK_WINDOW, LINK_WINDOW)),
            ]
        return self.db.runPrepared(statements)

    @defer.inlineCallbacks
    def notified(self, dev_id: str, channel_no: int, file_name: str, taken_at: float | None, now: float):
        """NOTIFY_PICTURE_REQ: record the picture (if new) and link it; whether it is on disk."""

        @defer.inlineCallbacks
        def interaction(cursor):
            yield _lock(cursor, dev_id)
            yield cursor.execute(
                "INSERT INTO picture (dev_id, channel_no, file_name, taken_at, received_at, notified_at)"
                " VALUES (%s, %s, %s, to_timestamp(%s), to_timestamp(%s), to_timestamp(%s))"
                " ON CONFLICT (dev_id, file_name) DO UPDATE SET"
                "  notified_at = coalesce(picture.notified_at, excluded.notified_at),"
                "  taken_at = coalesce(excluded.taken_at, picture.taken_at)"
                " RETURNING picture_id",
                (dev_id, channel_no, file_name, taken_at, now, now))
            picture_id = cursor.fetchone()[0]
            yield cursor.execute(_LINK_ALARMS % "%s", (picture_id, LINK_WINDOW, LINK_WINDOW))
            yield cursor.execute(
                "SELECT 1 FROM device_file WHERE dev_id = %s AND area = 'pictures' AND file_name = %s",
                (dev_id, file_name))
            return cursor.fetchone() is not None

        return (yield self.db.runInteraction(interaction))

    @defer.inlineCallbacks
    def link_alarm(self, alarm_id: int):
        """An alarm just stored takes the picture it names, else its channel's
        nearest within the window; the picture's id, or None."""

        # one round trip, one implicit transaction, under the device's alarm: lock like its other side
        rows = yield self.db.runQuery(
            "SELECT pg_advisory_xact_lock(hashtext('alarm:' || dev_id)) FROM alarm WHERE alarm_id = %s;"
            " UPDATE alarm a SET picture_id = ("
            "  SELECT p.picture_id FROM picture p WHERE p.dev_id = a.dev_id"
            "   AND ((a.file_name <> '' AND p.file_name = a.file_name) OR (p.channel_no = a.channel_no"
            "    AND p.received_at BETWEEN a.alarm_time - make_interval(secs => %s)"
            "     AND a.alarm_time + make_interval(secs => %s)))"
            "  ORDER BY p.file_name = a.file_name DESC,"
            "   abs(extract(epoch FROM p.received_at - a.alarm_time)), p.picture_id DESC LIMIT 1)"
            " WHERE a.alarm_id = %s RETURNING a.picture_id",
            (alarm_id, LINK_WINDOW, LINK_WINDOW, alarm_id))
        return rows[0][0] if rows else None

    @defer.inlineCallbacks
    def alarm_picture(self, alarm_id: int):
        """The :class:`StoredPicture` linked to the alarm, or None (none linked, or not on disk)."""
        rows = yield self.db.runQuery(
            "SELECT p.dev_id, p.file_name, f.size, f.sha256, extract(epoch FROM p.taken_at)"
            " FROM alarm a JOIN picture p USING (picture_id)"
            " JOIN device_file f ON f.dev_id = p.dev_id AND f.area = 'pictures' AND f.file_name = p.file_name"
            " WHERE a.alarm_id = %s", (alarm_id,))
        if not rows:
            return None
        dev_id, file_name, size, sha256, taken_at = rows[0]
        return StoredPicture(dev_id, file_name, int(size), sha256, float(taken_at) if taken_at is not None else None)

    @defer.inlineCallbacks
    def alarms(self, dev_id: str | None = None, limit: int = 50):
        """The newest alarms (of one device), each with its picture's name: :class:`AlarmRow` s."""
        rows = yield self.db.runQuery(
            "SELECT a.alarm_id, a.dev_id, a.channel_no, a.alarm_type, extract(epoch FROM a.alarm_time),"
            " p.file_name, f.size IS NOT NULL"
            " FROM alarm a LEFT JOIN picture p USING (picture_id)"
            " LEFT JOIN device_file f ON f.dev_id = p.dev_id AND f.area = 'pictures' AND f.file_name = p.file_name"
            " WHERE %s::text IS NULL OR a.dev_id = %s"
            " ORDER BY a.alarm_time DESC, a.alarm_id DESC LIMIT %s", (dev_id, dev_id, limit))
        return [AlarmRow(r[0], r[1], r[2], r[3], float(r[4]), r[5], bool(r[6])) for r in rows]

    # -- retention ([files] retention_days)

    def expired(self, before: float, limit: int) -> defer.Deferred:
        """Delete the rows of at most *limit* files stored before *before* (POSIX seconds), oldest first,
        and answer them (:class:`Expired`): the caller removes the files."""
        return self.db.runQuery(_EXPIRED, (before, limit)).addCallback(lambda rows: [Expired(*r) for r in rows])

    def unsent_pictures(self, before: float, limit: int) -> defer.Deferred:
        """Delete at most *limit* rows of pictures announced before *before* and never uploaded; how many."""
        return self.db.runQuery(_UNSENT_PICTURES, (before, limit)).addCallback(lambda rows: rows[0][0])
