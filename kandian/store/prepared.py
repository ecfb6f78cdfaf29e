"""Statements prepared once per pooled connection (PostgreSQL ``PREPARE``).

The hot queries of the MCU service (the session and device checks, the
device list, the play tokens) spend more of PostgreSQL's time being parsed
and planned than being run (docs/benchmarks.md, "SOAP").  A :class:`Statement` is written like
any other query, with ``%s`` placeholders; :class:`kandian.store.service.Database`
prepares it on a connection the first time that connection runs it and from
then on sends ``EXECUTE name (...)``, the values still quoted by psycopg2.
PostgreSQL re-plans a prepared statement by itself when a table it reads
changes (a migration), so nothing here needs invalidating.

A statement made with ``durable=False`` commits without waiting for its WAL
flush (``SET LOCAL synchronous_commit = off`` sent in the same query string,
so it covers that one implicit transaction only).  That is for rows whose
loss in a crash of PostgreSQL costs a retry and nothing else — an MCU
session (the app logs in again) or an unused 60-second play token (the app
asks for another) — never for a device's acknowledged report or a consumed
token.  A crash can lose at most the last few hundred milliseconds of them;
the database stays consistent either way.
"""

from __future__ import annotations

import itertools
import re

_names = itertools.count(1)
_PLACEHOLDER = re.compile(r"%(s|%)")


class Statement:
    """One query, prepared per connection on first use."""

    def __init__(self, sql: str, durable: bool = True, local: tuple[str, ...] = ()):
        """*local*: settings (``TimeZone``) given for this one run, ``SET LOCAL`` in the same query string:
        their values come first in the parameters."""
        self.sql = sql
        self.durable = durable
        self.name = "kandian_%d" % next(_names)
        numbers = itertools.count(1)
        server_side = _PLACEHOLDER.sub(lambda m: "$%d" % next(numbers) if m.group(1) == "s" else "%", sql)
        self.params = next(numbers) - 1
        self.prepare = "PREPARE %s AS %s" % (self.name, server_side)
        self.execute = ("EXECUTE %s (%s)" % (self.name, ", ".join(["%s"] * self.params)) if self.params
                        else "EXECUTE %s" % (self.name,))
        if not durable:
            self.execute = "SET LOCAL synchronous_commit = off; " + self.execute
        for setting in reversed(local):
            self.execute = "SET LOCAL %s = %%s; " % (setting,) + self.execute

    def __repr__(self) -> str:
        return "<Statement %s: %s>" % (self.name, " ".join(self.sql.split())[:80])
