"""The store contract: one suite, run against real PostgreSQL and the in-memory fake.

A contract test case subclasses :class:`StoreContract` and uses ``self.store``
(a :class:`kandian.store.connector.Store` or a
:class:`kandian.store.fake.FakeStore`) and ``self.now`` (POSIX seconds);
``contract(Cls)`` returns the two concrete test cases to bind in the module:

    class SessionsContract(StoreContract):
        @defer.inlineCallbacks
        def test_…(self): …

    RealSessions, FakeSessions = contract(SessionsContract)

The names bound must be ``Real<X>`` and ``Fake<X>`` for a class ``<X>Contract``
(the names the classes are given): trial's workers (``-j``) find a test by
its module and class name.
"""

from __future__ import annotations

from twisted.internet import defer
from twisted.trial import unittest

from kandian.store.connector import Store
from kandian.store.fake import FakeStore

from .pg import DatabaseTestCase


class StoreContract:
    now = 1_800_000_000.0

    def make_store(self):  # pragma: no cover - bound by contract()
        raise NotImplementedError


def contract(cls):
    class Real(cls, DatabaseTestCase):
        @defer.inlineCallbacks
        def setUp(self):
            yield DatabaseTestCase.setUp(self)
            self.store = Store(self.db, node="test")

    class Fake(cls, unittest.TestCase):
        def setUp(self):
            self.store = FakeStore(node="test")

    base = cls.__name__.removesuffix("Contract")
    for kind, made in (("Real", Real), ("Fake", Fake)):
        made.__name__ = made.__qualname__ = kind + base
        made.__module__ = cls.__module__
    return Real, Fake
