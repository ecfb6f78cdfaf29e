"""The store service: embedded server (optional), pool, migrations.

``start()`` fires once the database is reachable and migrated; the root
service waits for it before any listener opens (Buildbot's AsyncMultiService
idea).  A failure is a :class:`StoreError` whose text is one line.
"""

from __future__ import annotations

import psycopg2
import psycopg2.errors
from twisted.application import service
from twisted.internet import defer
from twisted.logger import Logger
from txpostgres import txpostgres

from ..config import describe_dsn
from . import migrate
from .embedded import EmbeddedPostgres, EmbeddedPostgresError
from .prepared import Statement

log = Logger()


class StoreError(Exception):
    """The store could not start; ``str()`` is one line for the operator."""


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else e.__class__.__name__


class Database:
    """A started txpostgres pool with the adbapi-like calls the components use."""

    def __init__(self, pool: txpostgres.ConnectionPool, reactor=None):
        self.pool = pool
        self.reactor = reactor
        # the pool lends connections out of its set: keep them all to close them all
        self._connections = set(pool.connections)
        self._prepared: dict = {}  # connection → names of the statements prepared on it
        self.closed = False

    def runQuery(self, query, *args, **kw) -> defer.Deferred:
        if isinstance(query, Statement):
            return self.pool._semaphore.run(self._run_prepared, "runQuery", query, *args)
        return self.pool.runQuery(query, *args, **kw)

    def runOperation(self, query, *args, **kw) -> defer.Deferred:
        if isinstance(query, Statement):
            return self.pool._semaphore.run(self._run_prepared, "runOperation", query, *args)
        return self.pool.runOperation(query, *args, **kw)

    def _run_prepared(self, method: str, statement: Statement, params=()) -> defer.Deferred:
        # as txpostgres' pool does it: take a free connection (the semaphore
        # guarantees one), give it back when the query is over
        connection = self.pool.connections.pop()
        prepared = self._prepared.setdefault(connection, set())
        if statement.name in prepared:
            d = getattr(connection, method)(statement.execute, params)
        else:
            def execute(_):
                prepared.add(statement.name)
                return getattr(connection, method)(statement.execute, params)

            def already(failure):
                # prepared by an earlier call whose answer never reached us
                failure.trap(psycopg2.errors.DuplicatePreparedStatement)
                return None

            d = connection.runOperation(statement.prepare).addErrback(already).addCallback(execute)
        return d.addBoth(self._put_back, connection)

    def _put_back(self, result, connection):
        self.pool.connections.add(connection)
        return result

    def runInteraction(self, interaction, *args, **kw) -> defer.Deferred:
        return self.pool.runInteraction(interaction, *args, **kw)

    @property
    def size(self) -> int:
        return self.pool.min

    @property
    def in_use(self) -> int:
        return self.pool.min - self.pool._semaphore.tokens

    @property
    def waiting(self) -> int:
        return len(self.pool._semaphore.waiting)

    @defer.inlineCallbacks
    def close(self, grace: float = 5.0):
        """Close every connection once the queries in flight have finished
        (at most *grace* seconds later)."""
        if self.closed:
            return
        self.closed = True
        if self.reactor is not None and self.in_use:
            idle = defer.gatherResults([self.pool._semaphore.acquire() for _ in range(self.size)])
            idle.addTimeout(grace, self.reactor)
            try:
                yield idle
            except defer.TimeoutError:
                log.warn("closing the store with {count} queries still running", count=self.in_use)
        for connection in self._connections:
            connection.close()


@defer.inlineCallbacks
def connect(dsn: str, size: int, reactor, timeout: float = 10.0, timezone: str | None = None):
    """Open a pool of *size* connections; StoreError if the server is unreachable.

    *timezone* becomes the sessions' TimeZone, so timestamps read back are in
    the platform's zone (PRODUCT.md "Timestamps")."""
    pool_class = type("Pool", (txpostgres.ConnectionPool,), {"reactor": reactor, "min": size})
    extra = {"options": "-c TimeZone=%s" % (timezone,)} if timezone else {}
    try:
        pool = pool_class(None, dsn, **extra)
    except psycopg2.Error as e:
        raise StoreError("database unreachable (%s): %s" % (describe_dsn(dsn), _first_line(e))) from None
    d = pool.start()
    d.addTimeout(timeout, reactor)
    try:
        yield d
    except defer.TimeoutError:
        pool.close()
        raise StoreError("database unreachable (%s): no answer within %d s"
                         % (describe_dsn(dsn), timeout)) from None
    except defer.FirstError as e:
        pool.close()
        raise StoreError("database unreachable (%s): %s"
                         % (describe_dsn(dsn), _first_line(e.subFailure.value))) from None
    except psycopg2.Error as e:
        pool.close()
        raise StoreError("database unreachable (%s): %s" % (describe_dsn(dsn), _first_line(e))) from None
    return Database(pool, reactor)


class StoreService(service.Service):
    """The database for the rest of the daemon; ``db`` is set once started."""

    name = "store"

    def __init__(self, config, reactor, *, owner: bool = True, migrate_on_start: bool = True):
        self.config = config
        self.reactor = reactor
        self.migrate_on_start = migrate_on_start
        self.db: Database | None = None
        self.embedded: EmbeddedPostgres | None = None
        if not config.database.dsn:
            self.embedded = EmbeddedPostgres(config.data_dir, reactor, owner=owner,
                                             run_as=config.database.embedded_user)
        self.ready: defer.Deferred | None = None

    def start(self) -> defer.Deferred:
        """Start and fire with the :class:`Database`, or fail with StoreError."""
        if self.ready is None:
            self.ready = self._start()
        return self.ready

    @defer.inlineCallbacks
    def _start(self):
        dsn = self.config.database.dsn
        if self.embedded is not None:
            try:
                dsn = yield self.embedded.start()
            except EmbeddedPostgresError as e:
                raise StoreError(str(e)) from None
            except OSError as e:
                raise StoreError("embedded PostgreSQL: %s: %s" % (e.filename or "", e.strerror)) from None
        self.db = yield connect(dsn, self.config.database.pool_size, self.reactor,
                                timezone=self.config.platform.timezone.key)
        if self.migrate_on_start:
            try:
                yield migrate.migrate(self.db)
            except (psycopg2.Error, RuntimeError) as e:
                raise StoreError("migration failed: %s" % (_first_line(e),)) from None
        log.info("store ready ({where}, pool of {size})", size=self.db.size,
                 where="embedded PostgreSQL" if self.embedded else describe_dsn(dsn))
        return self.db

    def startService(self):
        # The root service calls start() itself and reports its failure.
        service.Service.startService(self)
        self.start()

    @defer.inlineCallbacks
    def stopService(self):
        service.Service.stopService(self)
        if self.ready is not None and not self.ready.called:
            # let a start in progress finish before tearing down under it
            settled: defer.Deferred = defer.Deferred()
            self.ready.addBoth(lambda r: (settled.callback(None), r)[1])
            yield settled
        if self.db is not None:
            yield self.db.close()
            self.db = None
        if self.embedded is not None:
            yield self.embedded.stop()

