"""Timestamps on the wire: ``YYYYMMDDHHMMSS`` in the platform's time zone.

Used by REGISTER_RES, LOGIN_RES, ABILITYUP_RES, HEARTBEAT_RES (§7.2, §7.5.1–3),
alarm times (§8.19) and picture times (§7.5.27).  ``seconds`` is POSIX time as
given by ``IReactorTime.seconds()``, so callers stay testable with a Clock.
"""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

FORMAT = "%Y%m%d%H%M%S"


def format_time(seconds: float, tz: ZoneInfo) -> str:
    return datetime.datetime.fromtimestamp(seconds, tz).strftime(FORMAT)


def parse_time(value: str, tz: ZoneInfo) -> datetime.datetime:
    """Parse ``YYYYMMDDHHMMSS`` (or the ``YYYYMMDDHHMM`` of §7.5.22) as an aware
    datetime in *tz*; ValueError on anything else."""
    value = value.strip()
    if not value.isdigit() or len(value) not in (12, 14):
        raise ValueError("not a YYYYMMDDHHMMSS time: %r" % (value,))
    # what strptime with FORMAT gives, a tenth of its cost (a picture's name, an alarm's time)
    return datetime.datetime(int(value[:4]), int(value[4:6]), int(value[6:8]), int(value[8:10]),
                             int(value[10:12]), int(value[12:14] or 0), tzinfo=tz)
