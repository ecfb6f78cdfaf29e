"""The spec's rules for recording and picture policies (§7.5.13, §7.5.24).

§7.5.13: "平台判断时间是否重叠，提示用户修改策略。一天最多可设置 4 条策略" — the
platform checks that a day's windows do not overlap and that there are at
most four of them, counting those the camera holds already.  §7.5.24: a
picture policy stored by FTP (StoreType 0) has StartTime equal to EndTime and
Interval 0 (a timed push), which is a point, not a window.  Times are HH:MM.
Pure functions raising :class:`~kandian.core.errors.BadValue`.
"""

from __future__ import annotations

import re
from collections import defaultdict

from .errors import BadValue

MAX_A_DAY = 4
_HHMM = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$|^24:00$")


def minutes(hhmm: str) -> int:
    match = _HHMM.match(hhmm or "")
    if match is None:
        raise BadValue("a time is HH:MM from 00:00 to 24:00: %r" % (hhmm,))
    if hhmm == "24:00":
        return 24 * 60
    return int(match.group(1)) * 60 + int(match.group(2))


def _check_day(label: str, windows: list[tuple[int, int]]) -> None:
    if len(windows) > MAX_A_DAY:
        raise BadValue("%s: at most %d policies a day (§7.5.13), %d asked" % (label, MAX_A_DAY, len(windows)))
    ordered = sorted(windows)
    for (start, end), (next_start, _) in zip(ordered, ordered[1:]):
        if next_start < end or next_start == start:
            raise BadValue("%s: the policies %02d:%02d and %02d:%02d overlap"
                           % (label, start // 60, start % 60, next_start // 60, next_start % 60))


def check_week(existing, added) -> None:
    """§7.5.13: *added* WeekPolicy items join the *existing* ones of the channel."""
    days: dict[int, list] = defaultdict(list)
    for policy in added:
        if not 1 <= policy.Week <= 7:
            raise BadValue("Week is 1 to 7")
        if policy.StoreType not in (0, 1) or policy.StreamType not in (1, 2):
            raise BadValue("StoreType is 0 or 1, StreamType 1 or 2")
        start, end = minutes(policy.StartTime), minutes(policy.EndTime)
        if start >= end:
            raise BadValue("StartTime %s must be before EndTime %s" % (policy.StartTime, policy.EndTime))
    for policy in (*existing, *added):
        try:
            days[policy.Week].append((minutes(policy.StartTime), minutes(policy.EndTime)))
        except BadValue:
            continue  # a camera's own odd entry is its business; the new ones were checked above
    for week, windows in days.items():
        _check_day("Week %d" % week, windows)


def check_day(store_type: int, existing, added) -> None:
    """§7.5.24: *added* DayPolicy items join the *existing* ones of the channel and StoreType."""
    if store_type not in (0, 1):
        raise BadValue("StoreType is 0 (FTP) or 1 (天翼云)")
    for policy in added:
        start, end = minutes(policy.StartTime), minutes(policy.EndTime)
        if store_type == 0:
            if start != end or policy.Interval != 0:
                raise BadValue("an FTP picture policy has StartTime = EndTime and Interval 0 (§7.5.24)")
        elif start >= end or policy.Interval <= 0:
            raise BadValue("StartTime must be before EndTime and Interval more than 0")
    windows = []
    for policy in (*existing, *added):
        try:
            start, end = minutes(policy.StartTime), minutes(policy.EndTime)
        except BadValue:
            continue
        windows.append((start, max(end, start + 1)))  # a point takes its minute
    _check_day("StoreType %d" % store_type, windows)
