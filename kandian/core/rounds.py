"""Work the core repeats on its clock: the upgrade campaigns' and log requests' rounds.

:class:`Rounds` calls ``work()`` every *interval* seconds, one round at a
time (a round that takes longer delays the next instead of overlapping it);
a round that fails is logged and the next one runs as usual — a
``task.LoopingCall`` alone would stop for good at the first failure.
:meth:`Rounds.stop` waits for the round under way.
"""

from __future__ import annotations

from twisted.internet import defer, task
from twisted.logger import Logger

from .errors import log_failure

log = Logger()


class Rounds:
    def __init__(self, work, clock, interval: float, what: str):
        self.work = work
        self.interval = interval
        self.what = what
        self._loop = task.LoopingCall(self._round)
        self._loop.clock = clock
        self._current: defer.Deferred | None = None

    @property
    def running(self) -> bool:
        return self._loop.running

    def start(self, now: bool = True) -> None:
        self._loop.start(self.interval, now=now)

    def _round(self) -> defer.Deferred:
        d = defer.maybeDeferred(self.work)
        d.addErrback(lambda f: log_failure(log, "{what}: a round failed", f, what=self.what))
        self._current = d

        def done(result):
            self._current = None
            return result
        return d.addBoth(done)

    @defer.inlineCallbacks
    def stop(self):
        if self._loop.running:
            self._loop.stop()
        if self._current is not None:
            settled = defer.Deferred()
            self._current.addBoth(lambda result: settled.callback(None) or result)
            yield settled
