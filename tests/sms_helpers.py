"""A stand-in for kandian.sms's SmgpClient, with its contract, for the outbox's tests.

``StandInGateway(on_report=…)`` is a started/stopped service with
``connected`` and ``submit(mobile, text, valid_until)``; by default every
submit is acknowledged at once with one MsgID (20 hex digits) per 70
characters.  A test steers it: ``refuse[mobile] = status`` refuses, ``hold``
keeps each submit pending in ``held`` (answer with :meth:`answer`),
``connected = False`` makes submits fail GatewayUnavailable, and
:meth:`report` delivers a status report the way the client does (its
Deferred fires when the outbox has stored it).
"""

from __future__ import annotations

import itertools

from twisted.application import service
from twisted.internet import defer

from kandian.sms.errors import GatewayUnavailable, SmgpRejected


class StandInGateway(service.Service):
    def __init__(self, on_report=None, prefix: int = 1):
        self.on_report = on_report
        self.connected = True
        self.refuse: dict[str, int] = {}
        self.hold = False
        self.held: list[tuple[defer.Deferred, tuple]] = []
        self.submits: list[tuple[str, str, float | None]] = []  # every submit, in order
        self.accepted: dict[str, tuple[str, str]] = {}  # MsgID → (mobile, text)
        self._ids = itertools.count(prefix * 10**12)

    def msg_ids(self, text: str) -> list[str]:
        return ["%020x" % next(self._ids) for _ in range(max(1, -(-len(text) // 70)))]

    def submit(self, mobile: str, text: str, valid_until: float | None = None) -> defer.Deferred:
        self.submits.append((mobile, text, valid_until))
        if not self.connected:
            return defer.fail(GatewayUnavailable("not logged in"))
        if mobile in self.refuse:
            return defer.fail(SmgpRejected(self.refuse[mobile]))
        if self.hold:
            d: defer.Deferred = defer.Deferred()
            self.held.append((d, (mobile, text)))
            return d
        return defer.succeed(self._accept(mobile, text))

    def _accept(self, mobile, text):
        ids = self.msg_ids(text)
        for msg_id in ids:
            self.accepted[msg_id] = (mobile, text)
        return ids

    def answer(self, count: int | None = None, error: Exception | None = None) -> None:
        """Acknowledge (or fail with *error*) the first *count* held submits."""
        count = len(self.held) if count is None else count
        answering, self.held = self.held[:count], self.held[count:]
        for d, (mobile, text) in answering:
            if error is None:
                d.callback(self._accept(mobile, text))
            else:
                d.errback(error)

    def report(self, msg_id: str, stat: str = "DELIVRD", err: str = "000") -> defer.Deferred:
        return defer.maybeDeferred(self.on_report, msg_id, stat, err)

    def stopService(self):
        super().stopService()
        self.connected = False
        self.answer(error=GatewayUnavailable("connection closed"))
