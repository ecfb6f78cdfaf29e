"""kandian.throttle: failed credential checks counted per source and per account."""

from hypothesis import given, strategies as st
from twisted.internet.task import Clock
from twisted.trial import unittest

from kandian.throttle import FailureThrottle, source_key


class FailureThrottleTests(unittest.TestCase):
    def setUp(self):
        self.clock = Clock()
        self.t = FailureThrottle(self.clock.seconds, per_address=10, per_account=3, window=100)

    def test_guessing_address_stopped_owner_elsewhere_not(self):
        for _ in range(3):
            self.assertTrue(self.t.allowed("198.51.100.7", "13800000000"))
            self.t.failed("198.51.100.7", "13800000000")
        self.assertFalse(self.t.allowed("198.51.100.7", "13800000000"))
        self.assertTrue(self.t.allowed("203.0.113.9", "13800000000"))
        self.assertTrue(self.t.allowed("198.51.100.7", "13900000000"))

    def test_address_limit_across_accounts(self):
        for i in range(10):
            self.t.failed("198.51.100.7", "acct%d" % i)
        self.assertFalse(self.t.allowed("198.51.100.7", "new"))
        self.assertFalse(self.t.allowed("198.51.100.7"))
        self.assertTrue(self.t.allowed("198.51.100.8", "new"))
        self.assertEqual(self.t.refused, 2)

    def test_window_ends(self):
        for _ in range(10):
            self.t.failed("198.51.100.7")
        self.assertEqual(self.t.retry_after("198.51.100.7"), 100)
        self.clock.advance(60)
        self.assertFalse(self.t.allowed("198.51.100.7"))
        self.assertEqual(self.t.retry_after("198.51.100.7"), 40)
        self.clock.advance(40)
        self.assertTrue(self.t.allowed("198.51.100.7"))

    def test_success_clears_the_account_count_only(self):
        for _ in range(2):
            self.t.failed("198.51.100.7", "a")
        self.t.succeeded("198.51.100.7", "a")
        for _ in range(2):
            self.t.failed("198.51.100.7", "a")
        self.assertTrue(self.t.allowed("198.51.100.7", "a"))

    def test_ipv6_counts_by_64(self):
        self.assertEqual(source_key("2001:db8:1:2:aaaa::1"), source_key("2001:db8:1:2:bbbb::2"))
        self.assertNotEqual(source_key("2001:db8:1:2::1"), source_key("2001:db8:1:3::1"))
        self.assertEqual(source_key("::ffff:192.0.2.1"), "192.0.2.1")

    def test_bounded(self):
        t = FailureThrottle(self.clock.seconds, max_entries=50, window=100)
        for i in range(1000):
            t.failed("10.0.%d.%d" % (i // 256, i % 256))
            self.clock.advance(0.01)
        self.assertLessEqual(len(t), 50)

    @given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 3), st.booleans(),
                              st.floats(0, 50)), max_size=200))
    def test_never_more_failures_than_allowed_are_tried(self, events):
        """Whatever the sequence, a source that was refused had reached a limit."""
        clock = Clock()
        t = FailureThrottle(clock.seconds, per_address=10, per_account=3, window=100)
        for src, acct, ok, dt in events:
            clock.advance(dt)
            address, account = "192.0.2.%d" % src, "a%d" % acct
            if not t.allowed(address, account):
                self.assertTrue(t._count(("a", address), clock.seconds()) >= 10
                                or t._count(("k", account, address), clock.seconds()) >= 3)
                continue
            (t.succeeded if ok else t.failed)(address, account)
