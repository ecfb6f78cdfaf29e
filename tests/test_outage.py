"""The store across a PostgreSQL outage: real server, its backends killed.

The suite's server stays up; the test database's connections are refused
(``ALLOW_CONNECTIONS false``) and its backends terminated from an admin
connection, which is what the pool sees when PostgreSQL restarts.  The
backoff runs on a ``task.Clock``; the sockets on the real reactor.
"""

import io
import json
import os
import signal

from twisted.internet import defer, endpoints, protocol, reactor, task
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.logger import globalLogPublisher
from twisted.trial import unittest
from twisted.web.client import Agent, FileBodyProducer, readBody
from twisted.web.http_headers import Headers

from kandian import config
from kandian.sim.link import LoginRefused
from kandian.sim.state import DeviceState
from kandian.store.devices import DeviceStore
from kandian.store.embedded import read_postmaster_pid
from kandian.store.pool import DatabaseUnavailable
from kandian.store.service import StoreService, connect

from . import pg, procs
from .test_device_integration import DEV_ID, DeviceTestCase, eventually, pause


def allow_connections(database: str, allow: bool) -> None:
    with pg._autocommit(pg.admin_dsn()) as cur:
        cur.execute("ALTER DATABASE %s ALLOW_CONNECTIONS %s" % (database, "true" if allow else "false"))


def kill_backends(database: str) -> int:
    with pg._autocommit(pg.admin_dsn()) as cur:
        cur.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE datname = %s AND pid <> pg_backend_pid()", (database,))
        return cur.fetchone()[0]


class LogCapture:
    """Every event logged during a test (trial's own observer still sees them)."""

    def __init__(self, case: unittest.TestCase):
        self.events: list[dict] = []
        globalLogPublisher.addObserver(self.events.append)
        case.addCleanup(globalLogPublisher.removeObserver, self.events.append)

    def texts(self, fragment: str) -> list[dict]:
        return [e for e in self.events if fragment in e.get("log_format", "")]

    def failures(self) -> list[dict]:
        return [e for e in self.events if "log_failure" in e]


class PoolOutageTests(unittest.TestCase):
    pool_size = 3

    @defer.inlineCallbacks
    def setUp(self):
        yield pg._ensure_template()
        self.database = pg.create_database()
        self.addCleanup(pg.drop_database, self.database)
        self.addCleanup(allow_connections, self.database, True)
        self.clock = task.Clock()
        self.log = LogCapture(self)
        self.db = yield connect(pg.dsn_for(self.database), self.pool_size, reactor, clock=self.clock)
        self.addCleanup(self.db.close)

    def retries_at(self, when: float) -> int:
        return sum(1 for c in self.clock.getDelayedCalls() if c.func.__name__ == "_reconnect" and c.getTime() == when)

    @defer.inlineCallbacks
    def test_killed_backends_are_replaced_and_the_next_query_succeeds(self):
        rows = yield self.db.runQuery("SELECT 1")
        self.assertEqual(rows, [(1,)])
        self.assertEqual(kill_backends(self.database), self.pool_size)
        # the idle connections notice the closed sockets by themselves
        yield eventually(lambda: not self.db.available, "outage noticed")
        self.failureResultOf(self.db.runQuery("SELECT 1"), DatabaseUnavailable)
        self.clock.advance(0)  # the first reconnection is at once
        yield eventually(lambda: self.db.pool.up == self.pool_size, "reconnected")
        rows = yield defer.gatherResults([self.db.runQuery("SELECT %s::int", (i,)) for i in range(6)])
        self.assertEqual(rows, [[(i,)] for i in range(6)])
        self.assertEqual(len(self.log.texts("database connection lost")), 1)
        self.assertEqual(len(self.log.texts("database connections restored")), 1)
        self.assertEqual(self.log.failures(), [])

    @defer.inlineCallbacks
    def test_during_an_outage_queries_fail_at_once_and_reconnection_backs_off(self):
        allow_connections(self.database, False)
        kill_backends(self.database)
        yield eventually(lambda: not self.db.available, "outage noticed")
        self.clock.advance(0)
        # every attempt refused: the next is 0.5 s later, then 1 s, 2 s…
        yield eventually(lambda: self.retries_at(0.5) == self.pool_size, "first retries scheduled")
        for _ in range(50):
            self.failureResultOf(self.db.runQuery("SELECT 1"), DatabaseUnavailable)
            self.failureResultOf(self.db.runInteraction(lambda c: c.execute("SELECT 1")), DatabaseUnavailable)
        self.clock.advance(0.5)
        yield eventually(lambda: self.retries_at(1.5) == self.pool_size, "second retries scheduled")
        allow_connections(self.database, True)
        self.clock.advance(0.9)
        yield pause(0.05)
        self.assertFalse(self.db.available)  # not before its time
        self.clock.advance(0.1)
        yield eventually(lambda: self.db.pool.up == self.pool_size, "reconnected")
        rows = yield self.db.runQuery("SELECT 1")
        self.assertEqual(rows, [(1,)])
        [lost] = self.log.texts("database connection lost")
        [restored] = self.log.texts("database connections restored")
        self.assertEqual(restored["seconds"], 1.5)
        self.assertEqual(restored["refused"], 100)
        self.assertEqual(restored["attempts"], 2 * self.pool_size)
        # the same reason from every connection and every retry: one line
        self.assertEqual(len(self.log.texts("database reconnection failed")), 1)
        self.assertEqual(self.log.failures(), [])

    @defer.inlineCallbacks
    def test_a_query_whose_connection_dies_fails_unavailable_and_waiters_are_refused(self):
        allow_connections(self.database, False)
        running = [self.db.runQuery("SELECT pg_sleep(30)") for _ in range(self.pool_size)]
        queued = self.db.runQuery("SELECT 1")
        yield eventually(lambda: kill_backends(self.database) == 0, "backends gone")
        for d in running + [queued]:
            yield self.assertFailure(d, DatabaseUnavailable)
        self.assertEqual(self.log.failures(), [])

    @defer.inlineCallbacks
    def test_a_transaction_whose_connection_dies_fails_unavailable_without_a_traceback(self):
        """txpostgres logs a failed rollback with a traceback; on a dropped connection it always fails."""
        allow_connections(self.database, False)
        running = [self.db.runInteraction(lambda c: c.execute("SELECT pg_sleep(30)"))
                   for _ in range(self.pool_size)]
        yield eventually(lambda: kill_backends(self.database) == 0, "backends gone")
        for d in running:
            yield self.assertFailure(d, DatabaseUnavailable)
        self.assertEqual(self.log.failures(), [])


class EmbeddedCrashTests(unittest.TestCase):
    """The daemon's own PostgreSQL, SIGKILLed: restarted, and the pool back on it."""

    def embedded_store(self, pool_size):
        """(data_dir, clock, gave_up, store): a StoreService on its own embedded PostgreSQL, not started."""
        data_dir = os.path.abspath(self.mktemp())
        cfg = config.parse("[platform]\ndata_dir = %s\n[database]\ndsn =\npool_size = %d\n" % (data_dir, pool_size),
                           "test.ini", reactor)
        clock = task.Clock()
        gave_up = []
        store = StoreService(cfg, reactor, clock=clock, on_give_up=gave_up.append)
        self.addCleanup(store.stopService)
        return data_dir, clock, gave_up, store

    @defer.inlineCallbacks
    def test_a_killed_postmaster_is_restarted_and_queries_succeed_again(self):
        data_dir, clock, gave_up, store = self.embedded_store(pool_size=2)
        log = LogCapture(self)
        store.startService()
        db = yield store.ready
        yield db.runOperation("CREATE TABLE t (v int)")
        yield db.runOperation("INSERT INTO t VALUES (1)")
        pgdata = os.path.join(data_dir, "postgres")
        old_pid = read_postmaster_pid(pgdata)[0]
        os.kill(old_pid, signal.SIGKILL)
        yield eventually(lambda: not db.available, "outage noticed")
        self.failureResultOf(db.runQuery("SELECT 1"), DatabaseUnavailable)

        @defer.inlineCallbacks
        def answers():
            clock.advance(1)  # restarts and reconnections run on the clock
            try:
                rows = yield db.runQuery("SELECT v FROM t")
            except DatabaseUnavailable:
                return False
            return rows
        rows = yield eventually(answers, "queries answered after the restart", tries=3000)
        self.assertEqual(rows, [(1,)])
        new_pid = read_postmaster_pid(pgdata)[0]
        self.assertNotEqual(new_pid, old_pid)
        self.assertEqual(store.embedded.crashes, 1)
        self.assertEqual(gave_up, [])
        self.assertEqual(len(log.texts("embedded PostgreSQL exited unexpectedly")), 1)
        self.assertEqual(len(log.texts("database connection lost")), 1)
        self.assertEqual(log.failures(), [])
        yield store.stopService()
        self.assertEqual(procs.postgres_processes(pgdata), [])

    @defer.inlineCallbacks
    def test_a_server_that_cannot_be_restarted_is_given_up(self):
        """Then the daemon exits 1 (KandianService._store_lost) for systemd to act."""
        data_dir, clock, gave_up, store = self.embedded_store(pool_size=1)
        store.startService()
        db = yield store.ready
        pgdata = os.path.join(data_dir, "postgres")
        # without PG_VERSION the directory is no data directory: every restart fails
        os.rename(os.path.join(pgdata, "PG_VERSION"), os.path.join(pgdata, "PG_VERSION.moved"))
        os.kill(read_postmaster_pid(pgdata)[0], signal.SIGKILL)
        yield eventually(lambda: not db.available, "outage noticed")

        def given_up():
            clock.advance(1)
            return gave_up
        [error] = yield eventually(given_up, "given up", tries=3000)
        self.assertIn("did not start", str(error))
        self.assertEqual(store.embedded.crashes, 1)
        self.assertEqual(procs.postgres_processes(pgdata), [])

class ServiceOutageTests(DeviceTestCase):
    """The whole daemon on a DSN whose backends are killed: devices, /health."""

    @defer.inlineCallbacks
    def health(self):
        url = b"http://127.0.0.1:%d/health" % self.port("admin")
        response = yield Agent(reactor).request(b"GET", url)
        body = yield readBody(response)
        return response.code, json.loads(body)["store"]

    @defer.inlineCallbacks
    def mcu_login(self):
        body = (b'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope'
                b' xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:tns="urn:kandian:mcu">'
                b'<soapenv:Body><tns:McuLogin><tns:Account>13800000001</tns:Account>'
                b'<tns:Password>secret</tns:Password><tns:Version>A-1.0</tns:Version></tns:McuLogin>'
                b'</soapenv:Body></soapenv:Envelope>')
        response = yield Agent(reactor).request(
            b"POST", b"http://127.0.0.1:%d/mcu" % self.port("mcu"),
            Headers({b"content-type": [b"text/xml; charset=utf-8"], b"soapaction": [b"McuLogin"]}),
            FileBodyProducer(io.BytesIO(body)))
        answer = yield readBody(response)
        return response.code, answer

    @defer.inlineCallbacks
    def rtsp_describe(self):
        """The status line the relay answers a well-formed play URL with."""
        received = defer.Deferred()

        class Client(protocol.Protocol):
            def connectionMade(self):
                self.transport.write(b"DESCRIBE rtsp://127.0.0.1/realplay?devid=%s&channelno=0&streamtype=1"
                                     b"&hashtoken=0123456789abcdef RTSP/1.0\r\nCSeq: 1\r\n\r\n" % DEV_ID.encode())

            def dataReceived(self, data):
                if not received.called:
                    received.callback(data.split(b"\r\n", 1)[0])
                self.transport.loseConnection()
        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", self.port("rtsp"))
        yield endpoints.connectProtocol(endpoint, Client())
        line = yield received
        return line

    def stored_alarms(self):
        with pg._autocommit(self.dsn) as cur:
            cur.execute("SELECT count(*) FROM alarm")
            return cur.fetchone()[0]

    @defer.inlineCallbacks
    def test_alarms_logins_and_health_during_and_after_an_outage(self):
        self.addCleanup(allow_connections, self.database, True)
        log = LogCapture(self)
        yield DeviceStore(self.db).add(DEV_ID, "key-1")
        yield DeviceStore(self.db).add("81100000002", "key-2")
        yield self.db.close()  # the test's own pool: only the daemon's may log the outage
        link = yield self.connect(DeviceState(DEV_ID, "key-1"))
        code = yield self.health()
        self.assertEqual(code, (200, "ok"))

        allow_connections(self.database, False)
        kill_backends(self.database)
        yield eventually(lambda: self.health().addCallback(lambda code: code[0] == 503), "outage noticed")
        for _ in range(20):
            answer = yield link.send_alarm(0, 1, desc="motion")
            self.assertEqual(answer.Result, 255)  # not acknowledged: the device keeps it
        other = yield self.connect(DeviceState("81100000002", "key-2"), login=False)
        refused = yield self.assertFailure(other.logged_in(), LoginRefused)
        self.assertEqual(refused.result, 255)
        code = yield self.health()
        self.assertEqual(code, (503, "unavailable"))
        code, answer = yield self.mcu_login()  # a SOAP Server fault, not a traceback per request
        self.assertEqual(code, 500)
        self.assertIn(b"database unavailable", answer)
        line = yield self.rtsp_describe()
        self.assertEqual(line, b"RTSP/1.0 503 Service Unavailable")

        allow_connections(self.database, True)
        self.assertEqual(self.stored_alarms(), 0)

        @defer.inlineCallbacks
        def healthy():
            self.clock.advance(0.5)  # the reconnection backoff runs on the domain clock
            code = yield self.health()
            return code == (200, "ok")
        yield eventually(healthy, "/health back to 200")
        answer = yield link.send_alarm(0, 1, desc="motion")
        self.assertEqual(answer.Result, 0)
        self.assertEqual(self.stored_alarms(), 1)
        self.assertEqual(len(log.texts("database connection lost")), 1)
        self.assertEqual(len(log.texts("database connections restored")), 1)
        self.assertEqual(log.failures(), [])
