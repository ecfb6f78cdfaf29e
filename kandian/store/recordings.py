"""Recording schedules and the pieces the platform recorded (tables recording_schedule, recording).

PRODUCT.md "Media"; spec 002 §3.14–§3.17 (its "courses" are the schedules).
A schedule is a weekly window of one channel; adding or moving one takes
the channel's advisory lock (``schedule:<DevID>:<ChannelNo>``) and checks
for an overlap in the same transaction, so two requests at once cannot both
win.  A recording row is one piece (one file); :meth:`RecordingStore.claim`
marks a row deleting (invisible from then on) before its files go, and
:meth:`RecordingStore.remove` deletes it after — a row is never visible
without its file, and a crash in between is finished by the retention job
(:meth:`RecordingStore.expired` answers rows left deleting).  Times are
POSIX seconds.
"""

from __future__ import annotations

import json
from typing import NamedTuple

import attrs
from twisted.internet import defer

from ..core.errors import NoSuchChannel, ScheduleOverlap


class Schedule(NamedTuple):
    schedule_id: int
    dev_id: str
    channel_no: int
    weekday: int  # 0 Sunday … 6 Saturday
    start: int  # seconds after midnight, platform time zone
    duration: int  # seconds
    created_at: float
    updated_at: float

    @property
    def end(self) -> int:
        return self.start + self.duration


class Recording(NamedTuple):
    recording_id: int
    run_id: int
    seq: int
    node: str
    dev_id: str
    channel_no: int
    stream_type: int
    schedule_id: int | None
    path: str  # relative to [files] root
    started_at: float
    ended_at: float | None
    duration: float
    size: int
    complete: bool
    segments: tuple | None  # ((offset, length, seconds), …) starting at key frames
    snapshot: str | None  # the JPEG's path relative to [files] root


@attrs.frozen
class RecordingFilter:
    dev_id: str | None = None
    channel_no: int | None = None
    since: float | None = None  # pieces that end after this …
    until: float | None = None  # … and start before this
    user_id: int | None = None  # only devices bound to this user


_SCHEDULE = ("schedule_id, dev_id, channel_no, weekday, start_second, duration,"
             " extract(epoch FROM created_at)::float8, extract(epoch FROM updated_at)::float8")
_RECORDING = ("r.recording_id, r.run_id, r.seq, r.node, r.dev_id, r.channel_no, r.stream_type, r.schedule_id,"
              " r.path, extract(epoch FROM r.started_at)::float8, extract(epoch FROM r.ended_at)::float8,"
              " r.duration, r.size, r.complete, r.segments, r.snapshot")


def _recording(row) -> Recording:
    segments = row[14]
    if isinstance(segments, str):
        segments = json.loads(segments)
    return Recording(*row[:14], tuple(tuple(s) for s in segments) if segments is not None else None, row[15])


def _overlap_query(exclude: int | None):
    return ("SELECT schedule_id FROM recording_schedule WHERE dev_id = %s AND channel_no = %s AND weekday = %s"
            " AND start_second < %s AND %s < start_second + duration"
            + (" AND schedule_id <> %s" if exclude is not None else "") + " LIMIT 1")


def check_window(weekday: int, start: int, duration: int) -> None:
    """ValueError for a window no row can hold (the core checks first, with its own errors)."""
    if not (0 <= weekday <= 6 and 0 <= start <= 86399 and duration > 0 and start + duration <= 86399):
        raise ValueError("no such window: %r %r %r" % (weekday, start, duration))


class RecordingStore:
    def __init__(self, db):
        self.db = db

    # -- schedules

    def add_schedule(self, dev_id: str, channel_no: int, weekday: int, start: int, duration: int, now: float):
        """The new :class:`Schedule`; NoSuchChannel, ScheduleOverlap."""
        check_window(weekday, start, duration)
        return self._write_schedule(None, dev_id, channel_no, weekday, start, duration, now)

    def update_schedule(self, schedule_id: int, weekday: int, start: int, duration: int, now: float):
        """The moved :class:`Schedule`, or None when there is no such schedule; ScheduleOverlap."""
        check_window(weekday, start, duration)
        return self._write_schedule(schedule_id, None, None, weekday, start, duration, now)

    def _write_schedule(self, schedule_id, dev_id, channel_no, weekday, start, duration, now):
        @defer.inlineCallbacks
        def write(cursor):
            nonlocal dev_id, channel_no
            if schedule_id is not None:
                yield cursor.execute("SELECT dev_id, channel_no FROM recording_schedule WHERE schedule_id = %s",
                                     (schedule_id,))
                found = cursor.fetchall()
                if not found:
                    return None
                dev_id, channel_no = found[0]
            yield cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))",
                                 ("schedule:%s:%s" % (dev_id, channel_no),))
            if schedule_id is None:
                yield cursor.execute("SELECT 1 FROM channel WHERE dev_id = %s AND channel_no = %s",
                                     (dev_id, channel_no))
                if not cursor.fetchall():
                    raise NoSuchChannel("%s has no channel %s" % (dev_id, channel_no))
            args = (dev_id, channel_no, weekday, start + duration, start)
            yield cursor.execute(_overlap_query(schedule_id),
                                 args + ((schedule_id,) if schedule_id is not None else ()))
            clash = cursor.fetchall()
            if clash:
                raise ScheduleOverlap("overlaps schedule %d" % clash[0][0])
            if schedule_id is None:
                yield cursor.execute(
                    "INSERT INTO recording_schedule (dev_id, channel_no, weekday, start_second, duration,"
                    " created_at, updated_at) VALUES (%s, %s, %s, %s, %s, to_timestamp(%s), to_timestamp(%s))"
                    " RETURNING " + _SCHEDULE, (dev_id, channel_no, weekday, start, duration, now, now))
            else:
                yield cursor.execute(
                    "UPDATE recording_schedule SET weekday = %s, start_second = %s, duration = %s,"
                    " updated_at = to_timestamp(%s) WHERE schedule_id = %s RETURNING " + _SCHEDULE,
                    (weekday, start, duration, now, schedule_id))
            return Schedule(*cursor.fetchall()[0])
        return self.db.runInteraction(write)

    @defer.inlineCallbacks
    def schedule(self, schedule_id: int):
        rows = yield self.db.runQuery("SELECT " + _SCHEDULE + " FROM recording_schedule WHERE schedule_id = %s",
                                      (schedule_id,))
        return Schedule(*rows[0]) if rows else None

    @defer.inlineCallbacks
    def schedules(self, dev_id: str | None = None, channel_no: int | None = None):
        """Schedules of a channel, a device, or (both None) all, by channel, weekday and start."""
        where, args = [], []
        if dev_id is not None:
            where.append("dev_id = %s")
            args.append(dev_id)
        if channel_no is not None:
            where.append("channel_no = %s")
            args.append(channel_no)
        rows = yield self.db.runQuery(
            "SELECT " + _SCHEDULE + " FROM recording_schedule" + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY dev_id, channel_no, weekday, start_second", tuple(args))
        return [Schedule(*row) for row in rows]

    @defer.inlineCallbacks
    def delete_schedule(self, schedule_id: int):
        """Whether there was such a schedule."""
        rows = yield self.db.runQuery("DELETE FROM recording_schedule WHERE schedule_id = %s RETURNING 1",
                                      (schedule_id,))
        return bool(rows)

    # -- pieces, for the recorder

    @defer.inlineCallbacks
    def begin(self, node: str, dev_id: str, channel_no: int, stream_type: int, schedule_id: int | None,
              run_id: int | None, seq: int, path: str, started_at: float):
        """A new piece being written (complete false); its id.  *run_id* None starts a run (its id is the piece's)."""
        rows = yield self.db.runQuery(
            "INSERT INTO recording (recording_id, run_id, seq, node, dev_id, channel_no, stream_type, schedule_id,"
            " path, started_at)"
            " SELECT n.id, coalesce(%s, n.id), %s, %s, %s, %s, %s,"
            "  (SELECT schedule_id FROM recording_schedule WHERE schedule_id = %s), %s, to_timestamp(%s)"
            " FROM (SELECT nextval('recording_recording_id_seq') AS id) n RETURNING recording_id",
            (run_id, seq, node, dev_id, channel_no, stream_type, schedule_id, path, started_at))
        return rows[0][0]

    @defer.inlineCallbacks
    def finish(self, recording_id: int, ended_at: float, duration: float, size: int):
        """The piece is whole on disk; whether it was there."""
        rows = yield self.db.runQuery(
            "UPDATE recording SET complete = true, ended_at = to_timestamp(%s), duration = %s, size = %s"
            " WHERE recording_id = %s RETURNING 1", (ended_at, duration, size, recording_id))
        return bool(rows)

    @defer.inlineCallbacks
    def describe(self, recording_id: int, segments, snapshot: str | None):
        """Record a finished piece's key-frame ranges and snapshot; whether it was there."""
        rows = yield self.db.runQuery(
            "UPDATE recording SET segments = %s::jsonb, snapshot = %s WHERE recording_id = %s RETURNING 1",
            (json.dumps([list(s) for s in segments]) if segments is not None else None, snapshot, recording_id))
        return bool(rows)

    def discard(self, recording_id: int):
        """Delete the row of a piece that never got a byte on disk."""
        return self.db.runOperation("DELETE FROM recording WHERE recording_id = %s", (recording_id,))

    # -- pieces, for everyone else

    @defer.inlineCallbacks
    def get(self, recording_id: int):
        rows = yield self.db.runQuery("SELECT " + _RECORDING + " FROM recording r WHERE r.recording_id = %s"
                                      " AND NOT r.deleting", (recording_id,))
        return _recording(rows[0]) if rows else None

    @defer.inlineCallbacks
    def run(self, run_id: int):
        """The pieces of a run that are not being deleted, in order."""
        rows = yield self.db.runQuery("SELECT " + _RECORDING + " FROM recording r WHERE r.run_id = %s"
                                      " AND NOT r.deleting ORDER BY r.seq", (run_id,))
        return [_recording(row) for row in rows]

    @defer.inlineCallbacks
    def page(self, f: RecordingFilter, offset: int, limit: int):
        """(total, [Recording]) newest first."""
        where, args = ["NOT r.deleting"], []
        join = ""
        if f.user_id is not None:
            join = " JOIN user_device b ON b.dev_id = r.dev_id AND b.user_id = %s"
            args.append(f.user_id)
        if f.dev_id is not None:
            where.append("r.dev_id = %s")
            args.append(f.dev_id)
        if f.channel_no is not None:
            where.append("r.channel_no = %s")
            args.append(f.channel_no)
        if f.since is not None:
            where.append("(r.ended_at IS NULL OR r.ended_at > to_timestamp(%s))")
            args.append(f.since)
        if f.until is not None:
            where.append("r.started_at < to_timestamp(%s)")
            args.append(f.until)
        tail = " FROM recording r" + join + " WHERE " + " AND ".join(where)
        total = yield self.db.runQuery("SELECT count(*)" + tail, tuple(args))
        rows = yield self.db.runQuery("SELECT " + _RECORDING + tail
                                      + " ORDER BY r.started_at DESC, r.recording_id DESC LIMIT %s OFFSET %s",
                                      tuple(args) + (limit, offset))
        return total[0][0], [_recording(row) for row in rows]

    # -- deleting: claim (invisible from then on), remove the files, remove the row

    @defer.inlineCallbacks
    def claim(self, recording_id: int):
        """Mark a complete piece deleting and answer it; None when there is none (or it is claimed already),
        the piece itself (``complete`` false, not claimed) while it is being written."""
        rows = yield self.db.runQuery(
            "UPDATE recording r SET deleting = true WHERE r.recording_id = %s AND NOT r.deleting AND r.complete"
            " RETURNING " + _RECORDING, (recording_id,))
        if rows:
            return _recording(rows[0])
        return (yield self.get(recording_id))

    def remove(self, recording_id: int):
        return self.db.runOperation("DELETE FROM recording WHERE recording_id = %s", (recording_id,))

    @defer.inlineCallbacks
    def expired(self, node: str, before: float, limit: int):
        """Up to *limit* of this node's pieces to delete: complete ones that ended before *before*
        (claimed by this call) and those a crash left deleting, oldest first."""
        rows = yield self.db.runQuery(
            "UPDATE recording r SET deleting = true WHERE r.recording_id IN ("
            " SELECT recording_id FROM recording WHERE node = %s"
            "  AND (deleting OR (complete AND ended_at < to_timestamp(%s)))"
            "  ORDER BY started_at LIMIT %s FOR UPDATE SKIP LOCKED)"
            " RETURNING " + _RECORDING, (node, before, limit))
        return sorted((_recording(row) for row in rows), key=lambda r: r.started_at)

    @defer.inlineCallbacks
    def unfinished(self, node: str):
        """This node's pieces still marked as being written (after a crash: nothing writes them now)."""
        rows = yield self.db.runQuery("SELECT " + _RECORDING + " FROM recording r WHERE r.node = %s"
                                      " AND NOT r.complete AND NOT r.deleting ORDER BY r.recording_id", (node,))
        return [_recording(row) for row in rows]

    @defer.inlineCallbacks
    def usage(self, node: str):
        """(pieces, bytes) this node holds."""
        rows = yield self.db.runQuery("SELECT count(*), coalesce(sum(size), 0)::bigint FROM recording"
                                      " WHERE node = %s AND NOT deleting", (node,))
        return int(rows[0][0]), int(rows[0][1])
