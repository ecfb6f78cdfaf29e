"""The outbox's sender: queued messages to the SMGP gateway, status reports back (§2.6).

:class:`OutboxSender` is handed each message queued on this node the
moment it is committed (:meth:`~kandian.core.outbox.Outbox.hand_to`: the
message is committed already claimed by this node when a submit slot is
free and the client is logged in, so an alarm SMS goes to the gateway
without a claim's round trip or a wait for the claim under way); it
claims due messages from the core's :class:`~kandian.core.outbox.Outbox`
when a message is queued on this node that it could not take then, when a
submit finishes while more are due, and every ``poll_interval``
seconds (retries, and messages other processes such as ``kandianctl``
queued); every ``release_interval`` it takes back claims that ran out, every
``purge_interval`` it purges finished messages past their keeping.  At most
``capacity`` submits are in flight (refilled once half of them have been
answered), and only while the client is logged in.  Each answer becomes the
message's outcome through :mod:`kandian.sms.outcomes`.  The client (an
``SmgpClient``, or a stand-in with its contract: ``connected``,
``submit(mobile, text, valid_until)`` → MsgIDs) is started and stopped with
the sender; its status reports go to :meth:`OutboxSender.report`, whose
Deferred fires once the report is stored, so the gateway is answered only
then.
"""

from __future__ import annotations

import collections

from twisted.application import service
from twisted.internet import defer, task
from twisted.logger import Logger

from ..core.errors import log_failure
from . import outcomes
from .errors import GatewayUnavailable, SmgpRejected

log = Logger()


class SenderStats:
    def __init__(self):
        self.submitted = 0
        self.outcomes: collections.Counter = collections.Counter()  # (outcome, cause) → count
        self.in_flight = 0
        self.handed = 0  # messages handed over as they were committed (no claim)


class OutboxSender(service.Service):
    name = "sms-sender"

    def __init__(self, outbox, client, clock, *, capacity: int = 32, poll_interval: float = 1.0,
                 release_interval: float = 30.0, purge_interval: float = 3600.0, stop_grace: float = 5.0,
                 status_words=None):
        """*status_words(status)*: the words of a Submit_Resp Status, for reasons."""
        self.outbox = outbox
        self.client = client
        self.clock = clock
        self.capacity = capacity
        self.poll_interval = poll_interval
        self.release_interval = release_interval
        self.purge_interval = purge_interval
        self.stop_grace = stop_grace
        self.status_words = status_words
        self.stats = SenderStats()
        self._claiming = False
        self._again = False
        self._more = False  # the last claim was full: more may be due
        self._last_release = self._last_purge = None
        self._loop = task.LoopingCall(self.poll)
        self._loop.clock = clock
        self._in_flight: set[defer.Deferred] = set()
        outbox.on_queued(self.wake)
        outbox.hand_to(self)

    # -- service

    def startService(self):
        super().startService()
        self.client.startService()
        self._last_release = self._last_purge = self.clock.seconds()
        self.outbox.release_mine().addCallbacks(self._released, self._release_failed)

    def _released(self, count):
        if count:
            log.info("{count} SMS this node held when it last stopped are queued again", count=count)
        if self.running and not self._loop.running:
            self._loop.start(self.poll_interval, now=True)

    def _release_failed(self, failure):
        log_failure(log, "could not take back the SMS this node held (their claims run out instead)", failure)
        self._released(0)

    @defer.inlineCallbacks
    def stopService(self):
        super().stopService()
        if self._loop.running:
            self._loop.stop()
        yield defer.maybeDeferred(self.client.stopService)
        if self._in_flight:
            # a stopped client fails what it still holds; wait for those outcomes
            settled = defer.DeferredList(list(self._in_flight), consumeErrors=True)
            yield settled.addTimeout(self.stop_grace, self.clock).addErrback(lambda f: None)
        yield self.outbox.flush(self.stop_grace)

    # -- handed over by the outbox as they are committed

    def reserve(self) -> bool:
        """A submit slot for a message about to be committed claimed by this node, if one may be sent now."""
        if not self.running or not self.client.connected or self.stats.in_flight >= self.capacity:
            return False
        self.stats.in_flight += 1
        return True

    def unreserve(self) -> None:
        self.stats.in_flight -= 1

    def take(self, message) -> None:
        """Submit *message* (committed, claimed by this node) in the slot :meth:`reserve` kept."""
        self.stats.handed += 1
        self._submit(message)

    # -- claiming

    def wake(self) -> None:
        """A message was queued on this node that it could not take (no slot, or not connected)."""
        self._more = True  # claimed when a slot frees (a claim with room says again whether more are due)
        self._claim()

    def poll(self) -> None:
        now = self.clock.seconds()
        if now - self._last_release >= self.release_interval:
            self._last_release = now
            self.outbox.release_stale().addErrback(
                lambda f: log_failure(log, "could not take back SMS whose claims ran out", f))
        if now - self._last_purge >= self.purge_interval:
            self._last_purge = now
            self.outbox.purge().addErrback(lambda f: log_failure(log, "could not purge old SMS", f))
        self._claim()

    def _claim(self) -> None:
        if self._claiming:
            self._again = True
            return
        room = self.capacity - self.stats.in_flight
        if not self.running or room <= 0 or not self.client.connected:
            return
        self._claiming = True
        d = self.outbox.claim(room)
        d.addCallback(self._claimed, room)
        d.addErrback(lambda f: log_failure(log, "could not claim SMS to send", f))
        d.addBoth(self._claim_done)

    def _claimed(self, messages, room: int) -> None:
        self._more = len(messages) == room
        for message in messages:
            self._send(message)

    def _claim_done(self, _) -> None:
        self._claiming = False
        if self._again:
            self._again = False
            self._claim()

    # -- sending

    def _send(self, message) -> None:
        self.stats.in_flight += 1
        self._submit(message)

    def _submit(self, message) -> None:
        d = defer.maybeDeferred(self.client.submit, message.mobile, message.body, message.valid_until)
        d.addCallbacks(self._accepted, self._refused, callbackArgs=(message,), errbackArgs=(message,))
        d.addErrback(lambda f: log_failure(log, "SMS {message_id}: outcome not recorded", f,
                                           message_id=message.message_id))
        self._in_flight.add(d)
        d.addBoth(self._done, d)

    def _accepted(self, msg_ids, message):
        self.stats.submitted += 1
        return self.outbox.submitted(message.message_id, list(msg_ids))

    def _refused(self, failure, message):
        error = failure.value
        what, reason = outcomes.outcome(error, self.status_words)
        cause = ("status %d" % error.status if isinstance(error, SmgpRejected)
                 else "unavailable" if isinstance(error, GatewayUnavailable)
                 else "unsendable" if isinstance(error, ValueError) else "error")
        self.stats.outcomes[what, cause] += 1
        if cause == "error":
            log.failure("SMS {message_id}: the gateway client failed; trying again later", failure,
                        message_id=message.message_id)
        if what == outcomes.FAILED:
            log.info("SMS {message_id} refused by the gateway: {reason}", message_id=message.message_id,
                     reason=reason)
            return self.outbox.failed(message.message_id, reason)
        if what == outcomes.EXPIRED:
            return self.outbox.expired(message.message_id, reason)
        return self.outbox.retry(message, reason)

    def _done(self, result, d):
        self._in_flight.discard(d)
        self.stats.in_flight -= 1
        if self._more and self.stats.in_flight <= self.capacity // 2:
            self._claim()  # refill in batches, not one claim per answer
        return result

    # -- status reports

    def report(self, msg_id: str, stat: str, err: str) -> defer.Deferred:
        """The client's ``on_report``: fires once the report is stored."""
        return self.outbox.reported(msg_id, stat, err)
