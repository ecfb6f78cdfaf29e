"""Real PostgreSQL for the suite: one server per test run, one database per test.

The server is the ``pgserver`` wheel's PostgreSQL, started once (blocking,
outside the reactor, so trial's dirty-reactor checks never see it) and deleted
at exit; ``KANDIAN_TEST_DSN`` points the suite at another server instead.
Each test gets a fresh database cloned from a template that the real
migrations built, so every test starts from the schema a new install has.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import os
import tempfile
import warnings

import psycopg2
from psycopg2.extensions import make_dsn, parse_dsn
from twisted.internet import defer, reactor
from twisted.trial import unittest

from kandian.store import migrate
from kandian.store.service import connect

TEMPLATE = "kandian_template"
_server = None
_admin_dsn: str | None = None
_template_ready = False
_counter = itertools.count()


def admin_dsn() -> str:
    """DSN of the maintenance database of the suite's server (started on first use)."""
    global _server, _admin_dsn
    if _admin_dsn is None:
        if os.environ.get("KANDIAN_TEST_DSN"):
            _admin_dsn = os.environ["KANDIAN_TEST_DSN"]
        else:
            with warnings.catch_warnings(), _first_start_lock():
                warnings.simplefilter("ignore")  # platformdirs' XDG_RUNTIME_DIR warning
                import pgserver
                _server = pgserver.get_server(tempfile.mkdtemp(prefix="kandian-test-pg-"),
                                              cleanup_mode="delete")
            _admin_dsn = make_dsn(_server.get_uri())
            with _autocommit(_admin_dsn) as cur:
                # durability buys nothing in a throw-away test server
                cur.execute("ALTER SYSTEM SET fsync = off")
                cur.execute("ALTER SYSTEM SET synchronous_commit = off")
                cur.execute("ALTER SYSTEM SET full_page_writes = off")
                cur.execute("SELECT pg_reload_conf()")
    return _admin_dsn


@contextlib.contextmanager
def _first_start_lock():
    """Trial's workers (``-j2``) start their servers one at a time: run as root, pgserver
    creates its ``pgserver`` system user on first use, and two workers doing that at once on a
    new machine fail (``useradd`` exit 9, or ``initdb`` refused its directory)."""
    with open(os.path.join(tempfile.gettempdir(), "kandian-test-pgserver.lock"), "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # released when the file closes
        yield


def dsn_for(database: str) -> str:
    parts = parse_dsn(admin_dsn())
    parts.pop("dbname", None)
    return make_dsn(**parts, dbname=database)


class _autocommit:
    def __init__(self, dsn):
        self.conn = psycopg2.connect(dsn)
        self.conn.autocommit = True

    def __enter__(self):
        return self.conn.cursor()

    def __exit__(self, *exc):
        self.conn.close()


@defer.inlineCallbacks
def _ensure_template():
    global _template_ready
    if _template_ready:
        return
    with _autocommit(admin_dsn()) as cur:
        cur.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % TEMPLATE)
        cur.execute("CREATE DATABASE %s" % TEMPLATE)
    db = yield connect(dsn_for(TEMPLATE), 1, reactor)
    try:
        yield migrate.migrate(db)
    finally:
        yield db.close()
    _template_ready = True


def create_database(empty: bool = False) -> str:
    """A new database (migrated unless *empty*); returns its name."""
    name = "kandian_test_%d_%d" % (os.getpid(), next(_counter))
    with _autocommit(admin_dsn()) as cur:
        cur.execute("CREATE DATABASE %s%s" % (name, "" if empty else " TEMPLATE " + TEMPLATE))
    return name


def drop_database(name: str) -> None:
    with _autocommit(admin_dsn()) as cur:
        cur.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % name)


class DatabaseTestCase(unittest.TestCase):
    """A trial TestCase with ``self.dsn`` (a fresh migrated database) and ``self.db``."""

    pool_size = 2
    empty_database = False

    @defer.inlineCallbacks
    def setUp(self):
        yield _ensure_template()
        self.database = create_database(empty=self.empty_database)
        self.addCleanup(drop_database, self.database)
        self.dsn = dsn_for(self.database)
        self.db = yield connect(self.dsn, self.pool_size, reactor, timezone="Asia/Shanghai")
        self.addCleanup(self.db.close)
