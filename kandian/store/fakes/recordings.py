"""In memory: :class:`kandian.store.recordings.RecordingStore` (recording_schedule, recording)."""

from __future__ import annotations

import itertools

from twisted.internet import defer

from ...core.errors import NoSuchChannel, ScheduleOverlap
from ..recordings import Recording, Schedule, check_window


class FakeRecordings:
    def __init__(self, store):
        self.tables = store.tables
        self.channel = store.tables.setdefault("channel", {})
        self.bindings = store.tables.setdefault("user_device", {})  # (user_id, dev_id) → share_flag
        self.schedule_rows: dict[int, Schedule] = store.tables.setdefault("recording_schedule", {})
        self.rows: dict[int, dict] = store.tables.setdefault("recording", {})
        self._schedule_ids = itertools.count(1)
        self._ids = itertools.count(1)

    # -- schedules

    def add_schedule(self, dev_id, channel_no, weekday, start, duration, now):
        check_window(weekday, start, duration)
        if (dev_id, channel_no) not in self.channel:
            return defer.fail(NoSuchChannel("%s has no channel %s" % (dev_id, channel_no)))
        clash = self._clash(dev_id, channel_no, weekday, start, duration, None)
        if clash:
            return defer.fail(ScheduleOverlap("overlaps schedule %d" % clash))
        s = Schedule(next(self._schedule_ids), dev_id, channel_no, weekday, start, duration, now, now)
        self.schedule_rows[s.schedule_id] = s
        return defer.succeed(s)

    def update_schedule(self, schedule_id, weekday, start, duration, now):
        check_window(weekday, start, duration)
        s = self.schedule_rows.get(schedule_id)
        if s is None:
            return defer.succeed(None)
        clash = self._clash(s.dev_id, s.channel_no, weekday, start, duration, schedule_id)
        if clash:
            return defer.fail(ScheduleOverlap("overlaps schedule %d" % clash))
        s = self.schedule_rows[schedule_id] = s._replace(weekday=weekday, start=start, duration=duration,
                                                         updated_at=now)
        return defer.succeed(s)

    def _clash(self, dev_id, channel_no, weekday, start, duration, exclude):
        for s in sorted(self.schedule_rows.values()):
            if ((s.dev_id, s.channel_no, s.weekday) == (dev_id, channel_no, weekday) and s.schedule_id != exclude
                    and s.start < start + duration and start < s.start + s.duration):
                return s.schedule_id
        return None

    def schedule(self, schedule_id):
        return defer.succeed(self.schedule_rows.get(schedule_id))

    def schedules(self, dev_id=None, channel_no=None):
        found = [s for s in self.schedule_rows.values()
                 if (dev_id is None or s.dev_id == dev_id) and (channel_no is None or s.channel_no == channel_no)]
        return defer.succeed(sorted(found, key=lambda s: (s.dev_id, s.channel_no, s.weekday, s.start)))

    def delete_schedule(self, schedule_id):
        found = self.schedule_rows.pop(schedule_id, None) is not None
        if found:
            for row in self.rows.values():
                if row["schedule_id"] == schedule_id:
                    row["schedule_id"] = None
        return defer.succeed(found)

    # -- pieces

    def begin(self, node, dev_id, channel_no, stream_type, schedule_id, run_id, seq, path, started_at):
        recording_id = next(self._ids)
        run_id = recording_id if run_id is None else run_id
        if any(r["run_id"] == run_id and r["seq"] == seq for r in self.rows.values()):
            return defer.fail(ValueError("duplicate (run_id, seq)"))
        self.rows[recording_id] = dict(
            recording_id=recording_id, run_id=run_id, seq=seq, node=node, dev_id=dev_id, channel_no=channel_no,
            stream_type=stream_type, schedule_id=schedule_id if schedule_id in self.schedule_rows else None,
            path=path, started_at=float(started_at), ended_at=None, duration=0.0, size=0, complete=False,
            segments=None, snapshot=None, deleting=False)
        return defer.succeed(recording_id)

    def finish(self, recording_id, ended_at, duration, size):
        row = self.rows.get(recording_id)
        if row is not None:
            row.update(complete=True, ended_at=float(ended_at), duration=float(duration), size=int(size))
        return defer.succeed(row is not None)

    def describe(self, recording_id, segments, snapshot):
        row = self.rows.get(recording_id)
        if row is not None:
            row.update(segments=tuple(tuple(s) for s in segments) if segments is not None else None,
                       snapshot=snapshot)
        return defer.succeed(row is not None)

    def discard(self, recording_id):
        self.rows.pop(recording_id, None)
        return defer.succeed(None)

    def _out(self, row) -> Recording:
        return Recording(*(row[f] for f in Recording._fields))

    def get(self, recording_id):
        row = self.rows.get(recording_id)
        return defer.succeed(self._out(row) if row is not None and not row["deleting"] else None)

    def run(self, run_id):
        rows = sorted((r for r in self.rows.values() if r["run_id"] == run_id and not r["deleting"]),
                      key=lambda r: r["seq"])
        return defer.succeed([self._out(r) for r in rows])

    def page(self, f, offset, limit):
        def selected(r):
            return (not r["deleting"]
                    and (f.user_id is None or (f.user_id, r["dev_id"]) in self.bindings)
                    and (f.dev_id is None or r["dev_id"] == f.dev_id)
                    and (f.channel_no is None or r["channel_no"] == f.channel_no)
                    and (f.since is None or r["ended_at"] is None or r["ended_at"] > f.since)
                    and (f.until is None or r["started_at"] < f.until))
        found = sorted((r for r in self.rows.values() if selected(r)),
                       key=lambda r: (r["started_at"], r["recording_id"]), reverse=True)
        return defer.succeed((len(found), [self._out(r) for r in found[offset:offset + limit]]))

    def claim(self, recording_id):
        row = self.rows.get(recording_id)
        if row is None or row["deleting"]:
            return defer.succeed(None)
        if row["complete"]:
            row["deleting"] = True
        return defer.succeed(self._out(row))

    def remove(self, recording_id):
        self.rows.pop(recording_id, None)
        return defer.succeed(None)

    def expired(self, node, before, limit):
        found = sorted((r for r in self.rows.values() if r["node"] == node and (
            r["deleting"] or (r["complete"] and r["ended_at"] < before))), key=lambda r: r["started_at"])[:limit]
        for r in found:
            r["deleting"] = True
        return defer.succeed([self._out(r) for r in found])

    def unfinished(self, node):
        found = sorted((r for r in self.rows.values() if r["node"] == node and not r["complete"]
                        and not r["deleting"]), key=lambda r: r["recording_id"])
        return defer.succeed([self._out(r) for r in found])

    def usage(self, node):
        mine = [r for r in self.rows.values() if r["node"] == node and not r["deleting"]]
        return defer.succeed((len(mine), sum(r["size"] for r in mine)))
