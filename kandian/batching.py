"""Calls coalesced into batches under load, with no added wait when they come one at a time
(the FTP server's logins and landings, kandian.core.files; LOGIN_REQ's read and write, kandian.store.links)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence

from twisted.internet import defer


class Batcher:
    """Runs items in batches: ``run_many(items)`` → Deferred of one result per
    item, in order (a result that is an exception fails that item alone).
    Up to *concurrency* batches are under way at once, each of at most *most*
    items; items that arrive while all are, go together in the next (no
    timer: no added wait when they come one at a time).  A batch that fails
    fails each of its items.  *delivering*, if given, is a context manager the
    results are handed out within (so what their callbacks do in turn can be
    batched too: :meth:`kandian.core.files.GroupCommit.held`)."""

    def __init__(self, run_many: Callable[[list], defer.Deferred], concurrency: int = 1, *,
                 most: int | None = None, delivering=None):
        self.run_many = run_many
        self.concurrency = concurrency
        self.most = most
        self.delivering = delivering
        self._pending: list[tuple[object, defer.Deferred]] = []
        self._running = 0
        self.batches = 0  # sent, and items added: for the benchmarks and the tests
        self.calls = 0

    def add(self, item) -> defer.Deferred:
        d: defer.Deferred = defer.Deferred()
        self._pending.append((item, d))
        self.calls += 1
        self._next()
        return d

    def _next(self) -> None:
        while self._pending and self._running < self.concurrency:
            batch, self._pending = self._pending[:self.most], self._pending[self.most:] if self.most else []
            self._running += 1
            self.batches += 1
            ran = defer.maybeDeferred(self.run_many, [item for item, _ in batch])
            ran.addCallbacks(self._done, self._failed, callbackArgs=(batch,), errbackArgs=(batch,))
            ran.addBoth(self._ended)

    def _ended(self, _) -> None:
        self._running -= 1
        self._next()

    def _done(self, results: Sequence, batch) -> None:
        if len(results) != len(batch):
            raise AssertionError("%d results for %d items" % (len(results), len(batch)))
        with self.delivering() if self.delivering is not None else contextlib.nullcontext():
            for result, (_, d) in zip(results, batch):
                if isinstance(result, BaseException):
                    d.errback(result)
                else:
                    d.callback(result)

    def _failed(self, why, batch) -> None:
        with self.delivering() if self.delivering is not None else contextlib.nullcontext():
            for _, d in batch:
                d.errback(why)
