"""The connection pool: *size* txpostgres connections that come back after an outage.

PRODUCT.md "Storage".  txpostgres' own ``ConnectionPool`` never replaces a
connection: once PostgreSQL restarts, every pooled connection stays closed and
every query fails until the daemon restarts.  Here each connection is watched
(its :class:`_Slot` is the connection's txpostgres *detector*, so a socket the
server closed is noticed even while the connection is idle), a lost one is
taken out of the pool and reconnected with backoff on the injected clock, and
while no connection is up a query fails at once with
:class:`DatabaseUnavailable` instead of waiting.  The outage is logged once
when it starts and once when every connection is back, with its length; the
queries refused meanwhile are counted (``refused``), not logged.

A query whose connection dies under it is not retried: it may have committed.
Its caller gets :class:`DatabaseUnavailable` and answers its peer with the
protocol's "failed" (the device retries; no alarm is acknowledged unstored).
"""

from __future__ import annotations

import collections

import psycopg2
from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure
from txpostgres import txpostgres

log = Logger()


class DatabaseUnavailable(Exception):
    """The database cannot answer now (an outage the pool has logged).

    Callers answer their peer's "failed" / "unavailable" and log nothing more."""

    def __str__(self) -> str:
        return "database unavailable"


# errors that mean "this connection is gone" once psycopg2 marks it closed
_CONNECTION_ERRORS = (psycopg2.OperationalError, psycopg2.InterfaceError, txpostgres.RollbackFailed)


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return text or e.__class__.__name__


class _Connection(txpostgres.Connection):
    """A txpostgres connection whose death while idle is reported, not raised.

    Idle, the connection is a reader (for NOTIFY); when the server closes the
    socket, psycopg2's poll() raises with no query to fail, and the reactor
    would log that as an unhandled error with a traceback.  Returned instead,
    it is the reason handed to ``connectionLost`` — and so to the detector."""

    def doRead(self):
        try:
            return super().doRead()
        except psycopg2.Error as e:
            return e

    def doWrite(self):
        try:
            return super().doWrite()
        except psycopg2.Error as e:
            return e

    def runInteraction(self, interaction, *args, **kwargs):
        """txpostgres' ``runInteraction`` (under the connection's ``lock``,
        through its ``detector``), but a rollback that fails because the
        server dropped the connection is not logged: txpostgres logs every
        failed rollback with a traceback (``log.err``), one per transaction
        in flight when PostgreSQL dies.  The caller still gets
        ``RollbackFailed``, which the pool turns into DatabaseUnavailable."""
        if self.detector:
            return self.lock.run(self.detector.callChecking, self._transaction, interaction, *args, **kwargs)
        return self.lock.run(self._transaction, interaction, *args, **kwargs)

    def _transaction(self, interaction, *args, **kwargs):
        cursor = self.cursor()
        d = cursor.execute("begin")
        d.addCallback(interaction, *args, **kwargs)

        def commit(result):
            return cursor.execute("commit").addCallback(lambda _: result)

        def rollback(f):
            rolled_back = defer.maybeDeferred(cursor.execute, "rollback")

            def failed(rf):
                if not _closed(self):
                    log.failure("database rollback failed", rf)
                return defer.fail(txpostgres.RollbackFailed(self, f))
            rolled_back.addErrback(failed)
            return rolled_back.addCallback(lambda _: f)

        d.addCallback(commit)
        d.addErrback(rollback)
        return d


def _closed(connection) -> bool:
    try:
        return bool(connection.closed)
    except AttributeError:  # never connected
        return True


class _Slot:
    """One pooled connection and its state; the txpostgres detector of its connection."""

    def __init__(self, pool: Pool):
        self.pool = pool
        self.connection = _Connection(reactor=pool.reactor, detector=self)
        self.up = False
        self.lent = False
        self.prepared: set[str] = set()  # names of the statements PREPAREd on this connection
        self.attempts = 0
        self.retry = None  # the DelayedCall of the next reconnection

    def broken(self) -> bool:
        return _closed(self.connection)

    # -- the detector interface txpostgres.Connection calls

    def setReconnectable(self, *args, **kw):
        pass  # the pool keeps the connection arguments

    def callChecking(self, method, *args, **kw):
        if not self.up:
            return defer.fail(DatabaseUnavailable())
        return defer.maybeDeferred(method, *args, **kw).addErrback(self.checkForDeadConnection)

    def checkForDeadConnection(self, f):
        if self.up and not self.pool.closed and self.broken():
            self.pool._lost(self, f)
        return f


class Pool:
    """*size* connections to *dsn*; ``run(fn, …)`` lends one to ``fn(slot, …)``.

    *reactor* carries the sockets; *clock* (an IReactorTime, the reactor
    unless testing) times the reconnections: the first at once, then after
    *initial_delay* doubling up to *max_delay* seconds.  A reconnection that
    has not connected within *connect_timeout* is abandoned and retried."""

    def __init__(self, dsn: str, size: int, reactor, *, clock=None, connect_kwargs=None,
                 initial_delay: float = 0.5, max_delay: float = 10.0, connect_timeout: float = 10.0):
        self.dsn = dsn
        self.reactor = reactor
        self.clock = clock if clock is not None else reactor
        self.connect_kwargs = dict(connect_kwargs or {})
        self.initial_delay = initial_delay
        self.max_delay = max_delay
        self.connect_timeout = connect_timeout
        self.slots = [_Slot(self) for _ in range(size)]
        self._idle: list[_Slot] = []
        self._waiting: collections.deque[defer.Deferred] = collections.deque()
        self._drained: list[defer.Deferred] = []
        self.closed = False
        self.outage_started: float | None = None
        self.outages = 0
        self._reasons: set[str] = set()  # reconnection failures already logged in this outage
        self._attempts = 0  # failed reconnections in this outage
        self.refused = 0  # queries answered DatabaseUnavailable since start

    # -- state

    @property
    def size(self) -> int:
        return len(self.slots)

    @property
    def up(self) -> int:
        return sum(1 for s in self.slots if s.up)

    @property
    def in_use(self) -> int:
        return sum(1 for s in self.slots if s.lent)

    @property
    def idle(self) -> int:
        return len(self._idle)

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @property
    def available(self) -> bool:
        """Whether a query can be answered now (at least one connection is up)."""
        return not self.closed and any(s.up for s in self.slots)

    @property
    def connections(self) -> list:
        """The idle connections (for tests and maintenance: use ``run`` otherwise)."""
        return [s.connection for s in self._idle]

    # -- start and stop

    def start(self) -> defer.Deferred:
        """Connect every slot; fires with the pool, or fails with the first error."""
        d = defer.DeferredList([s.connection.connect(self.dsn, **self.connect_kwargs) for s in self.slots],
                               fireOnOneErrback=True, consumeErrors=True)

        def started(_):
            for slot in self.slots:
                slot.up = True
                self._idle.append(slot)
            return self
        return d.addCallback(started)

    def close(self) -> None:
        self.closed = True
        for slot in self.slots:
            slot.up = False
            if slot.retry is not None and slot.retry.active():
                slot.retry.cancel()
            try:
                slot.connection.close()
            except Exception:
                pass  # never connected, or already gone
        self._idle.clear()
        self._refuse_waiters()

    def drained(self) -> defer.Deferred:
        """Fires once no connection is lent and no query waits for one."""
        d: defer.Deferred = defer.Deferred()
        self._drained.append(d)
        self._check_drained()
        return d

    def _check_drained(self):
        if self._drained and not self.in_use and not self._waiting:
            drained, self._drained = self._drained, []
            for d in drained:
                d.callback(None)

    # -- lending

    def run(self, fn, *args, **kw) -> defer.Deferred:
        """``fn(slot, *args, **kw)`` on a lent connection, given back when it fires."""
        return self._acquire().addCallback(self._run_on, fn, args, kw)

    def _acquire(self) -> defer.Deferred:
        if self._idle:
            slot = self._idle.pop()
            slot.lent = True
            return defer.succeed(slot)
        if not self.available:
            self.refused += 1
            return defer.fail(DatabaseUnavailable())
        d: defer.Deferred = defer.Deferred(self._waiting.remove)
        self._waiting.append(d)
        return d

    def _run_on(self, slot: _Slot, fn, args, kw) -> defer.Deferred:
        d = defer.maybeDeferred(fn, slot, *args, **kw)
        d.addErrback(self._unavailable, slot)
        d.addBoth(self._give_back, slot)
        return d

    def _unavailable(self, f, slot: _Slot):
        if not slot.up and f.check(*_CONNECTION_ERRORS, DatabaseUnavailable):
            self.refused += 1
            return defer.fail(DatabaseUnavailable())
        return f

    def _give_back(self, result, slot: _Slot):
        slot.lent = False
        if slot.up and not self.closed:
            if self._waiting:
                slot.lent = True
                self._waiting.popleft().callback(slot)
            else:
                self._idle.append(slot)
        self._check_drained()
        return result

    def _refuse_waiters(self):
        waiting, self._waiting = self._waiting, collections.deque()
        for d in waiting:
            self.refused += 1
            d.errback(DatabaseUnavailable())
        self._check_drained()

    # -- outages

    def _lost(self, slot: _Slot, f) -> None:
        slot.up = False
        slot.prepared.clear()
        if slot in self._idle:
            self._idle.remove(slot)
        if self.outage_started is None:
            self.outage_started = self.clock.seconds()
            self.outages += 1
            self._refused_before = self.refused
            self._reasons.clear()
            self._attempts = 0
            log.warn("database connection lost ({why}); reconnecting, and refusing queries while none is up",
                     why=_one_line(f.value))
        if not self.available:
            self._refuse_waiters()
        self._schedule(slot, 0)

    def _schedule(self, slot: _Slot, delay: float) -> None:
        slot.retry = self.clock.callLater(delay, self._reconnect, slot)

    def _reconnect(self, slot: _Slot) -> None:
        slot.retry = None
        if self.closed:
            return
        try:
            slot.connection.close()
        except Exception:
            pass  # already closed
        done = []
        connecting = slot.connection.connect(self.dsn, **self.connect_kwargs)
        # closing the connection fails a connect that hangs (an unreachable host)
        timeout = self.clock.callLater(self.connect_timeout, slot.connection.close)

        def settled(result):
            if timeout.active():
                timeout.cancel()
            if done:
                return None
            done.append(True)
            if isinstance(result, Failure):
                self._failed(slot, result)
            else:
                self._back(slot)
            return None
        connecting.addBoth(settled)

    def _failed(self, slot: _Slot, f) -> None:
        if self.closed:
            return
        slot.attempts += 1
        self._attempts += 1
        delay = min(self.max_delay, self.initial_delay * 2 ** (slot.attempts - 1))
        why = _one_line(f.value)
        if why not in self._reasons and len(self._reasons) < 8:
            # each new reason once per outage: a retry every few seconds must not flood the log
            self._reasons.add(why)
            log.info("database reconnection failed ({why}); retrying, at most every {max:g} s",
                     why=why, max=self.max_delay)
        self._schedule(slot, delay)

    def _back(self, slot: _Slot) -> None:
        if self.closed:
            slot.connection.close()
            return
        slot.up = True
        slot.attempts = 0
        if not slot.lent:
            self._give_back(None, slot)
        if self.outage_started is not None and all(s.up for s in self.slots):
            log.info("database connections restored after {seconds:.1f} s; {refused} queries refused and"
                     " {attempts} reconnections failed meanwhile",
                     seconds=self.clock.seconds() - self.outage_started,
                     refused=self.refused - self._refused_before, attempts=self._attempts)
            self.outage_started = None


def log_failure(logger: Logger, format: str, failure: Failure | None = None, **kw) -> None:
    """``logger.failure(format, failure, **kw)`` for a failed store call —
    except :class:`DatabaseUnavailable`: the pool logged the outage once and
    counts the queries it refused."""
    failure = failure if failure is not None else Failure()
    if not failure.check(DatabaseUnavailable):
        logger.failure(format, failure, **kw)
