"""How kandianctl prints: aligned tables (CJK-aware) and times."""

from __future__ import annotations

import datetime
import unicodedata


class CommandError(Exception):
    """A failure to report in one line."""


def when(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else "-"


def at(seconds: float | None, zone) -> str:
    """POSIX seconds as local time in *zone* (the platform's timezone)."""
    if seconds is None:
        return "-"
    return datetime.datetime.fromtimestamp(seconds, zone).strftime("%Y-%m-%d %H:%M:%S")


def _width(text: str) -> int:
    # CJK manufacturer names take two terminal columns per character
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def table(out, header: list[str], rows: list[list[object]]) -> None:
    cells = [[str(cell) for cell in row] for row in [header, *rows]]
    widths = [max(_width(cell) for cell in column) for column in zip(*cells)]
    for row in cells:
        out.write("  ".join(cell + " " * (width - _width(cell))
                            for cell, width in zip(row, widths)).rstrip() + "\n")
