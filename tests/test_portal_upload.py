"""Firmware images up to 64 MiB through the portal (``POST /api/v1/firmware``).

The upload route's deadline grows with the bytes received (``[portal]
upload_min_rate``): proved with a task.Clock and a StringTransport, byte by
byte against the clock; then a real 64 MiB upload over HTTP against the
running platform, and an image declared over the cap refused with 413 before
its body is sent (no ``100 Continue``).  Its sender is let in on the headers:
a stranger, or a user who may not upload, is refused before a byte of the body
is read.
"""

import hashlib
import os
import shutil

from twisted.internet import defer, protocol, reactor, task
from twisted.internet.address import IPv4Address
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.testing import StringTransport
from twisted.trial import unittest
from twisted.web import resource
from twisted.web.client import FileBodyProducer, readBody
from twisted.web.http_headers import Headers

from kandian import web
from kandian.core import errors
from kandian.portal import MAX_UPLOAD, PortalRequest

from .portal_helpers import Answer, PortalTestCase

RATE = 100  # bytes per second, the test's upload_min_rate
TIMEOUT = 10


class _Accept(resource.Resource):
    isLeaf = True

    def render_POST(self, request):
        return b"got %d" % len(request.content.read())


def peer():
    return IPv4Address("TCP", "10.0.0.9", 40000)


class _OneChannel(unittest.SynchronousTestCase):
    """A PortalRequest site on a task.Clock and one channel on a StringTransport; *gate* its upload_gate."""

    def gate(self, token):
        return None

    def setUp(self):
        self.clock = task.Clock()
        self.site = web.site(_Accept(), request_timeout=TIMEOUT, idle_timeout=3600, clock=self.clock)
        self.site.requestFactory = type("Request", (PortalRequest,), {"max_body": 5000, "upload_min_rate": RATE,
                                                                      "upload_gate": staticmethod(self.gate)})
        self.channel = self.site.buildProtocol(peer())
        self.transport = StringTransport(peerAddress=peer())
        self.channel.makeConnection(self.transport)

    def tearDown(self):
        if not self.transport.disconnected:
            self.channel.connectionLost(None)


class UploadDeadlineTests(_OneChannel):

    def send(self, path, length, per_second, seconds):
        """A POST of *length* bytes to *path*, *per_second* of its body each second for *seconds* seconds:
        the second at which the connection was closed, or None."""
        self.channel.dataReceived(b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (path, length))
        for second in range(seconds):
            if self.transport.disconnecting:
                return second
            self.clock.advance(1)
            self.channel.dataReceived(b"x" * per_second)
        return second + 1 if self.transport.disconnecting else None

    def test_an_upload_that_keeps_the_rate_outlives_the_request_timeout(self):
        closed = self.send(b"/api/v1/firmware?version=V1", 100 * 1024, RATE * 2, 300)
        self.assertIsNone(closed, self.transport.value()[:60])
        self.assertEqual(self.transport.value(), b"")  # 60,000 bytes of 102,400 in 300 s: still arriving
        self.channel.dataReceived(b"x" * (100 * 1024 - 300 * RATE * 2))
        self.assertIn(b"got 102400", self.transport.value())

    def test_an_upload_below_the_rate_is_cut_when_it_falls_behind(self):
        # half the rate: at second t (before that second's bytes) it has sent 50 (t - 1) bytes, which earn
        # 10 + (t - 1) / 2 seconds: behind from t = 19 on
        closed = self.send(b"/api/v1/firmware", 100 * 1024, RATE // 2, 300)
        self.assertTrue(self.transport.value().startswith(b"HTTP/1.1 408 "), self.transport.value()[:60])
        self.assertEqual(closed, 19)

    def test_headers_alone_meet_the_fixed_deadline(self):
        self.channel.dataReceived(b"POST /api/v1/firmware HTTP/1.1\r\nHost: x\r\n")
        self.clock.advance(TIMEOUT)
        self.assertTrue(self.transport.value().startswith(b"HTTP/1.1 408 "))

    def test_other_routes_keep_the_fixed_deadline(self):
        closed = self.send(b"/api/v1/devices/import", 4000, RATE * 2, 300)  # 20 s at twice the rate
        self.assertTrue(self.transport.value().startswith(b"HTTP/1.1 408 "), self.transport.value()[:60])
        self.assertEqual(closed, TIMEOUT)

    def test_over_the_cap_is_refused_on_its_length_without_100_continue(self):
        self.channel.dataReceived(b"POST /api/v1/firmware HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n"
                                  b"Expect: 100-continue\r\n\r\n" % (MAX_UPLOAD + 1))
        answer = self.transport.value()
        self.assertTrue(answer.startswith(b"HTTP/1.1 413 "), answer)
        self.assertNotIn(b"100 Continue", answer)
        self.assertTrue(self.transport.disconnecting)

    def test_a_chunked_body_over_the_cap_is_refused_when_it_grows_past_it(self):
        self.channel.dataReceived(b"POST /api/v1/firmware HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        self.channel.dataReceived(b"%x\r\n%s\r\n" % (MAX_UPLOAD, b"x" * MAX_UPLOAD))
        self.assertEqual(self.transport.value(), b"")
        self.channel.dataReceived(b"1\r\nx\r\n")
        self.assertTrue(self.transport.value().startswith(b"HTTP/1.1 413 "))


class UploadGateTests(_OneChannel):
    """The sender of an image is let in, or refused, on its headers (PortalRequest.upload_gate)."""

    def setUp(self):
        self.asked: list[tuple[str | None, defer.Deferred]] = []
        super().setUp()

    def gate(self, token):
        d = defer.Deferred()
        self.asked.append((token, d))
        return d

    def headers(self, path=b"/api/v1/firmware", length=100, extra=b"Expect: 100-continue\r\n"):
        self.channel.dataReceived(b"POST %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer T1\r\n"
                                  b"Content-Length: %d\r\n%s\r\n" % (path, length, extra))

    def test_the_body_is_read_once_the_sender_is_let_in(self):
        self.headers()
        [(token, d)] = self.asked
        self.assertEqual(token, "T1")
        self.assertEqual(self.transport.producerState, "paused")
        self.assertEqual(self.transport.value(), b"")  # no 100 Continue before the gate's answer
        d.callback(None)
        self.assertEqual(self.transport.producerState, "producing")
        self.assertTrue(self.transport.value().startswith(b"HTTP/1.1 100 Continue"), self.transport.value())
        self.channel.dataReceived(b"x" * 100)
        self.assertIn(b"got 100", self.transport.value())

    def test_a_refused_sender_gets_the_api_error_and_the_body_is_not_read(self):
        self.headers(length=4000)
        [(_, d)] = self.asked
        d.errback(errors.NotAuthenticated("the token is unknown, expired or revoked"))
        answer = self.transport.value()
        self.assertTrue(answer.startswith(b"HTTP/1.1 401 "), answer)
        self.assertIn(b'{"error": "unauthenticated"', answer)
        self.assertNotIn(b"100 Continue", answer)
        self.assertTrue(self.transport.disconnecting)
        self.channel.dataReceived(b"x" * 4000)  # what was already on its way is dropped, never rendered
        self.assertNotIn(b"got", self.transport.value())

    def test_a_forbidden_sender_gets_403(self):
        self.headers()
        self.asked[0][1].errback(errors.Forbidden("operators with write access only"))
        self.assertTrue(self.transport.value().startswith(b"HTTP/1.1 403 "), self.transport.value())

    def test_a_body_that_came_with_the_headers_waits_for_the_gate(self):
        self.headers(length=5, extra=b"")
        self.channel.dataReceived(b"12345")
        self.assertEqual(self.transport.value(), b"")  # whole, but not rendered yet
        self.asked[0][1].callback(None)
        self.assertIn(b"got 5", self.transport.value())

    def test_a_sender_gone_while_the_gate_runs(self):
        for answer in (lambda d: d.callback(None),
                       lambda d: d.errback(errors.NotAuthenticated("the token is unknown, expired or revoked"))):
            self.setUp()
            self.headers(length=5, extra=b"")
            self.channel.dataReceived(b"12345")
            self.channel.connectionLost(None)
            answer(self.asked[-1][1])
            self.assertEqual(self.transport.value(), b"")  # nothing written, nothing rendered, no error
            self.assertEqual(self.flushLoggedErrors(), [])

    def test_only_the_upload_route_is_gated(self):
        self.headers(path=b"/api/v1/devices/import", length=3, extra=b"")
        self.channel.dataReceived(b"abc")
        self.assertEqual(self.asked, [])
        self.assertIn(b"got 3", self.transport.value())


class _Raw(protocol.Protocol):
    def __init__(self):
        self.data = b""
        self.closed = defer.Deferred()

    def dataReceived(self, data):
        self.data += data

    def connectionLost(self, reason):
        self.closed.callback(self.data)


class LargeUploadTests(PortalTestCase):
    timeout = 300

    @defer.inlineCallbacks
    def setUp(self):
        yield super().setUp()
        # the files root outlives a test, the catalogue's ids do not
        shutil.rmtree(os.path.join(self.service.config.files_root, "firmware"), ignore_errors=True)

    @defer.inlineCallbacks
    def test_a_64_mib_image_is_catalogued_whole(self):
        token = yield self.operator()
        path = os.path.abspath(self.mktemp())
        digest = hashlib.sha256()
        with open(path, "wb") as f:
            for _ in range(64):
                block = os.urandom(1 << 20)
                digest.update(block)
                f.write(block)
        self.assertEqual(os.path.getsize(path), MAX_UPLOAD)
        with open(path, "rb") as body:
            response = yield self.agent.request(
                b"POST", self.url("/api/v1/firmware?manufacturer=811&model=SIM-IPC&version=V1.6_20990101"
                                  "&file_name=big.bin"),
                Headers({b"authorization": [b"Bearer " + token.encode()],
                         b"content-type": [b"application/octet-stream"]}), FileBodyProducer(body))
            answer = Answer(response.code, response.headers, (yield readBody(response)))
        self.assertEqual(answer.code, 201, answer)
        self.assertEqual((answer.json["size"], answer.json["sha256"]), (MAX_UPLOAD, digest.hexdigest()))
        stored = self.core.firmware.image_path(answer.json["id"], "big.bin")
        self.assertEqual(os.path.getsize(stored), MAX_UPLOAD)

    @defer.inlineCallbacks
    def test_one_byte_over_is_refused_before_the_body(self):
        token = yield self.operator()
        raw = _Raw()
        yield connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", self.port("portal")), raw)
        raw.transport.write(b"POST /api/v1/firmware?manufacturer=811&model=M&version=V1.6_20990101&file_name=x"
                            b" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/"
                            b"octet-stream\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n" % (
                                token.encode(), MAX_UPLOAD + 1))
        answer = yield raw.closed  # closed by the server, not a byte of the body sent
        self.assertTrue(answer.startswith(b"HTTP/1.1 413 "), answer)
        self.assertNotIn(b"100 Continue", answer)
        listed = yield self.get("/api/v1/firmware", token)
        self.assertEqual(listed.json["items"], [])

    @defer.inlineCallbacks
    def refused_on_headers(self, token):
        raw = _Raw()
        yield connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", self.port("portal")), raw)
        auth = b"Authorization: Bearer %s\r\n" % token.encode() if token else b""
        raw.transport.write(b"POST /api/v1/firmware?manufacturer=811&model=M&version=V1.6_20990101&file_name=x"
                            b" HTTP/1.1\r\nHost: x\r\n%sContent-Type: application/octet-stream\r\n"
                            b"Content-Length: %d\r\nExpect: 100-continue\r\n\r\n" % (auth, MAX_UPLOAD))
        answer = yield raw.closed  # closed by the server, not a byte of the body sent
        self.assertNotIn(b"100 Continue", answer)
        return answer

    @defer.inlineCallbacks
    def test_a_stranger_is_refused_before_the_body(self):
        stats = self.service.platform.portal_stats
        before = stats.errors["unauthenticated"]
        answer = yield self.refused_on_headers(None)
        self.assertTrue(answer.startswith(b"HTTP/1.1 401 "), answer)
        answer = yield self.refused_on_headers("forged-token")
        self.assertTrue(answer.startswith(b"HTTP/1.1 401 "), answer)
        self.assertEqual(stats.errors["unauthenticated"], before + 2)  # counted as the API's other answers

    @defer.inlineCallbacks
    def test_a_shop_owner_is_refused_before_the_body(self):
        token = yield self.user("13900000001")
        answer = yield self.refused_on_headers(token)
        self.assertTrue(answer.startswith(b"HTTP/1.1 403 "), answer)
        self.assertIn(b'"error": "forbidden"', answer)
