"""The store's play components (tokens §7.5.5/§7.5.23, relay targets §10.2): PostgreSQL and the fake alike."""

from twisted.internet import defer

from kandian.store.devices import DeviceStore
from kandian.store.fake import FakeStore

from .store_contract import StoreContract, contract

CAM = "81100000001"
ADDRESSES = dict(local_ip="192.168.1.20", rtsp_local_port=554, upnp_ip="203.0.113.7", rtsp_upnp_port=20554,
                 upnp_reachable=True, turn_relay_ip=None, rtsp_turn_relay_port=None)


@defer.inlineCallbacks
def put_device(store, dev_id, channels=1, closed=(), **addresses):
    """A provisioned device with *addresses* and the (channel, stream type)s of *closed* closed."""
    if isinstance(store, FakeStore):
        store.tables.setdefault("device", {})[dev_id] = dict(dev_id=dev_id, **addresses)
        for n in range(channels):
            store.tables.setdefault("channel", {})[dev_id, n] = dict(dev_id=dev_id, channel_no=n)
        for channel_no, stream_type in closed:
            store.tables.setdefault("stream_profile", {})[dev_id, channel_no, stream_type] = dict(enabled=False)
        return
    yield DeviceStore(store.db).add(dev_id, "key", channels=channels)
    if addresses:
        yield store.db.runOperation("UPDATE device SET %s WHERE dev_id = %%s" % ", ".join(
            "%s = %%s" % column for column in addresses), (*addresses.values(), dev_id))
    for channel_no, stream_type in closed:
        yield store.db.runOperation("INSERT INTO stream_profile (dev_id, channel_no, stream_type, enabled)"
                                    " VALUES (%s, %s, %s, false)", (dev_id, channel_no, stream_type))


class TokensContract(StoreContract):
    # (the harness's setUp comes first in the concrete classes: each test puts its device itself)

    def consume(self, token, *, now=None, **kw):
        binding = dict(dev_id=CAM, channel_no=0)
        binding.update(kw)
        return self.store.tokens.consume(token, binding.pop("dev_id"), binding.pop("channel_no"),
                                         now=self.now if now is None else now, **binding)

    @defer.inlineCallbacks
    def test_a_token_is_consumed_once(self):
        yield put_device(self.store, CAM, channels=2)
        token = yield self.store.tokens.issue(CAM, 0, stream_type=2, now=self.now)
        self.assertRegex(token, "^[0-9a-f]{32}$")
        first = yield self.consume(token, stream_type=2)
        again = yield self.consume(token, stream_type=2)
        self.assertEqual((first, again), (True, False))

    @defer.inlineCallbacks
    def test_a_token_lives_60_s(self):
        yield put_device(self.store, CAM, channels=2)
        token = yield self.store.tokens.issue(CAM, 0, stream_type=2, now=self.now)
        late = yield self.consume(token, stream_type=2, now=self.now + 60)
        self.assertFalse(late)
        token = yield self.store.tokens.issue(CAM, 0, stream_type=2, now=self.now)
        in_time = yield self.consume(token, stream_type=2, now=self.now + 59)
        self.assertTrue(in_time)

    @defer.inlineCallbacks
    def test_a_token_is_bound_to_its_stream_and_purpose_and_a_mismatch_does_not_burn_it(self):
        yield put_device(self.store, CAM, channels=2)
        token = yield self.store.tokens.issue(CAM, 0, stream_type=2, purpose="relay", now=self.now)
        for kw in [dict(stream_type=1), dict(channel_no=1, stream_type=2), dict(dev_id="81100000002", stream_type=2),
                   dict(file_name="a.ts"), dict(stream_type=2, purpose="client"), dict(stream_type=2, channel_no=-1),
                   dict(stream_type=40000)]:
            wrong = yield self.consume(token, **kw)
            self.assertFalse(wrong, kw)
        right = yield self.consume(token, stream_type=2, purpose="relay")
        self.assertTrue(right)

    @defer.inlineCallbacks
    def test_record_tokens_are_bound_to_their_file(self):
        yield put_device(self.store, CAM, channels=2)
        tokens = yield self.store.tokens.issue_many(CAM, 1, ["client", "relay"], file_name="录像 1.ts", now=self.now)
        self.assertEqual(len(set(tokens)), 2)
        other_file = yield self.consume(tokens[0], channel_no=1, file_name="录像 2.ts")
        as_stream = yield self.consume(tokens[0], channel_no=1, stream_type=1)
        right = yield self.consume(tokens[0], channel_no=1, file_name="录像 1.ts")
        relay = yield self.consume(tokens[1], channel_no=1, file_name="录像 1.ts", purpose="relay")
        self.assertEqual((other_file, as_stream, right, relay), (False, False, True, True))

    @defer.inlineCallbacks
    def test_a_token_names_a_stream_or_a_file(self):
        yield self.assertFailure(self.store.tokens.issue_many(CAM, 0, ["client"], now=self.now), ValueError)
        yield self.assertFailure(self.store.tokens.issue_many(CAM, 0, ["client"], stream_type=1, file_name="a.ts",
                                                              now=self.now), ValueError)

    @defer.inlineCallbacks
    def test_purge_forgets_only_long_expired_tokens(self):
        yield put_device(self.store, CAM, channels=2)
        old = yield self.store.tokens.issue(CAM, 0, stream_type=2, now=self.now - 7200)
        fresh = yield self.store.tokens.issue(CAM, 0, stream_type=2, now=self.now)
        yield self.store.tokens.purge(self.now)
        gone = yield self.consume(old, stream_type=2, now=self.now - 7190)
        kept = yield self.consume(fresh, stream_type=2)
        self.assertEqual((gone, kept), (False, True))


RealTokens, FakeTokens = contract(TokensContract)


class RelayTargetsContract(StoreContract):
    @defer.inlineCallbacks
    def test_an_unknown_device_has_no_target(self):
        target = yield self.store.relay.target(CAM, 0, 2)
        self.assertIsNone(target)

    @defer.inlineCallbacks
    def test_a_target_has_the_device_addresses_and_the_stream_state(self):
        yield put_device(self.store, CAM, channels=2, closed=[(1, 2)], **ADDRESSES)
        target = yield self.store.relay.target(CAM, 0, 2)
        self.assertEqual(target._asdict(), dict(dev_id=CAM, channel_exists=True, stream_enabled=True, **ADDRESSES,
                                                   proxy_url=None))
        closed = yield self.store.relay.target(CAM, 1, 2)
        other_stream = yield self.store.relay.target(CAM, 1, 1)
        recording = yield self.store.relay.target(CAM, 1, None)
        no_channel = yield self.store.relay.target(CAM, 2, 2)
        self.assertEqual([(t.channel_exists, t.stream_enabled) for t in (closed, other_stream, recording, no_channel)],
                         [(True, False), (True, True), (True, True), (False, True)])

    @defer.inlineCallbacks
    def test_a_device_that_reported_nothing_has_no_addresses(self):
        yield put_device(self.store, CAM)
        target = yield self.store.relay.target(CAM, 0, 1)
        self.assertEqual(target[3:], (None,) * 8)  # no addresses, and no stream proxy source


RealRelayTargets, FakeRelayTargets = contract(RelayTargetsContract)
