"""Helpers for tests that run kandian's real commands as child processes."""

from __future__ import annotations

import os
import sys

from twisted.internet import defer, protocol, reactor

BIN = os.path.dirname(sys.executable)


def command(name: str) -> str:
    """A console script of this virtualenv (twistd, kandianctl)."""
    return os.path.join(BIN, name)


def postgres_processes(pgdata: str) -> list[int]:
    """PIDs of live postgres processes serving *pgdata* (read from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                args = f.read().split(b"\0")
            with open("/proc/%s/stat" % entry, "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if state != b"Z" and args and args[0].endswith(b"postgres") and pgdata.encode() in args:
            found.append(int(entry))
    return found


class Child(protocol.ProcessProtocol):
    """A child whose output is collected; ``wait_for(text)`` fires when it appears."""

    def __init__(self):
        self.output = b""
        self.signal: int | None = None
        self.ended = defer.Deferred()
        self._waiting: list[tuple[bytes, defer.Deferred]] = []

    def childDataReceived(self, fd, data):
        self.output += data
        for item in list(self._waiting):
            if item[0] in self.output:
                self._waiting.remove(item)
                item[1].callback(self.output)

    def wait_for(self, text: bytes, timeout: float = 30) -> defer.Deferred:
        d: defer.Deferred = defer.Deferred()
        if text in self.output:
            d.callback(self.output)
            return d
        self._waiting.append((text, d))
        return d.addTimeout(timeout, reactor)

    def processEnded(self, reason):
        for _, d in self._waiting:
            if not d.called:
                d.errback(AssertionError("process ended before the expected output:\n"
                                         + self.output.decode("utf-8", "replace")))
        self._waiting = []
        self.signal = getattr(reason.value, "signal", None)
        self.ended.callback(getattr(reason.value, "exitCode", None))


def spawn(args: list[str], cwd: str | None = None, env: dict | None = None) -> Child:
    child = Child()
    environment = dict(os.environ)
    environment.update(env or {})
    reactor.spawnProcess(child, args[0], args, env=environment, path=cwd,
                         childFDs={0: "w", 1: "r", 2: "r"})
    return child


@defer.inlineCallbacks
def run(args: list[str], cwd: str | None = None, env: dict | None = None):
    """Run to completion; fires with (exit code, stdout+stderr as text)."""
    child = spawn(args, cwd, env)
    child.transport.closeStdin()
    code = yield child.ended
    return code, child.output.decode("utf-8", "replace")


def kill(child: Child) -> None:
    """Cleanup: SIGKILL a child still running."""
    if not child.ended.called:
        try:
            child.transport.signalProcess("KILL")
        except Exception:
            pass
