"""kandian.mcu.handlers over the real core's accounts, the fake store and task.Clock."""

from types import SimpleNamespace

from twisted.internet import defer
from twisted.logger import capturedLogs

from kandian.mcu import handlers
from kandian.mcu.handlers import McuHandlers

from .test_core_accounts import A, CoreTestCase, cheap_hash


class LoginLineTests(CoreTestCase):
    def setUp(self):
        super().setUp()
        self.handlers = McuHandlers(core=SimpleNamespace(accounts=self.accounts, play=None), clock=self.clock,
                                    config=None)

    @defer.inlineCallbacks
    def logins(self, count):
        for _ in range(count):
            answer = yield self.handlers.McuLogin("192.0.2.1", A, "pw", "A-1.0")
            self.assertEqual(answer[0], 0)

    def lines(self, events):
        return [e for e in events if e.get("log_namespace") == "kandian.mcu.handlers"]

    @defer.inlineCallbacks
    def test_a_line_a_login_up_to_the_budget_then_one_line_a_second_counts_the_rest(self):
        yield self.store.users.add(A, cheap_hash("pw"), 4)
        budget = handlers.LOGIN_LINES_PER_SECOND
        with capturedLogs() as events:
            yield self.logins(budget)
        self.assertEqual([e["log_format"] for e in self.lines(events)],
                         ["MCU login of {account} from {ip} ({version})"] * budget)
        self.assertEqual((self.lines(events)[0]["account"], self.lines(events)[0]["ip"]), (A, "192.0.2.1"))
        with capturedLogs() as events:
            yield self.logins(7)
            self.assertEqual(self.lines(events), [])
            self.clock.advance(1.0)
        self.assertEqual([e["count"] for e in self.lines(events)], [7])
        # a new second: each login on its own line again, and no timer left behind
        with capturedLogs() as events:
            yield self.logins(2)
        self.assertEqual(len(self.lines(events)), 2)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    @defer.inlineCallbacks
    def test_held_lines_told_at_stop(self):
        yield self.store.users.add(A, cheap_hash("pw"), 4)
        yield self.logins(handlers.LOGIN_LINES_PER_SECOND + 3)
        with capturedLogs() as events:
            self.handlers.stop()
        self.assertEqual([e["count"] for e in self.lines(events)], [3])
        self.assertEqual(self.clock.getDelayedCalls(), [])
