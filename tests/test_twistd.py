"""``twistd kandian`` as operators run it: a real child process.

Start-up with a bad configuration fails in one readable line; the embedded
default comes up, answers, and leaves no postgres behind after SIGINT.
"""

import os
import signal
import socket

from twisted.internet import defer
from twisted.trial import unittest
from twisted.web.client import Agent, readBody

from kandian.store.embedded import read_postmaster_pid
from kandian.store.migrate import available

from . import procs
from .pg import DatabaseTestCase

LATEST = available()[-1].version
LISTENERS = ("device", "register", "mcu", "rtsp", "admin", "ftp", "portal")


def write_config(path, data_dir, dsn="", **overrides):
    with open(path, "w") as f:
        f.write("[platform]\ndata_dir = %s\n[database]\ndsn = %s\n" % (data_dir, dsn))
        for name in LISTENERS:
            f.write("[%s]\nlisten = %s\n" % (name, overrides.get(name, "tcp:0:interface=127.0.0.1")))
    return path


def twistd(config_path):
    return [procs.command("twistd"), "-n", "--pidfile=", "kandian", "--config", config_path]


class BadConfigTests(unittest.TestCase):
    def assertOneErrorLine(self, code, output, *fragments):
        self.assertEqual(code, 1, output)
        self.assertNotIn("Traceback", output)
        errors = [line for line in output.splitlines() if "config error" in line or "start-up failed" in line]
        self.assertEqual(len(errors), 1, output)
        for fragment in fragments:
            self.assertIn(fragment, errors[0])

    @defer.inlineCallbacks
    def test_missing_file(self):
        path = os.path.abspath(self.mktemp())
        code, output = yield procs.run(twistd(path))
        self.assertOneErrorLine(code, output, path, "not found")
        self.assertEqual(output.strip(), "kandian: config error: %s: config file not found" % path)

    @defer.inlineCallbacks
    def test_unknown_key(self):
        path = self.mktemp()
        with open(path, "w") as f:
            f.write("[device]\nlisten = tcp:0\nheartbeat_secs = 120\n")
        code, output = yield procs.run(twistd(path))
        self.assertOneErrorLine(code, output, path, "unknown key 'heartbeat_secs'", "[device]")

    @defer.inlineCallbacks
    def test_bad_endpoint_string(self):
        path = write_config(self.mktemp(), self.mktemp(), mcu="tcp:port8590")
        code, output = yield procs.run(twistd(path))
        self.assertOneErrorLine(code, output, "[mcu] listen = 'tcp:port8590'", "bad endpoint")

    @defer.inlineCallbacks
    def test_unreachable_dsn(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        path = write_config(self.mktemp(), self.mktemp(),
                            dsn="host=127.0.0.1 port=%d dbname=k user=k password=sekrit" % port)
        code, output = yield procs.run(twistd(path))
        self.assertOneErrorLine(code, output, "database unreachable", "port=%d" % port)
        self.assertNotIn("sekrit", output)
        self.assertNotIn("listener", output)


class EmbeddedDefaultTests(unittest.TestCase):
    @defer.inlineCallbacks
    def test_runs_on_the_embedded_default_and_stops_without_orphans(self):
        data_dir = os.path.abspath(self.mktemp())
        path = write_config(self.mktemp(), data_dir)
        child = procs.spawn(twistd(path))
        self.addCleanup(procs.kill, child)
        output = yield child.wait_for(b"kandian ready", timeout=60)
        pgdata = os.path.join(data_dir, "postgres")
        self.assertTrue(procs.postgres_processes(pgdata))
        admin = int(output.split(b"admin 127.0.0.1:")[1].split(b",")[0])
        response = yield Agent(__import__("twisted.internet.reactor", fromlist=["reactor"])).request(
            b"GET", b"http://127.0.0.1:%d/health" % admin)
        self.assertEqual(response.code, 200)
        yield readBody(response)

        child.transport.signalProcess(signal.SIGINT)
        yield child.ended
        text = child.output.decode("utf-8", "replace")
        # twistd stops cleanly, then re-raises the signal it got (exit status = the signal)
        self.assertEqual(child.signal, signal.SIGINT, text)
        self.assertIn("Server Shut Down", text)
        self.assertNotIn("Traceback", text)
        self.assertIn("embedded PostgreSQL stopped", text)
        self.assertEqual(procs.postgres_processes(pgdata), [])
        self.assertIsNone(read_postmaster_pid(pgdata))


class KandianctlAgainstTheDaemonTests(DatabaseTestCase):
    """The daemon's start-up migration and kandianctl share one database."""

    @defer.inlineCallbacks
    def test_daemon_on_a_dsn(self):
        path = write_config(self.mktemp(), self.mktemp(), dsn=self.dsn)
        child = procs.spawn(twistd(path))
        self.addCleanup(procs.kill, child)
        yield child.wait_for(b"kandian ready", timeout=60)
        code, output = yield procs.run([procs.command("kandianctl"), "--config", path, "migrate"])
        self.assertEqual((code, output.strip()), (0, "schema at version %d; nothing to apply" % LATEST))
        child.transport.signalProcess(signal.SIGTERM)
        yield child.ended
        self.assertEqual(child.signal, signal.SIGTERM, child.output)
        self.assertIn(b"Server Shut Down", child.output)


class JsonLogTests(DatabaseTestCase):
    @defer.inlineCallbacks
    def test_json_lines_logger(self):
        import json
        path = write_config(self.mktemp(), self.mktemp(), dsn=self.dsn)
        child = procs.spawn([procs.command("twistd"), "-n", "--pidfile=", "--logger=kandian.logs.json_lines",
                             "kandian", "--config", path])
        self.addCleanup(procs.kill, child)
        yield child.wait_for(b"kandian ready", timeout=60)
        child.transport.signalProcess(signal.SIGTERM)
        yield child.ended
        events = [json.loads(line) for line in child.output.decode().splitlines() if line.strip()]
        ready = [e for e in events if e.get("log_format", "").startswith("kandian ready")]
        self.assertEqual(len(ready), 1)
        self.assertEqual(ready[0]["log_namespace"], "kandian.service")
        self.assertEqual(ready[0]["log_level"]["name"], "info")
