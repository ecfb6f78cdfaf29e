"""JSON shapes of what the core answers, and the parsing of query values (for :mod:`.handlers`).

Times go out as ISO 8601 in the platform's time zone
(``2027-01-15T16:00:00+08:00``); times come in as ISO 8601 (without an
offset: the platform's zone) or as the wire's ``YYYYMMDDHHMMSS``.  A device
answer (a typed §7.5 message) goes out with the spec's element names, its
repeated children as lists of objects.
"""

from __future__ import annotations

import datetime

import attrs

from ..core import errors


class Times:
    def __init__(self, zone):
        self.zone = zone

    def out(self, seconds: float | None) -> str | None:
        if seconds is None:
            return None
        return datetime.datetime.fromtimestamp(seconds, self.zone).isoformat(timespec="seconds")

    def at(self, moment: datetime.datetime | None) -> str | None:
        """A store's timestamp, in the platform's zone."""
        if moment is None:
            return None
        return moment.astimezone(self.zone).isoformat(timespec="seconds")

    def parse(self, text: str, name: str) -> float:
        value = text.strip()
        try:
            if len(value) == 14 and value.isdigit():
                moment = datetime.datetime.strptime(value, "%Y%m%d%H%M%S")
            else:
                moment = datetime.datetime.fromisoformat(value)
        except ValueError:
            raise errors.BadValue("%s is ISO 8601 or YYYYMMDDHHMMSS: %r" % (name, value[:40])) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=self.zone)
        return moment.timestamp()


def integer(query: dict, name: str, default: int | None = None) -> int | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise errors.BadValue("%s is an integer" % name) from None


def boolean(query: dict, name: str) -> bool | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    lowered = raw.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise errors.BadValue("%s is true or false" % name)


def text(query: dict, name: str, max_length: int = 64) -> str | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    if len(raw) > max_length:
        raise errors.BadValue("%s is at most %d characters" % (name, max_length))
    return raw


def answer(message) -> dict:
    """A §7.5 answer with its element names (repeated children as lists)."""
    def value(v):
        if isinstance(v, tuple):
            return [value(x) for x in v]
        if attrs.has(type(v)):
            return {a.name: value(getattr(v, a.name)) for a in attrs.fields(type(v))}
        return v
    return value(message)


def page(p, items) -> dict:
    return {"items": items, "page": p.page, "per_page": p.per_page, "total": p.total}
