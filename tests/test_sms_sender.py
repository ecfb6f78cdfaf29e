"""kandian.sms.sender over the fake store and task.Clock, against a stand-in SmgpClient."""

from __future__ import annotations

from twisted.internet import defer, task
from twisted.trial import unittest

from kandian.core.errors import DatabaseUnavailable
from kandian.core.outbox import Outbox
from kandian.sms import outcomes
from kandian.sms.errors import GatewayUnavailable, SmgpRejected
from kandian.sms.sender import OutboxSender
from kandian.store.fake import FakeStore

from .sms_helpers import StandInGateway
from .test_core_sms import Outage

A, B, C = "13800000001", "13800000002", "13800000003"
NOW = 1_800_000_000


class SenderTestCase(unittest.TestCase):
    capacity = 4

    def setUp(self):
        self.clock = task.Clock()
        self.clock.advance(NOW)
        self.store = FakeStore(node="n1")
        self.outbox = Outbox(self.store, self.clock, node="n1", delivers=True, validity=3600, retry_delay=5,
                             retry_max_delay=60)
        self.gateway = StandInGateway()
        self.sender = OutboxSender(self.outbox, self.gateway, self.clock, capacity=self.capacity,
                                   status_words={47: "非法接收用户号码（DestTermId）"}.get)
        self.gateway.on_report = self.sender.report
        self.sender.startService()
        self.addCleanup(self.stop)

    def stop(self):
        if self.sender.running:
            d = self.sender.stopService()
            self.clock.advance(10)
            return d

    def status(self, message_id):
        row = self.store.tables["sms_outbox"][message_id]
        return row["status"], row["reason"]


class SenderTests(SenderTestCase):
    @defer.inlineCallbacks
    def test_a_queued_message_is_submitted_at_once_and_delivered_on_its_report(self):
        message_id = yield self.outbox.queue(A, "您好" * 40)
        self.assertEqual(self.gateway.submits, [(A, "您好" * 40, NOW + 3600)])
        self.assertEqual(self.status(message_id), ("submitted", ""))
        msg_ids = list(self.gateway.accepted)
        self.assertEqual(len(msg_ids), 2)
        answered = yield self.gateway.report(msg_ids[0])
        self.assertIsNone(answered)
        self.assertEqual(self.status(message_id)[0], "submitted")
        yield self.gateway.report(msg_ids[1])
        self.assertEqual(self.status(message_id)[0], "delivered")

    @defer.inlineCallbacks
    def test_what_the_gateway_says_decides_the_outcome(self):
        self.gateway.refuse.update({A: 1, B: 47, C: 37})
        busy = yield self.outbox.queue(A, "busy")
        bad = yield self.outbox.queue(B, "bad number")
        late = yield self.outbox.queue(C, "late")
        self.assertEqual([self.status(i) for i in (busy, bad, late)], [
            ("queued", "gateway status 1"), ("failed", "gateway status 47 (非法接收用户号码（DestTermId）)"),
            ("expired", "gateway status 37")])
        # the busy one is tried again after its backoff, and then goes through
        del self.gateway.refuse[A]
        self.clock.advance(4)
        self.assertEqual(self.status(busy)[0], "queued")
        self.clock.advance(1)
        self.assertEqual(self.status(busy)[0], "submitted")
        self.assertEqual([s[0] for s in self.gateway.submits], [A, B, C, A])
        self.assertEqual(self.sender.stats.outcomes, {("retry", "status 1"): 1, ("failed", "status 47"): 1,
                                                      ("expired", "status 37"): 1})

    @defer.inlineCallbacks
    def test_nothing_is_claimed_while_the_gateway_is_down(self):
        self.gateway.connected = False
        message_id = yield self.outbox.queue(A, "hello")
        self.clock.advance(10)
        self.assertEqual((self.gateway.submits, self.status(message_id)[0]), ([], "queued"))
        self.gateway.connected = True
        self.clock.advance(1)  # the next poll
        self.assertEqual(self.status(message_id)[0], "submitted")

    @defer.inlineCallbacks
    def test_a_connection_lost_mid_window_means_another_attempt(self):
        self.gateway.hold = True
        ids = []
        for n in range(3):
            ids.append((yield self.outbox.queue(A, "m%d" % n)))
        self.gateway.answer(1)
        self.gateway.answer(error=GatewayUnavailable("connection lost"))
        self.assertEqual([self.status(i) for i in ids], [("submitted", "")] + [
            ("queued", "gateway unavailable (outcome unknown)")] * 2)
        self.gateway.hold = False
        self.clock.advance(5)
        self.assertEqual([self.status(i)[0] for i in ids], ["submitted"] * 3)
        self.assertEqual(len(self.gateway.submits), 5)

    @defer.inlineCallbacks
    def test_at_most_capacity_in_flight_refilled_in_batches(self):
        self.gateway.hold = True
        for n in range(10):
            yield self.outbox.queue(A, "m%d" % n)
        self.assertEqual((len(self.gateway.held), self.sender.stats.in_flight), (4, 4))
        self.gateway.answer(1)
        self.assertEqual(len(self.gateway.held), 3)  # 3 in flight: above half, no claim yet
        self.gateway.answer(1)
        self.assertEqual(len(self.gateway.held), 4)  # 2 in flight: refilled to 4
        self.gateway.answer()
        self.gateway.answer()
        self.gateway.answer()
        statuses = [m["status"] for m in self.store.tables["sms_outbox"].values()]
        self.assertEqual(statuses, ["submitted"] * 10)
        self.assertEqual(self.sender.stats.in_flight, 0)

    @defer.inlineCallbacks
    def test_an_unexpected_client_error_is_logged_and_retried(self):
        self.gateway.hold = True
        message_id = yield self.outbox.queue(A, "hello")
        self.gateway.answer(error=KeyError("bug"))
        self.assertEqual(self.status(message_id), ("queued", "submit failed: KeyError"))
        self.assertEqual(len(self.flushLoggedErrors(KeyError)), 1)

    @defer.inlineCallbacks
    def test_a_message_the_client_cannot_encode_fails(self):
        self.gateway.hold = True
        message_id = yield self.outbox.queue(A, "hello")
        self.gateway.answer(error=ValueError("text too long"))
        self.assertEqual(self.status(message_id), ("failed", "cannot be sent: text too long"))
        self.assertEqual(self.sender.stats.outcomes, {("failed", "unsendable"): 1})

    @defer.inlineCallbacks
    def test_stopping_with_submits_in_flight_records_them_for_another_attempt(self):
        self.gateway.hold = True
        message_id = yield self.outbox.queue(A, "hello")
        yield self.stop()
        self.assertEqual(self.status(message_id), ("queued", "gateway unavailable (outcome unknown)"))
        self.assertEqual(self.clock.getDelayedCalls(), [])

    @defer.inlineCallbacks
    def test_an_acknowledgement_waits_out_an_outage(self):
        outage = Outage(self.store.outbox, "submitted", 2)
        message_id = yield self.outbox.queue(A, "hello")
        self.assertEqual((self.status(message_id)[0], self.sender.stats.in_flight), ("sending", 1))
        self.clock.advance(0.5)
        self.clock.advance(1)
        self.assertEqual((self.status(message_id)[0], self.sender.stats.in_flight), ("submitted", 0))
        self.assertEqual((outage.calls, len(self.gateway.submits)), (3, 1))


class HandOverTests(SenderTestCase):
    @defer.inlineCallbacks
    def test_a_message_is_handed_to_the_sender_as_it_is_committed(self):
        """No claim: the message is committed claimed by this node and submitted at once; only one queued
        while every slot is taken waits for a claim."""
        claims = Outage(self.store.outbox, "claim", 0)
        polls = claims.calls  # the start's first poll
        self.gateway.hold = True
        handed = yield self.outbox.queue(A, "hello")
        self.assertEqual(len(self.gateway.held), 1)
        row = self.store.tables["sms_outbox"][handed]
        self.assertEqual((row["status"], row["claimed_by"], row["attempts"]), ("sending", "n1", 1))
        self.assertEqual(claims.calls, polls)
        for n in range(3):
            yield self.outbox.queue(B, "m%d" % n)
        self.assertEqual((len(self.gateway.held), claims.calls, self.sender.stats.handed), (4, polls, 4))
        waiting = yield self.outbox.queue(C, "no slot")  # capacity 4: queued, claimed once a slot frees
        self.assertEqual(self.status(waiting)[0], "queued")
        self.gateway.answer(3)
        self.assertEqual(self.status(waiting)[0], "sending")
        self.assertEqual(claims.calls, polls + 1)
        self.gateway.answer()
        self.assertEqual([m["status"] for m in self.store.tables["sms_outbox"].values()], ["submitted"] * 5)
        self.assertEqual(self.sender.stats.in_flight, 0)

    @defer.inlineCallbacks
    def test_nothing_committed_gives_the_slot_back(self):
        Outage(self.store.outbox, "queue", 1)
        yield self.assertFailure(self.outbox.queue(A, "hello"), DatabaseUnavailable)
        self.assertEqual(self.sender.stats.in_flight, 0)
        first = yield self.outbox.queue(A, "alarm", "alarm", dev_id="81100000001", once_per=60)
        refused = yield self.outbox.queue(A, "alarm", "alarm", dev_id="81100000001", once_per=60)
        self.assertIsNotNone(first)
        self.assertIsNone(refused)
        self.assertEqual((self.sender.stats.in_flight, self.sender.stats.handed), (0, 1))

    @defer.inlineCallbacks
    def test_submitted_at_is_when_the_gateway_acknowledged(self):
        """Not when the acknowledgement could be written (a batch under way, an outage)."""
        Outage(self.store.outbox, "submitted", 2)
        message_id = yield self.outbox.queue(A, "hello")
        self.clock.advance(0.5)
        self.clock.advance(1)
        row = self.store.tables["sms_outbox"][message_id]
        self.assertEqual((row["status"], row["submitted_at"]), ("submitted", NOW))


class HousekeepingTests(SenderTestCase):
    @defer.inlineCallbacks
    def test_stale_claims_are_taken_back_and_old_messages_purged(self):
        self.outbox.keep = 7200
        done = yield self.outbox.queue(A, "done")
        yield self.gateway.report(next(iter(self.gateway.accepted)))
        # another node's claim that ran out
        other = yield self.store.outbox.queue(B, "theirs", "message", NOW, NOW + 86400)
        self.gateway.connected = False
        yield self.store.outbox.claim("n2", NOW, 10, 20)
        self.clock.advance(29)
        self.assertEqual(self.status(other)[0], "sending")
        self.gateway.connected = True
        self.clock.advance(1)  # release_interval: taken back, then claimed here
        self.assertEqual(self.status(other)[0], "submitted")
        self.assertEqual(self.status(done)[0], "delivered")
        for _ in range(3600 * 3 - 30):
            self.clock.advance(1)
        self.assertNotIn(done, self.store.tables["sms_outbox"])
        self.assertIn(other, self.store.tables["sms_outbox"])  # submitted, not finished


class RestartTests(unittest.TestCase):
    @defer.inlineCallbacks
    def test_a_restarted_node_sends_again_only_what_was_not_acknowledged(self):
        clock = task.Clock()
        clock.advance(NOW)
        store = FakeStore(node="n1")
        first = StandInGateway()
        first.hold = True
        outbox = Outbox(store, clock, node="n1", delivers=True)
        sender = OutboxSender(outbox, first, clock, capacity=8)
        sender.startService()
        ids = []
        for n in range(5):
            ids.append((yield outbox.queue(A, "m%d" % n)))
        first.answer(2)
        # the process dies: no stop, nothing more recorded
        sender._loop.stop()
        outbox2 = Outbox(store, clock, node="n1", delivers=True)
        second = StandInGateway(prefix=2)
        sender2 = OutboxSender(outbox2, second, clock, capacity=8)
        sender2.startService()
        self.assertEqual([t for _, t, _ in second.submits], ["m2", "m3", "m4"])
        self.assertEqual([store.tables["sms_outbox"][i]["status"] for i in ids], ["submitted"] * 5)
        stopped = sender2.stopService()
        clock.advance(10)
        yield stopped


class OutcomeTableTests(unittest.TestCase):
    def test_the_table(self):
        self.assertEqual(outcomes.outcome(SmgpRejected(1)), ("retry", "gateway status 1"))
        self.assertEqual(outcomes.outcome(SmgpRejected(75))[0], "retry")
        self.assertEqual(outcomes.outcome(SmgpRejected(37))[0], "expired")
        self.assertEqual(outcomes.outcome(SmgpRejected(47), {47: "x"}.get), ("failed", "gateway status 47 (x)"))
        self.assertEqual(outcomes.outcome(SmgpRejected(9999))[0], "failed")
        self.assertEqual(outcomes.outcome(GatewayUnavailable("lost"))[0], "retry")
