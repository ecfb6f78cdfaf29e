"""kandian.device.reachability: the UPnP probe's bounds (no store, no sockets)."""

from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.trial import unittest

from kandian.device.reachability import UpnpProbe


class _Store:
    def __init__(self):
        self.rows = []

    def upnp_reachable(self, dev_id, ip, port, reachable, now):
        self.rows.append((dev_id, reachable))
        return defer.succeed(None)


class _HeldProbe(UpnpProbe):
    """Connections that complete only when the test says so."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.dialing = []

    def connect(self, host, port):
        d = defer.Deferred()
        self.dialing.append(d)
        return d


class ConcurrencyTests(unittest.TestCase):
    def setUp(self):
        self.store = _Store()
        self.probe = _HeldProbe(None, self.store, clock=Clock(), policy=lambda ip, peer: True,
                                max_concurrent=3, max_waiting=2)

    def test_a_login_storm_holds_at_most_max_concurrent_connections(self):
        checks = [self.probe.check("8110000000%d" % i, "198.51.100.%d" % i, 554) for i in range(5)]
        self.assertEqual(len(self.probe.dialing), 3)  # two wait
        skipped = self.probe.check("81100000009", "198.51.100.9", 554)
        self.assertEqual((self.successResultOf(skipped), self.probe.skipped), (False, 1))
        self.probe.dialing[0].callback(None)
        self.assertEqual(len(self.probe.dialing), 4)  # a waiting probe takes the freed slot
        for d in self.probe.dialing[1:]:
            d.errback(ConnectionRefusedError())
        self.probe.dialing[4].callback(None)
        self.assertEqual([self.successResultOf(c) for c in checks], [True, False, False, False, True])
        # a skipped probe stores nothing: the device's earlier reachability stands
        self.assertNotIn("81100000009", [dev_id for dev_id, _ in self.store.rows])
        self.assertEqual(len(self.store.rows), 5)
