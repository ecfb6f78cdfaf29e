"""The embedded default database (PRODUCT.md "Storage").

When ``[database] dsn`` is empty the daemon runs a private PostgreSQL from the
``pgserver`` wheel's binaries under ``<data_dir>/postgres``.  We drive the
binaries ourselves instead of calling ``pgserver.get_server()``: that call
blocks (``subprocess.run``, ``time.sleep``) and detaches the server through
``pg_ctl``.  Here ``initdb`` and ``postgres`` are children spawned through the
reactor, readiness is polled with the injected clock, and stopping the service
sends the postmaster SIGINT (PostgreSQL's "fast" shutdown) and waits for it to
exit — no orphan is left behind.

A postmaster that dies while the daemon runs (killed, OOM) is restarted at
once, then with backoff on the injected clock; the pool reconnects to it by
itself (:mod:`kandian.store.pool`) and the device links stay up meanwhile.
After ``max_restarts`` failed attempts in a row ``on_give_up`` is called: the
daemon then exits non-zero and leaves the rest to systemd.

The server listens on a Unix socket only (``listen_addresses = ''``).  When the
process runs as root, PostgreSQL refuses to start as root, so the children run
as ``[database] embedded_user`` (default ``nobody``) which then owns the data
directory.

``kandianctl`` and a second daemon on the same data directory *attach* to a
server that is already running instead of starting their own.  Only the
process that owns the server (``owner=True``, the daemon) stops a server it
attached to; ``kandianctl`` leaves it running.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import signal
import tempfile

from twisted.internet import defer, error, protocol
from twisted.internet.interfaces import IReactorProcess, IReactorTime
from twisted.logger import Logger

log = Logger()

DATABASE = "kandian"
SUPERUSER = "kandian"
PORT = 5432
# sun_path is 108 bytes on Linux; leave room for "/.s.PGSQL.5432".
_MAX_SOCKET_DIR = 90


class EmbeddedPostgresError(Exception):
    """The embedded server could not be started; ``str()`` is one line."""


def _bin_dir() -> str:
    # Located without importing pgserver: its package import starts platformdirs
    # and file locks that the daemon does not use.
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedPostgresError("the pgserver wheel is not installed; set [database] dsn")
    return os.path.join(list(spec.submodule_search_locations)[0], "pginstall", "bin")


class _Child(protocol.ProcessProtocol):
    """Collects a child's output for error messages and fires when it ends."""

    def __init__(self, name: str):
        self.name = name
        self.output: list[str] = []
        self.ended: defer.Deferred = defer.Deferred()
        self.exit_code: int | None = None
        self.signal: int | None = None
        self.ready = False  # the server said "ready" (postgres only)

    def childDataReceived(self, fd, data):
        for line in data.decode("utf-8", "replace").splitlines():
            if line.strip():
                # kept for the error message if the child fails
                self.output.append(line.strip())
        del self.output[:-50]

    def processEnded(self, reason):
        self.exit_code = getattr(reason.value, "exitCode", None)
        self.signal = getattr(reason.value, "signal", None)
        self.ended.callback(self.exit_code)

    def last_error(self) -> str:
        for line in reversed(self.output):
            if "FATAL" in line or "ERROR" in line or "error" in line:
                return line
        return self.output[-1] if self.output else "no output"


def read_postmaster_pid(pgdata: str) -> tuple[int, str, str] | None:
    """(pid, socket_dir, status) from ``postmaster.pid``, or None."""
    try:
        with open(os.path.join(pgdata, "postmaster.pid")) as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    if len(lines) < 8:
        return None
    try:
        return int(lines[0]), lines[4].strip(), lines[7].strip()
    except ValueError:
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class EmbeddedPostgres:
    """Start (or attach to) the private server; ``start()`` fires with a DSN."""

    #: consecutive failed restarts after which ``on_give_up`` is called
    max_restarts = 6

    def __init__(self, data_dir: str, reactor: IReactorProcess | IReactorTime, *,
                 run_as: str = "nobody", owner: bool = True, start_timeout: float = 60.0, clock=None,
                 on_give_up=None):
        """*clock* (the reactor unless testing) times restarts after a crash."""
        self.pgdata = os.path.join(os.path.abspath(data_dir), "postgres")
        self.reactor = reactor
        self.clock = clock if clock is not None else reactor
        self.owner = owner
        self.start_timeout = start_timeout
        self._run_as = run_as
        self._postgres: _Child | None = None
        self._attached_pid: int | None = None
        self._temporary_socket_dir: str | None = None
        self.dsn: str | None = None
        self._socket_dir: str | None = None
        self._stopping = False
        self._restart_call = None
        self._ready_check = None
        self._restart_attempts = 0
        self.crashes = 0
        #: called with the error once the server could not be restarted
        self.on_give_up = on_give_up

    # -- who runs the server

    def _ids(self) -> tuple[int | None, int | None]:
        if os.geteuid() != 0:
            return None, None
        try:
            entry = pwd.getpwnam(self._run_as)
        except KeyError:
            raise EmbeddedPostgresError(
                "running as root, the embedded PostgreSQL needs [database] embedded_user;"
                " user %r does not exist" % (self._run_as,)) from None
        return entry.pw_uid, entry.pw_gid

    def _spawn(self, name: str, args: list[str]) -> _Child:
        uid, gid = self._ids()
        child = _Child(name)
        env = {"PATH": _bin_dir() + ":/usr/bin:/bin", "LC_ALL": "C", "LANG": "C"}
        self.reactor.spawnProcess(child, os.path.join(_bin_dir(), args[0]), args, env=env,
                                  path=self.pgdata, uid=uid, gid=gid,
                                  childFDs={0: "w", 1: "r", 2: "r"})
        return child

    def _prepare_dirs(self) -> str:
        uid, gid = self._ids()
        os.makedirs(self.pgdata, mode=0o700, exist_ok=True)
        socket_dir = os.path.join(self.pgdata, "run")
        if len(socket_dir) > _MAX_SOCKET_DIR:
            socket_dir = self._temporary_socket_dir = tempfile.mkdtemp(prefix="kandian-pg-")
        os.makedirs(socket_dir, mode=0o700, exist_ok=True)
        if uid is not None:
            for path in (self.pgdata, socket_dir):
                os.chown(path, uid, gid)
            os.chmod(self.pgdata, 0o700)
            self._make_reachable(os.path.dirname(self.pgdata))
        return socket_dir

    @staticmethod
    def _make_reachable(directory: str) -> None:
        """Let the server's user traverse (not list) every ancestor of its
        data directory, as pgserver does; only when kandian runs as root."""
        while True:
            mode = os.stat(directory).st_mode
            if mode & 0o001 == 0:
                os.chmod(directory, mode | 0o001)
                log.info("made {directory} traversable for the embedded PostgreSQL", directory=directory)
            parent = os.path.dirname(directory)
            if parent == directory:
                return
            directory = parent

    # -- start

    @defer.inlineCallbacks
    def start(self):
        running = read_postmaster_pid(self.pgdata)
        if running and _alive(running[0]):
            yield self._wait_ready()
            pid, socket_dir, _ = read_postmaster_pid(self.pgdata)
            self._attached_pid = pid
            log.info("attached to the embedded PostgreSQL already running (pid {pid})", pid=pid)
        else:
            socket_dir = self._prepare_dirs()
            if not os.path.exists(os.path.join(self.pgdata, "PG_VERSION")):
                yield self._initdb()
            self._socket_dir = socket_dir
            yield self._run_postgres()
            log.info("embedded PostgreSQL started (pid {pid}, data {pgdata})",
                     pid=read_postmaster_pid(self.pgdata)[0], pgdata=self.pgdata)
        self.dsn = "host=%s port=%d user=%s dbname=%s" % (socket_dir, PORT, SUPERUSER, DATABASE)
        yield self._ensure_database(socket_dir)
        return self.dsn

    def _run_postgres(self) -> defer.Deferred:
        """Spawn the postmaster; fires once it is ready."""
        self._postgres = child = self._spawn("postgres", [
            "postgres", "-D", self.pgdata, "-k", self._socket_dir, "-p", str(PORT),
            "-c", "listen_addresses=", "-c", "logging_collector=off",
            "-c", "max_connections=200",
        ])
        child.ended.addCallback(self._postgres_ended, child)
        return self._wait_ready(child)

    @defer.inlineCallbacks
    def _initdb(self):
        # initdb refuses a non-empty directory; our socket dir may live inside.
        child = self._spawn("initdb", [
            "initdb", "-D", os.path.join(self.pgdata, "data.new"), "-U", SUPERUSER,
            "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-instructions",
        ])
        code = yield child.ended
        if code != 0:
            raise EmbeddedPostgresError("initdb failed (exit %s): %s" % (code, child.last_error()))
        new = os.path.join(self.pgdata, "data.new")
        for name in os.listdir(new):
            os.rename(os.path.join(new, name), os.path.join(self.pgdata, name))
        os.rmdir(new)
        log.info("embedded PostgreSQL initialised in {pgdata}", pgdata=self.pgdata)

    # -- restart after a crash

    def _postgres_ended(self, code, child: _Child):
        if child is not self._postgres or self._stopping or not child.ready:
            return code  # a restart that failed is handled by _restart
        self.crashes += 1
        log.critical("embedded PostgreSQL exited unexpectedly ({how}): {why}; restarting it",
                     how="signal %s" % child.signal if child.signal else "exit %s" % code, why=child.last_error())
        self._restart_later(0)
        return code

    def _restart_later(self, delay: float) -> None:
        self._restart_call = self.clock.callLater(delay, self._restart)

    def _restart(self) -> None:
        self._restart_call = None
        if self._stopping:
            return
        self._restart_attempts += 1
        d = self._run_postgres()

        def restarted(_):
            self._restart_attempts = 0
            log.info("embedded PostgreSQL restarted (pid {pid})", pid=read_postmaster_pid(self.pgdata)[0])

        def failed(f):
            if self._stopping:
                return
            if self._restart_attempts >= self.max_restarts:
                log.critical("embedded PostgreSQL could not be restarted ({attempts} attempts): {why}",
                             attempts=self._restart_attempts, why=f.getErrorMessage())
                if self.on_give_up is not None:
                    self.on_give_up(f.value)
                return
            # a SIGKILLed postmaster's backends may hold its shared memory a moment longer
            delay = min(30.0, 2.0 ** (self._restart_attempts - 1))
            log.warn("embedded PostgreSQL did not restart ({why}); next try in {delay:.0f} s",
                     why=f.getErrorMessage(), delay=delay)
            self._restart_later(delay)

        d.addCallbacks(restarted, failed)

    def _wait_ready(self, child: _Child | None = None) -> defer.Deferred:
        """Poll ``postmaster.pid`` until the server says ``ready``."""
        result: defer.Deferred = defer.Deferred()
        deadline = self.reactor.seconds() + self.start_timeout

        def check():
            if child is not None and child.ended.called:
                result.errback(EmbeddedPostgresError(
                    "embedded PostgreSQL did not start: %s" % (child.last_error(),)))
                return
            info = read_postmaster_pid(self.pgdata)
            if info and info[2] == "ready" and _alive(info[0]):
                if child is not None:
                    child.ready = True
                result.callback(info)
            elif self.reactor.seconds() > deadline:
                result.errback(EmbeddedPostgresError(
                    "embedded PostgreSQL not ready after %d s" % (self.start_timeout,)))
            else:
                self._ready_check = self.reactor.callLater(0.05, check)

        check()
        return result

    @defer.inlineCallbacks
    def _ensure_database(self, socket_dir):
        import psycopg2
        from txpostgres import txpostgres
        conn = txpostgres.Connection(reactor=self.reactor)
        yield conn.connect("host=%s port=%d user=%s dbname=postgres" % (socket_dir, PORT, SUPERUSER))
        try:
            rows = yield conn.runQuery("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,))
            if not rows:
                try:
                    yield conn.runOperation("CREATE DATABASE %s" % (DATABASE,))
                except psycopg2.errors.DuplicateDatabase:
                    pass  # another process won the race
        finally:
            conn.close()

    # -- stop

    @defer.inlineCallbacks
    def stop(self):
        self._stopping = True
        if self._restart_call is not None and self._restart_call.active():
            self._restart_call.cancel()
        try:
            yield self._stop_server()
        finally:
            if self._ready_check is not None and self._ready_check.active():
                self._ready_check.cancel()

    @defer.inlineCallbacks
    def _stop_server(self):
        if self._postgres is not None and not self._postgres.ended.called:
            self._signal(self._postgres, signal.SIGINT)
            timeout = self.reactor.callLater(30, self._signal, self._postgres, signal.SIGQUIT)
            yield self._postgres.ended
            if timeout.active():
                timeout.cancel()
            log.info("embedded PostgreSQL stopped")
            if self._temporary_socket_dir is not None:
                shutil.rmtree(self._temporary_socket_dir, ignore_errors=True)
        elif self._attached_pid is not None and self.owner and _alive(self._attached_pid):
            os.kill(self._attached_pid, signal.SIGINT)
            yield self._wait_gone(self._attached_pid)
            log.info("embedded PostgreSQL stopped (pid {pid})", pid=self._attached_pid)

    def _signal(self, child: _Child, signo: int) -> None:
        try:
            child.transport.signalProcess(signo)
        except error.ProcessExitedAlready:
            pass

    def _wait_gone(self, pid: int) -> defer.Deferred:
        done: defer.Deferred = defer.Deferred()
        deadline = self.reactor.seconds() + 30

        def check():
            if not _alive(pid):
                done.callback(None)
            elif self.reactor.seconds() > deadline:
                os.kill(pid, signal.SIGQUIT)
                done.callback(None)
            else:
                self.reactor.callLater(0.05, check)

        check()
        return done
