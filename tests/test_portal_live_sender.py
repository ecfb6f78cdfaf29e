"""A live segment's transfer (kandian.portal.live._sent) when its viewer goes mid-way: the sender is
unregistered and the connection closed, no "Producer was not unregistered" failure, no finish()."""

from twisted.internet.error import ConnectionDone
from twisted.internet.testing import StringTransport
from twisted.protocols.basic import FileSender
from twisted.python.failure import Failure
from twisted.trial import unittest
from twisted.web import resource, server

from kandian.portal.live import _sent


class _Segment(resource.Resource):
    isLeaf = True

    def __init__(self, path):
        super().__init__()
        self.path = path
        self.requests = []

    def render_GET(self, request):
        self.requests.append(request)
        f = open(self.path, "rb")  # noqa: SIM115 (closed by _sent)
        request.setHeader(b"content-length", b"%d" % (1 << 20))
        FileSender().beginFileTransfer(f, request).addBoth(_sent, f, request)
        return server.NOT_DONE_YET


class SegmentSenderTests(unittest.SynchronousTestCase):
    def setUp(self):
        path = self.mktemp()
        with open(path, "wb") as f:
            f.write(b"\x47" * (1 << 20))
        self.segment = _Segment(path)
        self.channel = server.Site(self.segment).buildProtocol(None)
        self.transport = StringTransport()
        self.channel.makeConnection(self.transport)
        self.channel.dataReceived(b"GET /seg1.ts HTTP/1.1\r\nHost: x\r\n\r\n")
        [self.request] = self.segment.requests
        self.lost = False

    def tearDown(self):
        # the channel's idle timeout is a DelayedCall on the global reactor: gone only with the connection
        if not self.lost:
            self.channel.connectionLost(Failure(ConnectionDone()))

    def test_a_viewer_leaving_mid_segment(self):
        self.assertIsNotNone(self.request.producer)  # under way: a pull producer waits for the transport
        self.assertLess(len(self.transport.value()), 1 << 20)
        # what a TCP transport does when its peer goes: stop its producer (the channel, which stops the
        # request's), then tell the protocol
        self.transport.producer.stopProducing()
        self.assertIsNone(self.request.producer)
        self.assertTrue(self.transport.disconnecting)
        self.assertFalse(self.request.finished)
        self.channel.connectionLost(Failure(ConnectionDone()))
        self.lost = True
        self.assertEqual(self.flushLoggedErrors(), [])

    def test_a_whole_segment_is_finished(self):
        while self.request.producer is not None:
            self.request.producer.resumeProducing()
        self.assertTrue(self.request.finished)
        self.assertTrue(self.transport.value().endswith(b"\x47" * 1000))
        self.assertFalse(self.transport.disconnecting)
