"""Properties of the outbox's states (kandian.store.outbox, its in-memory twin and real PostgreSQL).

Whatever order a message's acknowledgement and its parts' status reports are
recorded in — reports first, repeated, interleaved with other messages' — a
message ends in the state its reports decide, and only then: delivered when
every part said DELIVRD, failed or expired as soon as a reported part says
so (a later report changes nothing), submitted while neither.  The fake store is checked on every example; a
few examples run against PostgreSQL too.
"""

from __future__ import annotations

from hypothesis import given, settings, strategies as st
from twisted.internet import defer
from twisted.trial import unittest

from kandian.store.connector import Store
from kandian.store.fake import FakeStore
from kandian.store.outbox import final_state, report_reason

from .pg import DatabaseTestCase

NOW = 1_800_000_000.0
STATS = st.sampled_from(["DELIVRD", "DELIVRD", "DELIVRD", "UNDELIV", "EXPIRED", "REJECTD", "UNKNOWN"])


@st.composite
def histories(draw):
    """Messages of 1–3 parts, each part with a Stat or no report yet, and an order of events:
    ("ack", message) and ("report", message, part), reports possibly repeated."""
    messages = draw(st.lists(st.lists(st.one_of(st.none(), STATS), min_size=1, max_size=3), min_size=1,
                             max_size=4))
    events = [("ack", m) for m in range(len(messages))]
    for m, parts in enumerate(messages):
        for p, stat in enumerate(parts):
            if stat is not None:
                events += [("report", m, p)] * draw(st.integers(1, 2))
    order = draw(st.permutations(events))
    return messages, order


def allowed(parts) -> set:
    """The (state, reason) a message may end in: decided by one of its failing parts
    (whichever was reported by the time it settled), else delivered once all are."""
    failing = {s for s in parts if s is not None and s != "DELIVRD"}
    if failing:
        return {(final_state(s), report_reason(s, "e")) for s in failing}
    if all(s == "DELIVRD" for s in parts):
        return {("delivered", "")}
    return {("submitted", "")}


@defer.inlineCallbacks
def play(store, messages, order, tag: str):
    ids = []
    for n in range(len(messages)):
        ids.append((yield store.outbox.queue("13800000001", "m%d" % n, "message", NOW, NOW + 60)))
    yield store.outbox.claim("n1", NOW, len(messages), 600)
    msg_id = lambda m, p: "%s-%d-%d" % (tag, m, p)  # noqa: E731
    for event in order:
        if event[0] == "ack":
            m = event[1]
            yield store.outbox.submitted([(ids[m], [msg_id(m, p) for p in range(len(messages[m]))])], "n1", NOW)
        else:
            _, m, p = event
            yield store.outbox.report([(msg_id(m, p), messages[m][p], "e")], NOW)
    listed = {row.message_id: row for row in (yield store.outbox.list())}
    return [(listed[i].status, listed[i].reason) for i in ids]


class FakeStoreProperties(unittest.TestCase):
    @given(histories())
    def test_the_reports_decide_in_any_order(self, history):
        messages, order = history
        got = self.successResultOf(play(FakeStore(), messages, order, "f"))
        for outcome, parts in zip(got, messages):
            self.assertIn(outcome, allowed(parts))


class PostgresProperties(DatabaseTestCase):
    @defer.inlineCallbacks
    def test_the_reports_decide_in_any_order(self):
        examples = []

        @settings(max_examples=15, database=None)
        @given(histories())
        def collect(history):
            examples.append(history)
        collect()
        store = Store(self.db)
        for n, (messages, order) in enumerate(examples):
            got = yield play(store, messages, order, "p%d" % n)
            for outcome, parts in zip(got, messages):
                self.assertIn(outcome, allowed(parts), (messages, order))
