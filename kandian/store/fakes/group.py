"""The in-memory :class:`kandian.store.group.GroupStore` (tables ``group_change``, ``group_report``)."""

from __future__ import annotations

from twisted.internet import defer

from ..group import KINDS, Change, Report


def enqueue(tables: dict, kind: str, mobile: str, ipcam_num: int | None, now: float) -> None:
    """:func:`kandian.store.group.enqueue` of the fake (the users fake calls it)."""
    if kind not in KINDS:
        raise ValueError("kind must be one of %s" % ", ".join(KINDS))
    rows = tables.setdefault("group_change", {})
    change_id = tables.get("group_change_seq", 0) + 1
    tables["group_change_seq"] = change_id
    rows[change_id] = dict(change_id=change_id, kind=kind, mobile=mobile, ipcam_num=ipcam_num, created_at=now,
                           attempts=0, next_attempt_at=now, claimed_until=None, last_result=None, last_error="")


def _change(row: dict) -> Change:
    return Change(*(row[field] for field in Change._fields))


class FakeGroup:
    def __init__(self, store):
        self.tables = store.tables
        self.rows: dict[int, dict] = store.tables.setdefault("group_change", {})

    def claim(self, now: float, lease: float, limit: int = 20, mobile: str | None = None) -> defer.Deferred:
        heads: dict[str, dict] = {}
        for change_id in sorted(self.rows):
            heads.setdefault(self.rows[change_id]["mobile"], self.rows[change_id])
        claimed = []
        for row in sorted(heads.values(), key=lambda r: r["change_id"]):
            if len(claimed) == limit:
                break
            if row["next_attempt_at"] > now or (row["claimed_until"] is not None and row["claimed_until"] > now):
                continue
            if mobile is not None and row["mobile"] != mobile:
                continue
            row.update(claimed_until=now + lease, attempts=row["attempts"] + 1)
            claimed.append(_change(row))
        return defer.succeed(claimed)

    def delivered(self, change_id: int) -> defer.Deferred:
        self.rows.pop(change_id, None)
        return defer.succeed(None)

    def failed(self, change_id: int, next_attempt_at: float, result: int | None, error: str,
               kind: str | None = None) -> defer.Deferred:
        row = self.rows.get(change_id)
        if row is not None:
            row.update(claimed_until=None, next_attempt_at=next_attempt_at, last_result=result, last_error=error,
                       kind=kind or row["kind"])
        return defer.succeed(None)

    def pending(self) -> defer.Deferred:
        return defer.succeed([_change(self.rows[k]) for k in sorted(self.rows)])

    def retry(self, now: float, change_id: int | None = None) -> defer.Deferred:
        rows = [r for k, r in self.rows.items() if change_id is None or k == change_id]
        for row in rows:
            row["next_attempt_at"] = now
        return defer.succeed(len(rows))

    def drop(self, change_id: int) -> defer.Deferred:
        return defer.succeed(self.rows.pop(change_id, None) is not None)

    def report(self) -> defer.Deferred:
        report = self.tables.get("group_report")
        return defer.succeed(Report(*report) if report is not None else None)

    def save_report(self, report: Report) -> defer.Deferred:
        self.tables["group_report"] = tuple(report)
        return defer.succeed(None)
