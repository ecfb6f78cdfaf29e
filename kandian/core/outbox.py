"""The durable SMS outbox as the platform uses it (§2.6, §8.1, §7.5.34, §4.17; PRODUCT.md "SMS").

Whoever sends an SMS (GetSmsPassword, alarm notices, DevKey retrieval,
``kandianctl``) queues it: :meth:`Outbox.queue` fires once the message is
committed, never later.  A sender (``kandian.sms.sender``) claims due
messages, hands them to the gateway and tells the outbox what happened:
acknowledged (:meth:`Outbox.submitted`), worth another try
(:meth:`Outbox.retry`, with exponential backoff until the message's validity
runs out) or refused for good (:meth:`Outbox.failed`).  Status reports come
back through :meth:`Outbox.reported`.

Outcomes are written in batches, and a batch the database refused is written
again after a pause until it is stored: an acknowledgement is never
forgotten while the process lives (a message whose acknowledgement was lost
with the process is sent again after the restart — at least once, never
silently dropped), and a status report's Deferred fires only once it is
stored, so the gateway's Deliver is answered only then.
"""

from __future__ import annotations

import collections
from collections.abc import Callable

from twisted.internet import defer, task
from twisted.logger import Logger
from zope.interface import implementer

from ..store.outbox import Claimed
from . import errors
from .errors import log_failure
from .interfaces import ISmsSender

log = Logger()

MAX_TEXT = 600  # characters: nine concatenated UCS2 parts; every text the platform writes is far shorter
KINDS = ("message", "password", "devkey", "alarm")


class Batches:
    """Items written by ``write(items)`` in batches, one batch in flight; each
    :meth:`add` answers a Deferred that fires once its item is stored.  A
    batch that fails is written again after *initial_delay* seconds, doubling
    up to *max_delay*: nothing added is dropped while the process lives."""

    def __init__(self, write: Callable[[list], defer.Deferred], clock, what: str, *, max_batch: int = 500,
                 initial_delay: float = 0.5, max_delay: float = 10.0):
        self.write = write
        self.clock = clock
        self.what = what
        self.max_batch = max_batch
        self.initial_delay = initial_delay
        self.max_delay = max_delay
        self.pending: collections.deque[tuple[object, defer.Deferred]] = collections.deque()
        self.failures = 0  # failed writes in a row
        self._busy = False
        self._retry = None
        self._idle: list[defer.Deferred] = []

    def __len__(self) -> int:
        return len(self.pending) + (1 if self._busy else 0)

    def add(self, item) -> defer.Deferred:
        d: defer.Deferred = defer.Deferred()
        self.pending.append((item, d))
        self._next()
        return d

    def _next(self) -> None:
        if self._busy or self._retry is not None:
            return
        if not self.pending:
            idle, self._idle = self._idle, []
            for d in idle:
                d.callback(None)
            return
        batch = [self.pending.popleft() for _ in range(min(self.max_batch, len(self.pending)))]
        self._busy = True
        written = defer.maybeDeferred(self.write, [item for item, _ in batch])
        written.addCallbacks(self._written, self._failed, callbackArgs=(batch,), errbackArgs=(batch,))

    def _written(self, _, batch) -> None:
        self._busy = False
        if self.failures:
            log.info("{what}: stored again after {failures} failed writes", what=self.what, failures=self.failures)
        self.failures = 0
        for _, d in batch:
            d.callback(None)
        self._next()

    def _failed(self, failure, batch) -> None:
        self._busy = False
        self.pending.extendleft(reversed(batch))
        self.failures += 1
        if self.failures == 1:
            log_failure(log, "{what}: could not store {count}; retrying until stored", failure,
                        what=self.what, count=len(batch))
        delay = min(self.max_delay, self.initial_delay * 2 ** (self.failures - 1))
        self._retry = self.clock.callLater(delay, self._again)

    def _again(self) -> None:
        self._retry = None
        self._next()

    def idle(self) -> defer.Deferred:
        """Fires once nothing is pending."""
        d: defer.Deferred = defer.Deferred()
        self._idle.append(d)
        if not self._busy and not self.pending and self._retry is None:
            self._next()
        return d

    def abandon(self) -> int:
        """Stop retrying (the process is stopping): how many items were never stored."""
        if self._retry is not None and self._retry.active():
            self._retry.cancel()
        self._retry = None
        left = len(self.pending)
        self.pending.clear()
        return left


def printable(text: str, limit: int = 40) -> str:
    """A gateway-supplied code as it may be stored and logged."""
    return "".join(c if " " <= c <= "~" else "?" for c in str(text)[:limit])


@implementer(ISmsSender)
class Outbox:
    """The outbox of this node.  *node* names it in claims (one daemon per
    name, as for device links); *delivers*: a gateway is configured.
    *validity*: seconds a message may wait to be submitted; *retry_delay*
    doubling up to *retry_max_delay*: the pause before each further attempt;
    *lease*: how long a claim holds a message whose sender went silent;
    *keep*: seconds a finished message is kept (:meth:`purge`)."""

    def __init__(self, store, clock, *, node: str, delivers: bool, validity: float = 3600.0,
                 retry_delay: float = 5.0, retry_max_delay: float = 300.0, lease: float = 600.0,
                 keep: float = 30 * 86400.0):
        self.store = store
        self.outbox = store.outbox
        self.clock = clock
        self.node = node
        self.delivers = delivers
        self.validity = validity
        self.retry_delay = retry_delay
        self.retry_max_delay = retry_max_delay
        self.lease = lease
        self.keep = keep
        self._listeners: list[Callable[[], None]] = []
        self._taker = None  # the sender of this node, handed each message as it is committed (hand_to)
        self._submitted = Batches(self._write_submitted, clock, "SMS acknowledgements")
        self._retries = Batches(self._write_retries, clock, "SMS retries")
        self._finished = Batches(self._write_finished, clock, "SMS final states")
        self._reports = Batches(self._write_reports, clock, "SMS status reports")
        # counters for /metrics
        self.queued: collections.Counter = collections.Counter()  # by kind
        self.outcomes: collections.Counter = collections.Counter()  # submitted, retry, failed, expired

    def now(self) -> float:
        return self.clock.seconds()

    # -- queueing

    def on_queued(self, listener: Callable[[], None]) -> None:
        """*listener()* is called after each message this node queued is committed (and not handed over)."""
        self._listeners.append(listener)

    def hand_to(self, taker) -> None:
        """*taker* (this node's sender) gets each message queued here the moment
        it is committed, without a claim: ``taker.reserve()`` (a slot for one
        more submit: True, or False when it cannot send now) is asked before
        the INSERT, which then commits the message already claimed by this
        node for its first attempt; ``taker.take(claimed)`` submits it, and
        ``taker.unreserve()`` gives the slot back when nothing was committed.
        A crash between the commit and the Submit_Resp leaves it claimed by
        this node: sent again at the next start (:meth:`release_mine`) or by
        any node once the lease runs out."""
        self._taker = taker

    @defer.inlineCallbacks
    def queue(self, mobile: str, text: str, kind: str = "message", *, display: str | None = None,
              dev_id: str | None = None, alarm_id: int | None = None, once_per: float | None = None,
              validity: float | None = None):
        """Commit a message to *mobile*: its message_id once committed, or
        None when *once_per* (seconds, per device and kind) refused it.
        *display* replaces *text* wherever the message is shown or logged
        (*text* holds a secret).  Raises BadValue or DatabaseUnavailable."""
        if kind not in KINDS:
            raise errors.BadValue("unknown kind of SMS: %r" % (kind,))
        if not (mobile.isdigit() and mobile.isascii() and 5 <= len(mobile) <= 21):
            raise errors.BadValue("not a mobile number: %r" % (mobile[:30],))
        if not text or len(text) > MAX_TEXT:
            raise errors.BadValue("an SMS text must have 1 to %d characters" % (MAX_TEXT,))
        now = self.now()
        valid_until = now + (validity or self.validity)
        taker = self._taker
        handed = taker is not None and taker.reserve()
        try:
            message_id = yield self.outbox.queue(mobile, text, kind, now, valid_until, display=display,
                                                 dev_id=dev_id, alarm_id=alarm_id, once_per=once_per,
                                                 claim_for=(self.node, self.lease) if handed else None)
        except BaseException:
            if handed:
                taker.unreserve()
            raise
        if message_id is None:
            if handed:
                taker.unreserve()
            return None
        self.queued[kind] += 1
        if handed:
            taker.take(Claimed(message_id, mobile, text, kind, 1, valid_until))
        else:
            for listener in self._listeners:
                listener()
        return message_id

    def send(self, mobile: str, text: str, kind: str = "message", display: str | None = None) -> defer.Deferred:
        """ISmsSender: queue it; fires once committed."""
        return self.queue(mobile, text, kind, display=display)

    def list(self, status: str | None = None, limit: int = 100) -> defer.Deferred:
        return self.outbox.list(status, limit)

    @defer.inlineCallbacks
    def purge(self):
        """Forget what ended more than *keep* seconds ago."""
        messages, reports = yield self.outbox.purge(self.now() - self.keep)
        if messages or reports:
            log.info("SMS outbox: {messages} finished messages and {reports} stray status reports older than"
                     " {days:g} days removed", messages=messages, reports=reports, days=self.keep / 86400)

    # -- the sender's side

    def release_mine(self) -> defer.Deferred:
        """At start: what this node's previous run held goes back to the queue."""
        return self.outbox.release(self.node, self.now())

    def release_stale(self) -> defer.Deferred:
        """What any node held past its lease goes back to the queue."""
        return self.outbox.release(self.node, self.now(), stale_only=True)

    @defer.inlineCallbacks
    def claim(self, limit: int):
        """Up to *limit* due messages for this node to send: [Claimed]."""
        claimed, expired = yield self.outbox.claim(self.node, self.now(), limit, self.lease)
        if expired:
            self.outcomes["expired"] += expired
            log.info("{count} SMS expired before they could be submitted", count=expired)
        return claimed

    def submitted(self, message_id: int, msg_ids: list[str]) -> defer.Deferred:
        """The gateway acknowledged every part of the message (its MsgIDs) now:
        ``submitted_at`` is this moment, however long the batch waits to be written."""
        self.outcomes["submitted"] += 1
        return self._submitted.add((message_id, [printable(m) for m in msg_ids], self.now()))

    def retry(self, claimed, reason: str) -> defer.Deferred:
        """Another attempt later, or expired when its validity runs out first."""
        delay = min(self.retry_max_delay, self.retry_delay * 2 ** max(0, claimed.attempts - 1))
        at = self.now() + delay
        if at >= claimed.valid_until:
            return self.expired(claimed.message_id, "not submitted within its validity (last: %s)" % (reason,))
        self.outcomes["retry"] += 1
        return self._retries.add((claimed.message_id, at, reason))

    def failed(self, message_id: int, reason: str) -> defer.Deferred:
        self.outcomes["failed"] += 1
        return self._finished.add((message_id, "failed", reason))

    def expired(self, message_id: int, reason: str) -> defer.Deferred:
        self.outcomes["expired"] += 1
        return self._finished.add((message_id, "expired", reason))

    def reported(self, msg_id: str, stat: str, err: str) -> defer.Deferred:
        """A status report; fires once stored (then the gateway may be answered)."""
        return self._reports.add((printable(msg_id), printable(stat, 10) or "UNKNOWN", printable(err, 10)))

    @property
    def unrecorded(self) -> int:
        """Outcomes and reports not yet stored."""
        return sum(len(b) for b in self._batches())

    def _batches(self):
        return self._submitted, self._retries, self._finished, self._reports

    @defer.inlineCallbacks
    def flush(self, grace: float):
        """Wait (at most *grace* seconds) until every outcome is stored; give
        up on the rest (logged: those messages will be sent again)."""
        idle = defer.DeferredList([b.idle() for b in self._batches()], consumeErrors=True)
        yield idle.addTimeout(grace, self.clock).addErrback(lambda f: f.trap(defer.TimeoutError))
        left = sum(b.abandon() for b in self._batches())
        if left:
            log.warn("stopping with {count} SMS outcomes unstored: those messages will be sent again and"
                     " those reports asked for again", count=left)

    def _write_submitted(self, items):
        return self.outbox.submitted(items, self.node, self.now())

    def _write_retries(self, items):
        return self.outbox.retry(items, self.node, self.now())

    def _write_finished(self, items):
        return self.outbox.finish(items, self.node, self.now())

    def _write_reports(self, items):
        return self.outbox.report(items, self.now())


def retrying(clock, call: Callable[[], defer.Deferred], until: float, *, initial_delay: float = 0.5,
             max_delay: float = 10.0) -> defer.Deferred:
    """``call()``, called again after a pause (doubling) while it fails
    DatabaseUnavailable, until the next try would be after *until* (POSIX seconds)."""
    failures = [0]

    def again(failure):
        failure.trap(errors.DatabaseUnavailable)
        failures[0] += 1
        delay = min(max_delay, initial_delay * 2 ** (failures[0] - 1))
        if clock.seconds() + delay >= until:
            return failure
        return task.deferLater(clock, delay, attempt)

    def attempt():
        return defer.maybeDeferred(call).addErrback(again)

    return attempt()
