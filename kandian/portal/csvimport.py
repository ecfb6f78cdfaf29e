"""The device import file of the portal (§2.2 设备管理): CSV in, rows for the core out.

Sans-IO.  UTF-8 (a BOM is allowed), comma-separated, one device a line:
``dev_id,dev_key[,dev_type[,model[,channels]]]``; a first line naming the
columns (with ``dev_id`` among them) is a header and may order them otherwise.  Empty lines
and lines starting with ``#`` are skipped.  A line that cannot be read is
passed on with what could be read, so the core reports it as invalid with
its line number; only a file that is not CSV at all raises :class:`CsvError`.
"""

from __future__ import annotations

import csv
import io

COLUMNS = ("dev_id", "dev_key", "dev_type", "model", "channels")
INTEGERS = ("dev_type", "channels")
MAX_BYTES = 2 * 1024 * 1024
MAX_ROWS = 10_000


class CsvError(ValueError):
    pass


def parse(data: bytes) -> list[tuple[int, dict]]:
    """[(line number, {column: value})]; integers converted where they parse
    (left as text otherwise, for the core to refuse)."""
    if len(data) > MAX_BYTES:
        raise CsvError("the file is over %d bytes" % MAX_BYTES)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CsvError("the file is not UTF-8") from None
    if "\x00" in text:
        raise CsvError("the file is not text")
    rows = []
    columns = COLUMNS
    try:
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        for fields in reader:
            line = reader.line_num
            if not fields or not "".join(fields).strip() or fields[0].lstrip().startswith("#"):
                continue
            cells = [f.strip() for f in fields]
            named = tuple(c.lower() for c in cells)
            if not rows and columns is COLUMNS and ("dev_id" in named or "dev_key" in named):
                unknown = [c for c in named if c not in COLUMNS]
                if unknown or len(set(named)) != len(named) or "dev_id" not in named:
                    raise CsvError("unknown, repeated or missing columns in the header: %s" % ", ".join(named))
                columns = named
                continue
            if len(rows) >= MAX_ROWS:
                raise CsvError("at most %d devices a file" % MAX_ROWS)
            row: dict = {}
            for name, value in zip(columns, cells):
                if name in INTEGERS:
                    row[name] = int(value) if value.lstrip("-").isdigit() and len(value) < 10 else value or None
                    if row[name] is None:
                        del row[name]
                else:
                    row[name] = value
            if len(cells) > len(columns):
                row["extra"] = cells[len(columns):]
            rows.append((line, row))
    except csv.Error as e:
        raise CsvError("not CSV: %s" % e) from None
    return rows
