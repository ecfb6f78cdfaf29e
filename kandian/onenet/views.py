"""Query values in, JSON values out, as spec/001 writes them.

Times go out as ``YYYY-MM-DD HH:MM:SS`` in the platform's time zone and come
in as that, or as a day ``YYYY-MM-DD`` (§17: a start day means its first
second, an end day the first second of the next day), or as UNIX seconds
where the file says so (§5.2).  A ``device_id`` is a DevID; where the file's
example writes it as a number it goes out as one (unless it starts with 0,
which a number cannot keep).  ``channel_id`` counts from 1: ChannelNo + 1.
"""

from __future__ import annotations

import datetime
import re

from ..core import errors

_DAY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_MOMENT = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}:[0-9]{2}$")
_DIGITS = re.compile(r"^[0-9]{1,32}$")
FORMAT = "%Y-%m-%d %H:%M:%S"


class Times:
    def __init__(self, zone):
        self.zone = zone

    def out(self, seconds: float | None) -> str | None:
        if seconds is None:
            return None
        return datetime.datetime.fromtimestamp(seconds, self.zone).strftime(FORMAT)

    def day_out(self, seconds: float) -> str:
        return datetime.datetime.fromtimestamp(seconds, self.zone).strftime("%Y-%m-%d")

    def parse(self, text: str, name: str, *, end: bool = False) -> float:
        """POSIX seconds of *text*: a moment, or a day (its start; with *end*, the next day's)."""
        value = text.strip()
        try:
            if _DAY.match(value):
                day = datetime.date.fromisoformat(value) + datetime.timedelta(days=1 if end else 0)
                moment = datetime.datetime.combine(day, datetime.time())
            elif _MOMENT.match(value):
                moment = datetime.datetime.strptime(value.replace("T", " "), FORMAT)
            else:
                raise ValueError(value)
        except ValueError:
            raise errors.BadValue("%s is YYYY-MM-DD or YYYY-MM-DD HH:MM:SS" % name) from None
        return moment.replace(tzinfo=self.zone).timestamp()


def required(query: dict, name: str) -> str:
    value = query.get(name)
    if value is None or value == "":
        raise errors.BadValue("%s is required" % name)
    return value


def integer(query: dict, name: str, default: int | None = None, *, low: int | None = None,
            high: int | None = None) -> int | None:
    raw = query.get(name)
    if raw is None or raw.strip() == "":
        if default is None and low is not None:
            raise errors.BadValue("%s is required" % name)
        return default
    raw = raw.strip()
    if not re.fullmatch(r"-?[0-9]{1,18}", raw):
        raise errors.BadValue("%s is an integer" % name)
    value = int(raw)
    if (low is not None and value < low) or (high is not None and value > high):
        raise errors.BadValue("%s is %s to %s" % (name, low, high))
    return value


def boolean(query: dict, name: str) -> bool | None:
    raw = (query.get(name) or "").strip().lower()
    if not raw:
        return None
    if raw in ("true", "1"):
        return True
    if raw in ("false", "0"):
        return False
    raise errors.BadValue("%s is true or false" % name)


def text(query: dict, name: str, limit: int = 256) -> str | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    if len(raw) > limit:
        raise errors.BadValue("%s is %d characters at most" % (name, limit))
    return raw


def device_id(query: dict, name: str = "device_id", *, required_: bool = True) -> str | None:
    """A DevID; one that cannot be a device's is "no such device"."""
    raw = (query.get(name) or "").strip()
    if not raw:
        if required_:
            raise errors.BadValue("%s is required" % name)
        return None
    if not _DIGITS.match(raw):
        raise errors.NoSuchDevice("no device %s" % (raw[:32],))
    return raw


def channel_no(query: dict, name: str = "channel_id", *, required_: bool = True, default: int | None = None):
    """The ChannelNo of a ``channel_id`` (from 1)."""
    value = integer(query, name, low=1, high=256) if required_ else integer(query, name, None, low=None)
    if value is None:
        return default
    if not 1 <= value <= 256:
        raise errors.BadValue("%s is 1 to 256" % name)
    return value - 1


def channel_id(channel_no: int) -> int:
    return channel_no + 1


def dev_number(dev_id: str):
    """A DevID where the file's example writes a number."""
    return int(dev_id) if dev_id.isdigit() and not dev_id.startswith("0") else dev_id


def page_info(total: int, page: int, per_page: int) -> dict:
    return {"total_num": total, "page_total": (total + per_page - 1) // per_page, "page_size": per_page,
            "current_page": page}
