"""Where a reactor turn's time goes: a diagnostic for the benchmarks (not used by kandian itself).

``TurnMeter(reactor)`` replaces the EPoll reactor's ``doIteration`` with a copy of
``EPollReactor.doPoll`` that times each event handler, wraps ``runUntilCurrent``,
and wraps every function later given to ``callLater`` so that a slow timed call
is named.  For each turn (one ``runUntilCurrent`` and one poll) it keeps the wall
time and the thread's CPU time: a turn whose wall time is far above its CPU time
was off the CPU (another process had it), not busy.  ``take()`` returns the
turns over ``slow_ms`` with what filled them.
"""

from __future__ import annotations

import collections
import errno
import time

from twisted.python import log

perf = time.perf_counter
cpu = time.thread_time


def _name(thing) -> str:
    func = getattr(thing, "func", None)  # functools.partial
    if func is not None:
        thing = func
    owner = getattr(thing, "__self__", None)
    if owner is not None:
        return "%s.%s" % (type(owner).__name__, getattr(thing, "__name__", "?"))
    return getattr(thing, "__qualname__", None) or type(thing).__name__


def _chain(d, depth: int = 0) -> str:
    """The callbacks of Deferred *d*, following a Deferred chained to it."""
    names = []
    for (callback, args, _), _ in d.callbacks:
        if type(callback).__name__ == "_Sentinel" and args and depth < 4:  # chained: *args[0]* waits for *d*
            names.append("[" + _chain(args[0], depth + 1) + "]")
        else:
            gens = [a for a in args or () if hasattr(a, "gi_code")]  # inlineCallbacks: name the generator
            names.append(_name(callback) + ("(%s)" % gens[0].gi_code.co_qualname if gens else ""))
    return ", ".join(names)


class TurnMeter:
    def __init__(self, reactor, slow_ms: float = 4.0, keep: int = 12):
        self.reactor = reactor
        self.slow = slow_ms / 1000.0
        self.keep = keep
        self._poll = reactor.doIteration
        self._run = reactor.runUntilCurrent
        self._call_later = reactor.callLater
        self._turn_wall = self._turn_cpu = None
        self._run_s = 0.0
        self.reset()
        reactor.doIteration = self._do_poll
        reactor.runUntilCurrent = self._run_until_current
        reactor.callLater = self._timed_call_later
        self._timed = []  # (name, seconds) of slow timed calls in the current turn

    def reset(self):
        self.turns = 0
        self.slow_turns: list[dict] = []
        self.off_cpu_ms = 0.0
        self.hist: collections.Counter = collections.Counter()
        self.handler_ms: collections.Counter = collections.Counter()  # by selectable class, over slow turns

    def stop(self):
        self.reactor.doIteration = self._poll
        self.reactor.runUntilCurrent = self._run
        self.reactor.callLater = self._call_later

    def _timed_call_later(self, delay, func, *args, **kw):
        def timed(*a, **k):
            owner = getattr(func, "__self__", None)
            # a Deferred's callbacks are gone once it fired: named before
            name = "Deferred.callback -> " + _chain(owner) if hasattr(owner, "callbacks") else None
            t0 = perf()
            try:
                return func(*a, **k)
            finally:
                took = perf() - t0
                if took > 0.001:
                    self._timed.append((name or _name(func), took))
        return self._call_later(delay, timed, *args, **kw)

    def _run_until_current(self):
        self._turn_wall, self._turn_cpu = perf(), cpu()
        self._timed = []
        self._run()
        self._run_s = perf() - self._turn_wall

    def _do_poll(self, timeout):
        r = self.reactor
        if timeout is None:
            timeout = -1
        w0, c0 = perf(), cpu()
        try:
            events = r._poller.poll(timeout, len(r._selectables))
        except OSError as err:
            if err.errno == errno.EINTR:
                return
            raise
        w1, c1 = perf(), cpu()
        drdw = r._doReadOrWrite
        handlers = []
        for fd, event in events:
            try:
                selectable = r._selectables[fd]
            except KeyError:
                continue
            t0 = perf()
            log.callWithLogger(selectable, drdw, selectable, fd, event)
            handlers.append((type(selectable).__name__ + ("/w" if event & 4 and not event & 1 else ""),
                             perf() - t0))
        w2, c2 = perf(), cpu()
        self.turns += 1
        if self._turn_wall is None:
            return
        busy = (w0 - self._turn_wall) + (w2 - w1)  # the turn without the wait in epoll_wait
        busy_cpu = (c0 - self._turn_cpu) + (c2 - c1)
        self.hist[min(int(busy * 1000), 50)] += 1
        if busy > self.slow:
            self.off_cpu_ms += (busy - busy_cpu) * 1000
            by_kind: collections.Counter = collections.Counter()
            for kind, took in handlers:
                by_kind[kind] += took
                self.handler_ms[kind] += took * 1000
            worst = max(handlers, key=lambda h: h[1]) if handlers else ("-", 0.0)
            self.slow_turns.append({
                "busy_ms": round(busy * 1000, 2),
                "off_cpu_ms": round((busy - busy_cpu) * 1000, 2),
                "cpu_ms_in_handlers": round((c2 - c1) * 1000, 2),
                "wall_ms_in_handlers": round((w2 - w1) * 1000, 2),
                "timed_calls_ms": round(self._run_s * 1000, 2),
                "slow_timed_calls": [(n, round(s * 1000, 2)) for n, s in self._timed][:4],
                "events": len(events),
                "by_kind_ms": [(k, round(v * 1000, 2)) for k, v in by_kind.most_common(3)],
                "worst_handler": (worst[0], round(worst[1] * 1000, 2)),
            })

    def take(self) -> dict:
        slow = sorted(self.slow_turns, key=lambda t: -t["busy_ms"])
        found = {"turns": self.turns, "slow_turns": len(slow),
                 "slow_turns_off_cpu_ms": round(self.off_cpu_ms, 1),
                 "slow_turns_busy_ms": round(sum(t["busy_ms"] for t in slow), 1),
                 "busy_ms_histogram": sorted(self.hist.items()),
                 "slow_turn_ms_by_handler": [(k, round(v, 1)) for k, v in self.handler_ms.most_common(6)],
                 "worst": slow[:self.keep]}
        self.reset()
        return found
