"""A supervised child process on the reactor (issue 16; PRODUCT.md "Media").

The media layer's packagers and recorders are ffmpeg processes.  A
:class:`Supervisor` keeps one running:

* **start** — its command is built afresh for every run (``command()`` may
  answer a Deferred: a stream's URL carries a one-time token, so a restart
  needs a new one) and spawned with stdin closed; where ``setpriv`` exists
  the child is asked to get SIGKILL when the daemon dies
  (``PR_SET_PDEATHSIG``), so not even a ``kill -9`` of twistd leaves an
  orphan ffmpeg behind;
* **output** — stdout and stderr are drained as they come (the pipes never
  fill and block the child), split into lines of at most
  :data:`MAX_LINE` characters, the last few kept for the crash report and
  logged at most ``burst`` lines per ``log_interval`` seconds (the count of
  lines held back goes with the next one); tokens, signatures and URL
  passwords are blanked first (:func:`redact`);
* **crash** — a child that exits while it should run is a crash: counted,
  logged once with its exit status and its last lines, and started again
  after a backoff (``first_delay`` doubling up to ``max_delay``; back to
  ``first_delay`` once a run lasted ``stable`` seconds) unless ``retry``
  says no (the camera is offline, say): then the supervisor has *ended*
  and ``on_ended`` is told why;
* **stop** — SIGTERM (ffmpeg finishes its files), SIGKILL after ``grace``
  seconds; :meth:`Supervisor.stop` fires once the child is gone.

Timers run on *clock* (IReactorTime); processes are spawned through
*reactor* (IReactorProcess).
"""

from __future__ import annotations

import collections
import re
import shutil
from collections.abc import Callable
from typing import NamedTuple

from twisted.internet import defer, error, protocol
from twisted.logger import Logger
from twisted.python.failure import Failure

log = Logger()

MAX_LINE = 500  # characters of one output line kept or logged
_REDACT = [
    (re.compile(r"((?:hash)?token|sig|password|passwd|key)=[^&\s'\":;,]+", re.I), r"\1=…"),
    (re.compile(r"(\w+://)[^/@\s]+@"), r"\1…@"),  # user:password@ in a URL
]


def redact(line: str) -> str:
    """*line* without query secrets (``hashtoken=``, ``sig=`` …) or URL user info."""
    for pattern, replacement in _REDACT:
        line = pattern.sub(replacement, line)
    return line


class Exit(NamedTuple):
    """How a run ended: its exit code (None when killed by a signal), the signal, how long it ran."""

    code: int | None
    signal: int | None
    ran_for: float

    def __str__(self):
        if self.signal is not None:
            return "killed by signal %d after %.1f s" % (self.signal, self.ran_for)
        return "exit status %s after %.1f s" % (self.code, self.ran_for)


class ProcessStats:
    """Counters shared by the supervisors of one kind (``/metrics``)."""

    def __init__(self):
        self.started = 0  # children spawned
        self.crashes = 0  # children that exited while they should have run
        self.killed = 0  # children that needed SIGKILL after the grace
        self.failed_starts = 0  # commands that could not be built or spawned
        self.lines_dropped = 0  # output lines not logged (rate limit)


STATES = ("idle", "starting", "running", "waiting", "stopping", "stopped", "ended")


class _Child(protocol.ProcessProtocol):
    def __init__(self, supervisor: Supervisor):
        self.supervisor = supervisor
        self.buffers = {1: b"", 2: b""}

    def childDataReceived(self, fd, data):
        buffer = self.buffers.get(fd, b"") + data
        *lines, rest = buffer.split(b"\n")
        if len(rest) > MAX_LINE * 4:  # a line without end: cut it here
            lines.append(rest)
            rest = b""
        self.buffers[fd] = rest
        for line in lines:
            self.supervisor._line(fd, line)

    def processEnded(self, reason):
        for fd, rest in self.buffers.items():
            if rest:
                self.supervisor._line(fd, rest)
        value = reason.value
        self.supervisor._exited(self, getattr(value, "exitCode", None), getattr(value, "signal", None))


class Supervisor:
    """One child process kept running until :meth:`stop` (see the module docstring).

    *command()* answers the argument list (or a Deferred of it); *retry(why)*
    is asked after each crash (*why* an :class:`Exit`) or failed start (a
    Failure) whether to try again (default: always); *on_ended(why)* is
    called once when it will not; *on_output(fd, text)* sees every line."""

    def __init__(self, name: str, command: Callable[[], object], reactor, *, clock=None,
                 retry: Callable[[object], bool] | None = None, on_ended: Callable[[object], None] | None = None,
                 on_output: Callable[[int, str], None] | None = None, grace: float = 5.0,
                 first_delay: float = 1.0, max_delay: float = 60.0, stable: float = 30.0,
                 stats: ProcessStats | None = None, env: dict | None = None, path: str | None = None,
                 log_interval: float = 60.0, burst: int = 5, tail: int = 8, pdeathsig: bool = True):
        self.name = name
        self.command = command
        self.reactor = reactor
        self.clock = clock if clock is not None else reactor
        self.retry = retry or (lambda why: True)
        self.on_ended = on_ended
        self.on_output = on_output
        self.grace = grace
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.stable = stable
        self.stats = stats if stats is not None else ProcessStats()
        self.env = env
        self.path = path
        self.log_interval = log_interval
        self.burst = burst
        self.tail: collections.deque[str] = collections.deque(maxlen=tail)
        self.setpriv = shutil.which("setpriv") if pdeathsig else None
        self.state = "idle"
        self.pid: int | None = None
        self.runs = 0
        self.crashes = 0
        self.last_exit: Exit | None = None
        self.ended_because: object = None
        self._child: _Child | None = None
        self._started_at = 0.0
        self._delay = first_delay
        self._timer = None  # the restart after a backoff
        self._kill = None  # SIGKILL after the grace
        self._stopped: list[defer.Deferred] = []
        self._window_start = None
        self._window_lines = 0
        self._held_back = 0

    def __repr__(self):
        return "<Supervisor %s %s pid=%s>" % (self.name, self.state, self.pid)

    @property
    def running(self) -> bool:
        """Whether a child is alive now."""
        return self._child is not None

    # -- start

    def start(self) -> None:
        """Start the child (again, after :meth:`stop` or an end); nothing when it is already wanted."""
        if self.state in ("starting", "running", "waiting"):
            return
        if self.state == "stopping":
            raise RuntimeError("%s: start() while stopping; wait for stop()" % (self.name,))
        self._delay = self.first_delay
        self.ended_because = None
        self._launch()

    def _launch(self) -> None:
        self._timer = None
        self.state = "starting"
        d = defer.maybeDeferred(self.command)
        d.addCallbacks(self._spawn, self._start_failed)
        d.addErrback(lambda f: log.failure("media {name}: supervisor bug", f, name=self.name))

    def _spawn(self, argv) -> None:
        if self.state != "starting":
            return  # stopped while the command was being built
        argv = [str(a) for a in argv]
        if self.setpriv:
            argv = [self.setpriv, "--pdeathsig", "KILL", "--", *argv]
        child = _Child(self)
        try:
            self.reactor.spawnProcess(child, argv[0], argv, env=self.env, path=self.path,
                                      childFDs={0: "w", 1: "r", 2: "r"})
        except Exception:
            self._start_failed(Failure())
            return
        child.transport.closeStdin()
        self._child = child
        self.pid = child.transport.pid
        self._started_at = self.clock.seconds()
        self.state = "running"
        self.runs += 1
        self.stats.started += 1
        log.debug("media {name}: started pid {pid}", name=self.name, pid=self.pid)

    def _start_failed(self, failure: Failure) -> None:
        if self.state != "starting":
            return
        self.stats.failed_starts += 1
        self._after(failure, "could not start: %s" % (redact(str(failure.value))[:200],))

    # -- output

    def _line(self, fd: int, raw: bytes) -> None:
        text = redact(raw.decode("utf-8", "replace").rstrip("\r")[:MAX_LINE])
        if not text.strip():
            return
        self.tail.append(text)
        if self.on_output is not None:
            self.on_output(fd, text)
        now = self.clock.seconds()
        if self._window_start is None or now >= self._window_start + self.log_interval:
            self._window_start, self._window_lines = now, 0
        if self._window_lines >= self.burst:
            self._held_back += 1
            self.stats.lines_dropped += 1
            return
        self._window_lines += 1
        held, self._held_back = self._held_back, 0
        log.info("media {name}: {line}{held}", name=self.name, line=text,
                 held=" (%d lines held back)" % held if held else "")

    # -- the end of a run

    def _exited(self, child: _Child, code, signal) -> None:
        if child is not self._child:
            return
        self._child = None
        self.pid = None
        if self._kill is not None and self._kill.active():
            self._kill.cancel()
        self._kill = None
        why = Exit(code, signal, self.clock.seconds() - self._started_at)
        self.last_exit = why
        if self.state == "stopping":
            self._finish_stop()
            return
        self.crashes += 1
        self.stats.crashes += 1
        if why.ran_for >= self.stable:
            self._delay = self.first_delay
        self._after(why, "%s; last output: %s" % (why, " | ".join(list(self.tail)[-3:]) or "none"))

    def _after(self, why, text: str) -> None:
        """A run ended (or never began): try again after the backoff, or end."""
        try:
            again = self.retry(why)
        except Exception:
            log.failure("media {name}: retry() failed", name=self.name)
            again = False
        if not again:
            self.state = "ended"
            self.ended_because = why
            log.info("media {name}: ended ({text})", name=self.name, text=text)
            if self.on_ended is not None:
                self.on_ended(why)
            return
        delay = self._delay
        self._delay = min(self._delay * 2, self.max_delay)
        self.state = "waiting"
        log.warn("media {name}: {text}; restarting in {delay:.0f} s", name=self.name, text=text, delay=delay)
        self._timer = self.clock.callLater(delay, self._launch)

    # -- stop

    def stop(self) -> defer.Deferred:
        """SIGTERM the child, SIGKILL it after ``grace`` s; fires (None) once it is gone."""
        d: defer.Deferred = defer.Deferred()
        if self.state == "stopping":
            self._stopped.append(d)
            return d
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        if self._child is None:
            self.state = "stopped"
            d.callback(None)
            return d
        self.state = "stopping"
        self._stopped.append(d)
        self._signal("TERM")
        self._kill = self.clock.callLater(self.grace, self._sigkill)
        return d

    def _sigkill(self) -> None:
        self._kill = None
        if self._child is not None:
            self.stats.killed += 1
            log.warn("media {name}: pid {pid} still running {grace} s after SIGTERM: SIGKILL",
                     name=self.name, pid=self.pid, grace=self.grace)
            self._signal("KILL")

    def _signal(self, name: str) -> None:
        try:
            self._child.transport.signalProcess(name)
        except error.ProcessExitedAlready:
            pass

    def _finish_stop(self) -> None:
        self.state = "stopped"
        waiting, self._stopped = self._stopped, []
        for d in waiting:
            d.callback(None)
