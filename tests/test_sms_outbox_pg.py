"""The outbox and its sender on real PostgreSQL, against stand-ins with SmgpClient's contract:
two senders on two pools, a sender that dies mid-window, PostgreSQL's backends killed with
messages queued and acknowledgements in flight."""

from __future__ import annotations

from twisted.internet import defer, reactor

from kandian.core.outbox import Outbox
from kandian.sms.sender import OutboxSender
from kandian.store.connector import Store
from kandian.store.service import connect

from . import pg
from .sms_helpers import StandInGateway
from .test_device_integration import eventually
from .test_outage import LogCapture, allow_connections, kill_backends

A = "13800000001"


class OutboxPgTestCase(pg.DatabaseTestCase):
    @defer.inlineCallbacks
    def node(self, name: str, *, capacity=8, prefix=1, hold=False, pool_size=2):
        """A daemon's worth of SMS: its own pool, outbox, stand-in gateway and sender (started)."""
        db = yield connect(self.dsn, pool_size, reactor)
        self.addCleanup(db.close)
        outbox = Outbox(Store(db, node=name), reactor, node=name, delivers=True, retry_delay=1)
        gateway = StandInGateway(prefix=prefix)
        gateway.hold = hold
        sender = OutboxSender(outbox, gateway, reactor, capacity=capacity, poll_interval=0.05)
        gateway.on_report = sender.report
        sender.startService()
        self.addCleanup(lambda: sender.stopService() if sender.running else None)
        return outbox, gateway, sender

    @defer.inlineCallbacks
    def states(self):
        rows = yield self.db.runQuery("SELECT status, count(*) FROM sms_outbox GROUP BY 1")
        return dict(rows)

    @defer.inlineCallbacks
    def queue(self, count: int, prefix="m"):
        """Messages queued by another process (kandianctl): the senders find them by polling."""
        store = Store(self.db)
        for n in range(count):
            yield store.outbox.queue(A, "%s%d" % (prefix, n), "message", reactor.seconds(),
                                     reactor.seconds() + 3600)


class TwoSendersTests(OutboxPgTestCase):
    @defer.inlineCallbacks
    def test_two_senders_never_send_one_message_twice(self):
        _, first, _ = yield self.node("node-a", capacity=5, prefix=1)
        _, second, _ = yield self.node("node-b", capacity=5, prefix=2)
        yield self.queue(400)
        yield eventually(lambda: self.states().addCallback(lambda s: s == {"submitted": 400}),
                         "all submitted", tries=3000)
        texts = [t for _, t, _ in first.submits + second.submits]
        self.assertEqual(len(texts), 400)
        self.assertEqual(len(set(texts)), 400)
        self.assertTrue(first.submits and second.submits, "both senders took part")


class RestartTests(OutboxPgTestCase):
    @defer.inlineCallbacks
    def test_a_sender_that_dies_mid_window_loses_nothing_and_resends_nothing_acknowledged(self):
        _, first, sender = yield self.node("node-a", capacity=20, hold=True)
        yield self.queue(20)
        yield eventually(lambda: len(first.held) == 20, "20 in flight")
        first.answer(8)
        yield eventually(lambda: self.states().addCallback(lambda s: s.get("submitted") == 8), "8 recorded")
        acknowledged = {t for _, t, _ in first.submits[:8]}
        # the process dies: its loop stops, its held submits are never answered or recorded
        sender._loop.stop()
        sender.running = False
        _, second, _ = yield self.node("node-a", capacity=20, prefix=2)
        yield eventually(lambda: self.states().addCallback(lambda s: s == {"submitted": 20}), "all submitted")
        resent = {t for _, t, _ in second.submits}
        self.assertEqual(len(second.submits), 12)
        self.assertEqual(resent & acknowledged, set())
        self.assertEqual(resent | acknowledged, {"m%d" % n for n in range(20)})
        # reports for what the dead sender had submitted still settle it
        for msg_id in list(first.accepted):
            yield second.report(msg_id)
        self.assertEqual((yield self.states()), {"submitted": 12, "delivered": 8})


class OutageTests(OutboxPgTestCase):
    @defer.inlineCallbacks
    def test_postgresql_restarted_while_messages_are_queued(self):
        self.addCleanup(allow_connections, self.database, True)
        log = LogCapture(self)
        _, gateway, sender = yield self.node("node-a", capacity=30, hold=True, pool_size=3)
        yield self.queue(50)
        yield eventually(lambda: len(gateway.held) == 30, "30 in flight")
        gateway.answer(10)
        yield eventually(lambda: self.states().addCallback(lambda s: s.get("submitted") == 10), "10 recorded")
        reports = [gateway.report(msg_id) for msg_id in list(gateway.accepted)[:5]]
        yield defer.gatherResults(reports)
        yield self.db.close()  # only the sender's pool sees the outage

        allow_connections(self.database, False)
        yield eventually(lambda: kill_backends(self.database) == 0 and not sender.outbox.outbox.db.available,
                         "outage noticed")
        gateway.answer(15)  # acknowledged while nothing can be written
        late = [gateway.report(msg_id) for msg_id in list(gateway.accepted)[5:10]]
        yield eventually(lambda: sender.outbox.unrecorded >= 20, "outcomes held in memory")
        self.assertFalse(any(d.called for d in late))  # not answered before they are stored

        allow_connections(self.database, True)
        yield defer.gatherResults(late)
        self.db = yield connect(self.dsn, 1, reactor)
        self.addCleanup(self.db.close)
        yield eventually(lambda: sender.outbox.unrecorded == 0, "outcomes stored", tries=3000)
        gateway.hold = False
        gateway.answer()
        yield eventually(lambda: self.states().addCallback(lambda s: s == {"submitted": 40, "delivered": 10}),
                         "everything recorded", tries=2000)
        texts = [t for _, t, _ in gateway.submits]
        self.assertEqual(sorted(texts), sorted("m%d" % n for n in range(50)))  # none sent twice
        self.assertEqual(log.failures(), [])
