"""Numbered SQL migrations (PRODUCT.md "Storage").

Files ``migrations/NNNN_name.sql`` in this package are applied in order, each
recorded in ``schema_version``.  All pending files run in one transaction
holding a transaction-scoped advisory lock, so running twice is a no-op and two
processes started at once (the daemon and ``kandianctl migrate``) apply each
file exactly once: the second waits for the first and then finds nothing to do.
"""

from __future__ import annotations

import re
from importlib import resources
from typing import NamedTuple

from twisted.internet import defer
from twisted.logger import Logger

log = Logger()

# pg_advisory_xact_lock key: "kand" in ASCII, so operators can recognise it in pg_locks.
LOCK_KEY = 0x6B616E64

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class Migration(NamedTuple):
    version: int
    name: str
    sql: str


def available() -> list[Migration]:
    """The migrations shipped in the package, in order."""
    found = []
    for entry in resources.files(__package__).joinpath("migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), entry.read_text("utf-8")))
    found.sort()
    versions = [m.version for m in found]
    # numbers are handed out per piece of work ahead of time, so a checkout may
    # lack some below its highest: each number once is the rule
    if len(set(versions)) != len(versions) or (versions and versions[0] < 1):
        raise RuntimeError("migrations must have distinct numbers from 1: %r" % (versions,))
    return found


def latest() -> int:
    """The highest version shipped: the schema version of an up-to-date database."""
    shipped = available()
    return shipped[-1].version if shipped else 0


def migrate(db, migrations: list[Migration] | None = None) -> defer.Deferred:
    """Apply every pending migration; fires with the list of versions applied."""
    todo = available() if migrations is None else migrations

    @defer.inlineCallbacks
    def interaction(cursor):
        yield cursor.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        yield cursor.execute(
            "CREATE TABLE IF NOT EXISTS schema_version ("
            " version integer PRIMARY KEY,"
            " name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())")
        yield cursor.execute("SELECT version FROM schema_version")
        done = {row[0] for row in cursor.fetchall()}
        known = max((m.version for m in todo), default=0)
        newer = sorted(v for v in done if v > known)
        if newer:
            raise RuntimeError("the database has schema version %d; this kandian knows only up to %d"
                               % (newer[-1], known))
        applied = []
        for migration in todo:
            if migration.version in done:
                continue
            yield cursor.execute(migration.sql)
            yield cursor.execute("INSERT INTO schema_version (version, name) VALUES (%s, %s)",
                                 (migration.version, migration.name))
            applied.append(migration)
        return applied

    def report(applied):
        for migration in applied:
            log.info("migration {version:04d} {name} applied",
                     version=migration.version, name=migration.name)
        return [m.version for m in applied]

    return db.runInteraction(interaction).addCallback(report)
