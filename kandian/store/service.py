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

from ..config import describe_dsn
from . import migrate
from .embedded import EmbeddedPostgres, EmbeddedPostgresError
from .listen import Listener
from .pool import DatabaseUnavailable, Pool  # noqa: F401 (DatabaseUnavailable: re-exported)
from .prepared import Statement

log = Logger()


class StoreError(Exception):
    """The store could not start; ``str()`` is one line for the operator."""


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else e.__class__.__name__


def _already(failure):
    """Prepared by an earlier call whose answer never reached us."""
    failure.trap(psycopg2.errors.DuplicatePreparedStatement)
    return None


class Database:
    """The pool with the adbapi-like calls the components use.

    During an outage every call fails with :class:`DatabaseUnavailable`
    (:mod:`kandian.store.pool`)."""

    def __init__(self, pool: Pool, reactor=None):
        self.pool = pool
        self.reactor = reactor
        self.closed = False
        self.listeners: list = []

    def runQuery(self, query, *args, **kw) -> defer.Deferred:
        if isinstance(query, Statement):
            return self.pool.run(self._run_prepared, "runQuery", query, *args)
        return self.pool.run(lambda slot: slot.connection.runQuery(query, *args, **kw))

    def runOperation(self, query, *args, **kw) -> defer.Deferred:
        if isinstance(query, Statement):
            return self.pool.run(self._run_prepared, "runOperation", query, *args)
        return self.pool.run(lambda slot: slot.connection.runOperation(query, *args, **kw))

    def runPrepared(self, statements) -> defer.Deferred:
        """Several :class:`Statement` s with their parameters, ``[(statement,
        params), …]``, in one query string: one round trip and one implicit
        transaction (each is prepared on the connection the first time)."""
        return self.pool.run(self._run_many, list(statements))

    @staticmethod
    def _run_many(slot, statements) -> defer.Deferred:
        connection, prepared = slot.connection, slot.prepared
        sql = "; ".join(statement.execute for statement, _ in statements)
        params = tuple(x for _, values in statements for x in values)
        d = defer.succeed(None)
        for statement in {s.name: s for s, _ in statements if s.name not in prepared}.values():
            d.addCallback(lambda _, s=statement: connection.runOperation(s.prepare).addErrback(_already))
            d.addCallback(lambda _, s=statement: prepared.add(s.name))
        return d.addCallback(lambda _: connection.runOperation(sql, params))

    @staticmethod
    def _run_prepared(slot, method: str, statement: Statement, params=()) -> defer.Deferred:
        connection, prepared = slot.connection, slot.prepared
        if statement.name in prepared:
            return getattr(connection, method)(statement.execute, params)

        def execute(_):
            prepared.add(statement.name)
            return getattr(connection, method)(statement.execute, params)

        return connection.runOperation(statement.prepare).addErrback(_already).addCallback(execute)

    def runInteraction(self, interaction, *args, **kw) -> defer.Deferred:
        return self.pool.run(lambda slot: slot.connection.runInteraction(interaction, *args, **kw))

    def listen(self, channel: str, on_notify, on_reset) -> Listener:
        """A started :class:`kandian.store.listen.Listener` on a connection of its own (to the pool's server,
        with its options and clock), closed with the pool."""
        pool = self.pool
        listener = Listener(pool.dsn, channel, on_notify, on_reset, pool.reactor, clock=pool.clock,
                            connect_kwargs=pool.connect_kwargs, connect_timeout=pool.connect_timeout)
        self.listeners.append(listener)
        if self.closed:
            listener.close()
        else:
            listener.start()
        return listener

    @property
    def size(self) -> int:
        return self.pool.size

    @property
    def in_use(self) -> int:
        return self.pool.in_use

    @property
    def waiting(self) -> int:
        return self.pool.waiting

    @property
    def available(self) -> bool:
        return self.pool.available

    @defer.inlineCallbacks
    def close(self, grace: float = 5.0):
        """Close every connection once the queries in flight have finished
        (at most *grace* seconds later)."""
        if self.closed:
            return
        self.closed = True
        if self.reactor is not None and (self.in_use or self.waiting):
            idle = self.pool.drained()
            idle.addTimeout(grace, self.reactor)
            try:
                yield idle
            except defer.TimeoutError:
                log.warn("closing the store with {count} queries still running", count=self.in_use)
        for listener in self.listeners:
            listener.close()
        self.pool.close()


@defer.inlineCallbacks
def connect(dsn: str, size: int, reactor, timeout: float = 10.0, timezone: str | None = None, clock=None):
    """Open a pool of *size* connections; StoreError if the server is unreachable.

    *timezone* becomes the sessions' TimeZone, so timestamps read back are in
    the platform's zone (PRODUCT.md "Timestamps").  *clock* times the
    reconnections after an outage (the reactor unless testing)."""
    extra = {"options": "-c TimeZone=%s" % (timezone,)} if timezone else {}
    pool = Pool(dsn, size, reactor, clock=clock, connect_kwargs=extra, connect_timeout=timeout)
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

    def __init__(self, config, reactor, *, owner: bool = True, migrate_on_start: bool = True, clock=None,
                 on_give_up=None):
        """*clock* (the reactor unless testing) times reconnections and
        restarts; *on_give_up(error)* is called if the embedded server cannot
        be restarted after a crash."""
        self.config = config
        self.reactor = reactor
        self.clock = clock
        self.migrate_on_start = migrate_on_start
        self.db: Database | None = None
        self.embedded: EmbeddedPostgres | None = None
        if not config.database.dsn:
            self.embedded = EmbeddedPostgres(config.data_dir, reactor, owner=owner,
                                             run_as=config.database.embedded_user, clock=clock,
                                             on_give_up=on_give_up)
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
                                timezone=self.config.platform.timezone.key, clock=self.clock)
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

