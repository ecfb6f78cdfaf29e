"""The contract of the store's outbox component and the users' SMS columns (fake and PostgreSQL)."""

from twisted.internet import defer

from kandian.store.connector import Store

from .pg import DatabaseTestCase
from .store_contract import StoreContract, contract

A, B = "13800000001", "13800000002"
CAM, CAM2 = "81100000001", "81100000002"
NODE, OTHER = "node-a", "node-b"
LEASE = 600.0


class SmsContract(StoreContract):
    @defer.inlineCallbacks
    def queue(self, mobile=A, body="hello", kind="message", valid=3600.0, **kw):
        message_id = yield self.store.outbox.queue(mobile, body, kind, self.now, self.now + valid, **kw)
        return message_id

    @defer.inlineCallbacks
    def listed(self, status=None):
        messages = yield self.store.outbox.list(status)
        return {m.message_id: m for m in messages}

    @defer.inlineCallbacks
    def test_a_message_from_queued_to_delivered(self):
        first = yield self.queue(body="您的密码为 12345678", kind="password", display="您的密码为 ********")
        second = yield self.queue(B, "hello")
        claimed, expired = yield self.store.outbox.claim(NODE, self.now, 10, LEASE)
        self.assertEqual(expired, 0)
        self.assertEqual([(c.message_id, c.mobile, c.body, c.kind, c.attempts) for c in claimed],
                         [(first, A, "您的密码为 12345678", "password", 1), (second, B, "hello", "message", 1)])
        self.assertEqual(claimed[0].valid_until, self.now + 3600)
        # nothing more to claim: both are held
        self.assertEqual((yield self.store.outbox.claim(OTHER, self.now, 10, LEASE)), ([], 0))
        yield self.store.outbox.submitted([(first, ["0" * 19 + "1", "0" * 19 + "2"]), (second, ["0" * 19 + "3"])],
                                          NODE, self.now + 1)
        listed = yield self.listed()
        self.assertEqual([(m.status, m.text, m.msg_ids) for m in listed.values()],
                         [("submitted", "hello", ["0" * 19 + "3"]),
                          ("submitted", "您的密码为 ********", ["0" * 19 + "1", "0" * 19 + "2"])])
        # the secret is gone from the row once the gateway has it
        self.assertNotIn("12345678", repr((yield self.store.outbox.list())))
        yield self.store.outbox.report([("0" * 19 + "1", "DELIVRD", "000")], self.now + 2)
        self.assertEqual((yield self.listed())[first].status, "submitted")  # one part of two
        yield self.store.outbox.report([("0" * 19 + "2", "DELIVRD", "000"), ("0" * 19 + "3", "DELIVRD", "")],
                                       self.now + 3)
        listed = yield self.listed("delivered")
        self.assertEqual(sorted(listed), [first, second])
        self.assertEqual(listed[first].reason, "")

    @defer.inlineCallbacks
    def test_claims_take_due_messages_in_order_up_to_the_limit(self):
        ids = []
        for n in range(5):
            ids.append((yield self.queue(body="m%d" % n)))
        claimed, _ = yield self.store.outbox.claim(NODE, self.now, 2, LEASE)
        self.assertEqual([c.message_id for c in claimed], ids[:2])
        claimed, _ = yield self.store.outbox.claim(OTHER, self.now, 10, LEASE)
        self.assertEqual([c.message_id for c in claimed], ids[2:])
        # a retry is due only when its time comes, and only its holder may schedule it
        yield self.store.outbox.retry([(ids[0], self.now + 30, "gateway busy (status 1)")], NODE, self.now)
        yield self.store.outbox.retry([(ids[2], self.now + 30, "not mine")], NODE, self.now)
        listed = yield self.listed()
        self.assertEqual((listed[ids[0]].status, listed[ids[0]].reason), ("queued", "gateway busy (status 1)"))
        self.assertEqual(listed[ids[2]].status, "sending")
        self.assertEqual((yield self.store.outbox.claim(NODE, self.now + 29, 10, LEASE)), ([], 0))
        claimed, _ = yield self.store.outbox.claim(NODE, self.now + 30, 10, LEASE)
        self.assertEqual([(c.message_id, c.attempts) for c in claimed], [(ids[0], 2)])

    @defer.inlineCallbacks
    def test_a_message_past_its_validity_expires_instead_of_being_claimed(self):
        late = yield self.queue(valid=10)
        on_time = yield self.queue(valid=100)
        claimed, _ = yield self.store.outbox.claim(NODE, self.now, 10, LEASE)
        yield self.store.outbox.retry([(late, self.now + 20, "gateway unavailable"),
                                       (on_time, self.now + 20, "gateway unavailable")], NODE, self.now + 1)
        claimed, expired = yield self.store.outbox.claim(NODE, self.now + 20, 10, LEASE)
        self.assertEqual(([c.message_id for c in claimed], expired), ([on_time], 1))
        m = (yield self.listed())[late]
        self.assertEqual((m.status, m.attempts), ("expired", 1))
        self.assertEqual(m.reason, "not submitted within its validity (last: gateway unavailable)")

    @defer.inlineCallbacks
    def test_final_states_decided_by_a_sender(self):
        refused = yield self.queue()
        other = yield self.queue()
        yield self.store.outbox.claim(NODE, self.now, 1, LEASE)
        yield self.store.outbox.claim(OTHER, self.now, 1, LEASE)
        yield self.store.outbox.finish([(refused, "failed", "refused by the gateway (status 47)"),
                                        (other, "failed", "not mine")], NODE, self.now)
        listed = yield self.listed()
        self.assertEqual((listed[refused].status, listed[refused].reason),
                         ("failed", "refused by the gateway (status 47)"))
        self.assertEqual(listed[other].status, "sending")

    @defer.inlineCallbacks
    def test_reports_settle_a_message_whichever_comes_first(self):
        early = yield self.queue()
        failed = yield self.queue()
        expired = yield self.queue()
        yield self.store.outbox.claim(NODE, self.now, 10, LEASE)
        # the report of early's only part arrives before its Submit_Resp is recorded
        yield self.store.outbox.report([("E1", "DELIVRD", "000"), ("unknown", "DELIVRD", "000")], self.now)
        yield self.store.outbox.submitted([(early, ["E1"]), (failed, ["F1", "F2"]), (expired, ["X1"])],
                                          NODE, self.now + 1)
        # one part failing fails the message at once; a repeated report changes nothing
        yield self.store.outbox.report([("F2", "UNDELIV", "024"), ("X1", "EXPIRED", "")], self.now + 2)
        yield self.store.outbox.report([("F2", "DELIVRD", "000"), ("F1", "DELIVRD", "000")], self.now + 3)
        listed = yield self.listed()
        self.assertEqual([(listed[i].status, listed[i].reason) for i in (early, failed, expired)],
                         [("delivered", ""), ("failed", "report UNDELIV (error 024)"), ("expired", "report EXPIRED")])

    @defer.inlineCallbacks
    def test_an_acknowledgement_recorded_late_still_counts(self):
        # the claim ran out and the message went back to queued before the
        # sender could record its Submit_Resp: it must not be sent again
        message = yield self.queue()
        yield self.store.outbox.claim(NODE, self.now, 10, 5)
        self.assertEqual((yield self.store.outbox.release(OTHER, self.now + 5, stale_only=True)), 1)
        yield self.store.outbox.submitted([(message, ["M1"])], NODE, self.now + 6)
        self.assertEqual((yield self.store.outbox.claim(OTHER, self.now + 6, 10, LEASE)), ([], 0))
        self.assertEqual((yield self.listed())[message].status, "submitted")

    @defer.inlineCallbacks
    def test_release_of_a_restarted_node_and_of_stale_claims(self):
        mine = yield self.queue()
        theirs = yield self.queue()
        yield self.store.outbox.claim(NODE, self.now, 1, LEASE)
        yield self.store.outbox.claim(OTHER, self.now, 1, 60)
        self.assertEqual((yield self.store.outbox.release(NODE, self.now + 1)), 1)
        self.assertEqual((yield self.store.outbox.release(NODE, self.now + 59, stale_only=True)), 0)
        self.assertEqual((yield self.store.outbox.release(NODE, self.now + 60, stale_only=True)), 1)
        claimed, _ = yield self.store.outbox.claim(NODE, self.now + 60, 10, LEASE)
        self.assertEqual([(c.message_id, c.attempts) for c in claimed], [(mine, 2), (theirs, 2)])
        self.assertEqual((yield self.listed())[mine].reason,
                         "outcome unknown: its sender stopped or its claim ran out")

    @defer.inlineCallbacks
    def test_a_message_committed_already_claimed(self):
        # the sender of this node takes it as it is committed: nobody else claims it; a restart gives it back
        message = yield self.queue(claim_for=(NODE, LEASE))
        listed = (yield self.listed())[message]
        self.assertEqual((listed.status, listed.attempts), ("sending", 1))
        self.assertEqual((yield self.store.outbox.claim(OTHER, self.now, 10, LEASE)), ([], 0))
        self.assertEqual((yield self.store.outbox.release(NODE, self.now + 1)), 1)
        claimed, _ = yield self.store.outbox.claim(OTHER, self.now + 1, 10, LEASE)
        self.assertEqual([(c.message_id, c.attempts) for c in claimed], [(message, 2)])

    @defer.inlineCallbacks
    def test_once_per_device_and_kind(self):
        yield self.store.devices.add(CAM, "k1")
        first = yield self.queue(kind="alarm", dev_id=CAM, once_per=300)
        self.assertIsNone((yield self.queue(kind="alarm", dev_id=CAM, once_per=300)))
        self.assertIsNotNone((yield self.queue(kind="devkey", dev_id=CAM, once_per=300)))
        self.assertIsNotNone((yield self.queue(kind="alarm", dev_id=CAM2, once_per=300)))
        self.assertIsNotNone((yield self.queue(kind="alarm", dev_id=CAM)))  # no limit asked
        self.now += 300
        later = yield self.queue(kind="alarm", dev_id=CAM, once_per=300)
        self.assertIsNone((yield self.queue(kind="alarm", dev_id=CAM, once_per=300)))
        self.assertGreater(later, first)

    @defer.inlineCallbacks
    def test_purge_forgets_old_final_messages_and_stray_reports(self):
        old = yield self.queue()
        recent = yield self.queue()
        pending = yield self.queue()
        yield self.store.outbox.claim(NODE, self.now, 2, LEASE)
        yield self.store.outbox.report([("stray", "DELIVRD", "")], self.now)
        yield self.store.outbox.submitted([(old, ["O1"]), (recent, ["R1"])], NODE, self.now)
        yield self.store.outbox.report([("O1", "DELIVRD", "")], self.now + 1)
        yield self.store.outbox.report([("R1", "UNDELIV", "1"), ("late", "DELIVRD", "")], self.now + 100)
        self.assertEqual((yield self.store.outbox.purge(self.now + 50)), (1, 2))  # old, its report and stray
        self.assertEqual(sorted((yield self.listed())), [recent, pending])
        self.assertEqual((yield self.store.outbox.purge(self.now + 101)), (1, 2))
        self.assertEqual(list((yield self.listed())), [pending])

    @defer.inlineCallbacks
    def test_recipients_are_owners(self):
        a = yield self.store.users.add(A, "scrypt$a")
        b = yield self.store.users.add(B, "scrypt$b")
        yield self.store.devices.add(CAM, "key-1", channels=2)
        self.assertIsNone((yield self.store.outbox.alarm_recipient(CAM, 0)))
        self.assertEqual(tuple((yield self.store.outbox.key_recipient(CAM))), ("key-1", None))
        self.assertIsNone((yield self.store.outbox.key_recipient(CAM2)))
        yield self.store.bindings.bind(a, CAM, 4)
        yield self.store.bindings.share(b, CAM)
        self.assertEqual(tuple((yield self.store.outbox.alarm_recipient(CAM, 0))), (A, True, CAM))
        yield self.store.devices.rename_channel(CAM, 1, "收银台")
        yield self.store.users.set_alarm_sms(A, False)
        self.assertEqual(tuple((yield self.store.outbox.alarm_recipient(CAM, 1))), (A, False, "收银台"))
        self.assertEqual(tuple((yield self.store.outbox.key_recipient(CAM))), ("key-1", A))
        self.assertFalse((yield self.store.users.set_alarm_sms("13899999999", False)))

    @defer.inlineCallbacks
    def test_a_pending_password(self):
        a = yield self.store.users.add(A, "scrypt$old")
        yield self.store.users.set_pending_password_hash(a, "scrypt$new")
        found = yield self.store.users.active(A)
        self.assertEqual((found.password_hash, found.pending_password_hash), ("scrypt$old", "scrypt$new"))
        self.assertFalse((yield self.store.users.use_pending_password_hash(a, "scrypt$other", self.now)))
        self.assertTrue((yield self.store.users.use_pending_password_hash(a, "scrypt$new", self.now)))
        found = yield self.store.users.active(A)
        self.assertEqual((found.password_hash, found.pending_password_hash), ("scrypt$new", None))
        self.assertFalse((yield self.store.users.use_pending_password_hash(a, "scrypt$new", self.now)))
        yield self.store.users.set_pending_password_hash(a, "scrypt$newer")
        yield self.store.users.set_password_hash(a, "scrypt$set", self.now)
        self.assertIsNone((yield self.store.users.active(A)).pending_password_hash)

    @defer.inlineCallbacks
    def test_an_alarm_with_its_cameras_name(self):
        yield self.store.devices.add(CAM, "k1", channels=2)
        yield self.store.devices.rename_channel(CAM, 1, "后门")
        first = yield self.store.alarms.add(CAM, 0, 1, "motion", None, "a.jpg", self.now)
        second = yield self.store.alarms.add(CAM, 1, 4, "", 2, "", self.now + 1)
        found = yield self.store.alarms.get(first)
        self.assertEqual(tuple(found)[:7], (first, CAM, 0, 1, "motion", None, "a.jpg"))
        self.assertEqual((found.alarm_time.timestamp(), found.camera), (self.now, CAM))
        found = yield self.store.alarms.get(second)
        self.assertEqual((found.alarm_type, found.dido_no, found.camera), (4, 2, "后门"))
        self.assertIsNone((yield self.store.alarms.get(second + 1)))


RealSms, FakeSms = contract(SmsContract)


class ConcurrentClaimTests(DatabaseTestCase):
    """Two senders on two connections claiming at once never hold one message (PostgreSQL only)."""

    pool_size = 4
    now = 1_800_000_000.0

    @defer.inlineCallbacks
    def test_concurrent_claims_are_disjoint(self):
        store = Store(self.db)
        for n in range(300):
            yield store.outbox.queue(A, "m%d" % n, "message", self.now, self.now + 60)
        rounds = yield defer.gatherResults([store.outbox.claim("node-%d" % (i % 2), self.now, 7, LEASE)
                                            for i in range(60)])
        ids = [c.message_id for claimed, _ in rounds for c in claimed]
        self.assertEqual(len(ids), 300)
        self.assertEqual(len(set(ids)), 300)
        rows = yield self.db.runQuery("SELECT count(*) FROM sms_outbox WHERE attempts <> 1")
        self.assertEqual(rows, [(0,)])

    @defer.inlineCallbacks
    def test_an_acknowledgement_and_its_report_recorded_at_once_settle_the_message(self):
        store = Store(self.db)
        for n in range(200):
            yield store.outbox.queue(A, "m%d" % n, "message", self.now, self.now + 60)
        claimed, _ = yield store.outbox.claim("node-a", self.now, 200, LEASE)
        writes = []
        for c in claimed:
            msg_id = "%020d" % c.message_id
            writes += [store.outbox.report([(msg_id, "DELIVRD", "000")], self.now),
                       store.outbox.submitted([(c.message_id, [msg_id])], "node-a", self.now)]
        yield defer.gatherResults(writes)
        rows = yield self.db.runQuery("SELECT status, count(*) FROM sms_outbox GROUP BY 1")
        self.assertEqual(rows, [("delivered", 200)])

    @defer.inlineCallbacks
    def test_concurrent_messages_limited_per_device_queue_one(self):
        store = Store(self.db)
        queued = yield defer.gatherResults([
            store.outbox.queue(A, "m%d" % n, "alarm", self.now + n * 0.001, self.now + 60, dev_id=CAM, once_per=300)
            for n in range(40)])
        self.assertEqual(len([q for q in queued if q is not None]), 1)
